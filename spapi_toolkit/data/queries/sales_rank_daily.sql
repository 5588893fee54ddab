-- The Best Sellers Rank of each ASIN per catalog snapshot day in the period, per marketplace
-- (cleaned catalog_items): lower is better; ranks compare only within one display group.
SELECT
  marketplace_id,
  snapshot_date AS date,
  asin,
  title,
  sales_rank,
  sales_rank_group
FROM cleaned.catalog_items
WHERE snapshot_date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
  AND sales_rank IS NOT NULL
ORDER BY marketplace_id, asin, snapshot_date
