-- The Best Sellers Rank of each ASIN per catalog snapshot day in the period, per marketplace
-- (cleaned catalog_items, the seller's own ASINs): lower is better; ranks compare only within
-- one display group.
-- Snapshots are pulled in the morning (UTC) and show the state as the previous day ended, so
-- the period's days are the snapshots of the day after each (:start + 1 to :end + 1).
SELECT
  marketplace_id,
  snapshot_date AS date,
  asin,
  title,
  sales_rank,
  sales_rank_group
FROM cleaned.catalog_items
WHERE snapshot_date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
  AND CONTAINS(:marketplaces, marketplace_id)
  AND sales_rank IS NOT NULL
  AND NOT COALESCE(watched, FALSE)
ORDER BY marketplace_id, asin, snapshot_date
