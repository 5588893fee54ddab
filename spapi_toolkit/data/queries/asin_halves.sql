-- Units and ordered product sales of each child ASIN in the first and the second half of the
-- period (split at :middle, the first day of the second half), per marketplace, local currency:
-- the notebooks turn them into per-day rates to find the top movers and the falling ASINs.
SELECT
  marketplace_id,
  child_asin,
  currency,
  SUM(CASE WHEN date < :middle THEN units_ordered ELSE 0 END) AS units_first_half,
  SUM(CASE WHEN date >= :middle THEN units_ordered ELSE 0 END) AS units_second_half,
  SUM(CASE WHEN date < :middle THEN ordered_product_sales ELSE 0 END) AS sales_first_half,
  SUM(CASE WHEN date >= :middle THEN ordered_product_sales ELSE 0 END) AS sales_second_half
FROM aggregated.sales_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, child_asin, currency
ORDER BY marketplace_id, child_asin
