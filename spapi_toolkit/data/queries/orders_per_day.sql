-- Orders per marketplace and local purchase day, from the order items: distinct orders, items,
-- units, business (B2B) orders and cancelled orders. An order counts once however many SKUs it
-- holds (orders_daily counts orders per SKU, which do not add up across SKUs).
SELECT
  marketplace_id,
  purchase_date AS date,
  COUNT(DISTINCT amazon_order_id) AS orders,
  COUNT(*) AS order_items,
  SUM(quantity) AS units,
  COUNT(DISTINCT CASE WHEN is_business_order THEN amazon_order_id END) AS business_orders,
  COUNT(DISTINCT CASE WHEN order_status = 'Cancelled' THEN amazon_order_id END) AS cancelled_orders
FROM cleaned.order_items
WHERE purchase_date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, purchase_date
ORDER BY marketplace_id, purchase_date
