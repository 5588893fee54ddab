"""Reports into the raw zone, end to end against the local sandbox: complete, reconciled with
the seller's ground truth, idempotent, resumable after SIGKILL, and unharmed by faults."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from spapi_sandbox.faults import Faults
from spapi_sandbox.http import Response
from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.ratelimit import RateLimiter
from spapi_toolkit.ingest.jobs import IngestSettings, ReportIngestor, encodings_for
from spapi_toolkit.ingest.ledger import Ledger, covered_days
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.lake.registry import registry, select
from spapi_toolkit.lake.storage import Lake

from ..reconcile import (
    DE,
    JP,
    US,
    landed_order_units,
    landed_units_by_asin,
    manifests,
    settled,
    true_units_by_asin,
    true_units_by_day,
)
from ..support import END_DATE, TOKEN_PATH

MARKETS = (US, DE, JP)
SELLER = "A2SANDBOXSELLER1"
TODAY = date(2026, 11, 28)  # the sandbox's "now" is 2026-11-28 06:00 UTC
REPORTS = [d for d in registry().values() if d.source == "report"]
SPAPI = str(Path(sys.executable).parent / "spapi")


def run_reports(sandbox, lake: Lake, datasets, start: date, end: date, **settings) -> object:
    client = SpApiClient.from_env(env=sandbox.env)
    requests = plan(datasets, SELLER, MARKETS, start, end, TODAY).requests
    ingest_settings = IngestSettings(time_scale=client.time_scale, poll_seconds=0.5, **settings)
    return ReportIngestor(client, lake, SELLER, ingest_settings).run(requests)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """30 days x 3 marketplaces x every report dataset, landed once, then run again."""
    lake = Lake.from_uri(str(tmp_path_factory.mktemp("lake")))
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        first = run_reports(sandbox, lake, REPORTS, date(2026, 10, 29), date(2026, 11, 27))
        landed_once = manifests(lake)
        second = run_reports(sandbox, lake, REPORTS, date(2026, 10, 29), date(2026, 11, 27))
        truth = sandbox.app.seller.truth()
        jobs = list(sandbox.app.reports.queue.jobs.values())
    return lake, first, second, landed_once, truth, jobs


@pytest.mark.slow
def test_every_report_dataset_lands(full_run):
    lake, first, _, landed, _, _ = full_run
    assert first.failed == 0 and first.errors == []
    assert first.landed + first.no_data == first.planned == first.requested
    by_dataset = Counter(m.dataset for m in landed.values())
    assert set(by_dataset) == {d.name for d in REPORTS}
    assert by_dataset["sales_traffic_by_asin"] == 30 * 3  # one report per day and marketplace
    for manifest in landed.values():
        assert manifest.sha256 and manifest.bytes > 0 and manifest.report_id
        assert f"seller_id={SELLER}" in manifest.key
        assert "url" not in json.dumps(manifest.request).lower()
    jp_orders = [m for m in landed.values()
                 if m.dataset == "orders_by_order_date" and JP in m.marketplace_ids]  # fmt: skip
    assert {m.encoding for m in jp_orders} == {"cp932"}
    de_listings = [m for m in landed.values()
                   if m.dataset == "merchant_listings" and DE in m.marketplace_ids]  # fmt: skip
    assert de_listings and {m.encoding for m in de_listings} == {"cp1252"}
    entries = Ledger(lake).entries(SELLER)
    assert {e.status for e in entries} <= {"landed", "no_data"}


def test_flat_files_try_utf8_then_the_marketplace_encoding_then_latin1():
    assert encodings_for("tsv", [US]) == ["utf-8", "iso-8859-1"]
    assert encodings_for("tsv", [DE]) == ["utf-8", "cp1252", "iso-8859-1"]
    assert encodings_for("tsv", [JP]) == ["utf-8", "cp932", "iso-8859-1"]
    assert encodings_for("json", [DE]) == ["utf-8"]


@pytest.mark.slow
def test_second_run_lands_nothing_new(full_run):
    lake, first, second, landed_once, _, jobs = full_run
    assert (second.requested, second.landed, second.already_landed) == (0, 0, first.planned)
    assert manifests(lake) == landed_once
    assert len(jobs) == first.requested  # the sandbox saw each report requested exactly once


@pytest.mark.slow
def test_sales_and_traffic_by_asin_reconciles_with_ground_truth(full_run):
    lake, _, _, landed, truth, _ = full_run
    expected = true_units_by_asin(truth)
    got = landed_units_by_asin(lake, landed)
    done = {k for k in expected if settled(date.fromisoformat(k[0]), k[1])}
    assert len(done) > 100
    assert {k: got.get(k) for k in done} == {k: expected[k] for k in done}


@pytest.mark.slow
def test_all_orders_reconcile_with_ground_truth(full_run):
    lake, _, _, landed, truth, _ = full_run
    units, order_items = landed_order_units(lake, landed)
    assert max(order_items.values()) == 1  # contiguous windows: no order item twice
    expected = true_units_by_day(truth)
    days = [k for k in expected if date.fromisoformat(k[0]) >= date(2026, 10, 29)]
    assert len(days) == 30 * 3
    # Orders still change (ship, cancel) for 72 hours: the settled days must match exactly.
    done = [k for k in days if settled(date.fromisoformat(k[0]), k[1])]
    assert len(done) >= 26 * 3
    assert {k: units[k] for k in done} == {k: expected[k] for k in done}


def test_faults_on_nothing_missing_nothing_twice(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    faults = Faults(throttle=0.05, error_500=0.05, error_503=0.03, reset=0.03, truncate=0.1,
                    fatal_report=0.25, expired_token=0.05, seed=3)  # fmt: skip
    datasets = select("sales_traffic_by_date,orders_by_order_date,merchant_listings")
    with run_sandbox(end_date=END_DATE, scale=3600, faults=faults) as sandbox:
        stats = run_reports(sandbox, lake, datasets, date(2026, 11, 1), date(2026, 11, 27),
                            max_attempts=8)  # fmt: skip
        fatal_jobs = sum(1 for job in sandbox.app.reports.queue.jobs.values() if job.fatal)
    assert stats.failed == 0, stats.errors
    landed = manifests(lake)
    assert len(landed) == stats.planned  # one object per planned request: none missing
    keys = Counter(m.key.rsplit("/", 1)[0] + m.request["dataStartTime"] for m in landed.values()
                   if "dataStartTime" in m.request)  # fmt: skip
    assert max(keys.values()) == 1  # none twice
    assert fatal_jobs >= 1  # the faults did fire: FATAL reports were requested again
    assert stats.requested == stats.planned + fatal_jobs


class _SlowCreateReport(RateLimiter):
    """createReport at one call a second, whatever the sandbox's rate header says."""

    def __init__(self) -> None:
        super().__init__(overrides={CREATE_REPORT: (1 / 3600, 1)}, time_scale=3600)

    def observe(self, key, status, rate_header, latency=0.0):
        held = key.operation == CREATE_REPORT
        super().observe(key, status, None if held else rate_header, latency)


