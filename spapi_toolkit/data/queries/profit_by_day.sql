-- Revenue, Amazon's fees, refunds, the units' cost and the contribution margin per marketplace
-- and local posting day over the period, in the reporting currency (profit_daily); a day with
-- any SKU whose unit cost is unknown has no margin (null).
SELECT
  marketplace_id,
  date,
  MAX(reporting_currency) AS reporting_currency,
  SUM(units_shipped) AS units_shipped,
  SUM(revenue_reporting) AS revenue_reporting,
  SUM(referral_fees_reporting + fba_fees_reporting + other_fees_reporting) AS fees_reporting,
  SUM(refunds_reporting + refund_fees_reporting) AS refunds_reporting,
  SUM(cost_of_goods_reporting) AS cost_of_goods_reporting,
  CASE WHEN COUNT(*) = COUNT(contribution_margin_reporting)
       THEN SUM(contribution_margin_reporting) END AS contribution_margin_reporting
FROM aggregated.profit_daily
WHERE date BETWEEN :start AND :end
  AND CONTAINS(:marketplaces, marketplace_id)
GROUP BY marketplace_id, date
ORDER BY marketplace_id, date
