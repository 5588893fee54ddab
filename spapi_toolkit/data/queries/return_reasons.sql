-- The customers' reasons for FBA returns per marketplace and ASIN over the period: units
-- returned for each reason and the reason's share of the ASIN's returned units (the shares of
-- an ASIN sum to 1), most units first; a return Amazon gives no reason for counts as
-- "(none given)".
SELECT
  marketplace_id,
  asin,
  COALESCE(reason, '(none given)') AS reason,
  SUM(quantity) AS units,
  CAST(SUM(quantity) AS DOUBLE)
    / SUM(SUM(quantity)) OVER (PARTITION BY marketplace_id, asin) AS share_of_asin_returns
FROM cleaned.returns
WHERE return_date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, asin, COALESCE(reason, '(none given)')
ORDER BY marketplace_id, asin, units DESC, reason
