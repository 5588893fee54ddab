"""Curation benchmark (issue 8): raw → cleaned → aggregated for one seller at growing history.

Run:  .venv/bin/python benchmarks/bench_curate.py [--products 2000] [--marketplaces US,DE,JP]
                                                   [--days 1,30,365] [--lake-dir DIR] [--quick]
                                                   [--datasets A,B] [--marts M,N]

1. The raw zone. For each size, a fresh lake gets what ingestion would land for a seller of
   ``--products`` child ASINs in ``--marketplaces`` over the first N days of its history: the
   sandbox's simulated seller (``spapi_sandbox.seller``) and its own document renderers
   (``spapi_sandbox.documents.render_report``) make each document, gzipped by the sandbox's rule,
   and the real ``spapi_toolkit.lake.landing.land`` stores it with its manifest, with the
   manifest fields, encodings and shape checks the report ingestor uses. The requests are the
   ingestion planner's (``planner.plan``): Sales & Traffic by child ASIN one day per request,
   all-orders by order date in 30-day windows, and one FBA inventory snapshot per day and
   marketplace. Every day is requested once its numbers are final (the plan's "today" is five
   days after the window), so no document is a provisional restatement. No HTTP, no rate limits:
   a year of daily reports through the sandbox's quotas would take days. This build is timed
   apart and never counted in the curation figures.
2. Ours, full: ``raw_to_cleaned`` (tables sales_traffic_by_asin, order_items, fba_inventory),
   then ``cleaned_to_aggregated`` (marts sales_daily, orders_daily), on a local Spark.
3. Baseline, the floor for throughput, on the same documents in the same run: pyarrow reads
   every raw document (gunzip, parse: flat files as strings, JSON reports through ``json``)
   and writes it to Parquet as it is, one file per document, in this Python process: no typing,
   no checks, no lineage, no dedup, no partitioning, no Spark.
4. One new day on top of the largest lake: its documents are landed, then curated
   incrementally (the jobs' state: only new documents, only the partitions they touch) and,
   beside it, with ``full_refresh=True`` (every document, every partition), the incremental
   run's baseline. The cleaned and mart partitions each run rewrote are found by listing the
   lake before and after (a partition is rewritten when its data files' names change), not
   taken from the jobs' own counts. The script exits non-zero unless the incremental run read
   exactly the new documents, rewrote exactly the new day's partitions and left the tables
   with the same rows as the full refresh.

Rows in are the rows read from the documents (``TableResult.rows_in``); rows/s divides them by
the wall seconds of the step. Peak memory is the resident set high-water mark (``VmHWM``) of the
Python process and of the Spark JVM, each reset at the start of a step (``/proc/PID/clear_refs``),
so it is the step's own peak; the JVM keeps the heap it grew in earlier steps, so a later step's
JVM figure includes what it already held. Linux only (``n/a`` elsewhere).

Figures seen
------------
On a quiet 2-core VM (23 GB RAM, nothing else running; load average about 2, this run's own),
2026-12-03, at commit c3cb4b4. Command (the defaults: 2,000 products x US/DE/JP, 1/30/365 days),
21 min 58 s in all::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_curate.py --lake-dir DIR

     days  documents     rows in  floor s floor rows/s   ours s ours rows/s peak MB py peak MB JVM
        1          9       9,918      0.1       77,752     18.8         527        362       1,591
       30        183     303,638      1.9      157,059     63.6       4,775        406       2,167
      365      2,229   4,108,133     25.5      161,247    468.7       8,765        411       2,752

At 365 days, raw -> cleaned took 299.0 s (13,740 rows/s; order_items 122.5 s,
sales_traffic_by_asin 86.0 s, fba_inventory 90.3 s) and cleaned -> marts 169.7 s (sales_daily
71.1 s, orders_daily 71.6 s, customer_behavior 15.1 s, product_performance 11.6 s). The raw zones
were built in 0.8 s, 9.9 s and 140.4 s (2,229 documents, 165 MB stored). The warm-up took 29.6 s.
Ours runs at 3-5 % of the floor's rows/s: the floor parses and writes and nothing else, while
ours types, checks, deduplicates, partitions, merges with what is published and runs the
expectation suites, each table and mart as its own Spark jobs on 2 cores.

The new day (2026-01-01) on top of 365 days, same run, every check passed::

                                 documents read  cleaned partitions  mart partitions  seconds
    incremental                               9          9 of 3,294      12 of 2,394     34.7
    full refresh                          2,238      3,294 of 3,294   2,394 of 2,394    481.6
    incremental / full refresh, seconds: 0.072

The incremental run read only the 9 new documents and rewrote only the new day's partitions (3
per table and mart), in 7 % of the full refresh's time, and left the same rows. What remains of
its 34.7 s is each table's and mart's fixed cost (listing, staging, the suite, the swap): 7-11 s
per table, 2-3 s per mart. The Python process's peak stays about 400 MB at every size; the
JVM's grows from 1.6 GB (1 day) to 2.8 GB (365 days).

Earlier figures (stop 15, 30 days on a machine shared with other Spark runs at load 5 to 23)
were 10 times slower and are not comparable.

Where the time goes (issue 20)
------------------------------
Each table's and mart's line of the profile gives seconds/Spark jobs per phase
(``lake/curate/profile.py``): ``list`` (state and manifests; 0.0 s here, left out below),
``plan`` (building the read and staging frames: Spark analysis, no job), ``read`` (documents
read, checked and typed: the first action), ``stage`` (the counts), ``stage write`` (merged and
written to ``_staging/``), ``validate`` (the suite, with its window or totals columns),
``swap``, ``state``; marts: ``build`` (the mart's rows and counts); ``fixed`` is whatever lies
outside them.

Same quiet 2-core VM, 2026-12-07, ``--quick`` (20 products x US/DE/JP, 1 and 2 days, warm-up
first), the incremental run of the new day (9 documents), before the cuts (commit 73a118e, the
profile alone) and after (commit 0897be2), run one after the other::

    before: incremental 24.0 s     plan    read   stage   write validate    swap   fixed   total
      order_items                 1.0/0   0.8/4   0.7/7   1.4/6  1.0/11   0.3/4     0.3  5.5/32
      sales_traffic_by_asin       0.5/0   0.6/4   0.5/7   0.8/6  0.6/11   0.3/4     0.2  3.4/32
      fba_inventory               0.3/0   0.5/4   0.4/7   0.7/6  0.5/11   0.4/4     0.2  3.1/32
      sales_daily (build 0.4/6)       -       -   0.2/4   0.3/1  1.9/20   0.3/4     0.4  3.5/35
      orders_daily (build 0.4/6)      -       -   0.2/4   0.2/1  1.5/20   0.2/4     0.3  2.9/35

    after: incremental 16.6 s      plan    read   stage   write validate    swap   fixed   total
      order_items                 1.4/0   0.8/3   0.5/3   0.9/3  1.4/11   0.4/1     0.4  5.8/21
      sales_traffic_by_asin       0.7/0   0.8/3   0.7/3   0.8/3  1.0/11   0.2/1     0.3  4.5/21
      fba_inventory               0.4/0   0.5/3   0.5/3   0.4/3  0.5/11   0.1/1     0.1  2.7/21
      sales_daily (build 0.7/6)       -       -       -   0.5/1  3.0/20   0.3/1     0.8  5.3/28
      orders_daily (build 0.9/6)      -       -       -   0.3/1  2.5/20   0.4/1     0.5  4.6/28

The cuts: a table's three counts became one aggregation that also names the partitions it
touches, so the merge reads those by a partition filter instead of a pass over the batch (stage
7 -> 3 jobs, stage write 6 -> 3); the manifests' facts travel with the reader instead of two
broadcast joins (read 4 -> 3); the partitions written are counted from the staging listing
(swap 4 -> 1); a mart's counts come from one grouped pass (its stage phase is gone); and the
tables, then the marts, run two at a time (``gate.SIDE_BY_SIDE``). Each run's own seconds grow
(they share two cores) while the step's wall time falls: the full runs' both steps 23.5 s ->
20.2 s, the incremental run 24.0 s -> 16.6 s. The JVM's peak grows with two at a time: 1.8 GB
-> 2.5 GB at this size. What stays: a table still runs 20 Spark jobs and a mart 19-28, 11-20
of them the suite's (Great Expectations), and on two cores the JVM's CPU is the limit (it used
31-36 CPU seconds in a 21-23 s run of this size): in a JFR profile of such a run, 64 % of the
JVM's samples are in the threads that serve Python's calls (Catalyst's analysis, optimisation
and planning), 30 % in executor tasks, and 10 % of all in Janino compiling generated code;
little is reading or writing data.

Second round (stop 29, 2026-12-07), the default run at commit 6aa08e0, same quiet 2-core VM,
21 min 1 s in all; four marts now (customer_behavior and product_performance were added after
c3cb4b4, whose figures above had two)::

     days  documents     rows in  floor s floor rows/s   ours s ours rows/s peak MB py peak MB JVM
        1          9       9,918      0.2       63,994     26.6         372        366       2,022
       30        183     303,638      2.6      114,708     58.4       5,204        396       2,330
      365      2,229   4,108,133     29.7      138,278    419.5       9,793        401       2,896

    new day on 365: incremental 26.1 s (9 documents, 9 of 3,294 cleaned and 12 of 2,394 mart
    partitions rewritten), full refresh 424.7 s; every check passed.

What this round cut, measured on the demo's lake (``make demo``'s raw zone curated from scratch
twice in one process, tables then marts two at a time; seconds summed over the 16 tables and 9
marts, warm second pass; 77.1 s wall before, 59.2 s after, the cold first pass 117 s -> 97 s):

- the swap moves the staged files into place (``publish``) instead of Spark reading and writing
  them again: swap 19.5 s -> 0.9 s;
- the gate gets the staged rows from an Observation on the stage write instead of a count
  before the suite: validate 41.7 s -> 33.4 s;
- a mart's rows are repartitioned by its partition columns before the write (one file per
  partition; sales_daily held 352 files for 90 partitions) and its cleaned inputs are read with
  the contract's schema (no footer reads): marts 27.7 s -> 23.6 s;
- staging types its columns in one projection each for renames, casts and local dates, with
  Spark's constraint propagation off (it made one-projection plans blow up): plan 14 s -> 9.5 s;
- the merge reads only the touched partitions' folders (commit 608c4e6, after the run above):
  Spark no longer lists every partition folder of the table first. Measured with
  ``--products 200 --days 365`` at 6aa08e0 and then at 608c4e6, one after the other: the new
  day over 365 days 25.5 s -> 15.1 s, the tables' ``fixed`` 5.3/4.4/3.1 s -> 0.2/0.2/0.1 s
  (order_items/sales_traffic_by_asin/fba_inventory), every check passing in both;
- every table, not only marts, is repartitioned by its partition columns before the stage write
  (one file per partition: at 1,095 partitions most of the write went on creating files).
  Measured with ``--products 200 --days 365`` at 608c4e6 without and with it: raw->cleaned
  161.3 s -> 102.7 s, both steps 232.0 s -> 168.1 s, full refresh 187.3 s -> 134.8 s, the new day
  15.1 s -> 16.7 s (within its run-to-run spread), JVM peak 2,697 MB with it.

- staging keeps a column's raw text only where the quarantine reads it (commit 81c582e: the
  persisted batch is half as wide): at 200 x 365 the tables' read phase 7-11 % shorter and
  raw->cleaned's JVM peak 2,690 -> 2,435 MB; at 2,000 x 365, order_items alone
  (``--datasets orders_by_order_date --marts orders_daily``, 06aae67 then 81c582e): read
  52.6 -> 48.7 s, raw->cleaned 109.6 -> 110.5 s, the same JVM peak (2,716 / 2,728 MB).

What stays at 365 days is not the documents' parsing, as the profile's ``read`` suggests: that
phase builds the persisted, typed batch. Measured on order_items at 2,000 products x 90 days
(220,945 rows, warm): the Python workers read and cut the documents in 1.5 s, ``sources.read``
to a noop sink takes 1.7 s, with ``staging.typed`` 3.2 s, and persisting it 7.4 s. Staging's
reason column (``array_compact`` of the problems: a lambda, evaluated interpreted with all beneath
it) and the cache are the cost; ``concat_ws`` instead is faster but its generated code passes the
JVM's 64 KB and Spark logs an ERROR each run. Then the stage write (38-77 s at 365 days) and the
suites (10-40 s). At one day the suites (9-17 Spark jobs each, 4 actions of Great Expectations'
own) and Spark's planning per query remain the fixed cost.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spapi_sandbox.documents import NoDataError, render_report  # noqa: E402
from spapi_sandbox.reports import ALWAYS_GZIP, GZIP_THRESHOLD  # noqa: E402
from spapi_sandbox.seller import SellerConfig, SimulatedSeller  # noqa: E402
from spapi_toolkit.clock import ManualClock  # noqa: E402
from spapi_toolkit.ingest.jobs import encodings_for  # noqa: E402
from spapi_toolkit.ingest.kinds import iso  # noqa: E402
from spapi_toolkit.ingest.planner import PlannedRequest, plan  # noqa: E402
from spapi_toolkit.lake.checks import document_shape  # noqa: E402
from spapi_toolkit.lake.landing import Manifest, land  # noqa: E402
from spapi_toolkit.lake.layout import is_manifest, raw_prefix, raw_stem  # noqa: E402
from spapi_toolkit.lake.registry import Dataset, dataset  # noqa: E402
from spapi_toolkit.lake.storage import Lake  # noqa: E402
from spapi_toolkit.regions import marketplace  # noqa: E402

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spapi_toolkit.lake.curate.aggregate import MartResult
    from spapi_toolkit.lake.curate.jobs import TableResult

# The datasets landed by default, in the order one marketplace's requests of a day are made: the
# order windows first, so the seller's day cache holds their days when the daily reports need
# them. They feed the tables the marts read, and one daily snapshot.
DATASETS = ("orders_by_order_date", "sales_traffic_by_asin", "fba_inventory")
HISTORY_START = date(2025, 1, 1)  # fixed: nothing here depends on the day the bench runs
SETTLED_AFTER = timedelta(days=5)  # a day is requested this long after, its numbers final
SNAPSHOT_HOUR = 7  # UTC hour a day's snapshot (and a run) is taken
HASH_KEY = b"bench-curate key - not a secret"
CURATED = ("cleaned", "aggregated", "_state", "_staging", "quarantine")  # cleared between sizes
FLOOR = "_bench_floor"  # where the pyarrow baseline writes, inside the lake folder


# --------------------------------------------------------------------------------------------
# The raw zone: what ingestion would land, without HTTP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seller:
    """The simulated seller every size draws from: one history, ``days`` long."""

    products: int
    marketplace_ids: tuple[str, ...]
    days: int  # the largest size plus the new day

    def config(self) -> SellerConfig:
        return SellerConfig(
            products=self.products,
            days=self.days,
            end_date=HISTORY_START + timedelta(days=self.days - 1),
            marketplace_ids=self.marketplace_ids,
        )


@dataclass
class Landed:
    """What one build of raw documents put in the lake."""

    documents: int = 0
    no_data: int = 0  # requests the sandbox answers with no document (nothing sold, ...)
    bytes: int = 0
    seconds: float = 0.0
    keys: list[str] = field(default_factory=list)
    by_table: dict[str, int] = field(default_factory=dict)  # cleaned table -> documents

    def add(self, other: Landed) -> None:
        self.documents += other.documents
        self.no_data += other.no_data
        self.bytes += other.bytes
        self.keys += other.keys
        for name, count in other.by_table.items():
            self.by_table[name] = self.by_table.get(name, 0) + count


@dataclass(frozen=True)
class Scope:
    """What is landed and curated: datasets, the cleaned tables they feed, the marts of those."""

    datasets: tuple[str, ...]
    only_marts: tuple[str, ...] | None = None  # of the marts the tables feed, only these

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(dataset(d).cleaned_table for d in self.datasets))

    @property
    def marts(self) -> tuple[str, ...]:
        from spapi_toolkit.lake.marts import marts

        fed = tuple(m.name for m in marts().values() if m.from_table in self.tables)
        if self.only_marts is None:
            return fed
        unknown = sorted(set(self.only_marts) - set(fed))
        if unknown:
            raise SystemExit(f"--marts: {', '.join(unknown)} not fed by {', '.join(self.tables)}")
        return tuple(m for m in fed if m in self.only_marts)


def run_time(day: date) -> datetime:
    """When the run that requests ``day`` happens: once the day is final."""
    return datetime.combine(day + SETTLED_AFTER, datetime.min.time(), UTC).replace(
        hour=SNAPSHOT_HOUR
    )


def planned(
    datasets: Sequence[Dataset], seller_id: str, market: str, first: date, last: date
) -> list[tuple[PlannedRequest, datetime]]:
    """One marketplace's requests for ``first``..``last``, each with the time it is made.

    Report windows come from the ingestion planner, run when the last day is final; snapshots
    are taken daily, each on its own day. Sorted by day, orders first (see ``DATASETS``).
    """
    ranged = [d for d in datasets if d.window != "snapshot"]
    requests = [
        (r, run_time(last))
        for r in plan(ranged, seller_id, [market], first, last, last + SETTLED_AFTER).requests
    ]
    for d in (d for d in datasets if d.window == "snapshot"):
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            at = datetime.combine(day, datetime.min.time(), UTC).replace(hour=SNAPSHOT_HOUR)
            requests.append((PlannedRequest(d, seller_id, (market,), None, snapshot_date=day), at))
    order = {name: i for i, name in enumerate(DATASETS)}
    return sorted(requests, key=lambda ra: (ra[0].dt, order.get(ra[0].dataset.name, 99)))


def land_request(
    lake: Lake, seller: SimulatedSeller, request: PlannedRequest, at: datetime
) -> Manifest | None:
    """Render ``request``'s document as the sandbox serves it and land it as the report
    ingestor does (``JobIngestor._download_and_land``); None when there is no data."""
    body = request.report_body()
    start, end = request.time_range() or (None, None)
    try:
        content = render_report(
            seller, body["reportType"], body["marketplaceIds"], start, end,
            body.get("reportOptions"), at,
        )  # fmt: skip
    except NoDataError:
        return None
    compressed = len(content) > GZIP_THRESHOLD or body["reportType"] in ALWAYS_GZIP
    if compressed:
        content = gzip.compress(content, mtime=0)  # as the sandbox's DocumentStore.put
    digest = hashlib.sha256(content).hexdigest()
    fmt = request.dataset.format
    fields = {
        "dataset": request.dataset.name,
        "seller_id": request.seller_id,
        "marketplace_ids": list(request.marketplace_ids),
        "request": {k: iso(v) if isinstance(v, datetime) else v for k, v in body.items()},
        "report_id": str(50_000_000_000 + int(digest[:8], 16)),
        "document_id": f"amzn1.spdoc.1.4.na.{digest[:8]}-{digest[8:12]}-bench",
        "declared_compression": "GZIP" if compressed else None,
    }
    stem = raw_stem(request.dataset.name, request.seller_id, request.marketplace_ids[0],
                    request.dt, request.request_id)  # fmt: skip
    return land(
        lake, stem, [content], fmt=fmt, encodings=encodings_for(fmt, request.marketplace_ids),
        manifest_fields=fields, shape=document_shape(request.dataset), now=at,
    )  # fmt: skip


def land_market(
    lake_uri: str, seller: Seller, market: str, first: date, last: date, datasets: Sequence[str]
) -> Landed:
    """Land one marketplace's documents for ``first``..``last`` (one worker's share)."""
    lake = Lake.from_uri(lake_uri)
    simulated = SimulatedSeller(seller.config())
    landed = Landed()
    chosen = [dataset(name) for name in datasets]
    for request, at in planned(chosen, simulated.config.seller_id, market, first, last):
        manifest = land_request(lake, simulated, request, at)
        if manifest is None:
            landed.no_data += 1
            continue
        landed.documents += 1
        landed.bytes += manifest.bytes
        landed.keys.append(manifest.key)
        table = request.dataset.cleaned_table
        landed.by_table[table] = landed.by_table.get(table, 0) + 1
    return landed


def build_raw(
    lake: Lake,
    seller: Seller,
    first: date,
    last: date,
    datasets: Sequence[str] = DATASETS,
    workers: int = 1,
) -> Landed:
    """Land every document of ``first``..``last``, one process per marketplace (up to
    ``workers`` at a time; 1: in this process)."""
    started = time.perf_counter()
    total = Landed()
    jobs = [(lake.location(), seller, m, first, last, tuple(datasets))
            for m in seller.marketplace_ids]  # fmt: skip
    if workers <= 1:
        for job in jobs:
            total.add(land_market(*job))
    else:
        # spawn: a fresh interpreter, never a fork of a process that holds a Spark gateway
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(jobs))) as pool:
            for part in pool.starmap(land_market, jobs):
                total.add(part)
    total.seconds = time.perf_counter() - started
    return total


# --------------------------------------------------------------------------------------------
# Peak memory
# --------------------------------------------------------------------------------------------


def _high_water_mark(pid: int) -> int | None:
    """The process's peak resident set size in bytes (``VmHWM``), None if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_high_water_mark(pid: int) -> bool:
    """Set the process's ``VmHWM`` to its current RSS (Linux 4.0+); False if not possible."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


@dataclass
class Peak:
    """The peak RSS of the Python process and of the JVM during a step (bytes, or None)."""

    python: int | None = None
    jvm: int | None = None


@contextmanager
def peak_memory(jvm_pid: int | None) -> Iterator[Peak]:
    """Measure the peak RSS of this process and the JVM over the ``with`` block."""
    peak = Peak()
    pids = {"python": os.getpid(), "jvm": jvm_pid}
    reset = {name: pid is not None and _reset_high_water_mark(pid) for name, pid in pids.items()}
    yield peak
    for name, pid in pids.items():
        if pid is not None and reset[name]:
            setattr(peak, name, _high_water_mark(pid))


def jvm_pid(spark: SparkSession) -> int | None:
    """The Spark driver JVM's process id (the local master runs the executors in it too)."""
    try:
        return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[union-attr]
    except Exception:  # a remote or unusual gateway: report memory as n/a
        return None


