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
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.curate import publish as publishing
from spapi_toolkit.lake.marts import ZONE, Mart, mart, marts
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
    module doc); ``progress`` hears each mart's result as it finishes."""
    chosen = list(marts().values()) if names is None else [mart(name) for name in names]
    results = []
    for contract in chosen:
        result = aggregate_mart(spark, lake, contract, full_refresh=full_refresh, clock=clock)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def aggregate_mart(
    spark: SparkSession,
    lake: Lake,
    contract: Mart,
    *,
    full_refresh: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> MartResult:
    """One mart: its changed partitions rebuilt and published, its gone ones deleted, the state
    then updated."""
    started = time.perf_counter()
    result = MartResult(contract.name)
    built = {} if full_refresh else _read_state(lake, contract)
    current = cleaned_partitions(lake, contract)
    changed = sorted(p for p, files in current.items() if built.get(p) != files)
    gone = sorted(set(built) - set(current))
    result.changed, result.removed = len(changed), len(gone)
    if changed:
        run_id = f"{clock.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        rows = transforms.build(contract, _read_cleaned(spark, lake, contract, changed)).persist()
        try:
            result.rows_out = rows.count()
            if result.rows_out:
                result.partitions = publishing.publish(
                    spark, lake, contract, rows, run_id,
                    full_refresh=full_refresh, zone=ZONE, merge=False,
                )  # fmt: skip
        finally:
            rows.unpersist()
    elif full_refresh:
        lake.delete_folder(publishing.table_key(contract, ZONE))
    for partition in gone:
        lake.delete_folder(
            f"{publishing.table_key(contract, ZONE)}/{_mart_path(contract, partition)}"
        )
    if changed or gone or full_refresh:
        _write_state(lake, contract, current, clock)
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
