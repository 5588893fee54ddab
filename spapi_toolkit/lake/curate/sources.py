"""The landed documents of a table, read into one Spark frame of strings.

Only objects with a manifest are read (an object without one never finished landing), each with
what its manifest says: the encoding it was decoded with, gzip or not, the request it answered.
Every value is read as the text the document holds, typed later by ``staging`` against the
table's contract, so a value that does not fit its type is a row to quarantine with a reason,
never a silently null cell. Schemas are explicit: nothing is inferred.

* Flat files: the header of each document is read on the driver (a few KB), documents with the
  same encoding and header are read together by position, and columns the contract does not know
  go to ``extra`` (a map), so a column Amazon adds without notice is kept, not a crash. Amazon's
  are tab-separated without quoting; reference files (``csv``) are RFC 4180 CSV (quoted fields).
* JSON reports: one document per record (``multiLine``), the contract's ``rows`` array exploded.
* JSON lines (API snapshots, Data Kiosk): one line per row, as Amazon returned the item.

JSON paths are dotted; a step into an array says which element it takes: ``name[0]`` (by
position) or ``name[field=value]`` (the first element whose ``field`` reads ``value``), e.g.
``Offers[MyOffer=true].ListingPrice.Amount``. An element that is not there gives an empty value.
Some values are about a whole array, not one element (an order's units are the sum over its
items): ``count(P)``, ``sum(P)`` and ``has(P, value)`` read every element of the one ``name[*]``
step of their path ``P`` (``count(issues[*])``, ``sum(orderItems[*].quantityOrdered)``,
``has(programs[*], PRIME)``); an array Amazon leaves out counts as empty (count 0, has false,
sum empty). ``A | B`` reads ``A``, else ``B`` when ``A`` is empty.

The frame has one string column per contract column that comes from the document or the request,
plus ``seller_id`` and the lineage columns (``raw_key``, ``report_id``, ``document_id``,
``ingested_at``).
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import is_manifest, object_key, raw_partition, raw_prefix
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import EXTRA, Column, Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Python's codec names (what manifests record) to the JVM's charset names (what Spark reads).
JAVA_CHARSETS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "cp1252": "windows-1252",
    "cp932": "windows-31j",
    "iso-8859-1": "ISO-8859-1",
}
HEADER_BYTES = 64 * 1024
FLAT_FORMATS = ("tsv", "csv")
_TSV = {"sep": "\t", "quote": "", "escape": ""}  # Amazon's flat files: no quoting
# A flat-file row whose fields do not match its header's: the reason it cannot be used (staging
# quarantines the row with it); null on a well-formed row. Spark pads a short row with nulls and
# cuts a long one, so without this a truncated row would pass the contract.
MALFORMED = "_malformed"
_CORRUPT = "_corrupt"  # Spark's corrupt-record column: the line of a row it could not fit
_CSV = {"sep": ",", "quote": '"', "escape": '"'}  # RFC 4180
RAW_KEY = r"(raw/.*)$"  # the lake key inside the file URI Spark reports


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
        )


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
    """Every landed document of the datasets that feed ``table``, oldest pull first."""
    from spapi_toolkit.lake.registry import dataset

    found = []
    for name in table.datasets:
        fmt = dataset(name).format
        keys = set(lake.list(raw_prefix(name)))
        for key in sorted(keys):
            if is_manifest(key) and object_key(key) in keys:
                manifest = Manifest.from_json(lake.read_bytes(key))
                found.append(RawDocument.from_manifest(manifest, fmt))
    return sorted(found, key=lambda d: (d.ingested_at, d.key))


def read(
    spark: SparkSession, lake: Lake, table: Table, documents: list[RawDocument]
) -> tuple[DataFrame | None, dict[str, str]]:
    """The rows of ``documents`` as strings, with seller and lineage (see the module doc), and
    the documents that cannot feed the table (raw key -> reason); None when none can."""
    rejected: dict[str, str] = {}
    frames = []
    flat = [d for d in documents if d.format in FLAT_FORMATS]
    json_docs = [d for d in documents if d.format == "json"]
    lines = [d for d in documents if d.format == "jsonl"]
    unsupported = sorted({d.format for d in documents} - {*FLAT_FORMATS, "json", "jsonl"})
    if unsupported:
        raise SourceError(f"table {table.name}: curation does not read {unsupported} documents yet")
    if flat:
        frames += _read_flat(spark, lake, table, flat, rejected)
    if json_docs:
        frames.append(_read_json(spark, lake, table, json_docs))
    if lines:
        frames.append(_read_jsonl(spark, lake, table, lines))
    if not frames:
        return None, rejected
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame, allowMissingColumns=True)
    accepted = [d for d in documents if d.key not in rejected]
    return _with_request(spark, rows, table, accepted), rejected


def _with_request(
    spark: SparkSession, rows: DataFrame, table: Table, documents: list[RawDocument]
) -> DataFrame:
    """Join each row to its document's manifest: seller, request columns and lineage."""
    from pyspark.sql import functions as F

    meta = spark.createDataFrame(
        [
            (d.key, d.seller_id, d.marketplace_id, d.dt, d.report_id, d.document_id, d.ingested_at)
            for d in documents
        ],
        "raw_key string, seller_id string, _marketplace_id string, _dt string, "
        "report_id string, document_id string, ingested_at string",
    )
    joined = rows.join(F.broadcast(meta), on="raw_key", how="inner")
    request = {
        "@marketplace_id": "_marketplace_id",
        "@window_start": "_dt",
        "@snapshot_date": "_dt",
    }
    for column in table.columns:
        if column.from_request:
            joined = joined.withColumn(column.name, F.col(request[str(column.source)]))
    return joined.drop("_marketplace_id", "_dt")


