-- The sessions → page views → units funnel of each child ASIN over the period, per marketplace:
-- the parts summed from sales_daily and the rates rebuilt from them (page views per session,
-- unit session rate, Buy Box share weighted by page views, average selling price), with sales
-- in local and in reporting currency.
SELECT
  marketplace_id,
  child_asin,
  currency,
  MAX(reporting_currency) AS reporting_currency,
  SUM(sessions) AS sessions,
  SUM(page_views) AS page_views,
  SUM(units_ordered) AS units_ordered,
  SUM(ordered_product_sales) AS ordered_product_sales,
  SUM(ordered_product_sales_reporting) AS ordered_product_sales_reporting,
  SUM(buy_box_page_views) AS buy_box_page_views,
  CAST(SUM(page_views) AS DOUBLE) / NULLIF(SUM(sessions), 0) AS page_views_per_session,
  CAST(SUM(units_ordered) AS DOUBLE) / NULLIF(SUM(sessions), 0) AS unit_session_rate,
  SUM(buy_box_page_views) / NULLIF(SUM(page_views), 0) AS buy_box_share,
  CAST(SUM(ordered_product_sales) AS DOUBLE) / NULLIF(SUM(units_ordered), 0) AS average_selling_price
FROM aggregated.sales_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, child_asin, currency
ORDER BY marketplace_id, ordered_product_sales DESC, child_asin
