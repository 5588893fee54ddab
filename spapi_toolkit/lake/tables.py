"""The cleaned tables' contracts: what each column is, where it comes from, and what is personal.

The contracts are data (``data/tables.toml``, its field notes at the top); this module loads them
into ``Table`` objects and checks them once, so a contract naming a type that does not exist, a
key column it does not declare, or a dataset feeding a table nobody declared fails at import.
The curation jobs, the expectation suites, the catalog registration and the landing checks
(a flat file must carry the raw columns its table's key comes from) all read it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from spapi_toolkit.lake.registry import RegistryError, registry

MONEY = "decimal(18,2)"
# Each contract type and the SQL type its values are stored as: Spark's casts, the Parquet files,
# the Glue catalog and DuckDB all use these names.
STORED_TYPES = {
    "string": "string",
    "int": "bigint",
    "decimal": MONEY,
    "fraction": "double",
    "double": "double",
    "timestamp": "timestamp",
    "date": "date",
    "bool": "boolean",
}
TYPES = tuple(STORED_TYPES)
PII_ACTIONS = ("drop", "hash", "restrict")
REQUEST_SOURCES = ("@marketplace_id", "@window_start", "@snapshot_date", "@watched",
                   "@watched_from", "@watched_detail")  # fmt: skip
ROWS_SOURCE = "@rows"  # (JSON lines with rows) the first field of the rows path a row came by
LINEAGE = ("raw_key", "report_id", "document_id", "ingested_at")
EXTRA = "extra"
_SNAKE = re.compile(r"[a-z][a-z0-9_]*")
# The optional check fields of a column (tables and marts): what the expectation suites check
# beyond what the type says (see the field notes of tables.toml).
CHECKS = ("allowed", "min", "max", "signed", "in_window")
NUMERIC = ("int", "decimal", "fraction", "double")


def bounds(
    kind: str, low: float | None, high: float | None, signed: bool
) -> tuple[float | None, float | None]:
    """The range a column of type ``kind`` is checked against: the contract's ``min``/``max``
    when given, else what the type implies (money at least 0 unless ``signed``, a fraction in
    [0, 1]); None for no bound on that side."""
    if kind == "decimal" and low is None and not signed:
        low = 0
    if kind == "fraction":
        low = 0 if low is None else low
        high = 1 if high is None else high
    unbounded = (float("-inf"), float("inf"))
    return (None if low in unbounded else low), (None if high in unbounded else high)


def check_fields(spec: dict) -> list[str]:
    """What is wrong with a column's check fields, on their own (types are checked apart)."""
    problems = []
    allowed = spec.get("allowed")
    if allowed is not None and (
        not isinstance(allowed, list) or not allowed or not all(isinstance(v, str) for v in allowed)
    ):
        problems.append("allowed must be a non-empty list of strings")
    for name in ("min", "max"):
        value = spec.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{name} must be a number")
    for name in ("signed", "in_window"):
        if not isinstance(spec.get(name, False), bool):
            problems.append(f"{name} must be true or false")
    low, high = spec.get("min"), spec.get("max")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        problems.append(f"min {low} is above max {high}")
    return problems


def check_types(kind: str, spec: dict) -> list[str]:
    """Whether the check fields fit the column's type ``kind``."""
    problems = []
    if "allowed" in spec and kind != "string":
        problems.append("allowed is for string columns")
    if ("min" in spec or "max" in spec) and kind not in NUMERIC:
        problems.append(f"min and max are for {'/'.join(NUMERIC)} columns")
    if spec.get("signed") and kind != "decimal":
        problems.append("signed is for decimal (money) columns")
    if spec.get("signed") and "min" in spec:
        problems.append("signed and min contradict each other: give one")
    return problems


@dataclass(frozen=True)
class Column:
    """One cleaned column and where its value comes from."""

    name: str
    type: str
    source: str | None = None  # a raw column, a dotted JSON path, "@rows" or a request field
    local_date_of: str | None = None  # derived: the local date of this timestamp column
    required: bool = False
    pii: str | None = None
    doc: str = ""
    allowed: tuple[str, ...] = ()  # the only values it may take (empty: any)
    min: float | None = None  # bounds checked by the expectation suites (see bounds())
    max: float | None = None
    signed: bool = False  # money that may be negative (refunds, adjustments)
    in_window: bool = False  # a date that must lie inside its document's request window

    def bounds(self) -> tuple[float | None, float | None]:
        """The range the suites check (see ``bounds``)."""
        return bounds(self.type, self.min, self.max, self.signed)

    @property
    def from_request(self) -> bool:
        """The value comes from the request (the manifest), not the document."""
        return bool(self.source and self.source.startswith("@") and self.source != ROWS_SOURCE)

    @property
    def from_document(self) -> bool:
        return self.source is not None and not self.from_request


@dataclass(frozen=True)
class Table:
    """One cleaned table's contract (see the field notes in ``data/tables.toml``)."""

    name: str
    description: str
    key: tuple[str, ...]
    partition_by: tuple[str, ...]
    columns: tuple[Column, ...] = ()
    rows: str | None = None
    newest: str | None = None
    datasets: tuple[str, ...] = field(default=())  # the registry datasets that feed it

    @property
    def has_contract(self) -> bool:
        return bool(self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name} has no column {name!r}")

    @property
    def published(self) -> tuple[Column, ...]:
        """The columns the cleaned table holds: all but those whose PII action is ``drop``."""
        return tuple(c for c in self.columns if c.pii != "drop")

    @property
    def required(self) -> tuple[str, ...]:
        """Columns without which a row is quarantined: the key and those marked required."""
        marked = [c.name for c in self.columns if c.required and c.name not in self.key]
        return (*self.key, *marked)

    def shape(self) -> dict[str, Any]:
        """What decides the stored rows: the key, the newest rule, the rows path, the partitions
        and each column's name, type, source (or local date), required flag and PII action.
        Docs and checks are left out: changing them changes no row. The curation state
        records it, so a table whose shape changed is rebuilt from raw rather than left with
        files of two shapes."""
        return {
            "key": list(self.key),
            "newest": self.newest,
            "partition_by": list(self.partition_by),
            "rows": self.rows,
            "columns": [
                [c.name, c.type, c.source, c.local_date_of, c.required, c.pii] for c in self.columns
            ],
        }

    def raw_key_columns(self) -> tuple[str, ...]:
        """The raw columns (flat files) the key comes from: a document without them is bad."""
        return tuple(
            column.source
            for column in self.columns
            if column.name in self.key and column.from_document and column.source
        )


