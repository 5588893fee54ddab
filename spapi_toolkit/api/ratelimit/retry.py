"""Retries: what is retried, how long to back off, when to give up, and a budget shared by threads.

``RetryPolicy`` is per call: which answers are retried, the backoff (full jitter) and the most
attempts and seconds one call may spend. ``RetryQuota`` is per client, shared by every thread
and every kind of call (SP-API operations, LWA grants, document downloads): during an outage
each retry draws from it and each success pays back, so once it is empty calls fail at once
instead of every thread retrying for minutes on its own (botocore's ``RetryQuota`` is the
model). Throttling (429) does not draw from it: the rate limiter handles that.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


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


class RetryQuota:
    """A retry budget shared by every thread of one client.

    A retry after a 5xx costs ``retry_cost``, after a connection error or timeout
    ``timeout_cost``; a call that succeeds pays back what its retries cost, or ``success_refund``
    when it needed none. ``acquire`` says no once the budget is spent.
    """

    def __init__(
        self,
        capacity: int = 500,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_refund: int = 1,
    ):
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refund = success_refund
        self._available = capacity
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        return self._available

    def acquire(self, status: int | None) -> int | None:
        """Take the cost of retrying after ``status`` (None: no answer); None when spent.

        Throttling costs nothing. Returns the cost taken, to hand back to ``release``.
        """
        if status == 429:
            return 0
        cost = self.timeout_cost if status is None else self.retry_cost
        with self._lock:
            if self._available < cost:
                return None
            self._available -= cost
            return cost

    def release(self, spent: int) -> None:
        """A call succeeded after retries that cost ``spent`` (0: on its first attempt)."""
        with self._lock:
            self._available = min(self.capacity, self._available + (spent or self.success_refund))
