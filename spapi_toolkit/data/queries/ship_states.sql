-- Where orders ship, at state level only (no city, postal code or customer ever leaves the
-- cleaned zone): orders, units and revenue per marketplace, ship-to country and state over the
-- weeks the period touches, in local and reporting currency.
SELECT
  marketplace_id,
  ship_country,
  ship_state,
  MAX(currency) AS currency,
  SUM(orders) AS orders,
  SUM(units) AS units,
  SUM(item_revenue) AS item_revenue,
  SUM(item_revenue_reporting) AS item_revenue_reporting,
  CAST(SUM(business_orders) AS DOUBLE) / NULLIF(SUM(orders), 0) AS b2b_order_share
FROM aggregated.customer_behavior
WHERE date BETWEEN DATE_ADD('day', -6, :start) AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, ship_country, ship_state
ORDER BY marketplace_id, orders DESC, ship_state
