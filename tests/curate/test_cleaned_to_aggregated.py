"""cleaned → aggregated end to end, on the curated sandbox week (conftest's ``curated``): the
marts equal the seller's truth, orders_daily reconciles with sales_daily, a rerun rebuilds
nothing, and a changed or vanished cleaned partition rebuilds or removes only its own."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from spapi_sandbox.fx import fx_rates, fx_rates_csv
from spapi_toolkit.clock import ManualClock
from spapi_toolkit.lake.curate import aggregate, jobs
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.reference import load_reference
from spapi_toolkit.lake.storage import Lake

from ..reconcile import US
from .week import FIRST, LAST

CLOCK = ManualClock(datetime(2026, 11, 28, 8, tzinfo=UTC))


def _aggregate(spark, lake: Lake, **options) -> dict[str, aggregate.MartResult]:
    results = aggregate.cleaned_to_aggregated(spark, lake, clock=CLOCK, **options)
    return {r.mart: r for r in results}


@pytest.fixture(scope="module")
def aggregated(spark, curated, tmp_path_factory):
    """The curated week with the sandbox's FX file loaded and curated, then aggregated."""
    root = tmp_path_factory.mktemp("aggregated") / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    fx_file = root.parent / "fx_rates.csv"
    fx_file.write_bytes(fx_rates_csv(FIRST - timedelta(days=7), LAST))
    load_reference(lake, "fx_rates", fx_file, clock=CLOCK)
    [fx_result] = jobs.raw_to_cleaned(spark, lake, ["fx_rates"], clock=CLOCK)
    assert fx_result.rows_out > 0 and fx_result.reconciles and not fx_result.quarantined
    return root, lake, _aggregate(spark, lake), curated[3]


def _mart(spark, root: Path, name: str):
    return spark.read.parquet(str(root / "aggregated" / name))


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}  # fmt: skip


def test_sales_daily_equals_the_truth_and_the_cleaned_table(spark, aggregated):
    root, _, results, truth = aggregated
    assert results["sales_daily"].partitions == 7 * 3  # a week in three marketplaces
    rows = _mart(spark, root, "sales_daily").collect()
    got = {(str(r.date), r.marketplace_id, r.child_asin): (r.units_ordered, r.ordered_product_sales)
           for r in rows if r.units_ordered}  # fmt: skip
    expected = {(str(t["date"]), t["marketplace_id"], t["asin"]):
                (t["units_ordered"], Decimal(str(t["ordered_product_sales"])))
                for t in truth if t["units_ordered"]}  # fmt: skip
    assert len(expected) > 100 and got == expected
    cleaned = spark.read.parquet(str(root / "cleaned" / "sales_traffic_by_asin"))
    assert len(rows) == cleaned.count()
    for r in rows:
        if r.sessions:
            assert r.unit_session_rate == pytest.approx(r.units_ordered / r.sessions)
        if r.units_ordered:
            asp = r.ordered_product_sales / r.units_ordered  # cents rounded half up
            assert r.average_selling_price == asp.quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_orders_daily_reconciles_with_sales_daily_on_the_settled_week(spark, aggregated):
    root, _, results, truth = aggregated
    orders = _mart(spark, root, "orders_daily")
    week = orders.where(orders.date.between(FIRST, LAST))
    units: dict[tuple[str, str, str], int] = {}
    for r in week.collect():
        key = (str(r.date), r.marketplace_id, r.asin)
        units[key] = units.get(key, 0) + r.units
    expected = {(str(t["date"]), t["marketplace_id"], t["asin"]): t["units_ordered"]
                for t in truth if t["units_ordered"]}  # fmt: skip
    assert {k: v for k, v in units.items() if v} == expected
    differences = transforms.orders_against_sales(week, _mart(spark, root, "sales_daily"))
    unexplained = differences.where(differences.reasons.contains("unexplained")).collect()
    assert unexplained == []
    assert differences.where(differences.units_difference != 0).count() == 0
    assert results["orders_daily"].rows_out == orders.count() > 0


def test_a_rerun_rebuilds_nothing(spark, aggregated):
    root, lake, _, _ = aggregated
    before = _files(root / "aggregated")
    again = _aggregate(spark, lake)
    assert all((r.changed, r.removed, r.partitions) == (0, 0, 0) for r in again.values())
    assert _files(root / "aggregated") == before


