"""Where a table's or a mart's run spends its time: wall seconds and Spark jobs per phase.

A run wraps each of its steps in ``Profile.phase(name)``. The phase's jobs are tagged with a job
group of their own (a thread-local property in PySpark's pinned-thread mode, so tables curated
side by side on one session keep their jobs apart) and counted afterwards through Spark's status
tracker. A phase inside another counts only once: the outer phase's seconds and jobs exclude the
inner one's. Whatever a run spends outside its phases (listing the lake, reading and writing its
state, Python between actions) is its ``fixed`` cost: ``Profile.table``'s last column.

Profiling costs one property write per phase and nothing on the executors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

GROUP = "spark.jobGroup.id"
DESCRIPTION = "spark.job.description"
FIXED = "fixed"


@dataclass
class Profile:
    """One run's phases: seconds and Spark jobs each, in the order they first ran."""

    seconds: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    _spark: SparkSession | None = field(default=None, repr=False, compare=False)
    _nested: list[float] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def of(cls, spark: SparkSession | None) -> Profile:
        """A profile that counts ``spark``'s jobs (seconds only without a session)."""
        return cls(_spark=spark)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name`` (added to earlier blocks of the same name) and count
        the Spark jobs it ran."""
        context = self._spark.sparkContext if self._spark is not None else None
        group = f"spapi-{name}-{uuid.uuid4().hex[:12]}"
        previous = None
        if context is not None:
            previous = (context.getLocalProperty(GROUP), context.getLocalProperty(DESCRIPTION))
            context.setJobGroup(group, name)
        self._nested.append(0.0)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            inner = self._nested.pop()
            if self._nested:
                self._nested[-1] += elapsed
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - inner
            if context is not None and previous is not None:
                jobs = len(context.statusTracker().getJobIdsForGroup(group))
                self.jobs[name] = self.jobs.get(name, 0) + jobs
                context.setLocalProperty(GROUP, previous[0])  # type: ignore[arg-type]
                context.setLocalProperty(DESCRIPTION, previous[1])  # type: ignore[arg-type]

    def finish(self, total: float) -> None:
        """Record what ``total`` seconds (the whole run) spent outside any phase as ``fixed``."""
        inside = sum(s for name, s in self.seconds.items() if name != FIXED)
        self.seconds[FIXED] = max(total - inside, 0.0)

    @property
    def total_jobs(self) -> int:
        return sum(self.jobs.values())

    def line(self) -> str:
        """The phases on one line: ``read 3.1 s/4 jobs, publish 1.2 s/3 jobs, fixed 0.4 s``."""
        parts = []
        for name, seconds in self.seconds.items():
            jobs = self.jobs.get(name)
            parts.append(f"{name} {seconds:.1f} s" + (f"/{jobs} jobs" if jobs else ""))
        return ", ".join(parts)
