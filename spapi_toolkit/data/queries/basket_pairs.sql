-- The ASIN pairs most often bought together over the weeks the period touches, per marketplace
-- (Brand Analytics market basket): orders holding both summed over the weeks, the pair's share
-- of the ASIN's orders rebuilt from the sums, and whether the partner is one of ours.
SELECT
  marketplace_id,
  asin,
  purchased_with_asin,
  BOOL_OR(purchased_with_own_asin) AS partner_is_ours,
  SUM(combination_orders) AS orders_together,
  SUM(asin_orders) AS asin_orders,
  CAST(SUM(combination_orders) AS DOUBLE) / NULLIF(SUM(asin_orders), 0) AS share_of_asin_orders,
  MIN(purchased_with_rank) AS best_rank
FROM aggregated.market_basket_pairs
WHERE date BETWEEN DATE_ADD('day', -6, :start) AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, asin, purchased_with_asin
ORDER BY marketplace_id, orders_together DESC NULLS LAST, asin, purchased_with_asin
