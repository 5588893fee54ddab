"""SP-API rate limits: token buckets that callers wait on instead of being throttled.

Amazon meters every operation with a token bucket per application, selling partner and region
(the rate and burst of each operation are in the models' usage-plan tables, shipped here as
``data/rate_limits.csv``). This module mirrors those buckets on the client side so that requests
leave only when the server would accept them:

* ``BucketState`` is the arithmetic of one bucket; ``TokenBucket`` shares it between threads and
  ``FileTokenBucket`` between processes on one host (through a file lock).
* ``RateLimiter`` keeps one bucket per (application, selling partner, region, operation), seeded
  from the official table, and learns from responses: an ``x-amzn-RateLimit-Limit`` header sets
  the rate (the burst is kept), a 429 halves it and empties the bucket, and each success without the
  header gives back a tenth of the last rate the service told us. A missing header changes nothing.
* ``RetryPolicy`` decides what is retried (429, 500/502/503/504, connection errors), how long to
  back off (full jitter) and when the budget is spent.
* ``REPORT_QUOTAS`` are the per-report-type quotas that sit on top of the operation limits.
* ``OperationStats`` counts requests, throttles, retries and seconds waited per operation.
"""

from __future__ import annotations

import csv
import io
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from filelock import FileLock

from .models import all_operations

OFFICIAL_LIMITS_PATH = Path(str(resources.files("spapi_toolkit").joinpath("data/rate_limits.csv")))
REPORT_QUOTAS_PATH = Path(str(resources.files("spapi_toolkit").joinpath("data/report_quotas.csv")))

# Operations whose model has no usage plan (sandbox-only or new) get this, the most cautious
# limit the published tables use.
DEFAULT_LIMIT = (0.0167, 1)
# After a 429 the rate is multiplied by this; it never drops below MIN_RATE.
THROTTLE_FACTOR = 0.5
MIN_RATE = 0.001
# Each success without a rate header gives back this share of the last told rate (additive
# increase after the multiplicative decrease of a 429).
RECOVERY_SHARE = 0.1

# Tokens refill at this share of the rate: a request leaves a moment after it takes its token and
# arrives later still, so a client refilling at exactly the server's rate would run ahead of the
# server's bucket by that delay. 1% leaves 5 ms of slack per request at 2 requests/s.
REFILL_SAFETY = 0.99

# The least time assumed between taking a token and the request reaching the server.
MIN_LEAD = 0.02

# Report-type quota windows are taken this much longer than Amazon's.
QUOTA_MARGIN = 0.02

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class RateLimitTimeout(TimeoutError):
    """Waiting for a token would take longer than the caller allowed."""


# --------------------------------------------------------------------------------------------
# The official table
# --------------------------------------------------------------------------------------------

_TABLE_FIELDS = ("model", "operation_id", "method", "path", "rate", "burst", "notes")


def render_limits_table() -> str:
    """The CSV of every bundled operation's default rate and burst, generated from the models."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_TABLE_FIELDS)
    for op in all_operations():
        plan = op.usage_plan
        notes = [
            flag
            for flag, on in (
                ("deprecated", op.deprecated),
                ("sandbox-only", op.sandbox_only),
                ("grantless", op.grantless),
                ("no usage plan in model", plan is None),
            )
            if on
        ]
        rate, burst = (f"{plan[0]:g}", str(plan[1])) if plan else ("", "")
        writer.writerow(
            (op.model, op.operation_id, op.method, op.path, rate, burst, ";".join(notes))
        )
    return out.getvalue()


@dataclass(frozen=True)
class OfficialLimit:
    """The default usage plan of one operation."""

    model: str
    operation_id: str
    rate: float
    burst: int
    from_model: bool  # False where the model has no usage plan and DEFAULT_LIMIT applies


def official_limits() -> dict[str, OfficialLimit]:
    """The shipped table, keyed by ``"<model>.<operationId>"``."""
    limits = {}
    with OFFICIAL_LIMITS_PATH.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            from_model = bool(row["rate"])
            rate, burst = (float(row["rate"]), int(row["burst"])) if from_model else DEFAULT_LIMIT
            key = f"{row['model']}.{row['operation_id']}"
            limits[key] = OfficialLimit(row["model"], row["operation_id"], rate, burst, from_model)
    return limits


# --------------------------------------------------------------------------------------------
# Buckets
# --------------------------------------------------------------------------------------------


@dataclass
class BucketState:
    """The arithmetic of one token bucket.

    Callers reserve tokens in arrival order: ``reserve`` takes a token even when the bucket is
    empty (the count goes negative) and returns how long the caller must wait for it to exist.
    Waiting callers therefore never race each other, and the bucket never lets more through than
    ``burst + rate * elapsed``.
    """

    rate: float
    burst: float
    tokens: float
    updated: float  # refill is counted from here; may lie ahead (see ``lead``)
    ceiling: float = 0.0  # the best rate the service has told us; recovery stops there
    lead: float = MIN_LEAD  # how long after taking its token a request reaches the server

    def __post_init__(self) -> None:
        if not self.ceiling:
            self.ceiling = self.rate

    @property
    def _refill_rate(self) -> float:
        return self.rate * REFILL_SAFETY

    def _refill(self, now: float) -> None:
        if now > self.updated:
            refill = (now - self.updated) * self._refill_rate
            self.tokens = min(self.burst, self.tokens + refill)
            self.updated = now

    def reserve(self, now: float, max_wait: float | None = None) -> float | None:
        """Take one token; return seconds to wait for it, or None (nothing taken) if > max_wait."""
        self._refill(now)
        available = self.tokens
        if available >= 1.0:
            wait = 0.0
        else:
            wait = max(0.0, self.updated - now) + (1.0 - available) / self._refill_rate
        if max_wait is not None and wait > max_wait:
            return None
        if available >= self.burst:
            # Leaving a full bucket: the server's bucket starts refilling only when this request
            # arrives, so ours must not count the time the request spends on its way.
            self.updated = now + self.lead
        self.tokens -= 1.0
        return wait

    def observe_latency(self, seconds: float) -> None:
        """Track how long requests take to answer (an upper bound of their way to the server)."""
        self.lead = max(MIN_LEAD, 0.8 * self.lead + 0.2 * seconds)

    def observe_rate(self, rate: float) -> None:
        """The service stated the rate (``x-amzn-RateLimit-Limit``): adopt it, keep the burst."""
        if rate > 0:
            self.rate = self.ceiling = rate

    def throttled(self, now: float) -> None:
        """A 429 arrived: the server's bucket is empty and our rate was too high."""
        self._refill(now)
        self.rate = max(MIN_RATE, self.rate * THROTTLE_FACTOR)
        self.tokens = min(self.tokens, 0.0)

    def succeeded(self) -> None:
        """A success without a rate header: win back part of what throttling took."""
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.ceiling * RECOVERY_SHARE)


