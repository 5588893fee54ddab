"""One landed document, from its bytes to its rows: what curation reads, as strictly as landing
checked it.

The bytes are checked against the document's manifest (size and sha256) in the same pass that
reads them, then decompressed (gzip, told by its first bytes as at landing) and decoded with the
encoding the manifest records, strictly. A document that fails any of this is **refused**
(``Refused``): none of its rows are read, and the reason names what differs.

Its rows are then cut with their numbers (the physical line, the header being line 1), and a
row that cannot be read is **malformed**: its reason goes with it to staging, which quarantines
it. A flat file's row with more or fewer fields than its header, or a blank line between rows,
is malformed (blank lines at the very end are not rows, as at landing); its fields are kept as
far as they go, so the quarantine shows what the row held. JSON lines and JSON documents are
cut here and parsed by Spark against the contract's read schema (``sources``).

Plain Python and pyarrow, no Spark: ``sources`` maps ``reader`` over the documents' bytes in
Spark's Python workers, one document at a time.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from spapi_toolkit.lake.checks import Gunzip
from spapi_toolkit.lake.tables import EXTRA  # flat files: the columns the contract does not know

GZIP_MAGIC = b"\x1f\x8b"
FLAT_FORMATS = ("tsv", "csv")

# The columns of what ``reader`` yields beside a table's own (Spark names them the same).
RAW_KEY = "raw_key"
ROW = "_row"  # the row's number in its document: its line (flat files, JSON lines), or its
# position in the document's rows array (JSON documents)
TEXT = "_text"  # JSON: a line, or the whole document, for Spark to parse

MALFORMED = "_malformed"  # why the row cannot be read (null when it can)
REFUSED = "_refused"  # why the whole document is refused (one row per refused document)


class Refused(ValueError):
    """The document cannot be read at all; the message says why (never any of its content)."""


@dataclass(frozen=True)
class Layout:
    """What ``reader`` needs to know of a table: the document format and, for flat files, the
    contract's columns (name, raw column) and the raw columns it requires."""

    format: str
    columns: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()


def checked_text(content: bytes, size: int, sha256: str, encoding: str | None) -> str:
    """The document's text, if ``content`` is the document its manifest describes (``size``
    bytes hashing to ``sha256``): decompressed when gzip, decoded strictly with ``encoding``."""
    if len(content) != size:
        raise Refused(size_differs(len(content), size))
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise Refused(
            f"its bytes are not its manifest's: sha256 {digest[:12]}..., the manifest "
            f"{sha256[:12]}... (the document or its manifest changed after landing)"
        )
    if content.startswith(GZIP_MAGIC):
        content = gunzip(content)
    codec = encoding or "utf-8"
    try:
        canonical = codecs.lookup(codec).name
    except LookupError:
        raise Refused(f"its manifest's encoding {codec!r} is unknown") from None
    if canonical not in _UTF8 and not content.isascii() and _is_utf8(content):
        raise Refused(
            f"its bytes are UTF-8, which landing tries first, yet its manifest says {codec}"
        )
    try:
        text = content.decode(codec)
    except UnicodeDecodeError as exc:
        raise Refused(
            f"it does not decode as {codec}, its manifest's encoding (byte {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")


def size_differs(actual: int, manifest: int) -> str:
    """Why a document whose size is not its manifest's is refused."""
    return f"its bytes are not its manifest's: {actual} bytes, the manifest {manifest}"


_UTF8 = ("utf-8", "utf-8-sig")


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def gunzip(content: bytes) -> bytes:
    """The content of every gzip member in turn, as landing reads it (``checks.Gunzip``);
    Refused when it is cut or corrupt."""
    stream = Gunzip()
    data = b"".join(stream.feed(content))
    stream.finish()
    if stream.cut_short:
        raise Refused("its gzip stream is cut short")
    if stream.problem:
        raise Refused(f"its gzip stream is corrupt ({stream.problem})")
    return data


# What the manifest says of a document's bytes: size, sha256 and encoding.
Facts = tuple[int, str, "str | None"]


