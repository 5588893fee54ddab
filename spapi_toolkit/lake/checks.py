"""Is a document usable? The checks ``land`` runs on its bytes, in the same single pass.

Everything here sees the content block by block in constant memory and records what is wrong
instead of raising; ``DocumentCheck.verdict()`` then gives the first reason, or None. Checked:

* gzip: a truncated or corrupt stream (concatenated members are read like ``gzip -dc``);
* an error body in place of the document, whatever was declared: an HTML page, an XML
  ``<Error>`` (S3's, with or without an ``<?xml?>`` line) or SP-API's JSON ``{"errors": ...}``;
* text: one of the allowed encodings must decode everything strictly. ISO-8859-1 decodes any
  byte, so it is accepted only without C1 control bytes (0x80-0x9F), which real text never holds
  but other encodings' bytes do (cp932's lead bytes, UTF-16); the five bytes cp1252 leaves
  undefined are let through, so a cp1252 file with one of them still reads as ISO-8859-1;
* structure, per format: JSON is parsed incrementally as a single value whose top level has the
  shape the report's published JSON Schema requires (``Shape``); JSON lines are one JSON object
  per line; flat files have a header carrying the dataset's key columns and the same number of
  fields on every line.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import repeat
from typing import Any

from spapi_toolkit.lake.registry import REPORT_SCHEMAS, Dataset
from spapi_toolkit.lake.tables import table

UTF8_BOM = codecs.BOM_UTF8
WHITESPACE = b" \t\r\n\f\v"
BLOCK_SIZE = 1024 * 1024  # at most this much decompressed content is held at once
HEAD_SIZE = 64 * 1024  # the start of the content kept for the error-body and BOM checks

# Formats whose first line is a header (rows = lines - 1) and whose every line is a row.
HEADER_FORMATS = frozenset({"tsv", "csv", "txt"})
LINE_FORMATS = frozenset({"jsonl"})
_SEPARATORS = {"tsv": b"\t", "txt": b"\t", "csv": b","}

# Codecs (by ``codecs.lookup(...).name``) that decode every byte: nothing can make them fail.
_TOTAL_CODECS = frozenset({"iso8859-1"})
# Codecs that map every ASCII byte to itself on its own: an ASCII block needs no decoding
# unless a multi-byte sequence is pending from the previous block.
_ASCII_COMPATIBLE = frozenset(
    {"utf-8", "utf-8-sig", "cp932", "shift_jis", "euc_jp", "iso8859-1", "cp1252", "ascii"}
)
# C1 control bytes that make ISO-8859-1 implausible: all but the five cp1252 leaves undefined.
_IMPLAUSIBLE_C1 = bytes(b for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D))
_IMPLAUSIBLE_C1_RE = re.compile(b"[" + re.escape(_IMPLAUSIBLE_C1) + b"]")

_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")
_XML_ERROR = re.compile(rb"(?:<\?xml[^>]*\?>\s*)?<Error\s*>", re.IGNORECASE)
_XML_CODE = re.compile(rb"<Code>\s*([A-Za-z0-9_.:-]{1,64})\s*</Code>")
_JSON_ERRORS = re.compile(rb'\{\s*"errors"\s*:')
_JSON_CODE = re.compile(rb'"code"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')


@dataclass(frozen=True)
class Shape:
    """What a dataset's documents must hold beyond being readable text of their format.

    ``columns``: flat files, the columns the header must carry. ``properties``: JSON, the
    top-level properties the document must have, each with its JSON type ("object", "array",
    or "" for any). ``source`` names where the shape comes from, for messages.
    """

    columns: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()
    source: str = ""


def document_shape(dataset: Dataset) -> Shape:
    """The shape of ``dataset``'s raw documents, from the registry: a flat file's header must
    carry the raw columns its table's key comes from (``tables.toml``), a JSON report the
    properties its JSON Schema requires."""
    if dataset.format in HEADER_FORMATS:
        return Shape(columns=table(dataset.cleaned_table).raw_key_columns())
    if dataset.json_schema:
        schema = report_schema(dataset.json_schema)
        properties = schema.get("properties", {})
        required = tuple(
            (name, str(properties.get(name, {}).get("type", ""))) for name in schema["required"]
        )
        return Shape(properties=required, source=dataset.json_schema)
    return Shape()


@cache
def report_schema(name: str) -> dict[str, Any]:
    """Amazon's published JSON Schema of a report document (``data/spapi-models``)."""
    path = resources.files("spapi_toolkit").joinpath(f"{REPORT_SCHEMAS}/{name}")
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return schema


