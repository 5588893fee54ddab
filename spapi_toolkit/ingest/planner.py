"""Turn "dataset × marketplaces × date range" into the requests Amazon will accept.

The window rules come from the registry and from Amazon: calendar days, Sunday–Saturday weeks,
at most ``max_days`` per request, nothing older than ``history_days``, nothing for a day that
has not ended. The last ``restatement_days`` of a range are requested on their own and marked
provisional: Amazon still restates them, so a later run pulls them again (a new request id per
day) until they settle. ``estimate`` says up front how many requests a plan makes and how long
the rate limits and report quotas make it take.

Everything here is a pure function of its arguments (``today`` included), so plans are
reproducible: the same plan on the same day has the same request ids, which is what makes a
rerun idempotent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spapi_toolkit.api.ratelimit import REPORT_QUOTAS, official_limits
from spapi_toolkit.lake.registry import Dataset
from spapi_toolkit.regions import marketplace


class PlanError(ValueError):
    """The requested range cannot be planned (e.g. entirely older than Amazon serves)."""


@dataclass(frozen=True)
class Window:
    """Calendar days ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a plan: a report, an API snapshot batch or a Data Kiosk query."""

    dataset: Dataset
    seller_id: str
    marketplace_ids: tuple[str, ...]
    window: Window | None  # None for snapshots
    snapshot_date: date | None = None
    provisional_as_of: date | None = None  # set while the window is still being restated

    @property
    def dt(self) -> date:
        """The raw zone's ``dt=`` partition: the window's first day, or the snapshot's date."""
        if self.window is not None:
            return self.window.start
        assert self.snapshot_date is not None
        return self.snapshot_date

    @property
    def request_id(self) -> str:
        """A stable id: the same request planned again has the same id."""
        identity = {
            "dataset": self.dataset.name,
            "seller": self.seller_id,
            "marketplaces": list(self.marketplace_ids),
            "window": [str(self.window.start), str(self.window.end)] if self.window else None,
            "snapshot": str(self.snapshot_date) if self.snapshot_date else None,
            "provisional_as_of": str(self.provisional_as_of) if self.provisional_as_of else None,
            "options": self.dataset.report_options,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{self.dataset.name}-{self.dt:%Y%m%d}-{digest[:12]}"

    def time_range(self) -> tuple[datetime, datetime] | None:
        """The window as the instants Amazon is sent (see ``window_clock`` in the registry)."""
        if self.window is None:
            return None
        if self.dataset.window_clock == "local":
            zone = ZoneInfo(marketplace(self.marketplace_ids[0]).timezone)
        else:
            zone = ZoneInfo("UTC")
        start = datetime.combine(self.window.start, time.min, tzinfo=zone)
        end = datetime.combine(self.window.end, time.max.replace(microsecond=0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-ready values (``from_dict`` reads it back): what a Step Functions
        state machine carries from one Lambda step to the next."""
        return {
            "request_id": self.request_id,
            "dataset": self.dataset.name,
            "source": self.dataset.source,
            "seller_id": self.seller_id,
            "marketplace_ids": list(self.marketplace_ids),
            "window": [str(self.window.start), str(self.window.end)] if self.window else None,
            "snapshot_date": str(self.snapshot_date) if self.snapshot_date else None,
            "provisional_as_of": str(self.provisional_as_of) if self.provisional_as_of else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedRequest:
        """The request ``to_dict`` wrote. Its ``request_id`` must come out the same: a registry
        changed between planning and this step (other report options) would otherwise land
        under a different id than the one planned, so that is refused."""
        from spapi_toolkit.lake.registry import dataset

        def day(text: Any) -> date | None:
            return date.fromisoformat(text) if text else None

        window = data.get("window")
        days = Window(*(date.fromisoformat(d) for d in window)) if window else None
        request = cls(
            dataset(str(data["dataset"])),
            str(data["seller_id"]),
            tuple(str(m) for m in data["marketplace_ids"]),
            days,
            snapshot_date=day(data.get("snapshot_date")),
            provisional_as_of=day(data.get("provisional_as_of")),
        )
        planned_id = data.get("request_id")
        if planned_id is not None and planned_id != request.request_id:
            raise PlanError(
                f"request {planned_id} reads back as {request.request_id}: the registry's "
                f"definition of {request.dataset.name} changed since it was planned"
            )
        return request

    def report_body(self) -> dict[str, Any]:
        """The createReport body of a report request."""
        body: dict[str, Any] = {
            "reportType": self.dataset.report_type,
            "marketplaceIds": list(self.marketplace_ids),
        }
        times = self.time_range()
        if times is not None:
            body["dataStartTime"], body["dataEndTime"] = times
        if self.dataset.report_options:
            body["reportOptions"] = dict(self.dataset.report_options)
        return body


@dataclass
class Plan:
    requests: list[PlannedRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was clamped or skipped, and why


def _weeks(start: date, end: date, last_complete: date) -> list[Window]:
    """Sunday–Saturday weeks touching [start, end] that have ended by ``last_complete``."""
    sunday = start - timedelta(days=(start.weekday() + 1) % 7)
    weeks = []
    while sunday <= end:
        saturday = sunday + timedelta(days=6)
        if saturday <= last_complete:
            weeks.append(Window(sunday, saturday))
        sunday += timedelta(days=7)
    return weeks


def _chunks(start: date, end: date, size: int) -> list[Window]:
    windows = []
    while start <= end:
        stop = min(end, start + timedelta(days=size - 1))
        windows.append(Window(start, stop))
        start = stop + timedelta(days=1)
    return windows


def last_settled_day(dataset: Dataset, today: date) -> date:
    """The last day Amazon no longer restates, with ``today`` a UTC date.

    A day settles ``restatement_days`` after it ends in its marketplace; west of UTC it ends up
    to a day later than the UTC date says, so one more day is held back.
    """
    return today - timedelta(days=dataset.restatement_days + 2)


def windows_for(dataset: Dataset, start: date, end: date, today: date) -> list[Window]:
    """The windows of one marketplace's requests, settled ones first, the restated tail apart."""
    if dataset.window == "week":
        return _weeks(start, end, today - timedelta(days=1))
    if dataset.window == "day":
        return _chunks(start, end, 1)
    size = dataset.max_days or (end - start).days + 1
    settled_until = last_settled_day(dataset, today)
    if dataset.restatement_days and start <= settled_until < end:
        return _chunks(start, settled_until, size) + _chunks(
            settled_until + timedelta(days=1), end, size
        )
    return _chunks(start, end, size)


# (dataset name, marketplace id) -> the days already landed with final (settled) numbers.
Covered = Mapping[tuple[str, str], set[date]]


def _uncovered_runs(first: date, last: date, covered: set[date]) -> list[tuple[date, date]]:
    """The stretches of ``first``..``last`` not in ``covered``, in order."""
    runs: list[tuple[date, date]] = []
    day = first
    while day <= last:
        if day in covered:
            day += timedelta(days=1)
            continue
        run_start = day
        while day <= last and day not in covered:
            day += timedelta(days=1)
        runs.append((run_start, day - timedelta(days=1)))
    return runs


def plan(
    datasets: Sequence[Dataset],
    seller_id: str,
    marketplace_ids: Sequence[str],
    start: date,
    end: date,
    today: date,
    covered: Covered | None = None,
    *,
    one_source: bool = False,
    pulled: Covered | None = None,
) -> Plan:
    """Every request needed for ``datasets`` × ``marketplace_ids`` over ``start``..``end``.

    ``covered`` (see ``ledger.covered_days``) names the days of range datasets already landed
    with settled numbers: they are left out, so a range rerun on a later day asks only for the
    days that were missing or still being restated, not for a window whose end moved.

    With ``one_source`` (what ``spapi ingest`` does unless ``--each-source``), a dataset whose
    figures another gives too (``same_figures_as`` in the registry) has each day asked of one
    of them only (``one_source_per_day``; ``pulled``: ``ledger.covered_days`` with the
    provisional pulls too); without, every dataset named is asked for every day, as named.
    """
    if start > end:
        raise PlanError(f"the range starts ({start}) after it ends ({end})")
    result = Plan()
    yesterday = today - timedelta(days=1)
    if end > yesterday:
        result.notes.append(f"days after {yesterday} have not ended yet: the range stops there")
    for dataset in datasets:
        if dataset.source == "file":  # reference data: nothing to ask Amazon for
            result.notes.append(f"{dataset.name}: a file, loaded with `spapi reference load`")
            continue
        if dataset.window == "snapshot":
            result.requests += [
                PlannedRequest(dataset, seller_id, (m,), None, snapshot_date=today)
                for m in marketplace_ids
            ]
            continue
        first, last = start, min(end, yesterday)
        if dataset.history_days:
            earliest = today - timedelta(days=dataset.history_days)
            if last < earliest:
                raise PlanError(
                    f"{dataset.name}: Amazon serves only the last {dataset.history_days} days "
                    f"(from {earliest}); the range {start}..{end} is older"
                )
            if first < earliest:
                result.notes.append(
                    f"{dataset.name}: starts at {earliest}; Amazon refuses older data"
                )
                first = earliest
        if first > last:
            continue
        settled_until = last_settled_day(dataset, today)
        earliest_day = today - timedelta(days=dataset.history_days or 100_000)
        for market in marketplace_ids:
            done = (covered or {}).get((dataset.name, market), set())
            if dataset.window == "range":
                runs = _uncovered_runs(first, last, done)
            else:
                runs = [(first, last)]
            for run_start, run_end in runs:
                for window in windows_for(dataset, run_start, run_end, today):
                    if window.start < earliest_day:
                        continue  # a week reaching back past what Amazon serves is refused
                    provisional = today if window.end > settled_until else None
                    request = PlannedRequest(
                        dataset, seller_id, (market,), window, provisional_as_of=provisional
                    )
                    result.requests.append(request)
    if one_source:
        one_source_per_day(result, datasets, covered or {}, today, pulled or {})
    return result


def one_source_per_day(
    result: Plan, named: Sequence[Dataset], covered: Covered, today: date, pulled: Covered
) -> None:
    """Ask each day of a dataset with ``same_figures_as`` (the Sales & Traffic report by ASIN)
    of one source only, in ``result``'s requests, saying what moved in its notes:

    - a day the fuller dataset (Data Kiosk) is also asked for in the plan, or already landed
      with settled numbers, is not asked of this one: the fuller one gives the same figures;
    - the days still being restated stay as named (the daily schedule's tail);
    - the settled days left (history) go to the fuller dataset when the rate limits and
      quotas let the plan finish sooner that way (``estimate``): the report's quota of 4 an
      hour makes a long history weeks, Data Kiosk's createQuery rate hours; a day this dataset
      already pulled stays its own: landed settled, the ledger skips it; pulled while still
      restated, its final pull replaces the provisional one (``pulled``), where Data Kiosk's
      would lose to the report's stale figures in sales_daily.
    """
    from spapi_toolkit.lake.registry import registry

    names = {d.name for d in named}
    for dataset in named:
        fuller = registry().get(dataset.same_figures_as or "")
        if fuller is None:
            continue

        elsewhere = {_day(r) for r in result.requests if r.dataset.name == fuller.name}
        elsewhere |= _days_of(covered, fuller.name)
        mine = [r for r in result.requests if r.dataset.name == dataset.name]
        rest = [r for r in result.requests if r.dataset.name != dataset.name]
        kept = [r for r in mine if _day(r) not in elsewhere]
        if len(kept) < len(mine):
            why = "asked for in this plan" if fuller.name in names else "landed already"
            result.notes.append(
                f"{dataset.name}: {len(mine) - len(kept)} marketplace-days not asked: "
                f"{fuller.name} gives the same figures and is {why} (--each-source asks both)"
            )
        own = _days_of(covered, dataset.name) | _days_of(pulled, dataset.name)
        earliest = today - timedelta(days=fuller.history_days or 100_000)
        settled = [r.provisional_as_of is None and _day(r) not in own and r.dt >= earliest
                   for r in kept]  # fmt: skip
        history = [r for r, old in zip(kept, settled, strict=True) if old]
        recent = [r for r, old in zip(kept, settled, strict=True) if not old]
        moved = [dataclasses.replace(r, dataset=fuller) for r in history]
        as_named, instead = estimate(rest + kept), estimate(rest + recent + moved)
        if history and instead.seconds < as_named.seconds:
            result.notes.append(
                f"{dataset.name}: {len(history)} settled marketplace-days asked of {fuller.name} "
                f"instead (the same figures): the plan's limits allow it in "
                f"{_duration(instead.seconds)} against {_duration(as_named.seconds)} as named "
                "(--each-source asks as named)"
            )
            kept = recent + moved
        result.requests = rest + kept


def _day(request: PlannedRequest) -> tuple[str, date]:
    """A one-marketplace request's (marketplace, day)."""
    return request.marketplace_ids[0], request.dt


def _days_of(found: Covered, name: str) -> set[tuple[str, date]]:
    """The (marketplace, day)s ``found`` holds of dataset ``name``."""
    return {(m, d) for (n, m), days in found.items() if n == name for d in days}


@dataclass(frozen=True)
class Estimate:
    requests: int
    report_requests: int
    quota_limited: int  # requests under a report-type quota (e.g. Sales & Traffic)
    seconds: float  # the least time the limits allow, before Amazon's processing time

    def describe(self) -> str:
        return (
            f"{self.requests} requests ({self.report_requests} reports, {self.quota_limited} "
            f"under a report quota); the limits allow it in no less than "
            f"{_duration(self.seconds)}"
        )


def _duration(seconds: float) -> str:
    """``seconds`` as hours and minutes (minutes and seconds under an hour)."""
    hours, rest = divmod(math.ceil(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


def estimate(requests: Sequence[PlannedRequest], time_scale: float = 1.0) -> Estimate:
    """How many requests, and the least time the usage plans and report quotas allow.

    Quota-limited report types dominate: Sales & Traffic allows 4 requests an hour and 96 a day
    per seller, so a year of daily per-ASIN reports is a multi-day backfill. Data Kiosk has no
    quota but createQuery's rate limit (about one a minute): a year of one-day queries takes
    about six hours per marketplace. ``time_scale`` is the service's clock speed (the
    sandbox's), as elsewhere.
    """
    limits = official_limits()
    reports = [r for r in requests if r.dataset.source == "report"]
    create = limits["reports_2021-06-30.createReport"]
    seconds = max(0.0, (len(reports) - create.burst) / create.rate)
    queries = sum(1 for r in requests if r.dataset.source == "data_kiosk")
    create_query = limits["dataKiosk_2023-11-15.createQuery"]
    seconds = max(seconds, (queries - create_query.burst) / create_query.rate)
    quota_limited = 0
    by_type: dict[tuple[str, str], int] = {}
    for request in reports:
        if request.dataset.report_type in REPORT_QUOTAS:
            quota_limited += 1
            key = (request.seller_id, str(request.dataset.report_type))
            by_type[key] = by_type.get(key, 0) + 1
    for (_, report_type), count in by_type.items():
        for quota in REPORT_QUOTAS[report_type]:
            periods = math.ceil(count / quota.max_requests) - 1
            seconds = max(seconds, periods * quota.period.total_seconds())
    return Estimate(len(requests), len(reports), quota_limited, seconds / time_scale)
