"""inventory_health, price_competitiveness and product_performance end to end on sandbox data:
the cleaned tables of conftest's two lakes (``curated``: the settled week of orders and Sales &
Traffic; ``snapshots``: the snapshot day's inventory, offers, prices and catalog) put side by
side, aggregated by the incremental job, and set against the simulated seller's own numbers."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from spapi_toolkit.clock import ManualClock
from spapi_toolkit.lake.curate import aggregate
from spapi_toolkit.lake.storage import Lake

from .week import FIRST, LAST, SELLER, TODAY

# Run alone, the first test builds both session lakes (the curated week and the snapshots, which
# land orders and listings too): about five minutes on a loaded two-core machine, so its timeout
# is above pyproject's default.
pytestmark = pytest.mark.timeout(900)

NAMES = ["inventory_health", "price_competitiveness", "product_performance"]
CLOCK = ManualClock(datetime(2026, 11, 28, 9, tzinfo=UTC))
NOVEMBER = date(2026, 11, 1)


@pytest.fixture(scope="module")
def aggregated(spark, curated, snapshots, tmp_path_factory):
    """One lake with both fixtures' cleaned tables (order_items only of the settled week, whose
    units equal the truth), the three marts built from it; their rows by mart."""
    week, snapshot_root = curated[0] / "cleaned", snapshots[0] / "cleaned"
    cleaned = tmp_path_factory.mktemp("snapshot_marts") / "cleaned"
    shutil.copytree(week / "sales_traffic_by_asin", cleaned / "sales_traffic_by_asin")
    for folder in (week / "order_items").glob("marketplace_id=*/purchase_date=*"):
        if FIRST <= date.fromisoformat(folder.name.split("=", 1)[1]) <= LAST:
            shutil.copytree(folder, cleaned / "order_items" / folder.parent.name / folder.name)
    for name in ("inventory_summaries", "item_offers", "competitive_summary", "catalog_items"):
        shutil.copytree(snapshot_root / name, cleaned / name)
    lake = Lake.from_uri(str(cleaned.parent))
    results = {r.mart: r for r in aggregate.cleaned_to_aggregated(spark, lake, NAMES, clock=CLOCK)}
    rerun = aggregate.cleaned_to_aggregated(spark, lake, NAMES, clock=CLOCK)
    assert [(r.changed, r.partitions, r.removed) for r in rerun] == [(0, 0, 0)] * 3
    rows = {n: spark.read.parquet(str(cleaned.parent / "aggregated" / n)).collect() for n in NAMES}
    return results, rows


def test_inventory_health_is_the_sellers_stock_against_its_fba_orders(aggregated, curated,
                                                                       snapshots):  # fmt: skip
    results, rows = aggregated
    assert results["inventory_health"].partitions == 3  # one snapshot day in three marketplaces
    stock = {(mp, i.sku): i for mp, items in snapshots[3]["inventory"].items() for i in items}
    units: dict[tuple[str, str], int] = defaultdict(int)
    for t in curated[3]:  # the settled week of orders lies in D-30..D-1 of the snapshot day
        units[(t["marketplace_id"], t["sku"])] += t["units_ordered"]
    got = {(r.marketplace_id, r.sku): r for r in rows["inventory_health"]}
    assert set(got) == set(stock) and sum(1 for k in got if units[k]) > 10
    for key, r in got.items():
        i = stock[key]
        assert (r.seller_id, r.date, r.asin) == (SELLER, TODAY, i.asin)
        assert (r.fulfillable_quantity, r.reserved_quantity, r.unfulfillable_quantity) == (
            i.afn_fulfillable_quantity,
            i.afn_reserved_quantity,
            i.afn_unsellable_quantity,
        )
        assert r.inbound_quantity == (i.afn_inbound_working_quantity
                                      + i.afn_inbound_shipped_quantity
                                      + i.afn_inbound_receiving_quantity)  # fmt: skip
        assert r.units_ordered_30d == r.units_ordered_90d == units[key]
        # only the snapshot day itself was pulled: every day of the window is unknown, in stock
        assert (r.snapshot_days_30d, r.stockout_days_30d, r.in_stock_days_30d) == (0, 0, 30)
        assert r.units_on_hand == i.afn_fulfillable_quantity  # the sandbox reserves only sold units
        if units[key]:
            assert r.days_of_supply == pytest.approx(i.afn_fulfillable_quantity * 30 / units[key])
        if i.afn_fulfillable_quantity == 0:
            assert r.stock_out_risk == "out_of_stock"
        elif not units[key]:
            assert r.stock_out_risk == "no_sales" and r.days_of_supply is None


def test_price_competitiveness_is_our_price_against_the_days_offers(aggregated, snapshots):
    results, rows = aggregated
    _, _, tables, truth = snapshots
    assert results["price_competitiveness"].partitions == 3
    offers = {(r.marketplace_id, r.asin): r for r in tables["item_offers"]}
    thresholds = {(r.marketplace_id, r.asin): r.competitive_price_threshold
                  for r in tables["competitive_summary"]}  # fmt: skip
    got = {(r.marketplace_id, r.asin): r for r in rows["price_competitiveness"]}
    assert set(got) == set(offers)
    for key, r in got.items():
        offer = offers[key]
        assert (r.seller_id, r.date, r.currency) == (SELLER, TODAY, offer.currency)
        assert r.our_landed_price == truth["products"][r.asin].price(r.marketplace_id)
        lowest = (offer.lowest_fba_landed_price, offer.lowest_mfn_landed_price)
        assert r.lowest_landed_price == min(p for p in lowest if p is not None)
        # getItemOffers gives no threshold in the sandbox: competitive_summary's applies
        assert r.competitive_price_threshold == thresholds[key] is not None
        assert r.above_competitive_price_threshold == (r.our_landed_price > thresholds[key])
        assert r.is_lowest_price == (r.our_landed_price <= r.lowest_landed_price)
        assert r.buy_box_winner == ("us" if offer.buy_box_seller_id == SELLER else "other")
        assert r.total_offer_count == r.fba_offer_count + r.mfn_offer_count
    assert {r.buy_box_winner for r in got.values()} == {"us", "other"}
    assert {r.above_competitive_price_threshold for r in got.values()} == {True, False}


def test_product_performance_is_the_months_sales_ranked_and_classed(aggregated, curated,
                                                                    snapshots):  # fmt: skip
    results, rows = aggregated
    assert results["product_performance"].partitions == 3  # November in three marketplaces
    sums: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0), 0, 0])
    for t in curated[3]:
        total = sums[(t["marketplace_id"], t["asin"])]
        total[0] += t["units_ordered"]
        total[1] += Decimal(str(t["ordered_product_sales"]))
        total[2] += t["sessions"]
        total[3] += t["page_views"]
    catalog = {(r.marketplace_id, r.asin): r for r in snapshots[2]["catalog_items"]}
    got = {(r.marketplace_id, r.child_asin): r for r in rows["product_performance"]}
    assert set(got) == set(sums) | set(catalog) and len(sums) > 50
    for key, r in got.items():
        units, sales, sessions, page_views = sums.get(key, (0, Decimal(0), 0, 0))
        assert (r.seller_id, r.date, r.report_days) == (SELLER, NOVEMBER, 7)
        assert (r.units_ordered, r.ordered_product_sales) == (units, sales)
        assert (r.sessions, r.page_views) == (sessions, page_views)
        if key in catalog:  # one snapshot in November: the trend is flat
            assert (r.sales_rank_first, r.sales_rank_last) == (catalog[key].sales_rank,) * 2
            assert (r.sales_rank_change, r.sales_rank_snapshots) == (0, 1)
    for marketplace in {mp for mp, _ in got}:
        ranked = sorted((r for (mp, _), r in got.items() if mp == marketplace),
                        key=lambda r: (-r.ordered_product_sales, r.child_asin))  # fmt: skip
        total = sum(r.ordered_product_sales for r in ranked)
        before = Decimal(0)
        for r in ranked:
            sales = r.ordered_product_sales
            share_before = before / total
            expected = "C" if not sales else "A" if share_before < Decimal("0.80") else "B"
            if expected == "B" and share_before >= Decimal("0.95"):
                expected = "C"
            assert r.abc_class == expected, r
            assert r.revenue_rank == 1 + sum(1 for o in ranked if o.ordered_product_sales > sales)
            before += sales
        assert {r.abc_class for r in ranked} == {"A", "B", "C"}
