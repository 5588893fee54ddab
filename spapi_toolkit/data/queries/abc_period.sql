-- The Pareto (ABC) class of each child ASIN over the analysed period, per marketplace, by the
-- rule product_performance applies per month (lake/curate/marts/product_performance.py): in
-- revenue order (highest first, ties by ASIN) an ASIN is A while the revenue of the ASINs
-- before it is below 80 % of the marketplace's, B while below 95 %, C otherwise; no sales: C.
WITH revenue AS (
  SELECT
    marketplace_id,
    child_asin,
    currency,
    SUM(ordered_product_sales) AS ordered_product_sales,
    SUM(units_ordered) AS units_ordered
  FROM aggregated.sales_daily
  WHERE date BETWEEN :start AND :end
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, child_asin, currency
),
running AS (
  SELECT
    *,
    SUM(ordered_product_sales) OVER (PARTITION BY marketplace_id) AS marketplace_sales,
    SUM(ordered_product_sales) OVER (
      PARTITION BY marketplace_id ORDER BY ordered_product_sales DESC, child_asin
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS cumulative_sales,
    RANK() OVER (PARTITION BY marketplace_id ORDER BY ordered_product_sales DESC) AS revenue_rank
  FROM revenue
)
SELECT
  marketplace_id,
  child_asin,
  currency,
  ordered_product_sales,
  units_ordered,
  CAST(ordered_product_sales AS DOUBLE) / NULLIF(marketplace_sales, 0) AS revenue_share,
  CAST(cumulative_sales AS DOUBLE) / NULLIF(marketplace_sales, 0) AS cumulative_revenue_share,
  revenue_rank,
  CASE
    WHEN ordered_product_sales > 0 AND cumulative_sales - ordered_product_sales < marketplace_sales * 0.80 THEN 'A'
    WHEN ordered_product_sales > 0 AND cumulative_sales - ordered_product_sales < marketplace_sales * 0.95 THEN 'B'
    ELSE 'C'
  END AS abc_class
FROM running
ORDER BY marketplace_id, revenue_rank, child_asin
