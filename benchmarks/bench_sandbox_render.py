"""Sandbox rendering benchmark: how long the simulated seller takes to exist and to render one
day's Sales & Traffic report by child ASIN, for a large seller beside a small one, in one run.

Run:  .venv/bin/python benchmarks/bench_sandbox_render.py [--products 2000] [--days 730]
                                                           [--baseline 20] [--repeat 3]

The sandbox builds a seller lazily: making a 2,000-product, two-year seller must not simulate
its history, and one day's report must cost about what that day holds. Targets: the large
seller built in under 2 s and its day rendered in under 8 s (these were the bounds of a timed
test in tests/sandbox/test_sandbox_documents.py, which flaked on a loaded machine; the test now
checks the report's content and this script the time). The baseline is a seller of
``--baseline`` products over the same days, timed the same way: the large seller's figures
should grow with its products, not with its days. Each figure is the median of ``--repeat``
fresh sellers; the script exits 1 when a target is missed.

Figures seen
------------
A 2-core VM, 2026-12-07, commit 17a6985 with this script added, while nothing else ran::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_sandbox_render.py

        seller  days  build s  one day s      bytes
            20   730    0.001       0.01     18,179
         2,000   730    0.087       1.04  1,734,772
    targets (build < 2 s, one day < 8 s): met

The one day's cost grows with the products (about 100 times the bytes and the time for 100
times the products), and the build stays under a tenth of a second: nothing of the two years is
simulated before it is asked for.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spapi_sandbox.documents import render_report
from spapi_sandbox.seller import SellerConfig, SimulatedSeller

REPORT = "GET_SALES_AND_TRAFFIC_REPORT"
US = "ATVPDKIKX0DER"
DAY = datetime(2026, 3, 10, tzinfo=UTC)
LATE = datetime(2027, 1, 1, tzinfo=UTC)  # the day's figures are final by then
BUILD_TARGET, RENDER_TARGET = 2.0, 8.0


def measure(products: int, days: int, repeat: int) -> tuple[float, float, int]:
    """Median seconds to build a seller and to render its one day, and the document's bytes."""
    builds, renders, size = [], [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        seller = SimulatedSeller(SellerConfig(products=products, days=days))
        builds.append(time.perf_counter() - started)
        started = time.perf_counter()
        document = render_report(seller, REPORT, [US], DAY, DAY, {"asinGranularity": "CHILD"}, LATE)
        renders.append(time.perf_counter() - started)
        size = len(document)
    return statistics.median(builds), statistics.median(renders), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000, help="the large seller's (2000)")
    parser.add_argument("--days", type=int, default=730, help="days of history (730)")
    parser.add_argument("--baseline", type=int, default=20, help="the small seller's (20)")
    parser.add_argument("--repeat", type=int, default=3, help="sellers per size (3)")
    args = parser.parse_args(argv)
    print(f"{'seller':>10} {'days':>5} {'build s':>8} {'one day s':>10} {'bytes':>10}")
    rows = {}
    for products in (args.baseline, args.products):
        built, rendered, size = measure(products, args.days, args.repeat)
        rows[products] = (built, rendered)
        print(f"{products:>10,} {args.days:>5} {built:8.3f} {rendered:10.2f} {size:>10,}")
    built, rendered = rows[args.products]
    missed = []
    if built >= BUILD_TARGET:
        missed.append(f"build {built:.2f} s >= {BUILD_TARGET} s")
    if rendered >= RENDER_TARGET:
        missed.append(f"one day {rendered:.2f} s >= {RENDER_TARGET} s")
    print("targets (build < 2 s, one day < 8 s): " + ("; ".join(missed) or "met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
