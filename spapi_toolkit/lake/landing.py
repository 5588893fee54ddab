"""Landing documents in the raw zone: one streaming pass that stores, hashes and checks.

``land`` takes the bytes of one SP-API document (or one JSON-lines batch of API snapshots) as an
iterable of chunks, exactly as they came off the wire, and in a single pass with constant memory:

* writes them unchanged to the raw zone (``Lake.write_stream``: atomic, sha256 and size);
* decides gzip from the first bytes (magic ``1f 8b``; the declared ``compressionAlgorithm`` is
  only recorded: Amazon has sent gzip both with and without saying so) and, without changing
  what is stored, decompresses incrementally to look at the content;
* checks the content: empty, a truncated or corrupt gzip stream, an HTML/XML error page, an
  encoding none of the allowed ones decodes strictly (decoders run side by side; characters are
  never replaced), JSON that is not JSON; and counts rows.

A good document gets its manifest (``<key>.manifest.json``), written after the object: an object
without a manifest is not landed, so a crash between the two only means the next run writes the
object again. A bad one is moved to ``quarantine/<same key>`` with a ``.reason.json`` beside it
and ``BadDocument`` is raised: bad bytes never sit in raw/ as if they were data.
"""

from __future__ import annotations

import builtins
import codecs
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from spapi_toolkit import __version__
from spapi_toolkit.clock import SYSTEM_CLOCK
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.layout import (
    KeyLayoutError,
    manifest_key,
)
from spapi_toolkit.lake.storage import Lake, ObjectNotFound

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
WHITESPACE = b" \t\r\n\f\v"
READ_SIZE = 1024 * 1024  # small incoming chunks are joined up to this before processing
BLOCK_SIZE = 1024 * 1024  # at most this much decompressed content is held at once
HEAD_SIZE = 64 * 1024  # the start of the content kept for the error-page and BOM checks
QUARANTINE = "quarantine/"
REASON_SUFFIX = ".reason.json"

# Formats whose first line is a header (rows = lines - 1) and whose every line is a row.
HEADER_FORMATS = frozenset({"tsv", "csv", "txt"})
LINE_FORMATS = frozenset({"jsonl"})

# Codecs (by ``codecs.lookup(...).name``) that decode every byte: nothing can make them fail.
_TOTAL_CODECS = frozenset({"iso8859-1"})
# Codecs that map every ASCII byte to itself on its own: an ASCII block needs no decoding
# unless a multi-byte sequence is pending from the previous block.
_ASCII_COMPATIBLE = frozenset(
    {"utf-8", "utf-8-sig", "cp932", "shift_jis", "euc_jp", "iso8859-1", "cp1252", "ascii"}
)
_XML_ERROR = re.compile(rb"<\?xml[^>]*\?>\s*<Error>", re.IGNORECASE)

# Names that would carry credentials or pre-signed URLs; a manifest never stores them.
_SECRET_NAMES = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "x-amz-access-token",
        "authorization",
        "password",
        "secret",
        "url",
        "document_url",
    }
)
_PRESIGNED_MARKERS = ("x-amz-signature", "x-amz-credential", "signature=")

# What the caller supplies in ``manifest_fields`` (the rest is measured by ``land``).
_CALLER_FIELDS: dict[str, Callable[[], Any] | None] = {
    "dataset": None,
    "seller_id": None,
    "marketplace_ids": list,
    "request": dict,
    "report_id": None,
    "document_id": None,
    "declared_compression": None,
}
_REQUIRED_CALLER_FIELDS = ("dataset", "seller_id")


class LandingError(KeyLayoutError):
    """``land`` or a key helper was called with something unusable (names which argument)."""


class BadDocument(SpApiToolkitError):
    """The bytes are not a usable document; `reason` says why (truncated gzip, html error page,
    empty, undecodable as <encodings>, not JSON ...). The bytes go to quarantine/, never raw/."""

    def __init__(
        self,
        reason: str,
        *,
        key: str | None = None,
        dataset: str | None = None,
        quarantine_key: str | None = None,
    ) -> None:
        self.reason = reason
        self.key = key
        self.dataset = dataset
        self.quarantine_key = quarantine_key
        where = " ".join(part for part in (f"dataset={dataset}" if dataset else "", key) if part)
        message = f"{where}: {reason}" if where else reason
        if quarantine_key:
            message += f" (the bytes are kept at {quarantine_key})"
        super().__init__(message)