def test_a_rewritten_cleaned_partition_rebuilds_only_its_mart_partition(spark, aggregated,
                                                                       tmp_path):  # fmt: skip
    root = tmp_path / "lake"
    shutil.copytree(aggregated[0], root)
    lake = Lake.from_uri(str(root))
    cleaned = root / "cleaned" / "sales_traffic_by_asin"
    day, gone = f"marketplace_id={US}/date=2026-11-12", f"marketplace_id={US}/date=2026-11-13"
    rows = spark.read.parquet(str(cleaned)).where(f"marketplace_id = '{US}'")
    rows = rows.where(rows.date == date(2026, 11, 12))
    units = sum(r.units_ordered for r in rows.collect())
    doubled = rows.withColumn("units_ordered", rows.units_ordered * 2).localCheckpoint()
    doubled.write.mode("overwrite").partitionBy("marketplace_id", "date").parquet(str(cleaned))
    shutil.rmtree(cleaned / gone)
    mart = root / "aggregated" / "sales_daily"
    before = _files(mart)

    result = _aggregate(spark, lake, names=["sales_daily"])["sales_daily"]

    assert (result.changed, result.removed, result.partitions) == (2, 1, 1)  # rewritten, gone
    after = _files(mart)
    untouched = {k: v for k, v in before.items() if not k.startswith((day, gone))}
    assert {k: v for k, v in after.items() if not k.startswith(day)} == untouched
    assert after.keys() != before.keys()  # the rebuilt partition's files are new ones
    rebuilt = _mart(spark, root, "sales_daily").where(f"marketplace_id = '{US}'").collect()
    assert sum(r.units_ordered for r in rebuilt if r.date == date(2026, 11, 12)) == 2 * units
    assert not [r for r in rebuilt if r.date == date(2026, 11, 13)]


