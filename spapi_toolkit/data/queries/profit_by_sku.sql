-- Contribution margin per marketplace and SKU over the period (profit_daily: each shipment's
-- charges and fees on the local day Amazon posted them, each refund's on its day), the parts
-- summed in the local and the reporting currency, with the ratios rebuilt from the sums. A SKU
-- with any day whose unit cost (or, in the reporting currency, FX rate) is unknown has no
-- cost of goods and no margin there (null, never a partial sum); units_without_cost says how
-- many of its units lack a cost. ASINs and titles come from sku_asins and asin_titles.
WITH summed AS (
  SELECT
    marketplace_id,
    sku,
    MAX(currency) AS currency,
    MAX(reporting_currency) AS reporting_currency,
    SUM(units_shipped) AS units_shipped,
    SUM(units_refunded) AS units_refunded,
    SUM(units_without_cost) AS units_without_cost,
    SUM(revenue) AS revenue,
    SUM(promotions) AS promotions,
    SUM(referral_fees) AS referral_fees,
    SUM(fba_fees) AS fba_fees,
    SUM(other_fees) AS other_fees,
    SUM(refunds) AS refunds,
    SUM(refund_fees) AS refund_fees,
    CASE WHEN COUNT(*) = COUNT(cost_of_goods) THEN SUM(cost_of_goods) END AS cost_of_goods,
    CASE WHEN COUNT(*) = COUNT(contribution_margin) THEN SUM(contribution_margin) END
      AS contribution_margin,
    CASE WHEN COUNT(*) = COUNT(revenue_reporting) THEN SUM(revenue_reporting) END
      AS revenue_reporting,
    CASE WHEN COUNT(*) = COUNT(revenue_reporting)
         THEN SUM(referral_fees_reporting + fba_fees_reporting + other_fees_reporting) END
      AS fees_reporting,
    CASE WHEN COUNT(*) = COUNT(revenue_reporting)
         THEN SUM(refunds_reporting + refund_fees_reporting) END AS refunds_reporting,
    CASE WHEN COUNT(*) = COUNT(cost_of_goods_reporting) THEN SUM(cost_of_goods_reporting) END
      AS cost_of_goods_reporting,
    CASE WHEN COUNT(*) = COUNT(contribution_margin_reporting)
         THEN SUM(contribution_margin_reporting) END AS contribution_margin_reporting
  FROM aggregated.profit_daily
  WHERE date BETWEEN :start AND :end
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, sku
)
SELECT
  s.marketplace_id,
  s.sku,
  s.currency,
  s.reporting_currency,
  s.units_shipped,
  s.units_refunded,
  s.units_without_cost,
  s.revenue,
  s.promotions,
  s.referral_fees,
  s.fba_fees,
  s.other_fees,
  s.refunds,
  s.refund_fees,
  s.cost_of_goods,
  s.contribution_margin,
  s.contribution_margin / NULLIF(s.revenue, 0) AS margin_rate,
  -(s.referral_fees + s.fba_fees + s.other_fees) / NULLIF(s.revenue, 0) AS fee_share,
  -(s.refunds + s.refund_fees) / NULLIF(s.revenue, 0) AS refund_share,
  -s.promotions / NULLIF(s.revenue, 0) AS promotion_share,
  s.cost_of_goods / NULLIF(s.revenue, 0) AS cost_share,
  s.revenue_reporting,
  s.fees_reporting,
  s.refunds_reporting,
  s.cost_of_goods_reporting,
  s.contribution_margin_reporting
FROM summed AS s
ORDER BY s.marketplace_id, s.contribution_margin_reporting, s.sku
