"""The landed documents of a table, read into one Spark frame of strings.

Only objects with a manifest are read (an object without one never finished landing), and each
as its manifest describes it: its bytes are read once, checked against the manifest's size and
sha256 while they are read, decompressed and decoded with the manifest's encoding
(``documents``, in Spark's Python workers). A document that fails is refused whole: one row in
the frame with its ``REFUSED`` reason and no other values, which the job takes out and names.
Every value is read as the text the document holds, typed later by ``staging`` against the
table's contract, so a value that does not fit its type is a row to quarantine with a reason,
never a silently null cell. Schemas are explicit: nothing is inferred. Each row carries its
number in its document (``ROW``), and a row that cannot be read its ``MALFORMED`` reason.

* Flat files: each document's own header names its columns, and columns the contract does not
  know go to ``extra`` (a map), so a column Amazon adds without notice is kept, not a crash; a
  document whose header lacks a column the table requires is refused. Amazon's are
  tab-separated without quoting; reference files (``csv``) are RFC 4180 CSV (quoted fields).
* JSON documents (reports): the contract's ``rows`` array exploded, a row per element.
* JSON lines (API snapshots, Data Kiosk): one line per row, as Amazon returned the item; or,
  where the contract names ``rows``, the elements of an array inside each line, a row each
  (a financial event's items). ``rows`` may name alternatives, ``A | B``: a line's rows are
  those of the first of them it holds, and a line holding none has no rows of this table.
  There a column may read the object holding the array (the item's event) by a path starting
  with ``^`` (``^PostedDate``), and ``@rows`` is the first field of the alternative the row came
  by (``RefundEventList``). Such rows are numbered by their line.

JSON paths are dotted; a step into an array says which element it takes: ``name[0]`` (by
position) or ``name[field=value]`` (the first element whose ``field`` reads ``value``), e.g.
``Offers[MyOffer=true].ListingPrice.Amount``. An element that is not there gives an empty value.
Some values are about a whole array, not one element (an order's units are the sum over its
items): ``count(P)``, ``sum(P)`` and ``has(P, value)`` read every element of the one ``name[*]``
step of their path ``P`` (``count(issues[*])``, ``sum(orderItems[*].quantityOrdered)``,
``has(programs[*], PRIME)``); an array Amazon leaves out counts as empty (count 0, has false,
sum empty). ``A | B`` reads ``A``, else ``B`` when ``A`` is empty.

The frame has one string column per contract column that comes from the document or the request,
plus ``seller_id``, the lineage columns (``raw_key``, ``report_id``, ``document_id``,
``ingested_at``), ``ROW``, ``MALFORMED`` and ``REFUSED``.

A document is read whole into one Python worker's memory (its bytes, then its text): a report
of several GB needs an executor that large.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.documents import (
    FLAT_FORMATS,
    MALFORMED,
    REFUSED,
    ROW,
    TEXT,
    Layout,
    ddl,
    reader,
    size_differs,
)
from spapi_toolkit.lake.landing import LandingError, Manifest
from spapi_toolkit.lake.layout import is_manifest, object_key, raw_partition, raw_prefix
from spapi_toolkit.lake.storage import Lake, ObjectNotFound
from spapi_toolkit.lake.tables import ROWS_SOURCE, Column, Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_CORRUPT = "_corrupt"  # Spark's corrupt-record field: the text of what it could not parse or fit
RAW_KEY = r"(raw/.*)$"  # the lake key inside the file URI Spark reports
GONE = "its manifest is there, its object is not (deleted or expired after landing)"


class SourceError(ValueError):
    """A table's documents cannot be read (names the table and why)."""


