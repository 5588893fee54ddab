-- Revenue rank and Pareto (ABC) class of each child ASIN per marketplace and calendar month,
-- for the months the period touches (product_performance), with how complete each month is and
-- the month's sales-rank trend from the catalog snapshots.
SELECT
  marketplace_id,
  date AS month,
  period_end,
  report_days,
  child_asin,
  currency,
  ordered_product_sales,
  revenue_share,
  cumulative_revenue_share,
  revenue_rank,
  abc_class,
  units_ordered,
  sales_rank_first,
  sales_rank_last,
  sales_rank_change
FROM aggregated.product_performance
WHERE date BETWEEN DATE_TRUNC('month', :start) AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
ORDER BY marketplace_id, month, revenue_rank, child_asin
