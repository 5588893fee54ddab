"""Ingestion as single steps for Lambda functions that a Step Functions state machine sequences.

``spapi ingest`` drives a seller's requests in one loop (``ingest.jobs.JobIngestor.run``); on
AWS each turn of that loop is a function invocation and the waits between them are the state
machine's ``Wait`` states, so nothing runs (or is billed) while Amazon prepares a report. The
steps are the loop's own (``JobIngestor.advance``: the same ledger, quotas, adoption of jobs
an interrupted step may have created, landing code and raw keys), so what lands is what the
CLI lands, byte for byte.

The order the state machine calls them (``infra/statemachines/``):

1. ``plan``: per seller, the requests of the run, written to the lake as JSON arrays a
   Distributed Map reads (a year's backfill is too big for a state's 256 KB payload):
   quota-limited report types apart, so they run one at a time per seller.
2. per request, ``request_job`` until it says ``requested`` (or ``wait_seconds`` for a quota);
3. ``await_report`` parks a task token until the REPORT_PROCESSING_FINISHED notification
   (``notifications.consume``) or the wait's timeout, then / or ``check_job`` polls;
4. ``land_job`` downloads the document and lands it with its manifest.
5. ``snapshot`` lands one API snapshot request (after the seller's reports: snapshots are
   driven by the listings report the run lands).

Every step is idempotent: it reads the entry from the ledger and does nothing when the entry
has already moved past its phase, so a Step Functions retry or a duplicate invocation is
harmless. Each function returns a small JSON object: ``status`` (the ledger's), ``wait_seconds``
(real seconds before the next step is worth taking) and ``error`` when the request failed.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from spapi_toolkit.api.ratelimit import REPORT_QUOTAS
from spapi_toolkit.aws.config import Deployment, split
from spapi_toolkit.ingest.jobs import IngestSettings, JobIngestor, ReportIngestor
from spapi_toolkit.ingest.kiosk import KioskIngestor
from spapi_toolkit.ingest.ledger import Ledger, covered_days
from spapi_toolkit.ingest.planner import PlannedRequest, plan
from spapi_toolkit.ingest.snapshots import SnapshotIngestor
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake, ZonedLake
from spapi_toolkit.regions import marketplace

log = logging.getLogger(__name__)

PLANS_PREFIX = "_state/plans"
TOKENS_PREFIX = "_state/task-tokens"
# The ledger statuses in which each phase acts; any other status is returned as it is.
PHASES = {
    "request": frozenset({"new", "requesting", "fatal"}),
    "check": frozenset({"requested"}),
    "land": frozenset({"done"}),
}
INGESTORS: dict[str, type[JobIngestor]] = {"report": ReportIngestor, "data_kiosk": KioskIngestor}
MAX_WAIT_SECONDS = 6 * 3600  # a Wait state's pause is capped (the state machine loops again)


def _s3_location(lake: Lake, key: str) -> dict[str, str]:
    """``{"Bucket", "Key"}`` of a lake key, as a Distributed Map's ItemReader takes them."""
    parts = urlsplit(lake.location(key))
    return {"Bucket": parts.netloc, "Key": parts.path.lstrip("/")}


