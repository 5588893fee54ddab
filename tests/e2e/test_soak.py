"""Soak (issue 11): ``spapi ingest all`` over 14 days x US, DE, JP against a sandbox that runs
3600 times faster and misbehaves in every way at once. The run must end, in a stated time, with
every planned request landed or answered "no data", and what landed must reconcile with the
seller's ground truth.

Another seed: ``SOAK_SEED=5 pytest tests/e2e/test_soak.py -s`` (the line printed says how long
the run took and which faults fired).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from spapi_sandbox.faults import Faults
from spapi_sandbox.server import run_sandbox
from spapi_toolkit.clock import Clock
from spapi_toolkit.ingest.ledger import FINISHED, Ledger
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..reconcile import (
    DE,
    JP,
    US,
    landed_order_units,
    landed_units_by_asin,
    manifests,
    settled,
    true_units_by_asin,
    true_units_by_day,
)
from ..support import END_DATE

SPAPI = str(Path(sys.executable).parent / "spapi")
SELLER = "A2SANDBOXSELLER1"
FIRST, LAST = date(2026, 11, 14), END_DATE  # 14 days
# 429 6 %, 5xx 6 %, connection resets 2 %, truncated downloads 5 %, FATAL reports 3 %, tokens
# answered as expired 3 %: the mix of issue 11.
MIX = "429=0.06,500=0.03,503=0.03,reset=0.02,truncate=0.05,fatal=0.03,expired=0.03"
SEED = int(os.environ.get("SOAK_SEED", "2"))
# Measured on a shared 2-core machine: 27-42 s for seeds 1-6 one at a time, 37 and 42 s for
# seeds 8 and 9 side by side. Before rate limits followed the time scale one seed took 181 s
# (120 s of it one stalled getReportDocument bucket): the bound leaves about three times the
# worst run for a loaded CI machine and still catches a stall like that.
BOUND_SECONDS = 120


def spapi(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPAPI_")}
    return subprocess.run([SPAPI, *args], env={**clean, **env}, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.slow
def test_ingest_all_under_every_fault_lands_everything_and_reconciles(tmp_path):
    lake_path = str(tmp_path / "lake")
    faults = Faults.parse(MIX, seed=SEED)
    with run_sandbox(end_date=END_DATE, scale=3600, faults=faults) as sandbox:
        today = Clock.from_env(sandbox.env).today()  # the "today" the CLI plans with
        started = time.monotonic()
        # --each-source: every dataset for every day, the reports' and Data Kiosk's paths both
        # under the faults (by default the report's days would all be Data Kiosk's).
        run = spapi("ingest", "all", "--from", str(FIRST), "--to", str(LAST),
                    "--marketplaces", "US,DE,JP", "--lake", lake_path, "--each-source",
                    env=sandbox.env, timeout=BOUND_SECONDS)  # fmt: skip
        seconds = time.monotonic() - started
        status = spapi("status", "--lake", lake_path, env=sandbox.env, timeout=60)
        fired = faults.fired
        fatal = [job.job_id for job in sandbox.app.reports.queue.jobs.values() if job.fatal]
        truth = sandbox.app.seller.truth(FIRST, LAST)
    print(f"\nsoak seed {SEED}: exit {run.returncode} in {seconds:.1f}s; faults {dict(fired)}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert seconds < BOUND_SECONDS

    # Every planned request of every dataset ended landed or "no data" in the ledger.
    planned = plan(select("all"), SELLER, (US, DE, JP), FIRST, LAST, today).requests
    lake = Lake.from_uri(lake_path)
    entries = {e.request_id: e for e in Ledger(lake).entries(SELLER)}
    assert set(entries) == {r.request_id for r in planned}
    unfinished = {i: (e.status, e.error) for i, e in entries.items() if e.status not in FINISHED}
    assert unfinished == {}
    assert {r.dataset.source for r in planned} == {"report", "data_kiosk", "api"}
    assert status.returncode == 0 and SELLER in status.stdout
    assert not [line for line in status.stdout.splitlines() if line.startswith("failed ")]

    # The faults did fire, every kind of them, and the FATAL reports were asked for again.
    assert set(fired) == {"throttle", "error_500", "error_503", "reset", "truncate",
                          "fatal_report", "expired_token"}, fired  # fmt: skip
    assert fatal, "no report ended FATAL: the soak did not test that"
    for report_id in fatal:  # its entry asked again, and landed another report (or no data)
        [entry] = [e for e in entries.values()
                   if [h for h in e.history if h[1] == "fatal" and report_id in h[2]]]  # fmt: skip
        assert entry.attempts >= 2 and entry.report_id != report_id

    # What landed reconciles with the seller's truth on every settled day.
    landed = manifests(lake)
    assert Counter(m.dataset for m in landed.values())["sales_traffic_by_asin"] == 14 * 3
    expected = true_units_by_asin(truth)
    got = landed_units_by_asin(lake, landed)
    done = {k for k in expected if settled(date.fromisoformat(k[0]), k[1])}
    assert len(done) > 100
    assert {k: got.get(k) for k in done} == {k: expected[k] for k in done}
    units, order_items = landed_order_units(lake, landed)
    assert order_items and max(order_items.values()) == 1  # no order item landed twice
    days = true_units_by_day(truth)
    settled_days = [k for k in days if settled(date.fromisoformat(k[0]), k[1])]
    assert len(settled_days) >= 10 * 3
    assert {k: units[k] for k in settled_days} == {k: days[k] for k in settled_days}