@dataclass(frozen=True)
class RawDocument:
    """One landed document, as its manifest and key describe it."""

    key: str
    dataset: str
    format: str
    seller_id: str
    marketplace_id: str
    dt: str  # the request window's first day, or the snapshot's day
    encoding: str | None
    sha256: str
    report_id: str | None
    document_id: str | None
    ingested_at: str
    window: tuple[str, str] | None = None  # the request's first and last day (request_window)
    size: int = -1  # the bytes the manifest counted
    problem: str | None = None  # why it cannot be read at all, known before reading it
    # (watchlist_* datasets) each ASIN asked about: (asin, where it came from, its detail)
    watched: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def unreadable(cls, key: str, fmt: str, problem: str) -> RawDocument:
        """A document whose manifest cannot be read: what its key says of it."""
        part = raw_partition(key)
        return cls(key=key, dataset=part.get("dataset", ""), format=fmt,
                   seller_id=part.get("seller_id", ""),
                   marketplace_id=part.get("marketplace_id", ""), dt=part.get("dt", ""),
                   encoding=None, sha256="", report_id=None, document_id=None, ingested_at="",
                   problem=problem)  # fmt: skip

    @classmethod
    def from_manifest(cls, manifest: Manifest, fmt: str) -> RawDocument:
        part = raw_partition(manifest.key)
        return cls(
            key=manifest.key,
            dataset=manifest.dataset,
            format=fmt,
            seller_id=manifest.seller_id,
            marketplace_id=part["marketplace_id"],
            dt=part["dt"],
            encoding=manifest.encoding,
            sha256=manifest.sha256,
            report_id=manifest.report_id,
            document_id=manifest.document_id,
            ingested_at=manifest.retrieved_at,
            window=request_window(manifest.request, part["dt"], part["marketplace_id"]),
            size=manifest.bytes,
            watched=_watched(manifest.request),
        )


def _watched(request: dict) -> tuple[tuple[str, str, str], ...]:
    """A watchlist request's ASINs with where each came from (``request.watched``)."""
    return tuple((str(a), str(source), str(detail))
                 for a, source, detail in request.get("watched") or [])  # fmt: skip


def request_window(request: dict, dt: str, marketplace_id: str) -> tuple[str, str]:
    """The days a document's request asked for, first and last, read widely: a report asks
    with UTC times (``dataStartTime``/``dataEndTime``) that some reports mean as marketplace
    days and others as instants, so each bound is the widest of the date as written and the
    marketplace-local date; Data Kiosk asks with dates (``data_start``/``data_end``); a snapshot
    is its day (``dt``). The expectation suites' ``in_window`` rule checks dates against it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from spapi_toolkit.regions import marketplaces

    known = marketplaces().get(marketplace_id)
    zone = ZoneInfo(known.timezone) if known else None

    def readings(text: str) -> list[str]:
        days = [text[:10]]
        if "T" in text and zone is not None:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
            days.append(instant.astimezone(zone).date().isoformat())
        return days

    start = request.get("dataStartTime") or request.get("data_start")
    end = request.get("dataEndTime") or request.get("data_end")
    first = min([dt, *readings(start)]) if isinstance(start, str) else dt
    last = max([dt, *readings(end)]) if isinstance(end, str) else dt
    return first, last


def windows(documents: Sequence[RawDocument]) -> dict[str, tuple[str, str]]:
    """Each document's request window (first and last day) by raw key, for the gate's
    ``in_window`` checks; snapshots, which have none, are left out."""
    return {d.key: d.window for d in documents if d.window is not None}


def raw_documents(lake: Lake, table: Table) -> list[RawDocument]:
    """Every landed document of the datasets that feed ``table``, oldest pull first, each with
    its ``problem`` when what its manifest and the listing say already shows it cannot be read
    (``describe``)."""
    from spapi_toolkit.lake.registry import dataset

    found = []
    for name in table.datasets:
        fmt = dataset(name).format
        listed = lake.sizes(raw_prefix(name))
        found += [describe(lake, key, listed, fmt) for key in listed if is_manifest(key)]
    return sorted(found, key=lambda d: (d.ingested_at, d.key))


def describe(lake: Lake, manifest_key: str, listed: dict[str, int], fmt: str) -> RawDocument:
    """The document beside ``manifest_key`` as its manifest describes it. Its ``problem``: the
    manifest cannot be read or names another object, the object is gone, its size in the
    listing (``listed``) is not the manifest's, or it is empty (landing keeps no empty document)."""
    key = object_key(manifest_key)
    try:
        manifest = Manifest.from_json(lake.read_bytes(manifest_key))
    except (LandingError, ObjectNotFound) as exc:
        return RawDocument.unreadable(key, fmt, f"its manifest cannot be read: {exc}")
    document = RawDocument.from_manifest(manifest, fmt)
    if manifest.key != key:
        problem = f"its manifest describes another object, {manifest.key}"
    elif key not in listed:
        problem = GONE
    elif listed[key] != manifest.bytes:
        problem = size_differs(listed[key], manifest.bytes)
    elif manifest.bytes == 0:
        problem = "empty document (0 bytes)"
    else:
        return document
    return replace(document, key=key, problem=problem)