# --------------------------------------------------------------------------------------------
# The floor: pyarrow, documents to Parquet, nothing else
# --------------------------------------------------------------------------------------------


def arrow_floor(lake: Lake, root: Path, datasets: Sequence[str]) -> tuple[int, float]:
    """Read every landed document of ``datasets`` with pyarrow and write it to Parquet as is,
    one file per document; (rows, seconds)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = root / FLOOR
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    rows = 0
    for name in datasets:
        spec = dataset(name)
        array = _rows_array(spec)
        for n, key in enumerate(k for k in lake.list(raw_prefix(name)) if is_manifest(k)):
            manifest = Manifest.from_json(lake.read_bytes(key))
            data = lake.read_bytes(manifest.key)
            if manifest.compression == "gzip":
                data = gzip.decompress(data)
            if spec.format == "tsv":
                encoding = manifest.encoding or "utf-8"
                names = data[: data.index(b"\n")].decode(encoding).split("\t")
                table = pacsv.read_csv(
                    io.BytesIO(data),
                    read_options=pacsv.ReadOptions(encoding=encoding),
                    parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
                    convert_options=pacsv.ConvertOptions(
                        column_types=dict.fromkeys(names, pa.string())
                    ),
                )
            else:
                table = pa.Table.from_pylist(json.loads(data)[array])
            pq.write_table(table, out / f"{name}-{n:06d}.parquet")
            rows += table.num_rows
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return rows, seconds


def _rows_array(spec: Dataset) -> str:
    """The top-level array a JSON report's rows are in (its cleaned table's ``rows``)."""
    from spapi_toolkit.lake.tables import table

    return str(table(spec.cleaned_table).rows or "").split(".")[0]


# --------------------------------------------------------------------------------------------
# Curation runs
# --------------------------------------------------------------------------------------------


@dataclass
class Curation:
    """One raw → cleaned → aggregated run: results, wall seconds and peaks of both steps."""

    tables: list[TableResult]
    marts: list[MartResult]
    clean_seconds: float
    aggregate_seconds: float
    clean_peak: Peak
    aggregate_peak: Peak

    @property
    def rows_in(self) -> int:
        return sum(t.rows_in for t in self.tables)

    @property
    def documents(self) -> int:
        return sum(t.documents for t in self.tables)

    @property
    def seconds(self) -> float:
        return self.clean_seconds + self.aggregate_seconds

    def peaks(self) -> tuple[int | None, int | None]:
        """The higher of the two steps' peaks: (Python, JVM)."""
        steps = (self.clean_peak, self.aggregate_peak)
        python = [p.python for p in steps if p.python is not None]
        jvm = [p.jvm for p in steps if p.jvm is not None]
        return max(python, default=None), max(jvm, default=None)

    def problems(self) -> list[str]:
        """Tables that refused documents or whose counts do not reconcile."""
        out = [f"{t.table}: refused {t.refused}" for t in self.tables if t.refused]
        out += [
            f"{t.table}: rows in {t.rows_in} != out {t.rows_out} + quarantined "
            f"{t.quarantined} + older versions {t.superseded}"
            for t in self.tables
            if not t.reconciles
        ]
        return out


