"""raw → cleaned for the JSON-lines datasets (API snapshots, Data Kiosk) and the Brand Analytics
reports: ingested from the sandbox the way ``make demo`` does (``run_seller``), curated on a
local Spark, and set against the simulated seller's own numbers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ..reconcile import DE, JP, US
from .snapshots import FIRST, LAST, MARKETS, TABLES
from .week import SELLER, TODAY


@pytest.fixture(scope="module")
def curated(snapshots):
    """conftest's ``snapshots``: the curation results, the curated rows and the seller's own
    numbers."""
    _, results, tables, truth = snapshots
    return results, tables, truth


def test_every_table_reconciles_with_nothing_quarantined_or_refused(curated):
    results, tables, _ = curated
    assert set(results) == set(TABLES)
    for name, result in results.items():
        assert result.documents > 0 and result.rows_out > 0, result
        assert result.reconciles, result
        assert result.quarantined == 0 and not result.rejected, result
        assert len(tables[name]) == result.rows_out, name
        assert {r.marketplace_id for r in tables[name]} == set(MARKETS), name


def test_inventory_summaries_equal_the_sellers_fba_inventory(curated):
    _, tables, truth = curated
    got = {(r.marketplace_id, r.seller_sku): (r.asin, r.fulfillable_quantity, r.reserved_quantity,
           r.unfulfillable_quantity, r.total_quantity)
           for r in tables["inventory_summaries"]}  # fmt: skip
    expected = {(mp, i.sku): (i.asin, i.afn_fulfillable_quantity, i.afn_reserved_quantity,
                i.afn_unsellable_quantity, i.afn_total_quantity)
                for mp, rows in truth["inventory"].items() for i in rows}  # fmt: skip
    assert len(expected) > 10 and got == expected
    assert {r.snapshot_date for r in tables["inventory_summaries"]} == {TODAY}


def test_catalog_items_carry_the_products_titles_brands_and_ranks(curated):
    _, tables, truth = curated
    products = truth["products"]
    rows = tables["catalog_items"]
    assert rows and all(r.title == products[r.asin].title(r.marketplace_id) for r in rows)
    assert all(r.brand == products[r.asin].brand for r in rows)
    assert all(r.sales_rank > 0 and r.classification_rank > 0 for r in rows)
    assert all(r.classification_rank_id == r.classification_id for r in rows)
    parents = {r.asin: r.parent_asin for r in rows}
    assert parents == {a: (None if products[a].parent_asin == a else products[a].parent_asin)
                       for a in parents}  # fmt: skip


def test_item_offers_show_our_price_and_who_has_the_buy_box(curated):
    _, tables, truth = curated
    products = truth["products"]
    rows = tables["item_offers"]
    assert rows and all(r.our_listing_price == products[r.asin].price(r.marketplace_id)
                        for r in rows)  # fmt: skip
    assert all(r.we_win_buy_box == (r.buy_box_seller_id == SELLER) for r in rows)
    assert {r.we_win_buy_box for r in rows} == {True, False}
    assert all(r.total_offer_count == (r.fba_offer_count or 0) + (r.mfn_offer_count or 0)
               for r in rows)  # fmt: skip
    lowest = [p for r in rows for p in (r.lowest_fba_landed_price, r.lowest_mfn_landed_price) if p]
    assert lowest and all(isinstance(p, Decimal) for p in lowest)
    currencies = {(r.marketplace_id, r.currency) for r in rows}
    assert currencies == {(US, "USD"), (DE, "EUR"), (JP, "JPY")}


def test_competitive_summary_threshold_is_the_lowest_landed_price(curated):
    _, tables, _ = curated
    rows = tables["competitive_summary"]
    assert rows and all(r.status_code == 200 for r in rows)
    landed = {(r.marketplace_id, r.asin): r.lowest_offer_listing_price
              + r.lowest_offer_shipping_price for r in rows}  # fmt: skip
    assert all(r.competitive_price_threshold == landed[(r.marketplace_id, r.asin)] for r in rows)
    assert all(0 <= r.featured_offer_view_share <= 1 for r in rows)


def test_data_kiosk_units_and_sales_equal_the_truth_of_each_day(curated):
    """One query per marketplace and day (salesAndTrafficByAsin sums its whole window): every
    window is one day of the range, and each (marketplace, ASIN, day) is that day's truth."""
    _, tables, truth = curated
    rows = tables["kiosk_sales_traffic"]
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    assert {(r.marketplace_id, r.start_date, r.end_date) for r in rows} == {
        (mp, d, d) for mp in MARKETS for d in days}  # fmt: skip
    got = {(r.marketplace_id, r.child_asin, r.start_date): (
           r.units_ordered, r.ordered_product_sales, r.units_shipped, r.shipped_product_sales,
           r.units_refunded) for r in rows}  # fmt: skip
    # an ASIN is in a day's document when it had sessions or order items that day
    expected = {(t["marketplace_id"], t["asin"], t["date"]): (
                t["units_ordered"], _cents(t["ordered_product_sales"]), t["units_shipped"],
                _cents(t["shipped_product_sales"]), t["units_refunded"])
                for t in truth["sales"] if t["sessions"] or t["total_order_items"]}  # fmt: skip
    assert len(got) > 100 and got == expected
    assert sum(v[2] for v in got.values()) > 0 and sum(v[4] for v in got.values()) > 0
    assert all(0 <= r.buy_box_share <= 1 for r in rows)


def _cents(amount) -> Decimal:
    return Decimal(str(amount)).quantize(Decimal("0.01"))


def test_brand_analytics_rows_equal_the_sandboxs_reports(curated):
    _, tables, truth = curated
    reports = truth["brand_analytics"]
    terms = {(r.marketplace_id, r.week_start, r.department_name, r.search_term, r.click_share_rank,
              r.clicked_asin, r.click_share, r.conversion_share)
             for r in tables["search_terms"]}  # fmt: skip
    assert terms == {
        (mp, week, t["departmentName"], t["searchTerm"], t["clickShareRank"], t["clickedAsin"],
         t["clickShare"], t["conversionShare"])
        for (name, mp, week), rows in reports.items() if name == "search_terms" for t in rows
    }  # fmt: skip
    repeat = {(r.marketplace_id, r.start_date, r.asin): (r.orders, r.unique_customers,
              r.repeat_customers_share, r.repeat_purchase_revenue)
              for r in tables["repeat_purchase"]}  # fmt: skip
    assert repeat == {
        (mp, week, t["asin"]): (t["orders"], t["uniqueCustomers"], t["repeatCustomersPctTotal"],
                                Decimal(str(t["repeatPurchaseRevenue"]["amount"])).quantize(
                                    Decimal("0.01")))
        for (name, mp, week), rows in reports.items() if name == "repeat_purchase" for t in rows
    }  # fmt: skip
    basket = {(r.marketplace_id, r.start_date, r.asin, r.purchased_with_asin):
              (r.purchased_with_rank, r.combination_share)
              for r in tables["market_basket"]}  # fmt: skip
    assert basket == {
        (mp, week, t["asin"], t["purchasedWithAsin"]): (t["purchasedWithRank"], t["combinationPct"])
        for (name, mp, week), rows in reports.items() if name == "market_basket" for t in rows
    }  # fmt: skip
    assert all(0 <= r.combination_share <= 1 for r in tables["market_basket"])
