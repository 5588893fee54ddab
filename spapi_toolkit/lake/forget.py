"""Forgetting a seller: every trace of one selling partner id removed from every zone.

``forget_seller(lake, seller_id)`` is what ``spapi forget --seller ID`` runs, on a local folder
or on the AWS lake (``Lake.from_uri("s3://raw/lake,cleaned=s3://c,aggregated=s3://a")``). Where
a seller's data lives (``layout``, ``ledger``, ``curate``, ``aws.ingest``):

* objects keyed by the seller, a key segment ``seller_id=<id>``: the raw documents and their
  manifests (``raw/source=spapi/dataset=*/seller_id=<id>/...``), documents quarantined at
  landing (``quarantine/raw/...``), the ledger (``_state/ledger/seller_id=<id>/``), the Step
  Functions plans (``_state/plans/seller_id=<id>/``) and parked task tokens
  (``_state/task-tokens/seller_id=<id>/``): deleted;
* rows that carry the seller in a ``seller_id`` column, in files shared with other sellers:
  the cleaned tables and the marts (Parquet, partitioned by marketplace and day, never by
  seller), curation's scratch ``_staging/`` and the rows curation quarantined
  (``quarantine/cleaned/<table>/run=*/``, JSON lines). Each such file is rewritten without the
  seller's rows (pyarrow; the other rows and the file's schema, compression and timestamp
  encoding kept) through ``Lake.write_bytes``, which replaces the object atomically (locally a
  temp file renamed over it, on S3 one PUT): a reader sees the old file or the new one, never
  half of one. A file left without rows is deleted; a partition left without files is
  reported (its Glue catalog partition can go: ``drop_catalog_partitions``);
* curation state: ``_state/curate/<table>.json`` lists the raw documents a table holds (raw key
  -> sha256); the seller's are taken out, so nothing names the seller and a document landed
  again later is curated again. ``_state/aggregate/<mart>.json`` lists the cleaned files each
  mart was built from; the names of files deleted here are taken out (the marts' rows of the
  seller are gone too, so what remains still describes the marts), and a partition that was
  already due for a rebuild stays due.

The order makes an interrupted run harmless and a rerun complete it: shared files first, then
the seller's documents (manifest before object: an object without a manifest is not landed),
then the curation state (before, a raw document still recorded as curated is never read again;
after, no document of the seller is left to read), then plans, tokens and the ledger. On S3
the object versions a versioned bucket keeps (the raw bucket's) are deleted too: every version
under the seller's keys and the earlier versions of the files rewritten here.

Not touched: the quality results (``_quality/``: counts per partition, never values), other
sellers' rows that name this seller as a competitor (``buy_box_seller_id`` of an offer: the
other seller's pull of Amazon's public offer listing), and the Glue catalog unless asked.
Stop the seller's ingestion first (its profile, secret and schedule), or the next run lands it
again.
"""

from __future__ import annotations

import gzip
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.curate.aggregate import STATE as AGGREGATE_STATE_PREFIX
from spapi_toolkit.lake.curate.jobs import STATE as CURATE_STATE_PREFIX
from spapi_toolkit.lake.curate.publish import STAGING
from spapi_toolkit.lake.layout import (
    AGGREGATED,
    CLEANED,
    QUARANTINE,
    RAW,
    KeyLayoutError,
    is_manifest,
    raw_prefix,
)
from spapi_toolkit.lake.storage import Lake, S3Lake, ZonedLake

REFERENCE_SELLER = "reference"  # reference files (fx_rates): nobody's data (lake/reference.py)
SELLER_COLUMN = "seller_id"
CURATE_STATE = f"{CURATE_STATE_PREFIX}/"
AGGREGATE_STATE = f"{AGGREGATE_STATE_PREFIX}/"
CLEANED_QUARANTINE = f"{QUARANTINE}/{CLEANED}/"
# Where the objects keyed by a seller are, by report zone (the first match wins).
KEYED_ZONES = (
    (f"{RAW}/", "raw"),
    (f"{QUARANTINE}/", "quarantine"),
    ("_state/ledger/", "ledger"),
    ("_state/plans/", "plans"),
    ("_state/task-tokens/", "task_tokens"),
)
ROW_ZONES = {CLEANED: "cleaned", AGGREGATED: "aggregated", STAGING: "staging"}
_DELETE_BATCH = 1000  # S3 DeleteObjects takes at most this many keys