def _raw_key():  # type: ignore[no-untyped-def]
    """The lake key of the file a row was read from (taken where the file is scanned)."""
    from pyspark.sql import functions as F

    return F.regexp_extract(F.input_file_name(), RAW_KEY, 1).alias("raw_key")


def _document_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if c.from_document]


# ---- flat files -----------------------------------------------------------------------------


def header(lake: Lake, document: RawDocument) -> list[str]:
    """The first line of a flat file, split into column names (read from its first bytes)."""
    with lake.open(document.key) as stream:
        head = stream.read(HEADER_BYTES)
    if head[:2] == b"\x1f\x8b":
        head = zlib.decompressobj(wbits=31).decompress(head, HEADER_BYTES)
    text = head.decode(document.encoding or "utf-8", errors="replace")
    first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    if document.format == "csv":
        return next(csv.reader([first]), [])
    return first.split("\t")


def _read_flat(
    spark: SparkSession,
    lake: Lake,
    table: Table,
    documents: list[RawDocument],
    rejected: dict[str, str],
) -> list[DataFrame]:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    groups: dict[tuple[str, str, tuple[str, ...]], list[RawDocument]] = {}
    for document in documents:
        names = tuple(header(lake, document))
        missing = _missing_columns(table, names)
        if missing:
            rejected[document.key] = (
                f"the header lacks {', '.join(missing)}, which table {table.name} requires"
            )
            continue
        key = (document.format, document.encoding or "utf-8", names)
        groups.setdefault(key, []).append(document)
    known = {c.source for c in _document_columns(table)}
    frames = []
    for (fmt, encoding, names), group in groups.items():
        fields = [StructField(f"_c{i}", StringType()) for i in range(len(names))]
        schema = StructType([*fields, StructField(_CORRUPT, StringType())])
        quoting = _CSV if fmt == "csv" else _TSV
        raw = (
            spark.read.options(
                header="true",
                encoding=JAVA_CHARSETS[encoding],
                mode="PERMISSIVE",
                columnNameOfCorruptRecord=_CORRUPT,
                **quoting,
            )
            .schema(schema)
            .csv([lake.location(d.key) for d in group])
        )
        # The count of a TSV row's fields (never its text: it may hold personal data).
        counted = (
            F.concat(F.lit("the row has "), F.size(F.split(F.col(_CORRUPT), "\t")).cast("string"),
                     F.lit(f" fields, its header {len(names)}"))
            if fmt == "tsv"
            else F.lit(f"the row's fields do not match its header's {len(names)}")
        )  # fmt: skip
        malformed = F.when(F.col(_CORRUPT).isNotNull(), counted).alias(MALFORMED)
        position = {name: i for i, name in enumerate(names)}
        selected = [
            (F.col(f"_c{position[c.source]}") if c.source in position else F.lit(None))
            .cast("string")
            .alias(c.name)
            for c in _document_columns(table)
        ]
        extras = [name for name in names if name not in known]
        extra = (
            F.create_map(*[x for n in extras for x in (F.lit(n), F.col(f"_c{position[n]}"))])
            if extras
            else F.create_map().cast("map<string,string>")
        )
        frames.append(raw.select(_raw_key(), *selected, extra.alias(EXTRA), malformed))
    return frames


