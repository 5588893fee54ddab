"""02's low-conversion flag: every flagged ASIN is below its marketplace's median unit session
rate, viewed a lot and with enough sessions; one that converts above the median is never
flagged however low its Buy Box share."""

from __future__ import annotations

import pandas as pd
import pytest

from spapi_toolkit.analysis.diagnoses import (
    HIGH_REFUND_RATE,
    HIGH_RETURN_RATE,
    MIN_SESSIONS,
    high_refunds,
    high_returns,
    low_conversion,
    needs_stock,
    with_reasons,
)

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"


def _funnel(rows):
    frame = pd.DataFrame(rows, columns=["marketplace_id", "child_asin", "sessions", "page_views",
                                        "units_ordered", "buy_box_share"])  # fmt: skip
    frame["unit_session_rate"] = frame.units_ordered / frame.sessions
    return frame


FUNNEL = _funnel([
    # US: rates .10 .20 .30 .40 over >= 20 sessions, median .25; B05 has too few sessions
    (US, "B01", 100, 400, 10, 0.5),  # most viewed, below the median: flagged, low Buy Box
    (US, "B02", 100, 300, 20, 0.9),  # below the median but not in the top quarter of views
    (US, "B03", 100, 390, 30, 0.5),  # viewed a lot, low Buy Box, but above the median: no flag
    (US, "B04", 50, 100, 20, 1.0),
    (US, "B05", 5, 50, 0, 0.1),  # no units, but 5 sessions: no verdict
    # DE: B0ZMJM8IYF converts at .237, above the median .155: never "low conversion"
    (DE, "B0ZMJM8IYF", 300, 900, 71, 0.4),
    (DE, "B11", 100, 200, 15, 0.9),
    (DE, "B12", 100, 150, 16, 1.0),
    (DE, "B13", 100, 950, 12, 0.95),  # viewed most, .12 < .155: flagged, Buy Box fine
])  # fmt: skip
PRICES = pd.DataFrame({
    "marketplace_id": [US, DE], "asin": ["B01", "B13"], "our_landed_price": [12.0, 20.0],
    "competitive_price_threshold": [10.0, 25.0],
    "above_competitive_price_threshold": [True, False], "buy_box_winner": [False, True],
})  # fmt: skip


def test_every_flagged_asin_converts_below_its_marketplaces_median():
    flagged = low_conversion(FUNNEL, PRICES)
    assert sorted(zip(flagged.marketplace_id, flagged.child_asin, strict=True)) == [
        (DE, "B13"), (US, "B01")]  # fmt: skip
    assert set(flagged.page_views_q3[flagged.marketplace_id == US]) == {390}  # B01 and B03
    for row in flagged.itertuples():
        assert row.sessions >= MIN_SESSIONS
        assert row.unit_session_rate < row.marketplace_median_usr
        assert row.page_views >= row.page_views_q3
    by_asin = flagged.set_index("child_asin")
    assert by_asin.loc["B01"].marketplace_median_usr == 0.25
    assert by_asin.loc["B13"].marketplace_median_usr == (0.15 + 0.16) / 2
    assert by_asin.loc["B01"].reasons == (
        "Buy Box share 50% (under 80%); price above the Competitive Price Threshold"
    )
    assert by_asin.loc["B13"].reasons == "neither Buy Box nor price: check the listing"


def test_without_prices_the_buy_box_still_names_a_cause():
    flagged = low_conversion(FUNNEL)
    assert flagged.set_index("child_asin").loc["B01"].reasons == "Buy Box share 50% (under 80%)"


def test_a_high_refund_rate_needs_units_ordered_and_more_than_the_threshold():
    refunds = pd.DataFrame({
        "child_asin": ["B01", "B02", "B03", "B04", "B05"],
        "units_ordered": [10, 10, 0, 3, None],
        "units_refunded": [2, 1, 2, 0, 1],
    })  # fmt: skip
    refunds["refund_rate"] = refunds.units_refunded / refunds.units_ordered.replace(0, None)
    # B02 is at the threshold, not above; B03 refunds what was ordered before the period
    assert list(high_refunds(refunds).child_asin) == ["B01"]
    assert HIGH_REFUND_RATE == 0.10


def test_stock_is_needed_when_out_of_stock_or_at_high_risk_only():
    stock = pd.DataFrame({"sku": list("abcdef"), "stock_out_risk": [
        "out_of_stock", "high", "medium", "low", "no_sales", "unknown"]})  # fmt: skip
    assert list(needs_stock(stock).sku) == ["a", "b"]


