"""Publishing a staged batch into its table: merged by key, partition by partition.

The batch is merged with the rows already published in the partitions it touches (the newest
row per key wins, by the same rule as staging), written to a staging folder first, and only then
swapped into the table, so a crash before the swap leaves the published table as it was and a
rerun redoes the batch (and clears what the dead run staged). One run at a time per table.
``full_refresh`` replaces the whole table.

The swap moves the staged files, partition by partition, instead of having Spark write them a
second time: each staged partition's files go into the table's partition folder (Spark names
every file after its write job, so they never collide with the files there), then the files that
were there before are deleted (on a full refresh, every partition the batch does not hold too).
A crash between the two leaves a partition with both versions of a key, never without one: the
rerun's merge reads both and keeps the newest, as it would anyway. Locally a move is a rename;
on S3 a server-side copy (``Lake.move_many``).

A ``gate`` (the table's expectation suite, ``lake/quality/gate.py``) sees the staged batch, as
it would be published, before the swap, and names the partitions that must not be published:
those are left out of the swap, so their published files stay as they were, byte for byte, and
the others are published. On a full refresh with partitions held back, the partitions the batch
does not hold stay too (deleting them would delete the held-back ones' rows).

The same path publishes the aggregated zone's marts (``zone="aggregated"``, ``merge=False``):
a mart's batch holds whole rebuilt partitions, which replace the published ones as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from spapi_toolkit.lake.curate.profile import Profile
from spapi_toolkit.lake.curate.staging import newest
from spapi_toolkit.lake.marts import Mart
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import STORED_TYPES, Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CLEANED = "cleaned"
STAGING = "_staging"  # beside the zones, never inside a table's folder
# Sees the staged batch and its number of rows (counted while they were written); answers the
# partitions (values, in partition_by's order) to hold back.
Gate = Callable[["DataFrame", int], Sequence[tuple[Any, ...]]]


class Partitioned(Protocol):
    """What publishing needs of a contract: a cleaned ``Table`` or a ``Mart``."""

    @property
    def name(self) -> str: ...

    @property
    def partition_by(self) -> tuple[str, ...]: ...


def table_key(table: Partitioned, zone: str = CLEANED) -> str:
    """The lake folder of a table of ``zone``."""
    return f"{zone}/{table.name}"


def is_published(lake: Lake, table: Partitioned, zone: str = CLEANED) -> bool:
    return next(iter(lake.list(table_key(table, zone) + "/")), None) is not None


def read_published(
    spark: SparkSession,
    lake: Lake,
    contract: Table | Mart,
    zone: str = CLEANED,
    partitions: Sequence[str] | None = None,
    schema: str | None = None,
) -> DataFrame:
    """The published rows of ``contract``'s table in ``zone`` (only ``partitions``, folder paths
    like ``marketplace_id=X/date=D``, when given), its partition columns typed as the contract
    says: Spark would guess their types from the folder names. ``schema`` (a DDL string of the
    columns wanted, e.g. ``contract_schema``) spares Spark reading the files' footers."""
    from pyspark.sql import functions as F

    base = lake.location(table_key(contract, zone))
    reader = spark.read.schema(schema) if schema else spark.read
    if partitions is None:
        rows = reader.parquet(base)
    else:
        rows = reader.option("basePath", base).parquet(*(f"{base}/{p}" for p in partitions))
    for name in contract.partition_by:
        rows = rows.withColumn(name, F.col(name).cast(STORED_TYPES[contract.column(name).type]))
    return rows


def contract_schema(table: Table) -> str:
    """A cleaned table's contract columns (``seller_id`` and the published ones, not the
    lineage columns or ``extra``), as a Spark DDL string: what the marts read of it."""
    ddl = ", ".join(f"{c.name} {STORED_TYPES[c.type]}" for c in table.published)
    return f"seller_id string, {ddl}"


