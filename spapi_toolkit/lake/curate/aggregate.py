"""The cleaned → aggregated job: each mart rebuilt where its inputs changed, and only there.

A mart's partitions (marketplace, period) come from its ``from_table``'s partitions (marketplace,
day): one to one for a daily mart, several days to one week or month for a weekly or monthly one
(``period`` in the contract). A mart may also read other cleaned tables, each with a window of
history (``reads``: table -> days before the period's first day, e.g. 90 days of orders for sales
velocity). So a mart partition (M, P) depends on:

- the ``from_table`` partitions of M whose day falls in P, and
- for each read table, its partitions of M (of every marketplace, for a table not partitioned by
  marketplace) whose day falls in [first day of P - days, last day of P].

A cleaned partition is identified by the names of its data files: Spark names every file it
writes with a fresh id, and publishing a cleaned partition rewrites all of its files, so the
names change exactly when its rows may have. What a mart was last built from (input table ->
cleaned partition -> its file names) is kept in ``_state/aggregate/<mart>.json``. A run lists
its input tables' files, and:

- rebuilds the mart partitions that depend on a cleaned partition that is new, rewritten or gone,
  and still have ``from_table`` rows, reading only the cleaned partitions they depend on, and
  publishes them through ``publish``'s staging folder and swap (whole partitions replaced,
  nothing merged);
- deletes the mart partitions left without ``from_table`` rows (or whose rebuild gives none);
- leaves the rest untouched: a rerun with nothing changed reads no data and writes nothing.

The state is written only after the mart is published, so a crash leaves the previous state and
the next run rebuilds the same partitions again (a rebuild is idempotent). ``full_refresh``
forgets the state and rewrites the whole mart, as does a change of the mart's inputs in its
contract. This needs no timestamps (no clock skew between jobs, no reliance on the cleaned job's
state format) and costs one listing per input table. One run at a time per mart, as for the
cleaned tables.

Quality gate: the rebuilt partitions are validated against the mart's suite before the swap,
with the contract's ``totals`` compared with the cleaned rows they were built from
(``gate.with_mart_totals``). A
partition that fails is not published (what was published stays) and its from_table partitions
are not recorded in the state, so the next run rebuilds it again; the result lists it with the
failed expectations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.curate import publish as publishing
from spapi_toolkit.lake.curate.marts import fx
from spapi_toolkit.lake.curate.profile import Profile
from spapi_toolkit.lake.marts import ZONE, Mart, mart, marts
from spapi_toolkit.lake.quality import suites
from spapi_toolkit.lake.quality.gate import (
    Failure,
    Gated,
    Outcome,
    Validator,
    gated_run,
    new_run_id,
    with_mart_totals,
)
from spapi_toolkit.lake.storage import Lake, ObjectNotFound
from spapi_toolkit.lake.tables import Table, tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STATE = "_state/aggregate"

Partitions = dict[str, list[str]]  # cleaned partition path (c1=v1/c2=v2) -> its data file names
Inputs = dict[str, Partitions]  # input table -> its partitions
Target = tuple[str, date]  # a mart partition: marketplace, the period's first day


@dataclass
class MartResult(Gated):
    """What one mart's run did."""

    mart: str
    changed: int = 0  # input partitions new, rewritten or gone since the mart's last build
    removed: int = 0  # mart partitions deleted: left without from_table rows
    rows_out: int = 0
    partitions: int = 0  # mart partitions written
    unconverted: int = 0  # rows written with local money but no FX rate (``marts.fx``)
    seconds: float = 0.0
    blocked: list[str] = field(default_factory=list)  # mart partitions the suite held back
    failures: list[Failure] = field(default_factory=list)  # the suite's failed expectations
    profile: Profile = field(default_factory=Profile)  # seconds and Spark jobs per phase

    @property
    def qualified_name(self) -> str:
        return f"aggregated.{self.mart}"


