"""The reports' headline claims checked against the lake by other means than the reports use:
the totals 01 opens with against SQL sums over the mart, 02's low-conversion flags against their
rule recomputed from the funnel, its listing-health count and 04's Buy Box count above the
Competitive Price Threshold against SQL counts over the tables. ``make demo`` lists them in its
summary and fails on any that does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from spapi_toolkit.analysis.diagnoses import MIN_SESSIONS, TOP_QUARTER, low_conversion
from spapi_toolkit.analysis.periods import ALL, MEASURES, compare
from spapi_toolkit.analysis.scope import Scope, country


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
    found: list[Claim] = []
    checks: list[Callable[[Scope], list[Claim]]] = [
        _opening_totals, _low_conversion, _listing_health, _above_threshold
    ]  # fmt: skip
    for claim in checks:
        found += claim(analysis)
    return found


def _sql_sum(analysis: Scope, column: str, marketplaces: list[str]) -> Any:
    frame = analysis.con.sql(
        f"SELECT SUM({column}) AS total FROM aggregated.sales_daily "
        "WHERE date BETWEEN :start AND :end AND CONTAINS(:marketplaces, marketplace_id)",
        start=analysis.start, end=analysis.end, marketplaces=marketplaces,
    )  # fmt: skip
    return frame.total.iloc[0]


def _opening_totals(analysis: Scope) -> list[Claim]:
    table = compare(analysis).table.set_index(["marketplace", "measure"])
    claims = []
    for market in analysis.marketplaces:
        shown = table.loc[(country(market), MEASURES["sales"])].this_period
        summed = _sql_sum(analysis, "ordered_product_sales", [market])
        claims.append(_equal("01", f"{country(market)} ordered product sales", shown, summed))
    if (ALL, MEASURES["sales"]) in table.index:
        shown = table.loc[(ALL, MEASURES["sales"])].this_period
        if shown is not None and shown == shown:
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


def _low_conversion(analysis: Scope) -> list[Claim]:
    funnel = analysis.con.query("asin_funnel", **analysis.params)
    if funnel.empty:
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


def _listing_health(analysis: Scope) -> list[Claim]:
    health = analysis.con.query("listing_health", **analysis.params)
    if health.empty:
        return []
    counted = analysis.con.sql(
        "SELECT COUNT(*) AS n FROM cleaned.listings_items AS l WHERE NOT l.is_buyable "
        "AND CONTAINS(:marketplaces, l.marketplace_id) AND l.snapshot_date = (SELECT "
        "MAX(snapshot_date) FROM cleaned.listings_items AS m WHERE m.marketplace_id = "
        "l.marketplace_id AND m.snapshot_date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) "
        "AND CAST(DATE_ADD('day', 1, :end) AS DATE))",
        **analysis.params,
    ).n.iloc[0]
    shown = int((~health.is_buyable.fillna(False).astype(bool)).sum())
    return [Claim("02", "listings not buyable at the latest snapshot", shown == counted,
                  f"shown {shown}, SQL {counted}")]  # fmt: skip


def _above_threshold(analysis: Scope) -> list[Claim]:
    prices = analysis.con.query("price_position_latest", **analysis.params)
    if prices.empty:
        return []
    above = prices[prices.above_competitive_price_threshold.fillna(False).astype(bool)]
    shown = int((above.buy_box_winner == "us").sum())
    counted = analysis.con.sql(
        "SELECT COUNT(*) AS n FROM aggregated.price_competitiveness AS p "
        "WHERE p.above_competitive_price_threshold AND p.buy_box_winner = 'us' "
        "AND CONTAINS(:marketplaces, p.marketplace_id) AND p.date = (SELECT MAX(date) FROM "
        "aggregated.price_competitiveness AS q WHERE q.marketplace_id = p.marketplace_id AND "
        "q.date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND "
        "CAST(DATE_ADD('day', 1, :end) AS DATE)) "
        "AND p.date BETWEEN CAST(DATE_ADD('day', 1, :start) AS DATE) AND "
        "CAST(DATE_ADD('day', 1, :end) AS DATE)",
        **analysis.params,
    ).n.iloc[0]
    return [Claim("04", "ASINs above the Competitive Price Threshold on which we held the "
                  "Buy Box", shown == counted, f"shown {shown}, SQL {counted}")]  # fmt: skip
