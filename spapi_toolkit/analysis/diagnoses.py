"""Product diagnoses whose rule is stated and tested: a flag names the comparison it fails, and
the table it comes with shows both sides of that comparison.

**Low conversion** (Amazon's "high page views, low conversion"): an ASIN with at least
``MIN_SESSIONS`` sessions over the period, in the top quarter of its marketplace's page views,
whose unit session rate (units ÷ sessions) is below the median unit session rate of its
marketplace's ASINs with at least ``MIN_SESSIONS`` sessions. Its likely causes are named from
the data beside it: a Buy Box share under ``LOW_BUY_BOX`` and a price above Amazon's Competitive
Price Threshold at the latest snapshot; with neither, the listing itself (images, reviews,
price against other sellers' offers).

**High refund rate**: an ASIN whose refunded units over the period are more than
``HIGH_REFUND_RATE`` of the units ordered in it (Data Kiosk's one-day windows summed). An ASIN
with refunds but no units ordered in the period has no rate and is not flagged.

**High return rate**: an ASIN whose FBA customer returns processed in the period are more than
``HIGH_RETURN_RATE`` of the units ordered in it (Sales & Traffic). Returns lag orders, so a
period's returns partly belong to the period before: a rate over a month or more is the one
to act on. Its reasons are the customers' (Amazon's codes), each with its share of the ASIN's
returned units.

**Needs stock now**: a SKU out of stock at the latest inventory snapshot, or selling with fewer
than 14 days of supply counting what is inbound: the ``inventory_health`` mart's
``out_of_stock`` and ``high`` stock-out risks (its ``HIGH_RISK_DAYS``).

**Loses money**: a SKU whose contribution margin over the period is below zero (``profit_daily``:
revenue less promotions, Amazon's fees, refunds and their fees, and the shipped units' cost). Why
is read from its parts as shares of its revenue: when the units' cost, the fees and the
promotions alone take all of it (``cost_share + fee_share + promotion_share >= 1``), the **price**
does not cover them, refunds or not; otherwise the **refunds** took the rest. The parts are
named beside it, largest first. A SKU with refunds and no sales in the period loses what it
refunds. A SKU whose cost is unknown has no margin and is never flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spapi_toolkit.analysis.scope import missing

if TYPE_CHECKING:
    import pandas as pd

MIN_SESSIONS = 20  # fewer sessions make a unit session rate too noisy to call low
LOW_BUY_BOX = 0.8  # a Buy Box share under this is low
TOP_QUARTER = 0.75  # the page-view quantile an ASIN must reach to be "viewed a lot"
HIGH_REFUND_RATE = 0.10  # refunded ÷ ordered units above this is a high refund rate
HIGH_RETURN_RATE = 0.10  # FBA returns ÷ units ordered above this is a high return rate
TOP_REASONS = 3  # reasons named per ASIN
NEEDS_STOCK = ("out_of_stock", "high")  # inventory_health's risks that need stock now


def low_conversion(funnel: pd.DataFrame, prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ASINs of ``funnel`` (the ``asin_funnel`` query) flagged for low conversion (module
    doc), with ``marketplace_median_usr``, ``page_views_q3`` and ``reasons``; ``prices``
    (``price_position_latest``) adds the price columns and the threshold reason."""
    frame = funnel.copy()
    if prices is not None and not prices.empty:
        wanted = ["marketplace_id", "asin", "our_landed_price", "competitive_price_threshold",
                  "above_competitive_price_threshold", "buy_box_winner"]  # fmt: skip
        frame = frame.merge(prices[wanted], left_on=["marketplace_id", "child_asin"],
                            right_on=["marketplace_id", "asin"], how="left")  # fmt: skip
    # no traffic figure (a null) counts as none: no verdict on it
    rate = frame.unit_session_rate.astype("float64")
    views = frame.page_views.astype("float64").fillna(0)
    counted = frame.sessions.astype("float64").fillna(0) >= MIN_SESSIONS
    frame["marketplace_median_usr"] = (
        rate.where(counted).groupby(frame.marketplace_id).transform("median")
    )
    frame["page_views_q3"] = views.groupby(frame.marketplace_id).transform(
        lambda s: s.quantile(TOP_QUARTER)
    )
    below = (rate < frame.marketplace_median_usr).fillna(False)
    flagged = frame[counted & (views >= frame.page_views_q3) & below].copy()
    flagged["reasons"] = [_reasons(row) for row in flagged.to_dict("records")]
    return flagged.reset_index(drop=True)


