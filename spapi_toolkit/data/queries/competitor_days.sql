-- Every ASIN of competitor_daily on the period's snapshot days, ours and the competitors' the
-- seller watches: lowest landed price, Buy Box, rank and the place in the watched searches, for
-- the competitors' price and rank lines against ours. Snapshots are pulled in the morning (UTC)
-- and show the state as the previous day ended, so the period's days are the snapshots of the
-- day after each (:start + 1 to :end + 1).
SELECT
  marketplace_id,
  date,
  asin,
  is_ours,
  brand,
  title,
  currency,
  sales_rank,
  lowest_landed_price,
  buy_box_landed_price,
  buy_box_seller_id,
  total_offer_count,
  searches,
  best_search_position,
  our_landed_price,
  our_reference_price,
  price_gap_to_ours
FROM aggregated.competitor_daily
WHERE date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
  AND CONTAINS(:marketplaces, marketplace_id)
ORDER BY marketplace_id, asin, date