@dataclass(frozen=True)
class Manifest:
    """What landed and how we know it is good: written beside the raw object, after it."""

    key: str  # the raw object's key
    dataset: str
    seller_id: str
    marketplace_ids: list[str]
    request: dict[str, Any]  # what was asked: report type, options, window, or operation+params
    report_id: str | None
    document_id: str | None
    sha256: str  # of the bytes as received (compressed if they came compressed)
    bytes: int
    compression: str | None  # "gzip" when the first bytes are 1f 8b, else None (detected)
    declared_compression: str | None  # what getReportDocument said (compressionAlgorithm)
    encoding: str | None  # detected: "utf-8", "utf-8-sig", "cp1252", "cp932", "iso-8859-1"
    rows: int | None  # tsv: data lines (header excluded); jsonl: lines; json: None
    retrieved_at: str  # ISO 8601 UTC
    toolkit_version: str

    def to_json(self) -> builtins.bytes:
        """Stable JSON: sorted keys, indent 2, trailing newline (same manifest, same bytes)."""
        text = json.dumps(asdict(self), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: builtins.bytes) -> Manifest:
        """Parse a manifest; unknown fields (from a newer toolkit) are ignored."""
        try:
            payload = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LandingError(f"manifest is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise LandingError("manifest is not a JSON object")
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in payload]
        if missing:
            key = payload.get("key", "?")
            raise LandingError(f"manifest of {key} lacks the field(s) {', '.join(missing)}")
        return cls(**{name: payload[name] for name in names})


def object_keys(key_or_stem: str, fmt: str) -> list[str]:
    """The object keys ``key_or_stem`` may have landed under: itself if it already ends with
    ``.<fmt>`` or ``.<fmt>.gz``, else ``<stem>.<fmt>`` and ``<stem>.<fmt>.gz``."""
    if key_or_stem.endswith((f".{fmt}", f".{fmt}.gz")):
        return [key_or_stem]
    return [f"{key_or_stem}.{fmt}", f"{key_or_stem}.{fmt}.gz"]


def is_landed(lake: Lake, key_or_stem: str, fmt: str) -> Manifest | None:
    """The manifest if the object (with either extension, .<fmt> or .<fmt>.gz) has landed."""
    for key in object_keys(key_or_stem, fmt):
        try:
            data = lake.read_bytes(manifest_key(key))
        except ObjectNotFound:
            continue
        if lake.exists(key):
            return Manifest.from_json(data)
    return None


def land(
    lake: Lake,
    stem: str,
    chunks: Iterable[bytes],
    *,
    fmt: str,
    encodings: Sequence[str],
    manifest_fields: dict[str, Any],
    now: datetime | None = None,
) -> Manifest:
    """Land one document: store the bytes unchanged, check them, then write the manifest.

    ``stem`` comes from ``raw_stem``; the key is ``<stem>.<fmt>`` or ``<stem>.<fmt>.gz`` as the
    first bytes say. ``encodings`` are tried in order (flat files ``["utf-8", <the
    marketplace's flat-file encoding>, "iso-8859-1"]``, JSON ``["utf-8"]``). ``manifest_fields``
    carries dataset, seller_id, marketplace_ids, request, report_id, document_id and
    declared_compression (never tokens nor the pre-signed document URL).

    A document that has already landed (its manifest exists) is not written again: its
    manifest is returned and ``chunks`` is not read. Errors raised by ``chunks`` (a dropped
    download) propagate and leave nothing in the lake. A bad document is quarantined and
    ``BadDocument`` raised.
    """
    caller = _caller_fields(manifest_fields)
    checks = _DocumentCheck(fmt, _check_encodings(encodings))
    landed = is_landed(lake, stem, fmt)
    if landed is not None:
        return landed
    first, chunks = _peek(_rechunk(chunks, READ_SIZE), len(GZIP_MAGIC))
    compression = "gzip" if first.startswith(GZIP_MAGIC) else None
    key = f"{stem}.{fmt}.gz" if compression else f"{stem}.{fmt}"
    written = lake.write_stream(key, checks.pass_through(chunks, gzip=compression is not None))
    reason = checks.verdict()
    if reason is not None:
        raise _quarantine(lake, key, reason, caller, written.sha256, written.size)
    manifest = Manifest(
        key=key,
        **caller,
        sha256=written.sha256,
        bytes=written.size,
        compression=compression,
        encoding=checks.encoding,
        rows=checks.rows,
        retrieved_at=_utc_timestamp(now),
        toolkit_version=__version__,
    )
    lake.write_bytes(manifest_key(key), manifest.to_json())
    return manifest


