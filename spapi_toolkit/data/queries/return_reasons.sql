-- The customers' reasons for FBA returns per marketplace and ASIN over the period: units
-- returned for each reason and the reason's share of the ASIN's returned units (the shares of
-- an ASIN sum to 1), most units first; a return Amazon gives no reason for counts as
-- "(none given)". (The shares divide by a joined per-ASIN total: a window over the grouped
-- rows took three times as long on DuckDB, bench_queries.)
WITH per_reason AS (
  SELECT
    marketplace_id,
    asin,
    COALESCE(reason, '(none given)') AS reason,
    SUM(quantity) AS units
  FROM cleaned.returns
  WHERE return_date BETWEEN :start AND :end
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, asin, COALESCE(reason, '(none given)')
),
per_asin AS (
  SELECT marketplace_id, asin, SUM(units) AS returned
  FROM per_reason
  GROUP BY marketplace_id, asin
)
SELECT
  r.marketplace_id,
  r.asin,
  r.reason,
  r.units,
  CAST(r.units AS DOUBLE) / a.returned AS share_of_asin_returns
FROM per_reason AS r
JOIN per_asin AS a
  ON a.marketplace_id = r.marketplace_id AND a.asin = r.asin
ORDER BY r.marketplace_id, r.asin, r.units DESC, r.reason
