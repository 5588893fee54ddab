"""The reports' claims checked against the lake by other means than the reports use: each figure
a report prints (a total, a count, a share, the items a rule flags) is recomputed here in SQL,
from another table where the lake has one (a mart's total against the cleaned table it sums, an
order count from the orders report against the order items'), or by the stated rule written
out again over the rows. ``make demo`` lists them in its summary and fails on any that does not
hold; a claim whose data the lake does not hold for the period is left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from spapi_toolkit.analysis.competitors import (
    FELL,
    USUAL_UNITS,
    lost_beside_cuts,
    moves,
    sales_fell_beside_cuts,
)
from spapi_toolkit.analysis.diagnoses import (
    HIGH_REFUND_RATE,
    HIGH_RETURN_RATE,
    MIN_SESSIONS,
    TOP_QUARTER,
    high_refunds,
    high_returns,
    losing_money,
    low_conversion,
    needs_stock,
    with_reasons,
)
from spapi_toolkit.analysis.periods import ALL, MEASURES, compare
from spapi_toolkit.analysis.profit import by_marketplace
from spapi_toolkit.analysis.scope import Scope, country, day, missing
from spapi_toolkit.lake.curate.marts.inventory_health import HIGH_RISK_DAYS

# A snapshot table's rows on the latest snapshot day the period holds per marketplace (alias t):
# snapshots are pulled in the morning and show the day before, so the period's snapshot days
# are :start + 1 to :end + 1, as in the reports' queries.
SNAPSHOT_DAYS = ("BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) "
                 "AND CAST(DATE_ADD('day', 1, :end) AS DATE)")  # fmt: skip


Read = Callable[[str], "pd.DataFrame | None"]
"""A named query's rows for the scope, each query run once per check (None: no rows)."""


def _latest(table: str, day: str) -> str:
    return (f"FROM {table} AS t WHERE CONTAINS(:marketplaces, t.marketplace_id) "
            f"AND t.{day} {SNAPSHOT_DAYS} AND t.{day} = (SELECT MAX(u.{day}) FROM {table} AS u "
            f"WHERE u.marketplace_id = t.marketplace_id AND u.{day} {SNAPSHOT_DAYS})")  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One claim of a report, whether it holds, and the figures compared."""

    report: str
    claim: str
    holds: bool
    detail: str

    def line(self) -> str:
        return f"- {'ok' if self.holds else 'FAILED'}: {self.report}: {self.claim} ({self.detail})"


def check(analysis: Scope) -> list[Claim]:
    """Every claim this module knows, for the scope ``analysis`` (a claim whose data the lake
    does not hold for the period is left out)."""
    frames: dict[str, pd.DataFrame] = {}

    def read(name: str) -> pd.DataFrame | None:
        if name not in frames:
            frames[name] = analysis.con.query(name, **analysis.params)
        return None if frames[name].empty else frames[name]

    found: list[Claim] = []
    checks: list[Callable[[Scope, Read], list[Claim]]] = [
        _units_ordered, _opening_totals, _low_conversion, _listing_health, _needs_stock,
        _high_refunds, _high_returns, _top_reasons, _basket_orders, _repeat_share, _refunded_units,
        _above_threshold, _buy_box, _competitor_prices, _competitor_cuts, _click_share,
        _profit_parts, _losing_money,
    ]  # fmt: skip
    for claim in checks:
        found += claim(analysis, read)
    return found


def same(report: str, claim: str, shown: Mapping[Any, Any], counted: Mapping[Any, Any]) -> Claim:
    """Whether every figure ``shown`` (by key: a marketplace, an ASIN...) equals the one
    ``counted`` for the same key, with no key in only one of them; numbers compare to a
    relative 1e-9 (shares are floating point), the rest exactly."""
    keys = sorted(set(shown) | set(counted), key=_key)
    wrong = [f"{_key(k)}: shown {shown.get(k, 'nothing')}, SQL {counted.get(k, 'nothing')}"
             for k in keys if not _equal_figures(shown.get(k), counted.get(k))]  # fmt: skip
    if wrong:
        return Claim(report, claim, False, "; ".join(wrong))
    figures = ", ".join(_key(k) + _figure(shown[k]) for k in keys[:6])
    more = f" and {len(keys) - 6} more" if len(keys) > 6 else ""
    return Claim(report, claim, True, f"{len(keys)}: {figures}{more}" if keys else "none")


def _key(key: Any) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return " ".join(country(p) if isinstance(p, str) and len(p) > 10 else str(p) for p in parts)


def _figure(value: Any) -> str:
    """A figure for the claim's detail: nothing for a member of a set (True), shares to 4
    significant digits."""
    if value is True:
        return ""
    return f" {value:.4g}" if isinstance(value, float) else f" {value}"


def _equal_figures(shown: Any, counted: Any) -> bool:
    if missing(shown) or missing(counted):
        return missing(shown) and missing(counted)
    if isinstance(shown, str | bool) or isinstance(counted, str | bool):
        return bool(shown == counted)
    return math.isclose(float(shown), float(counted), rel_tol=1e-9)


def _sql(analysis: Scope, sql: str, **extra: Any) -> dict[Any, Any]:
    """``sql``'s rows as {key: value}: the last column is the value, the others the key. The
    scope's parameters are bound where ``sql`` names them."""
    frame = _frame(analysis, sql, **extra)
    keys = frame.columns[:-1]
    return {(tuple(row[:-1]) if len(keys) > 1 else row[0]): _plain(row[-1])
            for row in frame.itertuples(index=False)}  # fmt: skip


