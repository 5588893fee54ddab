"""price_competitiveness on hand-made rows: landed prices against the lowest, the Buy Box and
the Competitive Price Threshold (above it: not eligible for the featured offer), who has the Buy
Box, zero denominators, the snapshot day boundary, and two sellers kept apart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

from .cleaned import cleaned

US = "ATVPDKIKX0DER"
DAY = date(2026, 11, 28)


def _offers(asin, seller="S1", day=DAY, **values):
    row = {"seller_id": seller, "marketplace_id": US, "snapshot_date": day, "asin": asin,
           "status": "Success", "currency": "USD", "total_offer_count": 3, "fba_offer_count": 2,
           "mfn_offer_count": 1, "our_listing_price": Decimal("20.00"),
           "our_shipping_price": Decimal("0.00"), "lowest_fba_landed_price": Decimal("19.00"),
           "lowest_mfn_landed_price": Decimal("18.50"), "buy_box_landed_price": Decimal("19.00"),
           "buy_box_seller_id": "OTHER", "we_win_buy_box": False}  # fmt: skip
    return {**row, **values}


def _summary(asin, threshold, seller="S1", day=DAY):
    return {
        "seller_id": seller,
        "marketplace_id": US,
        "snapshot_date": day,
        "asin": asin,
        "status_code": 200,
        "currency": "USD",
        "competitive_price_threshold": None if threshold is None else Decimal(threshold),
    }


def _prices(spark, offers, summaries=()):
    frame = transforms.build(
        mart("price_competitiveness"),
        {
            "item_offers": cleaned(spark, "item_offers", offers),
            "competitive_summary": cleaned(spark, "competitive_summary", summaries),
        },
    )
    return {(r.seller_id, r.date, r.asin): r for r in frame.collect()}


def test_our_landed_price_against_the_lowest_and_the_buy_box(spark):
    offers = [_offers("B0A", our_listing_price=Decimal("18.00"),
                      our_shipping_price=Decimal("1.50"))]  # fmt: skip
    got = _prices(spark, offers)[("S1", DAY, "B0A")]
    assert got.our_landed_price == Decimal("19.50")
    assert got.lowest_landed_price == Decimal("18.50")  # the lower of FBA 19.00 and MFN 18.50
    assert (got.price_gap_to_lowest, got.price_gap_to_buy_box) == (Decimal("1.00"), Decimal("0.50"))
    assert got.price_index_to_lowest == pytest.approx(19.5 / 18.5)
    assert got.price_index_to_buy_box == pytest.approx(19.5 / 19)
    assert got.is_lowest_price is False and got.currency == "USD"
    assert (got.total_offer_count, got.fba_offer_count, got.mfn_offer_count) == (3, 2, 1)


def test_above_the_competitive_price_threshold_is_flagged_and_item_offers_own_wins(spark):
    offers = [
        _offers("B0ABOVE"),  # 20.00 against competitive_summary's 19.99
        _offers("B0EQUAL"),  # 20.00 against 20.00: eligible
        _offers("B0OWN", competitive_price_threshold=Decimal("25.00")),  # item_offers' own first
        _offers("B0NONE"),  # no threshold anywhere
    ]
    summaries = [_summary("B0ABOVE", "19.99"), _summary("B0EQUAL", "20.00"),
                 _summary("B0OWN", "10.00"), _summary("B0NONE", None)]  # fmt: skip
    got = {k[2]: r for k, r in _prices(spark, offers, summaries).items()}
    assert got["B0ABOVE"].above_competitive_price_threshold is True
    assert got["B0ABOVE"].competitive_price_threshold == Decimal("19.99")
    assert got["B0EQUAL"].above_competitive_price_threshold is False
    assert got["B0OWN"].competitive_price_threshold == Decimal("25.00")
    assert got["B0OWN"].above_competitive_price_threshold is False
    assert got["B0NONE"].above_competitive_price_threshold is None


def test_the_buy_box_winner(spark):
    offers = [
        _offers("B0US", we_win_buy_box=True, buy_box_seller_id="S1"),
        _offers("B0OTHER"),
        _offers("B0NONE", buy_box_landed_price=None, buy_box_seller_id=None),
        # our offer not among those listed: the Buy Box seller id decides
        _offers("B0UNLISTED_US", our_listing_price=None, we_win_buy_box=None,
                buy_box_seller_id="S1"),
        _offers("B0UNLISTED", our_listing_price=None, we_win_buy_box=None,
                buy_box_seller_id=None),
    ]  # fmt: skip
    got = {k[2]: r for k, r in _prices(spark, offers).items()}
    assert {a: (r.buy_box_winner, r.we_win_buy_box) for a, r in got.items()} == {
        "B0US": ("us", True),
        "B0OTHER": ("other", False),
        "B0NONE": ("none", False),
        "B0UNLISTED_US": ("us", True),
        "B0UNLISTED": ("unknown", None),
    }
    assert got["B0UNLISTED"].our_landed_price is None
    assert got["B0UNLISTED"].is_lowest_price is None


def test_zero_or_missing_prices_give_null_ratios_and_failed_answers_no_rows(spark):
    offers = [
        _offers("B0ZERO", lowest_fba_landed_price=Decimal("0.00"), lowest_mfn_landed_price=None,
                buy_box_landed_price=None, fba_offer_count=None),
        _offers("B0FAILED", status="NotFound"),
    ]  # fmt: skip
    got = _prices(spark, offers)
    assert set(got) == {("S1", DAY, "B0ZERO")}
    row = got[("S1", DAY, "B0ZERO")]
    assert row.price_index_to_lowest is None and row.price_index_to_buy_box is None
    assert row.price_gap_to_buy_box is None and row.fba_offer_count == 0


def test_the_threshold_of_another_day_or_seller_does_not_apply(spark):
    offers = [_offers("B0A"), _offers("B0A", seller="S2"), _offers("B0A", day=date(2026, 11, 29))]
    summaries = [
        _summary("B0A", "19.00", seller="S2"),
        _summary("B0A", "19.00", day=date(2026, 11, 29)),
    ]
    got = _prices(spark, offers, summaries)
    assert got[("S1", DAY, "B0A")].competitive_price_threshold is None
    assert got[("S2", DAY, "B0A")].above_competitive_price_threshold is True
    assert got[("S1", date(2026, 11, 29), "B0A")].above_competitive_price_threshold is True
