"""The raw → cleaned job: for each table, read what is new, stage it, publish it, remember it.

"New" is decided by the documents' manifests, not by files or Glue job bookmarks: a document is
new when its raw key has not been curated before or its sha256 changed. What a table has
curated is kept in ``_state/curate/<table>.json``, written only after its batch was published,
so a crash mid-run leaves the published table as it was and the next run does the batch again.
``full_refresh`` forgets the state and rebuilds the table from every document.

Counts reconcile per table: rows read = rows published + rows quarantined + older versions
(rows of the batch that a newer row with the same key replaced).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.curate import publish as publishing
from spapi_toolkit.lake.curate import sources, staging
from spapi_toolkit.lake.storage import Lake, ObjectNotFound
from spapi_toolkit.lake.tables import Table, table, tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STATE = "_state/curate"
QUARANTINE = "quarantine/cleaned"


class CurationError(RuntimeError):
    """A table could not be curated; the message names the table and why."""


@dataclass
class TableResult:
    """What one table's run did."""

    table: str
    documents: int = 0  # new or changed documents read
    rejected: dict[str, str] = field(default_factory=dict)  # raw key -> why it cannot feed
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    superseded: int = 0  # older versions of a key within the batch
    partitions: int = 0
    seconds: float = 0.0
    quarantine_key: str | None = None

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.rows_out + self.quarantined + self.superseded


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
) -> list[TableResult]:
    """Curate the raw zone into the cleaned tables ``names`` (default: every table with a
    contract); ``progress`` hears each table's result as it finishes."""
    results = []
    for contract in curatable(names):
        result = curate_table(
            spark, lake, contract, full_refresh=full_refresh, hash_key=hash_key, clock=clock
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def curate_table(
    spark: SparkSession,
    lake: Lake,
    contract: Table,
    *,
    full_refresh: bool = False,
    hash_key: bytes | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> TableResult:
    """One table: the new documents staged and published, the state then updated."""
    started = time.perf_counter()
    result = TableResult(contract.name)
    state = {} if full_refresh else _read_state(lake, contract)
    documents = [d for d in sources.raw_documents(lake, contract) if state.get(d.key) != d.sha256]
    result.documents = len(documents)
    if not documents:
        result.seconds = time.perf_counter() - started
        return result
    rows, result.rejected = sources.read(spark, lake, contract, documents)
    run_id = f"{clock.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    if rows is not None:
        typed = staging.typed(rows, contract).persist()
        try:
            good, bad = staging.split(typed)
            batch = staging.newest(staging.protect(good, contract, hash_key), contract)
            result.rows_in = typed.count()
            result.quarantined = bad.count()
            result.rows_out = batch.count()
            result.superseded = result.rows_in - result.rows_out - result.quarantined
            if result.quarantined:
                result.quarantine_key = f"{QUARANTINE}/{contract.name}/run={run_id}"
                staging.quarantine_rows(bad, contract).write.json(
                    lake.location(result.quarantine_key)
                )
            if result.rows_out:
                result.partitions = publishing.publish(
                    spark, lake, contract, batch, run_id, full_refresh=full_refresh
                )
        finally:
            typed.unpersist()
    done = {d.key: d.sha256 for d in documents}
    _write_state(lake, contract, {**state, **done}, clock)
    result.seconds = time.perf_counter() - started
    return result


def _state_key(contract: Table) -> str:
    return f"{STATE}/{contract.name}.json"


def _read_state(lake: Lake, contract: Table) -> dict[str, str]:
    try:
        payload = json.loads(lake.read_bytes(_state_key(contract)))
    except ObjectNotFound:
        return {}
    documents: dict[str, str] = payload.get("documents", {})
    return documents


def _write_state(lake: Lake, contract: Table, documents: dict[str, str], clock: Clock) -> None:
    payload = {
        "table": contract.name,
        "updated_at": clock.now().isoformat(),
        "documents": documents,
    }
    text = json.dumps(payload, sort_keys=True, indent=1) + "\n"
    lake.write_bytes(_state_key(contract), text.encode("utf-8"))
