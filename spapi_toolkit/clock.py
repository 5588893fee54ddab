"""The one clock the toolkit reads: wall time, elapsed time and sleeping.

Ingestion decides much from the time: the plan's "today", the ledger's stamps, which reports
are recent enough to reuse or recover, report quotas and cool-downs. Reading it all through one
injectable object is what lets a test (or a replay against a sandbox whose history ends on a
fixed date) pin "now" for every part at once, and what keeps the suite from depending on the
day it runs. Nothing else in the package calls ``datetime.now``, ``date.today`` or
``time.time``; a test checks that.

``Clock()`` is the machine's clock. ``Clock(offset=...)`` runs at the same speed but is set
ahead or behind by a fixed span: ``SPAPI_CLOCK_OFFSET`` (seconds) sets it from the environment,
and the local sandbox prints it when its history is pinned to a date, so every process of a
run agrees on one "now". ``ManualClock`` only moves when told to (or when something sleeps on
it), for tests of waits and cool-downs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

OFFSET_VARIABLE = "SPAPI_CLOCK_OFFSET"


class Clock:
    """The machine's clock, optionally set ahead or behind by ``offset``."""

    def __init__(self, offset: timedelta = timedelta(0)):
        self.offset = offset

    def __repr__(self) -> str:
        return f"{type(self).__name__}(offset={self.offset!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Clock:
        """The machine's clock, set by ``SPAPI_CLOCK_OFFSET`` (seconds, may be negative)."""
        text = (os.environ if env is None else env).get(OFFSET_VARIABLE, "").strip()
        if not text:
            return cls()
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError(
                f"{OFFSET_VARIABLE} must be a number of seconds, not {text!r}"
            ) from None
        return cls(timedelta(seconds=seconds))

    @classmethod
    def starting_at(cls, moment: datetime) -> Clock:
        """A clock that reads ``moment`` now and runs on at the machine's speed."""
        return cls(_aware(moment) - datetime.now(UTC))

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        return datetime.now(UTC) + self.offset

    def today(self) -> date:
        """The current UTC date."""
        return self.now().date()

    def machine_time(self) -> float:
        """Seconds since the epoch on the machine's own clock, without ``offset``: the time
        file modification times (and S3's upload times) are in. A ManualClock's own time."""
        return (self.now() - self.offset).timestamp()

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never go back: for deadlines and waits."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def env(self) -> dict[str, str]:
        """The environment that gives another process this clock."""
        return {OFFSET_VARIABLE: f"{self.offset.total_seconds():.3f}"}


class ManualClock(Clock):
    """A clock that stands still until ``advance`` (or ``sleep``) moves it: for tests."""

    def __init__(self, start: datetime):
        super().__init__()
        self._now = _aware(start)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def env(self) -> dict[str, str]:
        raise TypeError("a ManualClock cannot be handed to another process")


def _aware(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


SYSTEM_CLOCK = Clock()