def read(
    spark: SparkSession, lake: Lake, table: Table, documents: list[RawDocument]
) -> DataFrame | None:
    """The rows of ``documents`` as strings, with seller and lineage (see the module doc);
    None when there are no documents. Refused documents are rows too (``refused`` names them).
    No document may have a ``problem``."""
    readers = {"tsv": _read_flat, "csv": _read_flat, "json": _read_json, "jsonl": _read_jsonl}
    unsupported = sorted({d.format for d in documents} - set(readers))
    if unsupported:
        raise SourceError(f"table {table.name}: curation does not read {unsupported} documents yet")
    frames = []
    for fmt in sorted({d.format for d in documents}):
        frames.append(readers[fmt](spark, lake, table, [d for d in documents if d.format == fmt]))
    if not frames:
        return None
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame, allowMissingColumns=True)
    return _with_request(spark, rows, table, documents)


def refused(rows: DataFrame) -> dict[str, str]:
    """The documents of ``rows`` (from ``read``) that were refused: raw key -> why. An action:
    run it on a persisted frame."""
    from pyspark.sql import functions as F

    found = rows.where(F.col(REFUSED).isNotNull()).select("raw_key", REFUSED).collect()
    return {row.raw_key: row[REFUSED] for row in found}


def _with_request(
    spark: SparkSession, rows: DataFrame, table: Table, documents: list[RawDocument]
) -> DataFrame:
    """Join each row to its document's manifest: seller, request columns and lineage; and, for
    a table with ``@watched_from``/``@watched_detail`` columns, each row's ``asin`` to where its
    request's watchlist found it."""
    from pyspark.sql import functions as F

    from spapi_toolkit.lake.registry import dataset

    watched = {d.dataset: str(dataset(d.dataset).driven_by == "watchlist").lower()
               for d in documents}  # fmt: skip
    rows_of = [
        (d.key, d.seller_id, d.marketplace_id, d.dt, watched[d.dataset], d.report_id,
         d.document_id, d.ingested_at)
        for d in documents
    ]  # fmt: skip
    meta = spark.createDataFrame(
        rows_of,
        "raw_key string, seller_id string, _marketplace_id string, _dt string, _watched string, "
        "report_id string, document_id string, ingested_at string",
    )
    joined = rows.join(F.broadcast(meta), on="raw_key", how="inner")
    request = {
        "@marketplace_id": "_marketplace_id",
        "@window_start": "_dt",
        "@snapshot_date": "_dt",
        "@watched": "_watched",
        "@watched_from": "_watched_from",
        "@watched_detail": "_watched_detail",
    }
    sources = {str(c.source) for c in table.columns if c.from_request}
    if sources & {"@watched_from", "@watched_detail"}:
        found = {(d.key, asin): (source, detail) for d in documents
                 for asin, source, detail in d.watched}  # fmt: skip
        why = spark.createDataFrame(
            [(key, asin, source, detail) for (key, asin), (source, detail) in found.items()],
            "_why_key string, _why_asin string, _watched_from string, _watched_detail string",
        )
        on = (F.col("raw_key") == F.col("_why_key")) & (F.col("asin") == F.col("_why_asin"))
        joined = joined.join(F.broadcast(why), on=on, how="left").drop("_why_key", "_why_asin")
    from_request = {c.name: F.col(request[str(c.source)]) for c in table.columns if c.from_request}
    return joined.withColumns(from_request).drop(*set(request.values()))


def _document_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if c.from_document]


# ---- flat files ----------------------------------------------------------------------------


def _read_flat(spark: SparkSession, lake: Lake, table: Table, docs: list[RawDocument]) -> DataFrame:
    """Flat files of one format (tsv or csv): the contract's columns, ``extra`` and
    ``MALFORMED`` as ``documents.flat_rows`` cuts them."""
    return _cut(spark, lake, table, docs, docs[0].format)