def curate(
    spark: SparkSession, lake: Lake, scope: Scope, at: datetime, *, full_refresh: bool = False
) -> Curation:
    """Run both curation steps over ``scope``'s tables and marts as of ``at``."""
    from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated
    from spapi_toolkit.lake.curate.jobs import raw_to_cleaned
    from spapi_toolkit.lake.quality.gate import SIDE_BY_SIDE

    clock = ManualClock(at)
    pid = jvm_pid(spark)
    with peak_memory(pid) as clean_peak:
        started = time.perf_counter()
        tables = raw_to_cleaned(spark, lake, scope.tables, full_refresh=full_refresh,
                                hash_key=HASH_KEY, clock=clock,
                                concurrent=SIDE_BY_SIDE)  # fmt: skip
        clean_seconds = time.perf_counter() - started
    with peak_memory(pid) as aggregate_peak:
        started = time.perf_counter()
        marts = cleaned_to_aggregated(
            spark, lake, scope.marts, full_refresh=full_refresh, clock=clock,
            concurrent=SIDE_BY_SIDE,
        )  # fmt: skip
        aggregate_seconds = time.perf_counter() - started
    return Curation(tables, marts, clean_seconds, aggregate_seconds, clean_peak, aggregate_peak)


def partition_files(lake: Lake, zone: str, name: str) -> dict[str, tuple[str, ...]]:
    """A table's partitions (``c1=v1/c2=v2``) with the names of their data files."""
    prefix = f"{zone}/{name}/"
    found: dict[str, list[str]] = {}
    for key in lake.list(prefix):
        *folders, file = key[len(prefix) :].split("/")
        if folders and not file.startswith(("_", ".")):
            found.setdefault("/".join(folders), []).append(file)
    return {p: tuple(sorted(files)) for p, files in found.items()}


