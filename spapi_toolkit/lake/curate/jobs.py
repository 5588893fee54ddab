"""The raw → cleaned job: for each table, read what is new, stage it, publish it, remember it.

"New" is decided by the documents' manifests, not by files or Glue job bookmarks: a document is
new when its raw key has not been curated before or its sha256 changed. What a table has
curated is kept in ``_state/curate/<table>.json``, written only after its batch was published,
so a crash mid-run leaves the published table as it was and the next run does the batch again.
``full_refresh`` forgets the state and rebuilds the table from every document. So does a change
of the table's contract that changes its rows (a column added, retyped or read from elsewhere,
another key or PII action: ``Table.shape``, recorded in the state): the new column gets its
values from raw for every row, and no table is left with files of two shapes.

A document whose bytes are not its manifest's, or that cannot feed the table at all (a header
without a required column), is refused (``sources``): none of its rows are read, its earlier
published rows stay (through a full refresh too), the result and the state name it, and it is
not recorded as curated, so every run reads it again until it can be read.

Counts reconcile per table: rows read (+ rows kept of refused documents on a full refresh) =
rows published + rows quarantined + older versions (rows of the batch that a newer row with the
same key replaced).

Quality gate: before the swap, the staged batch is validated against the table's expectation
suite (``lake/quality``): partitions with failing rows are not published (every partition when
a failure is table-wide), and the documents whose rows went into them are not recorded in the
state, so a fixed rerun reads them again. The result lists the blocked partitions and the failed
expectations; the latest result per table is in ``_quality/latest/cleaned/<table>.json``, the
run's Data Docs under ``_quality/docs/``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.curate import publish as publishing
from spapi_toolkit.lake.curate import sources, staging
from spapi_toolkit.lake.curate.profile import Profile
from spapi_toolkit.lake.quality import suites
from spapi_toolkit.lake.quality.gate import (
    Failure,
    Gated,
    Outcome,
    Validator,
    gated_run,
    new_run_id,
    with_windows,
)
from spapi_toolkit.lake.storage import Lake, ObjectNotFound
from spapi_toolkit.lake.tables import Table, table, tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

STATE = "_state/curate"
QUARANTINE = "quarantine/cleaned"


class CurationError(RuntimeError):
    """A table could not be curated; the message names the table and why."""


@dataclass
class TableResult(Gated):
    """What one table's run did."""

    table: str
    documents: int = 0  # new or changed documents read
    refused: dict[str, str] = field(default_factory=dict)  # raw key -> why none of it was read
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    superseded: int = 0  # older versions of a key within the batch
    kept: int = 0  # published rows of refused documents kept on a full refresh
    partitions: int = 0
    seconds: float = 0.0
    quarantine_key: str | None = None
    reshaped: bool = False  # the contract's shape changed: the table was rebuilt from raw
    blocked: list[str] = field(default_factory=list)  # partitions the suite held back
    failures: list[Failure] = field(default_factory=list)  # the suite's failed expectations
    profile: Profile = field(default_factory=Profile)  # seconds and Spark jobs per phase

    @property
    def reconciles(self) -> bool:
        return self.rows_in + self.kept == self.rows_out + self.quarantined + self.superseded

    @property
    def qualified_name(self) -> str:
        return f"cleaned.{self.table}"


def hash_key_from_env(env: dict[str, str] | None = None) -> bytes | None:
    """The PII HMAC key from ``SPAPI_PII_HASH_KEY`` (None when unset)."""
    value = (env if env is not None else os.environ).get(staging.HASH_KEY_SETTING)
    return value.encode("utf-8") if value else None


def curatable(names: Sequence[str] | None = None) -> list[Table]:
    """The tables to curate: ``names`` (each must have a contract) or every table with one."""
    if names is None:
        return [t for t in tables().values() if t.has_contract]
    chosen = [table(name) for name in names]
    without = [t.name for t in chosen if not t.has_contract]
    if without:
        raise CurationError(
            f"no contract yet for {', '.join(without)}: declare their columns in tables.toml"
        )
    return chosen