def _layout(table: Table, fmt: str) -> Layout:
    """What ``documents.reader`` needs of ``table`` for documents of ``fmt``."""
    if fmt not in FLAT_FORMATS:
        return Layout(fmt)
    columns = _document_columns(table)
    required = [str(c.source) for c in columns if c.name in table.required]
    return Layout(fmt, tuple((c.name, str(c.source)) for c in columns), tuple(required))


# ---- JSON reports and JSON lines -----------------------------------------------------------

_STEP = re.compile(r"([^.\[\]=]+)(?:\[(?:(\d+)|(\*)|([^.\[\]=]+)=([^\[\]]+))\])?")
_FUNCTION = re.compile(r"(count|sum|has)\((.*)\)")
FUNCTIONS = ("count", "sum", "has")
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_SUM_TYPE = "decimal(38,6)"


@dataclass(frozen=True)
class Step:
    """One step of a JSON path: a field, and for an array the element it takes (a position,
    or the first element whose ``where`` field reads ``equals``), or every element."""

    name: str
    index: int | None = None
    where: str | None = None
    equals: str | None = None
    every: bool = False

    @property
    def array(self) -> bool:
        return self.index is not None or self.where is not None or self.every


@dataclass(frozen=True)
class Term:
    """One way a column's value is read: a path, or a function of the array a path reaches
    (``count``, ``sum``, ``has`` with the value it looks for)."""

    path: tuple[Step, ...]
    function: str | None = None
    argument: str | None = None
    parent: bool = False  # read in the object holding a JSON line's rows array (``^``)


def steps(table: Table, path: str) -> list[Step]:
    """The steps of a dotted JSON path (the module doc); SourceError names a malformed one."""
    parsed = []
    for part in path.split("."):
        match = _STEP.fullmatch(part)
        if match is None:
            raise SourceError(f"table {table.name}: {path!r} is not a JSON path (at {part!r})")
        name, index, every, where, equals = match.groups()
        index_value = None if index is None else int(index)
        parsed.append(Step(name, index_value, where, equals, every=every is not None))
    return parsed


def terms(table: Table, source: str) -> list[Term]:
    """The alternatives of a column's ``from`` (the module doc), each checked: ``[*]`` once,
    inside a function only, and ending the path of a ``count``."""
    found = []
    for text in (part.strip() for part in source.split(" | ")):
        function, argument = None, None
        parent = text.startswith("^")
        text = text.removeprefix("^")
        call = _FUNCTION.fullmatch(text)
        if call is not None:
            function, inner = call.groups()
            if function == "has":
                inner, _, argument = inner.partition(",")
                argument = argument.strip()
                if not argument:
                    raise SourceError(f"table {table.name}: {text!r} needs has(path, value)")
            text = inner.strip()
        path = tuple(steps(table, text))
        spread = [i for i, step in enumerate(path) if step.every]
        if function is None and spread:
            raise SourceError(
                f"table {table.name}: {text!r} reads every element ([*]) outside "
                f"{', '.join(FUNCTIONS)}"
            )
        if function is not None and len(spread) != 1:
            raise SourceError(f"table {table.name}: {function}({text}) needs one [*] step")
        if function == "count" and spread != [len(path) - 1]:
            raise SourceError(f"table {table.name}: count({text}) must end at its [*] step")
        found.append(Term(path, function, argument, parent))
    if len({term.parent for term in found}) > 1:
        raise SourceError(
            f"table {table.name}: {source!r} reads both the row and its parent (^): pick one"
        )
    return found


def reads_parent(table: Table, column: Column) -> bool:
    """``column`` reads the object holding its row's array (``^``), not the row."""
    return column.source != ROWS_SOURCE and terms(table, str(column.source))[0].parent


def _element_columns(table: Table) -> list[Column]:
    """The document columns read from the row itself (not ``@rows``, not its parent)."""
    return [
        c
        for c in _document_columns(table)
        if c.source != ROWS_SOURCE and not reads_parent(table, c)
    ]


def _parent_columns(table: Table) -> list[Column]:
    """The document columns that read the object holding their row's array (``^``)."""
    return [c for c in _document_columns(table)
            if c.source != ROWS_SOURCE and reads_parent(table, c)]  # fmt: skip