def _caller_fields(manifest_fields: dict[str, Any]) -> dict[str, Any]:
    """The caller's manifest fields, completed with defaults; refuses unknown or secret ones."""
    unknown = sorted(set(manifest_fields) - set(_CALLER_FIELDS))
    if unknown:
        raise LandingError(
            f"manifest_fields has unknown or computed field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(_CALLER_FIELDS)}"
        )
    missing = [name for name in _REQUIRED_CALLER_FIELDS if not manifest_fields.get(name)]
    if missing:
        raise LandingError(f"manifest_fields lacks {', '.join(missing)}")
    _reject_secrets(manifest_fields, "manifest_fields")
    _check_shapes(manifest_fields)
    result = {
        name: manifest_fields.get(name, default() if default else None)
        for name, default in _CALLER_FIELDS.items()
    }
    result["marketplace_ids"] = list(result["marketplace_ids"] or [])
    return result


def _check_shapes(manifest_fields: dict[str, Any]) -> None:
    """``marketplace_ids`` must be a list of strings and ``request`` a dict (a bare string of
    marketplace ids would otherwise be split into characters)."""
    ids = manifest_fields.get("marketplace_ids", [])
    if not isinstance(ids, list | tuple) or not all(isinstance(i, str) for i in ids):
        raise LandingError(f"manifest_fields['marketplace_ids'] must be a list of ids, not {ids!r}")
    request = manifest_fields.get("request", {})
    if not isinstance(request, dict):
        raise LandingError("manifest_fields['request'] must be a dict of what was asked")


