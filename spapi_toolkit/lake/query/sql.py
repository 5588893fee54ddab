"""SQL written once, in Athena's dialect (Trino), and made ready for DuckDB or Athena.

The notebooks' queries live as ``.sql`` files in ``spapi_toolkit/data/queries/`` (``load``).
They name tables by zone, ``cleaned.order_items`` or ``aggregated.sales_daily``: DuckDB has a
schema per zone (``catalog.duckdb_views``); on Athena the zone is replaced by the Glue database
that holds it. Parameters are written ``:name`` and always bound, never formatted into the
text: DuckDB binds them by name (``$name``); Athena gets them as execution parameters (``?``,
one literal per occurrence, substituted by Athena itself).

``partition_gaps`` is the check that keeps Athena's bill small: every read of a mart must filter
on the mart's date partition column, or Athena scans every partition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.layout import AGGREGATED, CLEANED
from spapi_toolkit.lake.marts import marts

DIALECT = "trino"  # Athena engine 3
ZONES = (CLEANED, AGGREGATED)
QUERIES = "data/queries"
_MARKER = re.compile(r":(spapi_parameter_\d+_)")
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")
_TOKEN = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: .*?>")


class QueryError(SpApiToolkitError):
    """A query cannot be run as given: its SQL does not parse, or its parameters do not match
    (the message names the query and what is wrong)."""


@dataclass(frozen=True)
class Query:
    """One named query: its SQL (Trino) and where it came from."""

    name: str
    text: str

    @property
    def description(self) -> str:
        """The query's leading ``--`` comment lines: what it answers."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line.removeprefix("--").strip())
        return " ".join(lines).strip()


def names() -> list[str]:
    """The named queries shipped with the package, sorted."""
    folder = resources.files("spapi_toolkit").joinpath(QUERIES)
    return sorted(f.name.removesuffix(".sql") for f in folder.iterdir() if f.name.endswith(".sql"))


def load(name: str) -> Query:
    """The named query ``name`` (a file ``<name>.sql`` of the package's queries)."""
    known = names()
    if name not in known:
        raise QueryError(f"no query named {name!r}; the package has: {', '.join(known)}")
    path = resources.files("spapi_toolkit").joinpath(f"{QUERIES}/{name}.sql")
    return Query(name, path.read_text("utf-8"))


def parse(text: str, where: str = "the query") -> exp.Expr:
    """``text`` parsed as one Trino statement; a syntax error names ``where`` and the spot."""
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"{where} is not valid Athena (Trino) SQL: {_plain(exc)}") from None
    if len(statements) != 1:
        raise QueryError(f"{where} must be one statement, not {len(statements)}")
    return statements[0]


def _plain(error: sqlglot.errors.ParseError) -> str:
    """sqlglot's first parse error in words, with where it is: its own message underlines the
    spot with terminal codes and quotes tokens as Python objects."""
    if not error.errors:
        return _TERMINAL_STYLE.sub("", str(error))
    first = error.errors[0]
    what = _TOKEN.sub(r"'\1'", str(first.get("description", "a syntax error")))
    spot = f"{first.get('start_context', '')}>>>{first.get('highlight', '')}<<<"
    return f"{what}, at line {first.get('line')}, column {first.get('col')}: {spot.strip()}"


def parameters(tree: exp.Expr) -> list[str]:
    """The names of the ``:name`` parameters, in the order they occur (repeats included)."""
    found = []
    for placeholder in tree.find_all(exp.Placeholder):
        if placeholder.name in ("", "?"):
            raise QueryError("write parameters as :name, not ?: they are bound by name")
        found.append(placeholder.name)
    return found


def _bound(tree: exp.Expr, params: Mapping[str, Any], where: str) -> list[str]:
    wanted = parameters(tree)
    missing = sorted(set(wanted) - set(params))
    unused = sorted(set(params) - set(wanted))
    if missing or unused:
        problems = [f"missing {missing}" if missing else "", f"unknown {unused}" if unused else ""]
        raise QueryError(f"{where}: parameters " + "; ".join(p for p in problems if p))
    return wanted


def for_duckdb(text: str, params: Mapping[str, Any], where: str = "the query") -> str:
    """The query in DuckDB's dialect, its parameters ``$name`` (bind ``params`` by name)."""
    tree = parse(text, where)
    _bound(tree, params, where)
    return tree.sql(dialect="duckdb")


def for_athena(
    text: str, params: Mapping[str, Any], databases: Mapping[str, str], where: str = "the query"
) -> tuple[str, list[str]]:
    """The query for Athena: each zone replaced by its Glue database (``databases``: zone ->
    database), each parameter by ``?``; and the execution parameters, one Trino literal per
    ``?`` in order."""
    tree = parse(text, where)
    order = _bound(tree, params, where)
    for table in tree.find_all(exp.Table):
        if table.db in ZONES:
            if table.db not in databases:
                raise QueryError(f"{where} reads the {table.db} zone; no Glue database given")
            table.set("db", exp.to_identifier(databases[table.db]))
    # Each parameter gets a marker, so the values follow the ?s in the order the SQL text has
    # them (a tree walk's order is not always the text's: LIMIT, ORDER BY, CTEs).
    marked = {}
    for number, placeholder in enumerate(list(tree.find_all(exp.Placeholder))):
        marker = f"spapi_parameter_{number}_"
        marked[marker] = placeholder.name
        placeholder.replace(exp.Placeholder(this=marker))
    sql = tree.sql(dialect=DIALECT)
    found = _MARKER.findall(sql)
    if sorted(found) != sorted(marked) or len(order) != len(found):
        raise QueryError(f"{where}: its parameters could not be placed for Athena")
    return _MARKER.sub("?", sql), [literal(params[marked[marker]]) for marker in found]


def literal(value: Any) -> str:
    """``value`` as a Trino literal, the form Athena's execution parameters take."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S.%f}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Sequence):
        return "ARRAY[" + ", ".join(literal(v) for v in value) + "]"
    raise QueryError(f"cannot bind a {type(value).__name__} as a query parameter: {value!r}")


def partition_gaps(tree: exp.Expr) -> list[str]:
    """Every read of a mart that does not filter on the mart's date partition column in the
    WHERE of the SELECT that reads it (so Athena would scan all of the mart)."""
    contracts = marts()
    gaps = []
    for scope in traverse_scope(tree):
        where = scope.expression.args.get("where")
        filtered = {
            (column.table, column.name) for column in (where.find_all(exp.Column) if where else [])
        }
        for alias, source in scope.selected_sources.items():
            table = source[1] if isinstance(source, tuple) else source
            if not isinstance(table, exp.Table) or table.db != AGGREGATED:
                continue
            if table.name not in contracts:
                gaps.append(f"{AGGREGATED}.{table.name} is not a mart")
                continue
            day = contracts[table.name].partition_by[-1]
            if (alias, day) not in filtered and ("", day) not in filtered:
                gaps.append(f"{AGGREGATED}.{table.name} is read without a filter on {day}")
    return gaps