def test_a_high_return_rate_is_above_the_threshold_of_units_ordered_with_its_reasons():
    returned = pd.DataFrame({
        "marketplace_id": [US, US, US, DE], "asin": ["B01", "B02", "B03", "B01"],
        "units_ordered": [20, 10, None, 5], "units_returned": [3, 1, 2, 1],
    })  # fmt: skip
    returned["return_rate"] = returned.units_returned / returned.units_ordered
    # B02 is at the threshold, not above; B03 was not ordered in the period: no rate
    assert list(zip(*[high_returns(returned)[c] for c in ("marketplace_id", "asin")],
                    strict=True)) == [(US, "B01"), (DE, "B01")]  # fmt: skip
    assert HIGH_RETURN_RATE == 0.10
    reasons = pd.DataFrame({
        "marketplace_id": [US, US, US, US, DE],
        "asin": ["B01", "B01", "B01", "B01", "B01"],
        "reason": ["DEFECTIVE", "NOT_AS_DESCRIBED", "UNWANTED_ITEM", "MISSING_PARTS", "DEFECTIVE"],
        "share_of_asin_returns": [0.4, 0.3, 0.2, 0.1, 1.0],
    })  # fmt: skip
    named = with_reasons(returned, reasons).set_index(["marketplace_id", "asin"]).reasons
    assert named[(US, "B01")] == "DEFECTIVE 40%, NOT_AS_DESCRIBED 30%, UNWANTED_ITEM 20%"
    assert named[(DE, "B01")] == "DEFECTIVE 100%"
    assert named[(US, "B02")] == ""  # no reasons known


def test_a_sku_loses_money_on_its_price_or_its_refunds_and_an_unknown_cost_is_not_a_loss():
    from spapi_toolkit.analysis.diagnoses import losing_money
    from spapi_toolkit.analysis.profit import by_marketplace

    profit = pd.DataFrame({
        "marketplace_id": [US, US, US, US, DE], "marketplace": ["US", "US", "US", "US", "DE"],
        "sku": ["PRICE", "REFUNDS", "FINE", "UNKNOWN", "NOSALES"],
        "currency": ["USD"] * 4 + ["EUR"], "reporting_currency": ["USD"] * 5,
        "units_shipped": [4, 5, 3, 2, 0], "units_refunded": [0, 2, 0, 0, 1],
        "units_without_cost": [0, 0, 0, 2, 0],
        "revenue": [100.0, 100.0, 100.0, 50.0, 0.0],
        "promotions": [-5.0, 0.0, 0.0, 0.0, 0.0],
        "referral_fees": [-15.0, -15.0, -15.0, -7.5, 0.0],
        "fba_fees": [-30.0, -10.0, -10.0, -5.0, 0.0], "other_fees": [0.0] * 5,
        "refunds": [0.0, -40.0, 0.0, 0.0, -30.0], "refund_fees": [0.0, 2.0, 0.0, 0.0, 1.0],
        "cost_of_goods": [60.0, 40.0, 30.0, 0.0, 0.0],
        "contribution_margin": [-10.0, -3.0, 45.0, None, -29.0],
        "revenue_reporting": [100.0, 100.0, 100.0, 50.0, 0.0],
        "fees_reporting": [-45.0, -25.0, -25.0, -12.5, 0.0],
        "refunds_reporting": [0.0, -38.0, 0.0, 0.0, -31.0],
        "cost_of_goods_reporting": [60.0, 40.0, 30.0, 0.0, 0.0],
        "contribution_margin_reporting": [-10.0, -3.0, 45.0, None, -31.0],
    })  # fmt: skip
    revenue = profit.revenue.where(profit.revenue != 0)
    profit["margin_rate"] = profit.contribution_margin / revenue
    profit["fee_share"] = -(profit.referral_fees + profit.fba_fees) / revenue
    profit["refund_share"] = -(profit.refunds + profit.refund_fees) / revenue
    profit["promotion_share"] = -profit.promotions / revenue
    profit["cost_share"] = profit.cost_of_goods / revenue
    lost = losing_money(profit).set_index("sku").why
    # cost 60 % + fees 45 % + promotions 5 % take it all: the price; 40 + 25 < 100: refunds
    assert lost.to_dict() == {
        "NOSALES": "refunds of earlier sales (no revenue in the period)",
        "PRICE": "price: unit cost 60%, Amazon's fees 45%, promotions 5%",
        "REFUNDS": "refunds: unit cost 40%, refunds 38%, Amazon's fees 25%",
    }
    markets = by_marketplace(profit).set_index("marketplace")
    assert pd.isna(markets.loc["US", "contribution_margin"])  # UNKNOWN has no cost: no total
    assert markets.loc["US", "revenue"] == 350.0 and markets.loc["US", "units_without_cost"] == 2
    assert markets.loc["US", "fee_share"] == pytest.approx(107.5 / 350)
    assert markets.loc["DE", "contribution_margin"] == -29.0
    assert pd.isna(markets.loc["DE", "margin_rate"])  # no revenue
