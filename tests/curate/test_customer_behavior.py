"""The customer marts on hand-made rows: basket size, B2B share and ship-to state per week
(cancelled items out, the week boundary Sunday-Saturday on the local purchase day, orders
additive across states), repeat customers and market-basket pairs rebuilt as counts from
Amazon's shares; and market_basket_pairs against the simulated seller's own orders."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from spapi_sandbox.seller import SellerConfig, SimulatedSeller
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

from ..support import END_DATE

US = "ATVPDKIKX0DER"
WEEK = date(2026, 11, 8)  # a Sunday
ITEMS = (
    "seller_id string, marketplace_id string, amazon_order_id string, order_item_id string,"
    " purchase_date date, order_status string, item_status string, quantity bigint,"
    " currency string, item_price decimal(18,2), is_business_order boolean,"
    " ship_country string, ship_state string"
)
FX = "seller_id string, rate_date date, currency string, reporting_currency string, rate double"
REPEAT = (
    "seller_id string, marketplace_id string, start_date date, end_date date, asin string,"
    " orders bigint, unique_customers bigint, repeat_customers_share double, currency string,"
    " repeat_purchase_revenue decimal(18,2)"
)
BASKET = (
    "seller_id string, marketplace_id string, start_date date, end_date date, asin string,"
    " purchased_with_asin string, purchased_with_rank bigint, combination_share double"
)
SALES = "seller_id string, marketplace_id string, date date, child_asin string"


def _item(order, line, day, quantity, price, state, *, b2b=False, status="Shipped"):
    return ("S1", US, order, line, day, status, status, quantity, "USD",
            None if price is None else Decimal(price), b2b, "us", state)  # fmt: skip


def test_basket_size_b2b_share_and_states_per_week(spark):
    saturday = WEEK + timedelta(days=6)
    items = [
        _item("O1", "1", WEEK, 2, "20.00", "ca "),  # two lines: a basket of 3 units
        _item("O1", "2", WEEK, 1, "5.00", "ca "),
        _item("O2", "1", saturday, 1, "7.00", "CA", b2b=True),
        _item("O3", "1", saturday, 4, "9.00", "CA", status="Cancelled"),  # not bought
        _item("O4", "1", WEEK + timedelta(days=3), 1, None, "", status="Pending"),
        _item("O5", "1", WEEK + timedelta(days=7), 1, "3.00", "CA"),  # Sunday: the next week
    ]
    rows = transforms.build(mart("customer_behavior"), spark.createDataFrame(items, ITEMS))
    got = {(r.date, r.ship_state): r for r in rows.collect()}
    assert set(got) == {(WEEK, "CA"), (WEEK, "(unknown)"), (WEEK + timedelta(days=7), "CA")}
    ca = got[(WEEK, "CA")]
    assert (ca.orders, ca.order_items, ca.units, ca.multi_unit_orders) == (2, 3, 4, 1)
    assert (ca.business_orders, ca.business_units, ca.ship_country) == (1, 1, "US")
    assert ca.units_per_order == 2.0 and ca.items_per_order == 1.5
    assert ca.b2b_order_share == 0.5 and ca.b2b_unit_share == 0.25
    assert (ca.item_revenue, ca.average_order_value) == (Decimal("32.00"), Decimal("16.00"))
    # No FX rows were read: no reporting money, and both orders are counted as without a rate.
    assert ca.item_revenue_reporting is None and ca.orders_without_fx_rate == 2
    pending = got[(WEEK, "(unknown)")]
    assert (pending.orders, pending.units, pending.item_revenue) == (1, 1, None)
    assert pending.average_order_value is None


def test_order_value_converts_per_purchase_day(spark):
    items = [_item("O1", "1", WEEK, 1, "10.00", "BY"), _item("O2", "1", WEEK + timedelta(days=1),
             1, "10.00", "BY")]  # fmt: skip
    items = [(*i[:8], "EUR", *i[9:]) for i in items]
    fx = spark.createDataFrame([("reference", WEEK - timedelta(days=2), "EUR", "USD", 1.1),
                                ("reference", WEEK + timedelta(days=1), "EUR", "USD", 1.2)],
                               FX)  # fmt: skip
    [row] = transforms.build(mart("customer_behavior"), {
        "order_items": spark.createDataFrame(items, ITEMS), "fx_rates": fx}).collect()  # fmt: skip
    assert row.item_revenue_reporting == Decimal("23.00")  # 11.00 (Friday's) + 12.00
    assert row.average_order_value_reporting == Decimal("11.50")
    assert row.reporting_currency == "USD" and row.orders_without_fx_rate == 0


def test_repeat_customers_and_basket_pairs_are_counts_rebuilt_from_amazons_shares(spark):
    end = WEEK + timedelta(days=6)
    repeat = spark.createDataFrame([("S1", US, WEEK, end, "B0A", 40, 30, 0.2333, "USD",
                                     Decimal("55.50"))], REPEAT)  # fmt: skip
    fx = spark.createDataFrame([("reference", end - timedelta(days=1), "EUR", "USD", 1.1)], FX)
    [r] = transforms.build(mart("repeat_customers"), {"repeat_purchase": repeat,
                                                      "fx_rates": fx}).collect()  # fmt: skip
    assert r.repeat_customers == 7 and r.repeat_customer_share == pytest.approx(7 / 30)
    assert (r.fx_rate, r.repeat_purchase_revenue_reporting) == (1.0, Decimal("55.50"))  # USD
    pairs = [("B0A", "B0B", 1, 0.175), ("B0A", "B0X", 2, 0.05), ("B0C", "B0A", 1, 0.5)]
    basket = spark.createDataFrame([("S1", US, WEEK, end, *p) for p in pairs], BASKET)
    own = spark.createDataFrame([("S1", US, WEEK + timedelta(days=1), "B0B")], SALES)
    got = {(p.asin, p.purchased_with_asin): p for p in transforms.build(
        mart("market_basket_pairs"), {"market_basket": basket, "repeat_purchase": repeat,
                                      "sales_traffic_by_asin": own}).collect()}  # fmt: skip
    ab, ax, ca = got[("B0A", "B0B")], got[("B0A", "B0X")], got[("B0C", "B0A")]
    assert (ab.asin_orders, ab.combination_orders, ab.combination_order_share) == (40, 7, 0.175)
    assert (ax.combination_orders, ab.purchased_with_own_asin, ax.purchased_with_own_asin) == (
        2, True, False)  # fmt: skip
    assert (ca.asin_orders, ca.combination_orders, ca.combination_order_share) == (None,) * 3


def test_market_basket_pairs_count_the_simulated_sellers_own_orders(spark):
    seller = SimulatedSeller(SellerConfig(end_date=END_DATE))
    end = WEEK + timedelta(days=6)
    basket = seller.market_basket(US, WEEK, end)
    repeat = seller.repeat_purchase(US, WEEK, end)
    assert basket and repeat
    frames = {
        "market_basket": spark.createDataFrame(
            [("S1", US, WEEK, end, b["asin"], b["purchasedWithAsin"], b["purchasedWithRank"],
              b["combinationPct"]) for b in basket], BASKET),
        "repeat_purchase": spark.createDataFrame(
            [("S1", US, WEEK, end, r["asin"], r["orders"], r["uniqueCustomers"],
              r["repeatCustomersPctTotal"], "USD",
              Decimal(str(r["repeatPurchaseRevenue"]["amount"]))) for r in repeat], REPEAT),
    }  # fmt: skip
    got = transforms.build(mart("market_basket_pairs"), frames).collect()
    orders: dict[str, set[str]] = {}
    for d in (WEEK + timedelta(days=i) for i in range(7)):
        for item in seller.day(US, d).order_items:
            if not item.is_cancelled:
                orders.setdefault(item.amazon_order_id, set()).add(item.asin)
    pairs = {(r.asin, r.purchased_with_asin) for r in got}
    both = {pair: sum(1 for asins in orders.values() if set(pair) <= asins) for pair in pairs}
    assert len(got) == len(basket)
    assert all(r.combination_orders == both[(r.asin, r.purchased_with_asin)] for r in got)
    assert all(r.asin_orders == sum(1 for asins in orders.values() if r.asin in asins) for r in got)