def publish(
    spark: SparkSession,
    lake: Lake,
    table: Partitioned,
    batch: DataFrame,
    run_id: str,
    *,
    full_refresh: bool = False,
    zone: str = CLEANED,
    merge: bool = True,
    gate: Gate | None = None,
    profile: Profile | None = None,
    touched: Sequence[tuple[Any, ...]] | None = None,
) -> int:
    """Merge ``batch`` into ``table`` (see the module doc); the number of partitions written.
    ``merge=False``: the batch replaces the partitions it holds, without reading them.
    ``gate``: checks the staged batch; the partitions it names are not published.
    ``profile``: where the phases' seconds and jobs go (``stage write``, ``swap``).
    ``touched``: the batch's partitions (values, in ``partition_by``'s order), when the caller
    knows them (else one pass over the batch finds them): only those are read to merge with."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    phase = (profile or Profile()).phase

    merged = batch
    if merge and is_published(lake, table, zone) and not full_refresh:
        assert isinstance(table, Table), "only a cleaned table has a key to merge by"
        if touched is None:
            touched = [tuple(r) for r in batch.select(*table.partition_by).distinct().collect()]
        # Only the touched partitions' folders that hold files: Spark neither lists the rest of
        # the table (a second per thousand partitions) nor fails on a folder not there yet.
        key = table_key(table, zone)
        folders = {partition_folder(table.partition_by, values) for values in touched}
        found = [
            f"{lake.location(key)}/{f}" for f in sorted(folders) if _files_in(lake, f"{key}/{f}")
        ]
        if found:
            existing = (
                spark.read.schema(batch.schema)
                .option("basePath", lake.location(key))
                .parquet(*found)
            )
            merged = newest(existing.unionByName(batch), table)
    scratch = f"{STAGING}/{zone}/{table.name}"
    # What a run that died before its swap staged. Tables publish side by side: their
    # scratch folders' parents stay until ``tidy`` (a writer beside them could lose them).
    lake.delete_folder(scratch, prune=False)
    staging = lake.location(f"{scratch}/{run_id}")
    # One file per partition: the rows of a partition come out of joins and dedup spread over
    # every task, which would each write a file of it (at 1,095 partitions, most of the write's
    # time went on creating files, and every later read opens them all).
    merged = merged.repartition(*table.partition_by)
    counted = Observation(f"staged-{run_id}-{table.name}")
    with phase("stage write"):
        (
            merged.observe(counted, F.count(F.lit(1)).alias("rows"))
            .write.mode("overwrite")
            .partitionBy(*table.partition_by)
            .parquet(staging)
        )
    staged = spark.read.schema(batch.schema).parquet(staging)
    held = set()
    if gate is not None:
        values = gate(staged, int(counted.get["rows"]))
        held = {partition_folder(table.partition_by, v) for v in values}
    with phase("swap"):
        written = partition_files(lake, f"{scratch}/{run_id}", len(table.partition_by))
        chosen = {p: files for p, files in written.items() if p not in held}
        if chosen:
            _swap(lake, f"{scratch}/{run_id}", table_key(table, zone), chosen,
                  len(table.partition_by), everything=full_refresh and not held)  # fmt: skip
        lake.delete_folder(scratch, prune=False)
    return len(chosen)


def tidy(lake: Lake, tables: Sequence[Partitioned], zone: str = CLEANED) -> None:
    """Remove the staging folders of ``tables`` and the parents left empty, once no table of
    the run is publishing any more."""
    for table in tables:
        lake.delete_folder(f"{STAGING}/{zone}/{table.name}")


def partition_files(lake: Lake, folder: str, depth: int) -> dict[str, list[str]]:
    """The partitions (``c1=v1/c2=v2``, ``depth`` levels) that hold data files under
    ``folder``, each with its files' names (sorted; Spark's markers and checksums left out)."""
    prefix = folder + "/"
    found: dict[str, list[str]] = {}
    for key in lake.list(prefix):
        *folders, name = key[len(prefix) :].split("/")
        if len(folders) == depth and not name.startswith(("_", ".")):
            found.setdefault("/".join(folders), []).append(name)
    return {partition: sorted(files) for partition, files in sorted(found.items())}


def partition_folder(columns: Sequence[str], values: Sequence[Any]) -> str:
    """The folder Spark writes a partition's rows into (``c1=v1/c2=v2``): dates in ISO form,
    null as Hive's default partition, and the characters a path cannot hold escaped as
    Spark escapes them (``%`` and two hex digits)."""
    return "/".join(
        f"{_escaped(c)}={_escaped(_folder_value(v))}" for c, v in zip(columns, values, strict=True)
    )


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# What Spark's ExternalCatalogUtils.escapePathName escapes, besides the control characters.
_ESCAPED = set("\"#%'*/:=?\\{[]^\x7f")


def _folder_value(value: Any) -> str:
    if value is None:
        return HIVE_NULL
    return value.isoformat() if isinstance(value, date) else str(value)


def _escaped(text: str) -> str:
    if text == HIVE_NULL:
        return text
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED or ord(c) < 0x20 else c for c in text)


def _swap(
    lake: Lake,
    staged: str,
    target: str,
    partitions: dict[str, list[str]],
    depth: int,
    *,
    everything: bool,
) -> None:
    """Move the files of ``partitions`` (folder -> file names under ``staged``; ``depth``
    partition columns) into the table's folder ``target``, then delete what those partitions
    held before (with ``everything``, every other partition too): the module doc's swap."""
    if everything:
        before = partition_files(lake, target, depth)
    else:  # only the partitions swapped: a listing each, whatever the table's history
        before = {p: files for p in partitions if (files := _files_in(lake, f"{target}/{p}"))}
    moves = [(f"{staged}/{p}/{n}", f"{target}/{p}/{n}") for p, ns in partitions.items() for n in ns]
    lake.move_many(moves)
    for partition, names in before.items():
        if partition in partitions:
            lake.delete_many([f"{target}/{partition}/{n}" for n in names])
        else:  # a full refresh: the partition is gone
            lake.delete_folder(f"{target}/{partition}", prune=False)


def _files_in(lake: Lake, folder: str) -> list[str]:
    """The data files directly in ``folder`` (names; Spark's markers left out)."""
    prefix = folder + "/"
    names = (key[len(prefix) :] for key in lake.list(prefix))
    return [n for n in names if "/" not in n and not n.startswith(("_", "."))]
