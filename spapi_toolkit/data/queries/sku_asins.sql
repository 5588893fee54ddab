-- Each SKU's ASIN per marketplace, as the SKU's orders of the period name it (orders_daily),
-- for labels beside SKUs (a SKU without orders in the period has none here); the greatest when
-- a SKU names several.
SELECT marketplace_id, sku, MAX(asin) AS asin
FROM aggregated.orders_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, sku
ORDER BY marketplace_id, sku