class TokenBucket:
    """A token bucket shared by the threads of one process."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BucketState(rate=rate, burst=burst, tokens=burst, updated=clock())

    @property
    def rate(self) -> float:
        return self._state.rate

    @property
    def burst(self) -> float:
        return self._state.burst

    def _update(self, change: Callable[[BucketState, float], float | None]) -> float | None:
        with self._lock:
            return change(self._state, self._clock())

    def acquire(self, timeout: float | None = None) -> float:
        """Wait for a token; return the seconds waited. Raises RateLimitTimeout past ``timeout``."""
        wait = self._update(lambda s, now: s.reserve(now, timeout))
        if wait is None:
            raise RateLimitTimeout(f"no token within {timeout}s at {self.rate:g} requests/s")
        if wait > 0:
            time.sleep(wait)
        return wait

    def observe_rate(self, rate: float) -> None:
        self._update(lambda s, now: s.observe_rate(rate))

    def throttled(self) -> None:
        self._update(lambda s, now: s.throttled(now))

    def observe_latency(self, seconds: float) -> None:
        self._update(lambda s, now: s.observe_latency(seconds))

    def succeeded(self) -> None:
        self._update(lambda s, now: s.succeeded())


class FileTokenBucket(TokenBucket):
    """A token bucket shared by every process on this host that names the same state file.

    The state lives in a small JSON file guarded by a ``filelock``; time is wall-clock
    (``time.time``) because monotonic clocks are per process.
    """

    def __init__(self, path: Path, rate: float, burst: float):
        super().__init__(rate, burst, clock=time.time)
        self._path = path
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(path) + ".lock")
        self._initial = (rate, burst)

    def _load(self, now: float) -> BucketState:
        try:
            return BucketState(**json.loads(self._path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError, TypeError):
            rate, burst = self._initial
            return BucketState(rate=rate, burst=burst, tokens=burst, updated=now)

    def _update(self, change: Callable[[BucketState, float], float | None]) -> float | None:
        with self._lock, self._file_lock:
            now = self._clock()
            state = self._load(now)
            result = change(state, now)
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
            tmp.replace(self._path)
            self._state = state
            return result


# --------------------------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------------------------


@dataclass
class OperationStats:
    """What happened to the calls of one operation."""

    requests: int = 0  # HTTP requests sent, retries included
    throttled: int = 0  # 429 answers
    retried: int = 0  # requests sent again after a 429, 5xx or connection error
    waited_seconds: float = 0.0  # time spent waiting for tokens and backing off


# --------------------------------------------------------------------------------------------
# The limiter
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketKey:
    """Whose bucket: Amazon meters per application, selling partner, region and operation."""

    application: str
    selling_partner: str
    region: str
    operation: str  # "<model>.<operationId>"

    def filename(self) -> str:
        raw = "_".join((self.application, self.selling_partner, self.region, self.operation))
        return "".join(c if c.isalnum() or c in "-._" else "_" for c in raw) + ".json"


class RateLimiter:
    """One bucket per (application, selling partner, region, operation), seeded officially.

    ``state_dir`` makes the buckets cross-process (``FileTokenBucket``): give every worker
    process on a host the same folder. ``overrides`` replaces official limits, keyed like
    ``official_limits()``, e.g. ``{"catalogItems_2022-04-01.getCatalogItem": (5, 10)}``.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        overrides: dict[str, tuple[float, int]] | None = None,
    ):
        self._official = official_limits()
        self._overrides = dict(overrides or {})
        self._state_dir = state_dir
        self._buckets: dict[BucketKey, TokenBucket] = {}
        self._stats: dict[str, OperationStats] = {}
        self._lock = threading.Lock()

    def limit_for(self, operation: str) -> tuple[float, int]:
        if operation in self._overrides:
            return self._overrides[operation]
        official = self._official.get(operation)
        return (official.rate, official.burst) if official else DEFAULT_LIMIT

    def bucket(self, key: BucketKey) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                rate, burst = self.limit_for(key.operation)
                if self._state_dir is not None:
                    bucket = FileTokenBucket(self._state_dir / key.filename(), rate, burst)
                else:
                    bucket = TokenBucket(rate, burst)
                self._buckets[key] = bucket
            return bucket

    def stats_for(self, operation: str) -> OperationStats:
        with self._lock:
            return self._stats.setdefault(operation, OperationStats())

    def stats(self) -> dict[str, OperationStats]:
        """A copy of the counters, per operation."""
        with self._lock:
            return {op: OperationStats(**asdict(s)) for op, s in self._stats.items()}

    def record(self, operation: str, **increments: float) -> None:
        with self._lock:
            stats = self._stats.setdefault(operation, OperationStats())
            for name, value in increments.items():
                setattr(stats, name, getattr(stats, name) + value)

    def acquire(self, key: BucketKey, timeout: float | None = None) -> float:
        waited = self.bucket(key).acquire(timeout)
        self.record(key.operation, waited_seconds=waited)
        return waited

    def observe(
        self, key: BucketKey, status: int, rate_header: str | None, latency: float = 0.0
    ) -> None:
        """Learn from one answer: the rate header, a 429, or a plain success, and how long it
        took to come back."""
        bucket = self.bucket(key)
        if latency > 0:
            bucket.observe_latency(latency)
        if status == 429:
            bucket.throttled()
            return
        rate = parse_rate_header(rate_header)
        if rate is not None:
            bucket.observe_rate(rate)
        elif 200 <= status < 300:
            bucket.succeeded()


