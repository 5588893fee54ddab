-- Units ordered and refunded per child ASIN in each marketplace's latest Data Kiosk window
-- that overlaps the period (Data Kiosk sums a whole window; windows are not split per day), the
-- refund rate rebuilt from the parts, and the refunded sales estimated at the window's average
-- selling price (Data Kiosk gives refunded units, not refunded money).
WITH latest AS (
  SELECT marketplace_id, MAX(end_date) AS end_date
  FROM cleaned.kiosk_sales_traffic
  WHERE start_date <= :end AND end_date >= :start AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id
), chosen AS (
  SELECT k.marketplace_id, MAX(k.start_date) AS start_date, l.end_date
  FROM cleaned.kiosk_sales_traffic AS k
  JOIN latest AS l ON k.marketplace_id = l.marketplace_id AND k.end_date = l.end_date
  WHERE k.start_date <= :end
  GROUP BY k.marketplace_id, l.end_date
)
SELECT
  k.marketplace_id,
  k.start_date,
  k.end_date,
  k.child_asin,
  k.currency,
  SUM(k.units_ordered) AS units_ordered,
  SUM(k.units_refunded) AS units_refunded,
  SUM(k.ordered_product_sales) AS ordered_product_sales,
  CAST(SUM(k.units_refunded) AS DOUBLE) / NULLIF(SUM(k.units_ordered), 0) AS refund_rate,
  CAST(SUM(k.units_refunded) AS DOUBLE) * SUM(k.ordered_product_sales)
    / NULLIF(SUM(k.units_ordered), 0) AS refunded_sales_estimate
FROM cleaned.kiosk_sales_traffic AS k
JOIN chosen AS c
  ON k.marketplace_id = c.marketplace_id AND k.start_date = c.start_date
  AND k.end_date = c.end_date
WHERE CONTAINS(:marketplaces, k.marketplace_id)
GROUP BY k.marketplace_id, k.start_date, k.end_date, k.child_asin, k.currency
ORDER BY k.marketplace_id, refund_rate DESC, k.child_asin
