-- Where a watched competitor cut its price and we lost ground beside it: every snapshot day of
-- the period on which a competitor's lowest landed price fell by 5 % or more against its
-- previous snapshot (the day before the period is read for the first day's), with each of our
-- ASINs listed in a watched search with it that day (one row per pair, the first such search
-- named), whether we held the Buy Box on our ASIN then and at its previous snapshot
-- (competitor_daily's we_hold_buy_box), and our Best Sellers Rank both days (aggregated
-- competitor_daily, cleaned catalog_search). The period's days are the snapshots of
-- :start + 1 to :end + 1.
WITH days AS (
  SELECT
    seller_id,
    marketplace_id,
    date,
    asin,
    is_ours,
    currency,
    lowest_landed_price,
    we_hold_buy_box,
    sales_rank,
    LAG(date) OVER (PARTITION BY seller_id, marketplace_id, asin ORDER BY date) AS previous_date,
    LAG(lowest_landed_price) OVER (PARTITION BY seller_id, marketplace_id, asin ORDER BY date) AS previous_price,
    LAG(we_hold_buy_box) OVER (PARTITION BY seller_id, marketplace_id, asin ORDER BY date) AS held_before,
    LAG(sales_rank) OVER (PARTITION BY seller_id, marketplace_id, asin ORDER BY date) AS previous_rank
  FROM aggregated.competitor_daily
  WHERE date BETWEEN :start AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
),
cuts AS (
  SELECT *
  FROM days
  WHERE NOT is_ours
    AND date >= CAST(DATE_ADD('day', 1, :start) AS DATE)
    AND previous_price IS NOT NULL
    AND lowest_landed_price <= previous_price * 0.95
),
shared AS (
  SELECT theirs.seller_id, theirs.marketplace_id, theirs.snapshot_date, theirs.asin AS their_asin, ours.asin AS our_asin, MIN(theirs.search) AS search
  FROM cleaned.catalog_search AS theirs
  JOIN cleaned.catalog_search AS ours
    ON ours.seller_id = theirs.seller_id
    AND ours.marketplace_id = theirs.marketplace_id
    AND ours.snapshot_date = theirs.snapshot_date
    AND ours.search = theirs.search
    AND ours.asin <> theirs.asin
  WHERE theirs.snapshot_date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
  GROUP BY theirs.seller_id, theirs.marketplace_id, theirs.snapshot_date, theirs.asin, ours.asin
)
SELECT
  c.marketplace_id,
  c.date,
  c.asin AS competitor_asin,
  c.currency,
  c.previous_date,
  c.previous_price,
  c.lowest_landed_price AS price,
  s.search,
  o.asin AS our_asin,
  o.held_before AS we_held_buy_box_before,
  o.we_hold_buy_box,
  o.previous_rank AS our_previous_rank,
  o.sales_rank AS our_rank
FROM cuts AS c
JOIN shared AS s
  ON s.seller_id = c.seller_id AND s.marketplace_id = c.marketplace_id AND s.snapshot_date = c.date AND s.their_asin = c.asin
JOIN days AS o
  ON o.seller_id = c.seller_id AND o.marketplace_id = c.marketplace_id AND o.date = c.date AND o.asin = s.our_asin AND o.is_ours
ORDER BY c.marketplace_id, c.date, c.asin, o.asin