def reader(
    layout: Layout, manifests: dict[str, Facts]
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function Spark's ``mapInArrow`` runs: batches of documents (``raw_key``,
    ``content``) in, each checked against its manifest's facts (``manifests``: raw key -> size,
    sha256, encoding; they travel with the function, so no join brings them), each document's
    rows out as ``schema(layout)`` says; a refused document gives one row, its ``_refused``
    reason."""
    schema = arrow_schema(layout)

    def read(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            columns = batch.to_pydict()
            for key, content in zip(columns[RAW_KEY], columns["content"], strict=True):
                facts = manifests.get(key)
                if facts is None:  # the path Spark read names no document of the run
                    yield _refused(schema, key, "no manifest of this run names it")
                    continue
                try:
                    text = checked_text(content, *facts)
                    rows = cut(text, layout)
                except Refused as exc:
                    yield _refused(schema, key, str(exc))
                    continue
                yield _with_key(schema, rows, key)

    return read


def arrow_schema(layout: Layout) -> pa.Schema:
    """What ``reader`` yields for ``layout`` (``ddl`` is the same for Spark)."""
    fields = [pa.field(RAW_KEY, pa.string()), pa.field(ROW, pa.int64())]
    if layout.format in FLAT_FORMATS:
        fields += [pa.field(name, pa.string()) for name, _ in layout.columns]
        fields += [pa.field(EXTRA, pa.map_(pa.string(), pa.string())),
                   pa.field(MALFORMED, pa.string())]  # fmt: skip
    else:
        fields.append(pa.field(TEXT, pa.string()))
    return pa.schema([*fields, pa.field(REFUSED, pa.string())])


def ddl(layout: Layout) -> str:
    """``arrow_schema(layout)`` as a Spark DDL string."""
    kinds = {pa.string(): "string", pa.int64(): "bigint"}
    return ", ".join(
        f"`{f.name}` {kinds.get(f.type, 'map<string,string>')}" for f in arrow_schema(layout)
    )


def cut(text: str, layout: Layout) -> dict[str, pa.Array]:
    """The rows of one document's text (without raw key), as columns."""
    if layout.format in FLAT_FORMATS:
        return flat_rows(text, layout)
    if layout.format == "jsonl":
        numbered = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        return {
            ROW: pa.array([n for n, _ in numbered], pa.int64()),
            TEXT: pa.array([line for _, line in numbered], pa.string()),
        }
    if layout.format == "json":
        return {ROW: pa.nulls(1, pa.int64()), TEXT: pa.array([text], pa.string())}
    raise Refused(f"curation does not read {layout.format} documents")


# ---- flat files ------------------------------------------------------------------------------


def header(first_line: str, fmt: str) -> list[str]:
    """A flat file's column names from its first line (CSV's may be quoted)."""
    line = first_line.rstrip("\r")
    return next(csv.reader([line]), []) if fmt == "csv" else line.split("\t")


def flat_rows(text: str, layout: Layout) -> dict[str, pa.Array]:
    """A flat file's rows as the contract's columns (strings; an empty field is null), ``extra``
    (the columns the contract does not know) and ``_malformed``. Amazon's TSV has no quoting;
    reference CSV files are RFC 4180 without line breaks inside fields (landing allows none)."""
    data = text.encode("utf-8")
    lines = _Lines(data)
    if not lines.count or lines.blank[0]:
        raise Refused("no header: the first line is blank")
    first = text.split("\n", 1)[0]
    if "\r" in first.rstrip("\r"):
        raise Refused("its header holds a carriage return: lines end with CR, not LF")
    names = header(first, layout.format)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise Refused(f"the header names {', '.join(twice)} more than once")
    missing = [source for source in layout.required if source not in names]
    if missing:
        raise Refused(f"the header lacks {', '.join(missing)}, which the table requires")
    # pyarrow ends a row at a carriage return as at a line feed; landing (and Amazon) end lines
    # at line feeds only, so a CR inside a field is the field's, kept through a stand-in.
    stray = _STRAY_CR.search(data) is not None
    if stray:
        if _STAND_IN.encode() in data:
            raise Refused("it holds both a carriage return inside a field and U+E000")
        data = _STRAY_CR.sub(_STAND_IN.encode(), data)
    malformed: list[tuple[int, str, list[str]]] = []  # (line, reason, fields)

    def invalid(row: pa_csv.InvalidRow) -> str:
        line = lines.physical(row.number)
        fields = header(row.text, layout.format)
        reason = f"row {line} has {_fields(row.actual_columns)}, its header {len(names)}"
        malformed.append((line, reason, fields))
        return "skip"

    positions = [f"c{i}" for i in range(len(names))]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            read_options=pa_csv.ReadOptions(use_threads=False, skip_rows=1, column_names=positions),
            parse_options=pa_csv.ParseOptions(
                delimiter="," if layout.format == "csv" else "\t",
                quote_char='"' if layout.format == "csv" else False,
                double_quote=layout.format == "csv",
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={p: pa.string() for p in positions},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:  # its message may quote the row: personal data
        raise Refused(f"it cannot be parsed as {layout.format}") from None
    bad_lines = {line for line, _, _ in malformed}
    numbers: list[int | None] = [n for n in lines.rows() if n not in bad_lines]
    if len(numbers) != table.num_rows:  # pyarrow saw other rows than lines: numbers unknown
        numbers = [None] * table.num_rows
    malformed += [(n, f"row {n} is blank", []) for n in lines.blank_between()]
    malformed.sort()
    index = {name: i for i, name in enumerate(names)}
    known = {source for _, source in layout.columns}
    extras = [name for name in names if name not in known]
    good = [table.column(i).combine_chunks() for i in range(len(names))]
    if stray:
        good = [pc.replace_substring(column, _STAND_IN, "\r") for column in good]
    bad = [[fields[i] if i < len(fields) and fields[i] else None for _, _, fields in malformed]
           for i in range(len(names))]  # fmt: skip
    count = table.num_rows + len(malformed)
    columns: dict[str, pa.Array] = {
        ROW: pa.array(list(numbers) + [n for n, _, _ in malformed], pa.int64())
    }
    for name, source in layout.columns:
        i = index.get(source)
        columns[name] = (
            pa.nulls(count, pa.string())
            if i is None
            else pa.concat_arrays([good[i], pa.array(bad[i], pa.string())])
        )
    columns[EXTRA] = _extra(
        [good[index[n]] for n in extras], [bad[index[n]] for n in extras], extras, count
    )
    columns[MALFORMED] = pa.array([None] * table.num_rows + [r for _, r, _ in malformed],
                                  pa.string())  # fmt: skip
    return columns


def _extra(
    good: Sequence[pa.Array], bad: Sequence[list[str | None]], names: list[str], rows: int
) -> pa.Array:
    """The map of each row's unknown columns (name -> value), for the good rows then the bad."""
    width = len(names)
    if not width:
        return _empty_maps(rows)
    values = [
        pa.concat_arrays([g, pa.array(b, pa.string())]) for g, b in zip(good, bad, strict=True)
    ]
    stacked = pa.concat_arrays(values)  # column after column
    order = (np.arange(rows)[:, None] + np.arange(width)[None, :] * rows).ravel()
    items = stacked.take(pa.array(order))
    keys = pa.array(np.tile(np.array(names, dtype=object), rows), pa.string())
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, keys, items)


