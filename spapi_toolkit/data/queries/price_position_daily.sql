-- Per marketplace and snapshot day: how many ASINs we priced, how many have our offer in the
-- Buy Box, are the lowest price or sit above Amazon's Competitive Price Threshold, and the price
-- index to the lowest offer rebuilt from the summed prices (1 = at the lowest).
-- Snapshots are pulled in the morning (UTC) and show the state as the previous day ended, so
-- the period's days are the snapshots of the day after each (:start + 1 to :end + 1).
SELECT
  marketplace_id,
  date,
  COUNT(*) AS asins,
  COUNT(our_landed_price) AS asins_priced,
  SUM(CASE WHEN we_win_buy_box THEN 1 ELSE 0 END) AS buy_box_won,
  SUM(CASE WHEN buy_box_winner = 'other' THEN 1 ELSE 0 END) AS buy_box_lost,
  SUM(CASE WHEN is_lowest_price THEN 1 ELSE 0 END) AS lowest_price,
  SUM(CASE WHEN above_competitive_price_threshold THEN 1 ELSE 0 END) AS above_threshold,
  CAST(SUM(CASE WHEN lowest_landed_price IS NOT NULL THEN our_landed_price END) AS DOUBLE)
    / NULLIF(SUM(CASE WHEN our_landed_price IS NOT NULL THEN lowest_landed_price END), 0)
    AS price_index_to_lowest,
  AVG(total_offer_count) AS offers_per_asin
FROM aggregated.price_competitiveness
WHERE date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, date
ORDER BY marketplace_id, date