def _rows_relative(table: Table) -> list[str]:
    """The columns that read ``@rows`` or a row's parent: JSON lines with ``rows`` only."""
    own = {c.name for c in _element_columns(table)}
    return [c.name for c in _document_columns(table) if c.name not in own]


@dataclass
class _Node:
    """A field of the read schema: a string leaf or a struct, either one or an array of them.
    A ``loose`` leaf is an array only counted: it becomes a struct if another path reads into
    its elements."""

    array: bool = False
    fields: dict[str, _Node] | None = None  # None: a string leaf
    loose: bool = False

    def child(self, table: Table, name: str, array: bool, leaf: bool | None) -> _Node:
        """The field ``name``, made if new; ``leaf`` None: either a leaf or a struct."""
        assert self.fields is not None, "a leaf has no fields"
        node = self.fields.get(name)
        if node is None:
            node = _Node(array=array, fields=None if leaf in (True, None) else {})
            node.loose = leaf is None
            self.fields[name] = node
            return node
        if node.loose and leaf is not None:
            node.loose, node.fields = False, None if leaf else {}
        if node.array != array or (leaf is not None and (node.fields is None) != leaf):
            raise SourceError(
                f"table {table.name}: the contract reads {name!r} both as "
                "an array and not, or both as a value and an object"
            )
        return node


def _tree(
    table: Table, columns: Sequence[Column] | None = None, root: _Node | None = None
) -> _Node:
    """Every path ``columns`` read (default: the row's, ``_element_columns``), and the fields
    their array steps compare, as one tree (added to ``root`` when given)."""
    root = root or _Node(fields={})
    for column in _element_columns(table) if columns is None else columns:
        for term in terms(table, str(column.source)):
            _add(table, root, term.path, leaf=None if term.function == "count" else True)
    return root


def _add(table: Table, root: _Node, path: Sequence[Step], leaf: bool | None) -> _Node:
    """``path`` added to the tree at ``root``: its last node (``leaf``: a value, or None:
    either, an array only counted; a step comparing a field makes its node a struct)."""
    node = root
    *parents, last = path
    for step in parents:
        node = node.child(table, step.name, step.array, leaf=False)
        if step.where:
            node.child(table, step.where, array=False, leaf=True)
    node = node.child(table, last.name, last.array, leaf=leaf and not last.where)
    if last.where:
        node.child(table, last.where, array=False, leaf=True)
    return node


def _ddl(node: _Node) -> str:
    if node.fields is None:
        kind = "string"
    else:
        kind = f"struct<{', '.join(f'`{n}`: {_ddl(c)}' for n, c in node.fields.items())}>"
    return f"array<{kind}>" if node.array else kind


def _fields_ddl(node: _Node) -> str:
    """A struct node's fields as a schema's column list."""
    assert node.fields is not None
    return ", ".join(f"`{name}` {_ddl(child)}" for name, child in node.fields.items())


def document_schema(table: Table) -> str:
    """The explicit read schema (DDL) of a JSON report: down to the ``rows`` array, whose
    elements are read as their JSON text (each parsed by ``row_schema``, so one element of the
    wrong shape costs its row, not the document)."""
    assert table.rows is not None
    first, *rest = table.rows.split(".")
    schema = "array<string>"
    for part in reversed(rest):
        schema = f"struct<`{part}`: {schema}>"
    return f"`{first}` {schema}"


def row_schema(table: Table) -> str:
    """The explicit read schema (DDL) of a row (a JSON line, an element of a report's
    ``rows``): a struct holding every path the contract reads, all leaves as strings."""
    return _fields_ddl(_tree(table))


def _value(row, table: Table, source: str):  # type: ignore[no-untyped-def]
    """The text ``source`` reads inside the struct column ``row`` (None: the frame's own
    columns): its first alternative that is not empty."""
    from pyspark.sql import functions as F

    values = [_term(row, term) for term in terms(table, source)]
    return values[0] if len(values) == 1 else F.coalesce(*values)


