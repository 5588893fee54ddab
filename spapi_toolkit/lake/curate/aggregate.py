"""The cleaned → aggregated job: each mart rebuilt where its cleaned table changed, and only there.

The incremental rule. A mart is built from one cleaned table, and the contract maps that table's
partitions one to one onto the mart's (``order_items``' marketplace_id/purchase_date is
``orders_daily``'s marketplace_id/date), so every mart partition depends on exactly one cleaned
partition and can be rebuilt from it alone. A cleaned partition is identified by the names of
its data files: Spark names every file it writes with a fresh id, and publishing a cleaned
partition rewrites all of its files, so the names change exactly when its rows may have. What a
mart was last built from (cleaned partition -> its file names) is kept in
``_state/aggregate/<mart>.json``. A run lists the cleaned table's files, and:

- rebuilds the mart partitions whose cleaned partition is new or has other file names than
  recorded, reading only those cleaned partitions, and publishes them through ``publish``'s
  staging folder with a dynamic partition overwrite (whole partitions replaced, nothing merged);
- deletes the mart partitions whose cleaned partition is gone;
- leaves the rest untouched: a rerun with nothing changed reads no data and writes nothing.

The state is written only after the mart is published, so a crash leaves the previous state and
the next run rebuilds the same partitions again (a rebuild is idempotent). ``full_refresh``
forgets the state and rewrites the whole mart. This needs no timestamps (no clock skew between
jobs, no reliance on the cleaned job's state format) and costs one listing of the cleaned table.
One run at a time per mart, as for the cleaned tables.

Quality gate: the rebuilt partitions are validated against the mart's suite before the swap,
with the contract's ``totals`` compared with the cleaned partitions they were built from. A
partition that fails is not published and its cleaned partition is not recorded in the state,
so the next run rebuilds it again; the result lists it with the failed expectations.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.curate import publish as publishing
from spapi_toolkit.lake.marts import ZONE, Mart, mart, marts
from spapi_toolkit.lake.quality import suites
from spapi_toolkit.lake.quality.gate import Failure, Outcome, Validator, with_totals
from spapi_toolkit.lake.storage import Lake, ObjectNotFound
from spapi_toolkit.lake.tables import STORED_TYPES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STATE = "_state/aggregate"

Partitions = dict[str, list[str]]  # cleaned partition path (c1=v1/c2=v2) -> its data file names


@dataclass
class MartResult:
    """What one mart's run did."""

    mart: str
    changed: int = 0  # cleaned partitions new or rewritten since the mart's last build
    removed: int = 0  # cleaned partitions gone: their mart partitions deleted
    rows_out: int = 0
    partitions: int = 0  # mart partitions written
    seconds: float = 0.0
    blocked: list[str] = field(default_factory=list)  # mart partitions the suite held back
    failures: list[Failure] = field(default_factory=list)  # the suite's failed expectations

    @property
    def passed(self) -> bool:
        """The suite passed (or nothing was validated)."""
        return not self.failures

    def failure_lines(self) -> list[str]:
        """What failed, for a person: the blocked partitions, then each failed expectation."""
        if not self.failures:
            return []
        head = f"aggregated.{self.mart}: blocked {len(self.blocked)} partition(s): " + ", ".join(
            self.blocked
        )
        return [head, *(f.line(f"aggregated.{self.mart}") for f in self.failures)]


