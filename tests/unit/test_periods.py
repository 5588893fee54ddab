"""01's opening: the period's totals against the previous period and last year, checked
against SQL over the mart they come from, and no comparison where the lake lacks its days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from spapi_toolkit.analysis import scope
from spapi_toolkit.analysis.periods import ALL, _number, compare, formatted, periods
from spapi_toolkit.analysis.scope import country, money, with_money
from spapi_toolkit.lake.marts import mart
from spapi_toolkit.lake.storage import Lake

from ..lakefiles import write_rows

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
START, END = date(2026, 11, 1), date(2026, 11, 3)


def _day(marketplace, day, units, sales, rate=0.5):
    local = Decimal(sales)
    return dict(
        seller_id="S", marketplace_id=marketplace, date=day, child_asin="B01",
        currency="USD" if marketplace == US else "EUR", reporting_currency="USD",
        units_ordered=units, total_order_items=units, sessions=10 * units,
        ordered_product_sales=local,
        ordered_product_sales_reporting=(
            None if rate is None else local if marketplace == US else local * Decimal(rate)
        ),
    )  # fmt: skip


def _days(first, count):
    return [first + timedelta(days=n) for n in range(count)]


@pytest.fixture
def lake(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    rows = []
    for n, day in enumerate(_days(date(2026, 10, 29), 6)):  # the previous period and this one
        rows += [_day(US, day, 2 + n, f"{20 + n}.50"), _day(DE, day, 1 + n, f"{10 + n}.00")]
    rows += [_day(US, day, 3, "30.00") for day in _days(date(2025, 11, 1), 2)]  # 2 of 3 days
    rows += [_day(DE, day, 4, "40.00") for day in _days(date(2025, 11, 1), 3)]
    write_rows(lake, mart("sales_daily"), rows)
    return lake


def _sum(con, column, marketplaces, start, end):
    ids = ", ".join(f"'{m}'" for m in marketplaces)
    frame = con.sql(f"select sum({column}) as total from aggregated.sales_daily where date "
                    f"between :start and :end and marketplace_id in ({ids})",
                    start=start, end=end)  # fmt: skip
    return frame.total.iloc[0]


def test_the_comparison_periods():
    now, before, last_year = periods(date(2024, 3, 1), date(2024, 3, 3))
    assert (before.start, before.end) == (date(2024, 2, 27), date(2024, 2, 29))
    assert (last_year.start, last_year.end) == (date(2023, 3, 1), date(2023, 3, 3))
    assert now.days == before.days == last_year.days == 3
    leap = periods(date(2024, 2, 29), date(2024, 2, 29))[2]
    assert (leap.start, leap.end) == (date(2023, 2, 28), date(2023, 2, 28))


def test_totals_and_changes_equal_sql_over_the_mart(lake):
    analysis = scope(lake.uri, start=START, end=END, reporting_currency="USD")
    compared = compare(analysis)
    table = compared.table.set_index(["marketplace", "measure"])
    con = analysis.con
    previous = (date(2026, 10, 29), date(2026, 10, 31))
    for market, ids in (("US", [US]), ("DE", [DE])):
        sales = table.loc[(market, "ordered product sales")]
        now = _sum(con, "ordered_product_sales", ids, START, END)
        before = _sum(con, "ordered_product_sales", ids, *previous)
        assert sales.this_period == now and sales.previous_period == before
        assert sales["previous_change_%"] == round(float((now - before) / before * 100), 1)
        units = table.loc[(market, "units ordered")]
        assert units.this_period == _sum(con, "units_ordered", ids, START, END)
    # DE holds last year whole, US 2 of its 3 days: no US figure, and the note says why
    assert table.loc[("DE", "ordered product sales")].same_period_last_year == Decimal("120.00")
    assert table.loc[("US", "ordered product sales")].same_period_last_year is None
    assert ("no same period last year figures for US: the lake holds 2 of its 3 days "
            "(2025-11-01 to 2025-11-03)") in compared.notes  # fmt: skip
    # across marketplaces: the reporting currency, and last year only if every one holds it
    both = table.loc[(ALL, "ordered product sales")]
    assert both.currency == "USD"
    assert both.this_period == _sum(con, "ordered_product_sales_reporting", [US, DE], START, END)
    assert both.previous_period == _sum(con, "ordered_product_sales_reporting", [US, DE], *previous)
    assert both.same_period_last_year is None
    assert table.loc[(ALL, "sessions")].this_period == _sum(con, "sessions", [US, DE], START, END)
    words = compared.markdown()
    assert "- US: ordered product sales 73.50 USD; previous period 64.50 USD, +14.0 %\n" in words
    assert "- DE: ordered product sales 42.00 EUR; previous period 33.00 EUR, +27.3 %; same " \
           "period last year 120.00 EUR, -65.0 %" in words  # fmt: skip
    shown = formatted(compared)
    assert shown.loc[("DE", "ordered product sales")].same_period_last_year == "120.00 EUR"
    assert shown.loc[(ALL, "units ordered")].this_period == "33"
    assert shown.loc[("US", "ordered product sales")]["last_year_change_%"] == "-"


def test_no_total_in_one_currency_when_a_day_was_not_converted(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    write_rows(lake, mart("sales_daily"), [_day(US, START, 1, "10.00"),
                                           _day(DE, START, 1, "10.00", rate=None)])  # fmt: skip
    compared = compare(scope(str(tmp_path), start=START, end=START))
    table = compared.table.set_index(["marketplace", "measure"])
    assert table.loc[(ALL, "ordered product sales")].this_period is None
    assert table.loc[(ALL, "units ordered")].this_period == 2
    assert any("no total sales in one currency" in note for note in compared.notes)


def test_money_has_its_currencys_minor_units():
    assert money(Decimal("1331.99"), "EUR") == "1,331.99 EUR"
    assert money(3780.0, "JPY") == "3,780 JPY"
    assert money(None, "USD") == "-"
    assert money(pd.NA, "USD") == "-"  # a nullable integer column's null


def test_a_tables_money_columns_are_shown_in_their_rows_or_the_reporting_currency():
    frame = pd.DataFrame({"currency": ["JPY", "EUR"], "revenue": [150272.0, Decimal("1331.99")],
                          "revenue_reporting": [1041.5, 1362.774]})  # fmt: skip
    shown = with_money(with_money(frame, ["revenue"]), ["revenue_reporting"], "USD")
    assert list(shown.revenue) == ["150,272 JPY", "1,331.99 EUR"]
    assert list(shown.revenue_reporting) == ["1,041.50 USD", "1,362.77 USD"]
    assert list(frame.revenue_reporting) == [1041.5, 1362.774]  # the data is left as it was


def test_a_null_count_from_a_nullable_column_is_no_figure():
    counts = pd.Series([3, None], dtype="Int64")
    assert [_number(v, True) for v in counts] == [3, None]
    assert country(pd.NA) == "all"
