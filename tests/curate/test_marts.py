"""The marts' transforms on small frames: ratios rebuilt from their parts (where averaging the
ratios gives another answer), division by zero, the B2B split, cancellations, the day boundary,
and the reconciliation of orders_daily against sales_daily."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

US = "ATVPDKIKX0DER"
DAY = date(2026, 11, 12)

BY_ASIN = (
    "seller_id string, marketplace_id string, date date, parent_asin string, child_asin string,"
    " currency string,"
    " ordered_product_sales decimal(18,2), ordered_product_sales_b2b decimal(18,2),"
    " units_ordered bigint, units_ordered_b2b bigint, total_order_items bigint,"
    " total_order_items_b2b bigint, page_views bigint, sessions bigint, buy_box_share double,"
    " unit_session_rate double"
)
ITEMS = (
    "seller_id string, marketplace_id string, amazon_order_id string, order_item_id string,"
    " purchase_ts timestamp,"
    " purchase_date date, order_status string, item_status string, fulfillment_channel string,"
    " sku string, asin string, quantity bigint, currency string, item_price decimal(18,2),"
    " item_tax decimal(18,2), item_promotion_discount decimal(18,2), is_business_order boolean"
)


def _asin_row(child, units, sales, sessions, page_views, buy_box, amazon_rate, b2b=(0, "0")):
    return ("S1", US, DAY, "B0PARENT01", child, "USD", Decimal(sales), Decimal(b2b[1]), units,
            b2b[0], units, b2b[0], page_views, sessions, buy_box, amazon_rate)  # fmt: skip


def _item(order, item, status, sku, quantity, price, *, b2b=False, channel="Amazon",
          item_status=None, ts=datetime(2026, 11, 12, 18, tzinfo=UTC), day=DAY):  # fmt: skip
    money = None if price is None else Decimal(price)
    tax = None if price is None else Decimal("1.00")
    currency = "USD" if price else None
    return ("S1", US, order, item, ts, day, status, item_status or status, channel, sku, f"B0{sku}",
            quantity, currency, money, tax, Decimal("0.50"), b2b)  # fmt: skip


def test_sales_daily_rebuilds_the_unit_session_rate_instead_of_taking_amazons(spark):
    rows = [_asin_row("B0CHILD001", 3, "30.00", 4, 10, 0.9, 0.5, b2b=(1, "12.00"))]
    [got] = transforms.build(mart("sales_daily"), spark.createDataFrame(rows, BY_ASIN)).collect()
    assert got.unit_session_rate == 0.75  # 3 units / 4 sessions, not Amazon's 0.5
    assert got.buy_box_share == pytest.approx(0.9) and got.buy_box_page_views == pytest.approx(9)
    assert got.average_selling_price == Decimal("10.00")
    assert (got.units_ordered_b2b, got.ordered_product_sales_b2b) == (1, Decimal("12.00"))
    assert got.currency == "USD" and got.parent_asin == "B0PARENT01"


KIOSK = (
    "seller_id string, marketplace_id string, start_date date, end_date date, parent_asin string,"
    " child_asin string, currency string, units_shipped bigint,"
    " shipped_product_sales decimal(18,2), units_refunded bigint,"
    " ordered_product_sales decimal(18,2), ordered_product_sales_b2b decimal(18,2),"
    " units_ordered bigint, units_ordered_b2b bigint, total_order_items bigint,"
    " total_order_items_b2b bigint, page_views bigint, sessions bigint, buy_box_share double"
)
ORDERED_NONE = (None,) * 9  # a row of Data Kiosk's read for its shipped and refunded units only


def _kiosk_row(child, day, units, sales, sessions, page_views, buy_box, shipped=(0, "0", 0)):
    """Data Kiosk's one-day window of ``child``: its ordered sales and traffic, then shipped."""
    return ("S1", US, day, day, "B0PARENT01", child, "USD", shipped[0], Decimal(shipped[1]),
            shipped[2], Decimal(sales), Decimal("0"), units, 0, units, 0, page_views, sessions,
            buy_box)  # fmt: skip