def _empty_maps(rows: int) -> pa.Array:
    offsets = pa.array(np.zeros(rows + 1, np.int32))
    return pa.MapArray.from_arrays(offsets, pa.array([], pa.string()), pa.array([], pa.string()))


_STRAY_CR = re.compile(rb"\r(?!\n)")
_STAND_IN = "\ue000"  # a private-use character: no text Amazon sends holds it


class _Lines:
    """Where a text's lines are: which are blank (empty, or a lone ``\\r``), counted in numpy."""

    def __init__(self, data: bytes) -> None:
        raw = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(raw == 0x0A)
        if len(data) and (not len(ends) or ends[-1] != len(data) - 1):
            ends = np.append(ends, len(data))  # a last line without its "\n"
        starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, np.int64)
        lengths = ends - starts
        padded = np.append(raw, 0)
        self.blank = (lengths == 0) | ((lengths == 1) & (padded[starts] == 0x0D))
        self.count = len(ends)
        filled = np.flatnonzero(~self.blank)
        self._filled = filled + 1  # physical numbers of the lines that are not blank
        self._last = int(self._filled[-1]) if len(filled) else 0

    def physical(self, number: int | None) -> int:
        """The physical line of the ``number``-th line that is not blank (pyarrow's count)."""
        if number is None or not 0 < number <= len(self._filled):
            return -1
        return int(self._filled[number - 1])

    def rows(self) -> list[int]:
        """The physical numbers of the lines after the header that are not blank."""
        return self._filled[1:].tolist()

    def blank_between(self) -> list[int]:
        """Blank lines with a row after them (blank lines at the end are not rows)."""
        return [int(n) + 1 for n in np.flatnonzero(self.blank) if n + 1 < self._last]


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


def _with_key(schema: pa.Schema, columns: dict[str, pa.Array], key: str) -> pa.RecordBatch:
    rows = len(columns[ROW])
    arrays = {RAW_KEY: pa.array([key] * rows, pa.string()), **columns,
              REFUSED: pa.nulls(rows, pa.string())}  # fmt: skip
    return pa.RecordBatch.from_arrays([arrays[f.name] for f in schema], schema=schema)


def _refused(schema: pa.Schema, key: str, reason: str) -> pa.RecordBatch:
    arrays = []
    for f in schema:
        if f.name == RAW_KEY:
            arrays.append(pa.array([key], pa.string()))
        elif f.name == REFUSED:
            arrays.append(pa.array([reason], pa.string()))
        elif f.name == EXTRA:
            arrays.append(_empty_maps(1))
        else:
            arrays.append(pa.nulls(1, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