def cleaned_to_aggregated(
    spark: SparkSession,
    lake: Lake,
    names: Sequence[str] | None = None,
    *,
    full_refresh: bool = False,
    progress: Callable[[MartResult], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[MartResult]:
    """Bring the marts ``names`` (default: every mart) up to date with the cleaned zone (see the
    module doc), each rebuild gated by its suite; ``progress`` hears each mart's result as it
    finishes. The run's Data Docs are copied into the lake at the end."""
    from spapi_toolkit.lake.curate.jobs import new_run_id

    chosen = list(marts().values()) if names is None else [mart(name) for name in names]
    results = []
    validator = Validator(lake, new_run_id(clock), clock)
    try:
        for contract in chosen:
            result = aggregate_mart(
                spark, lake, contract, full_refresh=full_refresh, clock=clock, validator=validator
            )
            results.append(result)
            if progress is not None:
                progress(result)
        validator.publish_docs()
    finally:
        validator.close()
    return results


def aggregate_mart(
    spark: SparkSession,
    lake: Lake,
    contract: Mart,
    *,
    full_refresh: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    validator: Validator | None = None,
) -> MartResult:
    """One mart: its changed partitions rebuilt, validated and published, its gone ones
    deleted, the state then updated (without the partitions the suite held back)."""
    started = time.perf_counter()
    result = MartResult(contract.name)
    built = {} if full_refresh else _read_state(lake, contract)
    current = cleaned_partitions(lake, contract)
    changed = sorted(p for p, files in current.items() if built.get(p) != files)
    gone = sorted(set(built) - set(current))
    result.changed, result.removed = len(changed), len(gone)
    held_back: list[str] = []
    if changed:
        run_id = f"{clock.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        cleaned = _read_cleaned(spark, lake, contract, changed)
        rows = transforms.build(contract, cleaned).persist()
        checker = Validator(lake, run_id, clock) if validator is None else validator
        outcomes: list[Outcome] = []

        def gate(staged: DataFrame) -> list[tuple[Any, ...]]:
            outcome = checker.validate(with_cleaned_totals(staged, contract, cleaned),
                                       suites.mart_spec(contract))  # fmt: skip
            outcomes.append(outcome)
            return outcome.blocked_values

        try:
            result.rows_out = rows.count()
            if result.rows_out:
                result.partitions = publishing.publish(
                    spark, lake, contract, rows, run_id,
                    full_refresh=full_refresh, zone=ZONE, merge=False, gate=gate,
                )  # fmt: skip
            for outcome in outcomes:
                result.failures, result.blocked = outcome.failures, outcome.blocked
                held_back = [_cleaned_path(contract, p) for p in outcome.blocked]
        finally:
            rows.unpersist()
            if validator is None:
                checker.close()
    elif full_refresh:
        lake.delete_folder(publishing.table_key(contract, ZONE))
    for partition in gone:
        lake.delete_folder(
            f"{publishing.table_key(contract, ZONE)}/{_mart_path(contract, partition)}"
        )
    if changed or gone or full_refresh:
        recorded = {p: files for p, files in current.items() if p not in held_back}
        for partition in held_back:  # keep what it was last built from, if anything
            if partition in built:
                recorded[partition] = built[partition]
        _write_state(lake, contract, recorded, clock)
    result.seconds = time.perf_counter() - started
    return result


def cleaned_partitions(lake: Lake, contract: Mart) -> Partitions:
    """The mart's cleaned source table's partitions, each with its data files' names."""
    prefix = publishing.table_key(contract.source) + "/"
    depth = len(contract.source.partition_by)
    found: Partitions = {}
    for key in lake.list(prefix):
        *folders, name = key[len(prefix) :].split("/")
        if len(folders) != depth or name.startswith(("_", ".")):
            continue  # not a data file of a partition (Spark's markers, checksums)
        found.setdefault("/".join(folders), []).append(name)
    return {partition: sorted(files) for partition, files in sorted(found.items())}


def _read_cleaned(
    spark: SparkSession, lake: Lake, contract: Mart, partitions: list[str]
) -> DataFrame:
    """The rows of the given partitions of the mart's cleaned table, partition columns typed as
    the table's contract says (not as Spark would guess from the folder names)."""
    from pyspark.sql import functions as F

    source = contract.source
    base = lake.location(publishing.table_key(source))
    paths = [f"{base}/{partition}" for partition in partitions]
    rows = spark.read.option("basePath", base).parquet(*paths)
    for name in source.partition_by:
        kind = STORED_TYPES[source.column(name).type]
        rows = rows.withColumn(name, F.col(name).cast(kind))
    return rows


def with_cleaned_totals(rows: DataFrame, contract: Mart, cleaned: DataFrame) -> DataFrame:
    """A mart's rows with the columns of its ``totals`` rule (``gate.with_totals``): each total
    over the mart partition beside the same total over ``cleaned``, its source rows."""
    return with_totals(rows, suites.mart_spec(contract), cleaned, dict(contract.totals),
                       contract.source_partition())  # fmt: skip


def _cleaned_path(contract: Mart, partition: str) -> str:
    """A mart partition's path as its cleaned source's (``_mart_path`` reversed)."""
    names = {mine: theirs for theirs, mine in contract.source_partition().items()}
    folders = []
    for folder in partition.split("/"):
        column, value = folder.split("=", 1)
        folders.append(f"{names[column]}={value}")
    return "/".join(folders)


def _mart_path(contract: Mart, partition: str) -> str:
    """A cleaned partition's path as the mart's (its partition columns renamed)."""
    names = contract.source_partition()
    folders = []
    for folder in partition.split("/"):
        column, value = folder.split("=", 1)
        folders.append(f"{names[column]}={value}")
    return "/".join(folders)


def _state_key(contract: Mart) -> str:
    return f"{STATE}/{contract.name}.json"


def _read_state(lake: Lake, contract: Mart) -> Partitions:
    try:
        payload = json.loads(lake.read_bytes(_state_key(contract)))
    except ObjectNotFound:
        return {}
    if payload.get("from_table") != contract.from_table:
        return {}  # built from another table before: everything is new
    built: Partitions = payload.get("partitions", {})
    return built


def _write_state(lake: Lake, contract: Mart, partitions: Partitions, clock: Clock) -> None:
    payload = {
        "mart": contract.name,
        "from_table": contract.from_table,
        "updated_at": clock.now().isoformat(),
        "partitions": partitions,
    }
    text = json.dumps(payload, sort_keys=True, indent=1) + "\n"
    lake.write_bytes(_state_key(contract), text.encode("utf-8"))
