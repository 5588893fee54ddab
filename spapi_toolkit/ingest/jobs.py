"""Asynchronous jobs into the raw zone: request, wait, download, land — exactly once, resumably.

``JobIngestor`` is the one loop that drives one seller's planned requests through the ledger's
statuses (see ``ledger.py``), whatever the kind of job: a ``JobKind`` (``kinds.py``) says how to
create a job, read its status, open its document and find an existing one again; reports
(``ReportJobs``, ``report_jobs.py``) and Data Kiosk queries (``KioskJobs``, ``kiosk.py``) are
the two kinds. Every step is written to the ledger before the next is taken, so a run killed at
any point resumes where it stopped:

* an entry left ``requesting`` may or may not have reached Amazon: the kind looks its recent
  jobs up and a match is adopted instead of requesting again;
* a job DONE whose document already has a manifest in the raw zone is simply marked landed;
* the raw object's key is derived from the plan (the request id), so a resumed run writes the
  same keys an uninterrupted one would, and a key whose manifest exists is never written again.

Quotas on requests (a report type's) come from the kind; operation rate limits are the
client's business. Completion comes from polling (within its limit) unless a notification
listener reports it first (``job_finished``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

import urllib3

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.errors import (
    ServerError,
    SpApiError,
    SpApiToolkitError,
    ThrottledError,
    TransportError,
    UnauthorizedError,
)
from spapi_toolkit.clock import Clock
from spapi_toolkit.ingest.kinds import JobKind, JobState, iso, parse_time
from spapi_toolkit.ingest.ledger import Entry, Ledger
from spapi_toolkit.ingest.planner import PlannedRequest
from spapi_toolkit.ingest.report_jobs import CREATE_RETRY as CREATE_RETRY  # re-exported
from spapi_toolkit.ingest.report_jobs import ReportJobs
from spapi_toolkit.lake.checks import document_shape
from spapi_toolkit.lake.landing import BadDocument, Manifest, is_landed, land
from spapi_toolkit.lake.layout import KeyLayoutError, raw_stem
from spapi_toolkit.lake.registry import Dataset, registry
from spapi_toolkit.lake.storage import InvalidKey, Lake
from spapi_toolkit.regions import marketplace

log = logging.getLogger(__name__)


# Failures that say nothing about the request itself: the step is tried again later.
class DownloadFailed(SpApiToolkitError):
    """A document could not be downloaded within the attempts allowed."""


class TransientStepError(SpApiToolkitError):
    """One step (``JobIngestor.advance``) met a transient failure (5xx, connection, token): the
    caller (a Step Functions Retry) tries the step again later."""


TRANSIENT_ERRORS = (UnauthorizedError, ServerError, TransportError, DownloadFailed)
DOWNLOAD_ATTEMPTS = 3
# One thread drives every request of a seller, and a call blocks it while it waits for its
# rate-limit token. A step whose call would wait longer than this (real seconds) is put off
# until its token exists, so a slow operation (documents at Amazon's one a minute, a bucket
# halved by a 429) does not hold up the other requests' steps on other operations.
STEP_PATIENCE = 0.05


@dataclass
class IngestSettings:
    """How patient ingestion is; the defaults suit Amazon, ``time_scale`` the local sandbox."""

    poll_seconds: float = 30.0
    fatal_cooldown: timedelta = timedelta(minutes=30)
    max_attempts: int = 3  # requests per entry: FATAL reports are retried up to this
    reuse_window: timedelta = timedelta(hours=72)
    report_timeout: timedelta = timedelta(hours=6)
    quota_backoff: timedelta = timedelta(minutes=15)  # after Amazon refused a quota request
    time_scale: float = 1.0  # the service's clock speed: 60 means a minute per real second
    max_step_errors: int = 5  # transient failures (5xx, connection, token) before giving up

    def real(self, span: timedelta | float) -> float:
        """Real seconds for a span of the service's time."""
        seconds = span.total_seconds() if isinstance(span, timedelta) else span
        return seconds / self.time_scale


@dataclass
class RunStats:
    planned: int = 0
    already_landed: int = 0
    requested: int = 0  # create calls sent: a FATAL report asked for again counts again
    reused: int = 0
    recovered: int = 0  # in-flight requests of an interrupted run, found again
    landed: int = 0
    no_data: int = 0
    failed: int = 0
    bytes_landed: int = 0
    quota_wait_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


# Told after every step: the run's counts, the requests still pending, an ETA when known.
Progress = Callable[[RunStats, int, float | None], None]


