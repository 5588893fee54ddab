-- FBA customer returns per marketplace and ASIN over the period (by the local day the
-- fulfillment center processed them), with the units ordered in the period (Sales & Traffic,
-- every channel) and the return rate rebuilt from the two; the returned units split by what
-- became of them: back in stock (SELLABLE), the seller's loss (DEFECTIVE, CUSTOMER_DAMAGED,
-- EXPIRED: unfulfillable) or Amazon's to reimburse (DAMAGED, CARRIER_DAMAGED). A return in the
-- period may be of an order placed before it.
WITH returned AS (
  SELECT
    marketplace_id,
    asin,
    MIN(return_date) AS first_day,
    MAX(return_date) AS last_day,
    SUM(quantity) AS units_returned,
    SUM(CASE WHEN detailed_disposition = 'SELLABLE' THEN quantity ELSE 0 END) AS units_sellable,
    SUM(CASE WHEN detailed_disposition IN ('DEFECTIVE', 'CUSTOMER_DAMAGED', 'EXPIRED')
             THEN quantity ELSE 0 END) AS units_unsellable,
    SUM(CASE WHEN detailed_disposition IN ('DAMAGED', 'CARRIER_DAMAGED')
             THEN quantity ELSE 0 END) AS units_reimbursed
  FROM cleaned.returns
  WHERE return_date BETWEEN :start AND :end
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, asin
),
ordered AS (
  SELECT marketplace_id, child_asin AS asin, SUM(units_ordered) AS units_ordered
  FROM aggregated.sales_daily
  WHERE date BETWEEN :start AND :end
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, child_asin
)
SELECT
  r.marketplace_id,
  r.asin,
  r.first_day,
  r.last_day,
  o.units_ordered,
  r.units_returned,
  CAST(r.units_returned AS DOUBLE) / NULLIF(o.units_ordered, 0) AS return_rate,
  r.units_sellable,
  r.units_unsellable,
  r.units_reimbursed
FROM returned AS r
LEFT JOIN ordered AS o
  ON o.marketplace_id = r.marketplace_id AND o.asin = r.asin
ORDER BY r.marketplace_id, r.units_returned DESC, r.asin
