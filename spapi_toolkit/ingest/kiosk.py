"""Data Kiosk into the raw zone: one GraphQL query per planned window, landed as JSON lines.

A ``source = "data_kiosk"`` dataset names a Data Kiosk schema; for
``analytics_salesAndTraffic_2024_04_24`` each planned window of each marketplace becomes one
``salesAndTrafficByAsin`` query (child ASINs, every field of the bundled schema selected), whose
document is one JSON object per ASIN with the window's totals. Those are sums over the whole
window, so the registry plans one day per query (``window = "day"``: startDate = endDate), the
only window whose totals are a day's.

The life of a query is a report's: create, poll until DONE / CANCELLED / FATAL, download the
document, land it. ``KioskJobs`` is therefore a job kind (``kinds.py``) run by the one job
loop (``jobs.py``) with its own three Amazon calls (createQuery, getQuery, getDocument), so the
ledger discipline (the entry written before the query is sent, an interrupted run finds its
query again instead of asking twice), the streamed download with its retries, bad-document
quarantine and the never-write-twice rule are shared code. In the ledger and the manifest,
``report_id`` holds the query id. Data Kiosk says "no data" as CANCELLED or as DONE without a
data document: both are ``no_data``. FATAL is retried after the cool-down, a bounded number of
times, like a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from typing import Any

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.reports import document_chunks
from spapi_toolkit.clock import Clock
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.ingest.jobs import IngestSettings, JobIngestor, Progress, RunStats
from spapi_toolkit.ingest.kinds import JobState
from spapi_toolkit.ingest.ledger import Entry
from spapi_toolkit.ingest.planner import PlannedRequest
from spapi_toolkit.lake.storage import Lake

SCHEMA_DIR = "data/spapi-models/schemas/data-kiosk"
SALES_AND_TRAFFIC = "analytics_salesAndTraffic_2024_04_24"
SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID", "Long", "Date", "DateTime"})
# Fields left out of the by-ASIN selection: present only for another aggregation (SKU).
BY_ASIN_EXCLUDED = frozenset({"sku"})
RUNNING = ("IN_QUEUE", "IN_PROGRESS")

_STRINGS = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"')
_TYPE = re.compile(r"\btype\s+(\w+)\s*\{([^}]*)\}")
_FIELD = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*\[?\s*(\w+)", re.MULTILINE)


class KioskError(SpApiToolkitError):
    """A Data Kiosk dataset cannot be queried as declared (unknown schema, no window)."""


# ---- the query --------------------------------------------------------------------------------


@cache
def schema_types(schema: str) -> dict[str, dict[str, str]]:
    """The object types of a bundled Data Kiosk schema: type -> {field: field type}."""
    try:
        text = resources.files("spapi_toolkit").joinpath(f"{SCHEMA_DIR}/{schema}.graphql")
        source = text.read_text("utf-8")
    except FileNotFoundError:
        raise KioskError(f"no bundled Data Kiosk schema {schema!r}") from None
    bare = _STRINGS.sub("", source)  # descriptions and directive arguments may hold braces
    return {name: dict(_FIELD.findall(body)) for name, body in _TYPE.findall(bare)}


def selection(schema: str, type_name: str, exclude: frozenset[str] = frozenset()) -> str:
    """Every field of ``type_name``, nested objects expanded: the query asks for all of it."""
    types = schema_types(schema)
    parts = []
    for name, kind in types[type_name].items():
        if name in exclude:
            continue
        if kind in types:
            parts.append(f"{name} {{ {selection(schema, kind)} }}")
        elif kind in SCALARS or kind not in types:  # scalars and enums are leaves
            parts.append(name)
    return " ".join(parts)


def sales_and_traffic_query(request: PlannedRequest) -> str:
    """The ``salesAndTrafficByAsin`` query (child ASINs) of one window and marketplace."""
    if request.window is None:
        raise KioskError(f"{request.dataset.name} needs a window (plan it with a date range)")
    marketplace_ids = ", ".join(f'"{m}"' for m in request.marketplace_ids)
    fields = selection(SALES_AND_TRAFFIC, "SalesAndTrafficByAsin", BY_ASIN_EXCLUDED)
    return (
        f"query {{ {SALES_AND_TRAFFIC} {{ salesAndTrafficByAsin("
        f'startDate: "{request.window.start}", endDate: "{request.window.end}", '
        f"aggregateBy: CHILD, marketplaceIds: [{marketplace_ids}]) {{ {fields} }} }} }}"
    )


QUERY_BUILDERS = {SALES_AND_TRAFFIC: sales_and_traffic_query}


def kiosk_query(request: PlannedRequest) -> str:
    """The GraphQL query of a planned Data Kiosk request."""
    builder = QUERY_BUILDERS.get(str(request.dataset.schema))
    if builder is None:
        raise KioskError(
            f"{request.dataset.name}: no query for Data Kiosk schema {request.dataset.schema}; "
            f"known: {', '.join(QUERY_BUILDERS)}"
        )
    return builder(request)


# ---- the run ----------------------------------------------------------------------------------


def query_state(query_id: str, query: dict[str, Any]) -> JobState:
    """A getQuery answer (or a notification's) as the job loop reads it."""
    status = query.get("processingStatus")
    if status == "DONE" and query.get("dataDocumentId"):
        return JobState("done", status, query["dataDocumentId"])
    if status in ("DONE", "CANCELLED"):
        note = f"{status} without a data document: no data for this window"
        return JobState("no_data", status, note=note)
    if status == "FATAL":
        return JobState("fatal", status)
    if status in RUNNING:
        return JobState("running", status)
    raise SpApiToolkitError(f"query {query_id} has an unknown status {status!r}")


class KioskJobs:
    """The Data Kiosk kind of job (see the module notes), for one seller's run."""

    source = "data_kiosk"
    noun = "query"
    found_note = "found among recent queries"
    step_operations = {None: "createQuery", "requesting": "createQuery", "fatal": "createQuery",
                       "requested": "getQuery", "done": "getDocument"}  # fmt: skip

    def __init__(self, client: SpApiClient, clock: Clock, settings: IngestSettings):
        self.client = client
        self.clock = clock
        self.settings = settings
        self._listing: list[dict[str, Any]] | None = None  # recent queries, listed once a run

    def payload(self, request: PlannedRequest) -> dict[str, Any]:
        """The query, and what it asks for."""
        assert request.window is not None
        return {
            "schema": request.dataset.schema,
            "query": kiosk_query(request),
            "data_start": str(request.window.start),
            "data_end": str(request.window.end),
        }

    def start(self, entries: Sequence[Entry]) -> None:
        """Nothing to learn: no quota, and only an entry's own query is ever adopted."""

    def _recent_queries(self) -> list[dict[str, Any]]:
        """The seller's queries of the last 72 hours (listed once a run)."""
        if self._listing is None:
            since = self.clock.now() - self.settings.reuse_window
            queries: list[dict[str, Any]] = []
            for page in self.client.paginate("getQueries", createdSince=since, pageSize=100):
                queries.extend(page.get("queries", []))
            self._listing = queries
        return self._listing

    def find_existing(self, request: PlannedRequest, entry: Entry | None) -> str | None:
        """Our query from an interrupted run (same query text). A finished query of someone
        else is not reused: a provisional window must be asked again to get restated data."""
        if entry is None or entry.status != "requesting":
            return None
        query = kiosk_query(request)
        found = next((q for q in self._recent_queries() if q.get("query") == query), None)
        return None if found is None else str(found["queryId"])

    def quota_wait(self, request: PlannedRequest) -> float:
        """No quota holds a query back beyond createQuery's rate limit (the client's)."""
        return 0.0

    def create(self, request: PlannedRequest, entry: Entry) -> str:
        """createQuery, with the query the ledger recorded."""
        answer = self.client.call("createQuery", body={"query": entry.request["query"]})
        return str(answer["queryId"])

    def poll(self, job_id: str) -> JobState:
        """getQuery."""
        return query_state(job_id, self.client.call("getQuery", queryId=job_id))

    def notice(self, job_id: str, status: str, document_id: str | None) -> JobState | None:
        """DATA_KIOSK_QUERY_PROCESSING_FINISHED; a status it does not know is the poll's to
        report (an error raised here would reach the listener, not the ledger)."""
        if status not in ("DONE", "CANCELLED", "FATAL", *RUNNING):
            return None
        return query_state(job_id, {"processingStatus": status, "dataDocumentId": document_id})

    def open_document(self, document_id: str) -> tuple[str | None, Iterator[bytes]]:
        """Data Kiosk documents declare no compression; the bytes tell (``land`` looks)."""
        meta = self.client.call("getDocument", documentId=document_id)
        return None, document_chunks(self.client, document_id, meta["documentUrl"])


class KioskIngestor(JobIngestor):
    """The job loop over Data Kiosk queries: lands one seller's planned queries."""

    kind_type = KioskJobs

    def query_finished(self, query_id: str, status: str, document_id: str | None) -> None:
        """Called by a notification listener (DATA_KIOSK_QUERY_PROCESSING_FINISHED)."""
        self.job_finished(query_id, status, document_id)


def ingest_kiosk(
    client: SpApiClient,
    lake: Lake,
    seller_id: str,
    requests: Sequence[PlannedRequest],
    *,
    poll_seconds: float,
    time_scale: float = 1.0,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> RunStats:
    """Land ``requests`` (the ``source = "data_kiosk"`` ones) for one seller."""
    settings = IngestSettings(poll_seconds=poll_seconds, time_scale=time_scale)
    return KioskIngestor(client, lake, seller_id, settings, progress, clock).run(requests)