def _term(row, term: Term):  # type: ignore[no-untyped-def]
    """One alternative's text: the path's value, or its function of the path's elements."""
    from pyspark.sql import functions as F

    value = _walk(row, term.path)
    if term.function == "count":
        return F.when(value.isNull(), F.lit(0)).otherwise(F.size(value)).cast("string")
    if term.function == "has":
        wanted = F.lit(term.argument)
        found = F.exists(value, lambda v: F.coalesce(v.cast("string") == wanted, F.lit(False)))
        return F.coalesce(found, F.lit(False)).cast("string")
    if term.function == "sum":
        return _sum(value)
    return value.cast("string")


def _walk(value, path: Sequence[Step]):  # type: ignore[no-untyped-def]
    """The value at ``path`` from ``value`` (None: the frame's columns); after a ``[*]`` step,
    the array of each element's value."""
    from pyspark.sql import functions as F

    for position, step in enumerate(path):
        value = F.col(f"`{step.name}`") if value is None else value.getField(step.name)
        if step.every:
            rest = path[position + 1 :]
            return F.transform(value, _walker(rest)) if rest else value
        if step.index is not None:
            value = F.get(value, step.index)
        elif step.where is not None:
            value = F.get(F.filter(value, _matches(step.where, str(step.equals))), 0)
    return value


def _walker(path: Sequence[Step]):  # type: ignore[no-untyped-def]
    """``_walk`` of ``path`` as a function of one array element (a Spark lambda)."""
    return lambda element: _walk(element, path)


def _sum(values):  # type: ignore[no-untyped-def]
    """The sum of an array's numbers as plain text (``3``, ``12.5``); empty when no element
    has a value; the first element that is not a number, as it reads, when one is not (so
    staging quarantines the row instead of summing what it could)."""
    from pyspark.sql import functions as F

    texts = F.transform(values, lambda v: F.trim(v.cast("string")))
    present = F.filter(texts, lambda v: v.isNotNull() & (v != F.lit("")))
    unfit = F.filter(present, lambda v: ~v.rlike(_NUMBER))
    total = F.aggregate(
        present, F.lit(0).cast(_SUM_TYPE), lambda acc, v: acc + v.cast(_SUM_TYPE)
    ).cast("string")
    plain = F.regexp_replace(F.regexp_replace(total, r"(\.\d*?)0+$", "$1"), r"\.$", "")
    return F.when(F.size(unfit) > 0, F.get(unfit, 0)).when(F.size(present) > 0, plain)


def _matches(field: str, equals: str):  # type: ignore[no-untyped-def]
    """An array element test: its ``field`` reads ``equals``."""
    return lambda element: element.getField(field) == equals


