"""competitor_daily on hand-made rows: ours and the watched competitors side by side, their
place in the watched searches, the price each is compared with (ours on the same ASIN, else our
cheapest ASIN in a shared search), and the seller's own marts left to its own ASINs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

from .cleaned import cleaned

DE = "A1PA6795UKMFR9"
DAY = date(2026, 11, 28)


def _offers(asin, watched, **values):
    row = {"seller_id": "S1", "marketplace_id": DE, "snapshot_date": DAY, "asin": asin,
           "watched": watched, "status": "Success", "currency": "EUR", "total_offer_count": 2,
           "fba_offer_count": 1, "mfn_offer_count": None,
           "lowest_fba_landed_price": Decimal("20.00"), "lowest_mfn_landed_price": None,
           "buy_box_landed_price": Decimal("20.00"), "buy_box_seller_id": "RIVAL"}  # fmt: skip
    return {**row, **values}


def _found(search, asin, position):
    return {"seller_id": "S1", "marketplace_id": DE, "snapshot_date": DAY, "search": search,
            "asin": asin, "position": position}  # fmt: skip


def _built(spark, offers, catalog=(), found=()):
    frame = transforms.build(
        mart("competitor_daily"),
        {
            "item_offers": cleaned(spark, "item_offers", offers),
            "catalog_items": cleaned(spark, "catalog_items", catalog),
            "catalog_search": cleaned(spark, "catalog_search", found),
        },
    )
    rows = frame.collect()
    assert len(rows) == len({(r.seller_id, r.marketplace_id, r.date, r.asin) for r in rows})
    return {r.asin: r for r in rows}


def test_competitors_are_compared_with_our_cheapest_asin_in_a_shared_search(spark):
    offers = [
        _offers("B0OURS0001", False, our_listing_price=Decimal("21.00"),
                our_shipping_price=Decimal("1.00"), buy_box_seller_id="S1"),
        _offers("B0OURS0002", False, our_listing_price=Decimal("25.00"),
                our_shipping_price=None),
        _offers("B0RIVAL001", True, lowest_fba_landed_price=Decimal("19.50"),
                lowest_mfn_landed_price=Decimal("18.00")),
        _offers("B0RIVAL002", True),  # in no search with ours
        _offers("B0FAILED01", True, status="NoBuyableOffers"),
    ]  # fmt: skip
    catalog = [{"seller_id": "S1", "marketplace_id": DE, "snapshot_date": DAY,
                "asin": "B0RIVAL001", "brand": "Vantiq", "title": "Vantiq Kochmesser",
                "sales_rank": 1200, "watched": True}]  # fmt: skip
    found = [_found("kochmesser", "B0RIVAL001", 1), _found("kochmesser", "B0OURS0002", 2),
             _found("messer", "B0RIVAL001", 3), _found("messer", "B0OURS0001", 1)]  # fmt: skip
    got = _built(spark, offers, catalog, found)

    assert set(got) == {"B0OURS0001", "B0OURS0002", "B0RIVAL001", "B0RIVAL002"}
    rival = got["B0RIVAL001"]
    assert (rival.is_ours, rival.brand, rival.sales_rank) == (False, "Vantiq", 1200)
    assert (rival.searches, rival.best_search_position) == (2, 1)
    assert rival.lowest_landed_price == Decimal("18.00")
    # Our cheapest ASIN in its searches: B0OURS0001 at 22.00 (messer) beats 25.00 (kochmesser).
    assert rival.our_landed_price is None
    assert rival.our_reference_price == Decimal("22.00")
    assert rival.price_gap_to_ours == Decimal("-4.00")
    alone = got["B0RIVAL002"]
    assert (alone.searches, alone.best_search_position) == (0, None)
    assert (alone.our_reference_price, alone.price_gap_to_ours) == (None, None)
    ours = got["B0OURS0001"]
    assert (ours.is_ours, ours.our_landed_price, ours.our_reference_price) == (
        True, Decimal("22.00"), Decimal("22.00"))  # fmt: skip
    assert ours.price_gap_to_ours == Decimal("-2.00")  # someone sells it 2.00 cheaper
    assert (ours.we_hold_buy_box, got["B0OURS0002"].we_hold_buy_box) == (True, False)
    assert rival.we_hold_buy_box is None  # a competitor's ASIN: not ours to hold
    assert (ours.fba_offer_count, ours.mfn_offer_count) == (1, 0)


def test_the_sellers_price_marts_leave_the_watched_competitors_out(spark):
    offers = [_offers("B0OURS0001", False, our_listing_price=Decimal("21.00")),
              _offers("B0RIVAL001", True)]  # fmt: skip
    frame = transforms.build(
        mart("price_competitiveness"),
        {
            "item_offers": cleaned(spark, "item_offers", offers),
            "competitive_summary": cleaned(spark, "competitive_summary", []),
        },
    )
    assert [r.asin for r in frame.collect()] == ["B0OURS0001"]
