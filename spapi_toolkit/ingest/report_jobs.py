"""Reports as a job kind: createReport, getReport, getReportDocument, and Amazon's report rules.

What is report-specific in landing a report, for the job loop of ``jobs.py``:

* a report already made is found again with ``getReports`` (listed once a run): an entry left
  ``requesting`` by an interrupted run adopts the report it may have created, and a settled
  request of a dataset without report options adopts a DONE report made since the window
  settled (reused). A report another ledger entry holds is never adopted;
* report-type quotas (Sales & Traffic: 4 an hour, 96 a day per seller) are counted from the
  ledger's own history of requests;
* createReport is not idempotent: it is retried only when throttled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spapi_toolkit.api.client import SpApiClient, prepare_call
from spapi_toolkit.api.errors import ThrottledError
from spapi_toolkit.api.models import find_operation
from spapi_toolkit.api.ratelimit import REPORT_QUOTAS, RetryPolicy, next_report_slot
from spapi_toolkit.api.reports import open_document
from spapi_toolkit.clock import Clock
from spapi_toolkit.ingest.kinds import JobState, iso, parse_time
from spapi_toolkit.ingest.ledger import Entry
from spapi_toolkit.ingest.planner import PlannedRequest

if TYPE_CHECKING:
    from spapi_toolkit.ingest.jobs import IngestSettings

# A quota-limited createReport answered 429 waits for the quota, not for a client retry.
QUOTA_RETRY = RetryPolicy(max_attempts=2, base_seconds=0.5, cap_seconds=2.0, throttling_only=True)
CREATE_RETRY = RetryPolicy(throttling_only=True)
# How far our clock and Amazon's may disagree when matching a report to when we sent it.
CLOCK_SKEW = timedelta(minutes=5)
TOLD = "told by REPORT_PROCESSING_FINISHED"


def same_request(report: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a report Amazon lists was made for ``body`` (times compared as instants)."""
    if report.get("reportType") != body["reportType"]:
        return False
    if sorted(report.get("marketplaceIds") or []) != sorted(body["marketplaceIds"]):
        return False
    for name in ("dataStartTime", "dataEndTime"):
        if name in body and (name not in report or parse_time(report[name]) != body[name]):
            return False
    return True


def report_state(report: dict[str, Any], note: str) -> JobState:
    """A getReport answer (or a notification's) as the loop reads it; ``note`` for DONE."""
    status = report.get("processingStatus")
    if status == "DONE":
        return JobState("done", status, report["reportDocumentId"], note)
    if status == "CANCELLED":
        return JobState("no_data", status, note="CANCELLED: Amazon has no data for this window")
    if status == "FATAL":
        return JobState("fatal", status)
    return JobState("running", str(status))


