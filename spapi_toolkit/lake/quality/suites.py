"""The expectation suites: one per cleaned table and per mart, generated from their contracts.

The suites are generated at run time from ``tables()`` and ``marts()`` (the package never reads
the repository's ``expectations/`` folder, which the wheel does not ship); the JSON files there
are the same suites written out for review (``spapi quality --write-suites``), and a test fails
when they differ from what generation gives. A suite is plain data (``Spec``) until ``build``
turns it into a GX 1.x ``ExpectationSuite``, so generating and comparing needs no GX import.

What each suite checks, in order:

- the published columns exist (one table-level expectation) and each has its stored type;
- seller and key columns and required columns are not null; the key (per seller) is unique;
- ``allowed`` values; ranges: the contract's ``min``/``max``, else what the type implies
  (money >= 0 unless ``signed``, fractions in [0, 1]; ``tables.bounds``);
- business rules that need more than the rows: ``in_window`` dates lie inside the request
  window of their document (``_check_in_window_<column>``), and a mart's ``totals`` equal the
  cleaned totals of the partitions it was built from (``_check_totals_<column>``, per
  partition). ``gate.with_windows`` and ``gate.with_totals`` add those columns while
  validating, each a boolean (null where the rule does not apply: no window known, no total on
  either side), so each rule is one column check: GX computes those in one bundled pass,
  where a check comparing two columns would cost a pass of its own.

Every expectation carries ``meta.rule`` (which of the above) and a ``description`` in words,
which the failure messages, the latest-result JSON and the Data Docs show.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spapi_toolkit.lake.marts import ZONE as AGGREGATED
from spapi_toolkit.lake.marts import Mart, marts
from spapi_toolkit.lake.tables import STORED_TYPES, Table, tables

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

CLEANED = "cleaned"
ZONES = (CLEANED, AGGREGATED)
IN_WINDOW = "_check_in_window_"  # + column: the date lies inside its document's request window
TOTALS = "_check_totals_"  # + mart column: its partition sum equals the cleaned one's
# Contract types -> the Spark type names GX's expect_column_values_to_be_of_type reports.
SPARK_TYPES = {
    "string": "StringType",
    "bigint": "LongType",
    "double": "DoubleType",
    "timestamp": "TimestampType",
    "date": "DateType",
    "boolean": "BooleanType",
}
_NAMESPACE = uuid.UUID("6f1f5a8e-3c3b-4a59-9d7e-9a1c1f0e5b21")  # stable ids: same suite, same JSON


@dataclass(frozen=True)
class Check:
    """One expectation: its GX type, arguments, rule and what it means in words."""

    type: str
    kwargs: dict[str, Any]
    rule: str
    description: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the expectation reads (for messages and attribution)."""
        k = self.kwargs
        if "column" in k:
            return (k["column"],)
        if "column_list" in k:
            return tuple(k["column_list"])
        if "column_A" in k:
            return (k["column_A"], k["column_B"])
        return ()


@dataclass(frozen=True)
class Spec:
    """One suite: the zone and table it checks, its partition columns and its checks."""

    zone: str
    table: str
    partition_by: tuple[str, ...]
    checks: tuple[Check, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.zone}.{self.table}"

    def window_columns(self) -> list[str]:
        """The date columns the suite checks against their documents' request windows."""
        return [_ruled(c, IN_WINDOW) for c in self.checks if c.rule == "in_window"]

    def needs_windows(self) -> bool:
        return bool(self.window_columns())

    def totals(self) -> list[str]:
        """The mart columns whose totals the suite compares with the cleaned ones."""
        return [_ruled(c, TOTALS) for c in self.checks if c.rule == "totals"]


def _ruled(check: Check, prefix: str) -> str:
    """The contract column a business rule's check column (``prefix`` + column) is about."""
    return str(check.kwargs["column"])[len(prefix) :]


def _holds(column: str, rule: str, description: str) -> Check:
    """A business rule's check: its boolean column is true wherever it applies."""
    kwargs = {"column": column, "value_set": [True]}
    return Check("expect_column_values_to_be_in_set", kwargs, rule, description)


def spark_type(kind: str) -> str:
    stored = STORED_TYPES[kind]
    return "DecimalType" if stored.startswith("decimal") else SPARK_TYPES[stored]


def _range(column: str, low: float | None, high: float | None, why: str) -> Check | None:
    if low is None and high is None:
        return None
    kwargs: dict[str, Any] = {"column": column}
    if low is not None:
        kwargs["min_value"] = low
    if high is not None:
        kwargs["max_value"] = high
    words = {(True, True): f"in [{low}, {high}]", (True, False): f">= {low}"}
    said = words.get((low is not None, high is not None), f"<= {high}")
    return Check("expect_column_values_to_be_between", kwargs, "range", f"{column} {said}{why}")


def _common(
    columns: list[tuple[str, str]],
    not_null: list[str],
    unique: list[str],
    described: list[Any],
) -> list[Check]:
    """The checks both zones share: columns and types, not null, unique key, values, ranges."""
    names = [name for name, _ in columns]
    checks = [
        Check(
            "expect_table_columns_to_match_set",
            {"column_set": names, "exact_match": False},
            "columns",
            "every published column is there",
        ),
    ]
    for name, kind in columns:
        checks.append(
            Check(
                "expect_column_values_to_be_of_type",
                {"column": name, "type_": spark_type(kind)},
                "type",
                f"{name} is stored as {STORED_TYPES[kind]}",
            )
        )
    for name in not_null:
        checks.append(
            Check(
                "expect_column_values_to_not_be_null",
                {"column": name},
                "not_null",
                f"{name} is never empty (key or required)",
            )
        )
    checks.append(
        Check(
            "expect_compound_columns_to_be_unique",
            {"column_list": unique},
            "unique_key",
            f"one row per {', '.join(unique)}",
        )
    )
    for column in described:
        if column.allowed:
            checks.append(
                Check(
                    "expect_column_values_to_be_in_set",
                    {"column": column.name, "value_set": list(column.allowed)},
                    "allowed",
                    f"{column.name} is one of {', '.join(column.allowed)}",
                )
            )
        low, high = column.bounds()
        why = ""
        if column.type == "decimal" and column.min is None and not column.signed:
            why = " (money is never negative unless the contract says signed)"
        elif column.type == "fraction" and column.min is None and column.max is None:
            why = " (a fraction)"
        check = _range(column.name, low, high, why)
        if check is not None:
            checks.append(check)
    return checks