class ForgetError(SpApiToolkitError):
    """The seller cannot be forgotten (unknown, the reference data, a malformed id)."""


@dataclass
class ZoneCounts:
    """What went from one zone."""

    deleted: int = 0  # objects deleted
    rewritten: int = 0  # objects rewritten without the seller's rows (or state entries)
    rows: int = 0  # rows (or state entries) removed


@dataclass(frozen=True)
class EmptiedPartition:
    """A table partition left without data files: its Glue catalog partition is stale."""

    zone: str  # cleaned | aggregated
    table: str
    values: tuple[str, ...]  # partition values, in the folders' order (unescaped)
    path: str  # the partition's folder key, e.g. cleaned/order_items/marketplace_id=X/...


@dataclass
class ForgetReport:
    """What ``forget_seller`` removed (or, in a dry run, would remove)."""

    seller_id: str
    lake: str
    dry_run: bool
    zones: dict[str, ZoneCounts] = field(default_factory=lambda: defaultdict(ZoneCounts))
    deleted: list[str] = field(default_factory=list)  # keys
    rewritten: dict[str, int] = field(default_factory=dict)  # key -> rows/entries removed
    emptied_partitions: list[EmptiedPartition] = field(default_factory=list)
    versions: int = 0  # older S3 object versions deleted (or found, in a dry run)
    catalog_partitions: list[str] = field(default_factory=list)  # dropped from Glue
    finished_at: str = ""

    @property
    def empty(self) -> bool:
        return not self.deleted and not self.rewritten

    def lines(self) -> list[str]:
        """A summary for a person: one line per zone, the emptied partitions, the versions."""
        verb = "would remove" if self.dry_run else "removed"
        out = [f"{verb} seller {self.seller_id} from {self.lake}:"]
        for name, counts in sorted(self.zones.items()):
            parts = [f"{counts.deleted} object(s) deleted"]
            if counts.rewritten:
                parts.append(f"{counts.rewritten} rewritten ({counts.rows} row(s) or entries out)")
            out.append(f"  {name}: " + ", ".join(parts))
        for p in self.emptied_partitions:
            out.append(
                f"  partition emptied: {p.zone}.{p.table} ({', '.join(p.values)}): "
                "its Glue catalog partition is stale"
            )
        if self.versions:
            out.append(f"  older S3 object versions {'found' if self.dry_run else 'deleted'}: "
                       f"{self.versions}")  # fmt: skip
        for dropped in self.catalog_partitions:
            out.append(f"  catalog partition dropped: {dropped}")
        return out