def raw_to_cleaned(
    spark: SparkSession,
    lake: Lake,
    names: Sequence[str] | None = None,
    *,
    full_refresh: bool = False,
    hash_key: bytes | None = None,
    progress: Callable[[TableResult], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    concurrent: int | None = None,
) -> list[TableResult]:
    """Curate the raw zone into the cleaned tables ``names`` (default: every table with a
    contract), each batch gated by its suite, up to ``concurrent`` tables at a time (default
    ``gate.CONCURRENT``); ``progress`` hears each table's result as it finishes. The run's Data
    Docs are copied into the lake at the end."""

    def step(contract: Table, validator: Validator) -> TableResult:
        return curate_table(spark, lake, contract, full_refresh=full_refresh, hash_key=hash_key,
                            clock=clock, validator=validator)  # fmt: skip

    chosen = curatable(names)
    results = gated_run(lake, clock, chosen, step, progress, concurrent)
    publishing.tidy(lake, chosen)  # a failed run leaves its staging for the next to clear
    return results


def curate_table(
    spark: SparkSession,
    lake: Lake,
    contract: Table,
    *,
    full_refresh: bool = False,
    hash_key: bytes | None = None,
    clock: Clock = SYSTEM_CLOCK,
    validator: Validator | None = None,
) -> TableResult:
    """One table: the new documents staged, validated and published, the state then updated
    (without the documents whose rows the suite held back)."""
    started = time.perf_counter()
    result = TableResult(contract.name, profile=Profile.of(spark))
    phase = result.profile.phase
    with phase("list"):
        state = {} if full_refresh else _read_state(lake, contract)
        if state is None:  # curated under another shape of the contract: rebuilt from raw
            result.reshaped, full_refresh, state = True, True, {}
        listed = sources.raw_documents(lake, contract)
    documents = [d for d in listed if state.get(d.key) != d.sha256]
    result.documents = len(documents)
    if not documents:
        result.seconds = time.perf_counter() - started
        result.profile.finish(result.seconds)
        return result
    run_id = new_run_id(clock)
    own = validator is None
    checker = Validator(lake, run_id, clock) if validator is None else validator
    readable = [d for d in documents if d.problem is None]
    for document in documents:
        if document.problem is not None:
            result.refused[document.key] = document.problem
    with phase("plan"):
        rows = sources.read(spark, lake, contract, readable) if readable else None
    spec = suites.table_spec(contract)
    windows = sources.windows(documents)
    outcomes: list[Outcome] = []
    held_back: set[str] = set()

    def gate(staged: DataFrame, rows: int) -> list[tuple[Any, ...]]:
        with phase("validate"):
            frame = with_windows(spark, staged, spec, windows) if spec.needs_windows() else staged
            outcome = checker.validate(frame, spec, rows)
        outcomes.append(outcome)
        return outcome.blocked_values

    if rows is not None:
        from pyspark.sql import functions as F

        checker.warm()  # GX imports while Spark stages the batch
        with phase("plan"):
            typed = staging.typed(rows, contract).persist()
        try:
            with phase("read"):
                result.refused.update(sources.refused(typed))
            read = typed.where(F.col(sources.REFUSED).isNull()).drop(sources.REFUSED)
            good, bad = staging.split(read)
            batch = staging.protect(good, contract, hash_key)
            with phase("stage"):
                counts = _counts(read, contract)
                result.rows_in, result.quarantined, result.rows_out, touched = counts
                if full_refresh and result.refused:
                    kept = _published_rows_of(spark, lake, contract, result, batch.schema)
                    result.kept = kept.count()
                    batch = batch.unionByName(kept)
                batch = staging.newest(batch, contract)
                if result.kept:  # kept rows may share keys with the read ones: count the union
                    result.rows_out = batch.count()
            result.superseded = result.rows_in + result.kept - result.rows_out - result.quarantined
            if result.quarantined:
                result.quarantine_key = f"{QUARANTINE}/{contract.name}/run={run_id}"
                with phase("quarantine"):
                    staging.quarantine_rows(bad, contract, hash_key).write.json(
                        lake.location(result.quarantine_key)
                    )
            if result.rows_out:
                result.partitions = publishing.publish(
                    spark, lake, contract, batch, run_id, full_refresh=full_refresh, gate=gate,
                    profile=result.profile, touched=touched,
                )  # fmt: skip
            for outcome in outcomes:
                result.failures, result.blocked = outcome.failures, outcome.blocked
                if outcome.blocked_values:
                    with phase("held back"):
                        held_back = _documents_in(spark, batch, contract, outcome.blocked_values)
        finally:
            typed.unpersist()
            if own:
                checker.close()
    # A refused document is not recorded as curated: every run reads it again until its bytes
    # are its manifest's (or the contract can read it), and names it meanwhile.
    skipped = held_back | set(result.refused)
    done = {d.key: d.sha256 for d in documents if d.key not in skipped}
    with phase("state"):
        _write_state(lake, contract, {**state, **done}, result.refused, clock)
    result.seconds = time.perf_counter() - started
    result.profile.finish(result.seconds)
    return result


def _counts(read: DataFrame, contract: Table) -> tuple[int, int, int, list[tuple[Any, ...]]]:
    """Rows read, rows quarantined, the rows the batch publishes (the good rows' distinct
    keys, as ``staging.newest`` keeps one row per seller and key) and the partitions the good
    rows fall in (values, in ``partition_by``'s order), in one aggregation."""
    from pyspark.sql import functions as F

    good = F.col(staging.REASON).isNull()
    key = F.struct("seller_id", *contract.key)
    partition = F.struct(*contract.partition_by)
    counts = read.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(~good, 1)).alias("bad"),
        F.count_distinct(F.when(good, key)).alias("keys"),
        F.collect_set(F.when(good, partition)).alias("in"),
    ).first()
    assert counts is not None
    touched = [tuple(values) for values in counts["in"]]
    return int(counts["rows"]), int(counts["bad"]), int(counts["keys"]), touched


