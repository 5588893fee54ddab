"""A week of sandbox reports in US, DE and JP, landed and curated: what the curation tests share
(the ``curated`` fixture of conftest.py builds it once per session)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.clock import ManualClock
from spapi_toolkit.ingest.jobs import IngestSettings, ReportIngestor
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.lake.curate import jobs
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..reconcile import DE, JP, US

SELLER = "A2SANDBOXSELLER1"
TODAY = date(2026, 11, 28)
FIRST, LAST = date(2026, 11, 10), date(2026, 11, 16)  # settled: final numbers
DATASETS = "orders_by_order_date,orders_by_last_update,sales_traffic_by_asin,merchant_listings"
KEY = b"test-hmac-key"
CLOCK = ManualClock(datetime(2026, 11, 28, 7, tzinfo=UTC))


def ingest(sandbox, lake: Lake, first: date, last: date) -> None:
    client = SpApiClient.from_env(env=sandbox.env)
    requests = plan(select(DATASETS), SELLER, (US, DE, JP), first, last, TODAY).requests
    settings = IngestSettings(time_scale=client.time_scale, poll_seconds=0.5)
    stats = ReportIngestor(client, lake, SELLER, settings).run(requests)
    assert stats.failed == 0, stats.errors


def curate(spark, lake: Lake, **options) -> dict[str, jobs.TableResult]:
    results = jobs.raw_to_cleaned(spark, lake, hash_key=KEY, clock=CLOCK, **options)
    return {r.table: r for r in results}