def forget_seller(
    lake: Lake,
    seller_id: str,
    *,
    dry_run: bool = False,
    purge_versions: bool = True,
    clock: Clock = SYSTEM_CLOCK,
) -> ForgetReport:
    """Remove every trace of ``seller_id`` from ``lake`` (see the module doc); returns what
    went. ``dry_run``: change nothing, report what would go. ``purge_versions``: on S3, delete
    the older versions of what went too. Raises ``ForgetError`` (nothing changed) when no
    object, row or state entry of the lake carries ``seller_id``."""
    _check_seller(seller_id)
    segment = f"{SELLER_COLUMN}={seller_id}"
    report = ForgetReport(seller_id, lake.uri, dry_run)
    keys = list(lake.list(""))
    owned = [k for k in keys if segment in k.split("/")]
    owned_set = set(owned)
    shared_files: list[tuple[str, str]] = []  # (report zone, key) of files that mix sellers
    curate_states: list[str] = []
    aggregate_states: list[str] = []
    for key in keys:
        if segment in key.split("/"):
            continue
        head = key.split("/", 1)[0]
        if head in ROW_ZONES and _is_data_file(key, ".parquet"):
            shared_files.append((ROW_ZONES[head], key))
        elif key.startswith(CLEANED_QUARANTINE) and _is_data_file(key, ".json", ".json.gz"):
            shared_files.append(("quarantine", key))
        elif key.startswith(CURATE_STATE) and key.endswith(".json"):
            curate_states.append(key)
        elif key.startswith(AGGREGATE_STATE) and key.endswith(".json"):
            aggregate_states.append(key)

    # 1. The files shared with other sellers: rewritten without the seller's rows.
    gone_files: set[str] = set()
    rewritten: set[str] = set()
    for zone, key in shared_files:
        data = lake.read_bytes(key)
        kept, removed, total = (
            _without_seller_json(data, key, seller_id)
            if zone == "quarantine"
            else _without_seller_parquet(data, seller_id)
        )
        if not removed:
            continue
        counts = report.zones[zone]
        counts.rows += removed
        if removed == total:
            counts.deleted += 1
            report.deleted.append(key)
            gone_files.add(key)
            if not dry_run:
                lake.delete(key)
        else:
            counts.rewritten += 1
            report.rewritten[key] = removed
            rewritten.add(key)
            if not dry_run:
                assert kept is not None
                lake.write_bytes(key, kept)
    report.emptied_partitions = _emptied(keys, gone_files)
    if not dry_run:
        for partition in report.emptied_partitions:
            lake.delete_folder(partition.path)  # what is left there (markers, checksums)

    # 2. The seller's own objects; a manifest before its object.
    for key in sorted(owned, key=lambda k: (not is_manifest(k), k)):
        zone = next((name for prefix, name in KEYED_ZONES if key.startswith(prefix)), "other")
        report.zones[zone].deleted += 1
        report.deleted.append(key)

    # 3. Curation state: the seller's documents out of each table's list.
    state_changes: dict[str, bytes] = {}
    for key in curate_states:
        payload = json.loads(lake.read_bytes(key))
        documents = payload.get("documents") or {}
        kept_docs = {k: v for k, v in documents.items() if segment not in k.split("/")}
        if len(kept_docs) != len(documents):
            payload["documents"] = kept_docs
            _count_state(report, "curation_state", key, len(documents) - len(kept_docs))
            state_changes[key] = _state_bytes(payload)
    gone_names = _gone_names(gone_files)
    for key in aggregate_states:
        payload = json.loads(lake.read_bytes(key))
        changed, removed = _without_files(payload, gone_names)
        if removed:
            _count_state(report, "aggregate_state", key, removed)
            state_changes[key] = _state_bytes(changed)

    if report.empty:
        raise ForgetError(
            f"seller {seller_id!r} is unknown in the lake at {lake.uri}: no raw document, "
            "ledger entry, plan, quarantined document, curated row or curation state carries "
            "that id; nothing was changed"
        )
    if not dry_run:
        seller_keys = [k for k in report.deleted if k in owned_set]
        for key in seller_keys:
            if key.startswith((f"{RAW}/", f"{QUARANTINE}/")):
                lake.delete(key)
        for key, data in state_changes.items():
            lake.write_bytes(key, data)
        for key in seller_keys:
            if not key.startswith((f"{RAW}/", f"{QUARANTINE}/")):
                lake.delete(key)  # plans, task tokens, the ledger: last
        for folder in sorted({_seller_folder(k, segment) for k in owned}):
            lake.delete_folder(folder)  # a local folder named after the seller
    if purge_versions:
        report.versions = _purge_versions(
            lake, segment, rewritten | set(state_changes), gone_files, dry_run
        )
    report.finished_at = clock.now().isoformat()
    return report


