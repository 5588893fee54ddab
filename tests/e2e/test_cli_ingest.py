"""`spapi ingest` and `spapi status` as a user runs them, against the sandbox (and moto SQS)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import date
from pathlib import Path

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.jobs import ReportIngestor
from spapi_toolkit.ingest.ledger import Ledger
from spapi_toolkit.ingest.pipeline import SellerRun, run_sellers
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..support import END_DATE

SPAPI = str(Path(sys.executable).parent / "spapi")
US = "ATVPDKIKX0DER"


def spapi(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPAPI_")}
    return subprocess.run([SPAPI, *args], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.fixture
def sqs_queue(aws_env):
    import boto3

    from spapi_toolkit.ingest.notifications import ensure_queue

    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs, ensure_queue(sqs, f"q-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(end_date=END_DATE, scale=3600) as running:
        yield running


def test_bad_arguments_get_clear_errors(sandbox, tmp_path):
    lake = str(tmp_path / "lake")
    cases = [
        (["ingest", "orderz", "--from", "2026-11-01", "--to", "2026-11-02"], "unknown dataset"),
        (["ingest", "all", "--from", "2026-13-01", "--to", "2026-11-02"], "--from must be a date"),
        (["ingest", "all", "--from", "2026-11-05", "--to", "2026-11-01"], "after it ends"),
        (["ingest", "all", "--from", "2026-11-01", "--to", "2026-11-02", "--marketplaces", "XX"],
         "unknown marketplace 'XX'"),
    ]  # fmt: skip
    for args, message in cases:
        result = spapi(*args, "--lake", lake, env=sandbox.env)
        assert result.returncode != 0, args
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    nowhere = {"SPAPI_CREDENTIALS_FILE": str(tmp_path / "x")}
    no_credentials = spapi(
        "ingest", "all", "--from", "2026-11-01", "--to", "2026-11-02", "--lake", lake, env=nowhere
    )
    assert no_credentials.returncode == 1
    assert "no SP-API credentials found" in no_credentials.stderr
    assert not Path(lake).exists()  # nothing was written for a refused command


def test_ingest_then_status(sandbox, tmp_path):
    lake = str(tmp_path / "lake")
    args = ["ingest", "merchant_listings,orders_by_order_date", "--from", "2026-11-10", "--to",
            "2026-11-16", "--marketplaces", "US,JP", "--lake", lake]  # fmt: skip
    planned = spapi(*args, "--plan", env=sandbox.env)
    assert planned.returncode == 0 and "4 requests (4 reports" in planned.stderr
    assert not Path(lake).exists()  # --plan only says what would happen
    first = spapi(*args, env=sandbox.env)
    assert first.returncode == 0, first.stderr
    status = spapi("status", "--lake", lake, env={})
    assert status.returncode == 0
    assert "merchant_listings" in status.stdout and "orders_by_order_date" in status.stdout
    entries = Ledger(Lake.from_uri(lake)).entries()
    assert len(entries) == 4 and {e.status for e in entries} == {"landed"}
    again = spapi(*args, env=sandbox.env)
    assert again.returncode == 0
    assert len(Ledger(Lake.from_uri(lake)).entries()) == 4


def test_the_plan_shows_what_the_watchlist_asks_and_what_it_leaves_out(sandbox, tmp_path):
    from spapi_toolkit.lake.reference import load_reference

    lake = tmp_path / "lake"
    watching = tmp_path / "watch.csv"
    watching.write_text("marketplace_id,kind,value,brand,watch,note,results\n"
                        f"{US},asin,B0RIVAL001,,true,,\n"
                        f"{US},search,chef knife,,true,,15\n"
                        "A1VC38T7YXB528,asin,B0RIVAL002,,true,,\n")  # fmt: skip
    load_reference(Lake.from_uri(str(lake)), "watchlist", watching,
                   seller=sandbox.env["SPAPI_SELLING_PARTNER_ID"])  # fmt: skip
    planned = spapi("ingest", "catalog_search,watchlist_offers", "--from", "2026-11-10", "--to",
                    "2026-11-10", "--marketplaces", "US", "--lake", str(lake), "--plan",
                    env=sandbox.env)  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    text = " ".join(planned.stderr.split())
    assert (
        f"watchlist {US}: up to 16 watched ASINs (1 named, 1 searches of 15 results "
        "together, 0 from Brand Analytics; at most 100), 4 calls a day"
    ) in text, text
    assert (
        "watchlist A1VC38T7YXB528: 1 entries not watched: this run does not cover the marketplace"
    ) in text, text


def test_the_plan_asks_each_day_of_one_source_and_says_so(sandbox, tmp_path):
    """Issue 23: the report's settled history goes to Data Kiosk (the same figures, sooner),
    and the plan says so per dataset; --each-source asks as named."""
    args = ["ingest", "sales_traffic_by_asin", "--from", "2026-09-01", "--to", "2026-11-26",
            "--marketplaces", "US,DE", "--lake", str(tmp_path / "lake"), "--plan"]  # fmt: skip
    chosen = spapi(*args, env=sandbox.env)
    assert chosen.returncode == 0, chosen.stderr
    text = " ".join(chosen.stderr.split())
    assert "settled marketplace-days asked of kiosk_sales_traffic instead" in text, text
    found = re.search(r"requests by dataset: (.*)", text)
    assert found and "kiosk_sales_traffic" in found.group(1), text
    named = spapi(*args, "--each-source", env=sandbox.env)
    text = " ".join(named.stderr.split())
    assert named.returncode == 0 and "kiosk_sales_traffic" not in text, text
    assert "requests by dataset: sales_traffic_by_asin 174" in text, text


def test_ingest_with_a_notification_queue(aws_env, tmp_path):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    lake = str(tmp_path / "lake")
    with run_sandbox(end_date=END_DATE, scale=3600) as sb:
        env = {**sb.env, **{k: os.environ[k] for k in os.environ if k.startswith("AWS_")}}
        assert spapi("notifications", "setup", "--queue", queue, env=env).returncode == 0
        result = spapi("ingest", "sales_traffic_by_date,merchant_listings", "--from",
                       "2026-11-01", "--to", "2026-11-20", "--marketplaces", "US", "--lake", lake,
                       "--queue", queue, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    entries = Ledger(Lake.from_uri(lake)).entries()
    assert {e.status for e in entries} == {"landed"}
    notes = {note for e in entries for _, status, note in e.history if status == "done"}
    assert notes <= {"told by REPORT_PROCESSING_FINISHED", "polled"}  # either may be first


def test_notifications_alone_complete_the_reports(sqs_queue, tmp_path):
    """With polling pushed out of reach, only REPORT_PROCESSING_FINISHED can finish the run."""
    from spapi_toolkit.ingest.jobs import IngestSettings
    from spapi_toolkit.ingest.notifications import MemoryDedup, dispatch, listen, setup
    from spapi_toolkit.ingest.pipeline import ReportNotices, run_seller

    sqs, queue = sqs_queue
    lake = Lake.from_uri(str(tmp_path / "lake"))
    with run_sandbox(end_date=END_DATE, scale=3600) as sb:
        client = SpApiClient.from_env(env=sb.env)
        setup(client, queue.arn, ["REPORT_PROCESSING_FINISHED"])
        run = SellerRun(sb.env["SPAPI_SELLING_PARTNER_ID"], client)
        notices = ReportNotices(lake, {run.seller_id: client})
        stop = threading.Event()
        listener = threading.Thread(
            target=listen,
            args=(sqs, queue.url, dispatch({"REPORT_PROCESSING_FINISHED": notices})),
            kwargs={"dedup": MemoryDedup(), "stop": stop},
        )
        listener.start()
        never_poll = IngestSettings(time_scale=3600, poll_seconds=10**7)  # ~46 real minutes
        try:
            run_seller(run, lake, select("sales_traffic_by_date"), [US], date(2026, 11, 1),
                       date(2026, 11, 20), date(2026, 11, 28), notices=notices,
                       settings=never_poll)  # fmt: skip
        finally:
            stop.set()
            listener.join()
    assert run.failures == [] and run.reports is not None and run.reports.landed == 1
    [entry] = Ledger(lake).entries()
    assert [n for _, s, n in entry.history if s == "done"] == ["told by REPORT_PROCESSING_FINISHED"]


def test_sellers_run_in_parallel_with_their_own_limits(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    datasets = select("sales_traffic_by_asin,merchant_listings")
    with run_sandbox(end_date=END_DATE, scale=3600, sellers=2) as sb:
        runs = [
            SellerRun(sb.seller_ids[i], SpApiClient.from_env(env=sb.env_for(i))) for i in (0, 1)
        ]
        finished = run_sellers(runs, lake, datasets, [US], date(2026, 11, 1), date(2026, 11, 10),
                               date(2026, 11, 28))  # fmt: skip
    for run in finished:
        assert run.failures == [] and run.reports is not None
        assert run.reports.landed == 11  # 10 days + the listings snapshot
        assert run.client.stats()["reports_2021-06-30.createReport"].throttled == 0
    by_seller = {e.seller_id for e in Ledger(lake).entries()}
    assert by_seller == set(sb.seller_ids)
    keys = list(lake.list("raw/"))
    assert any(sb.seller_ids[0] in k for k in keys) and any(sb.seller_ids[1] in k for k in keys)


def test_a_done_report_of_the_last_72_hours_is_reused(sandbox, tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    client = SpApiClient.from_env(env=sandbox.env)
    seller = sandbox.env["SPAPI_SELLING_PARTNER_ID"]
    [request] = plan(select("merchant_listings"), seller, ["A1PA6795UKMFR9"], date(2026, 11, 28),
                     date(2026, 11, 28), date(2026, 11, 28)).requests  # fmt: skip
    made = client.call("createReport", body=request.report_body())["reportId"]  # someone else's
    while client.call("getReport", reportId=made)["processingStatus"] != "DONE":
        pass
    stats = ReportIngestor(client, lake, seller).run([request])
    assert (stats.reused, stats.requested, stats.landed) == (1, 0, 1)
    [entry] = Ledger(lake).entries()
    assert entry.report_id == made and entry.reused
    manifest = json.loads(lake.read_bytes(entry.raw_key + ".manifest.json"))
    assert manifest["report_id"] == made


def test_spapi_listen_lands_offer_and_listing_events(aws_env, tmp_path):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    lake = str(tmp_path / "lake")
    # Real speed: no simulated hour passes, so only the two test notifications are sent (at
    # 600x, a loaded machine let the market's own offer changes in too).
    with run_sandbox(end_date=END_DATE, scale=1) as sb:
        env = {**sb.env, **{k: os.environ[k] for k in os.environ if k.startswith("AWS_")}}
        assert spapi("notifications", "setup", "--queue", queue, env=env).returncode == 0
        client = SpApiClient.from_env(env=sb.env)
        for kind in ("ANY_OFFER_CHANGED", "LISTINGS_ITEM_STATUS_CHANGE"):
            client.call("notifications.sendTestNotification", notificationType=kind,
                        body={"testNotification": {"payloadVersion": "1.0"}})  # fmt: skip
        result = spapi("listen", "--queue", queue, "--lake", lake, "--idle-seconds", "2",
                       env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "handled 2," in result.stdout and "failed 0," in result.stdout
    landed = [k for k in Lake.from_uri(lake).list("raw/") if k.endswith(".jsonl")]
    assert sorted(k.split("/")[2] for k in landed) == [
        "dataset=listings_status_events", "dataset=offer_change_events"
    ]  # fmt: skip