def _read_json(spark: SparkSession, lake: Lake, table: Table, docs: list[RawDocument]) -> DataFrame:
    """JSON documents: the contract's ``rows`` array exploded, each element a row numbered by
    its position. A document that is not one JSON value of the shape the contract reads, or
    that has no ``rows`` array, is one ``MALFORMED`` row (Spark would read it as no rows at
    all); an element of another shape is a ``MALFORMED`` row."""
    from pyspark.sql import functions as F

    if not table.rows:
        raise SourceError(f"table {table.name}: a JSON source needs `rows` in its contract")
    _no_rows_relative(table)
    doc = _parsed(_cut(spark, lake, table, docs, "json"), document_schema(table))
    rows = F.col(f"_doc.{table.rows}")
    refused = F.col(REFUSED).isNotNull()
    problem = (
        F.when(refused, F.lit(None))
        .when(F.col("_unfit"), F.lit("the document is not one JSON value of the shape the "
                                     "contract reads"))
        .when(rows.isNull(), F.lit(f"the document has no {table.rows} array"))
    )  # fmt: skip
    # A refused or malformed document stays one row (with a null element): it is counted.
    one = F.array(F.lit(None).cast("string"))
    elements = F.when(problem.isNull() & ~refused, rows).otherwise(one)
    # The elements are taken out before they are exploded: a column beside the generator that
    # reads the document would carry the whole document into every row (quadratic memory).
    staged = doc.select("raw_key", REFUSED, problem.alias("_problem"), elements.alias("_elements"))
    exploded = staged.select(
        "raw_key", REFUSED, "_problem", F.posexplode("_elements").alias("_pos", TEXT)
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    element = F.from_json(F.col(TEXT), f"{row_schema(table)}, `{_CORRUPT}` string", options)
    number = F.col("_pos") + 1
    unfit = F.concat(F.lit("row "), number.cast("string"),
                     F.lit(f" of {table.rows} is not of the shape the contract reads"))  # fmt: skip
    malformed = F.coalesce(
        F.col("_problem"), F.when(F.col(f"_r.{_CORRUPT}").isNotNull() & ~refused, unfit)
    )
    row = F.col("_r")
    return exploded.select("*", element.alias("_r")).select(
        "raw_key",
        F.when(F.col("_problem").isNull() & ~refused, number).alias(ROW),
        *[_value(row, table, str(c.source)).alias(c.name) for c in _document_columns(table)],
        malformed.alias(MALFORMED),
        REFUSED,
    )


def _read_jsonl(
    spark: SparkSession, lake: Lake, table: Table, docs: list[RawDocument]
) -> DataFrame:
    """JSON lines: one row per line, or per element of the line's ``rows`` array when the
    contract names one (``_read_jsonl_rows``). A line that is not JSON, or whose values do not
    have the shape the contract's paths read (an object where a list is read), is
    ``MALFORMED``: staging quarantines it instead of reading nulls."""
    from pyspark.sql import functions as F

    if table.rows:
        return _read_jsonl_rows(spark, lake, table, docs)
    _no_rows_relative(table)
    doc = _parsed(_cut(spark, lake, table, docs, "jsonl"), row_schema(table))
    malformed = F.when(
        F.col("_unfit") & F.col(REFUSED).isNull(),
        F.concat(F.lit("line "), F.col(ROW).cast("string"),
                 F.lit(" is not one JSON value of the shape the contract reads")),
    )  # fmt: skip
    row = F.col("_doc")
    return doc.select(
        "raw_key",
        ROW,
        *[_value(row, table, str(c.source)).alias(c.name) for c in _document_columns(table)],
        malformed.alias(MALFORMED),
        REFUSED,
    )


def _no_rows_relative(table: Table) -> None:
    """SourceError when a column reads ``@rows`` or ``^``: only JSON lines with rows have them."""
    misplaced = _rows_relative(table)
    if misplaced:
        raise SourceError(
            f"table {table.name}: {', '.join(misplaced)} read {ROWS_SOURCE} or a row's parent "
            "(^), which only JSON lines with a `rows` path have"
        )


def rows_paths(table: Table) -> list[tuple[Step, ...]]:
    """The alternatives of a JSON-lines contract's ``rows``, each a path ending at the array."""
    found = []
    for text in (part.strip() for part in str(table.rows).split(" | ")):
        path = tuple(steps(table, text))
        if path[-1].array or any(step.every for step in path):
            raise SourceError(
                f"table {table.name}: rows {text!r} must end at the array itself, "
                "without [..] on its last step or [*] anywhere"
            )
        found.append(path)
    return found


def line_schema(table: Table) -> str:
    """The read schema (DDL) of a line of a JSON-lines contract with ``rows``: each
    alternative's array, its elements as their JSON text (each parsed by ``row_schema``, so an
    element of the wrong shape costs its row, not the line), and beside it what the ``^``
    columns read of the object holding it."""
    root = _Node(fields={})
    parents = _parent_columns(table)
    for path in rows_paths(table):
        *above, last = path
        holder = _add(table, root, above, leaf=False) if above else root
        holder.child(table, last.name, array=True, leaf=True)
        _tree(table, parents, root=holder)
    return _fields_ddl(root)


def _read_jsonl_rows(
    spark: SparkSession, lake: Lake, table: Table, docs: list[RawDocument]
) -> DataFrame:
    """JSON lines whose rows are the elements of an array inside each line (module doc): a row
    per element of the first ``rows`` alternative the line holds, with its parent's columns
    and ``@rows``. A line that is not JSON of the shape read is one ``MALFORMED`` row; an
    element of another shape is a ``MALFORMED`` row; a line holding none of the arrays has no
    rows of this table."""
    from pyspark.sql import functions as F

    paths = rows_paths(table)
    doc = _parsed(_cut(spark, lake, table, docs, "jsonl"), line_schema(table))
    line = F.col("_doc")
    arrays = [_walk(line, path) for path in paths]
    holders = [_walk(line, path[:-1]) if len(path) > 1 else line for path in paths]
    chosen = F.coalesce(*[F.when(a.isNotNull(), F.lit(i)) for i, a in enumerate(arrays)])
    refused = F.col(REFUSED).isNotNull()
    unread = refused | F.col("_unfit")
    # A refused document or a malformed line stays one row (a null element): it is counted.
    one, none = F.array(F.lit(None).cast("string")), F.array().cast("array<string>")
    elements = F.when(unread, one).otherwise(F.coalesce(*arrays, none))

    def parent(column: Column):  # type: ignore[no-untyped-def]
        """The column's value in the holder of the alternative the line came by."""
        read = [_value(holder, table, str(column.source)) for holder in holders]
        return F.coalesce(*[F.when(chosen == i, value) for i, value in enumerate(read)])

    parents = {c.name: parent(c) for c in _parent_columns(table)}
    came_by = F.when(~unread, F.element_at(F.array(*[F.lit(p[0].name) for p in paths]), chosen + 1))
    # What the rows need of the line is taken out before the explode (see _read_json).
    staged = doc.select(
        "raw_key", ROW, REFUSED, "_unfit", came_by.alias("_rows"),
        *[value.alias(f"_p_{name}") for name, value in parents.items()],
        elements.alias("_elements"),
    )  # fmt: skip
    kept = [c for c in staged.columns if c != "_elements"]
    exploded = staged.select(*kept, F.posexplode("_elements").alias("_pos", TEXT))
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    element = F.from_json(F.col(TEXT), f"{row_schema(table)}, `{_CORRUPT}` string", options)
    where = F.concat(F.lit("line "), F.col(ROW).cast("string"))
    malformed = F.when(
        F.col("_unfit") & ~refused,
        F.concat(where, F.lit(" is not one JSON value of the shape the contract reads")),
    ).when(
        F.col(f"_r.{_CORRUPT}").isNotNull() & ~refused,
        F.concat(where, F.lit(", item "), (F.col("_pos") + 1).cast("string"),
                 F.lit(" of its rows, is not of the shape the contract reads")),
    )  # fmt: skip
    row = F.col("_r")

    def value(column: Column):  # type: ignore[no-untyped-def]
        if column.source == ROWS_SOURCE:
            return F.col("_rows")
        if column.name in parents:
            return F.col(f"`_p_{column.name}`")
        return _value(row, table, str(column.source))

    return exploded.select("*", element.alias("_r")).select(
        "raw_key",
        ROW,
        *[value(c).alias(c.name) for c in _document_columns(table)],
        malformed.alias(MALFORMED),
        REFUSED,
    )


def _parsed(cut: DataFrame, schema: str) -> DataFrame:
    """``cut``'s text parsed as JSON of ``schema`` into the struct ``_doc``, and ``_unfit``:
    whether the text is not one JSON value of that shape. Spark's parser stops after the first
    value, so what follows it (two lines joined, bytes after a document) is caught apart: the
    text inside brackets must be an array of one element."""
    from pyspark.sql import functions as F

    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    parsed = F.from_json(F.col(TEXT), f"{schema}, `{_CORRUPT}` string", options)
    one = F.json_array_length(F.concat(F.lit("["), F.col(TEXT), F.lit("]")))
    unfit = F.col(f"_doc.{_CORRUPT}").isNotNull() | F.coalesce(one != 1, F.lit(True))
    framed = cut.select("raw_key", ROW, parsed.alias("_doc"), REFUSED, TEXT)
    return framed.select("raw_key", ROW, "_doc", REFUSED, unfit.alias("_unfit"))


# ---- reading the bytes -----------------------------------------------------------------------


def _cut(
    spark: SparkSession, lake: Lake, table: Table, docs: list[RawDocument], fmt: str
) -> DataFrame:
    """``docs``' rows as ``documents.reader`` cuts them: each document's bytes read once, in
    Spark's Python workers, checked against its manifest as they are read (module doc)."""
    from pyspark.sql import functions as F

    files = spark.read.format("binaryFile").load([lake.location(d.key) for d in docs])
    located = files.select(F.regexp_extract("path", RAW_KEY, 1).alias("raw_key"), "content")
    manifests = {d.key: (d.size, d.sha256, d.encoding) for d in docs}
    layout = _layout(table, fmt)
    return located.mapInArrow(reader(layout, manifests), ddl(layout))
