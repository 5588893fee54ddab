-- Per marketplace and local day: units and revenue as the order items count them
-- (orders_daily) beside Sales & Traffic's (sales_daily), with what explains a difference:
-- units of orders still pending (no price yet) and cancelled items. Both marts count an order on
-- its marketplace-local purchase day, so the day boundary is not a cause.
WITH orders AS (
  SELECT marketplace_id, date, SUM(units) AS order_units, SUM(item_revenue) AS order_revenue,
         SUM(pending_units) AS pending_units, SUM(cancelled_items) AS cancelled_items
  FROM aggregated.orders_daily
  WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, date
), sales AS (
  SELECT marketplace_id, date, SUM(units_ordered) AS sales_units,
         SUM(ordered_product_sales) AS sales_revenue
  FROM aggregated.sales_daily
  WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, date
)
SELECT
  COALESCE(o.marketplace_id, s.marketplace_id) AS marketplace_id,
  COALESCE(o.date, s.date) AS date,
  COALESCE(o.order_units, 0) AS order_units,
  COALESCE(s.sales_units, 0) AS sales_units,
  COALESCE(o.order_units, 0) - COALESCE(s.sales_units, 0) AS units_difference,
  o.order_revenue,
  s.sales_revenue,
  COALESCE(o.pending_units, 0) AS pending_units,
  COALESCE(o.cancelled_items, 0) AS cancelled_items
FROM orders AS o
FULL OUTER JOIN sales AS s
  ON o.marketplace_id = s.marketplace_id AND o.date = s.date
ORDER BY 1, 2