def _frame(analysis: Scope, sql: str, **extra: Any) -> pd.DataFrame:
    """``sql``'s rows, the scope's parameters bound where ``sql`` names them."""
    used = {k: v for k, v in analysis.params.items() if re.search(rf":{k}\b", sql)}
    return analysis.con.sql(sql, **used, **extra)


def _plain(value: Any) -> Any:
    return None if pd.isna(value) else value


def _by(frame: pd.DataFrame, keys: list[str], column: str) -> dict[Any, Any]:
    summed = frame.groupby(keys)[column].sum()
    return {key: _plain(value) for key, value in summed.items()}


# A seller's per-ASIN sales and traffic of a day as sales_daily takes it (issue 23): the Sales &
# Traffic report's rows, else Data Kiosk's one-day window of a day the report does not hold.
ORDERED = """(
  SELECT seller_id, marketplace_id, date, child_asin, units_ordered
  FROM cleaned.sales_traffic_by_asin
  UNION ALL
  SELECT k.seller_id, k.marketplace_id, k.start_date AS date, k.child_asin, k.units_ordered
  FROM cleaned.kiosk_sales_traffic AS k
  WHERE k.start_date = k.end_date AND NOT EXISTS (
    SELECT 1 FROM cleaned.sales_traffic_by_asin AS r
    WHERE r.seller_id = k.seller_id AND r.marketplace_id = k.marketplace_id
      AND r.date = k.start_date)
)"""


def _units_ordered(analysis: Scope, read: Read) -> list[Claim]:
    """00's units ordered per marketplace (from sales_daily) against the cleaned Sales and
    Traffic report it sums (Data Kiosk's on the days the report does not hold)."""
    daily = read("sales_by_day")
    if daily is None:
        return []
    counted = _sql(analysis, f"SELECT marketplace_id, SUM(units_ordered) FROM {ORDERED} AS t "
                   "WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, "
                   "marketplace_id) GROUP BY 1")  # fmt: skip
    return [same("00", "units ordered per marketplace equal the SUM over "
                 "cleaned.sales_traffic_by_asin (cleaned.kiosk_sales_traffic on the days it "
                 "alone holds)", _by(daily, ["marketplace_id"], "units_ordered"),
                 counted)]  # fmt: skip


def _sql_sum(analysis: Scope, column: str, marketplaces: list[str]) -> Any:
    frame = analysis.con.sql(
        f"SELECT SUM({column}) AS total FROM aggregated.sales_daily "
        "WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)",
        start=analysis.start, end=analysis.end, marketplaces=marketplaces,
    )  # fmt: skip
    return frame.total.iloc[0]


def _opening_totals(analysis: Scope, read: Read) -> list[Claim]:
    table = compare(analysis).table.set_index(["marketplace", "measure"])
    claims = []
    for market in analysis.marketplaces:
        shown = table.loc[(country(market), MEASURES["sales"])].this_period
        summed = _sql_sum(analysis, "ordered_product_sales", [market])
        claims.append(_equal("01", f"{country(market)} ordered product sales", shown, summed))
    if (ALL, MEASURES["sales"]) in table.index:
        shown = table.loc[(ALL, MEASURES["sales"])].this_period
        if not missing(shown):
            summed = _sql_sum(analysis, "ordered_product_sales_reporting", analysis.marketplaces)
            claims.append(_equal("01", "sales across marketplaces (reporting currency)", shown,
                                 summed))  # fmt: skip
    return claims