def cleaned_to_aggregated(
    spark: SparkSession,
    lake: Lake,
    names: Sequence[str] | None = None,
    *,
    full_refresh: bool = False,
    progress: Callable[[MartResult], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    concurrent: int | None = None,
) -> list[MartResult]:
    """Bring the marts ``names`` (default: every mart) up to date with the cleaned zone (see the
    module doc), each rebuild gated by its suite, up to ``concurrent`` marts at a time (default
    ``gate.CONCURRENT``); ``progress`` hears each mart's result as it finishes. The run's Data
    Docs are copied into the lake at the end."""
    chosen = list(marts().values()) if names is None else [mart(name) for name in names]

    def step(contract: Mart, validator: Validator) -> MartResult:
        return aggregate_mart(
            spark, lake, contract, full_refresh=full_refresh, clock=clock, validator=validator
        )

    results = gated_run(lake, clock, chosen, step, progress, concurrent)
    publishing.tidy(lake, chosen, ZONE)  # a failed run leaves its staging for the next to clear
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
    """One mart: the partitions whose inputs changed rebuilt, validated and published, those
    left without rows deleted, the state then updated (without what the suite held back)."""
    started = time.perf_counter()
    result = MartResult(contract.name, profile=Profile.of(spark))
    phase = result.profile.phase
    with phase("list"):
        built = None if full_refresh else _read_state(lake, contract)
        current = {name: cleaned_partitions(lake, tables()[name]) for name in contract.inputs}
        published = published_targets(lake, contract) if built is None else set()
    targets = {_target(contract, path, name) for name in contract.sources
               for path in current[name]}  # fmt: skip
    folder = publishing.table_key(contract, ZONE)
    if built is None:  # a full refresh, a first build, or a contract that changed
        result.changed = sum(len(partitions) for partitions in current.values())
        rebuild, gone = targets, published - targets
    else:
        changes = {name: _changed(built.get(name, {}), current[name]) for name in contract.inputs}
        result.changed = sum(len(paths) for paths in changes.values())
        stale = _affected(contract, changes, targets)
        rebuild, gone = stale & targets, stale - targets
    held_back: set[Target] = set()
    if rebuild:
        from pyspark.sql import functions as F

        run_id = new_run_id(clock)
        checker = Validator(lake, run_id, clock) if validator is None else validator
        frames = _read_inputs(spark, lake, contract, current, rebuild)
        rows = _only(spark, transforms.build(contract, frames), contract, rebuild).persist()
        outcomes: list[Outcome] = []

        def gate(staged: DataFrame, staged_rows: int) -> list[tuple[Any, ...]]:
            with phase("validate"):
                totals = with_mart_totals(staged, suites.mart_spec(contract), contract, frames)
                outcome = checker.validate(totals, suites.mart_spec(contract), staged_rows)
            outcomes.append(outcome)
            return outcome.blocked_values

        checker.warm()  # GX imports while Spark builds the mart
        try:
            with phase("build"):  # one pass: rows, unconverted rows and rows per partition
                counted = rows.groupBy(*contract.partition_by).agg(
                    F.count(F.lit(1)).alias("_rows"),
                    F.count(F.when(fx.is_unconverted(rows), 1)).alias("_unconverted"),
                )
                per_partition = counted.collect()
            result.rows_out = sum(r["_rows"] for r in per_partition)
            result.unconverted = sum(r["_unconverted"] for r in per_partition)
            written = {(r[0], r[1]) for r in per_partition}
            gone |= rebuild - written  # rebuilt without rows: nothing may stay published there
            if result.rows_out:
                result.partitions = publishing.publish(
                    spark, lake, contract, rows, run_id,
                    full_refresh=built is None, zone=ZONE, merge=False, gate=gate,
                    profile=result.profile,
                )  # fmt: skip
            for outcome in outcomes:
                result.failures, result.blocked = outcome.failures, outcome.blocked
                held_back = {_parse_target(contract, path) for path in outcome.blocked}
        finally:
            rows.unpersist()
            if validator is None:
                checker.close()
    with phase("state"):
        for target in sorted(gone - held_back):
            lake.delete_folder(f"{folder}/{_mart_path(contract, target)}", prune=False)
        result.removed = len(gone - held_back)
        if result.changed or built is None:
            _write_state(lake, contract, _recorded(contract, current, built, held_back), clock)
    result.seconds = time.perf_counter() - started
    result.profile.finish(result.seconds)
    return result


def _recorded(
    contract: Mart, current: Inputs, built: Inputs | None, held_back: set[Target]
) -> Inputs:
    """What to record as built: the current inputs, except that the source partitions of a
    mart partition the suite held back keep what they were last built from (or nothing), so
    the next run rebuilds it."""
    recorded = {name: dict(partitions) for name, partitions in current.items()}
    for name in contract.sources:
        before = (built or {}).get(name, {})
        primary = recorded[name]
        for path in list(primary):
            if _target(contract, path, name) in held_back:
                if path in before:
                    primary[path] = before[path]
                else:
                    del primary[path]
    return recorded


def published_targets(lake: Lake, contract: Mart) -> set[Target]:
    """The mart partitions that hold files in the lake now."""
    folder = publishing.table_key(contract, ZONE)
    partitions = publishing.partition_files(lake, folder, len(contract.partition_by))
    return {_parse_target(contract, path) for path in partitions}


def _parse_target(contract: Mart, path: str) -> Target:
    """A mart partition's folder path (``marketplace_id=X/date=D``) as a Target."""
    values = _values(path)
    return values[contract.partition_by[0]], date.fromisoformat(values[contract.partition_by[1]])


def cleaned_partitions(lake: Lake, table: Table) -> Partitions:
    """A cleaned table's partitions, each with its data files' names."""
    return publishing.partition_files(lake, publishing.table_key(table), len(table.partition_by))


def _changed(built: Partitions, current: Partitions) -> list[str]:
    """The partitions new, rewritten or gone since ``built``."""
    return sorted(p for p in set(built) | set(current) if built.get(p) != current.get(p))


def _values(path: str) -> dict[str, str]:
    return dict(folder.split("=", 1) for folder in path.split("/"))


def _marketplace_and_day(table: Table, path: str) -> tuple[str | None, date]:
    """A cleaned partition's marketplace (None when the table has no such partition) and day."""
    values = _values(path)
    return values.get("marketplace_id"), date.fromisoformat(values[table.partition_by[-1]])


def period_start(day: date, period: str) -> date:
    """The first day of the mart period (see ``lake.marts.PERIODS``) that ``day`` falls in."""
    if period == "week":
        return day - timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
    if period == "month":
        return day.replace(day=1)
    return day


def period_end(first: date, period: str) -> date:
    """The last day of the mart period starting on ``first``."""
    if period == "week":
        return first + timedelta(days=6)
    if period == "month":
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)
    return first