class DocumentCheck:
    """The single pass over a document's bytes: passes them through unchanged and checks them."""

    def __init__(self, fmt: str, encodings: list[str], shape: Shape | None = None) -> None:
        self.fmt = fmt
        self.encodings = encodings
        self.content = _Content(encodings, _structure(fmt, shape or Shape()))
        self.gunzip: Gunzip | None = None
        self.received = 0
        self.encoding: str | None = None
        self.rows: int | None = None

    def pass_through(self, chunks: Iterable[bytes], *, gzip: bool) -> Iterator[bytes]:
        """Yield ``chunks`` unchanged, checking their content on the way."""
        self.gunzip = Gunzip() if gzip else None
        for chunk in chunks:
            self.received += len(chunk)
            self._inspect(chunk)
            yield chunk

    def _inspect(self, chunk: bytes) -> None:
        if self.gunzip is None:
            self.content.feed(chunk)
            return
        for block in self.gunzip.feed(chunk):
            self.content.feed(block)

    def verdict(self) -> str | None:
        """Why the document is bad (None if it is good); sets ``encoding`` and ``rows``."""
        if self.gunzip is not None:
            self.gunzip.finish()
        self.content.finish()
        reason = self._reason()
        if reason is None:
            self.rows = self._rows()
        return reason

    def _reason(self) -> str | None:
        if self.gunzip is not None and self.gunzip.problem:
            return self.gunzip.problem
        if self.received == 0:
            return "empty document (0 bytes)"
        if self.content.size == 0:
            return "empty document (0 bytes after gzip decompression)"
        if self.content.error_body:
            return f"{self.content.error_body} instead of a document"
        if self.content.nul_at is not None:
            # ISO-8859-1 decodes any byte, so binary or UTF-16 data would pass as text.
            return (
                f"undecodable as text: a NUL byte at byte {self.content.nul_at} of the content "
                "(binary or UTF-16 data)"
            )
        self.encoding = self.content.decoders.finish()
        if self.encoding is None:
            return self._undecodable()
        if self.encoding == "utf-8" and self.content.bom:
            self.encoding = "utf-8-sig"
        return self.content.structure.problem()

    def _undecodable(self) -> str:
        names = ", ".join(self.encodings)
        detail = ""
        if self.content.decoders.first_error is not None:
            name, offset = self.content.decoders.first_error
            detail = f" ({name} failed near byte {offset} of the content"
            if self.content.decoders.c1_at is not None:
                at, byte = self.content.decoders.c1_at
                detail += (
                    f"; ISO-8859-1 would read the control byte 0x{byte:02x} at byte {at}, which "
                    "no text holds: another encoding's bytes"
                )
            detail += ")"
        return f"undecodable as {names}{detail}"

    def _rows(self) -> int | None:
        if self.fmt in HEADER_FORMATS:
            return max(self.content.lines - 1, 0)
        if self.fmt in LINE_FORMATS:
            return self.content.lines
        return None


def _structure(fmt: str, shape: Shape) -> _Structure:
    if fmt in HEADER_FORMATS:
        return _FlatFile(_SEPARATORS[fmt], shape)
    if fmt == "json":
        return _JsonDocument(shape)
    if fmt in LINE_FORMATS:
        return _JsonLines()
    return _Structure()


class _Structure:
    """Checks a format's structure on the decompressed content (this one: none)."""

    def feed(self, block: bytes) -> None:
        """Take the next block of content (a UTF-8 BOM already removed)."""

    def problem(self) -> str | None:
        """The content has ended: what is wrong with its structure, if anything."""
        return None


