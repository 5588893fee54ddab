"""Demo curation benchmark (issue 20): ``make demo``'s raw zone curated as the demo curates it,
with the local session's JVM flags (``session.JVM_OPTIONS``) beside the JVM's own defaults, in
one run.

Run:  .venv/bin/python benchmarks/bench_demo_curation.py [--lake lake] [--passes 2] [--rounds 1]

The raw zone is the demo's (``make demo`` leaves it in ./lake; nothing there is written). Each
configuration runs in a process of its own, since a JVM's flags are fixed when it starts: the
raw zone is copied into a temporary lake and curated as ``make demo`` does (every table, then
every mart, two at a time, with the demo's PII key), ``--passes`` times on one session, each
pass into a fresh copy. The first pass is what the demo pays (a cold JVM); later passes show what
a warm JVM takes. The configurations alternate ``--rounds`` times, so a machine's drift during
the run shows in both. The run fails unless every table and mart passed its suite with rows.

Per pass: wall seconds of the tables and of the marts. Per process: the JVM's CPU seconds by
kind of thread (the JIT compilers with the code-cache sweeper, executor tasks, garbage
collection, the rest), read from /proc (Linux only), and the Python process's own CPU seconds
(Spark's Python workers are the JVM's children and counted in neither): over all of the
process's passes, shown on its first line.

Figures seen
------------
A 2-core VM, 2026-12-07, at commit 9970d13 (30 days of the demo's seller: 20 tables, 10 marts),
7 min 26 s in all::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_demo_curation.py

    config     pass   tables s  marts s  total s  JVM CPU s  compiler  executor     gc  python CPU s
    defaults   cold       91.1     38.4    129.4      242.5     118.7      66.7   33.1          30.4
    defaults   warm       49.7     29.0     78.7
    session    cold       70.9     43.4    114.3      165.1       7.3     100.2   30.6          37.1
    session    warm       69.2     38.0    107.2

Earlier the same day, the same steps run by hand (one process per configuration, two passes),
twice per configuration: defaults cold 156.1 s and 126.0 s, warm 96.8 s and 81.1 s (JVM CPU
287.1 s and 231.3 s, of it compilers 137.2 s and 109.8 s); session cold 108.9 s and 111.9 s, warm
88.8 s and 86.9 s (JVM CPU 133.5 s and 149.7 s, compilers 6.7 s and 6.5 s).

So with C1 alone the cold pass, which is what ``make demo`` and a day's ``spapi curate`` pay, is
11-30 % shorter, and the JVM uses a third to a half less CPU. A warm pass can be slower (here
107.2 s against 78.7 s): C1's code runs slower, which a JVM that goes on curating feels, so the
tests' long session and bench_curate keep the JVM's defaults. C1 alone with its own 48 MB code
cache filled it ("CodeCache is full. Compiler has been disabled") and ran 107-122 s cold; the
240 MB cache is tiered compilation's default size. Measured alone, a cold pass with the
defaults took 110.5 s, in which the compiler threads used 72.7 of the JVM's 135.6 CPU seconds:
two thirds of one of the two cores, throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = ("defaults", "session")  # the JVM's own flags; session.JVM_OPTIONS
KINDS = (
    ("compiler", re.compile(r"^(C\d CompilerThre|Sweeper thread)")),
    ("executor", re.compile(r"^Executor task")),
    ("gc", re.compile(r"^(GC Thread|G1 |VM Thread)")),
)


def thread_kind(name: str) -> str:
    """The kind of a JVM thread by its name as /proc shows it (15 characters at most)."""
    return next((kind for kind, pattern in KINDS if pattern.match(name)), "other")


def jvm_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) the JVM ``pid`` spent, by kind of thread (``thread_kind``);
    empty where /proc is not there."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds: Counter[str] = Counter()
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return {}
    for task in tasks.iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[thread_kind(name)] += (int(fields[11]) + int(fields[12])) / tick
    return dict(seconds)


def child(config: str, raw: Path, passes: int) -> dict[str, object]:
    """One configuration's process: ``passes`` curations of a copy of ``raw``; its figures."""
    from spapi_sandbox.demo import DEMO_HASH_KEY
    from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated
    from spapi_toolkit.lake.curate.jobs import raw_to_cleaned
    from spapi_toolkit.lake.curate.session import JVM_OPTIONS, spark_session
    from spapi_toolkit.lake.quality.gate import SIDE_BY_SIDE
    from spapi_toolkit.lake.storage import LocalLake

    options = JVM_OPTIONS if config == "session" else ()
    spark = spark_session(f"spapi-bench-demo-{config}", jvm_options=options)
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    runs, problems = [], []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        for number in range(passes):
            root = Path(folder) / f"pass{number}"
            shutil.copytree(raw, root / "raw")
            lake = LocalLake(str(root))
            started = time.perf_counter()
            tables = raw_to_cleaned(spark, lake, hash_key=DEMO_HASH_KEY, concurrent=SIDE_BY_SIDE)
            between = time.perf_counter()
            marts = cleaned_to_aggregated(spark, lake, concurrent=SIDE_BY_SIDE)
            ended = time.perf_counter()
            runs.append({"tables": between - started, "marts": ended - between})
            problems += [t.table for t in tables if t.failures or t.refused or not t.rows_out]
            problems += [m.mart for m in marts if m.failures or not m.rows_out]
            shutil.rmtree(root)
    cpu = jvm_cpu(pid)
    spark.stop()
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {"config": config, "runs": runs, "jvm": cpu, "python": used.ru_utime + used.ru_stime,
            "problems": sorted(set(problems))}  # fmt: skip


def report(results: list[dict]) -> None:
    print(
        f"{'config':10} {'pass':5} {'tables s':>9} {'marts s':>8} {'total s':>8}"
        f" {'JVM CPU s':>10} {'compiler':>9} {'executor':>9} {'gc':>6} {'python CPU s':>13}"
    )
    for result in results:
        jvm = result["jvm"]
        for number, run in enumerate(result["runs"]):
            line = (
                f"{result['config']:10} {'cold' if number == 0 else 'warm':5}"
                f" {run['tables']:9.1f} {run['marts']:8.1f} {run['tables'] + run['marts']:8.1f}"
            )
            if number == 0 and jvm:
                line += (
                    f" {sum(jvm.values()):10.1f} {jvm.get('compiler', 0):9.1f}"
                    f" {jvm.get('executor', 0):9.1f} {jvm.get('gc', 0):6.1f}"
                    f" {result['python']:13.1f}"
                )
            print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lake",
        type=Path,
        default=ROOT / "lake",
        help="a lake holding the demo's raw zone (./lake after make demo)",
    )
    parser.add_argument("--passes", type=int, default=2, help="curations per process (2)")
    parser.add_argument("--rounds", type=int, default=1, help="processes per config (1)")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    raw = args.lake / "raw"
    if not raw.is_dir():
        print(f"no raw zone at {raw}: run `make demo` first, or pass --lake", file=sys.stderr)
        return 2
    if args.child:
        print(json.dumps(child(args.child, raw, args.passes)))
        return 0
    results = []
    for _ in range(args.rounds):
        for config in CONFIGS:
            print(f"curating {raw} with the {config} JVM flags ...", flush=True)
            command = [sys.executable, __file__, "--child", config, "--lake", str(args.lake),
                       "--passes", str(args.passes)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return done.returncode
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report(results)
    failed = sorted({name for result in results for name in result["problems"]})
    if failed:
        print(f"result: not every table and mart passed its suite with rows: {failed}")
        return 1
    print("result: every table and mart passed its suite with rows, in every pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