def rewritten(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> set[str]:
    """Partitions new, gone or with other data files between two listings."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def table_rows(spark: SparkSession, lake: Lake, zone: str, name: str) -> int:
    """Rows of a published table (from the Parquet footers: cheap)."""
    return int(spark.read.parquet(lake.location(f"{zone}/{name}")).count())


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def _mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:,.0f}"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


@dataclass
class SizeFigures:
    """One size's line of the summary."""

    days: int
    raw: Landed
    floor_rows: int
    floor_seconds: float
    floor_peak: Peak
    ours: Curation


def report_size(f: SizeFigures) -> None:
    """Print one size's figures, the floor and ours side by side."""
    ours = f.ours
    print(
        f"\nraw zone: {f.raw.documents} documents ({_per_table(f.raw)}), "
        f"{f.raw.no_data} requests without data, {f.raw.bytes / 1e6:,.0f} MB stored; "
        f"built in {f.raw.seconds:.1f} s (not counted below)"
    )  # fmt: skip
    print(f"{'':44} {'rows in':>11} {'seconds':>8} {'rows/s':>9} {'peak MB py':>10} "
          f"{'peak MB JVM':>11}")  # fmt: skip
    lines = [
        ("floor: pyarrow documents -> Parquet", f.floor_rows, f.floor_seconds, f.floor_peak),
        ("ours: raw -> cleaned", ours.rows_in, ours.clean_seconds, ours.clean_peak),
        ("ours: cleaned -> aggregated (marts)", ours.rows_in, ours.aggregate_seconds,
         ours.aggregate_peak),
    ]  # fmt: skip
    for label, rows, seconds, peak in lines:
        print(f"{label:44} {rows:11,} {seconds:8.1f} {_rate(rows, seconds):>9} "
              f"{_mb(peak.python):>10} {_mb(peak.jvm):>11}")  # fmt: skip
    print(f"{'ours: both steps':44} {ours.rows_in:11,} {ours.seconds:8.1f} "
          f"{_rate(ours.rows_in, ours.seconds):>9}")  # fmt: skip
    print(f"ratio ours (both steps) / floor, rows/s: "
          f"{(ours.rows_in / ours.seconds) / (f.floor_rows / f.floor_seconds):.2f}")  # fmt: skip
    for t in ours.tables:
        print(f"  {t.table:24} {t.documents:6} documents {t.rows_in:11,} rows in "
              f"{t.rows_out:11,} out {t.quarantined:6} quarantined {t.partitions:6} partitions "
              f"{t.seconds:7.1f} s")  # fmt: skip
    for m in ours.marts:
        print(f"  {m.mart:24} {m.changed:6} cleaned partitions -> {m.partitions:6} mart "
              f"partitions {m.rows_out:11,} rows {m.seconds:7.1f} s")  # fmt: skip
    report_profile(ours)


def report_profile(ours: Curation) -> None:
    """Each table's and mart's seconds and Spark jobs per phase (``curate.profile``)."""
    named = [(t.table, t.profile, t.seconds) for t in ours.tables]
    named += [(m.mart, m.profile, m.seconds) for m in ours.marts]
    phases = list(dict.fromkeys(p for _, profile, _ in named for p in profile.seconds))
    phases = [p for p in phases if p != "fixed"] + ["fixed"]
    width = max(len(p) for p in phases) + 1
    print("  profile, seconds/Spark jobs per phase:")
    print(f"  {'':24} " + " ".join(f"{p:>{max(width, 9)}}" for p in phases)
          + f" {'total':>11}")  # fmt: skip
    for name, profile, seconds in named:
        cells = []
        for p in phases:
            if p in profile.seconds:
                cell = f"{profile.seconds[p]:.1f}" + (f"/{profile.jobs[p]}" if p in profile.jobs
                                                      else "")  # fmt: skip
            else:
                cell = "-"
            cells.append(f"{cell:>{max(width, 9)}}")
        print(f"  {name:24} " + " ".join(cells) + f" {f'{seconds:.1f}/{profile.total_jobs}':>11}")


def report_summary(sizes: list[SizeFigures], products: int, markets: str) -> None:
    print(f"\nsummary: {products} products x {markets}, full runs")
    print(f"{'days':>5} {'documents':>10} {'rows in':>11} {'floor s':>8} {'floor rows/s':>12} "
          f"{'ours s':>8} {'ours rows/s':>11} {'peak MB py':>10} {'peak MB JVM':>11}")  # fmt: skip
    for f in sizes:
        o = f.ours
        py, jvm = o.peaks()
        print(f"{f.days:5} {f.raw.documents:10,} {o.rows_in:11,} {f.floor_seconds:8.1f} "
              f"{_rate(f.floor_rows, f.floor_seconds):>12} {o.seconds:8.1f} "
              f"{_rate(o.rows_in, o.seconds):>11} {_mb(py):>10} {_mb(jvm):>11}")  # fmt: skip


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def clear_curated(root: Path) -> None:
    """Remove what curation wrote, so a size is curated from its raw zone alone."""
    for folder in CURATED:
        shutil.rmtree(root / folder, ignore_errors=True)


def new_day_check(
    spark: SparkSession,
    lake: Lake,
    seller: Seller,
    scope: Scope,
    day: date,
    workers: int,
) -> list[str]:
    """Land ``day`` on top of the lake, curate it incrementally and by full refresh, print both
    side by side; the failed checks (empty: all passed)."""
    markets = seller.marketplace_ids
    zones = [("cleaned", t) for t in scope.tables] + [("aggregated", m) for m in scope.marts]
    before = {z: partition_files(lake, *z) for z in zones}
    landed = build_raw(lake, seller, day, day, scope.datasets, workers)
    print(f"\none new day ({day}) landed on top: {landed.documents} documents "
          f"({_per_table(landed)}) "
          f"in {landed.seconds:.1f} s")  # fmt: skip

    incremental = curate(spark, lake, scope, run_time(day))
    after = {z: partition_files(lake, *z) for z in zones}
    rows_after_incremental = {z: table_rows(spark, lake, *z) for z in zones}
    full = curate(spark, lake, scope, run_time(day) + timedelta(hours=1), full_refresh=True)
    after_full = {z: partition_files(lake, *z) for z in zones}
    rows_after_full = {z: table_rows(spark, lake, *z) for z in zones}

    new_keys = set(landed.keys)
    failed = incremental.problems() + full.problems()
    print(f"{'':28} {'documents read':>14} {'cleaned partitions':>19} {'mart partitions':>16} "
          f"{'seconds':>8} {'peak MB py':>10} {'peak MB JVM':>11}")  # fmt: skip
    for label, result, listing in (
        ("incremental", incremental, after),
        ("full refresh", full, after_full),
    ):
        base = before if result is incremental else after
        cleaned = sum(len(rewritten(base[z], listing[z])) for z in zones if z[0] == "cleaned")
        marts = sum(len(rewritten(base[z], listing[z])) for z in zones if z[0] == "aggregated")
        total_cleaned = sum(len(listing[z]) for z in zones if z[0] == "cleaned")
        total_marts = sum(len(listing[z]) for z in zones if z[0] == "aggregated")
        py, jvm = result.peaks()
        print(f"{label:28} {result.documents:14,} {f'{cleaned:,} of {total_cleaned:,}':>19} "
              f"{f'{marts:,} of {total_marts:,}':>16} {result.seconds:8.1f} {_mb(py):>10} "
              f"{_mb(jvm):>11}")  # fmt: skip
    print(f"incremental / full refresh, seconds: {incremental.seconds / full.seconds:.3f}")

    for t in incremental.tables:
        wanted = landed.by_table.get(t.table, 0)
        print(f"  incremental {t.table:22} read {t.documents} documents (new: {wanted}), "
              f"published {t.partitions} partitions, {t.seconds:.1f} s")  # fmt: skip
        if t.documents != wanted:
            failed.append(f"{t.table}: the incremental run read {t.documents} documents, "
                          f"{wanted} were new")  # fmt: skip
    for m in incremental.marts:
        print(f"  incremental {m.mart:22} {m.changed} changed cleaned partitions, "
              f"{m.partitions} mart partitions written, {m.seconds:.1f} s")  # fmt: skip
    print("incremental run:")
    report_profile(incremental)
    read_state = _curated_keys(lake, scope)
    if not new_keys <= read_state:
        failed.append(f"{len(new_keys - read_state)} new documents are not in the jobs' state")
    for zone in zones:
        changed = rewritten(before[zone], after[zone])
        new = day_partitions(zone, markets, day) & after[zone].keys()
        if not new or changed != new:
            failed.append(f"{zone[0]}/{zone[1]}: the incremental run rewrote {sorted(changed)}; "
                          f"only the new day's partitions (its period's) may change")  # fmt: skip
        if rows_after_incremental[zone] != rows_after_full[zone]:
            failed.append(f"{zone[0]}/{zone[1]}: {rows_after_incremental[zone]:,} rows after "
                          f"the incremental run, {rows_after_full[zone]:,} after the full "
                          "refresh")  # fmt: skip
    print("checks: " + ("incremental read only the new documents, rewrote only the new day's "
                        "partitions, and left the same rows as the full refresh"
                        if not failed else "FAILED"))  # fmt: skip
    for line in failed:
        print(f"  FAILED: {line}")
    return failed


def day_partitions(zone: tuple[str, str], markets: Sequence[str], day: date) -> set[str]:
    """The partitions that hold one day of a cleaned table or mart: one per marketplace (for a
    weekly or monthly mart, the partition of the period the day falls in)."""
    from spapi_toolkit.lake.curate.aggregate import period_start
    from spapi_toolkit.lake.marts import mart
    from spapi_toolkit.lake.tables import table

    kind, name = zone
    contract = mart(name) if kind == "aggregated" else table(name)
    market_column, day_column = contract.partition_by
    first = period_start(day, contract.period) if kind == "aggregated" else day
    return {f"{market_column}={m}/{day_column}={first}" for m in markets}


def _per_table(landed: Landed) -> str:
    return ", ".join(f"{t} {n}" for t, n in sorted(landed.by_table.items()))


def _curated_keys(lake: Lake, scope: Scope) -> set[str]:
    """Every raw key the cleaned jobs' state says was curated."""
    keys: set[str] = set()
    for name in scope.tables:
        payload = json.loads(lake.read_bytes(f"_state/curate/{name}.json"))
        keys.update(payload["documents"])
    return keys


def warm_up(spark: SparkSession, lake_dir: Path, scope: Scope) -> float:
    """Curate a toy lake (20 products, one day, US) once, not counted: a fresh JVM's first
    curation pays class loading and JIT compilation, which would land on the smallest size."""
    started = time.perf_counter()
    root = lake_dir / "warm-up"
    lake = Lake.from_uri(str(root))
    build_raw(lake, Seller(20, (marketplace("US").marketplace_id,), 1), HISTORY_START,
              HISTORY_START, scope.datasets)  # fmt: skip
    curate(spark, lake, scope, run_time(HISTORY_START))
    shutil.rmtree(root, ignore_errors=True)
    return time.perf_counter() - started


def run(
    products: int,
    markets: Sequence[str],
    sizes: Sequence[int],
    lake_dir: Path,
    spark: SparkSession | None = None,
    workers: int = 1,
    datasets: Sequence[str] = DATASETS,
    warm: bool = False,
    marts: Sequence[str] | None = None,
) -> int:
    """The benchmark (see the module doc); 0 when every check passed, 1 otherwise."""
    marketplace_ids = tuple(marketplace(m).marketplace_id for m in markets)
    sizes = sorted(set(sizes))
    seller = Seller(products, marketplace_ids, max(sizes) + 1)
    scope = Scope(tuple(datasets), None if marts is None else tuple(marts))
    print(f"seller: {products} products in {', '.join(markets)}; history from {HISTORY_START}; "
          f"datasets {', '.join(scope.datasets)} -> tables {', '.join(scope.tables)} -> marts "
          f"{', '.join(scope.marts)}; lake {lake_dir}")  # fmt: skip
    own_session = spark is None
    if spark is None:
        from spapi_toolkit.lake.curate.session import spark_session

        # The JVM's own flags, as every figure above was measured: one session curates for
        # minutes, where C2 pays for itself (session.JVM_OPTIONS).
        spark = spark_session("spapi-bench-curate", jvm_options=())
        spark.sparkContext.setLogLevel("ERROR")
    failed: list[str] = []
    figures = []
    try:
        if warm:
            print(f"warm-up (a toy lake, not counted): {warm_up(spark, lake_dir, scope):.1f} s")
        for days in sizes:
            root = lake_dir / f"days-{days}"
            shutil.rmtree(root, ignore_errors=True)
            lake = Lake.from_uri(str(root))
            print(f"\n=== {products} products x {len(markets)} marketplaces x {days} days ===",
                  flush=True)  # fmt: skip
            last = HISTORY_START + timedelta(days=days - 1)
            raw = build_raw(lake, seller, HISTORY_START, last, scope.datasets, workers)
            with peak_memory(None) as floor_peak:
                floor_rows, floor_seconds = arrow_floor(lake, root, scope.datasets)
            clear_curated(root)
            ours = curate(spark, lake, scope, run_time(last))
            failed += ours.problems()
            if floor_rows != ours.rows_in:
                failed.append(f"{days} days: the floor read {floor_rows} rows, ours {ours.rows_in}")
            figures.append(SizeFigures(days, raw, floor_rows, floor_seconds, floor_peak, ours))
            report_size(figures[-1])
            if days == sizes[-1]:
                report_summary(figures, products, "/".join(markets))
                failed += new_day_check(
                    spark, lake, seller, scope, last + timedelta(days=1), workers
                )
    finally:
        if own_session:
            spark.stop()
    print("\nresult: " + ("all checks passed" if not failed else f"{len(failed)} checks FAILED"))
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--products", type=int, default=2000, help="child ASINs (2000)")
    parser.add_argument("--marketplaces", default="US,DE,JP", help="country codes (US,DE,JP)")
    parser.add_argument("--days", default="1,30,365", help="history sizes in days (1,30,365)")
    parser.add_argument("--lake-dir", type=Path, help="where the lakes go (a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the lakes afterwards")
    parser.add_argument("--workers", type=int, default=min(3, os.cpu_count() or 1),
                        help="processes landing the raw zone, one per marketplace")  # fmt: skip
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"datasets to land and curate ({','.join(DATASETS)})")  # fmt: skip
    parser.add_argument("--marts", help="only these of the marts the tables feed (all)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="measure on a cold JVM: no toy run first")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 20 products, 1 and 2 days")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.products, args.days = 20, "1,2"
    sizes = [int(d) for d in args.days.split(",") if d.strip()]
    markets = [m.strip() for m in args.marketplaces.split(",") if m.strip()]
    lake_dir = args.lake_dir or Path(tempfile.mkdtemp(prefix="spapi-bench-curate-"))
    try:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        warm = spark is None and not args.no_warm_up
        marts = [m.strip() for m in args.marts.split(",") if m.strip()] if args.marts else None
        return run(args.products, markets, sizes, lake_dir, spark, args.workers, datasets, warm,
                   marts)  # fmt: skip
    finally:
        if not args.keep and args.lake_dir is None:
            shutil.rmtree(lake_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
