-- Per marketplace and week (Sunday to Saturday, the weeks the period touches): orders, units
-- and lines, with basket size, multi-unit share and business (B2B) shares rebuilt from the
-- summed parts, and order value in local and reporting currency (customer_behavior).
SELECT
  marketplace_id,
  date AS week_start,
  MAX(currency) AS currency,
  MAX(reporting_currency) AS reporting_currency,
  SUM(orders) AS orders,
  SUM(order_items) AS order_items,
  SUM(units) AS units,
  SUM(business_orders) AS business_orders,
  SUM(business_units) AS business_units,
  SUM(item_revenue) AS item_revenue,
  SUM(item_revenue_reporting) AS item_revenue_reporting,
  CAST(SUM(units) AS DOUBLE) / NULLIF(SUM(orders), 0) AS units_per_order,
  CAST(SUM(order_items) AS DOUBLE) / NULLIF(SUM(orders), 0) AS items_per_order,
  CAST(SUM(multi_unit_orders) AS DOUBLE) / NULLIF(SUM(orders), 0) AS multi_unit_order_share,
  CAST(SUM(business_orders) AS DOUBLE) / NULLIF(SUM(orders), 0) AS b2b_order_share,
  CAST(SUM(business_units) AS DOUBLE) / NULLIF(SUM(units), 0) AS b2b_unit_share,
  CAST(SUM(item_revenue) AS DOUBLE) / NULLIF(SUM(orders), 0) AS average_order_value
FROM aggregated.customer_behavior
WHERE date BETWEEN DATE_ADD('day', -6, :start) AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, date
ORDER BY marketplace_id, date
