"""Backfill benchmark (issue 23): a new seller's history, the plan's ETA against the run.

Run:  .venv/bin/python benchmarks/bench_backfill.py [--days 60] [--scale 600]
      [--baseline-scale 3600]

Against the local sandbox (a seller with ``--days`` + 15 days of history in US, DE and JP,
Amazon's rate limits and report quotas on a clock running ``--scale`` simulated seconds per real
second), ``sales_traffic_by_asin`` for the ``--days`` settled days before the restated tail is
planned and landed twice, each into a fresh lake:

* one source per day (``spapi ingest``'s default): the report's settled history asked of Data
  Kiosk (``same_figures_as``), the restated tail of the report;
* as named (``--each-source``, the baseline, measured in the same run on a clock running
  ``--baseline-scale``): every day of the report, under its quota of 4 an hour.

For each: the requests per dataset, the plan's ETA (``planner.estimate``: the least time the
rate limits and quotas allow, before Amazon's processing time) and the measured wall time, both
in simulated hours, and their ratio. The ETA leaves out the processing of the last requests and
the client's own overhead, which a faster clock magnifies (a real millisecond is ``scale``
simulated ones).

Measured on this 2-core VM, 2026-12-08 (``--days 60``; the first row at 437e499 + the
pipeline running Data Kiosk beside the reports, the second row unchanged by it):

    65 days (the last 4 still restated) x US, DE, JP of sales_traffic_by_asin
    plan                    scale    ETA h  measured h  ratio  real s  requests
    one source per day        600     2.79        2.89   1.03    17.3  {'sales_traffic_by_asin': 12, 'kiosk_sales_traffic': 183}
    as named (baseline)      3600    48.00       60.18   1.25    60.2  {'sales_traffic_by_asin': 195}

Before the pipeline ran Data Kiosk's queries beside the reports (one after the other), the
first row measured 5.00 h (ratio 1.79): the 12 restated days' reports wait 2 h on their quota
first. The baseline's excess is the reports' processing time, which the ETA leaves out.
"""  # noqa: E501

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.ingest.planner import estimate, plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

MARKETS = ("ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528")  # US, DE, JP
END_DATE = date(2026, 11, 27)  # the seller's last day: the same bytes every run


def backfill(days: int, scale: float, one_source: bool) -> dict[str, object]:
    """Plan and land the report's ``days`` days before the restated tail in a fresh lake; the
    plan's requests per dataset, its ETA and the measured time (simulated hours)."""
    with (
        tempfile.TemporaryDirectory() as folder,
        run_sandbox(scale=scale, days=days + 15, seed=7, end_date=END_DATE) as sandbox,
    ):
        client = SpApiClient.from_env(env=sandbox.env)
        today = sandbox.app.clock.datetime().date()
        first, last = today - timedelta(days=days + 5), today - timedelta(days=1)
        datasets = select("sales_traffic_by_asin")
        planned = plan(datasets, sandbox.seller_ids[0], MARKETS, first, last, today,
                       one_source=one_source)  # fmt: skip
        guess = estimate(planned.requests)
        lake = Lake.from_uri(str(Path(folder) / "lake"))
        started = time.monotonic()
        run = run_seller(SellerRun(sandbox.seller_ids[0], client), lake, datasets, MARKETS,
                         first, last, today, one_source=one_source)  # fmt: skip
        seconds = time.monotonic() - started
    if run.failures:
        raise SystemExit(f"the backfill failed: {run.failures[:3]}")
    return {
        "requests": dict(Counter(r.dataset.name for r in planned.requests)),
        "eta_h": guess.seconds / 3600,
        "measured_h": seconds * scale / 3600,
        "real_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--scale", type=float, default=600.0)
    parser.add_argument("--baseline-scale", type=float, default=3600.0)
    args = parser.parse_args()
    rows = [
        ("one source per day", args.scale, backfill(args.days, args.scale, True)),
        ("as named (baseline)", args.baseline_scale,
         backfill(args.days, args.baseline_scale, False)),
    ]  # fmt: skip
    print(f"{args.days + 5} days (the last 4 still restated) x US, DE, JP of sales_traffic_by_asin")
    print(
        f"{'plan':<22}{'scale':>7}{'ETA h':>9}{'measured h':>12}{'ratio':>7}{'real s':>8}  requests"
    )
    for name, scale, got in rows:
        ratio = got["measured_h"] / got["eta_h"] if got["eta_h"] else float("nan")
        print(
            f"{name:<22}{scale:>7g}{got['eta_h']:>9.2f}{got['measured_h']:>12.2f}"
            f"{ratio:>7.2f}{got['real_s']:>8.1f}  {got['requests']}"
        )


if __name__ == "__main__":
    main()
