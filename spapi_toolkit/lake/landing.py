"""Landing documents in the raw zone: one streaming pass that stores, hashes and checks.

``land`` takes the bytes of one SP-API document (or one JSON-lines batch of API snapshots) as an
iterable of chunks, exactly as they came off the wire, and in a single pass with constant memory:

* writes them unchanged to the raw zone (``Lake.write_stream``: atomic, sha256 and size);
* decides gzip from the first bytes (magic ``1f 8b``; the declared ``compressionAlgorithm`` is
  only recorded: Amazon has sent gzip both with and without saying so) and, without changing
  what is stored, decompresses incrementally to look at the content;
* checks the content (``checks``): empty, a truncated or corrupt gzip stream, an error body
  (HTML, XML ``<Error>``, SP-API's ``{"errors": ...}``), an encoding none of the allowed ones
  decodes strictly and plausibly (characters are never replaced), JSON that does not parse or
  lacks the report's top-level properties, a flat file without its key columns or with ragged
  rows; and counts rows.

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from spapi_toolkit import __version__
from spapi_toolkit.clock import SYSTEM_CLOCK
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.checks import DocumentCheck, Shape
from spapi_toolkit.lake.layout import (
    KeyLayoutError,
    manifest_key,
)
from spapi_toolkit.lake.storage import Lake, ObjectNotFound

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 1024 * 1024  # small incoming chunks are joined up to this before processing
QUARANTINE = "quarantine/"
REASON_SUFFIX = ".reason.json"

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
    shape: Shape | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Land one document: store the bytes unchanged, check them, then write the manifest.

    ``stem`` comes from ``raw_stem``; the key is ``<stem>.<fmt>`` or ``<stem>.<fmt>.gz`` as the
    first bytes say. ``encodings`` are tried in order (flat files ``["utf-8", <the
    marketplace's flat-file encoding>, "iso-8859-1"]``, JSON ``["utf-8"]``). ``manifest_fields``
    carries dataset, seller_id, marketplace_ids, request, report_id, document_id and
    declared_compression (never tokens nor the pre-signed document URL). ``shape`` says what
    the dataset's documents must hold (``checks.document_shape``): a flat file's key columns,
    a JSON report's top-level properties.

    A document that has already landed (its manifest exists) is not written again: its
    manifest is returned and ``chunks`` is not read. Errors raised by ``chunks`` (a dropped
    download) propagate and leave nothing in the lake. A bad document is quarantined and
    ``BadDocument`` raised.
    """
    caller = _caller_fields(manifest_fields)
    if not re.fullmatch(r"[a-z0-9]+", fmt or ""):
        raise LandingError(f"fmt {fmt!r} must be a lower-case extension such as tsv or json")
    checks = DocumentCheck(fmt, _check_encodings(encodings), shape)
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


def quarantined(lake: Lake) -> Iterator[dict[str, Any]]:
    """What is in quarantine: per bad document, its reason record (``reason``, ``key``,
    ``manifest_fields`` with dataset and seller, ``sha256``, ``bytes``) and ``quarantine_key``."""
    for key in lake.list(QUARANTINE):
        if key.endswith(REASON_SUFFIX):
            record = json.loads(lake.read_bytes(key))
            record["quarantine_key"] = key[: -len(REASON_SUFFIX)]
            yield record


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
