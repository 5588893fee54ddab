"""The aggregated zone's marts: what each is built from, its grain, and what every column means.

The contracts are the ``[marts.*]`` sections of ``data/tables.toml`` (the file of the cleaned
tables, so the two zones have one source of truth; the field notes are above the section). This
module loads them into ``Mart`` objects and checks them once: a mart built from (or reading) a
table without a contract, a key or partition column it does not declare, a column without a doc,
partitions that do not map one to one onto its source's, an unknown period, or a read table not
partitioned by day fail at load.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from spapi_toolkit.lake.registry import RegistryError
from spapi_toolkit.lake.tables import _SNAKE, TYPES, Table, tables

ZONE = "aggregated"
PERIODS = {
    "day": "the source partition's day",
    "week": "the Sunday the day's week starts (Amazon's Brand Analytics weeks)",
    "month": "the first day of the day's month",
}


@dataclass(frozen=True)
class MartColumn:
    """One mart column: its type (as for the cleaned tables) and what it means."""

    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class Mart:
    """One mart's contract (see the field notes of the marts section in ``data/tables.toml``)."""

    name: str
    description: str
    from_table: str
    day_boundary: str
    key: tuple[str, ...]
    partition_by: tuple[str, ...]
    columns: tuple[MartColumn, ...]
    period: str = "day"
    reads: tuple[tuple[str, int], ...] = ()  # (cleaned table, days of history before a period)

    @property
    def source(self) -> Table:
        return tables()[self.from_table]

    def column(self, name: str) -> MartColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"mart {self.name} has no column {name!r}")

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every cleaned table the mart reads: ``from_table`` first, then ``reads``."""
        return (self.from_table, *(name for name, _ in self.reads if name != self.from_table))

    def source_partition(self) -> dict[str, str]:
        """The source table's partition columns -> the mart's (one to one, in order)."""
        return dict(zip(self.source.partition_by, self.partition_by, strict=True))


def _mart(name: str, spec: dict, known: dict[str, Table]) -> Mart:
    where = f"mart {name!r} in tables.toml"
    spec = dict(spec)
    columns = []
    for column_name, column_spec in spec.pop("columns", {}).items():
        unknown = set(column_spec) - {"type", "doc"}
        if unknown:
            raise RegistryError(f"{where} column {column_name!r}: unknown field(s) {unknown}")
        columns.append(
            MartColumn(column_name, column_spec.get("type", ""), column_spec.get("doc", ""))
        )
    try:
        mart = Mart(
            name=name,
            columns=tuple(columns),
            key=tuple(spec.pop("key")),
            partition_by=tuple(spec.pop("partition_by")),
            reads=tuple(spec.pop("reads", {}).items()),
            **spec,
        )
    except (TypeError, KeyError) as exc:
        raise RegistryError(f"{where}: {exc}") from None
    problems = []
    names = {c.name for c in mart.columns}
    for column in mart.columns:
        if not _SNAKE.fullmatch(column.name):
            problems.append(f"{column.name}: the name is not snake_case")
        if column.type not in TYPES:
            problems.append(f"{column.name}: type {column.type!r} is not one of {TYPES}")
        if not column.doc.strip():
            problems.append(f"{column.name}: every mart column needs a doc")
    for listed, what in ((mart.key, "key"), (mart.partition_by, "partition_by")):
        missing = [c for c in listed if c not in names]
        if missing:
            problems.append(f"{what} names undeclared columns {missing}")
    source = known.get(mart.from_table)
    if source is None or not source.has_contract:
        problems.append(f"from_table {mart.from_table!r} is not a cleaned table with a contract")
    elif len(source.partition_by) != len(mart.partition_by):
        problems.append(
            f"partition_by {list(mart.partition_by)} does not map one to one onto "
            f"{source.name}'s {list(source.partition_by)}"
        )
    if mart.period not in PERIODS:
        problems.append(f"period {mart.period!r} is not one of {sorted(PERIODS)}")
    for read, days in mart.reads:
        other = known.get(read)
        if other is None or not other.has_contract:
            problems.append(f"reads {read!r}: not a cleaned table with a contract")
        elif not _dated(other):
            problems.append(f"reads {read!r}: its last partition column is not a date")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            problems.append(f"reads {read!r}: the days of history must be a whole number >= 0")
    if not mart.day_boundary.strip():
        problems.append("day_boundary must say which calendar day a row's date is")
    if problems:
        raise RegistryError(f"{where}: " + "; ".join(problems))
    return mart


def _dated(table: Table) -> bool:
    return bool(table.partition_by) and table.column(table.partition_by[-1]).type == "date"


def _load(text: str, known: dict[str, Table] | None = None) -> dict[str, Mart]:
    specs = tomllib.loads(text).get("marts", {})
    cleaned = tables() if known is None else known
    return {name: _mart(name, spec, cleaned) for name, spec in specs.items()}


@cache
def marts() -> dict[str, Mart]:
    """Every mart, by name, in the order of the contracts file."""
    text = resources.files("spapi_toolkit").joinpath("data/tables.toml").read_text("utf-8")
    return _load(text)


def mart(name: str) -> Mart:
    """The mart called ``name``; the error lists the valid names otherwise."""
    try:
        return marts()[name]
    except KeyError:
        known = ", ".join(marts())
        raise RegistryError(f"unknown mart {name!r}; the contracts have: {known}") from None
