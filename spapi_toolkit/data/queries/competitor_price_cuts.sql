-- Where a watched competitor cut its price and we lost ground beside it: every snapshot day of
-- the period on which a competitor's lowest landed price fell by 5 % or more against its
-- previous snapshot (the day before the period is read for the first day's), with each of our
-- ASINs listed in a watched search with it that day (one row per pair, the first such search
-- named), whether we held the Buy Box on our ASIN then and at its previous snapshot
-- (competitor_daily's we_hold_buy_box), our Best Sellers Rank both days (aggregated
-- competitor_daily, cleaned catalog_search), and our ASIN's units ordered on the snapshot's day
-- against its usual units, the mean over the 7 days before the previous snapshot's (aggregated
-- sales_daily; a day whose Sales & Traffic report landed counts an ASIN it does not list as 0
-- units, a day not landed yet leaves our_units empty). The period's days are the snapshots of
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
),
pairs AS (
  SELECT
    c.seller_id,
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
),
sold AS (
  SELECT seller_id, marketplace_id, date, child_asin AS asin, units_ordered
  FROM aggregated.sales_daily
  WHERE date BETWEEN CAST(DATE_ADD('day', -8, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
),
reported AS (
  SELECT DISTINCT seller_id, marketplace_id, date FROM sold
),
usual AS (
  SELECT p.seller_id, p.marketplace_id, p.date, p.our_asin, CAST(SUM(COALESCE(n.units_ordered, 0)) AS DOUBLE) / COUNT(*) AS our_usual_units
  FROM (SELECT DISTINCT seller_id, marketplace_id, date, previous_date, our_asin FROM pairs) AS p
  JOIN reported AS r
    ON r.seller_id = p.seller_id AND r.marketplace_id = p.marketplace_id
    AND r.date BETWEEN CAST(DATE_ADD('day', -7, p.previous_date) AS DATE) AND CAST(DATE_ADD('day', -1, p.previous_date) AS DATE)
  LEFT JOIN sold AS n
    ON n.seller_id = r.seller_id AND n.marketplace_id = r.marketplace_id AND n.date = r.date AND n.asin = p.our_asin
  GROUP BY p.seller_id, p.marketplace_id, p.date, p.our_asin
)
SELECT
  p.marketplace_id,
  p.date,
  p.competitor_asin,
  p.currency,
  p.previous_date,
  p.previous_price,
  p.price,
  p.search,
  p.our_asin,
  p.we_held_buy_box_before,
  p.we_hold_buy_box,
  p.our_previous_rank,
  p.our_rank,
  CASE WHEN r.date IS NOT NULL THEN COALESCE(n.units_ordered, 0) END AS our_units,
  u.our_usual_units
FROM pairs AS p
LEFT JOIN reported AS r
  ON r.seller_id = p.seller_id AND r.marketplace_id = p.marketplace_id AND r.date = p.date
LEFT JOIN sold AS n
  ON n.seller_id = p.seller_id AND n.marketplace_id = p.marketplace_id AND n.date = p.date AND n.asin = p.our_asin
LEFT JOIN usual AS u
  ON u.seller_id = p.seller_id AND u.marketplace_id = p.marketplace_id AND u.date = p.date AND u.our_asin = p.our_asin
ORDER BY p.marketplace_id, p.date, p.competitor_asin, p.our_asin
