"""The rate limiter: one bucket per application, selling partner, region and operation.

Buckets are seeded from the official table (its rates multiplied by the service's time scale:
a sandbox whose clock runs 3600 times faster allows 3600 times as many requests a real second)
and learn from responses: an
``x-amzn-RateLimit-Limit`` header sets the rate (the burst is kept), a 429 halves it and empties
the bucket, and each success without the header gives back a tenth of the last rate the service
told us. A missing header changes nothing. ``OperationStats`` counts requests, throttles, retries
and seconds waited per operation.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from spapi_toolkit.api.ratelimit.bucket import MIN_RATE, FileTokenBucket, TokenBucket
from spapi_toolkit.api.ratelimit.limits import DEFAULT_LIMIT, official_limits


@dataclass
class OperationStats:
    """What happened to the calls of one operation."""

    requests: int = 0  # HTTP requests sent, retries included
    throttled: int = 0  # 429 answers
    retried: int = 0  # requests sent again after a 429, 5xx or connection error
    waited_seconds: float = 0.0  # time spent waiting for tokens and backing off


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
    ``time_scale`` is how many times faster than ours the service's clock runs (1 for Amazon):
    every rate, official or overridden, and the floor throttling may take it down to are
    multiplied by it, so a bucket that has not yet heard the service's rate header (a 429 or a
    lost answer before the first success) does not wait Amazon's minutes on a sandbox's
    seconds. Bursts are counts, not times, and stay as they are.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        overrides: dict[str, tuple[float, int]] | None = None,
        time_scale: float = 1.0,
    ):
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self.time_scale = time_scale
        self._official = official_limits()
        self._overrides = dict(overrides or {})
        self._state_dir = state_dir
        self._buckets: dict[BucketKey, TokenBucket] = {}
        self._stats: dict[str, OperationStats] = {}
        self._lock = threading.Lock()

    def limit_for(self, operation: str) -> tuple[float, int]:
        """(rate per real second, burst) a new bucket of ``operation`` starts from."""
        if operation in self._overrides:
            rate, burst = self._overrides[operation]
        else:
            official = self._official.get(operation)
            rate, burst = (official.rate, official.burst) if official else DEFAULT_LIMIT
        return rate * self.time_scale, burst

    def bucket(self, key: BucketKey) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                rate, burst = self.limit_for(key.operation)
                floor = MIN_RATE * self.time_scale
                if self._state_dir is not None:
                    path = self._state_dir / key.filename()
                    bucket = FileTokenBucket(path, rate, burst, floor=floor)
                else:
                    bucket = TokenBucket(rate, burst, floor=floor)
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

    def delay(self, key: BucketKey) -> float:
        """Seconds a call would now wait for its token, without taking one."""
        return self.bucket(key).delay()

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