def _equal(report: str, what: str, shown: Any, summed: Any) -> Claim:
    holds = summed is not None and Decimal(str(shown)) == Decimal(str(summed)).quantize(
        Decimal("0.01")
    )
    return Claim(report, f"{what} equals the SUM over aggregated.sales_daily", holds,
                 f"shown {shown}, SQL {summed}")  # fmt: skip


def _low_conversion(analysis: Scope, read: Read) -> list[Claim]:
    funnel = read("asin_funnel")
    if funnel is None:
        return []
    flagged = low_conversion(funnel)
    wrong = []
    for market, rows in funnel.groupby("marketplace_id"):
        sessions = rows.sessions.astype("float64").fillna(0)
        median = rows.unit_session_rate.astype("float64")[sessions >= MIN_SESSIONS].median()
        views = rows.page_views.astype("float64").fillna(0).quantile(TOP_QUARTER)
        for asin in flagged[flagged.marketplace_id == market].child_asin:
            row = rows[rows.child_asin == asin].iloc[0]
            if not (float(row.unit_session_rate) < median and float(row.page_views) >= views
                    and float(row.sessions) >= MIN_SESSIONS):  # fmt: skip
                wrong.append(f"{country(str(market))} {asin}")
    return [Claim("02", "every ASIN flagged for low conversion converts below its "
                  "marketplace's median, is in its top quarter of page views and has "
                  f"{MIN_SESSIONS}+ sessions", not wrong,
                  f"{len(flagged)} flagged" + (f"; not meeting the rule: {wrong}" if wrong
                                               else ""))]  # fmt: skip


def _listing_health(analysis: Scope, read: Read) -> list[Claim]:
    health = read("listing_health")
    if health is None:
        return []
    counted = analysis.con.sql(
        "SELECT COUNT(*) AS n " + _latest("cleaned.listings_items", "snapshot_date")
        + " AND NOT COALESCE(t.is_buyable, FALSE)", **analysis.params,
    ).n.iloc[0]  # fmt: skip
    shown = int((~health.is_buyable.fillna(False).astype(bool)).sum())
    return [Claim("02", "listings not buyable at the latest snapshot", shown == counted,
                  f"shown {shown}, SQL {counted}")]  # fmt: skip


def _needs_stock(analysis: Scope, read: Read) -> list[Claim]:
    """02's SKUs that need stock now against the rule written out over the mart's figures
    (not its risk label)."""
    stock = read("inventory_latest")
    if stock is None:
        return []
    shown = {(r.marketplace_id, r.sku): True for r in needs_stock(stock).itertuples()}
    counted = _sql(analysis, "SELECT t.marketplace_id, t.sku, TRUE "
                   + _latest("aggregated.inventory_health", "date")
                   + " AND (t.fulfillable_quantity = 0 OR (t.units_ordered_30d > 0 AND "
                   f"t.days_of_supply_with_inbound < {HIGH_RISK_DAYS}))")  # fmt: skip
    return [same("02", "the SKUs that need stock now are those out of stock or selling with "
                 f"under {HIGH_RISK_DAYS} days of supply with inbound", shown,
                 counted)]  # fmt: skip


def _high_refunds(analysis: Scope, read: Read) -> list[Claim]:
    """02's high-refund ASINs against the rule over the cleaned Data Kiosk rows."""
    refunds = read("refunds_by_asin")
    if refunds is None:
        return []
    shown = {(r.marketplace_id, r.child_asin): True for r in high_refunds(refunds).itertuples()}
    counted = _sql(analysis, "SELECT marketplace_id, child_asin, TRUE FROM "
                   "cleaned.kiosk_sales_traffic WHERE start_date BETWEEN :start AND :end AND "
                   "end_date = start_date AND CONTAINS(:marketplaces, marketplace_id) "
                   "GROUP BY 1, 2 HAVING SUM(units_ordered) > 0 AND SUM(units_refunded) > "
                   ":rate * SUM(units_ordered)", rate=HIGH_REFUND_RATE)  # fmt: skip
    return [same("02", f"the ASINs flagged for a refund rate above {HIGH_REFUND_RATE:.0%} are "
                 "those whose refunded units exceed it", shown, counted)]  # fmt: skip


