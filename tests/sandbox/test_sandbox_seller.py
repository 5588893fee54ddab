"""The simulated seller: reproducible, realistic enough, lazy, and its truth follows its rules."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from spapi_sandbox.seller import (
    FINAL_VERSION,
    SellerConfig,
    SimulatedSeller,
    seasonality,
)

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
BLACK_FRIDAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def seller() -> SimulatedSeller:
    return SimulatedSeller()


def _all_items(seller: SimulatedSeller):
    cfg = seller.config
    for mp in cfg.marketplace_ids:
        for offset in range(cfg.days):
            yield from seller.day(mp, cfg.start_date + timedelta(days=offset)).order_items


def _has_japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


# ---- reproducibility ------------------------------------------------------------------------


def test_same_seed_same_data_and_different_seed_different_data():
    a, b, c = SimulatedSeller(), SimulatedSeller(), SimulatedSeller(SellerConfig(seed=7))
    day = date(2026, 11, 20)
    assert [p.asin for p in a.products()] == [p.asin for p in b.products()]
    assert a.day(US, day) == b.day(US, day)
    assert [p.asin for p in a.products()] != [p.asin for p in c.products()]
    assert a.day(US, day).order_items != c.day(US, day).order_items


def test_a_day_does_not_depend_on_generation_order():
    first, second = SimulatedSeller(), SimulatedSeller()
    target = date(2026, 11, 10)
    for offset in range(5):  # warm the second seller with other days and marketplaces
        second.day(DE, target - timedelta(days=offset + 1))
        second.day(US, target + timedelta(days=offset + 1))
    assert first.day(US, target) == second.day(US, target)


# ---- catalog --------------------------------------------------------------------------------


def test_catalog_has_variations_brands_local_titles_and_prices(seller):
    products = seller.products()
    assert len(products) == 20
    assert len({p.asin for p in products}) == len({p.sku for p in products}) == 20
    assert any(p.parent_asin != p.asin for p in products), "some products are variations"
    assert len({p.brand for p in products}) > 1 and len({p.category for p in products}) > 1
    for p in products:
        assert p.asin.startswith("B0") and len(p.asin) == 10
        assert _has_japanese(p.title(JP)) and not _has_japanese(p.title(US))
        assert p.price(JP) == p.price(JP).to_integral_value(), "JPY has no decimals"
        assert p.price(US).as_tuple().exponent == -2 and p.price(DE).as_tuple().exponent == -2
        assert seller.product(p.sku) is p and seller.product(p.asin) is p
    assert seller.product("B0NOTHERE0") is None


def test_large_catalog_constructs_fast_and_lazily():
    started = time.perf_counter()
    big = SimulatedSeller(SellerConfig(products=2000, days=730))
    elapsed = time.perf_counter() - started
    print(f"2000 products x 730 days x 3 marketplaces constructed in {elapsed:.3f} s")
    assert elapsed < 2.0
    assert len(big.products()) == 2000
    assert len({p.asin for p in big.products()}) == 2000
    started = time.perf_counter()
    activity = big.day(US, date(2026, 6, 3))
    assert activity.order_items and len(activity.traffic) > 500
    assert time.perf_counter() - started < 2.0


# ---- days and orders ------------------------------------------------------------------------


def test_days_outside_the_history_are_empty(seller):
    assert seller.day(US, seller.config.start_date - timedelta(days=1)).order_items == ()
    assert seller.day(US, seller.config.end_date + timedelta(days=1)).traffic == {}


def test_orders_are_placed_on_their_local_day(seller):
    for mp in (US, JP):
        tz = ZoneInfo({US: "America/Los_Angeles", JP: "Asia/Tokyo"}[mp])
        for item in seller.day(mp, date(2026, 11, 15)).order_items:
            assert item.purchase_date.tzinfo is not None
            assert item.purchase_date.astimezone(tz).date() == date(2026, 11, 15)


def test_order_mix_is_realistic(seller):
    items = list(_all_items(seller))
    orders = {i.amazon_order_id for i in items}
    assert len(items) > 500
    cancelled = {i.amazon_order_id for i in items if i.is_cancelled}
    refunded = [i for i in items if i.units_refunded]
    business = {i.amazon_order_id for i in items if i.is_business_order}
    fba = sum(1 for i in items if i.fulfillment_channel == "Amazon") / len(items)
    print(
        f"{len(items)} items, {len(orders)} orders: {len(cancelled)} cancelled, "
        f"{len(refunded)} refunded, {len(business)} B2B, FBA share {fba:.2f}"
    )
    assert 0.01 < len(cancelled) / len(orders) < 0.06
    assert 0.02 < len(refunded) / len(items) < 0.12  # 2-12 % per product
    assert 0.05 < len(business) / len(orders) < 0.16
    assert 0.45 < fba < 0.9
    assert any(len({i.asin for i in items if i.amazon_order_id == o}) > 1 for o in orders)
    assert {i.currency for i in items} == {"USD", "EUR", "JPY"}
    assert len({i.order_item_id for i in items}) == len(items)


def test_orders_change_after_the_fact(seller):
    items = list(_all_items(seller))
    assert all(i.last_updated_date > i.purchase_date for i in items)
    assert Counter(i.order_status for i in items).keys() == {"Shipped", "Cancelled"}
    item = next(i for i in items if i.is_cancelled)
    assert item.as_of(item.purchase_date).order_status == "Pending"
    assert item.as_of(item.purchase_date - timedelta(seconds=1)) is None
    assert item.as_of(item.last_updated_date).order_status == "Cancelled"


def test_last_update_filter_differs_from_order_date_filter(seller):
    start = datetime(2026, 11, 10, tzinfo=UTC)
    end = datetime(2026, 11, 12, tzinfo=UTC)
    by_order = {i.order_item_id for i in seller.order_items(US, start, end)}
    by_update = {i.order_item_id for i in seller.order_items(US, start, end, by="last_update")}
    assert by_order and by_update and by_order != by_update
    for item in seller.order_items(US, start, end, by="last_update"):
        assert start <= item.last_updated_date <= end
    with pytest.raises(ValueError):
        list(seller.order_items(US, start, end, by="ship_date"))


def test_seasonality_has_weekday_november_and_black_friday(seller):
    assert seasonality(BLACK_FRIDAY) > 2 * seasonality(date(2026, 11, 20))
    assert seasonality(date(2026, 11, 22)) > seasonality(date(2026, 10, 4))  # both Sundays
    assert seasonality(date(2026, 11, 22)) > seasonality(date(2026, 11, 18))  # Sun > Wed
    normal = [seller.day(US, date(2026, 11, d)) for d in range(9, 16)]
    average = sum(len(a.order_items) for a in normal) / len(normal)
    assert len(seller.day(US, BLACK_FRIDAY).order_items) > 1.5 * average
    promoted = [i for i in seller.day(US, BLACK_FRIDAY).order_items if i.promotion_ids]
    assert promoted and all(i.item_promotion_discount > 0 for i in promoted)


# ---- truth and restatement ------------------------------------------------------------------


def test_truth_follows_the_documented_rule(seller):
    d = date(2026, 11, 20)
    rows = [r for r in seller.truth(d, d) if r["marketplace_id"] == JP]
    expected: dict[str, list] = {}
    for item in seller.day(JP, d).order_items:
        if not item.is_cancelled:
            expected.setdefault(item.asin, []).append(item)
    assert rows
    for row in rows:
        items = expected.get(row["asin"], [])
        assert row["units_ordered"] == sum(i.quantity for i in items)
        assert row["ordered_product_sales"] == sum((i.item_price for i in items), Decimal(0))
        assert row["total_order_items"] == len(items)
        assert row["currency"] == "JPY"
    assert {a for a in expected} <= {r["asin"] for r in rows}


def test_truth_rows_are_sorted_and_limited_to_the_history(seller):
    rows = seller.truth(date(2020, 1, 1), date(2026, 10, 30))
    assert {r["date"] for r in rows} == {date(2026, 10, 29), date(2026, 10, 30)}
    keys = [(r["date"], r["marketplace_id"], r["asin"]) for r in rows]
    assert keys == sorted(keys)


def test_restatement_version_counts_days_after_the_local_day_end(seller):
    d = date(2026, 11, 20)
    end_of_day = datetime(2026, 11, 21, 8, tzinfo=UTC)  # midnight in Los Angeles
    assert seller.restatement_version(d, None) == FINAL_VERSION
    assert seller.restatement_version(d, end_of_day - timedelta(hours=3), US) == 0
    assert seller.restatement_version(d, end_of_day + timedelta(hours=1), US) == 0
    assert seller.restatement_version(d, end_of_day + timedelta(hours=25), US) == 1
    assert seller.restatement_version(d, end_of_day + timedelta(hours=49), US) == 2
    assert seller.restatement_version(d, end_of_day + timedelta(hours=72), US) == FINAL_VERSION
    assert seller.restatement_version(d, datetime(2026, 11, 21, 12, tzinfo=UTC)) == 0


def test_provisional_day_differs_and_final_day_equals_truth(seller):
    d = date(2026, 11, 20)
    end_of_day = datetime(2026, 11, 21, 8, tzinfo=UTC)
    final = seller.day_view(US, d, end_of_day + timedelta(hours=80))
    early = seller.day_view(US, d, end_of_day + timedelta(hours=2))
    assert final.version == FINAL_VERSION and early.version == 0
    assert final.ordered == seller.day_view(US, d).ordered
    early_sessions = sum(t.sessions for t in early.traffic.values())
    final_sessions = sum(t.sessions for t in final.traffic.values())
    assert early_sessions < final_sessions
    truth_units = sum(r["units_ordered"] for r in seller.truth(d, d) if r["marketplace_id"] == US)
    assert sum(i.quantity for i in final.ordered) == truth_units


# ---- inventory, offers, Brand Analytics -----------------------------------------------------


def test_inventory_covers_fba_skus_with_consistent_totals(seller):
    rows = seller.inventory(DE)
    fba = {p.sku for p in seller.products() if p.is_fba}
    assert rows and {r.sku for r in rows} <= fba
    for r in rows:
        assert r.afn_warehouse_quantity == (
            r.afn_fulfillable_quantity
            + r.afn_unsellable_quantity
            + r.afn_reserved_quantity
            + r.afn_researching_quantity
        )
        assert r.afn_total_quantity >= r.afn_warehouse_quantity
    assert seller.inventory(DE) == rows


def test_offers_have_one_buy_box_winner_and_change_over_time(seller):
    asin = seller.products()[0].asin
    hours = [datetime(2026, 11, 20, h, 30, tzinfo=UTC) for h in range(24)]
    listings = [seller.offers(asin, US, at) for at in hours]
    for offers in listings:
        assert sum(o.is_buy_box_winner for o in offers) == 1
        assert sum(o.is_my_offer for o in offers) == 1
        assert offers == sorted(offers, key=lambda o: (o.landed_price, o.seller_id))
    assert seller.offers(asin, US, hours[3]) == listings[3]
    assert len({tuple(asdict(o)["listing_price"] for o in offers) for offers in listings}) > 1
    assert seller.offers("B0NOTHERE0", US, hours[0]) == []


def test_brand_analytics_rows(seller):
    week = (date(2026, 11, 15), date(2026, 11, 21))
    terms = seller.search_terms(JP, *week)
    assert terms and any(_has_japanese(r["searchTerm"]) for r in terms)
    assert {r["clickShareRank"] for r in terms} <= {1, 2, 3}
    repeat = seller.repeat_purchase(US, *week)
    assert repeat and all(r["uniqueCustomers"] <= r["orders"] for r in repeat)
    basket = seller.market_basket(US, date(2026, 11, 1), date(2026, 11, 27))
    assert basket and all(0 < r["combinationPct"] <= 1 for r in basket)
    assert seller.search_terms(US, date(2020, 1, 5), date(2020, 1, 11)) == []