class ReportJobs:
    """The report kind of job, for one seller's run (it keeps the run's listings and quotas)."""

    source = "report"
    noun = "report"
    found_note = "found among recent reports"
    step_operations = {None: "createReport", "requesting": "createReport",
                       "fatal": "createReport", "requested": "getReport",
                       "done": "getReportDocument"}  # fmt: skip

    def __init__(self, client: SpApiClient, clock: Clock, settings: IngestSettings):
        self.client = client
        self.clock = clock
        self.settings = settings
        self._listing: dict[str, list[dict[str, Any]]] = {}  # report type -> recent reports
        self._listed_at: dict[str, datetime] = {}
        self._used_report_ids: set[str] = set()  # held by ledger entries: never adopted again
        self._sent: dict[str, list[datetime]] = {}  # report type -> when this seller asked

    def payload(self, request: PlannedRequest) -> dict[str, Any]:
        """The createReport body, its times written as Amazon takes them."""
        body = request.report_body()
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in body.items()}

    def start(self, entries: Sequence[Entry]) -> None:
        """The reports the ledger holds, and when each report type was requested (quotas)."""
        self._used_report_ids = {e.report_id for e in entries if e.report_id}
        for entry in entries:
            for when, status, _ in entry.history:
                if status == "requesting":
                    report_type = entry.request.get("reportType", "")
                    self._sent.setdefault(report_type, []).append(parse_time(when))

    # ---- finding a report again -----------------------------------------------------------

    def _recent_reports(self, report_type: str, fresh_after: datetime | None = None) -> list[Any]:
        """This seller's reports of ``report_type`` from the last 72 hours, listed once a run, or
        again when the listing predates ``fresh_after`` (a request sent since may be in it)."""
        listed_at = self._listed_at.get(report_type)
        if listed_at is None or (fresh_after is not None and listed_at < fresh_after):
            started = self.clock.now()
            # Not scaled: a sandbox's clock starts where ours does and runs faster, not slower.
            since = started - self.settings.reuse_window
            reports: list[dict[str, Any]] = []
            for page in self.client.paginate(
                "getReports", reportTypes=[report_type], createdSince=since, pageSize=100
            ):
                reports.extend(page.get("reports", []))
            # Recorded only once listed: a listing that failed (the job is tried again later)
            # must be asked again, not read from a cache it never reached.
            self._listing[report_type] = reports
            self._listed_at[report_type] = started
        return self._listing[report_type]

    def find_existing(self, request: PlannedRequest, entry: Entry | None) -> str | None:
        """A report already made for this request: ours, sent by an interrupted attempt, or
        (for a settled request of a dataset without report options, which Amazon does not list)
        a DONE one made since the window settled. Never a report another entry holds."""
        body = request.report_body()
        in_flight = entry is not None and entry.status == "requesting"
        if in_flight:
            assert entry is not None
            sent = parse_time(next(t for t, st, _ in reversed(entry.history) if st == "requesting"))
            not_before = sent - CLOCK_SKEW
        elif request.dataset.report_options or request.provisional_as_of is not None:
            return None
        else:
            not_before = self._settled_since(request)
        listing = self._recent_reports(str(request.dataset.report_type),
                                       fresh_after=not_before if in_flight else None)  # fmt: skip
        for report in listing:
            if report.get("reportId") in self._used_report_ids or not same_request(report, body):
                continue
            if "createdTime" in report and parse_time(report["createdTime"]) < not_before:
                continue
            if in_flight or report.get("processingStatus") == "DONE":
                report_id = str(report["reportId"])
                self._used_report_ids.add(report_id)
                return report_id
        return None

    def _settled_since(self, request: PlannedRequest) -> datetime:
        """From when a report of this request holds settled numbers (or today's snapshot)."""
        day = request.snapshot_date if request.window is None else (
            request.window.end + timedelta(days=request.dataset.restatement_days + 2)
        )  # fmt: skip
        assert day is not None
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC)

    # ---- requesting -----------------------------------------------------------------------

    def quota_wait(self, request: PlannedRequest) -> float:
        """Seconds until a report-type quota allows another request (0 when none applies)."""
        report_type = str(request.dataset.report_type)
        if report_type not in REPORT_QUOTAS:
            return 0.0
        now = self.clock.now()
        sent = self._sent.get(report_type, [])
        slot = next_report_slot(report_type, sent, now, self.settings.time_scale)
        return max(0.0, (slot - now).total_seconds())

    def create(self, request: PlannedRequest, entry: Entry) -> str:
        """createReport. It is not idempotent: a 5xx or a lost answer is not retried here (the
        next step looks the report up first); under a report quota a 429 waits for the quota.
        A refused request (throttled) does not count against the quota."""
        sent = self._sent.setdefault(str(request.dataset.report_type), [])
        sent.append(self.clock.now())
        try:
            call = prepare_call(find_operation("createReport"), {"body": request.report_body()})
            retry = QUOTA_RETRY if request.dataset.report_type in REPORT_QUOTAS else CREATE_RETRY
            report_id = str(dict(self.client.send(call, retry=retry))["reportId"])
        except ThrottledError:
            sent.pop()
            raise
        self._used_report_ids.add(report_id)
        return report_id

    # ---- waiting and fetching -------------------------------------------------------------

    def poll(self, job_id: str) -> JobState:
        """getReport."""
        return report_state(self.client.call("getReport", reportId=job_id), "polled")

    def notice(self, job_id: str, status: str, document_id: str | None) -> JobState | None:
        """REPORT_PROCESSING_FINISHED; a DONE without a document leaves it to the next poll."""
        if status == "DONE" and not document_id:
            return None
        notice = {"processingStatus": status, "reportDocumentId": document_id}
        return report_state(notice, TOLD)

    def open_document(self, document_id: str) -> tuple[str | None, Iterator[bytes]]:
        """getReportDocument: the declared compression, and the bytes as they arrive."""
        meta, chunks = open_document(self.client, document_id)
        return meta.get("compressionAlgorithm"), chunks
