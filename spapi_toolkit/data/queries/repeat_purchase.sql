-- Repeat customers per marketplace and Brand Analytics week: unique and repeat customers summed
-- over our ASINs (customer-ASIN pairs: a customer of two ASINs counts twice), the repeat share
-- rebuilt from them, and the revenue from repeat customers in local and reporting currency.
SELECT
  marketplace_id,
  date AS week_start,
  MAX(currency) AS currency,
  SUM(orders) AS orders,
  SUM(unique_customers) AS customers,
  SUM(repeat_customers) AS repeat_customers,
  CAST(SUM(repeat_customers) AS DOUBLE) / NULLIF(SUM(unique_customers), 0) AS repeat_customer_share,
  SUM(repeat_purchase_revenue) AS repeat_purchase_revenue,
  SUM(repeat_purchase_revenue_reporting) AS repeat_purchase_revenue_reporting
FROM aggregated.repeat_customers
WHERE date BETWEEN DATE_ADD('day', -6, :start) AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, date
ORDER BY marketplace_id, date
