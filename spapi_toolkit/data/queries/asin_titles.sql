-- Each ASIN's title per marketplace: its latest catalog snapshot's up to the day after the
-- period ends (a snapshot shows the state as the previous day ended), for labels beside ASINs;
-- snapshots from 90 days before the period on (the seller's ASINs are snapshotted daily, so an
-- ASIN sold in the period has one; Athena and DuckDB read only those partitions).
SELECT marketplace_id, asin, title
FROM (
  SELECT
    marketplace_id,
    asin,
    title,
    ROW_NUMBER() OVER (PARTITION BY marketplace_id, asin ORDER BY snapshot_date DESC) AS newest
  FROM cleaned.catalog_items
  WHERE snapshot_date BETWEEN CAST(DATE_ADD('day', -90, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
    AND title IS NOT NULL
) AS titled
WHERE newest = 1
ORDER BY marketplace_id, asin