def redact_urls(text: str) -> str:
    """``text`` with the query of every URL removed: pre-signed URLs carry credentials."""
    return re.sub(r"((?:https?://|/)[^\s?'\"]*)\?[^\s'\")]*", r"\1?<query removed>", text)


def new_entry(request: PlannedRequest, seller_id: str, payload: dict[str, Any]) -> Entry:
    """The ledger entry of a planned request; ``payload`` is what will be sent for it."""
    window = request.window
    return Entry(
        request_id=request.request_id,
        dataset=request.dataset.name,
        seller_id=seller_id,
        marketplace_ids=list(request.marketplace_ids),
        dt=str(request.dt),
        request=payload,
        provisional=request.provisional_as_of is not None,
        window=[str(window.start), str(window.end)] if window else None,
    )


def encodings_for(fmt: str, marketplace_ids: Sequence[str]) -> list[str]:
    """The encodings a document may arrive in, in the order they are tried: UTF-8, then the
    marketplaces' flat-file encodings (cp1252 in Europe, cp932 in Japan), then ISO-8859-1,
    which decodes anything (a cp1252 file with one of the five bytes cp1252 leaves undefined)."""
    if fmt != "tsv":
        return ["utf-8"]
    encodings = ["utf-8"]
    for marketplace_id in marketplace_ids:
        encoding = marketplace(marketplace_id).flat_file_encoding
        if encoding not in encodings:
            encodings.append(encoding)
    return [*encodings, "iso-8859-1"]


@dataclass
class _Work:
    request: PlannedRequest
    entry: Entry | None
    due: float = 0.0  # monotonic time of the next step
    deadline: float | None = None
    quota_blocked: bool = False  # a report quota holds it back
    step_errors: int = 0  # transient failures of its steps so far
    last_error: str = ""  # the latest transient failure, for ``advance``


@dataclass(frozen=True)
class Advanced:
    """What one ``JobIngestor.advance`` step left: the entry's status (``new`` when the step
    wrote nothing) and the real seconds before the next step is worth taking."""

    status: str
    wait_seconds: float
    entry: Entry | None


