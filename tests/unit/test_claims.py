"""The claims check: it holds on a lake whose figures the reports show, and says FAILED with
both figures when a shown figure is not the lake's. (Every claim against the demo's lake, and
each failing when its table is altered: tests/e2e/test_demo.py.)"""

from __future__ import annotations

from decimal import Decimal

from spapi_toolkit.analysis import scope
from spapi_toolkit.analysis.claims import _equal, check, same
from spapi_toolkit.lake.marts import mart
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import table

from ..lakefiles import write_rows
from .test_periods import DE, END, START, US, _day, _days


def test_the_opening_totals_hold_on_the_lake(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    rows = []
    for n, day in enumerate(_days(START, 3)):
        rows += [_day(US, day, 2 + n, f"{20 + n}.50"), _day(DE, day, 1 + n, f"{10 + n}.00")]
    write_rows(lake, mart("sales_daily"), rows)
    cleaned = [{k: row[k] for k in ("seller_id", "marketplace_id", "date", "child_asin",
                                     "currency", "units_ordered")} for row in rows]  # fmt: skip
    write_rows(lake, table("sales_traffic_by_asin"), cleaned)
    claims = check(scope(str(tmp_path), start=START, end=END))
    assert [c.claim.split(" equal")[0] for c in claims] == [
        "units ordered per marketplace", "DE ordered product sales", "US ordered product sales",
        "sales across marketplaces (reporting currency)",
        "every ASIN flagged for low conversion converts below its marketplace's median, is in "
        "its top quarter of page views and has 20+ sessions"]  # fmt: skip
    assert all(c.holds for c in claims), [c.line() for c in claims]


def test_a_figure_that_is_not_the_lakes_fails_with_both():
    claim = _equal("01", "US ordered product sales", Decimal("10.00"), Decimal("10.01"))
    assert not claim.holds
    assert claim.line() == ("- FAILED: 01: US ordered product sales equals the SUM over "
                            "aggregated.sales_daily (shown 10.00, SQL 10.01)")  # fmt: skip


def test_figures_compare_per_key_and_a_key_on_one_side_only_fails():
    holds = same("03", "orders", {US: 324, DE: 159}, {DE: 159, US: 324})
    assert holds.holds and holds.detail == "2: DE 159, US 324"
    assert same("03", "share", {US: 0.1 + 0.2}, {US: 0.3}).holds  # floating point, 1e-9
    assert same("02", "flagged", {}, {}).detail == "none"
    assert same("02", "flagged", {(US, "B01"): True}, {(US, "B01"): True}).detail == "1: US B01"
    missed = same("02", "flagged", {(US, "B01"): True}, {(US, "B01"): True, (DE, "B02"): True})
    assert not missed.holds and missed.detail == "DE B02: shown nothing, SQL True"
    wrong = same("03", "orders", {US: 324}, {US: 323})
    assert not wrong.holds and wrong.detail == "US: shown 324, SQL 323"
    assert not same("03", "share", {US: None}, {US: 0.0}).holds
    assert same("03", "share", {US: None}, {US: None}).holds
    assert same("03", "share", {US: float("nan")}, {US: None}).holds  # pandas' and SQL's null


def test_units_are_counted_from_data_kiosk_on_the_days_the_report_does_not_hold(tmp_path):
    """History may come from Data Kiosk (issue 23): the 00 claim counts a day from the Sales &
    Traffic report when it holds it, else from Data Kiosk's one-day window, as sales_daily."""
    lake = Lake.from_uri(str(tmp_path))
    days = _days(START, 3)
    rows = [_day(US, day, 2 + n, f"{20 + n}.50") for n, day in enumerate(days)]
    write_rows(lake, mart("sales_daily"), rows)
    report = [{k: row[k] for k in ("seller_id", "marketplace_id", "date", "child_asin",
                                    "currency", "units_ordered")} for row in rows[:2]]  # fmt: skip
    write_rows(lake, table("sales_traffic_by_asin"), report)

    def kiosk(row, units):
        return {"seller_id": row["seller_id"], "marketplace_id": row["marketplace_id"],
                "start_date": row["date"], "end_date": row["date"],
                "child_asin": row["child_asin"], "currency": row["currency"],
                "units_ordered": units}  # fmt: skip

    # The report holds the first day: Data Kiosk's other figure for it is not counted.
    write_rows(lake, table("kiosk_sales_traffic"), [kiosk(rows[0], 99), kiosk(rows[2], 4)])
    [claim] = [c for c in check(scope(str(tmp_path), start=START, end=END))
               if c.claim.startswith("units ordered per marketplace")]  # fmt: skip
    assert claim.holds, claim.line()
    assert claim.detail == "1: US 9"  # 2 + 3 from the report, 4 from Data Kiosk
