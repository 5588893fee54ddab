"""A new seller's history from the faster source (issue 23), against the sandbox's truth.

Sixty-five days of ``sales_traffic_by_asin`` in US, DE and JP, planned with one source per day
as ``spapi ingest`` plans it: the settled history comes from Data Kiosk (the same figures, a
query a minute against the report's 4 an hour), the restated tail from the report. Five days
later the daily run pulls that tail again, settled now, still of the report (a day it pulled
stays its own). Curated, ``sales_daily`` then equals the seller's truth on every day of the
period whichever source holds it, and says which. (The plan's ETA against the measured run:
``benchmarks/bench_backfill.py``.)
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.lake.curate import jobs
from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..support import END_DATE

MARKETS = ("ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528")  # US, DE, JP
DAYS = 65
FIRST, LAST = END_DATE - timedelta(days=DAYS - 1), END_DATE
SCALE = 600  # ten simulated minutes a second: Data Kiosk's query a minute, six a second


def _run(lake: Lake, today_offset: int):
    """One run of the period from a sandbox whose clock starts at 06:00 UTC, ``today_offset``
    days after the seller's last day; the run and the seller."""
    start = datetime.combine(END_DATE + timedelta(days=today_offset), time(6), UTC)
    # Document URLs last an hour, not five minutes: half a real second at this clock's speed
    # would make a busy machine's downloads a race against the URL.
    with run_sandbox(scale=SCALE, days=DAYS + 10, seed=7, end_date=END_DATE, start=start,
                     url_lifetime=3600.0) as sandbox:  # fmt: skip
        seller_id = sandbox.seller_ids[0]
        run = run_seller(SellerRun(seller_id, SpApiClient.from_env(env=sandbox.env)), lake,
                         select("sales_traffic_by_asin"), MARKETS, FIRST, LAST, start.date(),
                         one_source=True)  # fmt: skip
        return run, sandbox.app.seller


@pytest.fixture(scope="module")
def backfilled(spark, tmp_path_factory):
    lake = Lake.from_uri(str(tmp_path_factory.mktemp("backfill")))
    first, seller = _run(lake, 1)
    later, _ = _run(lake, 5)
    for run in (first, later):
        assert not run.failures, run.failures[:3]
    results = jobs.raw_to_cleaned(spark, lake, ["sales_traffic_by_asin", "kiosk_sales_traffic"])
    marts = cleaned_to_aggregated(spark, lake, names=["sales_daily"])
    rows = spark.read.parquet(lake.location("aggregated/sales_daily")).collect()
    return lake, first, later, results, marts, rows, seller.truth(FIRST, LAST)


def test_history_came_from_data_kiosk_and_the_restated_tail_from_the_report(backfilled):
    _, first, later, *_ = backfilled
    assert first.kiosk is not None and first.reports is not None
    assert first.kiosk.landed + first.kiosk.no_data >= (DAYS - 5) * len(MARKETS)
    assert 0 < first.reports.planned <= 5 * len(MARKETS)  # the days still restated
    assert any("asked of kiosk_sales_traffic instead" in note for note in first.notes)
    # Five days on, the tail has settled: its final pull is the report's again, nothing else.
    assert later.kiosk is None or later.kiosk.landed == 0
    assert later.reports is not None and later.reports.landed == first.reports.planned


def test_sales_daily_equals_the_truth_on_every_day_whichever_source_holds_it(backfilled):
    *_, results, marts, rows, truth = backfilled
    assert all(not r.failures and r.reconciles for r in results)
    [mart] = marts
    assert not mart.failures and mart.partitions == DAYS * len(MARKETS)
    got = {(r.marketplace_id, r.date, r.child_asin): r for r in rows}
    assert len(got) == len(rows)
    expected = {(t["marketplace_id"], t["date"], t["asin"]): t for t in truth
                if t["units_ordered"] or t["sessions"]}  # fmt: skip
    assert len(expected) > 1000
    for key, want in expected.items():
        row = got[key]
        assert (row.units_ordered, row.ordered_product_sales, row.sessions) == (
            want["units_ordered"], Decimal(str(want["ordered_product_sales"])),
            want["sessions"]), key  # fmt: skip
    # Rows of ASINs the truth has no orders or sessions for sold nothing.
    assert all(not r.units_ordered for k, r in got.items() if k not in expected)
    sources = {(r.date, r.sales_source) for r in rows}
    assert {d for d, s in sources if s == "sales_traffic_report"} >= {
        LAST - timedelta(days=n) for n in range(3)}  # fmt: skip
    assert {d for d, s in sources if s == "data_kiosk"} >= {FIRST + timedelta(days=n)
                                                            for n in range(DAYS - 5)}  # fmt: skip


def test_spapi_quality_checks_each_days_totals_against_the_source_it_was_built_from(
    spark, backfilled
):
    """The published check (``spapi quality``) compares a day's totals with Data Kiosk's rows
    where the mart took the day from them, as the job's gate does, not with the report's."""
    from spapi_toolkit.lake.quality.published import check_published

    lake = backfilled[0]
    [outcome] = check_published(spark, lake, ["sales_daily"])
    assert outcome.success, outcome.failures
