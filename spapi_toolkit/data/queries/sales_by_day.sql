-- Sales and traffic per marketplace and marketplace-local day, in local currency: units,
-- ordered product sales, sessions and page views summed, and Buy Box share, unit session rate
-- and average selling price rebuilt from the summed parts (never averaged).
SELECT
  marketplace_id,
  date,
  currency,
  SUM(units_ordered) AS units_ordered,
  SUM(ordered_product_sales) AS ordered_product_sales,
  SUM(sessions) AS sessions,
  SUM(page_views) AS page_views,
  SUM(buy_box_page_views) / NULLIF(SUM(page_views), 0) AS buy_box_share,
  CAST(SUM(units_ordered) AS DOUBLE) / NULLIF(SUM(sessions), 0) AS unit_session_rate,
  CAST(SUM(ordered_product_sales) AS DOUBLE) / NULLIF(SUM(units_ordered), 0) AS average_selling_price
FROM aggregated.sales_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, date, currency
ORDER BY marketplace_id, date
