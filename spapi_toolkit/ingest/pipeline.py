"""One ingestion run over several sellers: reports, Data Kiosk queries, then API snapshots.

Each seller runs in its own thread with its own client: Amazon's limits are per seller, so one
seller's throttling never slows another, and one seller's failure does not stop the others.
Snapshots come last because the catalog, listings and pricing snapshots are driven by the SKUs
and ASINs of the merchant listings report the same run lands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.ingest.jobs import IngestSettings, ReportIngestor, RunStats, redact_urls
from spapi_toolkit.ingest.kiosk import KioskIngestor
from spapi_toolkit.ingest.ledger import Entry, Ledger, covered_days
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.ingest.snapshots import SnapshotStats, ingest_snapshots
from spapi_toolkit.lake.registry import Dataset
from spapi_toolkit.lake.storage import Lake

log = logging.getLogger(__name__)

# (seller id, stage name, done, total, one-line summary)
PipelineProgress = Callable[[str, str, int, int, str], None]


@dataclass
class SellerRun:
    """One seller's part of a run, and what came of it."""

    seller_id: str
    client: SpApiClient
    reports: RunStats | None = None
    kiosk: RunStats | None = None
    snapshots: SnapshotStats | None = None
    error: str | None = None  # why the seller's run stopped early, if it did
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        found = [self.error] if self.error else []
        for stats in (self.reports, self.kiosk, self.snapshots):
            if stats is not None:
                found += stats.errors
        return found


def _report_line(stats: RunStats) -> str:
    return (
        f"sent {stats.requested} · landed {stats.landed} · no data {stats.no_data} · failed "
        f"{stats.failed} · {stats.bytes_landed / 1e6:.1f} MB · waiting for quota "
        f"{stats.quota_wait_seconds:.0f}s"
    )


def run_seller(
    run: SellerRun,
    lake: Lake,
    datasets: Sequence[Dataset],
    marketplace_ids: Sequence[str],
    start: date,
    end: date,
    today: date,
    progress: PipelineProgress | None = None,
    notices: ReportNotices | None = None,
    settings: IngestSettings | None = None,
    one_source: bool = False,
) -> SellerRun:
    """Plan and land everything for one seller; errors end up in ``run``, never raised.

    With ``notices``, report completion arrives by notification as well as by polling;
    ``one_source`` asks each day of datasets giving the same figures of one only
    (``planner.plan``)."""

    def tell(stage: str, done: int, total: int, line: str) -> None:
        if progress is not None:
            progress(run.seller_id, stage, done, total, line)

    def on_reports(stage: str) -> Callable[[RunStats, int, float | None], None]:
        def show(stats: RunStats, pending: int, _eta: float | None) -> None:
            done = stats.landed + stats.no_data + stats.failed + stats.already_landed
            tell(stage, done, stats.planned, _report_line(stats))

        return show

    def on_snapshots(stats: SnapshotStats, pending: int) -> None:
        done = stats.landed + stats.no_data + stats.failed + stats.already_landed
        line = f"calls {stats.calls} · items {stats.items} · {stats.bytes_landed / 1e6:.1f} MB"
        tell("snapshots", done, stats.planned, line)

    try:
        entries = Ledger(lake).entries(run.seller_id)
        planned = plan(datasets, run.seller_id, marketplace_ids, start, end, today,
                       covered_days(entries), one_source=one_source,
                       pulled=covered_days(entries, provisional=True))  # fmt: skip
        run.notes = planned.notes
        requests = planned.requests
        settings = settings or IngestSettings(time_scale=run.client.time_scale)
        sources = {r.dataset.source for r in requests}
        # Data Kiosk's queries run beside the reports (their limits are their own, and a
        # backfill's history may be Data Kiosk's while the reports wait on their quota); the
        # snapshots wait for both: they need the merchant listings report.
        kiosk = _Beside(
            lambda: KioskIngestor(
                run.client, lake, run.seller_id, settings, on_reports("data kiosk")
            ).run(requests),
            start="data_kiosk" in sources,
        )
        try:
            if "report" in sources:
                ingestor = ReportIngestor(
                    run.client, lake, run.seller_id, settings, on_reports("reports")
                )
                if notices is not None:
                    notices.running[run.seller_id] = ingestor
                try:
                    run.reports = ingestor.run(requests)
                finally:
                    if notices is not None:
                        notices.running.pop(run.seller_id, None)
        finally:
            kiosk.join()  # a failed report run still waits for the queries in flight
        run.kiosk = kiosk.result()
        if "api" in sources:
            run.snapshots = ingest_snapshots(
                run.client, lake, run.seller_id, requests, progress=on_snapshots
            )
    except SpApiToolkitError as exc:
        run.error = str(exc)
    except Exception as exc:  # storage, boto3 or a bug: the seller stops, the run reports it
        run.error = f"{type(exc).__name__}: {redact_urls(str(exc))}"
        log.exception("ingestion of %s stopped", run.seller_id)
    return run


