-- Units and ordered product sales of each child ASIN in the first and the second half of the
-- period, per marketplace, local currency, with the days in each half (the second half has the
-- extra day of an odd period): the notebooks turn them into per-day rates to find the top
-- movers and the falling ASINs.
WITH split AS (
  SELECT DATE_ADD('day', CAST(FLOOR((DATE_DIFF('day', :start, :end) + 1) / 2.0) AS INTEGER),
                  :start) AS middle
)
SELECT
  s.marketplace_id,
  s.child_asin,
  s.currency,
  DATE_DIFF('day', :start, MIN(split.middle)) AS days_first_half,
  DATE_DIFF('day', MIN(split.middle), :end) + 1 AS days_second_half,
  SUM(CASE WHEN s.date < split.middle THEN s.units_ordered ELSE 0 END) AS units_first_half,
  SUM(CASE WHEN s.date >= split.middle THEN s.units_ordered ELSE 0 END) AS units_second_half,
  SUM(CASE WHEN s.date < split.middle THEN s.ordered_product_sales ELSE 0 END) AS sales_first_half,
  SUM(CASE WHEN s.date >= split.middle THEN s.ordered_product_sales ELSE 0 END) AS sales_second_half
FROM aggregated.sales_daily AS s
CROSS JOIN split
WHERE s.date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, s.marketplace_id)
GROUP BY s.marketplace_id, s.child_asin, s.currency
ORDER BY s.marketplace_id, s.child_asin