def _column(table: str, name: str, spec: dict) -> Column:
    where = f"table {table!r} column {name!r} in tables.toml"
    unknown = set(spec) - {"from", "local_date_of", "type", "required", "pii", "doc", *CHECKS}
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    problems = check_fields(spec)
    column = Column(
        name=name,
        type=spec.get("type", ""),
        source=spec.get("from"),
        local_date_of=spec.get("local_date_of"),
        required=bool(spec.get("required", False)),
        pii=spec.get("pii"),
        doc=spec.get("doc", ""),
        allowed=tuple(spec.get("allowed", ())),
        min=spec.get("min"),
        max=spec.get("max"),
        signed=spec.get("signed", False) is True,
        in_window=spec.get("in_window", False) is True,
    )
    if not _SNAKE.fullmatch(name):
        problems.append("the name is not snake_case")
    if column.type not in TYPES:
        problems.append(f"type {column.type!r} is not one of {TYPES}")
    if (column.source is None) == (column.local_date_of is None):
        problems.append("it needs exactly one of from and local_date_of")
    if column.from_request and column.source not in REQUEST_SOURCES:
        problems.append(f"{column.source!r} is not one of {REQUEST_SOURCES}")
    if column.pii is not None and column.pii not in PII_ACTIONS:
        problems.append(f"pii {column.pii!r} is not one of {PII_ACTIONS}")
    problems += check_types(column.type, spec)
    if column.in_window and (column.type != "date" or not column.from_document):
        problems.append("in_window needs a date read from the document (request dates are in it)")
    if problems:
        raise RegistryError(f"{where}: " + "; ".join(problems))
    return column


def _table(name: str, spec: dict, datasets: tuple[str, ...]) -> Table:
    spec = dict(spec)
    columns = tuple(_column(name, c, s) for c, s in spec.pop("columns", {}).items())
    try:
        table = Table(
            name=name,
            columns=columns,
            datasets=datasets,
            key=tuple(spec.pop("key")),
            partition_by=tuple(spec.pop("partition_by")),
            **spec,
        )
    except (TypeError, KeyError) as exc:
        raise RegistryError(f"table {name!r} in tables.toml: {exc}") from None
    if table.has_contract:
        _check(table)
    return table


def _check(table: Table) -> None:
    names = {c.name for c in table.columns}
    problems = []
    for listed, what in ((table.key, "key"), (table.partition_by, "partition_by")):
        missing = [c for c in listed if c not in names]
        if missing:
            problems.append(f"{what} names undeclared columns {missing}")
    if table.newest and table.newest not in names:
        problems.append(f"newest names an undeclared column {table.newest!r}")
    for column in table.columns:
        if column.local_date_of:
            base = next((c for c in table.columns if c.name == column.local_date_of), None)
            if base is None or base.type != "timestamp":
                problems.append(f"{column.name}: local_date_of must name a timestamp column")
        if column.name in (*LINEAGE, EXTRA):
            problems.append(f"{column.name} is a lineage column every table gets")
    why = [c.name for c in table.columns if c.source in ("@watched_from", "@watched_detail")]
    if why and "asin" not in names:
        problems.append(f"{why} are found by each row's asin: the table needs an asin column")
    dropped_keys = [c.name for c in table.columns if c.pii == "drop" and c.name in table.key]
    if dropped_keys:
        problems.append(f"key columns cannot be dropped: {dropped_keys}")
    if problems:
        raise RegistryError(f"table {table.name!r} in tables.toml: " + "; ".join(problems))


def _load(text: str, feeders: dict[str, list[str]] | None = None) -> dict[str, Table]:
    """The tables of ``text``; ``feeders`` (table -> datasets) defaults to the registry's."""
    specs = tomllib.loads(text).get("tables", {})
    if feeders is None:
        feeders = {}
        for dataset in registry().values():
            feeders.setdefault(dataset.cleaned_table, []).append(dataset.name)
    orphans = sorted(set(feeders) - set(specs))
    if orphans:
        raise RegistryError(f"datasets.toml names tables tables.toml does not declare: {orphans}")
    return {name: _table(name, spec, tuple(feeders.get(name, ()))) for name, spec in specs.items()}


@cache
def tables() -> dict[str, Table]:
    """Every cleaned table, by name, in the order of the contracts file."""
    text = resources.files("spapi_toolkit").joinpath("data/tables.toml").read_text("utf-8")
    return _load(text)


def table(name: str) -> Table:
    """The table called ``name``; the error lists the valid names otherwise."""
    try:
        return tables()[name]
    except KeyError:
        known = ", ".join(tables())
        raise RegistryError(f"unknown table {name!r}; the contracts have: {known}") from None


def table_of(dataset_name: str) -> Table:
    """The table the dataset ``dataset_name`` feeds."""
    return table(registry()[dataset_name].cleaned_table)