def parse_rate_header(value: str | None) -> float | None:
    """The rate in ``x-amzn-RateLimit-Limit``, or None when absent or not a positive number."""
    if not value:
        return None
    try:
        rate = float(value.strip())
    except ValueError:
        return None
    return rate if rate > 0 else None


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    """What is retried and for how long.

    ``max_attempts`` counts every attempt of one call; ``budget_seconds`` bounds the total time
    spent backing off. Backoff is "full jitter": a uniform draw in [0, min(cap, base * 2**n)].
    """

    max_attempts: int = 8
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    budget_seconds: float = 300.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    # Only throttling: for calls that are not idempotent (createReport), where a 5xx or a lost
    # answer may mean the request was carried out and a blind retry would repeat it.
    throttling_only: bool = False

    def retryable(self, status: int | None) -> bool:
        """None stands for a connection error or timeout."""
        if self.throttling_only:
            return status == 429
        return status is None or status in RETRYABLE_STATUSES

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
        return self.rng.uniform(0.0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


# --------------------------------------------------------------------------------------------
# Report-type quotas
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuota:
    """At most ``max_requests`` createReport calls of ``report_type`` per ``period``.

    ``scope`` says who shares the quota: ``seller`` (every app and marketplace of one selling
    partner) or ``seller_marketplace``.
    """

    report_type: str
    max_requests: int
    period: timedelta
    scope: str
    note: str = ""

    def next_allowed(self, history: Iterable[datetime], now: datetime) -> datetime:
        """The earliest time a new request fits, given the times of earlier requests."""
        window_start = now - self.period
        recent = sorted(t for t in history if t > window_start)
        if len(recent) < self.max_requests:
            return now
        return recent[len(recent) - self.max_requests] + self.period


def _load_report_quotas() -> dict[str, list[ReportQuota]]:
    quotas: dict[str, list[ReportQuota]] = {}
    with REPORT_QUOTAS_PATH.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            quota = ReportQuota(
                report_type=row["report_type"],
                max_requests=int(row["max_requests"]),
                period=timedelta(seconds=int(row["period_seconds"])),
                scope=row["scope"],
                note=row["note"],
            )
            quotas.setdefault(quota.report_type, []).append(quota)
    return quotas


REPORT_QUOTAS: dict[str, list[ReportQuota]] = _load_report_quotas()


def next_report_slot(
    report_type: str, history: Iterable[datetime], now: datetime, time_scale: float = 1.0
) -> datetime:
    """When the next ``report_type`` request may be sent under every quota that applies.

    ``time_scale`` shortens the quota periods for a service whose clock runs faster (the local
    sandbox runs N simulated seconds per real second).
    """
    times = list(history)
    # The service counts a request when it arrives, we when we send it: leave a margin.
    quotas = [
        replace(q, period=q.period * (1 + QUOTA_MARGIN) / time_scale)
        for q in REPORT_QUOTAS.get(report_type, [])
    ]
    return max((q.next_allowed(times, now) for q in quotas), default=now)