def _high_returns(analysis: Scope, read: Read) -> list[Claim]:
    """02's high-return ASINs against the rule over the cleaned returns and the cleaned Sales
    and Traffic report (the report reads the sales_daily mart for the units ordered)."""
    returned = read("returns_by_asin")
    if returned is None:
        return []
    shown = {(r.marketplace_id, r.asin): True for r in high_returns(returned).itertuples()}
    counted = _sql(analysis, """
        WITH ordered AS (
          SELECT marketplace_id, child_asin AS asin, SUM(units_ordered) AS units
          FROM """ + ORDERED + """ AS t
          WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)
          GROUP BY 1, 2
        )
        SELECT r.marketplace_id, r.asin, TRUE FROM cleaned.returns AS r
        JOIN ordered AS o ON o.marketplace_id = r.marketplace_id AND o.asin = r.asin
        WHERE r.return_date BETWEEN :start AND :end AND CONTAINS(:marketplaces, r.marketplace_id)
        GROUP BY 1, 2 HAVING MAX(o.units) > 0 AND SUM(r.quantity) > :rate * MAX(o.units)""",
                   rate=HIGH_RETURN_RATE)  # fmt: skip
    return [same("02", f"the ASINs flagged for a return rate above {HIGH_RETURN_RATE:.0%} are "
                 "those whose FBA returns exceed it", shown, counted)]  # fmt: skip


def _top_reasons(analysis: Scope, read: Read) -> list[Claim]:
    """02's first reason per ASIN is the one most of its returned units were returned for."""
    returned = read("returns_by_asin")
    if returned is None:
        return []
    reasons = read("return_reasons")
    assert reasons is not None  # an ASIN with returns has reasons
    named = with_reasons(returned, reasons)
    shown = {(r.marketplace_id, r.asin): r.reasons.split(" ")[0] for r in named.itertuples()}
    counted = _sql(analysis, """
        WITH per_reason AS (
          SELECT marketplace_id, asin, COALESCE(reason, '(none given)') AS reason,
                 SUM(quantity) AS units FROM cleaned.returns
          WHERE return_date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)
          GROUP BY 1, 2, 3
        ), ranked AS (
          SELECT *, ROW_NUMBER() OVER (PARTITION BY marketplace_id, asin
                                       ORDER BY units DESC, reason) AS n
          FROM per_reason
        )
        SELECT marketplace_id, asin, reason FROM ranked WHERE n = 1""")  # fmt: skip
    return [same("02", "each ASIN's first return reason is the one most of its returned units "
                 "were returned for", shown, counted)]  # fmt: skip


def _basket_orders(analysis: Scope, read: Read) -> list[Claim]:
    """03's orders per marketplace (the customer_behavior mart, over whole weeks) against the
    order items placed in those weeks less the cancelled ones, which 03 says it leaves out."""
    weekly = read("customer_weekly")
    if weekly is None:
        return []
    first = pd.Timestamp(weekly.week_start.min()).date()
    last = (pd.Timestamp(weekly.week_start.max()) + pd.Timedelta(days=6)).date()
    counted = _sql(analysis, "SELECT marketplace_id, COUNT(DISTINCT amazon_order_id) FROM "
                   "cleaned.order_items WHERE purchase_date BETWEEN :first AND :last AND "
                   "COALESCE(order_status, '') <> 'Cancelled' AND COALESCE(item_status, '') <> "
                   "'Cancelled' AND CONTAINS(:marketplaces, marketplace_id) GROUP BY 1",
                   first=first, last=last)  # fmt: skip
    return [same("03", f"orders per marketplace ({first} to {last}) equal the orders of "
                 "cleaned.order_items placed then, less the cancelled ones",
                 _by(weekly, ["marketplace_id"], "orders"), counted)]  # fmt: skip


