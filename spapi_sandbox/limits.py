"""Server-side enforcement of SP-API usage plans, as Amazon applies them.

Deliberately independent of the client's ``spapi_toolkit.api.ratelimit`` (only the official table is
shared): a server that reused the client's arithmetic could not catch the client's mistakes.
Every (caller, operation) pair has a strict token bucket; a request finding it empty is refused
with 429 ``QuotaExceeded`` and, as Amazon does, no rate header. ``scale`` multiplies every rate
and burst for fast demos; 1.0 keeps Amazon's numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from spapi_toolkit.api.ratelimit import official_limits

QUOTA_EXCEEDED_MESSAGE = "You exceeded your quota for the requested resource."


class ServerLimits:
    def __init__(
        self,
        scale: float = 1.0,
        overrides: dict[str, tuple[float, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._limits = {key: (lim.rate, lim.burst) for key, lim in official_limits().items()}
        self._limits.update(overrides or {})
        self._scale = scale
        self._clock = clock
        self._buckets: dict[tuple[str, str], list[float]] = {}  # key -> [tokens, updated]
        self._lock = threading.Lock()
        self.accepted = 0
        self.refused = 0

    def limit(self, operation: str) -> tuple[float, float]:
        """(rate per second, burst) enforced for ``operation`` (``"<model>.<operationId>"``)."""
        rate, burst = self._limits.get(operation, (0.0167, 1))
        return rate * self._scale, max(1.0, burst * self._scale)

    def admit(self, caller: str, operation: str) -> bool:
        """Take a token for one request; False means answer 429."""
        rate, burst = self.limit(operation)
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.get((caller, operation), (burst, now))
            tokens = min(burst, tokens + (now - updated) * rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
                self.accepted += 1
            else:
                self.refused += 1
            self._buckets[(caller, operation)] = [tokens, now]
            return allowed

    def rate_header(self, operation: str) -> str:
        """The value of ``x-amzn-RateLimit-Limit`` on a successful answer."""
        return f"{self.limit(operation)[0]:g}"
