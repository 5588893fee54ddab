"""Publishing a staged batch into its table: merged by key, partition by partition.

The batch is merged with the rows already published in the partitions it touches (the newest
row per key wins, by the same rule as staging), written to a staging folder first, and only then
over those partitions of the table (Spark's dynamic partition overwrite), so a crash before the
swap leaves the published table as it was and a rerun redoes the batch (and clears what the
dead run staged). One run at a time per table. ``full_refresh`` replaces the whole table.

A ``gate`` (the table's expectation suite, ``lake/quality/gate.py``) sees the staged batch, as
it would be published, before the swap, and names the partitions that must not be published:
those are left out of the swap, so their published files stay as they were, byte for byte, and
the others are published. On a full refresh with partitions held back the swap is a dynamic
overwrite too (a static one would delete the held-back partitions).

The same path publishes the aggregated zone's marts (``zone="aggregated"``, ``merge=False``):
a mart's batch holds whole rebuilt partitions, which replace the published ones as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from spapi_toolkit.lake.curate.profile import Profile
from spapi_toolkit.lake.curate.staging import newest
from spapi_toolkit.lake.marts import Mart
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import STORED_TYPES, Table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

CLEANED = "cleaned"
STAGING = "_staging"  # beside the zones, never inside a table's folder
NULL = "\x00null"  # a null partition value in ``partition_key`` (no real value looks like it)
# Sees the staged batch; answers the partitions (values, in partition_by's order) to hold back.
Gate = Callable[["DataFrame"], Sequence[tuple[Any, ...]]]


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
) -> DataFrame:
    """The published rows of ``contract``'s table in ``zone`` (only ``partitions``, folder paths
    like ``marketplace_id=X/date=D``, when given), its partition columns typed as the contract
    says: Spark would guess their types from the folder names."""
    from pyspark.sql import functions as F

    base = lake.location(table_key(contract, zone))
    if partitions is None:
        rows = spark.read.parquet(base)
    else:
        rows = spark.read.option("basePath", base).parquet(*(f"{base}/{p}" for p in partitions))
    for name in contract.partition_by:
        rows = rows.withColumn(name, F.col(name).cast(STORED_TYPES[contract.column(name).type]))
    return rows


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
    touched: Sequence[str] | None = None,
) -> int:
    """Merge ``batch`` into ``table`` (see the module doc); the number of partitions written.
    ``merge=False``: the batch replaces the partitions it holds, without reading them.
    ``gate``: checks the staged batch; the partitions it names are not published.
    ``profile``: where the phases' seconds and jobs go (``stage write``, ``swap``).
    ``touched``: the batch's partitions as ``partition_key`` gives them, when the caller knows
    them (else one pass over the batch finds them): only those are read to merge with."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    phase = (profile or Profile()).phase

    target = lake.location(table_key(table, zone))
    merged = batch
    if merge and is_published(lake, table, zone) and not full_refresh:
        assert isinstance(table, Table), "only a cleaned table has a key to merge by"
        if touched is None:
            keys = batch.select(partition_key(table.partition_by).alias("_p")).distinct()
            touched = [row["_p"] for row in keys.collect()]
        # A filter on partition columns alone: Spark reads only those partitions' folders.
        existing = (
            spark.read.schema(batch.schema)
            .parquet(target)
            .where(partition_key(table.partition_by).isin(list(touched)))
        )
        merged = newest(existing.unionByName(batch), table)
    scratch = f"{STAGING}/{zone}/{table.name}"
    # What a run that died before its swap staged. Tables publish side by side: their
    # scratch folders' parents stay until ``tidy`` (a writer beside them could lose them).
    lake.delete_folder(scratch, prune=False)
    staging = lake.location(f"{scratch}/{run_id}")
    with phase("stage write"):
        merged.write.mode("overwrite").partitionBy(*table.partition_by).parquet(staging)
    staged = spark.read.schema(batch.schema).parquet(staging)
    held = list(gate(staged)) if gate is not None else []
    if held:
        fields = [staged.schema[c] for c in table.partition_by]
        blocked = spark.createDataFrame(held, StructType(fields))
        staged = staged.join(F.broadcast(blocked), on=list(table.partition_by), how="left_anti")
    with phase("swap"):
        written = partition_files(lake, f"{scratch}/{run_id}", len(table.partition_by))
        partitions = len(written) - len(set(held))
        if partitions:
            _swap(staged, target, table, full_refresh and not held)
        lake.delete_folder(scratch, prune=False)
    return partitions


def tidy(lake: Lake, tables: Sequence[Partitioned], zone: str = CLEANED) -> None:
    """Remove the staging folders of ``tables`` and the parents left empty, once no table of
    the run is publishing any more."""
    for table in tables:
        lake.delete_folder(f"{STAGING}/{zone}/{table.name}")


def partition_key(columns: Sequence[str]) -> Column:
    """A row's partition as one string (its values joined by ``/``, null as ``NULL``): what
    names the partitions a batch touches, so that reading the published rows of those is a
    filter on partition columns."""
    from pyspark.sql import functions as F

    parts = [F.coalesce(F.col(c).cast("string"), F.lit(NULL)) for c in columns]
    return F.concat_ws("/", *parts)


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


def _swap(staged: DataFrame, target: str, table: Partitioned, full_refresh: bool) -> None:
    """Overwrite the table's partitions that ``staged`` holds (all of them on a full refresh)."""
    (
        staged.write.mode("overwrite")
        .option("partitionOverwriteMode", "static" if full_refresh else "dynamic")
        .partitionBy(*table.partition_by)
        .parquet(target)
    )
