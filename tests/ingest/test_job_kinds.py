"""The job loop knows a job only through its kind: a scripted kind drives it without Amazon,
and the two real kinds read their answers and notifications as the loop expects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from spapi_toolkit.api.errors import ThrottledError
from spapi_toolkit.clock import ManualClock
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.ingest.jobs import IngestSettings, JobIngestor
from spapi_toolkit.ingest.kinds import JobState
from spapi_toolkit.ingest.kiosk import KioskJobs, query_state
from spapi_toolkit.ingest.ledger import Entry, Ledger
from spapi_toolkit.ingest.planner import PlannedRequest, plan
from spapi_toolkit.ingest.report_jobs import ReportJobs, report_state
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

DAY = date(2026, 11, 28)


class ScriptedJobs:
    """A job kind whose Amazon is a script: create answers and poll states, in order."""

    source = "report"
    noun = "job"
    found_note = "found again"
    step_operations: dict[str | None, str] = {}  # no rate limits to wait for
    creates: list[str | Exception] = []
    polls: list[JobState] = []
    existing: str | None = None

    def __init__(self, client: Any, clock: Any, settings: Any) -> None:
        self.created: list[str] = []

    def payload(self, request: PlannedRequest) -> dict[str, Any]:
        return {"what": request.request_id}

    def start(self, entries: Sequence[Entry]) -> None:
        pass

    def find_existing(self, request: PlannedRequest, entry: Entry | None) -> str | None:
        in_flight = entry is not None and entry.status == "requesting"
        return self.existing if in_flight else None

    def quota_wait(self, request: PlannedRequest) -> float:
        return 0.0

    def create(self, request: PlannedRequest, entry: Entry) -> str:
        answer = self.creates.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def poll(self, job_id: str) -> JobState:
        return self.polls.pop(0)

    def notice(self, job_id: str, status: str, document_id: str | None) -> JobState | None:
        return None

    def open_document(self, document_id: str) -> tuple[str | None, Iterator[bytes]]:
        raise AssertionError("nothing is landed in these tests")


class ScriptedIngestor(JobIngestor):
    kind_type = ScriptedJobs


def _run(tmp_path, creates, polls, existing=None, crashed=False):
    ScriptedJobs.creates, ScriptedJobs.polls, ScriptedJobs.existing = creates, polls, existing
    lake = Lake.from_uri(str(tmp_path / "lake"))
    clock = ManualClock(datetime(2026, 11, 28, 12, tzinfo=UTC))
    settings = IngestSettings(poll_seconds=1, fatal_cooldown=timedelta(seconds=5),
                              quota_backoff=timedelta(seconds=1))  # fmt: skip
    [request] = plan(select("merchant_listings"), "S1", ["ATVPDKIKX0DER"], DAY, DAY, DAY).requests

    def ingestor() -> ScriptedIngestor:  # no client: the scripted kind makes no calls
        return ScriptedIngestor(None, lake, "S1", settings, clock=clock)  # type: ignore[arg-type]

    if crashed:  # written, then the process died before sending
        crashed_run = ingestor()
        entry = crashed_run._new_entry(request)
        crashed_run.ledger.move(entry, "requesting", "attempt 1", attempts=1)
    stats = ingestor().run([request])
    [entry] = Ledger(lake).entries()
    return stats, entry


def test_a_fatal_job_is_asked_again_after_the_cool_down(tmp_path):
    running, fatal = JobState("running", "IN_PROGRESS"), JobState("fatal", "FATAL")
    no_data = JobState("no_data", "CANCELLED", note="nothing")
    stats, entry = _run(tmp_path, ["J1", "J2"], [running, fatal, no_data])
    assert (stats.requested, stats.no_data, entry.status) == (2, 1, "no_data")
    assert (
        entry.attempts == 2
        and entry.report_id == "J2"
        and entry.request == {"what": entry.request_id}
    )
    assert [note for _, _, note in entry.history] == [
        "attempt 1", "", "job J1 FATAL; retrying after a cool-down", "attempt 2", "", "nothing",
    ]  # fmt: skip


def test_a_throttled_create_is_no_attempt(tmp_path):
    stats, entry = _run(tmp_path, [ThrottledError("slow down"), "J1"],
                        [JobState("no_data", "CANCELLED")])  # fmt: skip
    assert (stats.requested, entry.attempts, entry.report_id) == (1, 1, "J1")


def test_an_interrupted_request_adopts_what_the_kind_finds(tmp_path):
    stats, entry = _run(tmp_path, [], [JobState("no_data", "CANCELLED")], existing="J7",
                        crashed=True)  # fmt: skip
    assert (stats.recovered, stats.requested, entry.report_id) == (1, 0, "J7")
    assert entry.history[1][2] == "found again" and not entry.reused


def test_report_answers_and_notices():
    done = report_state({"processingStatus": "DONE", "reportDocumentId": "D1"}, "polled")
    assert done == JobState("done", "DONE", "D1", "polled")
    assert report_state({"processingStatus": "IN_QUEUE"}, "").outcome == "running"
    jobs = ReportJobs(None, None, IngestSettings())  # type: ignore[arg-type]
    assert jobs.notice("R1", "DONE", None) is None  # no document: the poll will say
    assert jobs.notice("R1", "DONE", "D1") == JobState(
        "done", "DONE", "D1", "told by REPORT_PROCESSING_FINISHED"
    )


def test_query_answers_and_notices():
    assert query_state("Q1", {"processingStatus": "DONE"}).outcome == "no_data"
    assert query_state("Q1", {"processingStatus": "IN_QUEUE"}).outcome == "running"
    with pytest.raises(SpApiToolkitError, match="query Q1 has an unknown status 'ODD'"):
        query_state("Q1", {"processingStatus": "ODD"})
    jobs = KioskJobs(None, None, IngestSettings())  # type: ignore[arg-type]
    assert jobs.notice("Q1", "DONE", "D1") == JobState("done", "DONE", "D1")
    assert jobs.notice("Q1", "ODD", None) is None  # left to the poll, which records it


def test_a_failed_report_listing_is_asked_again():
    """A getReports listing that failed (the job is tried later) is not remembered as made."""

    class FlakyClient:
        calls = 0

        def paginate(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
            self.calls += 1
            if self.calls == 1:
                raise SpApiToolkitError("getReports failed with HTTP 403")
            yield {"reports": [{"reportId": "R1"}]}

    clock = ManualClock(datetime(2026, 11, 28, 12, tzinfo=UTC))
    jobs = ReportJobs(FlakyClient(), clock, IngestSettings())  # type: ignore[arg-type]
    with pytest.raises(SpApiToolkitError, match="403"):
        jobs._recent_reports("GET_MERCHANT_LISTINGS_ALL_DATA")
    assert jobs._recent_reports("GET_MERCHANT_LISTINGS_ALL_DATA") == [{"reportId": "R1"}]