def plan_run(
    deployment: Deployment,
    run_id: str,
    *,
    profiles: Sequence[str] | None = None,
    datasets: str | None = None,
    marketplaces: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Plan one run for every seller profile and write each seller's plan to the lake.

    Parameters
    ----------
    deployment
        Where the lake, the secrets and the SSM parameters are.
    run_id
        A name for the run (the execution's name): the plan files are
        ``_state/plans/<seller>/<run_id>/{quota,jobs,snapshots}.json``.
    profiles, datasets, marketplaces
        Default: the SSM parameters ``profiles``, ``datasets`` (``all`` or names) and
        ``marketplaces`` (ids or country codes).
    start, end
        The days to ingest. Default: the last ``lookback-days`` (SSM) days that have ended.

    Returns
    -------
    dict
        ``{"run_id", "sellers": [{"profile", "seller_id", "quota_jobs", "jobs", "snapshots"
        (each ``{"count", "Bucket", "Key"}``), "notes"}]}``: small enough for any state.
    """
    lake = deployment.lake()
    chosen = select(datasets or deployment.parameter("datasets"))
    names = list(profiles or split(deployment.parameter("profiles")))
    codes = marketplaces or split(deployment.parameter("marketplaces"))
    markets = [marketplace(code).marketplace_id for code in codes]
    ledger = Ledger(lake)
    sellers = []
    for profile in names:
        client = deployment.client(profile)
        seller = client.credentials.selling_partner_id
        if not seller:
            raise ValueError(f"the secret of profile {profile} names no selling_partner_id")
        today = client.clock.today()
        last = end or today - timedelta(days=1)
        first = start or last - timedelta(days=int(deployment.parameter("lookback-days")) - 1)
        covered = covered_days(ledger.entries(seller))
        planned = plan(chosen, seller, markets, first, last, today, covered)
        groups: dict[str, list[dict[str, Any]]] = {"quota_jobs": [], "jobs": [], "snapshots": []}
        for request in planned.requests:
            item = {"profile": profile, "request": request.to_dict()}
            if request.dataset.source == "api":
                groups["snapshots"].append(item)
            elif request.dataset.report_type in REPORT_QUOTAS:
                groups["quota_jobs"].append(item)
            else:
                groups["jobs"].append(item)
        described: dict[str, Any] = {"profile": profile, "seller_id": seller}
        for name, items in groups.items():
            key = f"{PLANS_PREFIX}/seller_id={seller}/{run_id}/{name}.json"
            lake.write_bytes(key, json.dumps(items, indent=1).encode("utf-8"))
            described[name] = {"count": len(items), **_s3_location(lake, key)}
        described["notes"] = planned.notes
        sellers.append(described)
        # Only the raw root's leftovers (a killed landing's uploads and temp objects): the
        # functions own that root; the curated buckets are Glue's, and their lifecycle aborts
        # stale uploads.
        raw_root = lake.main if isinstance(lake, ZonedLake) else lake
        removed = raw_root.remove_leftovers(client.clock)
        log.info(
            "planned %s",
            seller,
            extra={
                "seller_id": seller,
                "leftovers": len(removed),
                **{n: len(g) for n, g in groups.items()},
            },
        )
    return {"run_id": run_id, "sellers": sellers}


def _ingestor(deployment: Deployment, profile: str, request: PlannedRequest) -> JobIngestor:
    client = deployment.client(profile)
    kind = INGESTORS.get(request.dataset.source)
    if kind is None:
        raise ValueError(f"{request.dataset.name} is not a job (source {request.dataset.source})")
    settings = IngestSettings(time_scale=client.time_scale)
    ingestor = kind(client, deployment.lake(), request.seller_id, settings)
    ingestor.land_when_done = False  # landing is its own step (its own timeout and memory)
    return ingestor


def _answer(status: str, wait: float, entry: Any) -> dict[str, Any]:
    return {
        "status": status,
        "wait_seconds": min(MAX_WAIT_SECONDS, math.ceil(wait)) if wait > 0 else 0,
        "job_id": getattr(entry, "report_id", None),
        "error": getattr(entry, "error", None) if status == "failed" else None,
    }


def job_step(deployment: Deployment, item: Mapping[str, Any], phase: str) -> dict[str, Any]:
    """Take ``phase`` (``request``, ``check`` or ``land``) of one planned report or Data Kiosk
    request (``item``: ``{"profile", "request"}`` as ``plan_run`` wrote it), if its ledger entry
    is in that phase; else only say where it stands. See the module doc for the answer."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
    request = PlannedRequest.from_dict(item["request"])
    ingestor = _ingestor(deployment, str(item["profile"]), request)
    entry = ingestor.ledger.get(request.seller_id, request.dataset.name, request.request_id)
    status = entry.status if entry is not None else "new"
    if status not in PHASES[phase]:
        return _answer(status, 0.0, entry)
    advanced = ingestor.advance(request)
    log.info(
        "%s %s: %s -> %s",
        phase,
        request.request_id,
        status,
        advanced.status,
        extra={
            "seller_id": request.seller_id,
            "dataset": request.dataset.name,
            "request_id": request.request_id,
            "status": advanced.status,
        },
    )
    return _answer(advanced.status, advanced.wait_seconds, advanced.entry)


def request_job(deployment: Deployment, item: Mapping[str, Any]) -> dict[str, Any]:
    """Send the request (or adopt the job an interrupted attempt made, or wait for a quota)."""
    return job_step(deployment, item, "request")


def check_job(deployment: Deployment, item: Mapping[str, Any]) -> dict[str, Any]:
    """Poll the job once (getReport / getQuery); ``done`` leaves landing to ``land_job``."""
    return job_step(deployment, item, "check")


def land_job(deployment: Deployment, item: Mapping[str, Any]) -> dict[str, Any]:
    """Download the job's document and land it in the raw zone with its manifest."""
    return job_step(deployment, item, "land")


def token_key(seller_id: str, report_id: str) -> str:
    """Where the task token of a state machine waiting for ``report_id`` is parked."""
    return f"{TOKENS_PREFIX}/seller_id={seller_id}/{report_id}.json"


def await_report(
    deployment: Deployment, item: Mapping[str, Any], task_token: str, sfn: Any = None
) -> dict[str, Any]:
    """Park ``task_token`` until REPORT_PROCESSING_FINISHED for the item's report arrives
    (``notifications.consume`` hands it back to Step Functions).

    The notice may come before the token is parked: it then moved the ledger entry on, so
    after parking the entry is read again and, if it is no longer ``requested``, the task is
    completed here. (Both may complete it; Step Functions takes the first.)"""
    request = PlannedRequest.from_dict(item["request"])
    lake = deployment.lake()
    ledger = Ledger(lake)
    entry = ledger.get(request.seller_id, request.dataset.name, request.request_id)
    if entry is not None and entry.status == "requested" and entry.report_id:
        key = token_key(request.seller_id, entry.report_id)
        parked = {"task_token": task_token, "request_id": request.request_id}
        lake.write_bytes(key, json.dumps(parked).encode("utf-8"))
        entry = ledger.get(request.seller_id, request.dataset.name, request.request_id)
        if entry is not None and entry.status == "requested":
            return {"parked": True}
        lake.delete(key)
    status = entry.status if entry is not None else "new"
    complete_task(task_token, {"status": status, "told_by": "ledger"}, sfn)
    return {"parked": False, "status": status}


def complete_task(task_token: str, output: Mapping[str, Any], sfn: Any = None) -> bool:
    """``SendTaskSuccess``; False when the task is gone already (completed, timed out)."""
    if sfn is None:
        sfn = _default_sfn()
    try:
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
    except (
        sfn.exceptions.TaskDoesNotExist,
        sfn.exceptions.TaskTimedOut,
        sfn.exceptions.InvalidToken,
    ) as exc:
        log.info("task already settled: %s", type(exc).__name__)
        return False
    return True


def _default_sfn() -> Any:
    import boto3

    return boto3.client("stepfunctions")


def snapshot(deployment: Deployment, item: Mapping[str, Any]) -> dict[str, Any]:
    """Land one API snapshot request (``SnapshotIngestor``: the CLI's code)."""
    request = PlannedRequest.from_dict(item["request"])
    client = deployment.client(str(item["profile"]))
    stats = SnapshotIngestor(client, deployment.lake(), request.seller_id).run([request])
    status = (
        "failed"
        if stats.failed
        else "landed"
        if stats.landed or stats.already_landed
        else "no_data"
    )
    return {
        "status": status,
        "items": stats.items,
        "bytes": stats.bytes_landed,
        "error": "; ".join(stats.errors) or None,
    }
