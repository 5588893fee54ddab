-- New entrants in the seller's watched keyword searches: the results of the latest snapshot day
-- of the period (per marketplace) that no earlier snapshot day of the period listed for the same
-- search, with their place and brand; only searches the period holds on two days or more
-- (cleaned catalog_search). The period's days are the snapshots of :start + 1 to :end + 1.
WITH period AS (
  SELECT *
  FROM cleaned.catalog_search
  WHERE snapshot_date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
),
latest AS (
  SELECT marketplace_id, search, MAX(snapshot_date) AS snapshot_date, MIN(snapshot_date) AS first_date
  FROM period
  GROUP BY marketplace_id, search
  HAVING COUNT(DISTINCT snapshot_date) >= 2
)
SELECT
  p.marketplace_id,
  p.search,
  p.asin,
  p.brand,
  p.title,
  p.position,
  p.sales_rank,
  l.first_date,
  p.snapshot_date AS date
FROM period AS p
JOIN latest AS l
  ON p.marketplace_id = l.marketplace_id AND p.search = l.search AND p.snapshot_date = l.snapshot_date
WHERE NOT EXISTS (
  SELECT 1
  FROM period AS e
  WHERE e.marketplace_id = p.marketplace_id
    AND e.search = p.search
    AND e.asin = p.asin
    AND e.snapshot_date < p.snapshot_date
)
ORDER BY p.marketplace_id, p.search, p.position
