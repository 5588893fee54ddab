"""product_performance on hand-made rows: the month's funnel with its rates rebuilt from sums,
revenue rank, the ABC boundaries, the sales-rank trend, the month boundary of each source, zero
denominators, and two sellers kept apart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

from .cleaned import cleaned

US = "ATVPDKIKX0DER"
NOV = date(2026, 11, 1)


def _day(asin, day, sales, units=1, sessions=10, page_views=20, buy_box=1.0, seller="S1"):
    return {"seller_id": seller, "marketplace_id": US, "date": day, "parent_asin": "B0PARENT",
            "child_asin": asin, "currency": "USD", "ordered_product_sales": Decimal(sales),
            "units_ordered": units, "total_order_items": units, "sessions": sessions,
            "page_views": page_views, "buy_box_share": buy_box,
            "unit_session_rate": 0.99}  # fmt: skip


def _catalog(asin, day, rank, group="Pet Supplies", seller="S1"):
    return {"seller_id": seller, "marketplace_id": US, "snapshot_date": day, "asin": asin,
            "sales_rank": rank, "sales_rank_group": group}  # fmt: skip


def _performance(spark, days, snapshots=()):
    frame = transforms.build(
        mart("product_performance"),
        {
            "sales_traffic_by_asin": cleaned(spark, "sales_traffic_by_asin", days),
            "catalog_items": cleaned(spark, "catalog_items", snapshots),
        },
    )
    return {(r.seller_id, r.date, r.child_asin): r for r in frame.collect()}


def test_the_funnel_sums_the_month_and_rebuilds_its_rates(spark):
    days = [_day("B0A", date(2026, 11, 3), "30.00", units=3, sessions=4, page_views=10,
                 buy_box=0.5),
            _day("B0A", date(2026, 11, 20), "10.00", units=1, sessions=36, page_views=30,
                 buy_box=1.0)]  # fmt: skip
    got = _performance(spark, days)[("S1", NOV, "B0A")]
    assert (got.sessions, got.page_views, got.units_ordered) == (40, 40, 4)
    assert got.unit_session_rate == pytest.approx(0.1)  # 4 / 40, not the mean of 0.75 and 0.03
    assert got.page_views_per_session == 1.0 and got.unit_page_view_rate == pytest.approx(0.1)
    assert got.buy_box_page_views == pytest.approx(35) and got.buy_box_share == pytest.approx(
        35 / 40
    )
    assert got.average_selling_price == Decimal("10.00") and got.currency == "USD"
    assert (got.period_end, got.report_days, got.parent_asin) == (date(2026, 11, 30), 2, "B0PARENT")


def test_abc_classes_at_their_boundaries_and_the_revenue_rank(spark):
    # shares before each ASIN: 0, 0.50, 0.80 (exactly: B), 0.95 (exactly: C); E and F tie
    sales = {"B0A": "500.00", "B0B": "300.00", "B0C": "150.00", "B0D": "30.00", "B0E": "10.00",
             "B0F": "10.00", "B0G": "0.00"}  # fmt: skip
    days = [_day(asin, date(2026, 11, 5), amount) for asin, amount in sales.items()]
    got = {k[2]: r for k, r in _performance(spark, days).items()}
    assert {a: r.abc_class for a, r in got.items()} == {
        "B0A": "A",
        "B0B": "A",
        "B0C": "B",
        "B0D": "C",
        "B0E": "C",
        "B0F": "C",
        "B0G": "C",
    }
    assert {a: r.revenue_rank for a, r in got.items()} == {
        "B0A": 1,
        "B0B": 2,
        "B0C": 3,
        "B0D": 4,
        "B0E": 5,
        "B0F": 5,
        "B0G": 7,
    }
    assert got["B0C"].cumulative_sales == Decimal("950.00")
    assert got["B0C"].cumulative_revenue_share == pytest.approx(0.95)
    assert got["B0C"].revenue_share == pytest.approx(0.15)
    assert all(r.marketplace_sales == Decimal("1000.00") for r in got.values())


def test_the_asin_crossing_80_percent_is_a(spark):
    days = [_day("B0BIG", date(2026, 11, 5), "90.00"), _day("B0SMALL", date(2026, 11, 5), "10.00")]
    got = {k[2]: r.abc_class for k, r in _performance(spark, days).items()}
    assert got == {"B0BIG": "A", "B0SMALL": "B"}


def test_a_month_without_sales_gives_null_shares_and_class_c(spark):
    days = [_day("B0A", date(2026, 11, 5), "0.00", units=0, sessions=0, page_views=0)]
    got = _performance(spark, days)[("S1", NOV, "B0A")]
    assert got.revenue_share is None and got.cumulative_revenue_share is None
    assert got.abc_class == "C" and got.revenue_rank == 1
    assert got.unit_session_rate is None and got.page_views_per_session is None
    assert got.buy_box_share is None and got.average_selling_price is None


def test_sales_rank_trend_of_the_months_snapshots(spark):
    days = [_day("B0A", date(2026, 11, 5), "10.00"), _day("B0B", date(2026, 11, 5), "10.00")]
    snapshots = [
        _catalog("B0A", date(2026, 11, 2), 500),
        _catalog("B0A", date(2026, 11, 15), 200),
        _catalog("B0A", date(2026, 11, 29), 300),
        _catalog("B0A", date(2026, 11, 30), None),  # no rank: not a trend point
        _catalog("B0B", date(2026, 11, 2), 50, group="Toys"),
        _catalog("B0B", date(2026, 11, 29), 40),
        _catalog("B0IDLE", date(2026, 11, 10), 90_000),  # listed, no traffic at all
    ]
    got = {k[2]: r for k, r in _performance(spark, days, snapshots).items()}
    a, b, idle = got["B0A"], got["B0B"], got["B0IDLE"]
    assert (a.sales_rank_first, a.sales_rank_last, a.sales_rank_best) == (500, 300, 200)
    assert (a.sales_rank_change, a.sales_rank_snapshots) == (-200, 3)
    assert b.sales_rank_change is None and b.sales_rank_group == "Pet Supplies"  # groups differ
    assert (idle.sessions, idle.units_ordered, idle.ordered_product_sales) == (0, 0, Decimal(0))
    assert (idle.abc_class, idle.sales_rank_last, idle.currency) == ("C", 90_000, "USD")


def test_the_month_boundary_of_each_source(spark):
    days = [_day("B0A", date(2026, 11, 30), "10.00"), _day("B0A", date(2026, 12, 1), "99.00")]
    snapshots = [_catalog("B0A", date(2026, 11, 30), 100), _catalog("B0A", date(2026, 12, 1), 1),
                 _catalog("B0A", date(2027, 1, 1), 7)]  # fmt: skip
    got = _performance(spark, days, snapshots)
    assert set(got) == {("S1", NOV, "B0A"), ("S1", date(2026, 12, 1), "B0A")}  # no January row
    nov, dec = got[("S1", NOV, "B0A")], got[("S1", date(2026, 12, 1), "B0A")]
    assert (nov.ordered_product_sales, nov.sales_rank_last) == (Decimal("10.00"), 100)
    assert (dec.ordered_product_sales, dec.sales_rank_first) == (Decimal("99.00"), 1)


def test_two_sellers_are_ranked_and_classed_apart(spark):
    days = [_day("B0A", date(2026, 11, 5), "90.00"), _day("B0B", date(2026, 11, 5), "10.00"),
            _day("B0B", date(2026, 11, 5), "500.00", seller="S2"),
            _day("B0A", date(2026, 11, 5), "1.00", seller="S2")]  # fmt: skip
    snapshots = [_catalog("B0A", date(2026, 11, 9), 10, seller="S2")]
    got = _performance(spark, days, snapshots)
    assert {(k[0], k[2]): (r.revenue_rank, r.abc_class) for k, r in got.items()} == {
        ("S1", "B0A"): (1, "A"), ("S1", "B0B"): (2, "B"),
        ("S2", "B0B"): (1, "A"), ("S2", "B0A"): (2, "C")}  # fmt: skip
    assert got[("S1", NOV, "B0A")].sales_rank_last is None
    assert got[("S2", NOV, "B0A")].sales_rank_last == 10
    assert got[("S1", NOV, "B0A")].marketplace_sales == Decimal("100.00")


def test_a_month_takes_each_day_from_the_report_else_from_data_kiosk(spark):
    """Issue 23: history may come from Data Kiosk. A day the report holds is the report's (Data
    Kiosk's figures for it are not added), a day it does not hold is Data Kiosk's one-day
    window, and both count as the month's Sales & Traffic days."""
    report = [_day("B0A", date(2026, 11, 3), "30.00", units=3, sessions=4, page_views=10)]

    def kiosk(day, sales, units, sessions, start=None):
        row = _day("B0A", day, sales, units=units, sessions=sessions, page_views=sessions)
        del row["date"]  # a window's days are start_date to end_date
        row["start_date"], row["end_date"] = start or day, day
        return row

    windows = [
        kiosk(date(2026, 11, 3), "99.00", 9, 9),  # the report holds the day
        kiosk(date(2026, 11, 4), "20.00", 2, 6),  # Data Kiosk's alone
        kiosk(date(2026, 11, 9), "50.00", 5, 5, start=date(2026, 11, 5)),
    ]  # 5 days
    frame = transforms.build(mart("product_performance"), {
        "sales_traffic_by_asin": cleaned(spark, "sales_traffic_by_asin", report),
        "catalog_items": cleaned(spark, "catalog_items", []),
        "kiosk_sales_traffic": cleaned(spark, "kiosk_sales_traffic", windows),
    })  # fmt: skip
    [got] = frame.collect()
    assert (got.units_ordered, got.sessions, got.ordered_product_sales) == (5, 10, Decimal("50"))
    assert got.report_days == 2
