"""The claims check: it holds on a lake whose figures the reports show, and says FAILED with
both figures when a shown figure is not the lake's."""

from __future__ import annotations

from decimal import Decimal

from spapi_toolkit.analysis import scope
from spapi_toolkit.analysis.claims import _equal, check
from spapi_toolkit.lake.marts import mart
from spapi_toolkit.lake.storage import Lake

from ..lakefiles import write_rows
from .test_periods import DE, END, START, US, _day, _days


def test_the_opening_totals_hold_on_the_lake(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    rows = []
    for n, day in enumerate(_days(START, 3)):
        rows += [_day(US, day, 2 + n, f"{20 + n}.50"), _day(DE, day, 1 + n, f"{10 + n}.00")]
    write_rows(lake, mart("sales_daily"), rows)
    claims = check(scope(str(tmp_path), start=START, end=END))
    assert [c.claim.split(" equals")[0] for c in claims] == [
        "DE ordered product sales", "US ordered product sales",
        "sales across marketplaces (reporting currency)",
        "every ASIN flagged for low conversion converts below its marketplace's median, is in "
        "its top quarter of page views and has 20+ sessions"]  # fmt: skip
    assert all(c.holds for c in claims), [c.line() for c in claims]


def test_a_figure_that_is_not_the_lakes_fails_with_both():
    claim = _equal("01", "US ordered product sales", Decimal("10.00"), Decimal("10.01"))
    assert not claim.holds
    assert claim.line() == ("- FAILED: 01: US ordered product sales equals the SUM over "
                            "aggregated.sales_daily (shown 10.00, SQL 10.01)")  # fmt: skip
