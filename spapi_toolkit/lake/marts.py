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
from spapi_toolkit.lake.tables import (
    _SNAKE,
    CHECKS,
    NUMERIC,
    TYPES,
    Table,
    bounds,
    check_fields,
    check_types,
    tables,
)

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
    allowed: tuple[str, ...] = ()  # the check fields, as for the cleaned tables' columns
    min: float | None = None
    max: float | None = None
    signed: bool = False

    def bounds(self) -> tuple[float | None, float | None]:
        """The range the suites check (``tables.bounds``)."""
        return bounds(self.type, self.min, self.max, self.signed)


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
    # Cleaned tables giving the same figures as from_table, in order of precedence after it: a
    # seller's day that from_table does not hold is built from the first of these that does
    or_from: tuple[str, ...] = ()
    reads: tuple[tuple[str, int], ...] = ()  # (cleaned table, days of history before a period)
    # (mart column, cleaned column): per partition, the mart column's sum equals the cleaned
    # column's sum over the source partition it was built from (checked by the suites)
    totals: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> Table:
        return tables()[self.from_table]

    def column(self, name: str) -> MartColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"mart {self.name} has no column {name!r}")

    @property
    def sources(self) -> tuple[str, ...]:
        """The tables whose partitions make the mart's: ``from_table``, then ``or_from``."""
        return (self.from_table, *self.or_from)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every cleaned table the mart reads: ``sources`` first, then ``reads``."""
        return (*self.sources, *(name for name, _ in self.reads if name not in self.sources))

    def source_partition(self, table: str | None = None) -> dict[str, str]:
        """A source table's partition columns (default ``from_table``'s) -> the mart's (one to
        one, in order)."""
        source = tables()[table or self.from_table]
        return dict(zip(source.partition_by, self.partition_by, strict=True))


def _mart(name: str, spec: dict, known: dict[str, Table]) -> Mart:
    where = f"mart {name!r} in tables.toml"
    spec = dict(spec)
    columns = []
    for column_name, column_spec in spec.pop("columns", {}).items():
        # in_window is for cleaned columns (a mart row has no document, hence no request window)
        unknown = set(column_spec) - ({"type", "doc", *CHECKS} - {"in_window"})
        if unknown:
            raise RegistryError(f"{where} column {column_name!r}: unknown field(s) {unknown}")
        kind = column_spec.get("type", "")
        wrong = check_fields(column_spec) + check_types(kind, column_spec)
        if wrong:
            raise RegistryError(f"{where} column {column_name!r}: " + "; ".join(wrong))
        columns.append(
            MartColumn(
                column_name,
                kind,
                column_spec.get("doc", ""),
                allowed=tuple(column_spec.get("allowed", ())),
                min=column_spec.get("min"),
                max=column_spec.get("max"),
                signed=column_spec.get("signed", False) is True,
            )
        )
    totals = spec.pop("totals", {})
    if not isinstance(totals, dict) or not all(isinstance(v, str) for v in totals.values()):
        raise RegistryError(f"{where}: totals must map mart columns to cleaned column names")
    try:
        mart = Mart(
            name=name,
            columns=tuple(columns),
            key=tuple(spec.pop("key")),
            partition_by=tuple(spec.pop("partition_by")),
            reads=tuple(spec.pop("reads", {}).items()),
            or_from=tuple(spec.pop("or_from", ())),
            totals=tuple(totals.items()),
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
    for field, name in [("from_table", mart.from_table), *(("or_from", n) for n in mart.or_from)]:
        table = known.get(name)
        if table is None or not table.has_contract:
            problems.append(f"{field} {name!r} is not a cleaned table with a contract")
        elif len(table.partition_by) != len(mart.partition_by):
            problems.append(
                f"partition_by {list(mart.partition_by)} does not map one to one onto "
                f"{table.name}'s {list(table.partition_by)}"
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
    types = {c.name: c.type for c in mart.columns}
    if mart.totals and (mart.period != "day" or mart.from_table in dict(mart.reads)):
        problems.append(
            "totals compare one mart partition with one from_table partition: only "
            "a daily mart that does not read its from_table's history can have them"
        )
    for mine, theirs in mart.totals:
        if types.get(mine) not in NUMERIC:
            problems.append(f"totals: {mine!r} is not a numeric column of the mart")
        for name in mart.sources:  # a day's totals are those of the table it was built from
            table = known.get(name)
            if table is None or not table.has_contract:
                continue
            if theirs not in {c.name for c in table.columns}:
                problems.append(f"totals: {table.name} has no column {theirs!r}")
            elif table.column(theirs).type not in NUMERIC:
                problems.append(f"totals: {table.name}.{theirs} is not numeric")
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