class _FlatFile(_Structure):
    """A header with the required columns, then lines with as many fields as the header.

    Lines are split per block and their separators counted in C (``map``), so the check keeps
    up with decompression. Blank lines at the very end are allowed; anywhere else they are rows
    without fields.
    """

    def __init__(self, separator: bytes, shape: Shape) -> None:
        self.separator = separator
        self.required = shape.columns
        self.header: list[bytes] | None = None
        self.separators = 0  # per line, from the header
        self.carry = b""  # the last, unfinished line of the previous block
        self.line = 0  # lines checked so far
        self.blank_at: int | None = None  # a blank line, fine only if nothing follows
        self.first_problem: str | None = None

    def feed(self, block: bytes) -> None:
        if self.first_problem:
            return
        lines = (self.carry + block).split(b"\n") if self.carry else block.split(b"\n")
        self.carry = lines.pop()
        if self.header is None and lines:
            self._header(lines.pop(0))
        self._check(lines)

    def problem(self) -> str | None:
        if not self.first_problem:
            if self.header is None:
                self._header(self.carry)
            elif self.carry.strip(WHITESPACE):
                self._check([self.carry])
        return self.first_problem

    def _header(self, line: bytes) -> None:
        self.line = 1
        self.header = line.rstrip(b"\r").split(self.separator)
        self.separators = len(self.header) - 1
        if not line.strip(WHITESPACE):
            self.first_problem = "no header: the first line is blank"
            return
        names = {name.strip().strip(b'"') for name in self.header}  # CSV may quote names
        missing = [c for c in self.required if c.encode("ascii") not in names]
        if missing:
            shown = b", ".join(self.header[:5])[:120].decode("ascii", "replace")
            self.first_problem = (
                f"the header lacks the key column(s) {', '.join(missing)} "
                f"(it starts: {shown or '(blank)'})"
            )

    def _check(self, lines: list[bytes]) -> None:
        if self.first_problem or not lines:
            return
        counts = list(map(bytes.count, lines, repeat(self.separator)))
        if self.blank_at is None and counts.count(self.separators) == len(counts):
            self.line += len(lines)
            return
        for index, (line, count) in enumerate(zip(lines, counts, strict=True)):
            number = self.line + index + 1
            if not line.strip(WHITESPACE):
                self.blank_at = self.blank_at or number
            elif self.blank_at is not None:
                self.first_problem = f"a blank line {self.blank_at} in the middle of the rows"
                return
            elif count != self.separators:
                self.first_problem = (
                    f"ragged rows: line {number} has {count + 1} fields, the header "
                    f"{self.separators + 1}"
                )
                return
        self.line += len(lines)


class _JsonDocument(_Structure):
    """One JSON value, parsed incrementally (ijson/yajl), whose top level has ``shape``."""

    def __init__(self, shape: Shape) -> None:
        import ijson  # here: only landing needs it; the lake core imports without it

        self.shape = shape
        self.events = ijson.sendable_list()
        self.parser = ijson.basic_parse_coro(self.events)
        self.error_type = ijson.JSONError
        self.depth = 0
        self.top: str | None = None  # the top-level value's type
        self.pending_key: str | None = None  # a top-level key whose value starts next
        self.found: dict[str, str] = {}  # top-level key -> JSON type of its value
        self.offset = 0
        self.first_problem: str | None = None

    def feed(self, block: bytes) -> None:
        if self.first_problem:
            return
        self.offset += len(block)
        try:
            self.parser.send(block)
        except self.error_type as exc:
            self._parse_error(exc)
        self._walk()

    def problem(self) -> str | None:
        if not self.first_problem:
            try:
                self.parser.close()
            except self.error_type as exc:
                self._parse_error(exc)
            self._walk()
        return self.first_problem or self._shape_problem()

    def _parse_error(self, exc: Exception) -> None:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"within the first {self.offset} bytes" if self.offset else "at the start"
        self.first_problem = f"not JSON: {first_line.rstrip('.')} ({where} of the content)"

    def _walk(self) -> None:
        for event, value in self.events:
            if self.depth == 0 and self.top is None:
                self.top = _JSON_TYPES.get(event, "a scalar")
            elif self.depth == 1 and event == "map_key":
                self.pending_key = value
            elif self.depth == 1 and self.pending_key is not None:
                self.found[self.pending_key] = _JSON_TYPES.get(event, "scalar")
                self.pending_key = None
            if event in ("start_map", "start_array"):
                self.depth += 1
            elif event in ("end_map", "end_array"):
                self.depth -= 1
        del self.events[:]

    def _shape_problem(self) -> str | None:
        if not self.shape.properties:
            return None
        wanted = ", ".join(name for name, _ in self.shape.properties)
        if self.top != "object":
            return f"JSON top level is {self.top or 'empty'}, not an object with {wanted}"
        missing = [name for name, _ in self.shape.properties if name not in self.found]
        if missing:
            return (
                f"the JSON object lacks {', '.join(missing)} (required by {self.shape.source}; "
                f"it has {', '.join(self.found) or 'no properties'})"
            )
        for name, kind in self.shape.properties:
            if kind and self.found[name] != kind:
                return f"{name} is {self.found[name]}, not {kind} as {self.shape.source} says"
        return None