def test_sales_daily_takes_data_kiosks_one_day_windows_and_leaves_longer_ones_out(spark):
    rows = [_asin_row("B0CHILD001", 4, "40.00", 8, 10, 1.0, 0.5)]
    week = (DAY - timedelta(days=3), DAY + timedelta(days=3))
    kiosk = [
        ("S1", US, DAY, DAY, "B0PARENT01", "B0CHILD001", "USD", 3, Decimal("30.00"), 1,
         *ORDERED_NONE),
        ("S1", US, *week, "B0PARENT01", "B0CHILD001", "USD", 70, Decimal("700.00"), 9,
         *ORDERED_NONE),
        ("S1", US, DAY, DAY, "B0PARENT01", "B0CHILD002", "USD", 1, Decimal("5.00"), 0,
         *ORDERED_NONE),
    ]  # fmt: skip
    frames = {"sales_traffic_by_asin": spark.createDataFrame(rows, BY_ASIN),
              "kiosk_sales_traffic": spark.createDataFrame(kiosk, KIOSK)}  # fmt: skip
    got = {r.child_asin: r for r in transforms.build(mart("sales_daily"), frames).collect()}
    one = got["B0CHILD001"]  # the day's window only: the week's sums cannot be split per day
    assert (one.units_shipped, one.shipped_product_sales, one.units_refunded) == (
        3, Decimal("30.00"), 1)  # fmt: skip
    assert one.refund_rate == pytest.approx(1 / 4) and one.units_ordered == 4
    only_kiosk = got["B0CHILD002"]  # named by Data Kiosk only that day: its own row
    assert (only_kiosk.units_shipped, only_kiosk.units_ordered) == (1, None)
    assert (only_kiosk.currency, only_kiosk.parent_asin) == ("USD", "B0PARENT01")
    # The report holds the day: its figures count, Data Kiosk's ordered ones do not.
    assert {r.sales_source for r in got.values()} == {"sales_traffic_report"}


def test_a_day_the_report_does_not_hold_comes_from_data_kiosk_and_says_so(spark):
    """History may come from Data Kiosk (issue 23): a seller's day without a Sales & Traffic
    report is built from Data Kiosk's one-day window with the same figures; a day both hold
    takes the report's; each row names its source."""
    later = DAY + timedelta(days=1)
    report = [_asin_row("B0CHILD001", 4, "40.00", 8, 10, 1.0, 0.5)]
    kiosk = [
        _kiosk_row("B0CHILD001", DAY, 9, "90.00", 9, 9, 0.0),  # the report holds DAY: not used
        _kiosk_row("B0CHILD001", later, 3, "33.00", 6, 12, 0.5, shipped=(2, "22.00", 1)),
        _kiosk_row("B0CHILD002", later, 1, "5.00", 2, 2, 1.0),
    ]
    frames = {"sales_traffic_by_asin": spark.createDataFrame(report, BY_ASIN),
              "kiosk_sales_traffic": spark.createDataFrame(kiosk, KIOSK)}  # fmt: skip
    got = {(r.date, r.child_asin): r for r in transforms.build(mart("sales_daily"), frames)
           .collect()}  # fmt: skip
    assert got[(DAY, "B0CHILD001")].sales_source == "sales_traffic_report"
    assert got[(DAY, "B0CHILD001")].units_ordered == 4
    kept = got[(later, "B0CHILD001")]
    assert kept.sales_source == "data_kiosk"
    assert (kept.units_ordered, kept.ordered_product_sales, kept.sessions, kept.page_views) == (
        3, Decimal("33.00"), 6, 12)  # fmt: skip
    assert kept.unit_session_rate == 0.5 and kept.buy_box_page_views == pytest.approx(6)
    assert (kept.units_shipped, kept.units_refunded, kept.refund_rate) == (2, 1, 1 / 3)
    assert got[(later, "B0CHILD002")].sales_source == "data_kiosk"
    assert len(got) == 3


def test_a_day_refunding_more_units_than_it_sold_has_a_refund_rate_above_1_and_passes(spark):
    # Refunds come from earlier orders, so a quiet day can refund more than it sells (a demo run
    # blocked such a day while the suite capped the rate at 1).
    from spapi_toolkit.lake.quality import suites

    rows = [_asin_row("B0CHILD001", 1, "10.00", 2, 5, 1.0, 0.5)]
    kiosk = [("S1", US, DAY, DAY, "B0PARENT01", "B0CHILD001", "USD", 1, Decimal("10.00"), 2,
              *ORDERED_NONE)]  # fmt: skip
    frames = {"sales_traffic_by_asin": spark.createDataFrame(rows, BY_ASIN),
              "kiosk_sales_traffic": spark.createDataFrame(kiosk, KIOSK)}  # fmt: skip
    [got] = transforms.build(mart("sales_daily"), frames).collect()
    assert got.refund_rate == 2.0  # 2 units refunded / 1 ordered
    checks = suites.spec("aggregated", "sales_daily").checks
    [bound] = [c.kwargs for c in checks if c.rule == "range" and c.columns == ("refund_rate",)]
    assert bound == {"column": "refund_rate", "min_value": 0}


