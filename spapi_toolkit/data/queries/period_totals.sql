-- The period's totals per marketplace, Business Reports' opening figures from Sales & Traffic:
-- ordered product sales in the local and in the reporting currency, units ordered, order items
-- and sessions; the days the mart holds; and the rows with sales but no reporting amount (no
-- FX rate for their day), which leave the reporting total short.
SELECT
  marketplace_id,
  currency,
  MAX(reporting_currency) AS reporting_currency,
  COUNT(DISTINCT date) AS days,
  SUM(ordered_product_sales) AS ordered_product_sales,
  SUM(ordered_product_sales_reporting) AS ordered_product_sales_reporting,
  SUM(units_ordered) AS units_ordered,
  SUM(total_order_items) AS total_order_items,
  SUM(sessions) AS sessions,
  SUM(
    CASE WHEN ordered_product_sales <> 0 AND ordered_product_sales_reporting IS NULL THEN 1 ELSE 0 END
  ) AS unconverted_rows
FROM aggregated.sales_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, currency
ORDER BY marketplace_id