def test_sales_daily_reports_the_truth_in_usd_at_the_sandboxs_rates(spark, aggregated):
    root, _, results, truth = aggregated
    rates = {(day, currency): rate for day, currency, rate in fx_rates(FIRST - timedelta(days=7),
                                                                       LAST)}  # fmt: skip
    rows = _mart(spark, root, "sales_daily").collect()
    checked = 0
    for t in truth:
        if not t["units_ordered"]:
            continue
        [row] = [r for r in rows if (r.date, r.marketplace_id, r.child_asin) ==
                 (t["date"], t["marketplace_id"], t["asin"])]  # fmt: skip
        sales = Decimal(str(t["ordered_product_sales"]))
        if t["currency"] == "USD":
            rate, day = Decimal(1), t["date"]
        else:  # the latest business day on or before the day (a weekend uses Friday's)
            day = max(d for d, c in rates if c == t["currency"] and d <= t["date"])
            rate = rates[(day, t["currency"])]
        assert (row.reporting_currency, row.fx_rate_date) == ("USD", day)
        expected = (sales * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert row.ordered_product_sales_reporting == expected
        checked += 1
    assert checked > 100 and {r.currency for r in rows} == {"USD", "EUR", "JPY"}
    assert results["sales_daily"].unconverted == 0 and results["orders_daily"].unconverted == 0


def test_sales_daily_takes_data_kiosks_shipped_and_refunded_units_of_each_day(
    spark, curated, snapshots, tmp_path_factory
):
    """Data Kiosk is asked one day per query: its shipped units and sales and refunded units fill
    sales_daily's columns of that day, equal to the cleaned kiosk rows of the day (the week's
    Sales & Traffic of Nov 10-16 beside the snapshot lake's Data Kiosk days of Nov 2-15). Data
    Kiosk landing after the mart was built rebuilds the partitions of its days, only those."""
    root = tmp_path_factory.mktemp("kiosk_days") / "lake"
    shutil.copytree(curated[0] / "cleaned" / "sales_traffic_by_asin",
                    root / "cleaned" / "sales_traffic_by_asin")  # fmt: skip
    lake = Lake.from_uri(str(root))
    first = _aggregate(spark, lake, names=["sales_daily"])["sales_daily"]
    assert first.partitions == 7 * 3
    before = _mart(spark, root, "sales_daily").collect()
    assert all(r.units_shipped is None and r.units_refunded is None for r in before)

    shutil.copytree(snapshots[0] / "cleaned" / "kiosk_sales_traffic",
                    root / "cleaned" / "kiosk_sales_traffic")  # fmt: skip
    result = _aggregate(spark, lake, names=["sales_daily"])["sales_daily"]

    kiosk_rows = spark.read.parquet(str(root / "cleaned" / "kiosk_sales_traffic")).collect()
    assert kiosk_rows and all(r.start_date == r.end_date for r in kiosk_rows)
    kiosk = {(r.marketplace_id, r.start_date, r.child_asin):
             (r.units_shipped, r.shipped_product_sales, r.units_refunded)
             for r in kiosk_rows if FIRST <= r.start_date <= LAST}  # fmt: skip
    assert {d for _, d, _ in kiosk} == {FIRST + timedelta(days=n) for n in range(6)}  # to Nov 15
    # The days Data Kiosk has: Nov 10-15 gain its shipped and refunded units, Nov 2-9 (no
    # Sales & Traffic report) come from it alone; Nov 16 is left as it was.
    assert result.partitions == 14 * 3 and not result.failures
    everything = _mart(spark, root, "sales_daily").collect()
    rows = [r for r in everything if r.date >= FIRST]
    early = [r for r in everything if r.date < FIRST]
    assert {r.sales_source for r in rows} == {"sales_traffic_report"}
    assert early and {r.sales_source for r in early} == {"data_kiosk"}
    assert {(r.marketplace_id, r.date, r.child_asin): r.units_ordered for r in early} == {
        (r.marketplace_id, r.start_date, r.child_asin): r.units_ordered
        for r in kiosk_rows if r.start_date < FIRST}  # fmt: skip
    got = {(r.marketplace_id, r.date, r.child_asin):
           (r.units_shipped, r.shipped_product_sales, r.units_refunded) for r in rows}  # fmt: skip
    assert {k: v for k, v in got.items() if k[1] != LAST} == kiosk
    assert all(v == (None, None, None) for k, v in got.items() if k[1] == LAST)
    assert sum(v[0] for v in kiosk.values()) > 0 and sum(v[2] for v in kiosk.values()) > 0
    for r in rows:
        if r.units_refunded is not None and r.units_ordered:
            assert r.refund_rate == pytest.approx(r.units_refunded / r.units_ordered)
    # the Sales & Traffic columns are those of the first build; an ASIN that only shipped or
    # had refunds that day is in Data Kiosk alone and gets a row with them null
    assert {(r.marketplace_id, r.date, r.child_asin, r.units_ordered) for r in rows
            if r.sessions is not None} == {
        (r.marketplace_id, r.date, r.child_asin, r.units_ordered) for r in before}  # fmt: skip
    kiosk_only = [r for r in rows if r.sessions is None]
    assert kiosk_only and all(r.units_ordered is None and (r.units_shipped or r.units_refunded)
                              for r in kiosk_only)  # fmt: skip


def test_a_report_landing_for_a_day_data_kiosk_held_takes_it_over(
    spark, curated, snapshots, tmp_path_factory
):
    """The other order: Data Kiosk's days first (a backfill), then the week's Sales & Traffic
    reports: the report's days are rebuilt from the report (its figures, its source), the
    rest stay Data Kiosk's, and each rebuilt day's totals are checked against the report."""
    root = tmp_path_factory.mktemp("kiosk_first") / "lake"
    shutil.copytree(snapshots[0] / "cleaned" / "kiosk_sales_traffic",
                    root / "cleaned" / "kiosk_sales_traffic")  # fmt: skip
    lake = Lake.from_uri(str(root))
    first = _aggregate(spark, lake, names=["sales_daily"])["sales_daily"]
    assert first.partitions == 14 * 3 and not first.failures  # Nov 2-15, Data Kiosk's alone
    assert {r.sales_source for r in _mart(spark, root, "sales_daily").collect()} == {"data_kiosk"}

    shutil.copytree(curated[0] / "cleaned" / "sales_traffic_by_asin",
                    root / "cleaned" / "sales_traffic_by_asin")  # fmt: skip
    result = _aggregate(spark, lake, names=["sales_daily"])["sales_daily"]

    assert result.partitions == 7 * 3 and not result.failures  # Nov 10-16 rebuilt
    rows = _mart(spark, root, "sales_daily").collect()
    assert {r.sales_source for r in rows if r.date >= FIRST} == {"sales_traffic_report"}
    assert {r.sales_source for r in rows if r.date < FIRST} == {"data_kiosk"}
    report = spark.read.parquet(str(root / "cleaned" / "sales_traffic_by_asin")).collect()
    assert sum(r.units_ordered for r in rows if r.date >= FIRST and r.units_ordered) == sum(
        r.units_ordered for r in report)  # fmt: skip
