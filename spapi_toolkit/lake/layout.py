"""Where everything lives in the lake: the zones and the one key format of the raw zone.

Every reader and writer of raw keys goes through here (landing, the snapshot driver that looks
for the newest listings, the demo's reconciliation, the Glue jobs that read raw), so the layout
can change in one place. Keys are '/'-separated and relative to the lake's root::

    raw/source=spapi/dataset=<name>/seller_id=<id>/marketplace_id=<id>/dt=<YYYY-MM-DD>/<object>
    <object>.manifest.json                      beside every landed object
    cleaned/ aggregated/ quarantine/            the curated zones
    _state/                                     the ledger and notification markers
"""

from __future__ import annotations

import re
from datetime import date, datetime

from spapi_toolkit.errors import SpApiToolkitError

RAW, CLEANED, AGGREGATED, QUARANTINE, STATE = "raw", "cleaned", "aggregated", "quarantine", "_state"
SOURCE = "spapi"
MANIFEST_SUFFIX = ".manifest.json"

_SAFE_PART = re.compile(r"[A-Za-z0-9._-]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._=-]")


class KeyLayoutError(SpApiToolkitError, ValueError):
    """A key part is unusable (names which one and why)."""


def raw_prefix(
    dataset: str | None = None, seller_id: str | None = None, marketplace_id: str | None = None
) -> str:
    """The raw-zone prefix down to the most specific part given (each needs the ones before)."""
    prefix = f"{RAW}/source={SOURCE}/"
    for name, value in (
        ("dataset", dataset),
        ("seller_id", seller_id),
        ("marketplace_id", marketplace_id),
    ):
        if value is None:
            break
        _check_part(name, value)
        prefix += f"{name}={value}/"
    return prefix


def raw_stem(dataset: str, seller_id: str, marketplace_id: str, dt: date, object_id: str) -> str:
    """The raw key without extension for one document or batch (deterministic).

    ``object_id`` is sanitised to ``[A-Za-z0-9._=-]`` (other characters become ``_``).
    """
    day = dt.date() if isinstance(dt, datetime) else dt
    prefix = raw_prefix(dataset, seller_id, marketplace_id)
    return f"{prefix}dt={day.isoformat()}/{_safe_object_id(object_id)}"


def manifest_key(key: str) -> str:
    """The manifest's key for the object at ``key``."""
    return key + MANIFEST_SUFFIX


def is_manifest(key: str) -> bool:
    """Whether ``key`` is a manifest (rather than a landed object)."""
    return key.endswith(MANIFEST_SUFFIX)


def object_key(manifest: str) -> str:
    """The key of the object a manifest describes."""
    return manifest[: -len(MANIFEST_SUFFIX)]


def raw_partition(key: str) -> dict[str, str]:
    """The ``name=value`` parts of a raw key (source, dataset, seller_id, marketplace_id, dt)."""
    return dict(part.split("=", 1) for part in key.split("/")[1:-1] if "=" in part)


def _check_part(name: str, value: str) -> None:
    if not isinstance(value, str) or not _SAFE_PART.fullmatch(value) or set(value) == {"."}:
        raise KeyLayoutError(f"{name} {value!r} must be letters, digits, '.', '_' or '-'")


def _safe_object_id(object_id: str) -> str:
    """``object_id`` with unsafe characters (and leading dots) replaced by ``_``."""
    safe = _UNSAFE_ID_CHARS.sub("_", str(object_id))
    stripped = safe.lstrip(".")
    safe = "_" * (len(safe) - len(stripped)) + stripped
    if not safe:
        raise KeyLayoutError(f"object id {object_id!r} is empty")
    return safe