def test_rolled_up_ratios_are_rebuilt_from_summed_parts_not_averaged(spark):
    rows = [
        _asin_row("B0CHILD001", 1, "10.00", 1, 10, 1.0, 1.0),
        _asin_row("B0CHILD002", 1, "30.00", 9, 90, 0.5, 1 / 9),
    ]
    sales = transforms.build(mart("sales_daily"), spark.createDataFrame(rows, BY_ASIN))
    [day] = transforms.rollup(sales, ["marketplace_id", "date"]).collect()
    by_asin = sales.collect()
    averaged_rate = sum(r.unit_session_rate for r in by_asin) / 2  # 0.556: the wrong answer
    averaged_share = sum(r.buy_box_share for r in by_asin) / 2  # 0.75
    assert day.unit_session_rate == pytest.approx(0.2) != pytest.approx(averaged_rate)
    assert day.buy_box_share == pytest.approx(0.55) != pytest.approx(averaged_share)
    assert day.average_selling_price == Decimal("20.00")  # 40.00 / 2 units, not (10 + 30) / 2
    assert (day.units_ordered, day.sessions, day.page_views) == (2, 10, 100)


def test_a_zero_denominator_gives_null_not_zero_or_an_error(spark):
    rows = [_asin_row("B0CHILD001", 0, "0.00", 0, 0, None, None)]
    [got] = transforms.build(mart("sales_daily"), spark.createDataFrame(rows, BY_ASIN)).collect()
    assert (got.unit_session_rate, got.buy_box_share, got.average_selling_price) == (None,) * 3
    items = [_item("111-1", "1", "Cancelled", "SKU1", 0, None)]
    [order] = transforms.build(mart("orders_daily"), spark.createDataFrame(items, ITEMS)).collect()
    assert order.units == 0 and order.b2b_unit_share is None


def test_orders_daily_splits_b2b_fba_and_counts_cancellations_and_pending(spark):
    items = [
        _item("111-1", "1", "Shipped", "SKU1", 3, "30.00", b2b=True),
        _item("111-2", "1", "Shipped", "SKU1", 1, "10.00", channel="Merchant"),
        _item("111-2", "2", "Shipped", "SKU1", 1, "10.00", item_status="Cancelled"),
        _item("111-3", "1", "Cancelled", "SKU1", 0, None),
        _item("111-4", "1", "Pending", "SKU1", 2, None),
    ]
    [got] = transforms.build(mart("orders_daily"), spark.createDataFrame(items, ITEMS)).collect()
    assert (got.orders, got.order_items, got.units) == (4, 5, 7)
    # A unit-weighted share: 3 of 7 units, where the share of B2B lines would be 1 in 5.
    assert (got.units_b2b, got.b2b_unit_share) == (3, pytest.approx(3 / 7))
    assert (got.cancelled_items, got.cancelled_units, got.pending_units) == (2, 1, 2)
    assert (got.fba_units, got.mfn_units) == (6, 1)
    assert got.item_revenue == Decimal("50.00") and got.item_tax == Decimal("3.00")
    assert got.promotion_discount == Decimal("2.50") and got.currency == "USD"


def test_orders_count_on_their_marketplace_local_day_not_the_utc_one(spark):
    # 06:30 UTC on the 13th is 22:30 on the 12th in Los Angeles: the cleaned purchase_date.
    late = datetime(2026, 11, 13, 6, 30, tzinfo=UTC)
    items = [_item("111-1", "1", "Shipped", "SKU1", 2, "20.00", ts=late, day=DAY)]
    frame = spark.createDataFrame(items, ITEMS)
    [got] = transforms.build(mart("orders_daily"), frame).collect()
    assert got.date == DAY and late.date() != DAY
    assert "local" in mart("orders_daily").day_boundary
    assert "local" in mart("sales_daily").day_boundary


def test_a_transform_missing_a_contract_column_is_refused_by_name(spark):
    rows = [_asin_row("B0CHILD001", 1, "10.00", 1, 1, 1.0, 1.0)]
    frame = transforms.sales_daily(spark.createDataFrame(rows, BY_ASIN)).drop("page_views")
    with pytest.raises(ValueError, match="page_views"):
        transforms.conform(frame, mart("sales_daily"))


