-- FBA inventory health of every SKU at the latest snapshot day of the period, per marketplace:
-- fulfillable, inbound and reserved units, sales velocity over in-stock days, days of supply,
-- 30/90-day sell-through and the stock-out risk.
-- Snapshots are pulled in the morning (UTC) and show the state as the previous day ended, so
-- the period's days are the snapshots of the day after each (:start + 1 to :end + 1).
WITH latest AS (
  SELECT marketplace_id, MAX(date) AS date
  FROM aggregated.inventory_health
  WHERE date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id
)
SELECT h.*
FROM aggregated.inventory_health AS h
JOIN latest AS l
  ON h.marketplace_id = l.marketplace_id AND h.date = l.date
WHERE h.date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
  AND CONTAINS(:marketplaces, h.marketplace_id)
ORDER BY h.marketplace_id, h.days_of_supply, h.sku
