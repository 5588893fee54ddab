-- Units ordered and refunded per marketplace and child ASIN over the period, summed over Data
-- Kiosk's one-day windows inside it (the registry asks one day per query; a window of several
-- days, such as one landed before that, is left out: it cannot be split per day), the refund
-- rate rebuilt from the summed parts, and the refunded sales estimated at the period's average
-- selling price (Data Kiosk gives refunded units, not refunded money). The filter on start_date,
-- the table's day partition, lets both engines read only the period's partitions.
SELECT
  marketplace_id,
  child_asin,
  currency,
  MIN(start_date) AS first_day,
  MAX(start_date) AS last_day,
  SUM(units_ordered) AS units_ordered,
  SUM(units_refunded) AS units_refunded,
  SUM(ordered_product_sales) AS ordered_product_sales,
  CAST(SUM(units_refunded) AS DOUBLE) / NULLIF(SUM(units_ordered), 0) AS refund_rate,
  CAST(SUM(units_refunded) AS DOUBLE) * SUM(ordered_product_sales)
    / NULLIF(SUM(units_ordered), 0) AS refunded_sales_estimate
FROM cleaned.kiosk_sales_traffic
WHERE start_date BETWEEN :start AND :end
  AND end_date = start_date
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, child_asin, currency
ORDER BY marketplace_id, refund_rate DESC, child_asin