CREATE_REPORT = "reports_2021-06-30.createReport"


def test_a_slow_operation_does_not_hold_up_the_other_requests(tmp_path):
    """createReport held to one call a second: the reports already made are polled and landed
    meanwhile (one thread drives the run; a step that would wait for its token is put off)."""
    lake = Lake.from_uri(str(tmp_path / "lake"))
    datasets = select("merchant_listings,orders_by_order_date")
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env, limiter=_SlowCreateReport())
        requests = plan(datasets, SELLER, MARKETS, date(2026, 11, 1), date(2026, 11, 20),
                        TODAY).requests  # fmt: skip
        settings = IngestSettings(time_scale=3600, poll_seconds=0.2)
        stats = ReportIngestor(client, lake, SELLER, settings).run(requests)
    assert stats.failed == 0 and stats.landed == len(requests) >= 6, stats.errors
    history = [h for e in Ledger(lake).entries(SELLER) for h in e.history]
    last_requested = max(when for when, status, _ in history if status == "requested")
    first_landed = min(when for when, status, _ in history if status == "landed")
    assert first_landed < last_requested  # landing went on while createReport was slow


# ---- crash and resume -----------------------------------------------------------------------

CRASH_DATASETS = "sales_traffic_by_asin,orders_by_order_date,merchant_listings"
CRASH_RANGE = ("2026-10-29", "2026-11-08")  # settled: the documents do not change any more


REPO = Path(__file__).resolve().parents[2]
CRASH_HOOK = Path(__file__).resolve().parent / "crash_hook"  # see its sitecustomize.py
CRASH_PLANNED = 11 * 3 + 3 + 3  # sales & traffic per day and marketplace, orders, listings

