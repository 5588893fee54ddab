"""inventory_health on hand-made rows: stock-out days left out of the velocity (a missing day is
unknown, not a stock-out), the day boundary of the sales windows, zero denominators, the risk
levels, cancelled and seller-fulfilled orders, and two sellers kept apart."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from spapi_toolkit.lake.curate import aggregate
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

from .cleaned import cleaned

US = "ATVPDKIKX0DER"
D = date(2026, 11, 28)


def _snapshot(sku, day=D, fulfillable=100, seller="S1", **quantities):
    return {"seller_id": seller, "marketplace_id": US, "snapshot_date": day, "seller_sku": sku,
            "asin": f"B0{sku}", "fnsku": f"X0{sku}", "fulfillable_quantity": fulfillable,
            **quantities}  # fmt: skip


_ORDER_IDS = itertools.count(1)


def _order(sku, day, quantity, seller="S1", status="Shipped", channel="Amazon"):
    n = next(_ORDER_IDS)
    return {"seller_id": seller, "marketplace_id": US, "amazon_order_id": f"111-{n}",
            "order_item_id": str(n), "purchase_date": day, "order_status": status,
            "item_status": status, "fulfillment_channel": channel, "sku": sku,
            "asin": f"B0{sku}", "quantity": quantity}  # fmt: skip


def _health(spark, snapshots, orders):
    frame = transforms.build(
        mart("inventory_health"),
        {
            "inventory_summaries": cleaned(spark, "inventory_summaries", snapshots),
            "order_items": cleaned(spark, "order_items", orders),
        },
    )
    return {(r.seller_id, r.sku): r for r in frame.where(frame.date == D).collect()}


def _days_before(n):
    return D - timedelta(days=n)


def test_stockout_days_leave_the_velocity_and_missing_days_stay_in_it(spark):
    # 10 snapshot days of D-30..D-1 show no stock, 5 show stock, 15 have no snapshot at all
    history = [_snapshot("A", _days_before(k), 0) for k in range(1, 11)]
    history += [_snapshot("A", _days_before(k), 7) for k in range(11, 16)]
    orders = [_order("A", _days_before(20), 30), _order("A", _days_before(25), 10)]
    got = _health(spark, [_snapshot("A", fulfillable=50, inbound_shipped_quantity=30), *history],
                  orders)[("S1", "A")]  # fmt: skip
    assert (got.snapshot_days_30d, got.stockout_days_30d, got.in_stock_days_30d) == (15, 10, 20)
    assert got.units_ordered_30d == 40 and got.sales_velocity == 2.0  # 40 units / 20 days
    assert got.days_of_supply == 25.0 and got.days_of_supply_with_inbound == 40.0
    assert got.inbound_quantity == 30 and got.stock_out_risk == "medium"


def test_the_sales_windows_are_the_local_days_before_the_snapshot_day(spark):
    orders = [_order("A", day, 1) for day in (D, _days_before(1), _days_before(30))]
    orders += [_order("A", day, 100) for day in (_days_before(31), _days_before(90))]
    orders += [_order("A", _days_before(91), 10_000)]
    # a stock-out on D itself or on D-31 is outside the velocity's days
    snapshots = [_snapshot("A", fulfillable=0), _snapshot("A", _days_before(31), 0)]
    got = _health(spark, snapshots, orders)[("S1", "A")]
    assert (got.units_ordered_30d, got.units_ordered_90d) == (2, 202)
    assert (got.snapshot_days_30d, got.stockout_days_30d, got.in_stock_days_30d) == (0, 0, 30)
    assert got.stock_out_risk == "out_of_stock"


def test_cancelled_and_seller_fulfilled_orders_do_not_draw_on_fba_stock(spark):
    orders = [
        _order("A", _days_before(2), 3),
        _order("A", _days_before(2), 5, status="Cancelled"),
        _order("A", _days_before(2), 7, channel="Merchant"),
    ]
    got = _health(spark, [_snapshot("A")], orders)[("S1", "A")]
    assert got.units_ordered_30d == 3 and got.units_ordered_90d == 3


def test_zero_denominators_give_null_not_zero(spark):
    every_day_out = [_snapshot("B", _days_before(k), 0) for k in range(1, 31)]
    snapshots = [_snapshot("A", fulfillable=0), _snapshot("B", fulfillable=20), *every_day_out]
    got = _health(spark, snapshots, [_order("B", _days_before(3), 4)])
    a, b = got[("S1", "A")], got[("S1", "B")]
    # A: nothing sold, nothing on hand
    assert (a.units_ordered_30d, a.units_on_hand) == (0, 0)
    assert a.sell_through_30d is None and a.sell_through_90d is None
    assert a.sales_velocity == 0.0 and a.days_of_supply is None
    # B: every day of the window stocked out, so no in-stock day to divide by
    assert (b.in_stock_days_30d, b.sales_velocity, b.days_of_supply) == (0, None, None)
    assert b.stock_out_risk == "unknown"
    assert b.sell_through_30d == pytest.approx(4 / 24)


def test_sell_through_counts_reserved_units_not_yet_sold_as_on_hand(spark):
    snapshot = _snapshot("A", fulfillable=60, reserved_quantity=15,
                         pending_customer_order_quantity=5)  # fmt: skip
    orders = [_order("A", _days_before(10), 30), _order("A", _days_before(60), 50)]
    got = _health(spark, [snapshot], orders)[("S1", "A")]
    assert got.units_on_hand == 70  # 60 fulfillable + 10 reserved for transfers or processing
    assert got.sell_through_30d == pytest.approx(30 / 100)
    assert got.sell_through_90d == pytest.approx(80 / 150)


def test_stock_out_risk_thresholds(spark):
    cases = {  # SKU: fulfillable, inbound, units in 30 in-stock days (units a day), risk
        "HIGH": (13, 0, 30, "high"),  # 13 days of supply
        "HIGH_INBOUND": (10, 3, 30, "high"),  # 13 days with inbound
        "INBOUND_COVERS": (10, 4, 30, "medium"),  # 14 days with inbound, 10 without
        "MEDIUM": (29, 0, 30, "medium"),
        "LOW": (30, 0, 30, "low"),
        "IDLE": (30, 0, 0, "no_sales"),
    }
    snapshots = [_snapshot(sku, fulfillable=f, inbound_working_quantity=i)
                 for sku, (f, i, _, _) in cases.items()]  # fmt: skip
    orders = [_order(sku, _days_before(5), u) for sku, (_, _, u, _) in cases.items() if u]
    got = _health(spark, snapshots, orders)
    assert {sku: got[("S1", sku)].stock_out_risk for sku in cases} == {
        sku: risk for sku, (_, _, _, risk) in cases.items()}  # fmt: skip


def test_two_sellers_with_one_sku_never_mix(spark):
    snapshots = [_snapshot("A", fulfillable=10), _snapshot("A", fulfillable=90, seller="S2"),
                 _snapshot("A", _days_before(3), 0, seller="S2")]  # fmt: skip
    orders = [_order("A", _days_before(1), 6), _order("A", _days_before(1), 60, seller="S2")]
    got = _health(spark, snapshots, orders)
    assert set(got) == {("S1", "A"), ("S2", "A")}
    s1, s2 = got[("S1", "A")], got[("S2", "A")]
    assert (s1.fulfillable_quantity, s1.units_ordered_30d, s1.stockout_days_30d) == (10, 6, 0)
    assert (s2.fulfillable_quantity, s2.units_ordered_30d, s2.stockout_days_30d) == (90, 60, 1)
    assert s2.sales_velocity == pytest.approx(60 / 29)


def test_a_snapshot_day_reads_30_days_of_snapshots_and_90_of_orders():
    contract = mart("inventory_health")
    rebuild = {(US, D)}

    def days(name, column, offsets):
        paths = [f"marketplace_id={US}/{column}={_days_before(k)}" for k in offsets]
        return {p.rsplit("=", 1)[1] for p in aggregate.needed(contract, name, paths, rebuild)}

    assert days("inventory_summaries", "snapshot_date", (-1, 0, 30, 31)) == {
        str(D), str(_days_before(30))}  # fmt: skip
    assert days("order_items", "purchase_date", (0, 1, 90, 91)) == {
        str(D), str(_days_before(1)), str(_days_before(90))}  # fmt: skip