def _missing_columns(table: Table, names: tuple[str, ...]) -> list[str]:
    """The raw columns of required contract columns that a header lacks."""
    needed = [str(c.source) for c in _document_columns(table) if c.name in table.required]
    return [name for name in needed if name not in names]


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
        found.append(Term(path, function, argument))
    return found


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


def _tree(table: Table) -> _Node:
    """Every path the contract reads (and the fields its array steps compare), as one tree."""
    root = _Node(fields={})
    for column in _document_columns(table):
        for term in terms(table, str(column.source)):
            node = root
            *parents, last = term.path
            for step in parents:
                node = node.child(table, step.name, step.array, leaf=False)
                if step.where:
                    node.child(table, step.where, array=False, leaf=True)
            counted = term.function == "count"
            leaf = None if counted else not last.where
            node = node.child(table, last.name, last.array, leaf=leaf)
            if last.where:
                node.child(table, last.where, array=False, leaf=True)
    return root


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


def json_schema(table: Table) -> str:
    """The explicit read schema (DDL) of a JSON report: the ``rows`` array of structs holding
    every path the contract reads, all leaves as strings."""
    assert table.rows is not None
    first, *rest = table.rows.split(".")
    schema = f"array<{_ddl(_tree(table))}>"
    for part in reversed(rest):
        schema = f"struct<`{part}`: {schema}>"
    return f"`{first}` {schema}"


def jsonl_schema(table: Table) -> str:
    """The explicit read schema (DDL) of a JSON-lines document: each line a struct holding
    every path the contract reads, all leaves as strings."""
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


def _read_json(
    spark: SparkSession, lake: Lake, table: Table, documents: list[RawDocument]
) -> DataFrame:
    from pyspark.sql import functions as F

    if not table.rows:
        raise SourceError(f"table {table.name}: a JSON source needs `rows` in its contract")
    reports = (
        spark.read.options(multiLine="true", mode="PERMISSIVE", encoding="UTF-8")
        .schema(json_schema(table))
        .json([lake.location(d.key) for d in documents])
    )
    rows = reports.select(_raw_key(), F.explode(F.col(table.rows)).alias("_row"))
    row = F.col("_row")
    return rows.select(
        "raw_key",
        *[_value(row, table, str(c.source)).alias(c.name) for c in _document_columns(table)],
    )


def _read_jsonl(
    spark: SparkSession, lake: Lake, table: Table, documents: list[RawDocument]
) -> DataFrame:
    """JSON lines: one row per line (``rows`` is for JSON reports and is not used here). A line
    that is not JSON, or whose values do not have the shape the contract's paths read (an object
    where a list is read), is ``MALFORMED``: staging quarantines it instead of reading nulls."""
    from pyspark.sql import functions as F

    items = (
        spark.read.options(mode="PERMISSIVE", encoding="UTF-8", columnNameOfCorruptRecord=_CORRUPT)
        .schema(f"{jsonl_schema(table)}, `{_CORRUPT}` string")
        .json([lake.location(d.key) for d in documents])
    )
    malformed = F.when(
        F.col(_CORRUPT).isNotNull(), F.lit("the line is not JSON of the shape the contract reads")
    )
    return items.select(
        _raw_key(),
        *[_value(None, table, str(c.source)).alias(c.name) for c in _document_columns(table)],
        malformed.alias(MALFORMED),
    )