def _repeat_share(analysis: Scope, read: Read) -> list[Claim]:
    """03's weekly repeat-customer share against Amazon's per-ASIN shares, weighted again."""
    repeat = read("repeat_purchase")
    if repeat is None:
        return []
    shown = {(r.marketplace_id, pd.Timestamp(r.week_start).date()): _plain(r.repeat_customer_share)
             for r in repeat.itertuples()}  # fmt: skip
    counted = _sql(analysis, "SELECT marketplace_id, start_date, CAST(SUM(ROUND("
                   "repeat_customers_share * unique_customers)) AS DOUBLE) / NULLIF(SUM("
                   "unique_customers), 0) FROM cleaned.repeat_purchase WHERE start_date BETWEEN "
                   "DATE_ADD('day', -6, :start) AND :end AND CONTAINS(:marketplaces, "
                   "marketplace_id) GROUP BY 1, 2")  # fmt: skip
    counted = {(m, pd.Timestamp(d).date()): v for (m, d), v in counted.items()}
    return [same("03", "the weekly repeat-customer share equals the repeat customers of "
                 "cleaned.repeat_purchase over its customers", shown, counted)]  # fmt: skip


def _refunded_units(analysis: Scope, read: Read) -> list[Claim]:
    """03's refunded units per marketplace (Data Kiosk's one-day windows, summed from the
    per-ASIN rows as 03 does) against the Sales and Traffic report's by date."""
    refunds = read("refunds_by_asin")
    if refunds is None:
        return []
    counted = _sql(analysis, "SELECT marketplace_id, SUM(units_refunded) FROM "
                   "cleaned.sales_traffic_daily WHERE date BETWEEN :start AND :end AND "
                   "CONTAINS(:marketplaces, marketplace_id) GROUP BY 1")  # fmt: skip
    return [same("03", "refunded units per marketplace (Data Kiosk) equal the Sales and Traffic "
                 "report's (cleaned.sales_traffic_daily)",
                 _by(refunds, ["marketplace_id"], "units_refunded"), counted)]  # fmt: skip


def _above_threshold(analysis: Scope, read: Read) -> list[Claim]:
    prices = read("price_position_latest")
    if prices is None:
        return []
    above = prices[prices.above_competitive_price_threshold.fillna(False).astype(bool)]
    shown = int((above.buy_box_winner == "us").sum())
    counted = analysis.con.sql(
        "SELECT COUNT(*) AS n " + _latest("aggregated.price_competitiveness", "date")
        + " AND t.above_competitive_price_threshold AND t.buy_box_winner = 'us'",
        **analysis.params,
    ).n.iloc[0]  # fmt: skip
    return [Claim("04", "ASINs above the Competitive Price Threshold on which we held the "
                  "Buy Box", shown == counted, f"shown {shown}, SQL {counted}")]  # fmt: skip


def _buy_box(analysis: Scope, read: Read) -> list[Claim]:
    """04's Buy Boxes we held per marketplace at the latest snapshot, against the offers
    snapshot the mart is built from."""
    prices = read("price_position_latest")
    if prices is None:
        return []
    won = prices[prices.buy_box_winner == "us"].groupby("marketplace_id").asin.count().to_dict()
    counted = _sql(analysis, "SELECT t.marketplace_id, COUNT(*) "
                   + _latest("cleaned.item_offers", "snapshot_date")
                   + " AND COALESCE(t.status = 'Success', TRUE) AND NOT COALESCE(t.watched, "
                   "FALSE) AND COALESCE(t.we_win_buy_box, "
                   "t.buy_box_seller_id = t.seller_id) GROUP BY 1")  # fmt: skip
    return [same("04", "the Buy Boxes we held per marketplace equal cleaned.item_offers' at "
                 "the latest snapshot", won, counted)]  # fmt: skip


# The lowest landed price of an offers row (alias A): the lower of the FBA and seller-fulfilled
# ones, either when the other is missing (LEAST alone is null then, in Athena and DuckDB).
_LOWEST = (
    "COALESCE(LEAST(A.lowest_fba_landed_price, A.lowest_mfn_landed_price), "
    "A.lowest_fba_landed_price, A.lowest_mfn_landed_price)"
)
# The watched competitors' offers in cleaned item_offers (alias w) over the period's snapshot days.
_WATCHED = (f"SELECT w.marketplace_id, w.snapshot_date, w.asin, {_LOWEST.replace('A.', 'w.')} "
            "AS price FROM cleaned.item_offers AS w WHERE w.watched "
            "AND COALESCE(w.status = 'Success', TRUE) AND CONTAINS(:marketplaces, "
            f"w.marketplace_id) AND w.snapshot_date {SNAPSHOT_DAYS}")  # fmt: skip


