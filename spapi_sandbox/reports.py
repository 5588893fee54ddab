"""Reports 2021-06-30 and Data Kiosk 2023-11-15: asynchronous jobs, their documents and URLs.

Both APIs work the same way: a request creates a job that sits ``IN_QUEUE``, moves to
``IN_PROGRESS`` and ends ``DONE`` (with a document), ``CANCELLED`` (no data for the window) or
``FATAL``. Here the moves happen on the sandbox clock: ``queue_seconds`` and
``processing_seconds`` after creation. Nothing runs in the background per job; ``tick`` (called
on every request and by the server's ticker) advances whatever is due, renders the document when
a job finishes and tells the notifier.

Documents live in ``DocumentStore`` and are fetched, like Amazon's S3 pre-signed URLs, from
``/documents-store/<id>?expires=..&sig=..`` on the same server; an expired URL gets S3's 403
"Request has expired" XML. Large documents (and some report types always) are GZIP-compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from spapi_sandbox.calls import Call, invalid_input, iso, not_found, page_of, parse_time, read_state
from spapi_sandbox.documents import REPORT_TYPES, NoDataError, render_data_kiosk, render_report
from spapi_sandbox.faults import Faults
from spapi_sandbox.http import Request, Response, sp_api_error
from spapi_sandbox.limits import QUOTA_EXCEEDED_MESSAGE
from spapi_sandbox.seller import SimulatedSeller
from spapi_toolkit.api.ratelimit import REPORT_QUOTAS
from spapi_toolkit.regions import marketplaces

REPORTS = "reports_2021-06-30"
KIOSK = "dataKiosk_2023-11-15"

GZIP_THRESHOLD = 64 * 1024  # bytes; larger documents are always compressed
ALWAYS_GZIP = frozenset(
    {
        "GET_SALES_AND_TRAFFIC_REPORT",
        "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT",
        "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT",
        "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT",
    }
)
DEFAULT_WINDOW = timedelta(days=30)  # when createReport names no dataStartTime
REPORTS_PAGE_SIZE = 10
REPORTS_LOOKBACK = timedelta(days=90)  # getReports' default createdSince

# ISO 8601 periods of report schedules, in seconds ("P1M" counted as 30 days).
SCHEDULE_PERIODS = {
    "PT5M": 300, "PT15M": 900, "PT30M": 1800, "PT1H": 3600, "PT2H": 7200, "PT4H": 14400,
    "PT8H": 28800, "PT12H": 43200, "P1D": 86400, "P2D": 172800, "P3D": 259200,
    "PT84H": 302400, "P7D": 604800, "P14D": 1209600, "P15D": 1296000, "P18D": 1555200,
    "P30D": 2592000, "P1M": 2592000,
}  # fmt: skip

EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)
BAD_SIGNATURE_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
    b"<Message>The request signature we calculated does not match the signature you "
    b"provided.</Message></Error>"
)


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    document_id: str
    content: bytes  # as served: already compressed when ``compression`` is GZIP
    compression: str | None
    content_type: str


class DocumentStore:
    """Stored documents and the short-lived signed URLs that download them."""

    PATH = "/documents-store/"

    def __init__(self, secret: bytes, now: Callable[[], float], url_lifetime: float = 300.0):
        self._secret = secret
        self._now = now
        self.url_lifetime = url_lifetime
        self._documents: dict[str, Document] = {}
        self._lock = threading.Lock()
        self.downloads = 0

    def put(self, content: bytes, *, compress: bool, content_type: str, region: str = "na") -> str:
        """Store ``content`` (gzipped when ``compress``); the id is derived from the bytes."""
        if compress:
            content = gzip.compress(content, mtime=0)  # mtime=0: same input, same bytes
        digest = hashlib.sha256(self._secret + content).hexdigest()
        document_id = f"amzn1.spdoc.1.4.{region}.{digest[:8]}-{digest[8:12]}-{digest[12:16]}-" + (
            f"{digest[16:20]}-{digest[20:32]}.T{digest[32:45].upper()}"
        )
        with self._lock:
            self._documents[document_id] = Document(
                document_id, content, "GZIP" if compress else None, content_type
            )
        return document_id

    def get(self, document_id: str) -> Document | None:
        return self._documents.get(document_id)

    def _signature(self, document_id: str, expires: int, encoding: str = "") -> str:
        message = f"{document_id}:{expires}" + (f":{encoding}" if encoding else "")
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, document_id: str, base_url: str, content_encoding: str = "") -> str:
        """A pre-signed download URL; ``content_encoding="gzip"`` signs in a
        ``Content-Encoding: gzip`` answer header (as S3's ``response-content-encoding``)."""
        expires = int(self._now() + self.url_lifetime)
        sig = self._signature(document_id, expires, content_encoding)
        extra = f"&response-content-encoding={content_encoding}" if content_encoding else ""
        return f"{base_url}{self.PATH}{document_id}?expires={expires}{extra}&sig={sig}"

    def download(
        self, request: Request, truncate: bool = False, gzip_header: bool = False
    ) -> Response:
        """``GET /documents-store/<id>``: the bytes, or S3-style XML errors.

        ``gzip_header`` adds ``Content-Encoding: gzip`` to the answer when the document is
        GZIP-compressed, as Amazon has at times done; the bytes stay the stored gzip bytes.
        """
        document_id = request.path[len(self.PATH) :]
        expires = (request.query.get("expires") or ["0"])[-1]
        sig = (request.query.get("sig") or [""])[-1]
        encoding = (request.query.get("response-content-encoding") or [""])[-1]
        xml = {"Content-Type": "application/xml"}
        if not expires.isdigit() or not hmac.compare_digest(
            sig, self._signature(document_id, int(expires), encoding)
        ):
            return Response(403, BAD_SIGNATURE_XML, xml)
        if int(expires) <= self._now():
            return Response(403, EXPIRED_XML, xml)
        document = self.get(document_id)
        if document is None:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", xml)
        self.downloads += 1
        headers = {"Content-Type": document.content_type}
        if (gzip_header or encoding == "gzip") and document.compression == "GZIP":
            headers["Content-Encoding"] = "gzip"
        return Response(200, document.content, headers, fault="truncate" if truncate else None)


# --------------------------------------------------------------------------------------------
# The job state machine shared by reports and queries
# --------------------------------------------------------------------------------------------


@dataclass
class Job:
    """One report or query moving through IN_QUEUE -> IN_PROGRESS -> DONE/CANCELLED/FATAL."""

    job_id: str
    seller_id: str
    created: float
    starts: float
    finishes: float
    produce: Callable[[float], tuple[bytes, str]]  # as_of -> (content, content type)
    spec: dict[str, Any]
    status: str = "IN_QUEUE"
    started: float | None = None
    ended: float | None = None
    document_id: str | None = None
    fatal: bool = False  # decided at creation by the fault dice
    error: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in ("DONE", "CANCELLED", "FATAL")


def _as_of(finished: float) -> datetime:
    """The moment a document describes: the hour its job finished, so reruns match byte-wise."""
    return datetime.fromtimestamp(finished - finished % 3600, UTC)


class JobQueue:
    """Advances jobs on the sandbox clock and stores what they produce."""

    def __init__(
        self,
        documents: DocumentStore,
        *,
        faults: Faults,
        queue_seconds: float,
        processing_seconds: float,
        on_finish: Callable[[Job], None],
        compress: Callable[[Job, bytes], bool],
        no_data_status: str = "CANCELLED",
    ):
        self.documents = documents
        self.faults = faults
        self.queue_seconds = queue_seconds
        self.processing_seconds = processing_seconds
        self._on_finish = on_finish
        self._compress = compress
        self._no_data_status = no_data_status  # Data Kiosk says DONE without a document
        self.jobs: dict[str, Job] = {}
        self._lock = threading.RLock()

    def submit(
        self,
        job_id: str,
        seller_id: str,
        now: float,
        produce: Callable[[float], tuple[bytes, str]],
        spec: dict[str, Any],
    ) -> Job:
        """Queue a job created at ``now``; the fault dice decide now whether it ends FATAL, one
        draw per request and attempt (its n-th identical spec), so which reports fail does not
        depend on the order threads create them in."""
        request = json.dumps([seller_id, spec], sort_keys=True, default=str)
        with self._lock:
            attempt = sum(1 for j in self.jobs.values()
                          if j.seller_id == seller_id and j.spec == spec)  # fmt: skip
            job = Job(
                job_id=job_id,
                seller_id=seller_id,
                created=now,
                starts=now + self.queue_seconds,
                finishes=now + self.queue_seconds + self.processing_seconds,
                produce=produce,
                spec=spec,
                fatal=self.faults.roll_for("fatal_report", f"{request}#{attempt}"),
            )
            self.jobs[job.job_id] = job
        return job

    def owned(self, job_id: str, seller_id: str | None) -> Job | None:
        """The job ``job_id`` if ``seller_id`` created it, else None."""
        job = self.jobs.get(job_id)
        return job if job and job.seller_id == seller_id else None

    def owns_document(self, document_id: str, seller_id: str | None) -> bool:
        """Whether one of ``seller_id``'s jobs produced ``document_id``."""
        return any(
            job.document_id == document_id and job.seller_id == seller_id
            for job in self.jobs.values()
        )

    def tick(self, now: float) -> None:
        finished = []
        with self._lock:
            for job in self.jobs.values():
                if job.status == "IN_QUEUE" and now >= job.starts:
                    job.status, job.started = "IN_PROGRESS", job.starts
                if job.status == "IN_PROGRESS" and now >= job.finishes:
                    self._finish(job)
                    finished.append(job)
        for job in finished:
            self._on_finish(job)

    def _finish(self, job: Job) -> None:
        """Render the job's document and end it; the status is set last, so a reader that
        sees DONE or FATAL always sees the document id too."""
        job.ended = job.finishes
        status, error, document = "FATAL", job.error, None
        if job.fatal:
            error = "The report could not be generated (injected fault)."
        else:
            try:
                content, content_type = job.produce(job.finishes)
            except NoDataError:
                job.status = self._no_data_status
                return
            except Exception as exc:  # a rendering bug must end the job, not the server
                error = f"{type(exc).__name__}: {exc}"
            else:
                status = "DONE"
                compress = self._compress(job, content)
                document = self.documents.put(content, compress=compress, content_type=content_type)
        if document is None:
            failure = json.dumps({"errorDetails": error}).encode()
            document = self.documents.put(failure, compress=False, content_type="application/json")
        job.error, job.document_id = error, document
        job.status = status

    def cancel(self, job: Job, now: float) -> bool:
        """Cancel a job still in the queue; False if it already started."""
        with self._lock:
            if job.status != "IN_QUEUE":
                return False
            job.status, job.ended = "CANCELLED", now
            return True


# --------------------------------------------------------------------------------------------
# Reports 2021-06-30
# --------------------------------------------------------------------------------------------


class ReportService:
    """createReport, getReport(s), cancelReport, getReportDocument and report schedules."""

    def __init__(
        self,
        documents: DocumentStore,
        *,
        sellers: dict[str, SimulatedSeller],
        faults: Faults,
        queue_seconds: float,
        processing_seconds: float,
        quota_now: Callable[[], float],
        quota_scale: float,
        notify: Callable[[str, str, dict[str, Any], float], None],
        first_id: int = 50_000_000_000,
    ):
        self.documents = documents
        self.sellers = sellers
        self._quota_now = quota_now
        self._quota_scale = quota_scale
        self._notify = notify
        self._next_id = first_id
        self._lock = threading.Lock()
        self._quota_history: dict[tuple[str, str], list[float]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.queue = JobQueue(
            documents,
            faults=faults,
            queue_seconds=queue_seconds,
            processing_seconds=processing_seconds,
            on_finish=self._finished,
            compress=lambda job, content: (
                len(content) > GZIP_THRESHOLD or job.spec["reportType"] in ALWAYS_GZIP
            ),
        )

    def handlers(self) -> dict[str, Callable[[Call], Response]]:
        return {
            f"{REPORTS}.createReport": self.create_report,
            f"{REPORTS}.getReport": self.get_report,
            f"{REPORTS}.getReports": self.get_reports,
            f"{REPORTS}.cancelReport": self.cancel_report,
            f"{REPORTS}.getReportDocument": self.get_report_document,
            f"{REPORTS}.createReportSchedule": self.create_schedule,
            f"{REPORTS}.getReportSchedule": self.get_schedule,
            f"{REPORTS}.getReportSchedules": self.get_schedules,
            f"{REPORTS}.cancelReportSchedule": self.cancel_schedule,
        }

    def _new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    # ---- quotas -------------------------------------------------------------------------

    def _quota_refusal(self, seller_id: str, report_type: str) -> Response | None:
        quotas = REPORT_QUOTAS.get(report_type)
        if not quotas:
            return None
        now = self._quota_now()
        with self._lock:
            history = self._quota_history.setdefault((seller_id, report_type), [])
            for quota in quotas:
                period = quota.period.total_seconds() / self._quota_scale
                if sum(1 for t in history if t > now - period) >= quota.max_requests:
                    return sp_api_error(429, "QuotaExceeded", QUOTA_EXCEEDED_MESSAGE)
            history.append(now)
        return None

    # ---- creating -----------------------------------------------------------------------

    def _validate_spec(self, call: Call, spec: dict[str, Any]) -> Response | None:
        kind = REPORT_TYPES.get(spec["reportType"])
        if kind is None:
            return invalid_input(f"Invalid reportType {spec['reportType']}.")
        for name, value in (spec.get("reportOptions") or {}).items():
            allowed = kind.options.get(name)
            if allowed is not None and value not in allowed:
                return invalid_input(
                    f"Invalid reportOptions {name}={value!r}: use {', '.join(allowed)}."
                )
        for marketplace_id in spec["marketplaceIds"]:
            if marketplace_id not in marketplaces():
                return invalid_input(f"Invalid marketplaceIds: {marketplace_id}.")
        times = {}
        for name in ("dataStartTime", "dataEndTime", "nextReportCreationTime"):
            if spec.get(name) is not None:
                try:
                    times[name] = parse_time(spec[name])
                except (ValueError, AttributeError):
                    return invalid_input(f"Invalid {name}: {spec[name]!r} is not an ISO 8601 time.")
        start, end = times.get("dataStartTime"), times.get("dataEndTime")
        if start and end and start > end:
            return invalid_input("dataStartTime must not be later than dataEndTime.")
        return None

    def create_report(self, call: Call) -> Response:
        spec = call.body
        refusal = self._validate_spec(call, spec) or self._quota_refusal(
            call.grant.seller_id or "", spec["reportType"]
        )
        if refusal:
            return refusal
        job = self._new_report(call.grant.seller_id or "", spec, call.now)
        return Response.json(202, {"reportId": job.job_id})

    def _new_report(
        self, seller_id: str, spec: dict[str, Any], now: float, schedule_id: str = ""
    ) -> Job:
        end = parse_time(spec["dataEndTime"]) if spec.get("dataEndTime") else None
        end = end or datetime.fromtimestamp(int(now), UTC)
        start = parse_time(spec["dataStartTime"]) if spec.get("dataStartTime") else None
        start = start or end - DEFAULT_WINDOW
        spec = {
            **spec,
            "dataStartTime": start.isoformat().replace("+00:00", "Z"),
            "dataEndTime": end.isoformat().replace("+00:00", "Z"),
        }
        if schedule_id:
            spec["reportScheduleId"] = schedule_id
        seller = self.sellers[seller_id]

        def produce(finished: float) -> tuple[bytes, str]:
            content = render_report(
                seller,
                spec["reportType"],
                list(spec["marketplaceIds"]),
                start,
                end,
                dict(spec.get("reportOptions") or {}),
                _as_of(finished),
            )
            report_type = REPORT_TYPES[spec["reportType"]]
            return content, report_type.content_type(spec["marketplaceIds"])

        return self.queue.submit(self._new_id(), seller_id, now, produce, spec)

    def _finished(self, job: Job) -> None:
        payload = {
            "sellerId": job.seller_id,
            "accountId": f"amzn1.merchant.o.{job.seller_id}",
            "reportId": job.job_id,
            "reportType": job.spec["reportType"],
            "processingStatus": job.status,
        }
        if job.document_id:
            payload["reportDocumentId"] = job.document_id
        self._notify("REPORT_PROCESSING_FINISHED", job.seller_id, payload, job.ended or 0.0)

    # ---- reading ------------------------------------------------------------------------

    def report_json(self, job: Job) -> dict[str, Any]:
        report: dict[str, Any] = {
            "reportId": job.job_id,
            "reportType": job.spec["reportType"],
            "marketplaceIds": list(job.spec["marketplaceIds"]),
            "dataStartTime": job.spec["dataStartTime"],
            "dataEndTime": job.spec["dataEndTime"],
            "createdTime": iso(job.created, zulu=False),
            "processingStatus": job.status,
        }
        if job.spec.get("reportScheduleId"):
            report["reportScheduleId"] = job.spec["reportScheduleId"]
        if job.started is not None:
            report["processingStartTime"] = iso(job.started, zulu=False)
        if job.terminal and job.ended is not None:
            report["processingEndTime"] = iso(job.ended, zulu=False)
        if job.document_id:
            report["reportDocumentId"] = job.document_id
        return report

    def _job(self, call: Call) -> Job | None:
        return self.queue.owned(call.arg("reportId") or "", call.grant.seller_id)

    def get_report(self, call: Call) -> Response:
        job = self._job(call)
        if job is None:
            return not_found(f"Report {call.arg('reportId')} not found.")
        return Response.json(200, self.report_json(job))

    def cancel_report(self, call: Call) -> Response:
        job = self._job(call)
        if job is None:
            return not_found(f"Report {call.arg('reportId')} not found.")
        if not self.queue.cancel(job, call.now):
            return invalid_input(
                f"Report {job.job_id} cannot be cancelled: only IN_QUEUE reports can be cancelled."
            )
        return Response(200, b"", {"Content-Type": "application/json"})

    def get_reports(self, call: Call) -> Response:
        token = call.arg("nextToken")
        if token is not None:
            others = sorted(name for name in call.query if name != "nextToken")
            if others:
                return invalid_input(
                    "When nextToken is provided, no other parameters may be sent: "
                    + ", ".join(others)
                )
            state = read_state(token)
            if state is None:
                return invalid_input("Invalid nextToken.")
        else:
            types = call.args("reportTypes")
            if not types:
                return invalid_input("Either reportTypes or nextToken is required.")
            since = call.arg("createdSince")
            until = call.arg("createdUntil")
            state = {
                "types": types,
                "statuses": call.args("processingStatuses"),
                "marketplaces": call.args("marketplaceIds"),
                "size": int(call.arg("pageSize") or REPORTS_PAGE_SIZE),
                "since": parse_time(since).timestamp()
                if since
                else call.now - REPORTS_LOOKBACK.total_seconds(),
                "until": parse_time(until).timestamp() if until else call.now,
                "offset": 0,
            }
        matches = sorted(
            (
                job
                for job in self.queue.jobs.values()
                if job.seller_id == call.grant.seller_id
                and job.spec["reportType"] in state["types"]
                and (not state["statuses"] or job.status in state["statuses"])
                and (
                    not state["marketplaces"]
                    or set(state["marketplaces"]) & set(job.spec["marketplaceIds"])
                )
                and state["since"] <= job.created <= state["until"]
            ),
            key=lambda job: (-job.created, job.job_id),
        )
        page, next_token = page_of(matches, state)
        body: dict[str, Any] = {"reports": [self.report_json(job) for job in page]}
        if next_token:
            body["nextToken"] = next_token
        return Response.json(200, body)

    def get_report_document(self, call: Call) -> Response:
        document_id = call.arg("reportDocumentId") or ""
        owned = self.queue.owns_document(document_id, call.grant.seller_id)
        document = self.documents.get(document_id)
        if document is None or not owned:
            return not_found(f"Report document {document_id} not found.")
        # enableContentEncodingUrlHeader=true: a GZIP document's URL answers with
        # Content-Encoding: gzip, so HTTP clients decompress it on the fly.
        header = (call.arg("enableContentEncodingUrlHeader", "false") or "").lower() == "true"
        encoding = "gzip" if header and document.compression == "GZIP" else ""
        body = {
            "reportDocumentId": document_id,
            "url": self.documents.url(document_id, call.base_url, encoding),
        }
        if document.compression:
            body["compressionAlgorithm"] = document.compression
        return Response.json(200, body)

    # ---- schedules ----------------------------------------------------------------------

    def create_schedule(self, call: Call) -> Response:
        spec = call.body
        refusal = self._validate_spec(call, spec)
        if refusal:
            return refusal
        seller_id = call.grant.seller_id or ""
        # As Amazon does, a schedule for the same type and marketplaces replaces the old one.
        for schedule_id, schedule in list(self.schedules.items()):
            if (
                schedule["sellerId"] == seller_id
                and schedule["reportType"] == spec["reportType"]
                and sorted(schedule["marketplaceIds"]) == sorted(spec["marketplaceIds"])
            ):
                del self.schedules[schedule_id]
        next_time = spec.get("nextReportCreationTime")
        schedule_id = self._new_id()
        self.schedules[schedule_id] = {
            "sellerId": seller_id,
            "reportScheduleId": schedule_id,
            "reportType": spec["reportType"],
            "marketplaceIds": list(spec["marketplaceIds"]),
            "reportOptions": dict(spec.get("reportOptions") or {}),
            "period": spec["period"],
            "next": parse_time(next_time).timestamp() if next_time else call.now,
        }
        return Response.json(201, {"reportScheduleId": schedule_id})

    def _schedule_json(self, schedule: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in schedule.items() if k not in ("sellerId", "next")}
        if not body["reportOptions"]:
            del body["reportOptions"]
        body["nextReportCreationTime"] = iso(schedule["next"], zulu=False)
        return body

    def _schedule(self, call: Call) -> dict[str, Any] | None:
        schedule = self.schedules.get(call.arg("reportScheduleId") or "")
        return schedule if schedule and schedule["sellerId"] == call.grant.seller_id else None

    def get_schedule(self, call: Call) -> Response:
        schedule = self._schedule(call)
        if schedule is None:
            return not_found(f"Report schedule {call.arg('reportScheduleId')} not found.")
        return Response.json(200, self._schedule_json(schedule))

    def get_schedules(self, call: Call) -> Response:
        types = set(call.args("reportTypes"))
        schedules = [
            self._schedule_json(s)
            for s in self.schedules.values()
            if s["sellerId"] == call.grant.seller_id and s["reportType"] in types
        ]
        return Response.json(200, {"reportSchedules": schedules})

    def cancel_schedule(self, call: Call) -> Response:
        schedule = self._schedule(call)
        if schedule is None:
            return not_found(f"Report schedule {call.arg('reportScheduleId')} not found.")
        del self.schedules[schedule["reportScheduleId"]]
        return Response(200, b"", {"Content-Type": "application/json"})

    # ---- time passing -------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Create the reports schedules owe, then advance every job."""
        for schedule in list(self.schedules.values()):
            period = SCHEDULE_PERIODS[schedule["period"]]
            while schedule["next"] <= now:
                end = schedule["next"]
                spec = {
                    "reportType": schedule["reportType"],
                    "marketplaceIds": schedule["marketplaceIds"],
                    "reportOptions": schedule["reportOptions"],
                    "dataStartTime": iso(end - period),
                    "dataEndTime": iso(end),
                }
                self._new_report(schedule["sellerId"], spec, end, schedule["reportScheduleId"])
                schedule["next"] = end + period
        self.queue.tick(now)


# --------------------------------------------------------------------------------------------
# Data Kiosk 2023-11-15
# --------------------------------------------------------------------------------------------

KIOSK_DATASETS = (
    "analytics_salesAndTraffic_2024_04_24",
    "analytics_economics_2024_03_15",
    "analytics_vendorAnalytics_2024_09_30",
)
_QUERY_SHAPE = re.compile(r"^\s*(query\b[^{]*)?\{", re.DOTALL)


class DataKioskService:
    """createQuery, getQuery, getQueries, cancelQuery and getDocument."""

    def __init__(
        self,
        documents: DocumentStore,
        *,
        sellers: dict[str, SimulatedSeller],
        faults: Faults,
        queue_seconds: float,
        processing_seconds: float,
        notify: Callable[[str, str, dict[str, Any], float], None],
    ):
        self.documents = documents
        self.sellers = sellers
        self._notify = notify
        self._counter = 0
        self._lock = threading.Lock()
        self.queue = JobQueue(
            documents,
            faults=faults,
            queue_seconds=queue_seconds,
            processing_seconds=processing_seconds,
            on_finish=self._finished,
            compress=lambda job, content: False,
            no_data_status="DONE",
        )

    def handlers(self) -> dict[str, Callable[[Call], Response]]:
        return {
            f"{KIOSK}.createQuery": self.create_query,
            f"{KIOSK}.getQuery": self.get_query,
            f"{KIOSK}.getQueries": self.get_queries,
            f"{KIOSK}.cancelQuery": self.cancel_query,
            f"{KIOSK}.getDocument": self.get_document,
        }

    def create_query(self, call: Call) -> Response:
        query = call.body["query"]
        if not _QUERY_SHAPE.match(query) or not any(name in query for name in KIOSK_DATASETS):
            return invalid_input("Invalid query: it must be GraphQL naming a Data Kiosk dataset.")
        with self._lock:
            self._counter += 1
            query_id = str(30_000_000_000 + self._counter)
        seller_id = call.grant.seller_id or ""
        seller = self.sellers[seller_id]

        def produce(finished: float) -> tuple[bytes, str]:
            return render_data_kiosk(seller, query, _as_of(finished)), "application/x-ndjson"

        self.queue.submit(query_id, seller_id, call.now, produce, {"query": query})
        return Response.json(202, {"queryId": query_id})

    def _finished(self, job: Job) -> None:
        payload: dict[str, Any] = {
            "sellerId": job.seller_id,
            "accountId": f"amzn1.merchant.o.{job.seller_id}",
            "queryId": job.job_id,
            "query": job.spec["query"],
            "processingStatus": job.status,
        }
        if job.document_id:
            key = "errorDocumentId" if job.status == "FATAL" else "dataDocumentId"
            payload[key] = job.document_id
        self._notify(
            "DATA_KIOSK_QUERY_PROCESSING_FINISHED", job.seller_id, payload, job.ended or 0.0
        )

    def query_json(self, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {
            "queryId": job.job_id,
            "query": job.spec["query"],
            "createdTime": iso(job.created),
            "processingStatus": job.status,
        }
        if job.started is not None:
            body["processingStartTime"] = iso(job.started)
        if job.terminal and job.ended is not None:
            body["processingEndTime"] = iso(job.ended)
        if job.document_id:
            key = "errorDocumentId" if job.status == "FATAL" else "dataDocumentId"
            body[key] = job.document_id
        return body

    def _job(self, call: Call) -> Job | None:
        return self.queue.owned(call.arg("queryId") or "", call.grant.seller_id)

    def get_query(self, call: Call) -> Response:
        job = self._job(call)
        if job is None:
            return not_found(f"Query {call.arg('queryId')} not found.")
        return Response.json(200, self.query_json(job))

    def get_queries(self, call: Call) -> Response:
        statuses = call.args("processingStatuses")
        jobs = sorted(
            (
                job
                for job in self.queue.jobs.values()
                if job.seller_id == call.grant.seller_id
                and (not statuses or job.status in statuses)
            ),
            key=lambda job: -job.created,
        )
        size = int(call.arg("pageSize") or 10)
        return Response.json(200, {"queries": [self.query_json(job) for job in jobs[:size]]})

    def cancel_query(self, call: Call) -> Response:
        job = self._job(call)
        if job is None:
            return not_found(f"Query {call.arg('queryId')} not found.")
        if not self.queue.cancel(job, call.now):
            return invalid_input(f"Query {job.job_id} cannot be cancelled: it already started.")
        return Response(204, b"")

    def get_document(self, call: Call) -> Response:
        document_id = call.arg("documentId") or ""
        owned = self.queue.owns_document(document_id, call.grant.seller_id)
        if not owned or self.documents.get(document_id) is None:
            return not_found(f"Document {document_id} not found.")
        url = self.documents.url(document_id, call.base_url)
        return Response.json(200, {"documentId": document_id, "documentUrl": url})

    def tick(self, now: float) -> None:
        self.queue.tick(now)