_JSON_TYPES = {"start_map": "object", "start_array": "array"}


class _JsonLines(_Structure):
    """One JSON object per line (blank lines at the end allowed)."""

    def __init__(self) -> None:
        self.carry = b""
        self.line = 0
        self.first_problem: str | None = None

    def feed(self, block: bytes) -> None:
        if self.first_problem:
            return
        lines = (self.carry + block).split(b"\n")
        self.carry = lines.pop()
        self._check(lines)

    def problem(self) -> str | None:
        if not self.first_problem and self.carry.strip(WHITESPACE):
            self._check([self.carry])
        return self.first_problem

    def _check(self, lines: list[bytes]) -> None:
        for line in lines:
            self.line += 1
            if self.first_problem or not line.strip(WHITESPACE):
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                self.first_problem = f"line {self.line} is not JSON: {exc}"
                return
            if not isinstance(value, dict):
                self.first_problem = f"line {self.line} is {type(value).__name__}, not an object"


class Gunzip:
    """Incremental gzip decompression in bounded blocks; records (never raises) what is wrong.

    Concatenated gzip members are decompressed one after the other, like ``gzip -dc``.
    """

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(wbits=31)
        self._member_started = False
        self.members = 0
        self.problem: str | None = None
        self.cut_short = False  # the input ended inside a member (``problem`` says so too)
        self.received = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decompressed blocks (each at most ``BLOCK_SIZE``) that ``data`` completes."""
        if self.problem:
            return
        self.received += len(data)
        pending = data
        while pending or self._member_started:
            self._member_started = True
            try:
                block = self._inflater.decompress(pending, BLOCK_SIZE)
            except zlib.error as exc:
                self.problem = f"corrupt gzip data near byte {self.received}: {exc}"
                return
            if block:
                yield block
            if self._inflater.eof:
                self.members += 1
                pending = self._inflater.unused_data
                self._inflater = zlib.decompressobj(wbits=31)
                self._member_started = False
                continue
            pending = self._inflater.unconsumed_tail
            if not pending and len(block) < BLOCK_SIZE:
                return

    def finish(self) -> None:
        """Record a truncated stream: the input ended inside a gzip member."""
        if self.problem is None and self._member_started:
            self.cut_short = True
            self.problem = (
                f"truncated gzip: the stream ended after {self.received} bytes "
                "before the end of the gzip data"
            )


class Decoders:
    """Strict incremental decoders for the candidate encodings, run side by side.

    Each block is fed to every candidate still alive; the first to fail on a byte is dead.
    Pure-ASCII blocks are skipped when every candidate maps ASCII to itself and none has a
    multi-byte sequence pending (the common case for large flat files, and a large saving).
    ISO-8859-1 accepts every byte, so it only has to be free of implausible C1 control bytes;
    once it is the best live candidate, the later ones cannot change the answer.
    """

    def __init__(self, encodings: list[str]) -> None:
        self.names = encodings
        canonical = [codecs.lookup(name).name for name in encodings]
        self.decoders = [
            None if name in _TOTAL_CODECS else codecs.getincrementaldecoder(name)("strict")
            for name in canonical
        ]
        self.alive = [True] * len(encodings)
        self.ascii_skip = all(name in _ASCII_COMPATIBLE for name in canonical)
        self.first_error: tuple[str, int] | None = None
        self.c1_at: tuple[int, int] | None = None  # (offset, byte) that ruled ISO-8859-1 out
        self.offset = 0

    def feed(self, block: bytes) -> None:
        """Decode ``block`` with every live candidate (output discarded: only validity counts)."""
        offset, self.offset = self.offset, self.offset + len(block)
        is_ascii = self.ascii_skip and block.isascii()
        for index, decoder in enumerate(self.decoders):
            if not self.alive[index]:
                continue
            if decoder is None:
                if not is_ascii and len(block.translate(None, _IMPLAUSIBLE_C1)) != len(block):
                    found = _IMPLAUSIBLE_C1_RE.search(block)
                    assert found is not None
                    self.c1_at = (offset + found.start(), block[found.start()])
                    self._kill(index, offset + found.start())
                    continue
                return  # the best live candidate accepts this block: the rest cannot win
            if is_ascii and not decoder.getstate()[0]:
                continue
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                self._kill(index, offset + exc.start)

    def finish(self) -> str | None:
        """The first encoding that decoded everything (a pending partial sequence fails)."""
        for index, decoder in enumerate(self.decoders):
            if decoder is None or not self.alive[index]:
                continue
            try:
                decoder.decode(b"", True)
            except UnicodeDecodeError:
                self._kill(index, self.offset)
        for name, alive in zip(self.names, self.alive, strict=True):
            if alive:
                return name
        return None

    def _kill(self, index: int, offset: int) -> None:
        self.alive[index] = False
        if self.first_error is None:
            self.first_error = (self.names[index], max(offset, 0))


class _Content:
    """Checks on the (decompressed) content, fed block by block in constant memory."""

    def __init__(self, encodings: list[str], structure: _Structure) -> None:
        self.decoders = Decoders(encodings)
        self.structure = structure
        self.head: bytearray | None = bytearray()  # until HEAD_SIZE bytes have been seen
        self.size = 0
        self.newlines = 0
        self.last_byte = b""
        self.bom = False
        self.error_body: str | None = None
        self.nul_at: int | None = None  # offset of the first NUL byte: no text report has one

    def feed(self, block: bytes) -> None:
        """Take the next block of content."""
        if self.head is None:
            self._process(block)
            return
        self.head += block
        if len(self.head) >= HEAD_SIZE:
            self._start()

    def finish(self) -> None:
        """The content has ended."""
        if self.head is not None:
            self._start()

    def _start(self) -> None:
        """Position-dependent checks on the start of the content, then normal processing."""
        assert self.head is not None
        head, self.head = bytes(self.head), None
        self.bom = head.startswith(UTF8_BOM)
        self.error_body = _error_body(head[len(UTF8_BOM) :] if self.bom else head)
        self._process(head, skip=len(UTF8_BOM) if self.bom else 0)

    def _process(self, block: bytes, skip: int = 0) -> None:
        if not block:
            return
        if self.nul_at is None and b"\0" in block:
            self.nul_at = self.size + block.index(b"\0")
        self.size += len(block)
        self.newlines += block.count(b"\n")
        self.last_byte = block[-1:]
        self.decoders.feed(block)
        if not self.error_body and self.nul_at is None:
            self.structure.feed(block[skip:] if skip else block)

    @property
    def lines(self) -> int:
        """Newline-terminated lines, plus a last line without a newline."""
        unterminated = 1 if self.size and self.last_byte != b"\n" else 0
        return self.newlines + unterminated


def _error_body(head: bytes) -> str | None:
    """What kind of error body the content starts with, if it is one (None otherwise)."""
    start = head.lstrip(WHITESPACE)
    opening = start[:32].lower()
    if opening.startswith(_HTML_STARTS):
        return "an HTML page"
    if _XML_ERROR.match(start):
        code = _XML_CODE.search(start)
        return "an XML error body" + (f" (Code {code.group(1).decode()})" if code else "")
    if _JSON_ERRORS.match(start):
        code = _JSON_CODE.search(start)
        return 'an SP-API error body {"errors": ...}' + (
            f" (code {code.group(1).decode()})" if code else ""
        )
    return None
