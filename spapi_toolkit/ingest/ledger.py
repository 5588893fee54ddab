"""The ingestion ledger: what was asked of Amazon, and what became of it.

One small JSON file per planned request under the lake's ``_state/ledger/`` (a local folder or
S3, through ``Lake``), written atomically at every step. The rule that makes a crash harmless:
an entry is written *before* the request it records is sent (status ``requesting``), so after a
crash at any point the next run knows a request may be in flight and looks it up instead of
asking again.

Statuses, in the order a report moves through them::

    requesting -> requested -> done -> landed
                           \\-> no_data     (CANCELLED: Amazon has no data for the window)
                           \\-> fatal       (retried after a cool-down, a bounded number of times)
    failed: the document could not be landed (bad bytes) or retries ran out; ``error`` says why
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.storage import Lake

LEDGER_PREFIX = "_state/ledger"
FINISHED = frozenset({"landed", "no_data"})
STATUSES = ("requesting", "requested", "done", "landed", "no_data", "fatal", "failed")


def stamp(moment: datetime) -> str:
    """A ledger time: ISO 8601 UTC with milliseconds (report quotas are counted from these
    times, and a sandbox whose clock runs 3600 times faster turns one second into an hour)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Entry:
    """The ledger's record of one planned request."""

    request_id: str
    dataset: str
    seller_id: str
    marketplace_ids: list[str]
    dt: str
    request: dict[str, Any]  # what is sent: the createReport body, or operation + parameters
    status: str = "requesting"
    report_id: str | None = None
    document_id: str | None = None
    raw_key: str | None = None
    attempts: int = 0  # requests sent for this entry (more than one only after FATAL)
    retry_after: str | None = None  # ISO time before which a FATAL entry is not retried
    error: str | None = None
    reused: bool = False  # a DONE report of the last 72 hours was adopted instead of a new one
    provisional: bool = False  # its window was still being restated when it was planned
    window: list[str] | None = None  # [first day, last day] of a windowed request
    created_at: str = ""  # set by the first move
    updated_at: str = ""
    history: list[list[str]] = field(default_factory=list)  # [time, status, note]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def move(self, status: str, note: str = "", *, at: datetime, **changes: Any) -> None:
        """Change status (and fields) at time ``at``, keeping a dated history line."""
        if status not in STATUSES:
            raise ValueError(f"unknown ledger status {status!r}")
        for name, value in changes.items():
            setattr(self, name, value)
        self.status = status
        self.updated_at = stamp(at)
        self.created_at = self.created_at or self.updated_at
        self.history.append([self.updated_at, status, note])


def entry_key(seller_id: str, dataset: str, request_id: str) -> str:
    return f"{LEDGER_PREFIX}/seller_id={seller_id}/dataset={dataset}/{request_id}.json"


class Ledger:
    """The ledger entries of one lake; every write replaces one entry atomically.

    ``clock`` dates every move: the ingestion run's own clock, so tests and replays pin it.
    """

    def __init__(self, lake: Lake, clock: Clock = SYSTEM_CLOCK):
        self.lake = lake
        self.clock = clock

    def move(self, entry: Entry, status: str, note: str = "", **changes: Any) -> None:
        """Move ``entry`` to ``status`` now (see ``Entry.move``) and write it."""
        entry.move(status, note, at=self.clock.now(), **changes)
        self.put(entry)

    def put(self, entry: Entry) -> None:
        data = json.dumps(asdict(entry), indent=2, sort_keys=True).encode("utf-8") + b"\n"
        self.lake.write_bytes(entry_key(entry.seller_id, entry.dataset, entry.request_id), data)

    def get(self, seller_id: str, dataset: str, request_id: str) -> Entry | None:
        key = entry_key(seller_id, dataset, request_id)
        if not self.lake.exists(key):
            return None
        return self._read(key)

    def _read(self, key: str) -> Entry:
        raw = json.loads(self.lake.read_bytes(key))
        known = {f.name for f in fields(Entry)}
        return Entry(**{k: v for k, v in raw.items() if k in known})

    def entries(self, seller_id: str | None = None, dataset: str | None = None) -> list[Entry]:
        """Every entry, optionally of one seller and dataset, in key order."""
        prefix = LEDGER_PREFIX + "/"
        if seller_id is not None:
            prefix += f"seller_id={seller_id}/"
            if dataset is not None:
                prefix += f"dataset={dataset}/"
        out = []
        for key in self.lake.list(prefix):
            if key.endswith(".json"):
                entry = self._read(key)
                if dataset is None or entry.dataset == dataset:
                    out.append(entry)
        return out


def covered_days(
    entries: list[Entry], *, provisional: bool = False
) -> dict[tuple[str, str], set[date]]:
    """Per (dataset, marketplace), the days landed with settled numbers: what a plan may skip.

    Provisional pulls do not count: those days must be asked again until they settle. With
    ``provisional``, they do: the days a dataset has pulled at all, which the planner keeps
    asking of it until they settle (``planner.one_source_per_day``).
    """
    covered: dict[tuple[str, str], set[date]] = {}
    for entry in entries:
        if entry.status != "landed" or not entry.window:
            continue
        if entry.provisional and not provisional:
            continue
        first, last = (date.fromisoformat(d) for d in entry.window)
        days = covered.setdefault((entry.dataset, entry.marketplace_ids[0]), set())
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return covered
