-- The ASINs with the most ordered product sales over the period, per marketplace (local
-- currency), with their units, sessions and unit session rate rebuilt from the summed parts.
SELECT
  marketplace_id,
  child_asin,
  currency,
  SUM(ordered_product_sales) AS ordered_product_sales,
  SUM(units_ordered) AS units_ordered,
  SUM(sessions) AS sessions,
  CAST(SUM(units_ordered) AS DOUBLE) / NULLIF(SUM(sessions), 0) AS unit_session_rate
FROM aggregated.sales_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, child_asin, currency
ORDER BY ordered_product_sales DESC, child_asin