def table_spec(table: Table) -> Spec:
    """The suite of a cleaned table (it must have a contract)."""
    columns = [("seller_id", "string"), *((c.name, c.type) for c in table.published)]
    columns += [("raw_key", "string"), ("ingested_at", "timestamp")]
    not_null = ["seller_id", *table.required, "raw_key"]
    checks = _common(columns, not_null, ["seller_id", *table.key], list(table.published))
    for column in table.published:
        if column.in_window:
            checks.append(
                _holds(
                    f"{IN_WINDOW}{column.name}",
                    "in_window",
                    f"{column.name} lies inside its document's request window",
                )
            )
    return Spec(CLEANED, table.name, table.partition_by, tuple(checks))


def mart_spec(mart: Mart) -> Spec:
    """The suite of a mart."""
    columns = [(c.name, c.type) for c in mart.columns]
    seller = ["seller_id"] if "seller_id" in dict(columns) else []
    unique = list(dict.fromkeys([*seller, *mart.key]))  # marts never mix sellers
    checks = _common(columns, unique, unique, list(mart.columns))
    for mine, theirs in mart.totals:
        checks.append(
            _holds(
                f"{TOTALS}{mine}",
                "totals",
                f"per partition, the sum of {mine} equals the sum of {mart.from_table}.{theirs}",
            )
        )
    return Spec(AGGREGATED, mart.name, mart.partition_by, tuple(checks))


def specs(names: list[str] | None = None) -> list[Spec]:
    """Every suite (cleaned tables with a contract, then marts), or those of ``names`` (table
    or mart names, or ``zone.name``)."""
    found = [table_spec(t) for t in tables().values() if t.has_contract]
    found += [mart_spec(m) for m in marts().values()]
    if names is None:
        return found
    chosen = [s for s in found if s.table in names or s.name in names]
    unknown = set(names) - {s.table for s in chosen} - {s.name for s in chosen}
    if unknown:
        raise ValueError(f"no suite for {sorted(unknown)}: not a table with a contract or a mart")
    return chosen


def spec(zone: str, name: str) -> Spec:
    """The suite of ``name`` in ``zone``."""
    [found] = [s for s in specs() if s.zone == zone and s.table == name]
    return found


def suite_dict(suite: Spec) -> dict[str, Any]:
    """The suite as GX 1.x writes an ``ExpectationSuite`` (its ``to_json_dict``), with ids
    derived from the suite's name and each expectation's position, so the JSON is stable."""
    expectations = []
    for index, check in enumerate(suite.checks):
        expectations.append(
            {
                "type": check.type,
                "kwargs": check.kwargs,
                "meta": {"rule": check.rule},
                "description": check.description,
                "id": str(uuid.uuid5(_NAMESPACE, f"{suite.name}/{index}/{check.type}")),
                "severity": "critical",
            }
        )
    return {
        "name": suite.name,
        "id": str(uuid.uuid5(_NAMESPACE, suite.name)),
        "expectations": expectations,
        "meta": {
            "generated_from": "spapi_toolkit/data/tables.toml",
            "zone": suite.zone,
            "table": suite.table,
            "partition_by": list(suite.partition_by),
        },
        "notes": None,
    }


def suite_json(suite: Spec) -> str:
    """What ``expectations/<zone>/<table>.json`` holds."""
    return json.dumps(suite_dict(suite), indent=2, sort_keys=True) + "\n"


def build(suite: Spec) -> ExpectationSuite:
    """The GX ``ExpectationSuite`` of ``suite`` (imports Great Expectations)."""
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    payload = suite_dict(suite)
    configurations = [
        ExpectationConfiguration(
            type=item["type"],
            kwargs=item["kwargs"],
            meta=item["meta"],
            description=item["description"],
            id=item["id"],
        )
        for item in payload["expectations"]
    ]
    # All at once: adding them one by one compares each with every one before it (quadratic,
    # about a second for a 60-check suite). The constructor only logs one it cannot take.
    built = ExpectationSuite(
        name=payload["name"], id=payload["id"], meta=payload["meta"], expectations=configurations
    )
    if len(built.expectations) != len(configurations):
        taken = {e.id for e in built.expectations}
        lost = [c.type for c in configurations if c.id not in taken]
        raise ValueError(f"suite {suite.name}: Great Expectations refused {lost}")
    return built


def write_suites(folder: str) -> list[str]:
    """Write every suite under ``folder/<zone>/<table>.json`` and remove suites of tables that
    are gone; the paths written."""
    from pathlib import Path

    root = Path(folder)
    written = []
    wanted = {root / s.zone / f"{s.table}.json": s for s in specs()}
    for zone in ZONES:
        for stale in (root / zone).glob("*.json"):
            if stale not in wanted:
                stale.unlink()
    for path, suite in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(suite_json(suite), encoding="utf-8")
        written.append(str(path))
    return written