def _reject_secrets(value: Any, where: str) -> None:
    """Raise if ``value`` holds a credential-like field or a pre-signed URL (names the path,
    never the value): whatever is in a manifest is readable by every analyst."""
    if isinstance(value, dict):
        for name, item in value.items():
            if str(name).lower() in _SECRET_NAMES:
                raise LandingError(f"{where}[{name!r}] looks like a secret or a URL; not stored")
            _reject_secrets(item, f"{where}[{name!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _reject_secrets(item, f"{where}[{index}]")
    elif isinstance(value, str) and _is_presigned_url(value):
        raise LandingError(f"{where} is a pre-signed URL; store the document id instead")


def _is_presigned_url(text: str) -> bool:
    lowered = text.lower()
    is_url = lowered.startswith(("http://", "https://"))
    return is_url and any(marker in lowered for marker in _PRESIGNED_MARKERS)


def _check_encodings(encodings: Sequence[str]) -> list[str]:
    """The encodings, lower-cased, after checking Python knows each of them."""
    if isinstance(encodings, str) or not encodings:
        raise LandingError(f"encodings must be a non-empty list of names, not {encodings!r}")
    for name in encodings:
        try:
            codecs.lookup(name)
        except LookupError as exc:
            raise LandingError(f"unknown encoding {name!r} in encodings") from exc
    return [name.lower() for name in encodings]


def _utc_timestamp(now: datetime | None) -> str:
    """``now`` (default: the current time) as ISO 8601 UTC with a Z; naive means UTC."""
    moment = now or SYSTEM_CLOCK.now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Join small chunks up to ``size`` bytes (fewer, larger writes and checks); large chunks
    pass as they are. Empty chunks are dropped."""
    pending: list[bytes] = []
    pending_size = 0
    for chunk in chunks:
        if not chunk:
            continue
        if not pending and len(chunk) >= size:
            yield bytes(chunk)
            continue
        pending.append(bytes(chunk))
        pending_size += len(chunk)
        if pending_size >= size:
            yield b"".join(pending)
            pending, pending_size = [], 0
    if pending:
        yield b"".join(pending)


def _peek(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes (fewer if the stream is shorter) and the whole stream again."""
    taken: list[bytes] = []
    seen = 0
    for chunk in chunks:
        taken.append(chunk)
        seen += len(chunk)
        if seen >= size:
            break
    return b"".join(taken)[:size], chain(taken, chunks)


def _quarantine(
    lake: Lake, key: str, reason: str, caller: dict[str, Any], sha256: str, size: int
) -> BadDocument:
    """Move the bad object to ``quarantine/<key>``, write why beside it; the error to raise."""
    target = QUARANTINE + key
    lake.move(key, target)
    record = {
        "reason": reason,
        "manifest_fields": caller,
        "key": key,
        "sha256": sha256,
        "bytes": size,
        "toolkit_version": __version__,
    }
    text = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    lake.write_bytes(target + REASON_SUFFIX, text.encode("utf-8"))
    return BadDocument(reason, key=key, dataset=caller["dataset"], quarantine_key=target)


class _Gunzip:
    """Incremental gzip decompression in bounded blocks; records (never raises) what is wrong.

    Concatenated gzip members are decompressed one after the other, like ``gzip -dc``.
    """

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(wbits=31)
        self._member_started = False
        self.members = 0
        self.problem: str | None = None
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
            self.problem = (
                f"truncated gzip: the stream ended after {self.received} bytes "
                "before the end of the gzip data"
            )


class _Decoders:
    """Strict incremental decoders for the candidate encodings, run side by side.

    Each block is fed to every candidate still alive; the first to fail on a byte is dead.
    Pure-ASCII blocks are skipped when every candidate maps ASCII to itself and none has a
    multi-byte sequence pending (the common case for large flat files, and a large saving).
    Once the best live candidate is one that accepts every byte (ISO-8859-1), the rest cannot
    change the answer and decoding stops.
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
        self.offset = 0

    def _settled(self) -> bool:
        for alive, decoder in zip(self.alive, self.decoders, strict=True):
            if alive:
                return decoder is None
        return True

    def feed(self, block: bytes) -> None:
        """Decode ``block`` with every live candidate (output discarded: only validity counts)."""
        offset, self.offset = self.offset, self.offset + len(block)
        if self._settled():
            return
        is_ascii = self.ascii_skip and block.isascii()
        for index, decoder in enumerate(self.decoders):
            if decoder is None or not self.alive[index]:
                continue
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

    def __init__(self, encodings: list[str]) -> None:
        self.decoders = _Decoders(encodings)
        self.head: bytearray | None = bytearray()  # until HEAD_SIZE bytes have been seen
        self.size = 0
        self.newlines = 0
        self.last_byte = b""
        self.first_char = b""
        self.last_char = b""
        self.bom = False
        self.error_page = False
        self.nul_at: int | None = None  # offset of the first NUL byte: no text report has one

    def feed(self, block: bytes) -> None:
        """Take the next block of content."""
        if self.head is None:
            if not self.first_char:
                self.first_char = block.lstrip(WHITESPACE)[:1]
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
        text = head[len(UTF8_BOM) :] if self.bom else head
        start = text.lstrip(WHITESPACE)
        opening = start[:32].lower()
        self.error_page = opening.startswith((b"<!doctype html", b"<html")) or bool(
            opening.startswith(b"<?xml") and _XML_ERROR.match(start)
        )
        self.first_char = start[:1]
        self._process(head)

    def _process(self, block: bytes) -> None:
        if not block:
            return
        if self.nul_at is None and b"\0" in block:
            self.nul_at = self.size + block.index(b"\0")
        self.size += len(block)
        self.newlines += block.count(b"\n")
        self.last_byte = block[-1:]
        tail = block.rstrip(WHITESPACE)
        if tail:
            self.last_char = tail[-1:]
        self.decoders.feed(block)

    @property
    def lines(self) -> int:
        """Newline-terminated lines, plus a last line without a newline."""
        unterminated = 1 if self.size and self.last_byte != b"\n" else 0
        return self.newlines + unterminated


class _DocumentCheck:
    """The single pass over a document's bytes: passes them through unchanged and checks them."""

    def __init__(self, fmt: str, encodings: list[str]) -> None:
        if not re.fullmatch(r"[a-z0-9]+", fmt or ""):
            raise LandingError(f"fmt {fmt!r} must be a lower-case extension such as tsv or json")
        self.fmt = fmt
        self.encodings = encodings
        self.content = _Content(encodings)
        self.gunzip: _Gunzip | None = None
        self.received = 0
        self.encoding: str | None = None
        self.rows: int | None = None

    def pass_through(self, chunks: Iterable[bytes], *, gzip: bool) -> Iterator[bytes]:
        """Yield ``chunks`` unchanged, checking their content on the way."""
        self.gunzip = _Gunzip() if gzip else None
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
        if self.content.error_page:
            return "an HTML/XML error page instead of a document"
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
        if self.fmt == "json" and not self._looks_like_json():
            return "not JSON: the content does not start with { or [ and end with } or ]"
        return None

    def _undecodable(self) -> str:
        names = ", ".join(self.encodings)
        detail = ""
        if self.content.decoders.first_error is not None:
            name, offset = self.content.decoders.first_error
            detail = f" ({name} failed near byte {offset} of the content)"
        return f"undecodable as {names}{detail}"

    def _looks_like_json(self) -> bool:
        pairs = {b"{": b"}", b"[": b"]"}
        return self.content.first_char in pairs and self.content.last_char in pairs.values()

    def _rows(self) -> int | None:
        if self.fmt in HEADER_FORMATS:
            return max(self.content.lines - 1, 0)
        if self.fmt in LINE_FORMATS:
            return self.content.lines
        return None