def _competitor_prices(analysis: Scope, read: Read) -> list[Claim]:
    """04's watched competitors: each one's latest lowest landed price shown against cleaned
    item_offers' at its latest snapshot of the period (competitors with two snapshots or more)."""
    days = read("competitor_days")
    moved = moves(days) if days is not None else None
    if moved is None or moved.empty:
        return []
    shown = {(r.marketplace_id, r.asin): r.last_price for r in moved.itertuples()}
    counted = _sql(analysis, f"WITH o AS ({_WATCHED}) SELECT o.marketplace_id, o.asin, o.price "
                   "FROM o WHERE o.price IS NOT NULL AND o.snapshot_date = (SELECT "
                   "MAX(p.snapshot_date) FROM o AS p WHERE p.marketplace_id = o.marketplace_id "
                   "AND p.asin = o.asin AND p.price IS NOT NULL) AND (SELECT COUNT(DISTINCT "
                   "q.snapshot_date) FROM o AS q WHERE q.marketplace_id = o.marketplace_id AND "
                   "q.asin = o.asin AND q.price IS NOT NULL) >= 2")  # fmt: skip
    return [same("04", "each watched competitor's latest lowest landed price is cleaned "
                 "item_offers' at its latest snapshot", shown, counted)]  # fmt: skip


def _competitor_cuts(analysis: Scope, read: Read) -> list[Claim]:
    """04's price cuts beside our Buy Box and sales: the competitor cuts (5 % or more below the
    same ASIN's previous snapshot, sharing a watched search with one of ours that day), the
    ASINs of ours that lost the Buy Box beside them, recomputed from cleaned item_offers and
    catalog_search, and those whose units fell beside them, from cleaned
    sales_traffic_by_asin."""
    cuts = read("competitor_price_cuts")
    if cuts is None:
        return []
    shown_cuts = {(r.marketplace_id, day(r.date), r.competitor_asin): True
                  for r in cuts.itertuples()}  # fmt: skip
    lost = lost_beside_cuts(cuts)
    shown_lost = {(r.marketplace_id, day(r.date), r.our_asin): True for r in lost.itertuples()}
    lowest = _LOWEST.replace("A.", "o.")
    offers = ("SELECT o.seller_id, o.marketplace_id, o.snapshot_date, o.asin, o.watched, "
              f"{lowest} AS price, "
              "COALESCE(o.we_win_buy_box, o.buy_box_seller_id = o.seller_id) AS ours_won, "
              f"LAG({lowest}) OVER (PARTITION "
              "BY o.seller_id, o.marketplace_id, o.asin ORDER BY o.snapshot_date) AS before, "
              "LAG(o.snapshot_date) OVER (PARTITION BY o.seller_id, o.marketplace_id, o.asin "
              "ORDER BY o.snapshot_date) AS before_date, "
              "LAG(COALESCE(o.we_win_buy_box, o.buy_box_seller_id = o.seller_id)) OVER "
              "(PARTITION BY o.seller_id, o.marketplace_id, o.asin ORDER BY o.snapshot_date) "
              "AS won_before FROM cleaned.item_offers AS o WHERE COALESCE(o.status = 'Success', "
              "TRUE) AND CONTAINS(:marketplaces, o.marketplace_id) AND o.snapshot_date BETWEEN "
              ":start AND CAST(DATE_ADD('day', 1, :end) AS DATE)")  # fmt: skip
    beside = ("FROM d AS c JOIN cleaned.catalog_search AS a ON a.seller_id = c.seller_id AND "
              "a.marketplace_id = c.marketplace_id AND a.snapshot_date = c.snapshot_date AND "
              "a.asin = c.asin JOIN cleaned.catalog_search AS b ON b.seller_id = a.seller_id AND "
              "b.marketplace_id = a.marketplace_id AND b.snapshot_date = a.snapshot_date AND "
              "b.search = a.search AND b.asin <> a.asin JOIN d AS u ON u.seller_id = c.seller_id "
              "AND u.marketplace_id = c.marketplace_id AND u.snapshot_date = c.snapshot_date AND "
              "u.asin = b.asin AND NOT u.watched WHERE c.watched AND c.before IS NOT NULL AND "
              f"c.price <= c.before * 0.95 AND c.snapshot_date {SNAPSHOT_DAYS}")  # fmt: skip
    counted_cuts = _sql(analysis, f"WITH d AS ({offers}) SELECT DISTINCT c.marketplace_id, "
                        f"CAST(c.snapshot_date AS VARCHAR), c.asin, TRUE {beside}")  # fmt: skip
    held = "COALESCE(u.won_before, FALSE) AND NOT COALESCE(u.ours_won, FALSE)"
    counted_lost = _sql(analysis, f"WITH d AS ({offers}) SELECT DISTINCT u.marketplace_id, "
                        "CAST(u.snapshot_date AS VARCHAR), u.asin, TRUE "
                        f"{beside} AND {held}")  # fmt: skip
    pairs = _frame(analysis, f"WITH d AS ({offers}) SELECT DISTINCT u.seller_id, "
                   "u.marketplace_id, CAST(u.snapshot_date AS VARCHAR) AS day, u.asin, "
                   f"CAST(c.before_date AS VARCHAR) AS before {beside}")  # fmt: skip
    shown_fell = {(r.marketplace_id, day(r.date), r.our_asin): True
                  for r in sales_fell_beside_cuts(cuts).itertuples()}  # fmt: skip
    return [same("04", "the competitors' price cuts of 5 % or more beside our ASINs in a "
                 "watched search are those of cleaned item_offers", shown_cuts, counted_cuts),
            same("04", "the ASINs of ours that lost the Buy Box on the day of such a cut are "
                 "those of cleaned item_offers", shown_lost, counted_lost),
            same("04", "the ASINs of ours whose units fell by half or more on the day of such "
                 "a cut, against their mean over the week before, are those of cleaned "
                 "sales_traffic_by_asin", shown_fell, _fell(analysis, pairs))]  # fmt: skip