class JobIngestor:
    """Lands one seller's planned requests of one kind of job in the raw zone.

    ``kind_type`` builds the kind (see ``kinds.py``); ``ReportIngestor`` and ``KioskIngestor``
    are this loop with their kind chosen.
    """

    kind_type: ClassVar[type[JobKind]]

    def __init__(
        self,
        client: SpApiClient,
        lake: Lake,
        seller_id: str,
        settings: IngestSettings | None = None,
        progress: Progress | None = None,
        clock: Clock | None = None,
    ):
        self.client = client
        self.lake = lake
        self.seller_id = seller_id
        self.settings = settings or IngestSettings(time_scale=client.time_scale)
        self.clock = clock or client.clock  # the service's idea of now: see ``clock.py``
        self.ledger = Ledger(lake, self.clock)
        self.progress = progress
        self.stats = RunStats()
        self.kind = self.kind_type(client, self.clock, self.settings)
        self._finished: dict[str, JobState] = {}  # job id -> a notification's news of it
        self._finished_lock = threading.Lock()
        # Whether a poll that finds the job DONE lands its document at once (the run loop), or
        # leaves the entry ``done`` for a separate landing step (``advance`` in a Lambda).
        self.land_when_done = True

    @property
    def source(self) -> str:
        """The registry source this ingestor handles."""
        return self.kind.source

    # ---- notifications ------------------------------------------------------------------

    def job_finished(self, job_id: str, status: str, document_id: str | None) -> None:
        """Called by a notification listener: spares the next poll of that job."""
        state = self.kind.notice(job_id, status, document_id)
        if state is None:
            return  # nothing to act on in this notice: the next poll will say
        with self._finished_lock:
            self._finished[job_id] = state

    # ---- the run --------------------------------------------------------------------------

    def run(self, requests: Sequence[PlannedRequest]) -> RunStats:
        """Drive every request of this kind to landed, no data or failed; return what happened."""
        known = {e.request_id: e for e in self.ledger.entries(self.seller_id)}
        self.kind.start(list(known.values()))
        work: list[_Work] = []
        for request in requests:
            if request.dataset.source != self.source:
                continue
            self.stats.planned += 1
            entry = known.get(request.request_id)
            if entry is not None and entry.finished:
                self.stats.already_landed += 1
                continue
            if entry is not None and entry.status == "failed":
                self.stats.failed += 1
                self.stats.errors.append(f"{entry.request_id}: {entry.error}")
                continue
            work.append(_Work(request, entry))
        while work:
            now = self.clock.monotonic()
            for item in work:
                if item.due <= now or self._told(item):
                    self._step(item)
            work = [w for w in work if w.entry is None or not self._settled(w.entry)]
            self._report_progress(len(work))
            if work:
                # At most 0.2 s: a notification may wake an item before its due time.
                pause = min(min(w.due for w in work) - self.clock.monotonic(), 0.2)
                if pause > 0:
                    self.clock.sleep(pause)
                    if any(w.quota_blocked for w in work):
                        self.stats.quota_wait_seconds += pause
        self._report_progress(0)
        return self.stats

    def advance(self, request: PlannedRequest) -> Advanced:
        """Take the one next step of ``request`` (create, poll, or download and land) and say
        where it stands: what the run loop does for every request, one step at a time, for a
        caller that keeps no state between steps (a Lambda function sequenced by a Step
        Functions state machine). Everything it knows comes from the ledger, so the same
        request may be advanced by a different process each time.

        A transient failure (5xx, connection, token) raises ``TransientStepError``; the
        caller's retry policy decides when to try again. A request already settled (landed, no
        data, failed) is not touched. With ``land_when_done`` off a poll that finds the job
        DONE stops at ``done``; the next ``advance`` lands it.
        """
        # What the kind learns from (jobs held, quota history) is per report type: only the
        # entries of datasets of that type are read, not the seller's whole history.
        kind = request.dataset
        related = [d.name for d in registry().values()
                   if d.source == kind.source and d.report_type == kind.report_type]  # fmt: skip
        entries = [e for name in related for e in self.ledger.entries(self.seller_id, name)]
        self.kind.start(entries)
        entry = next((e for e in entries if e.request_id == request.request_id), None)
        if entry is not None and self._settled(entry):
            return Advanced(entry.status, 0.0, entry)
        item = _Work(request, entry)
        if entry is not None and entry.status == "requested":
            # The report timeout counts from when the job was sent, not from this step.
            sent = next((t for t, st, _ in reversed(entry.history) if st == "requested"), None)
            if sent is not None:
                timeout = self.settings.real(self.settings.report_timeout)
                spent = (self.clock.now() - parse_time(sent)).total_seconds()
                item.deadline = self.clock.monotonic() + timeout - spent
        self._step(item)
        if item.last_error and item.entry is not None and not self._settled(item.entry):
            raise TransientStepError(f"{request.request_id}: {item.last_error}")
        wait = max(0.0, item.due - self.clock.monotonic()) if item.due else 0.0
        status = item.entry.status if item.entry is not None else "new"
        return Advanced(status, wait, item.entry)

    def _told(self, item: _Work) -> bool:
        """A notification says this item's job finished: no need to wait for the poll."""
        if item.entry is None or item.entry.status != "requested":
            return False
        with self._finished_lock:
            return item.entry.report_id in self._finished

    def _after(self, span: timedelta | float) -> float:
        """The monotonic time a span of the service's time from now."""
        return self.clock.monotonic() + self.settings.real(span)

    def _settled(self, entry: Entry) -> bool:
        return entry.finished or entry.status == "failed"

    def _report_progress(self, pending: int) -> None:
        if self.progress is not None:
            self.progress(self.stats, pending, None)

    def _step(self, item: _Work) -> None:
        """Advance one request by one step; every error ends in the ledger, not in a crash."""
        try:
            entry = item.entry
            if self._put_off(item):
                return
            if entry is None or entry.status in ("requesting", "fatal"):
                self._request(item)
            elif entry.status == "requested":
                self._poll(item)
            elif entry.status == "done":
                self._land(item)
        except ThrottledError as exc:
            item.due = self._after(self.settings.quota_backoff)
            log.warning("%s: throttled (%s); trying again later", item.request.request_id, exc)
        except TRANSIENT_ERRORS as exc:
            # The client's own retries are spent, but the service may recover: try this step
            # again later, a bounded number of times, before giving the request up.
            item.step_errors += 1
            item.last_error = redact_urls(str(exc)) or type(exc).__name__
            if item.step_errors >= self.settings.max_step_errors:
                self._fail(item, f"{exc} ({item.step_errors} times)")
            else:
                item.due = self._after(self.settings.poll_seconds)
                log.warning("%s: %s; trying again later", item.request.request_id, exc)
        except (SpApiError, SpApiToolkitError) as exc:
            self._fail(item, str(exc))

    def _put_off(self, item: _Work) -> bool:
        """Whether the item's next call would wait for its rate-limit token beyond
        ``STEP_PATIENCE``; then the step is put off until the token exists (see above)."""
        status = item.entry.status if item.entry is not None else None
        if status == "requested" and self._told(item):
            status = "done"  # a notification spares the poll: the next call is the document's
        operation = self.kind.step_operations.get(status)
        wait = self.client.rate_limit_delay(operation) if operation else 0.0
        if wait <= STEP_PATIENCE:
            return False
        item.due = self.clock.monotonic() + wait
        return True

    def _land_when_free(self, item: _Work) -> None:
        """Land a report found DONE now, unless the document call would wait: then later."""
        if not self._put_off(item):
            self._land(item)

    def _fail(self, item: _Work, reason: str) -> None:
        entry = item.entry or self._new_entry(item.request)
        self.ledger.move(entry, "failed", reason, error=reason)
        item.entry = entry
        self.stats.failed += 1
        self.stats.errors.append(f"{entry.request_id}: {reason}")

    def _new_entry(self, request: PlannedRequest) -> Entry:
        return new_entry(request, self.seller_id, self.kind.payload(request))

    def _cooling_down(self, item: _Work) -> bool:
        """Whether a FATAL entry's cool-down still runs (then its next step is put off)."""
        entry = item.entry
        if entry is None or entry.status != "fatal" or not entry.retry_after:
            return False
        wait = (parse_time(entry.retry_after) - self.clock.now()).total_seconds()
        if wait > 0:
            item.due = self.clock.monotonic() + wait
        return wait > 0

    # ---- requesting ---------------------------------------------------------------------

    def _request(self, item: _Work) -> None:
        request, entry = item.request, item.entry
        if self._cooling_down(item):
            return
        existing = self.kind.find_existing(request, entry)
        if existing is not None:
            recovered = entry is not None and entry.status == "requesting"
            entry = entry or self._new_entry(request)
            self.ledger.move(entry, "requested", self.kind.found_note,
                             report_id=existing, reused=not recovered)  # fmt: skip
            item.entry = entry
            self.stats.recovered += int(recovered)
            self.stats.reused += int(not recovered)
            item.due = 0.0
            return
        wait = self.kind.quota_wait(request)
        item.quota_blocked = wait > 0
        if item.quota_blocked:
            item.due = self.clock.monotonic() + wait
            return
        entry = entry or self._new_entry(request)
        attempt = entry.attempts + 1
        # Recorded before it is sent: a crash from here on finds it again instead of asking twice.
        self.ledger.move(entry, "requesting", f"attempt {attempt}", attempts=attempt)
        item.entry = entry
        try:
            job_id = self.kind.create(request, entry)
        except ThrottledError:
            # Refused, so not requested: it counts neither as an attempt nor against the quota.
            entry.attempts -= 1
            self.ledger.put(entry)
            raise
        self.ledger.move(entry, "requested", "", report_id=job_id)
        self.stats.requested += 1
        item.due = self._after(self.settings.poll_seconds)
        item.deadline = self._after(self.settings.report_timeout)

    # ---- waiting --------------------------------------------------------------------------

    def _poll(self, item: _Work) -> None:
        entry = item.entry
        assert entry is not None and entry.report_id is not None
        with self._finished_lock:
            state = self._finished.pop(entry.report_id, None)
        if state is None:
            state = self.kind.poll(entry.report_id)
        if state.outcome == "done":
            self.ledger.move(entry, "done", state.note, document_id=state.document_id)
            if self.land_when_done:
                self._land_when_free(item)
        elif state.outcome == "no_data":
            self.ledger.move(entry, "no_data", state.note)
            self.stats.no_data += 1
        elif state.outcome == "fatal":
            self._fatal(item)
        else:
            if item.deadline is None:  # resumed, recovered or reused: the clock starts now
                item.deadline = self._after(self.settings.report_timeout)
            if self.clock.monotonic() > item.deadline:
                raise SpApiToolkitError(
                    f"{self.kind.noun} {entry.report_id} still {state.status} at the timeout"
                )
            item.due = self._after(self.settings.poll_seconds)

    def _fatal(self, item: _Work) -> None:
        entry = item.entry
        assert entry is not None
        noun = self.kind.noun
        if entry.attempts >= self.settings.max_attempts:
            self._fail(item, f"{noun} {entry.report_id} ended FATAL {entry.attempts} times")
            return
        cooldown = self.settings.real(self.settings.fatal_cooldown)
        retry_after = self.clock.now() + timedelta(seconds=cooldown)
        note = f"{noun} {entry.report_id} FATAL; retrying after a cool-down"
        self.ledger.move(entry, "fatal", note, retry_after=iso(retry_after))
        item.due = self.clock.monotonic() + cooldown

    # ---- landing --------------------------------------------------------------------------

    def _open_document(self, document_id: str) -> tuple[str | None, Iterator[bytes]]:
        """The declared compression of a document, and its bytes as they arrive."""
        return self.kind.open_document(document_id)

    def _land(self, item: _Work) -> None:
        assert item.entry is not None
        try:
            self.land_entry(item.entry)
        except BadDocument as exc:
            self._fail(item, f"bad document {item.entry.document_id}: {exc.reason}")
        # DownloadFailed goes up to _step: a transient failure, tried again later.

    def land_entry(self, entry: Entry) -> Manifest:
        """Download a DONE job's document into the raw zone and mark the entry landed.

        Works from the ledger entry alone, so a notification listener can land a report that a
        run requested. A document whose manifest already exists is not fetched again.
        """
        assert entry.document_id is not None
        dataset = registry()[entry.dataset]
        stem = raw_stem(entry.dataset, entry.seller_id, entry.marketplace_ids[0],
                        date.fromisoformat(entry.dt), entry.request_id)  # fmt: skip
        manifest = is_landed(self.lake, stem, dataset.format)
        if manifest is None:
            manifest = self._download_and_land(entry, stem, dataset)
            self.stats.bytes_landed += manifest.bytes
        self.ledger.move(entry, "landed", "", raw_key=manifest.key)
        self.stats.landed += 1
        return manifest

    def _download_and_land(self, entry: Entry, stem: str, dataset: Dataset) -> Manifest:
        assert entry.document_id is not None
        fmt = dataset.format
        fields = {
            "dataset": entry.dataset,
            "seller_id": entry.seller_id,
            "marketplace_ids": list(entry.marketplace_ids),
            "request": entry.request,
            "report_id": entry.report_id,
            "document_id": entry.document_id,
        }
        last_error, quota, spent, made = "", self.client.retry_quota, 0, 0
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            if attempt > 1:
                # The client's backoff and shared retry budget, as for its API calls.
                cost = quota.acquire(None)
                if cost is None:
                    last_error += "; the client's retry budget is spent"
                    break
                spent += cost
                self.clock.sleep(self.client.retry.backoff(attempt - 1))
            made = attempt
            try:
                declared, chunks = self._open_document(entry.document_id)
                manifest = land(
                    self.lake, stem, chunks, fmt=fmt,
                    encodings=encodings_for(fmt, entry.marketplace_ids),
                    manifest_fields={**fields, "declared_compression": declared},
                    shape=document_shape(dataset), now=self.clock.now(),
                )  # fmt: skip
                quota.release(spent)
                return manifest
            except (BadDocument, KeyLayoutError, InvalidKey):
                raise  # bad bytes are not retried; the others are bugs in what we asked
            except (SpApiToolkitError, OSError, urllib3.exceptions.HTTPError) as exc:
                last_error = redact_urls(str(exc)) or type(exc).__name__
                log.warning("download %d of %s failed: %s", attempt, entry.document_id, last_error)
        raise DownloadFailed(
            f"document {entry.document_id} could not be downloaded in {made} attempts: {last_error}"
        )


class ReportIngestor(JobIngestor):
    """The job loop over reports: lands one seller's planned report requests."""

    kind_type = ReportJobs

    def report_finished(self, report_id: str, status: str, document_id: str | None) -> None:
        """Called by a notification listener (REPORT_PROCESSING_FINISHED)."""
        self.job_finished(report_id, status, document_id)


def ingest_reports(
    client: SpApiClient,
    lake: Lake,
    seller_id: str,
    requests: Sequence[PlannedRequest],
    settings: IngestSettings | None = None,
    progress: Progress | None = None,
    on_ingestor: Callable[[ReportIngestor], None] | None = None,
    clock: Clock | None = None,
) -> RunStats:
    """Land ``requests`` (the report ones) for one seller; see ``ReportIngestor``."""
    ingestor = ReportIngestor(client, lake, seller_id, settings, progress, clock)
    if on_ingestor is not None:
        on_ingestor(ingestor)
    return ingestor.run(requests)