def drop_catalog_partitions(
    report: ForgetReport, databases: Mapping[str, str], *, glue: Any = None
) -> list[str]:
    """Delete the Glue catalog partitions of ``report``'s emptied partitions; ``databases``:
    zone (``cleaned``, ``aggregated``) -> Glue database. A partition the catalog does not have
    is fine. Returns ``database.table(values)`` of each partition asked to go (also recorded
    in ``report.catalog_partitions``)."""
    if glue is None:
        import boto3

        glue = boto3.client("glue")
    grouped: dict[tuple[str, str], list[tuple[str, ...]]] = defaultdict(list)
    for partition in report.emptied_partitions:
        database = databases.get(partition.zone)
        if database:
            grouped[(database, partition.table)].append(partition.values)
    dropped: list[str] = []
    for (database, table), values in sorted(grouped.items()):
        for start in range(0, len(values), 25):  # BatchDeletePartition takes 25 at a time
            batch = values[start : start + 25]
            answer = glue.batch_delete_partition(
                DatabaseName=database,
                TableName=table,
                PartitionsToDelete=[{"Values": list(v)} for v in batch],
            )
            for error in answer.get("Errors") or []:
                code = (error.get("ErrorDetail") or {}).get("ErrorCode")
                if code != "EntityNotFoundException":
                    raise ForgetError(
                        f"Glue kept partition {error.get('PartitionValues')} of "
                        f"{database}.{table}: {code}"
                    )
            dropped += [f"{database}.{table}({', '.join(v)})" for v in batch]
    report.catalog_partitions += dropped
    return dropped


def _check_seller(seller_id: str) -> None:
    try:
        raw_prefix("any", seller_id)  # the layout's rule for a key part
    except KeyLayoutError as exc:
        raise ForgetError(f"not a seller id: {exc}") from None
    if seller_id == REFERENCE_SELLER:
        raise ForgetError(
            f"{REFERENCE_SELLER!r} holds the reference files (FX rates), not a seller's data"
        )


def _is_data_file(key: str, *suffixes: str) -> bool:
    """A data file (not Spark's ``_SUCCESS``, ``.crc``, ``_temporary/``)."""
    parts = key.split("/")
    return key.endswith(suffixes) and not any(p.startswith(("_", ".")) for p in parts[1:])


