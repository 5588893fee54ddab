"""The retry policy: what is retried, how long to back off and when to give up."""

from __future__ import annotations

import random
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
