"""Which mart partitions a changed cleaned partition rebuilds, and which cleaned partitions a
rebuild reads (the incremental rule of ``lake/curate/aggregate.py``), without Spark."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from spapi_toolkit.lake import marts as contracts
from spapi_toolkit.lake.curate import aggregate

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"

MART = """
[marts.m]
description = "d"
from_table = "fba_inventory"
day_boundary = "the snapshot day"
period = "PERIOD"
reads = { order_items = 30, fba_inventory = 2 }
key = ["marketplace_id", "date"]
partition_by = ["marketplace_id", "date"]
[marts.m.columns]
marketplace_id = { type = "string", doc = "Marketplace" }
date = { type = "date", doc = "Day" }
"""


def _mart(period: str = "day") -> contracts.Mart:
    return contracts._load(MART.replace("PERIOD", period))["m"]


def _snapshot(marketplace: str, day: str) -> str:
    return f"marketplace_id={marketplace}/snapshot_date={day}"


def _orders(marketplace: str, day: str) -> str:
    return f"marketplace_id={marketplace}/purchase_date={day}"


@pytest.mark.parametrize(
    ("period", "day", "first", "last"),
    [
        ("day", date(2026, 11, 12), date(2026, 11, 12), date(2026, 11, 12)),
        ("week", date(2026, 11, 12), date(2026, 11, 8), date(2026, 11, 14)),  # Thu -> Sun..Sat
        ("week", date(2026, 11, 8), date(2026, 11, 8), date(2026, 11, 14)),  # a Sunday
        ("month", date(2026, 2, 17), date(2026, 2, 1), date(2026, 2, 28)),
        ("month", date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_a_day_falls_in_one_period(period, day, first, last):
    assert aggregate.period_start(day, period) == first
    assert aggregate.period_end(first, period) == last


def test_a_changed_snapshot_rebuilds_its_day_and_the_days_whose_history_holds_it():
    mart = _mart()
    days = [f"2026-11-{d:02d}" for d in range(10, 16)]
    targets = {(US, date.fromisoformat(d)) for d in days} | {(DE, date(2026, 11, 12))}
    changes = {"fba_inventory": [_snapshot(US, "2026-11-12")], "order_items": []}
    stale = aggregate._affected(mart, changes, targets)
    # the 12th itself, and the 13th and 14th, which read two days of inventory history
    assert stale == {(US, date(2026, 11, d)) for d in (12, 13, 14)}


def test_a_changed_order_day_rebuilds_the_periods_whose_window_holds_it_in_its_marketplace():
    mart = _mart("week")
    weeks = {(US, date(2026, 11, 1)), (US, date(2026, 11, 8)), (US, date(2026, 12, 13)),
             (DE, date(2026, 11, 8))}  # fmt: skip
    changes = {"fba_inventory": [], "order_items": [_orders(US, "2026-11-05")]}
    stale = aggregate._affected(mart, changes, weeks)
    # week of Nov 1 holds the 5th; week of Nov 8 reads 30 days back; Dec 13 does not; DE not
    assert stale == {(US, date(2026, 11, 1)), (US, date(2026, 11, 8))}


def test_a_gone_from_table_partition_is_stale_even_without_rows_left():
    mart = _mart()
    changes = {"fba_inventory": [_snapshot(US, "2026-11-20")], "order_items": []}
    assert aggregate._affected(mart, changes, set()) == {(US, date(2026, 11, 20))}


def test_changed_and_gone_partitions_are_both_changes():
    built = {"a": ["1.parquet"], "b": ["2.parquet"], "c": ["3.parquet"]}
    current = {"a": ["1.parquet"], "b": ["4.parquet"], "d": ["5.parquet"]}
    assert aggregate._changed(built, current) == ["b", "c", "d"]


def test_a_rebuild_reads_only_the_partitions_in_its_windows():
    mart = _mart("week")
    week = {(US, date(2026, 11, 8))}  # Sun 8th .. Sat 14th
    snapshots = [_snapshot(m, f"2026-11-{d:02d}") for m in (US, DE) for d in (5, 6, 8, 14, 15)]
    assert aggregate.needed(mart, "fba_inventory", snapshots, week) == [
        _snapshot(US, f"2026-11-{d:02d}")
        for d in (6, 8, 14)  # 2 days before the 8th
    ]
    orders = [_orders(US, "2026-10-08"), _orders(US, "2026-10-09"), _orders(US, "2026-11-14")]
    assert aggregate.needed(mart, "order_items", orders, week) == orders[1:]  # 30 days back
    assert aggregate.needed(mart, "order_items", orders, set()) == []


def test_a_mart_whose_columns_changed_is_rebuilt_whole(tmp_path):
    from dataclasses import replace

    from spapi_toolkit.clock import ManualClock
    from spapi_toolkit.lake.marts import MartColumn
    from spapi_toolkit.lake.storage import Lake

    lake, mart = Lake.from_uri(str(tmp_path)), _mart()
    inputs = {"fba_inventory": {_snapshot(US, "2026-11-12"): ["part-1.parquet"]},
              "order_items": {}}  # fmt: skip
    aggregate._write_state(lake, mart, inputs, ManualClock(datetime(2026, 11, 28, tzinfo=UTC)))
    assert aggregate._read_state(lake, mart) == inputs
    grown = replace(mart, columns=(*mart.columns, MartColumn("units", "int", "Units")))
    assert aggregate._read_state(lake, grown) is None  # its files lack the column: rebuild
    assert aggregate._read_state(lake, replace(mart, period="week")) is None