class _Beside:
    """``work`` run in a thread of its own (when ``start``): ``result`` waits for it and
    returns what it returned, or raises what it raised."""

    def __init__(self, work: Callable[[], RunStats], *, start: bool) -> None:
        self._work = work
        self._value: RunStats | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="data-kiosk") if start else None
        if self._thread is not None:
            self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self) -> RunStats | None:
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def run_sellers(runs: Sequence[SellerRun], *args: Any, **kwargs: Any) -> list[SellerRun]:
    """``run_seller`` for every seller at once, one thread each."""
    threads = [
        threading.Thread(target=run_seller, args=(r, *args), kwargs=kwargs, name=r.seller_id)
        for r in runs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return list(runs)


class ReportNotices:
    """Routes REPORT_PROCESSING_FINISHED notifications to the run that requested the report.

    A running ingestor registers itself per seller and is told at once (sparing its next poll).
    With no run in progress (``spapi listen`` alone) the report is found in the ledger and
    landed straight away, so a finished report lands even when no ingestion is running.
    """

    def __init__(self, lake: Lake, clients: dict[str, SpApiClient]):
        self.lake = lake
        self.clients = clients  # seller id -> client, for landing outside a run
        self.running: dict[str, ReportIngestor] = {}
        self.unknown = 0  # notices of reports this lake never asked for

    def __call__(self, notification: Any) -> None:
        event = notification.event
        seller, report_id = event.get("sellerId", ""), event.get("reportId", "")
        status, document = event.get("processingStatus", ""), event.get("reportDocumentId")
        ingestor = self.running.get(seller)
        if ingestor is not None:
            ingestor.report_finished(report_id, status, document)
            return
        self.land_from_ledger(seller, report_id, status, document)

    def land_from_ledger(self, seller: str, report_id: str, status: str, document: Any) -> None:
        entry = find_report_entry(Ledger(self.lake), seller, report_id)
        if entry is None or entry.finished or seller not in self.clients:
            self.unknown += entry is None
            return
        ingestor = ReportIngestor(self.clients[seller], self.lake, seller)
        if record_report_notice(ingestor.ledger, entry, status, document) == "done":
            ingestor.land_entry(entry)


def find_report_entry(ledger: Ledger, seller: str, report_id: str) -> Entry | None:
    """The ledger entry of ``seller`` that holds report ``report_id``, if any."""
    return next((e for e in ledger.entries(seller) if e.report_id == report_id), None)


def record_report_notice(ledger: Ledger, entry: Entry, status: str, document: Any) -> str:
    """Write a REPORT_PROCESSING_FINISHED notice into ``entry``: DONE with a document moves it
    to ``done`` (the document is landed by whoever lands it next), CANCELLED to ``no_data``.
    A finished entry, or any other status (FATAL is left to the next poll, which retries it),
    is not touched. Returns the entry's status afterwards."""
    if entry.finished:
        return entry.status
    if status == "DONE" and document:
        ledger.move(entry, "done", "told by REPORT_PROCESSING_FINISHED", document_id=document)
    elif status == "CANCELLED":
        ledger.move(entry, "no_data", "CANCELLED, told by REPORT_PROCESSING_FINISHED")
    return entry.status
