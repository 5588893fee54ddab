-- Our price position on every ASIN at the latest snapshot day of the period, per marketplace:
-- our landed price against the lowest offer, the Buy Box and Amazon's Competitive Price
-- Threshold (above it, Amazon does not feature our offer), offer counts and who has the Buy Box.
-- Snapshots are pulled in the morning (UTC) and show the state as the previous day ended, so
-- the period's days are the snapshots of the day after each (:start + 1 to :end + 1).
WITH latest AS (
  SELECT marketplace_id, MAX(date) AS date
  FROM aggregated.price_competitiveness
  WHERE date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id
)
SELECT p.*
FROM aggregated.price_competitiveness AS p
JOIN latest AS l
  ON p.marketplace_id = l.marketplace_id AND p.date = l.date
WHERE p.date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
  AND CONTAINS(:marketplaces, p.marketplace_id)
ORDER BY p.marketplace_id, p.asin
