-- The reporting currency the marts converted money into for the period and marketplaces (one
-- per lake: its FX rates convert into one currency); no row when nothing was converted.
SELECT DISTINCT reporting_currency
FROM aggregated.sales_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
  AND reporting_currency IS NOT NULL