def test_the_reconciliation_returns_only_the_differences_with_their_known_reasons(spark):
    items = [
        _item("111-1", "1", "Shipped", "A1", 2, "20.00"),  # agrees with S&T
        _item("111-2", "1", "Shipped", "A2", 1, "10.00"),
        _item("111-3", "1", "Pending", "A2", 1, None),  # counted, not priced yet
        _item("111-4", "1", "Cancelled", "A3", 0, None),  # S&T still counts the unit
        _item("111-5", "1", "Shipped", "A4", 1, "5.00"),  # S&T has no row
        _item("111-6", "1", "Shipped", "A6", 1, "7.00"),  # S&T says 2 units: no known cause
    ]
    orders = transforms.build(mart("orders_daily"), spark.createDataFrame(items, ITEMS))
    sales_rows = [
        _asin_row("B0A1", 2, "20.00", 5, 5, 1.0, 0.4),
        _asin_row("B0A2", 2, "20.00", 5, 5, 1.0, 0.4),
        _asin_row("B0A3", 1, "0.00", 5, 5, 1.0, 0.2),
        _asin_row("B0A5", 1, "9.00", 5, 5, 1.0, 0.2),
        _asin_row("B0A6", 2, "7.00", 5, 5, 1.0, 0.2),
    ]
    sales = transforms.build(mart("sales_daily"), spark.createDataFrame(sales_rows, BY_ASIN))
    got = {r.asin: r for r in transforms.orders_against_sales(orders, sales).collect()}
    assert {asin: r.reasons for asin, r in got.items()} == {
        "B0A2": "pending",
        "B0A3": "cancelled",
        "B0A4": "only in orders_daily",
        "B0A5": "only in sales_daily",
        "B0A6": "unexplained",
    }
    assert (got["B0A2"].units_difference, got["B0A2"].revenue_difference) == (0, Decimal("-10.00"))
    assert got["B0A3"].units_difference == -1 and got["B0A3"].cancelled_items == 1
    assert got["B0A5"].orders_units is None and got["B0A5"].units_difference == -1


def test_two_sellers_of_one_asin_are_never_mixed(spark):
    one = _asin_row("B0CHILD001", 2, "20.00", 10, 20, 0.5, 20.0)
    other = ("S2", *one[1:])
    rows = transforms.build(mart("sales_daily"), spark.createDataFrame([one, other], BY_ASIN))
    assert sorted((r.seller_id, r.units_ordered) for r in rows.collect()) == [("S1", 2), ("S2", 2)]


def test_days_both_sources_hold_and_disagree_on_once_settled_are_listed(spark):
    """Issue 23: sales_daily takes a day both hold from the report without a word, so the days
    whose settled figures differ between the two are listed (not a restated day)."""
    later, unsettled = DAY + timedelta(days=1), DAY + timedelta(days=2)
    report = [_asin_row("B0CHILD001", 4, "40.00", 8, 10, 1.0, 0.5),
              _asin_row("B0CHILD002", 1, "10.00", 3, 5, 1.0, 0.3)]  # fmt: skip
    report += [(*row[:2], unsettled, *row[3:]) for row in report]
    kiosk = [
        _kiosk_row("B0CHILD001", DAY, 4, "40.00", 8, 10, 1.0),  # the same figures
        _kiosk_row("B0CHILD002", DAY, 1, "10.00", 4, 5, 1.0),  # one more session
        _kiosk_row("B0CHILD003", DAY, 2, "12.00", 2, 2, 1.0),  # the report lists nothing
        _kiosk_row("B0CHILD001", later, 9, "90.00", 9, 9, 1.0),  # Data Kiosk's day alone
        _kiosk_row("B0CHILD001", unsettled, 5, "50.00", 8, 10, 1.0),  # still restated
    ]
    frames = spark.createDataFrame(report, BY_ASIN), spark.createDataFrame(kiosk, KIOSK)
    got = transforms.report_against_kiosk(*frames, later).collect()
    assert {(r.date, r.asin): r.reasons for r in got} == {
        (DAY, "B0CHILD002"): "sessions differ",
        (DAY, "B0CHILD003"): "only in Data Kiosk",
    }
    [sessions] = [r for r in got if r.asin == "B0CHILD002"]
    assert (sessions.report_sessions, sessions.kiosk_sessions) == (3, 4)
