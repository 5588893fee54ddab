"""Token buckets: the arithmetic of one bucket, shared between threads or processes.

``BucketState`` is the arithmetic (refill, take, learn from a rate header or a 429);
``TokenBucket`` shares one state between threads and ``FileTokenBucket`` between the processes of
one host through a file lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

# After a 429 the rate is multiplied by this; it never drops below MIN_RATE (times the service's
# time scale: a sandbox running 3600 times faster has a floor 3600 times higher).
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


class RateLimitTimeout(TimeoutError):
    """Waiting for a token would take longer than the caller allowed."""


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
    floor: float = MIN_RATE  # throttling never takes the rate below this

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

    def delay(self, now: float) -> float:
        """Seconds until ``reserve`` would find a token without waiting; nothing is taken."""
        tokens = self.tokens
        if now > self.updated:
            tokens = min(self.burst, tokens + (now - self.updated) * self._refill_rate)
        if tokens >= 1.0:
            return 0.0
        return max(0.0, self.updated - now) + (1.0 - tokens) / self._refill_rate

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
        self.rate = max(self.floor, self.rate * THROTTLE_FACTOR)
        self.tokens = min(self.tokens, 0.0)

    def succeeded(self) -> None:
        """A success without a rate header: win back part of what throttling took."""
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.ceiling * RECOVERY_SHARE)


class TokenBucket:
    """A token bucket shared by the threads of one process."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        floor: float = MIN_RATE,
    ):
        self._clock = clock
        self._lock = threading.Lock()
        self._floor = floor
        self._state = BucketState(rate, burst, tokens=burst, updated=clock(), floor=floor)

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

    def delay(self) -> float:
        """Seconds until a token would be free now (nothing is taken)."""
        return self._update(lambda s, now: s.delay(now)) or 0.0

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

    def __init__(self, path: Path, rate: float, burst: float, floor: float = MIN_RATE):
        super().__init__(rate, burst, clock=time.time, floor=floor)
        self._path = path
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(path) + ".lock")
        self._initial = (rate, burst)

    def _load(self, now: float) -> BucketState:
        try:
            return BucketState(**json.loads(self._path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError, TypeError):
            rate, burst = self._initial
            return BucketState(rate=rate, burst=burst, tokens=burst, updated=now, floor=self._floor)

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