def _without_seller_parquet(data: bytes, seller_id: str) -> tuple[bytes | None, int, int]:
    """The file without the seller's rows (None when nothing or everything goes), the rows
    removed and the rows it had. A file without a seller column holds no seller's rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pq.ParquetFile(io.BytesIO(data))
    if SELLER_COLUMN not in source.schema_arrow.names:
        return None, 0, source.metadata.num_rows
    sellers = source.read(columns=[SELLER_COLUMN]).column(SELLER_COLUMN)
    theirs = pc.fill_null(pc.equal(sellers, pa.scalar(seller_id)), False)
    removed = pc.sum(theirs).as_py() or 0
    total = source.metadata.num_rows
    if not removed or removed == total:
        return None, removed, total
    table = source.read().filter(pc.invert(theirs))
    out = io.BytesIO()
    pq.write_table(table, out, **_parquet_options(source))
    return out.getvalue(), removed, total


def _parquet_options(source: Any) -> dict[str, Any]:
    """Write as the original was written: its compression, and INT96 timestamps if it had
    them (Spark's default; Spark 3 cannot read nanosecond INT64 timestamps)."""
    schema = source.schema
    int96 = any(schema.column(i).physical_type == "INT96" for i in range(len(schema)))
    codec = "snappy"
    if source.metadata.num_row_groups and source.metadata.num_columns:
        codec = source.metadata.row_group(0).column(0).compression.lower()
    options: dict[str, Any] = {"compression": "none" if codec == "uncompressed" else codec}
    if int96:
        options["use_deprecated_int96_timestamps"] = True
    else:
        options["coerce_timestamps"] = "us"
        options["allow_truncated_timestamps"] = False
    return options


def _without_seller_json(data: bytes, key: str, seller_id: str) -> tuple[bytes | None, int, int]:
    """Quarantined rows (JSON lines, maybe gzipped) without the seller's; the other lines are
    kept byte for byte."""
    text = gzip.decompress(data) if key.endswith(".gz") else data
    lines = [line for line in text.split(b"\n") if line.strip()]
    kept = [line for line in lines if _row_seller(line) != seller_id]
    removed = len(lines) - len(kept)
    if not removed or not kept:
        return None, removed, len(lines)
    body = b"\n".join(kept) + b"\n"
    return (gzip.compress(body, mtime=0) if key.endswith(".gz") else body), removed, len(lines)


def _row_seller(line: bytes) -> Any:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row.get(SELLER_COLUMN) if isinstance(row, dict) else None


def _emptied(keys: Iterable[str], gone: set[str]) -> list[EmptiedPartition]:
    """The cleaned and aggregated partitions whose every data file is in ``gone``."""
    folders: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        head = key.split("/", 1)[0]
        if head in (CLEANED, AGGREGATED) and _is_data_file(key, ".parquet"):
            folders[key.rsplit("/", 1)[0]].append(key)
    emptied = []
    for folder, files in sorted(folders.items()):
        if not all(f in gone for f in files):
            continue
        zone, table, *parts = folder.split("/")
        values = tuple(unquote(p.partition("=")[2]) for p in parts)
        emptied.append(EmptiedPartition(zone, table, values, folder))
    return emptied


def _gone_names(gone: set[str]) -> dict[str, set[tuple[str, str]]]:
    """Deleted cleaned files by table: (partition path, file name)."""
    by_table: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key in gone:
        if key.startswith(f"{CLEANED}/"):
            _, table, rest = key.split("/", 2)
            partition, _, name = rest.rpartition("/")
            by_table[table].add((partition, name))
    return by_table


def _without_files(
    payload: dict[str, Any], gone: Mapping[str, set[tuple[str, str]]]
) -> tuple[dict[str, Any], int]:
    """An aggregate state without the deleted cleaned files (a partition left without files
    goes); the number of file names taken out."""
    removed = 0
    inputs = payload.get("inputs")
    if not isinstance(inputs, dict):  # the state format before ``inputs``: rebuilt anyway
        return payload, 0
    for table, partitions in inputs.items():
        for partition in list(partitions):
            names = partitions[partition]
            kept = [n for n in names if (partition, n) not in gone.get(table, set())]
            removed += len(names) - len(kept)
            if kept:
                partitions[partition] = kept
            else:
                del partitions[partition]
    return payload, removed


def _count_state(report: ForgetReport, zone: str, key: str, removed: int) -> None:
    report.zones[zone].rewritten += 1
    report.zones[zone].rows += removed
    report.rewritten[key] = removed


def _state_bytes(payload: Mapping[str, Any]) -> bytes:
    return (json.dumps(payload, sort_keys=True, indent=1) + "\n").encode("utf-8")


def _seller_folder(key: str, segment: str) -> str:
    """The folder of ``key`` named after the seller (``.../seller_id=<id>``)."""
    parts = key.split("/")
    return "/".join(parts[: parts.index(segment) + 1])


def _s3_roots(lake: Lake) -> list[S3Lake]:
    if isinstance(lake, ZonedLake):
        roots = [lake.main, *lake.zones.values()]
        return [r for r in roots if isinstance(r, S3Lake)]
    return [lake] if isinstance(lake, S3Lake) else []


def _purge_versions(
    lake: Lake, segment: str, rewritten: set[str], gone: set[str], dry_run: bool
) -> int:
    """Delete the S3 object versions that still hold the seller: every version (and delete
    marker) of a key named after the seller or of a file deleted here, and the earlier
    versions of a file rewritten here. The number found."""
    found = 0
    for root in _s3_roots(lake):
        base = f"{root.prefix}/" if root.prefix else ""
        doomed = list(_doomed_versions(root, base, segment, rewritten, gone, dry_run))
        found += len(doomed)
        if dry_run:
            continue
        for start in range(0, len(doomed), _DELETE_BATCH):
            batch = doomed[start : start + _DELETE_BATCH]
            answer = root.client.delete_objects(
                Bucket=root.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ForgetError(
                    f"s3://{root.bucket}: {len(answer['Errors'])} object version(s) not deleted, "
                    f"e.g. {first.get('Key')}: {first.get('Code')} (s3:DeleteObjectVersion)"
                )
    return found


def _doomed_versions(
    root: S3Lake, base: str, segment: str, rewritten: set[str], gone: set[str], dry_run: bool
) -> Iterator[dict[str, str]]:
    paginator = root.client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=root.bucket, Prefix=base):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            key = item["Key"][len(base) :]
            latest = bool(item.get("IsLatest"))
            seller = segment in key.split("/") or key in gone
            if not (seller or (key in rewritten and not latest)):
                continue
            if dry_run and latest and "Size" in item:
                continue  # the current object: counted with the keys already
            yield {"Key": item["Key"], "VersionId": item.get("VersionId") or "null"}