def _published_rows_of(
    spark: SparkSession, lake: Lake, contract: Table, result: TableResult, schema: StructType
) -> DataFrame:
    """The published rows of ``result``'s refused documents, to keep through a full refresh
    (which would otherwise rebuild the table without them); none when the table is rebuilt for
    a changed contract, whose files cannot be kept (the refusal says so)."""
    from pyspark.sql import functions as F

    empty = spark.createDataFrame([], schema)
    if not publishing.is_published(lake, contract):
        return empty
    if result.reshaped:
        for key in result.refused:
            result.refused[key] += "; its earlier rows are not kept: the contract changed"
        return empty
    published = spark.read.schema(schema).parquet(lake.location(publishing.table_key(contract)))
    return published.where(F.col("raw_key").isin(list(result.refused)))


def _documents_in(
    spark: SparkSession, batch: DataFrame, contract: Table, partitions: list[tuple[Any, ...]]
) -> set[str]:
    """The raw keys of the batch's rows that fall in ``partitions`` (values)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    fields = [batch.schema[c] for c in contract.partition_by]
    held = spark.createDataFrame(partitions, StructType(fields))
    inside = batch.join(F.broadcast(held), on=list(contract.partition_by), how="left_semi")
    return {row.raw_key for row in inside.select("raw_key").distinct().collect()}


def _state_key(contract: Table) -> str:
    return f"{STATE}/{contract.name}.json"


def refused_documents(lake: Lake) -> dict[str, dict[str, str]]:
    """The documents each table refused in its last run (table -> raw key -> why), from the
    curation state: what ``spapi status`` shows."""
    found = {}
    for key in lake.list(f"{STATE}/"):
        if key.endswith(".json"):
            refused = json.loads(lake.read_bytes(key)).get("refused") or {}
            if refused:
                found[key.rsplit("/", 1)[-1].removesuffix(".json")] = refused
    return found


def _read_state(lake: Lake, contract: Table) -> dict[str, str] | None:
    """The documents the table holds (raw key -> sha256); None when they were curated under
    another shape of the contract (``Table.shape``; a state without one is from before the
    shape was recorded), so none of its files can be kept."""
    try:
        payload = json.loads(lake.read_bytes(_state_key(contract)))
    except ObjectNotFound:
        return {}
    if payload.get("shape") != contract.shape():
        return None
    documents: dict[str, str] = payload.get("documents", {})
    return documents


def _write_state(
    lake: Lake, contract: Table, documents: dict[str, str], refused: dict[str, str], clock: Clock
) -> None:
    payload = {
        "table": contract.name,
        "updated_at": clock.now().isoformat(),
        "shape": contract.shape(),
        "documents": documents,
        "refused": refused,
    }
    text = json.dumps(payload, sort_keys=True, indent=1) + "\n"
    lake.write_bytes(_state_key(contract), text.encode("utf-8"))