def _target(contract: Mart, path: str, table: str | None = None) -> Target:
    """The mart partition a partition of source ``table`` (default ``from_table``) makes."""
    source = tables()[table] if table else contract.source
    marketplace, day = _marketplace_and_day(source, path)
    assert marketplace is not None, "a mart's sources are partitioned by marketplace"
    return marketplace, period_start(day, contract.period)


def _window(contract: Mart, target: Target, days: int) -> tuple[date, date]:
    first = target[1]
    return first - timedelta(days=days), period_end(first, contract.period)


def _depends(contract: Mart, target: Target, table: Table, path: str, days: int) -> bool:
    """Whether mart partition ``target`` reads ``table``'s partition ``path``."""
    marketplace, day = _marketplace_and_day(table, path)
    low, high = _window(contract, target, days)
    return marketplace in (None, target[0]) and low <= day <= high


def _windows(contract: Mart) -> dict[str, int]:
    """Each input table and the days of history a period reads of it (0: the period only)."""
    return {**{name: 0 for name in contract.sources}, **dict(contract.reads)}


def _affected(contract: Mart, changes: dict[str, list[str]], targets: set[Target]) -> set[Target]:
    """The mart partitions that depend on a changed input partition: those of ``targets`` (the
    partitions with rows in a source table), and those whose source partitions changed or
    went."""
    stale = {_target(contract, path, name) for name in contract.sources
             for path in changes[name]}  # fmt: skip
    for name, days in _windows(contract).items():
        table = tables()[name]
        for path in changes[name]:
            stale |= {t for t in targets if _depends(contract, t, table, path, days)}
    return stale


