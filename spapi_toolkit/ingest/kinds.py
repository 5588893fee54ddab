"""What the job loop needs to know of one kind of asynchronous SP-API job.

A report and a Data Kiosk query live the same life: created, polled until DONE / CANCELLED /
FATAL, their document downloaded and landed. ``JobIngestor`` (``jobs.py``) runs that life once,
with the ledger discipline that makes it resumable; a ``JobKind`` tells it only what differs:
which calls create a job, read its status and open its document, how the answers spell the
outcome, how an existing job is found again to adopt, and what quota holds a request back. The
kinds are ``ReportJobs`` (``report_jobs.py``) and ``KioskJobs`` (``kiosk.py``): small pieces
plugged into one loop, as botocore plugs a waiter's acceptors into one polling loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from spapi_toolkit.ingest.ledger import Entry
from spapi_toolkit.ingest.planner import PlannedRequest

if TYPE_CHECKING:  # the settings are the loop's; a kind only reads them
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.clock import Clock
    from spapi_toolkit.ingest.jobs import IngestSettings

Outcome = Literal["done", "no_data", "fatal", "running"]


@dataclass(frozen=True)
class JobState:
    """A job's status as the loop acts on it, read from a poll or a notification."""

    outcome: Outcome
    status: str  # Amazon's own word (IN_QUEUE, DONE, ...), for messages
    document_id: str | None = None  # set when the outcome is "done"
    note: str = ""  # the ledger note of the move this state causes


class JobKind(Protocol):
    """One kind of job: the calls and rules of its source, nothing of the loop's bookkeeping.

    Raising ``ThrottledError`` from ``create`` means the job was refused, not created: the loop
    then counts no attempt. Any other ``SpApiError`` / ``SpApiToolkitError`` is the loop's to
    retry or record, like an error of the loop's own steps.
    """

    source: str  # the registry source whose planned requests are of this kind
    noun: str  # how messages name one job: "report", "query"
    found_note: str  # the ledger note when an existing job is adopted
    # The Amazon call an entry's next step makes, by the entry's status (None: not yet sent);
    # the loop puts a step off while that call would wait for its rate-limit token.
    step_operations: dict[str | None, str]

    def __init__(self, client: SpApiClient, clock: Clock, settings: IngestSettings) -> None: ...

    def payload(self, request: PlannedRequest) -> dict[str, Any]:
        """What the ledger records as sent for ``request`` (JSON-ready)."""
        ...

    def start(self, entries: Sequence[Entry]) -> None:
        """Learn from the seller's ledger, read when a run starts (held jobs, quota history)."""
        ...

    def find_existing(self, request: PlannedRequest, entry: Entry | None) -> str | None:
        """The id of a job already made for ``request``, to adopt instead of creating one."""
        ...

    def quota_wait(self, request: PlannedRequest) -> float:
        """Seconds until a quota lets ``request`` be sent (0 when none holds it back)."""
        ...

    def create(self, request: PlannedRequest, entry: Entry) -> str:
        """Create the job of ``request`` (its ``entry`` already says ``requesting``); its id."""
        ...

    def poll(self, job_id: str) -> JobState:
        """Ask Amazon how the job is doing."""
        ...

    def notice(self, job_id: str, status: str, document_id: str | None) -> JobState | None:
        """A notification's news of the job; None when it spares no poll."""
        ...

    def open_document(self, document_id: str) -> tuple[str | None, Iterator[bytes]]:
        """The declared compression of a document, and its bytes as they arrive."""
        ...


def iso(moment: datetime) -> str:
    """A time as Amazon's request bodies and the ledger's ``retry_after`` write it."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as Amazon and the ledger write it (``Z`` for UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
