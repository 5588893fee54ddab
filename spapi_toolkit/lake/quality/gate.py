"""Running a suite on a batch: one Great Expectations run, failures attributed to partitions.

``Validator`` holds one GX file context in a temporary folder for a whole job run (created on
first use, so a run that validates nothing never imports GX). ``validate`` runs a table's suite
once on a Spark DataFrame (GX's Spark datasource with ``persist=False``: GX would otherwise
cache the frame; no ``spark_config``, which can restart the session) with ``BOOLEAN_ONLY``
results, the cheapest: GX then computes its metrics in bundled aggregations and collects no
unexpected rows. Only when expectations fail does one more Spark aggregation run: each failed
expectation's condition, evaluated per partition, gives which partitions hold failing rows and
how many. A failure no row can be blamed for (a missing column, a wrong type, an expectation
that raised) blocks every partition of the batch.

Each validation writes, through the ``Lake`` (local or S3):

- ``_quality/results/<zone>/<table>/<run_id>.json``: GX's full validation result;
- ``_quality/latest/<zone>/<table>.json``: the compact latest result (``Outcome.latest``):
  table, zone, run id, time (the injected clock), success, expectations evaluated, rows, blocked
  partitions and the failed expectations with their rule, description, columns and counts.

``gated_run`` runs a job's tables (or marts) with one ``Validator``, side by side on one Spark
session when asked (``concurrent``; one at a time by default): GX's context is changed under a
lock, and each thread validates through a Spark datasource of its own.

``publish_docs`` builds GX's Data Docs of the run's validations in the temporary folder (GX
cannot write to S3 itself) and copies them under ``_quality/docs/`` with the CSS, scripts and
fonts they load, so they open with no network (``docs``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.marts import Mart
from spapi_toolkit.lake.quality.docs import offline_site
from spapi_toolkit.lake.quality.suites import IN_WINDOW, TOTALS, Check, Spec, build
from spapi_toolkit.lake.storage import Lake

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

QUALITY = "_quality"
LATEST = f"{QUALITY}/latest"
RESULTS = f"{QUALITY}/results"
DOCS = f"{QUALITY}/docs"
WHOLE_BATCH = "*"  # the partition a table-wide failure is reported under
# Tables (or marts) curated side by side on one Spark session. Much of a small table's time is
# the latency of its Spark jobs and the driver's planning between them, which overlap; a large
# table's tasks share the cores with the others' (Spark schedules jobs of several threads).
# Measured on two cores (bench_curate's tables and marts, 20 products): one at a time 21 s,
# two 16.5 s, four 16.5 s with 200 MB more of the JVM's heap held after a full GC. A library
# call runs one at a time unless asked (the test suite's one long-lived session stays as it
# was); ``spapi curate``, the demo, the Glue jobs and bench_curate ask for ``SIDE_BY_SIDE``.

CONCURRENT = 1
SIDE_BY_SIDE = 2
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Failure:
    """One failed expectation: what it checks and where it failed."""

    expectation: str  # GX's expectation type
    rule: str  # suites' meta.rule: columns, type, not_null, unique_key, allowed, range, ...
    description: str
    columns: list[str]
    unexpected: int | None = None  # failing rows; None when no row can be blamed
    partitions: dict[str, int] = field(default_factory=dict)  # partition path -> failing rows
    error: str | None = None  # what GX raised, if it did

    def line(self, table: str) -> str:
        """One line for a person: table, expectation, description, counts per partition."""
        where = ", ".join(f"{p}: {n} row(s)" for p, n in sorted(self.partitions.items()))
        counts = f"{self.unexpected} row(s) in {where}" if self.partitions else "the whole batch"
        extra = f" ({self.error})" if self.error else ""
        return f"{table}: {self.expectation} failed — {self.description}: {counts}{extra}"


class Gated:
    """What a table's or a mart's run says of its suite (mixed into ``TableResult`` and
    ``MartResult``, which hold ``blocked`` and ``failures`` and name themselves)."""

    blocked: list[str]
    failures: list[Failure]

    @property
    def qualified_name(self) -> str:  # "cleaned.order_items", "aggregated.sales_daily"
        raise NotImplementedError

    @property
    def passed(self) -> bool:
        """The suite passed (or nothing was validated)."""
        return not self.failures

    def failure_lines(self) -> list[str]:
        """What failed, for a person: the blocked partitions, then each failed expectation."""
        if not self.failures:
            return []
        name = self.qualified_name
        head = f"{name}: blocked {len(self.blocked)} partition(s): " + ", ".join(self.blocked)
        return [head, *(f.line(name) for f in self.failures)]


@dataclass
class Outcome:
    """One suite run on one batch."""

    zone: str
    table: str
    run_id: str
    at: str  # ISO time from the injected clock
    success: bool
    evaluated: int
    rows: int
    failures: list[Failure] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # partition paths held back
    blocked_values: list[tuple[Any, ...]] = field(default_factory=list)  # the same, as values
    results_key: str | None = None
    seconds: float = 0.0  # the GX run and, on failure, the attribution

    def latest(self) -> dict[str, Any]:
        """The compact latest-result document (module doc)."""
        payload = asdict(self)
        payload.pop("blocked_values")
        payload["failed"] = len(self.failures)
        return payload

    def lines(self) -> list[str]:
        return [f.line(f"{self.zone}.{self.table}") for f in self.failures]


def partition_path(partition_by: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """``c1=v1/c2=v2`` as Spark names the folders (dates ISO)."""
    return "/".join(f"{c}={_text(v)}" for c, v in zip(partition_by, values, strict=True))


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def with_windows(
    spark: SparkSession, frame: DataFrame, spec: Spec, windows: dict[str, tuple[str, str]]
) -> DataFrame:
    """``frame`` with ``spec``'s ``in_window`` columns: per date column, whether it lies inside
    the request window of the row's document (``windows``: raw key -> first and last day);
    null for a null date or a document not in ``windows``, which the check then skips."""
    from pyspark.sql import functions as F

    start, end = "_window_start", "_window_end"
    known = spark.createDataFrame(
        [(key, date.fromisoformat(a), date.fromisoformat(b)) for key, (a, b) in windows.items()],
        f"raw_key string, {start} date, {end} date",
    )
    framed = frame.join(F.broadcast(known), on="raw_key", how="left")
    for column in spec.window_columns():
        framed = framed.withColumn(
            f"{IN_WINDOW}{column}", F.col(column).between(F.col(start), F.col(end))
        )
    return framed.drop(start, end)


def with_totals(
    frame: DataFrame, spec: Spec, source: DataFrame, totals: dict[str, str], names: dict[str, str]
) -> DataFrame:
    """``frame`` (a mart's rows) with, per ``totals`` column, whether its sum over the row's
    partition equals the cleaned source's sum over the same partition (``source``: the cleaned
    rows of the same partitions; ``names``: the source's partition columns -> the mart's);
    null where both sums are null. The sums are compared once per partition on the driver's
    side of a small join (one row per partition), so GX's pass over the frame recomputes
    neither, nor reads the cleaned rows again."""
    from pyspark.sql import functions as F

    if not totals:
        return frame
    partition = list(spec.partition_by)
    mine_sums = frame.groupBy(*partition).agg(
        *(F.sum(mine).alias(f"_mine_{mine}") for mine in totals)
    )
    renamed = source.select(
        *(F.col(c).alias(m) for c, m in names.items()),
        *(F.col(theirs).alias(f"_theirs_{mine}") for mine, theirs in totals.items()),
    )
    their_sums = renamed.groupBy(*partition).agg(
        *(F.sum(f"_theirs_{mine}").alias(f"_theirs_{mine}") for mine in totals)
    )
    both = mine_sums.join(their_sums, on=partition, how="left")
    flags = []
    for mine in totals:  # compared as the same type: a mart may store a sum cast otherwise
        ours = F.col(f"_mine_{mine}")
        theirs = F.col(f"_theirs_{mine}").cast(dict(both.dtypes)[f"_mine_{mine}"])
        agree = F.when(ours.isNull() & theirs.isNull(), F.lit(None)).otherwise(
            ours.eqNullSafe(theirs)
        )
        flags.append(agree.alias(f"{TOTALS}{mine}"))
    compared = both.select(*partition, *flags)
    local = frame.sparkSession.createDataFrame(compared.collect(), compared.schema)
    return frame.join(F.broadcast(local), on=partition, how="left")


def with_mart_totals(
    frame: DataFrame, spec: Spec, mart: Mart, cleaned: Mapping[str, DataFrame]
) -> DataFrame:
    """``frame`` (``mart``'s rows) with its ``totals`` columns (``with_totals``), each partition
    compared with the cleaned rows it was built from (``mart_source_rows`` of ``cleaned``, the
    rows of the mart's ``sources`` by table name): the job's gate and ``spapi quality`` alike."""
    same = {name: name for name in mart.partition_by}
    return with_totals(frame, spec, mart_source_rows(mart, cleaned), dict(mart.totals), same)


def mart_source_rows(mart: Mart, cleaned: Mapping[str, DataFrame]) -> DataFrame:
    """The cleaned rows each partition of ``mart`` is built from, under the mart's partition
    column names: ``from_table``'s, and for a seller's day it does not hold, those of the first
    ``or_from`` table that does (the seller and the totals' columns only). A source missing from
    ``cleaned`` (not published) holds no day."""
    from pyspark.sql import functions as F

    chosen: DataFrame | None = None
    wanted = sorted({theirs for _, theirs in mart.totals})
    for name in (n for n in mart.sources if n in cleaned):
        renamed = cleaned[name].select(
            "seller_id",
            *(F.col(c).alias(m) for c, m in mart.source_partition(name).items()),
            *wanted,
        )
        if chosen is None:
            chosen = renamed
            continue
        held = chosen.select("seller_id", *mart.partition_by).distinct()
        extra = renamed.join(held, on=["seller_id", *mart.partition_by], how="left_anti")
        chosen = chosen.unionByName(extra)
    if chosen is None:
        raise ValueError(f"mart {mart.name}: none of its sources {list(mart.sources)} was given")
    return chosen


def failing(check: Check) -> SparkColumn | None:
    """The condition a row fails ``check`` by, as GX evaluates it; None for table-wide checks."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    k = check.kwargs
    if check.type == "expect_column_values_to_not_be_null":
        return F.col(k["column"]).isNull()
    if check.type == "expect_column_values_to_be_in_set":
        return F.col(k["column"]).isNotNull() & ~F.col(k["column"]).isin(k["value_set"])
    if check.type == "expect_column_values_to_be_between":
        value, outside = F.col(k["column"]), F.lit(False)
        if "min_value" in k:
            outside = outside | (value < F.lit(k["min_value"]))
        if "max_value" in k:
            outside = outside | (value > F.lit(k["max_value"]))
        return value.isNotNull() & outside
    if check.type == "expect_compound_columns_to_be_unique":
        columns = k["column_list"]
        return F.count(F.lit(1)).over(Window.partitionBy(*columns)) > 1
    return None


class Validator:
    """The suites' runs of one job run (module doc); ``close`` removes its temporary folder."""

    def __init__(self, lake: Lake, run_id: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.lake = lake
        self.run_id = run_id
        self.clock = clock
        self._folder: str | None = None
        self._context: Any = None
        self._suites: set[str] = set()  # in the context (listing them would parse every one)
        self._warming: threading.Thread | None = None
        # Tables validate from several threads: the GX context's stores and config are changed
        # under this lock, and each thread's batches go through a Spark datasource (and so an
        # execution engine, which holds the batches it validates) of its own, fetched anew for
        # each validation as before threads, so no engine outlives its validation.
        self._lock = threading.Lock()
        self._sources: dict[str, str] = {}  # thread name -> the name of its GX Spark datasource
        self._validations = 0
        self.outcomes: list[Outcome] = []

    def warm(self) -> None:
        """Start importing Great Expectations in the background (it takes seconds), for a job
        that knows it will validate, while Spark reads and stages its first batch. A run that
        validates nothing never calls this and never imports GX."""
        if self._warming is None and "great_expectations" not in sys.modules:
            self._warming = threading.Thread(target=_import_gx, name="gx-import", daemon=True)
            self._warming.start()

    def _gx(self) -> Any:
        if self._context is None:
            _import_gx()  # waits for warm()'s import, if one is under way
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self._folder = tempfile.mkdtemp(prefix="spapi-gx-")
            self._context = gx.get_context(mode="file", project_root_dir=self._folder)
            # GX's progress bars would fill a job's log and the CLI's output.
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
            # Nor a footer of links to GX's tutorials in the Data Docs.
            sites = self._context.variables.data_docs_sites
            for site in sites.values():
                site["show_how_to_buttons"] = False
            self._context.variables.data_docs_sites = sites
            self._context.variables.save()
        return self._context

    def validate(self, frame: DataFrame, spec: Spec, rows: int | None = None) -> Outcome:
        """Run ``spec`` once on ``frame`` (with any ``_check_*`` columns its rules need),
        attribute the failures to partitions, and store the results (module doc). ``rows``:
        the frame's rows when the caller counted them already (else one more pass counts)."""
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier

        with self._lock:
            context = self._gx()
            if spec.name in self._suites:  # validated before in this run: built anew
                context.suites.delete(spec.name)
            suite = context.suites.add(build(spec))
            self._suites.add(spec.name)
            thread = threading.current_thread().name
            if thread not in self._sources:
                self._sources[thread] = f"spark.{len(self._sources)}"
                context.data_sources.add_spark(name=self._sources[thread], persist=False)
            self._validations += 1
            asset = context.data_sources.get(self._sources[thread]).add_dataframe_asset(
                name=f"{spec.name}.{self._validations}"
            )
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=asset.name,
                    data=asset.add_batch_definition_whole_dataframe("batch"),
                    suite=suite,
                )
            )
        now = self.clock.now()
        started = time.perf_counter()
        result = definition.run(
            batch_parameters={"dataframe": frame},
            result_format="BOOLEAN_ONLY",
            run_id=RunIdentifier(run_name=self.run_id, run_time=now),
        )
        checks = dict(zip((e.id for e in suite.expectations), spec.checks, strict=True))
        failed: list[tuple[Check, str | None]] = []
        for item in result.results:
            if not item.success:
                info = item.exception_info or {}
                error = info.get("exception_message") if info.get("raised_exception") else None
                failed.append((checks[item.expectation_config.id], error))
        outcome = Outcome(
            zone=spec.zone,
            table=spec.table,
            run_id=self.run_id,
            at=now.isoformat(),
            success=bool(result.success),
            evaluated=len(result.results),
            rows=frame.count() if rows is None else rows,
        )
        if failed:
            self._attribute(frame, spec, failed, outcome)
        outcome.seconds = round(time.perf_counter() - started, 2)
        outcome.results_key = f"{RESULTS}/{spec.zone}/{spec.table}/{self.run_id}.json"
        full = json.dumps(result.to_json_dict(), indent=1, sort_keys=True, default=str)
        self.lake.write_bytes(outcome.results_key, full.encode("utf-8"))
        latest = json.dumps(outcome.latest(), indent=1, sort_keys=True) + "\n"
        self.lake.write_bytes(f"{LATEST}/{spec.zone}/{spec.table}.json", latest.encode("utf-8"))
        self.outcomes.append(outcome)
        return outcome

    def _attribute(
        self,
        frame: DataFrame,
        spec: Spec,
        failed: list[tuple[Check, str | None]],
        outcome: Outcome,
    ) -> None:
        """Fill ``outcome``'s failures and blocked partitions: one aggregation of the failed
        checks' conditions per partition; every partition when one cannot be attributed."""
        from pyspark.sql import functions as F

        partition = list(spec.partition_by)
        conditions = [
            (check, error, failing(check) if error is None else None) for check, error in failed
        ]
        rowwise = [(i, c) for i, (_, _, c) in enumerate(conditions) if c is not None]
        counts: dict[tuple[Any, ...], dict[int, int]] = {}
        all_partitions: list[tuple[Any, ...]] = []
        flags = [F.coalesce(c, F.lit(False)).cast("int").alias(f"_f{i}") for i, c in rowwise]
        grouped = frame.select(*partition, *flags).groupBy(*partition)
        sums = [F.sum(f"_f{i}").alias(f"_f{i}") for i, _ in rowwise]
        for row in grouped.agg(*sums).collect() if sums else grouped.count().collect():
            values = tuple(row[c] for c in partition)
            all_partitions.append(values)
            for i, _ in rowwise:
                if row[f"_f{i}"]:
                    counts.setdefault(values, {})[i] = row[f"_f{i}"]
        whole = False
        for i, (check, error, condition) in enumerate(conditions):
            failure = Failure(
                check.type, check.rule, check.description, list(check.columns), error=error
            )
            if condition is None:
                whole = True
            else:
                failure.partitions = {
                    partition_path(spec.partition_by, v): n[i] for v, n in counts.items() if i in n
                }
                failure.unexpected = sum(failure.partitions.values())
                whole = whole or not failure.partitions  # GX saw what the condition did not
            outcome.failures.append(failure)
        blocked = all_partitions if whole else list(counts)
        outcome.blocked_values = sorted(blocked, key=lambda v: tuple(map(_text, v)))
        outcome.blocked = [partition_path(spec.partition_by, v) for v in outcome.blocked_values]

    def publish_docs(self) -> str | None:
        """Build the Data Docs of this run's validations and copy them under ``_quality/docs/``
        in the lake, made to open with no network (``docs.offline_site``); the key of their
        index (None when nothing was validated)."""
        if self._context is None or self._folder is None:
            return None
        self._context.build_data_docs()
        site = Path(self._folder) / "gx" / "uncommitted" / "data_docs" / "local_site"
        for key, data in offline_site(site):
            self.lake.write_bytes(f"{DOCS}/{key}", data)
        return f"{DOCS}/index.html"

    def close(self) -> None:
        if self._warming is not None:  # never leave an import half done at exit
            self._warming.join()
            self._warming = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder, self._context = None, None
        self._suites.clear()
        self._sources.clear()


def _import_gx() -> None:
    # No usage statistics leave the machine (a Glue job may have no internet at all).
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations  # noqa: F401


def new_run_id(clock: Clock) -> str:
    """A run's id: its time (the injected clock's) and a random suffix."""
    return f"{clock.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def gated_run(
    lake: Lake,
    clock: Clock,
    items: Iterable[T],
    step: Callable[[T, Validator], R],
    progress: Callable[[R], None] | None = None,
    concurrent: int | None = None,
) -> list[R]:
    """``step`` on each of ``items`` (tables, marts, which must not depend on each other),
    up to ``concurrent`` at a time (default ``CONCURRENT``), with one ``Validator`` for the
    whole run; the results in ``items``' order. ``progress`` hears each result as it comes, in
    this thread. The run's Data Docs are copied into the lake at the end, and the validator's
    temporary folder removed whatever happens. When a step raises, no further step starts,
    the running ones finish, and the first error is raised."""
    chosen = list(items)
    validator = Validator(lake, new_run_id(clock), clock)
    try:
        at_once = CONCURRENT if concurrent is None else concurrent
        results = _each(chosen, lambda item: step(item, validator), progress, at_once)
        validator.publish_docs()
    finally:
        validator.close()
    return results


def _each(
    items: list[T], step: Callable[[T], R], progress: Callable[[R], None] | None, concurrent: int
) -> list[R]:
    """``step`` on each item, up to ``concurrent`` threads at a time (see ``gated_run``)."""
    if concurrent <= 1 or len(items) <= 1:
        results = []
        for item in items:
            results.append(step(item))
            if progress is not None:
                progress(results[-1])
        return results
    done: dict[int, R] = {}
    with ThreadPoolExecutor(min(concurrent, len(items)), thread_name_prefix="curate") as pool:
        pending: dict[Future[R], int] = {pool.submit(step, item): i for i, item in enumerate(items)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    wait(pending)
                    raise future.exception()  # type: ignore[misc]
                done[index] = future.result()
                if progress is not None:
                    progress(done[index])
    return [done[i] for i in range(len(items))]


def read_latest(lake: Lake, zone: str, table: str) -> dict[str, Any] | None:
    """The latest result of ``zone``/``table`` (``Outcome.latest``), or None before any run."""
    from spapi_toolkit.lake.storage import ObjectNotFound

    try:
        payload: dict[str, Any] = json.loads(lake.read_bytes(f"{LATEST}/{zone}/{table}.json"))
    except ObjectNotFound:
        return None
    return payload