# Where the interrupted runs are killed, one run each, in this order. ("pause", kind, n) holds
# the run just before it renames its n-th temp file of that kind into place, so the kill lands
# inside that write whatever the machine's load; ("entries" | "landed", n) kills it from outside
# once the lake holds n more ledger entries / manifests than when it started, and ("seconds", s)
# after s seconds: those land wherever the run happens to be.
KILL_POINTS: list[tuple[str, ...]] = [
    ("pause", "ledger", "1"),  # the first ledger entry: nothing sent yet
    ("pause", "ledger", "2"),  # a report was created, the ledger still says "requesting"
    ("entries", "6"),
    ("pause", "ledger", "5"),
    ("seconds", "2.5"),
    ("pause", "raw", "1"),  # a document downloaded and fsynced, not renamed into place
    ("landed", "2"),
    ("pause", "manifest", "1"),  # an object landed without its manifest
    ("pause", "raw", "2"),
    ("landed", "3"),
    ("pause", "manifest", "2"),
    ("pause", "ledger", "3"),
]


def _spawn(env: dict[str, str], lake: Path, pause: str = "") -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPAPI_")}
    # The code of this tree runs in the child (and the crash hook, which only acts on cue).
    path = os.pathsep.join(filter(None, [str(CRASH_HOOK), str(REPO), clean.get("PYTHONPATH")]))
    hook = {"CRASH_PAUSE_AT": pause, "CRASH_PAUSE_MARKER": str(lake) + ".paused"} if pause else {}
    return subprocess.Popen(
        # --each-source: every day of the Sales & Traffic report, as named (by default its
        # settled days would be Data Kiosk's): these kill points are the report path's.
        [SPAPI, "ingest", CRASH_DATASETS, "--from", CRASH_RANGE[0], "--to", CRASH_RANGE[1],
         "--marketplaces", "US,DE,JP", "--lake", str(lake), "--each-source"],
        env={**clean, **env, **hook, "PYTHONPATH": path},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _ledger_files(lake: Path) -> int:
    return sum(1 for _ in (lake / "_state").rglob("*.json")) if (lake / "_state").exists() else 0


def _landed_files(lake: Path) -> int:
    return sum(1 for _ in (lake / "raw").rglob("*.manifest.json")) if (lake / "raw").exists() else 0


def _files(lake: Path) -> list[str]:
    """Every file in the lake folder, temp files included, relative to it."""
    return sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*") if not p.is_dir())


def _raw(lake_path: Path) -> dict[str, tuple[str, int, int | None]]:
    lake = Lake.from_uri(str(lake_path))
    return {k: (m.sha256, m.bytes, m.rows) for k, m in manifests(lake).items()}


def _removed(stderr: bytes) -> int:
    """How many leftovers a run said it removed before it started."""
    found = re.findall(rb"removed (\d+) leftover", stderr)
    return int(found[0]) if found else 0


def _kill_at(
    point: tuple[str, ...], env: dict[str, str], lake: Path, previous: list[str]
) -> tuple[str, bytes]:
    """Run an ingestion into ``lake`` and SIGKILL it at ``point``; what it was writing when
    held there (for pause points) and its stderr. ``previous`` are the leftovers the kill
    before this one left: a ("seconds", s) clock starts once the run has removed them, so a
    slow start on a loaded machine cannot make the kill land before the clean-up."""
    kind = point[0]
    marker = Path(str(lake) + ".paused")
    marker.unlink(missing_ok=True)
    start = {"entries": _ledger_files(lake), "landed": _landed_files(lake)}.get(kind, 0)
    process = _spawn(env, lake, pause=":".join(point[1:]) if kind == "pause" else "")
    began: float | None = None
    deadline = time.monotonic() + 90
    while True:
        if began is None and not any((lake / f).exists() for f in previous):
            began = time.monotonic()
        assert process.poll() is None, f"the run ended before {point}: no work was left"
        assert time.monotonic() < deadline, f"the run never reached {point}"
        if kind == "pause" and marker.exists():
            break
        if kind == "entries" and _ledger_files(lake) >= start + int(point[1]):
            break
        if kind == "landed" and _landed_files(lake) >= start + int(point[1]):
            break
        if kind == "seconds" and began and time.monotonic() - began >= float(point[1]):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    return (marker.read_text() if kind == "pause" else ""), stderr


@pytest.mark.slow
def test_sigkill_at_many_points_then_resume(tmp_path):
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    leftovers: list[list[str]] = []  # the temp files each kill left behind
    removed: list[int] = []  # how many leftovers each later run said it removed
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        for point in KILL_POINTS:
            previous = leftovers[-1] if leftovers else []
            held, stderr = _kill_at(point, sandbox.env, interrupted, previous)
            removed.append(_removed(stderr))
            left = [f for f in _files(interrupted) if "/.tmp-" in "/" + f]
            if held:  # the write the run was held in is left, as a SIGKILL leaves it
                assert Path(held).relative_to(interrupted).as_posix() in left
                assert ("/raw/" in "/" + held) == (point[1] != "ledger")
            leftovers.append(left)
            if point == ("pause", "ledger", "2"):  # the report exists; the ledger does not say so
                (entry,) = Ledger(Lake.from_uri(str(interrupted))).entries()
                assert entry.status == "requesting" and len(sandbox.app.reports.queue.jobs) == 1
        final = _spawn(sandbox.env, interrupted)
        _, stderr = final.communicate(timeout=180)
        assert final.returncode == 0, stderr.decode()
        removed.append(_removed(stderr))
        jobs = list(sandbox.app.reports.queue.jobs.values())
        reference = _spawn(sandbox.env, straight)
        _, stderr = reference.communicate(timeout=180)
        assert reference.returncode == 0, stderr.decode()
    # Each run removed exactly what the kill before it had left: no more, no less.
    assert removed == [0] + [len(left) for left in leftovers]
    assert sum(1 for left in leftovers if any(f.startswith("raw/") for f in left)) >= 4
    assert all(any(f.startswith("_state/ledger/") for f in left) for left, point
               in zip(leftovers, KILL_POINTS, strict=True) if point[1] == "ledger")  # fmt: skip
    # No report was requested twice across the kills (as the sandbox counts them): each of
    # the planned reports once, the one created before the second kill recovered, not re-sent.
    requested = Counter(
        (j.spec["reportType"], tuple(j.spec["marketplaceIds"]), j.spec.get("dataStartTime"))
        for j in jobs
    )
    assert len(jobs) == len(requested) == CRASH_PLANNED
    # Nothing stray anywhere in the lake: the files are those of the uninterrupted run (every
    # raw object with its manifest, one ledger entry per request), and nothing else.
    files = _files(interrupted)
    assert files == _files(straight)
    objects = [f for f in files if f.startswith("raw/") and not f.endswith(".manifest.json")]
    ledger = [f for f in files if f.startswith("_state/ledger/") and f.endswith(".json")]
    assert len(objects) == len(ledger) == CRASH_PLANNED
    assert sorted(objects + [o + ".manifest.json" for o in objects] + ledger) == files
    for key in objects:  # the raw zone, byte for byte
        assert (interrupted / key).read_bytes() == (straight / key).read_bytes(), key
    assert _raw(interrupted) == _raw(straight)
    entries = Ledger(Lake.from_uri(str(interrupted))).entries()
    assert {e.status for e in entries} == {"landed"}


# ---- bad documents --------------------------------------------------------------------------

BAD_DOCUMENTS = {
    "truncated gzip": (lambda z: z[: len(z) // 2])(
        gzip.compress("".join(f"SKU{i}\tB{i * 7919 % 99991}\n" for i in range(5000)).encode())
    ),
    "an HTML error page": b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>",
    "empty document": b"",
    "undecodable": "sku\tname\nA\tcaf\u00e9\n".encode("utf-16"),
    "an S3 error body": b"<Error><Code>AccessDenied</Code><Message>expired</Message></Error>",
    "SP-API errors served with 200": b'{"errors": [{"code": "InternalFailure", "message": "x"}]}',
    "a header without seller-sku": b"item-name\tasin1\nMug\tB000000001\n",
    "ragged rows": b"seller-sku\tasin1\nSKU1\tB000000001\nSKU2\n",
}


@pytest.mark.parametrize("kind", list(BAD_DOCUMENTS))
def test_bad_documents_are_reported_and_never_land(kind, scripted, make_client, tmp_path):
    app, server = scripted
    body = BAD_DOCUMENTS[kind]

    def answer(request):
        if request.path.startswith("/doc/"):
            return Response(200, body, {"Content-Type": "application/octet-stream"})
        if request.path.endswith("/reports"):
            return Response.json(202, {"reportId": "R1"})
        if "/documents/" in request.path:
            return Response.json(200, {"reportDocumentId": "D1", "url": server.url + "/doc/D1"})
        return Response.json(200, {"reportId": "R1", "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
                                   "processingStatus": "DONE", "reportDocumentId": "D1",
                                   "createdTime": "2026-11-28T00:00:00Z",
                                   "marketplaceIds": [US]})  # fmt: skip

    app.default = answer
    app.requests.clear()
    client = make_client(server)
    lake = Lake.from_uri(str(tmp_path / "lake"))
    requests = plan(select("merchant_listings"), "S1", [US], TODAY, TODAY, TODAY).requests
    stats = ReportIngestor(client, lake, "S1", IngestSettings(poll_seconds=0.01)).run(requests)
    assert stats.failed == 1 and stats.landed == 0
    reason = {"truncated gzip": "truncated", "an HTML error page": "HTML",
              "empty document": "empty", "undecodable": "undecodable",
              "an S3 error body": "XML error body (Code AccessDenied)",
              "SP-API errors served with 200": "SP-API error body",
              "a header without seller-sku": "lacks the key column(s) seller-sku",
              "ragged rows": "ragged rows: line 3 has 1 fields"}[kind]  # fmt: skip
    assert reason.lower() in stats.errors[0].lower()
    assert list(lake.list("raw/")) == []  # nothing landed as good data
    [entry] = Ledger(lake).entries()
    assert entry.status == "failed" and reason.lower() in (entry.error or "").lower()
    if body:
        assert list(lake.list("quarantine/"))  # the bytes are kept for a look, apart
        status = subprocess.run([SPAPI, "status", "--lake", lake.uri], capture_output=True,
                                text=True, check=True)  # fmt: skip
        assert "quarantined raw/" in status.stdout and reason in status.stdout
        counts = next(line for line in status.stdout.splitlines() if "merchant_listings" in line)
        # landed, no data, pending, failed, quarantined, refused by curation
        cells = re.findall(r"\d+", counts.split("merchant_listings")[1])
        assert cells == ["0", "0", "0", "1", "1", "0"]
    again = ReportIngestor(client, lake, "S1").run(requests)  # reported, not retried blindly
    assert (again.failed, again.requested) == (1, 0)
    assert TOKEN_PATH  # the scripted server's LWA endpoint served the client


def test_restated_days_are_pulled_again_and_land_beside(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    datasets = select("sales_traffic_by_date")
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env)
        days = (date(2026, 11, 10), date(2026, 11, 27))
        for today in (TODAY, date(2026, 11, 29)):  # a run today, and the next day's run
            covered = covered_days(Ledger(lake).entries(SELLER))
            requests = plan(datasets, SELLER, (US,), *days, today, covered).requests
            ReportIngestor(client, lake, SELLER).run(requests)
    windows = sorted((m.key.split("/dt=")[1].split("/")[0], m.request["dataEndTime"][:10])
                     for m in manifests(lake).values())  # fmt: skip
    # Day one: the settled days, then the provisional tail. Day two: only what was not yet
    # final is asked again (Nov 24 has settled since, Nov 25-27 are still restated); the new
    # pulls land beside the first ones, not over them, and the settled days are not re-pulled.
    assert windows == [("2026-11-10", "2026-11-23"), ("2026-11-24", "2026-11-24"),
                       ("2026-11-24", "2026-11-27"), ("2026-11-25", "2026-11-27")]  # fmt: skip
    assert len({m.key for m in manifests(lake).values()}) == 4


@pytest.mark.aws
def test_ingest_into_s3_with_sse_kms(aws_env):
    import boto3

    bucket = "lake-ingest-test"
    boto3.client("s3").create_bucket(Bucket=bucket)
    key_id = boto3.client("kms").create_key(Description="lake")["KeyMetadata"]["KeyId"]
    lake = Lake.from_uri(f"s3://{bucket}/sellers", kms_key_id=key_id)
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        stats = run_reports(sandbox, lake, select("merchant_listings,orders_by_order_date"),
                            date(2026, 11, 1), date(2026, 11, 10))  # fmt: skip
        again = run_reports(sandbox, lake, select("merchant_listings,orders_by_order_date"),
                            date(2026, 11, 1), date(2026, 11, 10))  # fmt: skip
    assert stats.landed == 6 and again.requested == 0  # the S3 ledger is read back too
    s3 = boto3.client("s3")
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    raw = [k for k in objects if "/raw/" in k and not k.endswith(".manifest.json")]
    assert len(raw) == 6 and any(k.startswith("sellers/_state/ledger/") for k in objects)
    head = s3.head_object(Bucket=bucket, Key=raw[0])
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
