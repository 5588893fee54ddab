"""Report-type quotas: createReport limits per report type, on top of the operation limits."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

REPORT_QUOTAS_PATH = Path(str(resources.files("spapi_toolkit").joinpath("data/report_quotas.csv")))

# Report-type quota windows are taken this much longer than Amazon's, and at least
# QUOTA_MIN_MARGIN longer: the delay between our send and the service's count is absolute (a busy
# machine, a slow network), so a sandbox's shortened windows need more than 2% of a second.
QUOTA_MARGIN = 0.02
QUOTA_MIN_MARGIN = timedelta(seconds=0.25)


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
    quotas = []
    for quota in REPORT_QUOTAS.get(report_type, []):
        period = quota.period / time_scale
        quotas.append(replace(quota, period=period + max(period * QUOTA_MARGIN, QUOTA_MIN_MARGIN)))
    return max((q.next_allowed(times, now) for q in quotas), default=now)
