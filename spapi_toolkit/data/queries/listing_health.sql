-- Listing health at the latest listings snapshot of the period: every listing Amazon reports as
-- not buyable, not discoverable or with issues (listings_items), with its FBA stock on hand at
-- the latest inventory snapshot of the period and the sales its ASIN had over the period (Sales
-- & Traffic), the most at stake first: the period's sales in the reporting currency, then stock.
-- Snapshots are pulled in the morning (UTC) and show the state as the previous day ended, so
-- the period's days are the snapshots of the day after each (:start + 1 to :end + 1).
WITH listed AS (
  SELECT marketplace_id, MAX(snapshot_date) AS snapshot_date
  FROM cleaned.listings_items
  WHERE snapshot_date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id
),
unhealthy AS (
  SELECT l.*
  FROM cleaned.listings_items AS l
  JOIN listed AS d
    ON l.marketplace_id = d.marketplace_id AND l.snapshot_date = d.snapshot_date
  WHERE NOT COALESCE(l.is_buyable, FALSE)
    OR NOT COALESCE(l.is_discoverable, FALSE)
    OR COALESCE(l.issue_count, 0) > 0
),
counted AS (
  SELECT marketplace_id, MAX(snapshot_date) AS snapshot_date
  FROM cleaned.fba_inventory
  WHERE snapshot_date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND CAST(DATE_ADD('day', 1, :end) AS DATE)
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id
),
stock AS (
  SELECT i.marketplace_id, i.sku, SUM(i.afn_fulfillable_quantity) AS fulfillable_quantity
  FROM cleaned.fba_inventory AS i
  JOIN counted AS c
    ON i.marketplace_id = c.marketplace_id AND i.snapshot_date = c.snapshot_date
  GROUP BY i.marketplace_id, i.sku
),
sales AS (
  SELECT
    marketplace_id,
    child_asin,
    currency,
    SUM(units_ordered) AS units_ordered,
    SUM(ordered_product_sales) AS ordered_product_sales,
    SUM(ordered_product_sales_reporting) AS ordered_product_sales_reporting
  FROM aggregated.sales_daily
  WHERE date BETWEEN :start AND :end
    AND CONTAINS(:marketplaces, marketplace_id)
  GROUP BY marketplace_id, child_asin, currency
)
SELECT
  u.marketplace_id,
  u.snapshot_date,
  u.sku,
  u.asin,
  u.item_name,
  u.is_buyable,
  u.is_discoverable,
  u.issue_count,
  u.highest_issue_severity,
  u.first_error_code,
  s.fulfillable_quantity,
  COALESCE(x.units_ordered, 0) AS units_ordered,
  x.currency,
  x.ordered_product_sales,
  x.ordered_product_sales_reporting
FROM unhealthy AS u
LEFT JOIN stock AS s
  ON u.marketplace_id = s.marketplace_id AND u.sku = s.sku
LEFT JOIN sales AS x
  ON u.marketplace_id = x.marketplace_id AND u.asin = x.child_asin
ORDER BY x.ordered_product_sales_reporting DESC NULLS LAST, s.fulfillable_quantity DESC NULLS LAST,
  u.marketplace_id, u.sku