def _read_inputs(
    spark: SparkSession, lake: Lake, contract: Mart, current: Inputs, rebuild: set[Target]
) -> dict[str, DataFrame]:
    """Per input table, its rows that the partitions to ``rebuild`` depend on."""
    return {
        name: _read_cleaned(
            spark, lake, tables()[name], needed(contract, name, current[name], rebuild)
        )
        for name in contract.inputs
    }


def needed(contract: Mart, name: str, partitions: Iterable[str], rebuild: set[Target]) -> list[str]:
    """The partitions of input table ``name`` that the mart partitions ``rebuild`` read."""
    table, days = tables()[name], _windows(contract)[name]
    spans: dict[str | None, list[tuple[date, date]]] = {}
    for target in rebuild:
        spans.setdefault(target[0], []).append(_window(contract, target, days))
    every = [window for windows in spans.values() for window in windows]
    chosen = []
    for path in partitions:
        marketplace, day = _marketplace_and_day(table, path)
        windows = spans.get(marketplace, []) if marketplace else every
        if any(low <= day <= high for low, high in windows):
            chosen.append(path)
    return chosen


def _only(spark: SparkSession, rows: DataFrame, contract: Mart, keep: set[Target]) -> DataFrame:
    """``rows`` of the mart partitions ``keep`` (history read for a window builds others too)."""
    from pyspark.sql import functions as F

    wanted = spark.createDataFrame(sorted(keep), f"{contract.partition_by[0]} string, "
                                   f"{contract.partition_by[1]} date")  # fmt: skip
    return rows.join(F.broadcast(wanted), on=list(contract.partition_by), how="left_semi")


def _read_cleaned(
    spark: SparkSession, lake: Lake, table: Table, partitions: list[str]
) -> DataFrame:
    """The rows of the given partitions of a cleaned table, its contract's columns only, typed
    as the contract says (not as Spark would guess from the folder names or find in the files'
    footers); no partitions give no rows, with the same columns."""
    schema = publishing.contract_schema(table)
    if not partitions:
        return spark.createDataFrame([], schema)
    return publishing.read_published(spark, lake, table, partitions=partitions, schema=schema)


def _mart_path(contract: Mart, target: Target) -> str:
    """A mart partition's folder path."""
    marketplace, first = target
    return (
        f"{contract.partition_by[0]}={marketplace}/{contract.partition_by[1]}={first.isoformat()}"
    )


def _state_key(contract: Mart) -> str:
    return f"{STATE}/{contract.name}.json"


def _inputs_rule(contract: Mart) -> dict[str, object]:
    """What decides which cleaned partitions a mart partition reads, and what its rows hold:
    when it changes (other inputs, another period, a column added or retyped), what was
    recorded no longer says what the published partitions are, and the mart is rebuilt whole."""
    columns = [[c.name, c.type] for c in contract.columns]
    return {"period": contract.period, "windows": _windows(contract), "columns": columns}


def _read_state(lake: Lake, contract: Mart) -> Inputs | None:
    """What the mart was last built from; None when it must be rebuilt whole (never built, or
    built under another inputs rule)."""
    try:
        payload = json.loads(lake.read_bytes(_state_key(contract)))
    except ObjectNotFound:
        return None
    if "inputs" not in payload and payload.get("from_table") == contract.from_table:
        payload = {  # the state format before marts could read several tables
            "rule": {"period": "day", "windows": {contract.from_table: 0}},
            "inputs": {contract.from_table: payload.get("partitions", {})},
        }
    if payload.get("rule") != _inputs_rule(contract):
        return None
    inputs: Inputs = payload["inputs"]
    return inputs


def _write_state(lake: Lake, contract: Mart, inputs: Inputs, clock: Clock) -> None:
    payload = {
        "mart": contract.name,
        "rule": _inputs_rule(contract),
        "updated_at": clock.now().isoformat(),
        "inputs": inputs,
    }
    text = json.dumps(payload, sort_keys=True, indent=1) + "\n"
    lake.write_bytes(_state_key(contract), text.encode("utf-8"))