def _reasons(row: dict[str, Any]) -> str:
    found = []
    share = row.get("buy_box_share")
    if share is not None and not missing(share) and float(share) < LOW_BUY_BOX:
        found.append(f"Buy Box share {float(share):.0%} (under {LOW_BUY_BOX:.0%})")
    above = row.get("above_competitive_price_threshold")
    if not missing(above) and bool(above):
        found.append("price above the Competitive Price Threshold")
    return "; ".join(found) or "neither Buy Box nor price: check the listing"


def high_refunds(refunds: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``refunds`` (the ``refunds_by_asin`` query) with a high refund rate (module
    doc)."""
    rate = refunds.refund_rate.astype("float64")
    ordered = refunds.units_ordered.astype("float64").fillna(0)
    return refunds[(ordered > 0) & (rate > HIGH_REFUND_RATE).fillna(False)]


def needs_stock(stock: pd.DataFrame) -> pd.DataFrame:
    """The SKUs of ``stock`` (the ``inventory_latest`` query) that need stock now (module
    doc)."""
    return stock[stock.stock_out_risk.isin(NEEDS_STOCK)]


def high_returns(returned: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``returned`` (the ``returns_by_asin`` query) with a high return rate (module
    doc)."""
    rate = returned.return_rate.astype("float64")
    ordered = returned.units_ordered.astype("float64").fillna(0)
    return returned[(ordered > 0) & (rate > HIGH_RETURN_RATE).fillna(False)]


def with_reasons(returned: pd.DataFrame, reasons: pd.DataFrame) -> pd.DataFrame:
    """``returned`` with ``reasons``: each ASIN's ``TOP_REASONS`` most given reasons and their
    share of its returned units, e.g. ``DEFECTIVE 67%, UNWANTED_ITEM 33%`` (from the
    ``return_reasons`` query)."""
    named = {
        key: ", ".join(f"{r.reason} {float(r.share_of_asin_returns):.0%}"
                       for r in rows.head(TOP_REASONS).itertuples())
        for key, rows in reasons.groupby(["marketplace_id", "asin"], sort=False)
    }  # fmt: skip
    out = returned.copy()
    out["reasons"] = [named.get(key, "") for key in zip(out.marketplace_id, out.asin, strict=True)]
    return out


def losing_money(profit: pd.DataFrame) -> pd.DataFrame:
    """The SKUs of ``profit`` (the ``profit_by_sku`` query) that lose money (module doc), the
    most lost first (in the reporting currency), with ``why``: ``price`` or ``refunds``, then
    what took the revenue, largest first, e.g. ``price: unit cost 58%, Amazon's fees 41%``."""
    margin = profit.contribution_margin.astype("float64")
    lost = profit[(margin < 0).fillna(False)].copy()
    parts = {"cost_share": "unit cost", "fee_share": "Amazon's fees",
             "refund_share": "refunds", "promotion_share": "promotions"}  # fmt: skip
    shares = lost[list(parts)].astype("float64").fillna(0.0)
    covering = shares.cost_share + shares.fee_share + shares.promotion_share
    sold = lost.revenue.astype("float64").fillna(0) > 0
    why = []
    for (_, row), covers, has_sales in zip(shares.iterrows(), covering, sold, strict=True):
        if not has_sales:
            why.append("refunds of earlier sales (no revenue in the period)")
            continue
        taken = ", ".join(f"{parts[name]} {share:.0%}"
                          for name, share in row.sort_values(ascending=False).items()
                          if round(share, 2) > 0)  # fmt: skip
        why.append(f"{'price' if covers >= 1 else 'refunds'}: {taken}")
    lost["why"] = why
    return lost.sort_values("contribution_margin_reporting", kind="stable")
