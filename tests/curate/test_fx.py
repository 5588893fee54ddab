"""The reporting currency: the FX file's checks (every bad line named, nothing landed), the
rate-date rule on hand-made rows (a weekend uses Friday's rate, 7 days old is the limit, no
look-ahead, the reporting currency converts at 1, cents rounded half up, money ratios rebuilt
from converted parts), and the loaded sandbox file curated into fx_rates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.curate.marts import fx
from spapi_toolkit.lake.marts import mart, marts
from spapi_toolkit.lake.reference import ReferenceFileError, check_fx_rates, load_reference
from spapi_toolkit.lake.storage import Lake

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
FRIDAY = date(2026, 11, 13)
FX = "seller_id string, rate_date date, currency string, reporting_currency string, rate double"
SALES = (
    "seller_id string, marketplace_id string, date date, parent_asin string, child_asin string,"
    " currency string, ordered_product_sales decimal(18,2), ordered_product_sales_b2b"
    " decimal(18,2), units_ordered bigint, units_ordered_b2b bigint, total_order_items bigint,"
    " total_order_items_b2b bigint, page_views bigint, sessions bigint, buy_box_share double,"
    " unit_session_rate double"
)
HEADER = "rate_date,currency,reporting_currency,rate\n"


def _sales(day: date, market: str, currency: str, sales: str, units: int = 3) -> tuple:
    return ("S1", market, day, "B0P", f"B0{market[:4]}{day.day}", currency, Decimal(sales),
            Decimal("0.00"), units, 0, units, 0, 10, 5, 1.0, 0.5)  # fmt: skip


def _rates(spark, rows):
    return spark.createDataFrame([("reference", *r) for r in rows], FX)


def test_every_mart_that_converts_reads_exactly_the_rules_lookback():
    converting = [m for m in marts().values() if "fx_rate" in {c.name for c in m.columns}]
    assert {m.name for m in converting} >= {"sales_daily", "orders_daily"}
    for contract in converting:
        assert dict(contract.reads)["fx_rates"] == fx.MAX_RATE_AGE_DAYS, contract.name


def test_the_rate_date_rule_on_hand_made_rows(spark):
    rates = _rates(spark, [
        (FRIDAY, "EUR", "USD", 1.1),  # a Friday: the weekend after uses it
        (FRIDAY - timedelta(days=1), "EUR", "USD", 1.0),
        (FRIDAY + timedelta(days=3), "EUR", "USD", 1.2),  # Monday: not before it (no look-ahead)
        (FRIDAY - timedelta(days=14), "JPY", "USD", 0.0067),
        (FRIDAY, "USD", "USD", 9.0),  # never used: USD converts at 1 (the loader refuses it too)
    ])  # fmt: skip
    saturday, sunday = FRIDAY + timedelta(days=1), FRIDAY + timedelta(days=2)
    rows = [
        _sales(saturday, DE, "EUR", "10.05"),
        _sales(sunday, DE, "EUR", "100.00"),
        _sales(FRIDAY + timedelta(days=3), DE, "EUR", "1.00"),
        _sales(FRIDAY + timedelta(days=7), DE, "EUR", "1.00"),  # Friday's rate, 7 days old: used
        _sales(FRIDAY + timedelta(days=11), DE, "EUR", "1.00"),  # Monday's + 8 days: too old
        _sales(FRIDAY - timedelta(days=7), JP, "JPY", "1000.00"),  # 7 days after JPY's rate
        _sales(FRIDAY - timedelta(days=6), JP, "JPY", "1000.00"),  # 8 days: null
        _sales(FRIDAY, US, "USD", "12.34"),
    ]
    built = transforms.build(mart("sales_daily"), {
        "sales_traffic_by_asin": spark.createDataFrame(rows, SALES), "fx_rates": rates,
    }).localCheckpoint()  # fmt: skip
    got = built.collect()
    by = {(r.marketplace_id, r.date): r for r in got}
    sat = by[(DE, saturday)]
    assert (sat.fx_rate, sat.fx_rate_date, sat.reporting_currency) == (1.1, FRIDAY, "USD")
    assert sat.ordered_product_sales_reporting == Decimal("11.06")  # 11.055 rounded half up
    assert sat.average_selling_price_reporting == Decimal("3.69")  # 11.06 / 3, not 3.35 x 1.1
    assert by[(DE, sunday)].ordered_product_sales_reporting == Decimal("110.00")
    assert by[(DE, FRIDAY + timedelta(days=3))].fx_rate == 1.2
    assert by[(DE, FRIDAY + timedelta(days=7))].fx_rate_date == FRIDAY + timedelta(days=3)
    too_old = by[(DE, FRIDAY + timedelta(days=11))]
    assert too_old.fx_rate is None and too_old.ordered_product_sales_reporting is None
    assert too_old.reporting_currency == "USD" and too_old.ordered_product_sales == Decimal("1.00")
    assert by[(JP, FRIDAY - timedelta(days=7))].ordered_product_sales_reporting == Decimal("6.70")
    assert by[(JP, FRIDAY - timedelta(days=6))].fx_rate is None
    usd = by[(US, FRIDAY)]
    assert (usd.fx_rate, usd.fx_rate_date, usd.ordered_product_sales_reporting) == (
        1.0, FRIDAY, Decimal("12.34"))  # fmt: skip
    assert fx.unconverted(built) == 2


def test_without_fx_rows_the_reporting_money_is_null_and_several_currencies_are_refused(spark):
    rows = spark.createDataFrame([_sales(FRIDAY, DE, "EUR", "5.00")], SALES)
    [row] = transforms.build(mart("sales_daily"), rows).collect()
    assert (row.reporting_currency, row.fx_rate, row.ordered_product_sales_reporting) == (
        None, None, None)  # fmt: skip
    assert row.ordered_product_sales == Decimal("5.00")
    mixed = _rates(spark, [(FRIDAY, "EUR", "USD", 1.1), (FRIDAY, "USD", "EUR", 0.9)])
    with pytest.raises(fx.FxError, match=r"several currencies \['EUR', 'USD'\]"):
        transforms.build(mart("sales_daily"), {"sales_traffic_by_asin": rows, "fx_rates": mixed})


def test_a_malformed_fx_file_is_refused_whole_with_each_line_and_column(tmp_path):
    bad = tmp_path / "rates.csv"
    bad.write_text(HEADER + "2026-11-13,EUR,USD,1.1\n2026-11-31,EUR,USD,1.1\n2026-11-14,EU,USD,"
                   "0\n2026-11-13,EUR,USD,1.2\n2026-11-16,JPY,USD,1.23456789012\n2026-11-16,JPY,"
                   "EUR,0.006\n2026-11-17,EUR\n")  # fmt: skip
    lake = Lake.from_uri(str(tmp_path / "lake"))
    with pytest.raises(ReferenceFileError) as caught:
        load_reference(lake, "fx_rates", bad)
    message = str(caught.value)
    for expected in (f"{bad}: 7 problem(s), nothing loaded",
                     "line 3 column rate_date: '2026-11-31' is not a date",
                     "line 4 column currency: 'EU' is not an ISO 4217 code",
                     "line 4 column rate: '0' is not a positive decimal",
                     "line 5: EUR on 2026-11-13 again (first on line 2)",
                     "line 6 column rate: '1.23456789012' is not a positive decimal with at most "
                     "10 decimals", "several reporting currencies: USD (line 2), EUR (line 7)",
                     "line 8: 2 fields, the header has 4"):  # fmt: skip
        assert expected in message
    assert not list(lake.list(""))  # nothing written
    with pytest.raises(ReferenceFileError, match=r"line 1: the header lacks \['rate'\], has "
                                                 r"unknown \['fx'\]"):  # fmt: skip
        check_fx_rates(b"rate_date,currency,reporting_currency,fx\n", "f.csv")
    with pytest.raises(ReferenceFileError, match="the file has a header only"):
        check_fx_rates(HEADER.encode(), "f.csv")
    with pytest.raises(ReferenceFileError, match=r"not UTF-8 \(byte 4\)"):
        check_fx_rates(b"rate\xff", "f.csv")


def test_a_good_file_lands_once_and_a_second_reporting_currency_is_refused(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    good = tmp_path / "rates.csv"
    good.write_text('"rate_date","currency","reporting_currency","rate"\r\n'
                    "2026-11-16,JPY,USD,0.0067\r\n2026-11-13,EUR,USD,1.1\r\n")  # fmt: skip
    manifest, checked = load_reference(lake, "fx_rates", good)
    assert (checked.rows, checked.first, checked.last) == (2, FRIDAY, date(2026, 11, 16))
    assert manifest.key.startswith("raw/source=spapi/dataset=fx_rates/seller_id=reference/"
                                   "marketplace_id=all/dt=2026-11-13/fx_rates-")  # fmt: skip
    assert manifest.request["reporting_currency"] == "USD" and manifest.rows == 2
    again, _ = load_reference(lake, "fx_rates", good)
    assert again == manifest  # the same file lands nothing new
    euro = tmp_path / "euro.csv"
    euro.write_text(HEADER + "2026-11-13,USD,EUR,0.9\n")
    with pytest.raises(ReferenceFileError, match=r"converts into EUR, but the lake's fx_rates "
                                                 r"convert into USD"):  # fmt: skip
        load_reference(lake, "fx_rates", euro)