def _fell(analysis: Scope, pairs: pd.DataFrame) -> dict[Any, Any]:
    """Of ``pairs`` (seller, marketplace, day, our ASIN, the competitor's previous snapshot
    day), those whose units on ``day`` were at most ``FELL`` of their mean over the 7 days
    before ``before`` (at least ``USUAL_UNITS``), counted from cleaned sales_traffic_by_asin:
    a day with a landed report lists every ASIN that sold; a day without one is unknown."""
    from datetime import date, timedelta

    sold = _frame(analysis, "SELECT seller_id, marketplace_id, CAST(date AS VARCHAR) AS day, "
                  f"child_asin AS asin, SUM(units_ordered) AS units FROM {ORDERED} AS t WHERE "
                  "CONTAINS(:marketplaces, marketplace_id) GROUP BY 1, 2, 3, 4")  # fmt: skip
    units = {(r.seller_id, r.marketplace_id, r.day, r.asin): int(r.units or 0)
             for r in sold.itertuples()}  # fmt: skip
    reported = {key[:3] for key in units}
    found: dict[Any, Any] = {}
    for p in pairs.itertuples():
        if (p.seller_id, p.marketplace_id, p.day) not in reported or missing(p.before):
            continue
        week = [(date.fromisoformat(p.before) - timedelta(days=n)).isoformat() for n in range(1, 8)]
        known = [d for d in week if (p.seller_id, p.marketplace_id, d) in reported]
        if not known:
            continue
        sold_before = sum(units.get((p.seller_id, p.marketplace_id, d, p.asin), 0) for d in known)
        usual = sold_before / len(known)
        now = units.get((p.seller_id, p.marketplace_id, p.day, p.asin), 0)
        if usual >= USUAL_UNITS and now <= usual * FELL:
            found[(p.marketplace_id, p.day, p.asin)] = True
    return found


