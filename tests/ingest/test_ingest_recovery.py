"""Ingestion's answers to the awkward cases a review found: which earlier reports may be
adopted, createReport never sent twice blindly, stuck reports, leaked URLs, storage failures."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from spapi_sandbox.http import Response, sp_api_error
from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.ratelimit import RateLimiter
from spapi_toolkit.ingest.jobs import CREATE_RETRY, IngestSettings, ReportIngestor, redact_urls
from spapi_toolkit.ingest.ledger import Ledger, covered_days
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..support import END_DATE

US = "ATVPDKIKX0DER"
SELLER = "A2SANDBOXSELLER1"


def test_a_settled_pull_never_reuses_the_provisional_report(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    orders = select("orders_by_order_date")
    with run_sandbox(end_date=END_DATE, scale=3600) as sb:
        client = SpApiClient.from_env(env=sb.env)
        for today in (date(2026, 11, 28), date(2026, 11, 30)):
            covered = covered_days(Ledger(lake).entries(SELLER))
            window = (date(2026, 11, 20), date(2026, 11, 25))
            requests = plan(orders, SELLER, [US], *window, today, covered).requests
            ReportIngestor(client, lake, SELLER).run(requests)
    entries = Ledger(lake).entries()
    ids = [e.report_id for e in entries]
    assert len(ids) == len(set(ids))  # every entry has a report of its own
    assert not any(e.reused for e in entries)


def test_in_flight_recovery_adopts_no_report_another_entry_holds(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    asin_days = select("sales_traffic_by_asin")
    with run_sandbox(end_date=END_DATE, scale=3600) as sb:
        client = SpApiClient.from_env(env=sb.env)
        day = date(2026, 11, 25)
        first = plan(asin_days, SELLER, [US], day, day, date(2026, 11, 27)).requests
        ReportIngestor(client, lake, SELLER).run(first)  # a provisional pull of Nov 25
        [second] = plan(asin_days, SELLER, [US], day, day, date(2026, 11, 28)).requests
        ingestor = ReportIngestor(client, lake, SELLER)
        crashed = ingestor._new_entry(second)  # written, then the process died before sending
        ingestor.ledger.move(crashed, "requesting", "attempt 1", attempts=1)
        stats = ReportIngestor(client, lake, SELLER).run([second])
    assert (stats.recovered, stats.requested, stats.landed) == (0, 1, 1)
    assert len({e.report_id for e in Ledger(lake).entries()}) == 2


def test_create_report_is_not_retried_after_a_server_error(scripted, make_client):
    app, server = scripted
    app.default = lambda request: sp_api_error(500, "InternalFailure", "maybe it was created")
    client = make_client(server)
    from spapi_toolkit.api.client import prepare_call
    from spapi_toolkit.api.errors import ServerError
    from spapi_toolkit.api.models import find_operation

    body = {"reportType": "X", "marketplaceIds": [US]}
    call = prepare_call(find_operation("createReport"), {"body": body})
    with pytest.raises(ServerError):
        client.send(call, retry=CREATE_RETRY)
    assert len(app.requests) == 1  # sent once: the ingestion step looks it up before resending


def test_throttled_create_report_is_no_attempt(scripted, make_client, tmp_path):
    app, server = scripted
    throttled = sp_api_error(429, "QuotaExceeded", "You exceeded your quota.")

    def answer(request):
        if request.path.endswith("/reports") and request.method == "GET":
            return Response.json(200, {"reports": []})
        if request.path.endswith("/reports"):
            return Response.json(202, {"reportId": "R9"})
        return Response.json(200, {"reportId": "R9", "processingStatus": "CANCELLED"})

    app.script.extend([throttled, throttled])  # the first two createReport calls
    app.default = answer
    # A fast createReport bucket: each 429 halves it, which at the official 0.0167/s would
    # make the test wait minutes.
    client = make_client(
        server, limiter=RateLimiter(overrides={"reports_2021-06-30.createReport": (100.0, 15)})
    )
    lake = Lake.from_uri(str(tmp_path / "lake"))
    requests = plan(select("sales_traffic_by_date"), "S1", [US], date(2026, 11, 1),
                    date(2026, 11, 5), date(2026, 11, 28)).requests  # fmt: skip
    settings = IngestSettings(poll_seconds=0.01, quota_backoff=timedelta(0))
    stats = ReportIngestor(client, lake, "S1", settings).run(requests)
    [entry] = Ledger(lake).entries()
    assert stats.no_data == 1 and entry.attempts == 1  # the two refusals were not attempts


def test_a_report_that_never_finishes_times_out_even_when_resumed(scripted, make_client, tmp_path):
    app, server = scripted
    app.default = lambda request: Response.json(200, {"reportId": "R1", "processingStatus":
                                                      "IN_QUEUE"})  # fmt: skip
    client = make_client(server)
    lake = Lake.from_uri(str(tmp_path / "lake"))
    [request] = plan(select("merchant_listings"), "S1", [US], date(2026, 11, 28),
                     date(2026, 11, 28), date(2026, 11, 28)).requests  # fmt: skip
    ingestor = ReportIngestor(client, lake, "S1")
    entry = ingestor._new_entry(request)
    ingestor.ledger.move(entry, "requested", "", report_id="R1")  # left by an earlier run
    settings = IngestSettings(poll_seconds=0.01, report_timeout=timedelta(
        seconds=0.3), max_step_errors=1)  # fmt: skip
    stats = ReportIngestor(client, lake, "S1", settings).run([request])
    assert stats.failed == 1 and "still IN_QUEUE at the timeout" in stats.errors[0]


def test_signed_urls_are_redacted_from_errors():
    text = ("HTTPSConnectionPool(host='b.s3.amazonaws.com'): Max retries exceeded with url: "
            "/doc?X-Amz-Credential=AKIAX&X-Amz-Signature=abc (Caused by ...) "
            "https://b.s3.amazonaws.com/doc?X-Amz-Signature=def")  # fmt: skip
    clean = redact_urls(text)
    assert "AKIAX" not in clean and "abc" not in clean and "def" not in clean
    assert "/doc?<query removed>" in clean


def test_a_storage_failure_stops_the_seller_and_is_reported(tmp_path):
    class BrokenLake(type(Lake.from_uri(str(tmp_path)))):  # type: ignore[misc]
        def write_bytes(self, key, data):
            raise OSError(28, "No space left on device")

    lake = BrokenLake(str(tmp_path / "lake"))
    with run_sandbox(end_date=END_DATE, scale=3600) as sb:
        run = SellerRun(SELLER, SpApiClient.from_env(env=sb.env))
        run_seller(run, lake, select("merchant_listings"), [US], date(2026, 11, 28),
                   date(2026, 11, 28), date(2026, 11, 28))  # fmt: skip
    assert run.error and "No space left on device" in run.error
    assert run.failures  # so `spapi ingest` exits non-zero