def _click_share(analysis: Scope, read: Read) -> list[Claim]:
    """04's click share of our most searched terms in the latest week against Brand Analytics'
    rows of our ASINs (those we sold or listed that week)."""
    terms = read("search_term_share")
    if terms is None:
        return []
    week = terms[terms.week_start == terms.week_start.max()]
    top = week.sort_values("search_frequency_rank").head(15)
    shown = {(r.marketplace_id, r.department_name, r.search_term): _plain(r.our_click_share)
             for r in top.itertuples()}  # fmt: skip
    sunday = pd.Timestamp(week.week_start.max()).date()
    counted = _sql(analysis, """
        WITH ours AS (
          SELECT marketplace_id, child_asin AS asin FROM """ + ORDERED + """ AS t
          WHERE date BETWEEN :week AND DATE_ADD('day', 6, :week)
          UNION SELECT marketplace_id, asin FROM cleaned.listings
          WHERE snapshot_date BETWEEN :week AND DATE_ADD('day', 6, :week)
        )
        SELECT s.marketplace_id, s.department_name, s.search_term, SUM(s.click_share)
        FROM cleaned.search_terms AS s
        JOIN ours AS o ON o.marketplace_id = s.marketplace_id AND o.asin = s.clicked_asin
        WHERE s.week_start = :week AND CONTAINS(:marketplaces, s.marketplace_id)
        GROUP BY 1, 2, 3""", week=sunday)  # fmt: skip
    counted = {key: value for key, value in counted.items() if key in shown}
    return [same("04", f"our click share of the 15 most searched terms (week of {sunday}) "
                 "equals the summed click share of our ASINs in cleaned.search_terms", shown,
                 counted)]  # fmt: skip


# What a marketplace's shipments and refunds posted in the period, from the cleaned events.
_POSTED = """
    SELECT marketplace_id,
           SUM(CASE WHEN event_list = 'ShipmentEventList'
                    THEN COALESCE(charges, 0) - COALESCE(tax, 0) - COALESCE(shipping_tax, 0)
                         - COALESCE(gift_wrap_tax, 0) ELSE 0 END) AS revenue,
           SUM(CASE WHEN event_list = 'ShipmentEventList' THEN COALESCE(fees, 0) ELSE 0 END)
             AS shipment_fees,
           SUM(COALESCE(fees, 0)) AS fees
    FROM cleaned.financial_events
    WHERE posted_date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)
    GROUP BY marketplace_id"""


def _profit_parts(analysis: Scope, read: Read) -> list[Claim]:
    """05's revenue and Amazon's fees per marketplace (profit_daily, summed per SKU and then per
    marketplace), and its fee share, against the cleaned financial events posted in the
    period (one pass over them for both claims)."""
    profit = read("profit_by_sku")
    if profit is None:
        return []
    markets = by_marketplace(profit.assign(marketplace=profit.marketplace_id.map(country)))
    posted = analysis.con.sql(_POSTED, **analysis.params)
    fees = markets.referral_fees + markets.fba_fees + markets.other_fees + markets.refund_fees
    shown = {(m, "revenue"): r for m, r in zip(markets.marketplace_id, markets.revenue,
                                               strict=True)}  # fmt: skip
    shown |= {(m, "fees"): f for m, f in zip(markets.marketplace_id, fees, strict=True)}
    counted = {(r.marketplace_id, "revenue"): _plain(r.revenue) for r in posted.itertuples()}
    counted |= {(r.marketplace_id, "fees"): _plain(r.fees) for r in posted.itertuples()}
    shares = {m: _plain(f) for m, f in zip(markets.marketplace_id, markets.fee_share,
                                           strict=True)}  # fmt: skip
    counted_shares = {r.marketplace_id: -float(r.shipment_fees) / float(r.revenue)
                      for r in posted.itertuples() if r.revenue}  # fmt: skip
    return [
        same("05", "each marketplace's revenue and Amazon's fees are those the cleaned "
             "financial events posted in the period", shown, counted),
        same("05", "the share of revenue the shipped items' fees took, per marketplace, is the "
             "cleaned shipment events' fees over their item and shipping charges", shares,
             counted_shares),
    ]  # fmt: skip


def _losing_money(analysis: Scope, read: Read) -> list[Claim]:
    """05's SKUs that lose money against the rule written out over profit_daily (*rule*: the
    report reads the same mart)."""
    profit = read("profit_by_sku")
    if profit is None:
        return []
    shown = {(r.marketplace_id, r.sku): True for r in losing_money(profit).itertuples()}
    counted = _sql(
        analysis,
        """
        SELECT marketplace_id, sku, TRUE FROM aggregated.profit_daily
        WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)
        GROUP BY 1, 2
        HAVING COUNT(*) = COUNT(contribution_margin) AND SUM(contribution_margin) < 0""",
    )
    return [same("05", "the SKUs flagged as losing money are those whose contribution margin "
                 "over the period is below zero", shown, counted)]  # fmt: skip
