"""The lake's storage: a local folder or an S3 prefix behind one small API.

Every zone (raw/, cleaned/, quarantine/, _state/) is addressed by '/'-separated relative keys
under one root, so the code above this module never knows whether it runs on a laptop or on AWS.
The one promise that matters for ingestion is atomicity: a write either leaves the complete
object or nothing at all. Locally that is a temp file in the same folder, fsync, ``os.replace``;
on S3 it is a multipart upload (8 MiB parts, constant memory) that is completed only after the
last part and aborted on any error, so no half-written object is ever visible.

A writer killed mid-write (SIGKILL, power loss) cannot clean up after itself: locally its temp
file stays, on S3 its multipart upload stays open (invisible, but stored and billed). Neither is
ever listed as a key; ``Lake.leftovers`` finds them and ``Lake.remove_leftovers`` removes them
(``spapi ingest`` does so before it starts). A local temp file is named after its writer
(``.tmp-<pid>-<host tag>-<name>.<random>``), so one whose process is gone is removed at once;
any other (a writer on another machine, an older name) only once it is ``STALE_AFTER`` old, so
a live writer's file is never taken from under it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import socket
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import unquote, urlsplit

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock, ManualClock
from spapi_toolkit.errors import SpApiToolkitError

DEFAULT_ROOT = "./lake"
PART_SIZE = 8 * 1024 * 1024  # S3 multipart part size: the memory a stream write holds at most
MAX_PARTS = 10_000  # S3's limit on parts per upload (about 78 GiB at 8 MiB)
_TEMP_PREFIX = ".tmp-"  # local in-progress writes; never listed as keys
# A leftover of a write nobody can be known to be finishing is removed once untouched this long
# (a live writer touches its file with every chunk; its download would time out long before).
STALE_AFTER = timedelta(days=1)
# This machine, in local temp names: a pid only says something on the machine that issued it.
_HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:8]
# Separates a zoned lake's roots in its URI (``ZonedLake``); bucket names have no commas.
ZONE_SEPARATOR = ","
# Objects moved or deleted side by side by ``move_many`` and ``delete_many`` (on S3 each is a
# request of tens of milliseconds; curation's swap moves a file per partition and task).
SIDE_BY_SIDE = 16
_WRITER = re.compile(r"^" + re.escape(_TEMP_PREFIX) + r"(\d+)-([0-9a-f]{8})-")


class LakeError(SpApiToolkitError):
    """A lake operation failed; the message names the lake and the key."""


class InvalidKey(LakeError, ValueError):
    """A key is not a safe relative '/'-separated key (empty, absolute, '..', ...)."""


class ObjectNotFound(LakeError, FileNotFoundError):
    """The key has no object in the lake."""


@dataclass(frozen=True)
class Leftover:
    """What an interrupted write left: a local temp file or an S3 multipart upload, and why it
    is known to be abandoned. ``path`` is relative to the lake's root (it is not a key)."""

    path: str
    reason: str
    upload_id: str | None = None  # S3 only


Leftovers = list[Leftover]  # (inside the lake classes ``list`` is the method)


@dataclass(frozen=True)
class WriteResult:
    """What a write stored: the key, its byte count and the sha256 of those bytes."""

    key: str
    size: int
    sha256: str


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``InvalidKey`` saying why.

    Keys become file paths locally, so anything that could escape the root ('..', a leading
    '/', a backslash, NUL) or that would map two keys onto one path (empty or '.' segments)
    is refused.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"lake key {key!r} is empty or not a string")
    if key.startswith("/"):
        raise InvalidKey(f"lake key {key!r} must be relative (no leading '/')")
    if "\\" in key or "\x00" in key:
        raise InvalidKey(f"lake key {key!r} contains a backslash or NUL")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"lake key {key!r} has an empty, '.' or '..' segment")
        if segment.startswith(_TEMP_PREFIX):
            raise InvalidKey(f"lake key {key!r}: names starting {_TEMP_PREFIX!r} are reserved")
    return key


def validate_prefix(prefix: str) -> str:
    """Like ``validate_key`` but allows the empty prefix and a trailing '/'."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class _HashingCounter:
    """sha256 and byte count of the chunks that pass through, computed once while writing."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def result(self, key: str) -> WriteResult:
        return WriteResult(key=key, size=self.size, sha256=self._hash.hexdigest())


class Lake(ABC):
    """A lake root: a local folder (`./lake`, `/abs/path`, `file:///...`) or `s3://bucket/prefix`.

    Build one with ``Lake.from_uri``; both kinds offer the same methods.
    """

    uri: str

    @classmethod
    def from_uri(
        cls, uri: str | None = None, *, kms_key_id: str | None = None, s3_client: Any = None
    ) -> Lake:
        """The lake at ``uri`` (default ``./lake``).

        ``kms_key_id`` turns on SSE-KMS for every S3 write (ignored for a local folder);
        ``s3_client`` lets a caller share a configured boto3 client (by default one is made
        with boto3's usual settings, which honour ``AWS_ENDPOINT_URL``).
        """
        uri = uri or DEFAULT_ROOT
        if ZONE_SEPARATOR in uri:
            return ZonedLake.from_uri(uri, kms_key_id=kms_key_id, s3_client=s3_client)
        scheme = urlsplit(uri).scheme
        if scheme == "s3":
            return S3Lake(uri, kms_key_id=kms_key_id, s3_client=s3_client)
        if scheme == "file":
            return LocalLake(unquote(urlsplit(uri).path))
        if scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive letter
            raise LakeError(f"lake URI {uri!r}: unsupported scheme {scheme!r} (folder or s3://)")
        return LocalLake(uri)

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` has a complete object."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The whole object (small objects: manifests, state); ``ObjectNotFound`` if missing."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A streaming binary reader of the object; ``ObjectNotFound`` if missing."""

    @abstractmethod
    def write_stream(self, key: str, chunks: Iterable[bytes]) -> WriteResult:
        """Store the concatenated ``chunks`` at ``key`` atomically, in constant memory.

        If ``chunks`` raises, nothing is stored (and any earlier object at ``key`` is kept).
        """

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> WriteResult:
        """Store a small object atomically."""

    @abstractmethod
    def move(self, key: str, new_key: str) -> None:
        """Move an object to another key, replacing what is there (``ObjectNotFound`` if
        there is no object to move)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete an object; a missing one is fine."""

    def move_many(self, moves: Sequence[tuple[str, str]]) -> None:
        """``move`` each (key, new key); side by side where each is a request of its own."""
        _side_by_side(lambda pair: self.move(*pair), moves)

    def delete_many(self, keys: Sequence[str]) -> None:
        """``delete`` each key; side by side where each is a request of its own."""
        _side_by_side(self.delete, keys)

    def delete_folder(self, prefix: str, *, prune: bool = True) -> None:
        """Delete every object under the folder ``prefix`` (``a/b``): a scratch area, such as
        curation's staging. Locally the emptied folders go too, and with ``prune`` the parent
        folders it leaves empty; not while another thread may be writing beside it (its
        writer could find the parent it just made gone)."""
        for key in list(self.list(prefix.rstrip("/") + "/")):
            self.delete(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        """The keys that start with ``prefix`` (a plain string prefix, as on S3), sorted."""
        return iter(self.sizes(prefix))

    @abstractmethod
    def sizes(self, prefix: str = "") -> dict[str, int]:
        """The keys that start with ``prefix`` and their sizes in bytes, sorted by key: what
        one listing says (no request per object)."""

    @abstractmethod
    def leftovers(self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER) -> Leftovers:
        """The abandoned in-progress writes: those whose writer is known to be dead, and any
        untouched for longer than ``max_age`` (on ``clock``'s machine time). Never a write a
        live writer may still finish."""

    @abstractmethod
    def remove_leftovers(
        self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER
    ) -> Leftovers:
        """Remove what ``leftovers`` finds; return what was removed. Keys are never touched."""

    def location(self, key: str = "") -> str:
        """Where ``key`` lives for tools that read the lake themselves (Spark, DuckDB): a local
        path or an ``s3://`` URI."""
        return f"{self.uri}/{validate_key(key)}" if key else self.uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


class LocalLake(Lake):
    """A lake in a local folder; keys are paths relative to it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"{key!r} is not in the lake at {self.uri}") from exc

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> WriteResult:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        counter = _HashingCounter()
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name))
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for chunk in chunks:
                    counter.update(chunk)
                    out.write(chunk)
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_dir(path.parent)
        return counter.result(key)

    def write_bytes(self, key: str, data: bytes) -> WriteResult:
        return self.write_stream(key, [data])

    def move(self, key: str, new_key: str) -> None:
        source, target = self._path(key), self._path(new_key)
        if not source.is_file():
            raise ObjectNotFound(f"cannot move {key!r}: not in the lake at {self.uri}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)
        _fsync_dir(source.parent)

    def move_many(self, moves: Sequence[tuple[str, str]]) -> None:
        """Renames, and each folder touched synced once at the end."""
        folders: set[Path] = set()
        for key, new_key in moves:
            source, target = self._path(key), self._path(new_key)
            if not source.is_file():
                raise ObjectNotFound(f"cannot move {key!r}: not in the lake at {self.uri}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            folders |= {source.parent, target.parent}
        for folder in folders:
            _fsync_dir(folder)

    def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete(key)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def delete_folder(self, prefix: str, *, prune: bool = True) -> None:
        folder = self._path(prefix.rstrip("/"))
        shutil.rmtree(folder, ignore_errors=True)
        for parent in folder.parents if prune else ():  # the folders it leaves empty
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def sizes(self, prefix: str = "") -> dict[str, int]:
        validate_prefix(prefix)
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        found: dict[str, int] = {}
        for dirpath, _dirs, files in os.walk(start):
            relative = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            for name in files:
                if not name.startswith(_TEMP_PREFIX) and (base + name).startswith(prefix):
                    try:
                        found[base + name] = os.stat(os.path.join(dirpath, name)).st_size
                    except FileNotFoundError:  # deleted since the walk saw it
                        continue
        return dict(sorted(found.items()))

    def leftovers(self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER) -> Leftovers:
        # Ages are measured on the clock that stamped the files: the file system's (a network
        # file system's server, a test run with a moved Python clock), unless a test pins one.
        now = clock.machine_time() if isinstance(clock, ManualClock) else self._file_time()
        found: Leftovers = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in sorted(files):
                if not name.startswith(_TEMP_PREFIX):
                    continue
                path = Path(dirpath, name)
                reason = _abandoned(path, now, max_age)
                if reason is not None:
                    found.append(Leftover(path.relative_to(self.root).as_posix(), reason))
        return sorted(found, key=lambda leftover: leftover.path)

    def _file_time(self) -> float:
        """Now, as the file system stamps a file it writes (a probe file, removed at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=_TEMP_PREFIX + "clock-") as probe:
            return os.fstat(probe.fileno()).st_mtime

    def remove_leftovers(
        self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER
    ) -> Leftovers:
        removed: Leftovers = []
        for leftover in self.leftovers(clock, max_age):
            try:
                self.root.joinpath(*leftover.path.split("/")).unlink()
            except FileNotFoundError:
                continue  # another run's sweep was first
            removed.append(leftover)
        return removed


def _temp_prefix(name: str) -> str:
    """The start of a local temp file's name: it says which process on which machine writes
    it, so a later run can tell a dead writer's file from a live one's."""
    return f"{_TEMP_PREFIX}{os.getpid()}-{_HOST_TAG}-{name}."


def _abandoned(path: Path, now: float, max_age: timedelta) -> str | None:
    """Why the temp file at ``path`` will never be renamed into place, or None if it might."""
    writer = _WRITER.match(path.name)
    if writer is not None and writer.group(2) == _HOST_TAG:
        pid = int(writer.group(1))
        if not _process_alive(pid):
            return f"its writer, process {pid}, is gone"
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return None  # renamed into place (or removed) meanwhile
    if age > max_age.total_seconds():
        return f"untouched for {age / 3600:.1f} hours"
    return None


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine may still be running (when unsure: yes)."""
    if pid <= 0 or pid == os.getpid():
        return True  # no writer of ours has pid 0; our own writes are in progress
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but is another user's
    try:  # a killed process not yet reaped by its parent still has a pid; it writes nothing
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (POSIX needs the directory itself fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


class S3Lake(Lake):
    """A lake under ``s3://bucket/prefix``; SSE-KMS on every write when a key id is set."""

    def __init__(self, uri: str, *, kms_key_id: str | None = None, s3_client: Any = None) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise LakeError(f"lake URI {uri!r} is not of the form s3://bucket[/prefix]")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.kms_key_id = kms_key_id
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        self.client = s3_client

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, key: str) -> str:
        return f"{self.uri}/{key}"

    def _encryption(self) -> dict[str, str]:
        if not self.kms_key_id:
            return {}
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def open(self, key: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if _is_not_found(exc):
                raise ObjectNotFound(f"{self._where(key)} does not exist") from exc
            raise
        return cast(BinaryIO, io.BufferedReader(_BodyReader(answer["Body"]), PART_SIZE // 8))

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> WriteResult:
        upload = _MultipartUpload(self, self._key(key), self._where(key))
        counter = _HashingCounter()
        try:
            for chunk in chunks:
                counter.update(chunk)
                upload.add(chunk)
            upload.finish()
        except BaseException:
            upload.abort()
            raise
        return counter.result(key)

    def write_bytes(self, key: str, data: bytes) -> WriteResult:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, **self._encryption()
        )
        return WriteResult(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def move(self, key: str, new_key: str) -> None:
        self.move_from(self, key, new_key)

    def move_from(self, source: S3Lake, key: str, new_key: str) -> None:
        """Move ``key`` of ``source`` (this lake or another bucket's) to ``new_key`` here: a
        server-side copy, then the source deleted; no byte passes through this machine."""
        origin = {"Bucket": source.bucket, "Key": source._key(key)}
        try:
            self.client.copy(
                origin, self.bucket, self._key(new_key), ExtraArgs=self._encryption() or None
            )
        except self.client.exceptions.ClientError as exc:
            if _is_not_found(exc):
                where = source._where(key)
                raise ObjectNotFound(f"cannot move {where}: it does not exist") from exc
            raise
        source.client.delete_object(**origin)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def sizes(self, prefix: str = "") -> dict[str, int]:
        validate_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        found: dict[str, int] = {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=root + prefix):
            found.update(
                (item["Key"][len(root) :], item["Size"]) for item in page.get("Contents", [])
            )
        return dict(sorted(found.items()))

    def leftovers(self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER) -> Leftovers:
        """Multipart uploads under the prefix begun more than ``max_age`` ago. Which process
        began one is not known, so age is the only sign a writer is gone."""
        root = f"{self.prefix}/" if self.prefix else ""
        now = clock.machine_time()
        found: Leftovers = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=root):
            for upload in page.get("Uploads", []):
                age = now - upload["Initiated"].timestamp()
                if age > max_age.total_seconds():
                    reason = f"multipart upload begun {age / 3600:.1f} hours ago"
                    path = upload["Key"][len(root) :]
                    found.append(Leftover(path, reason, upload_id=upload["UploadId"]))
        return sorted(found, key=lambda leftover: (leftover.path, leftover.upload_id or ""))

    def remove_leftovers(
        self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER
    ) -> Leftovers:
        root = f"{self.prefix}/" if self.prefix else ""
        removed: Leftovers = []
        for leftover in self.leftovers(clock, max_age):
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=root + leftover.path, UploadId=leftover.upload_id
                )
            except self.client.exceptions.ClientError as exc:
                if getattr(exc, "response", {}).get("Error", {}).get("Code") == "NoSuchUpload":
                    continue  # completed or aborted meanwhile
                raise
            removed.append(leftover)
        return removed


class ZonedLake(Lake):
    """A lake whose zones live in different S3 buckets: the keys of a zone (``cleaned/...``,
    ``aggregated/...``) go to that zone's root, every other key (``raw/``, ``quarantine/``,
    ``_state/``) to the main root. The AWS deployment keeps raw, cleaned and aggregated data in
    three buckets (their own lifecycle, versioning and Lake Formation registration); the code
    above keeps addressing one lake by relative keys.

    Its URI names the roots, comma-separated, the zones' as ``zone=root``:
    ``s3://raw-bucket/lake,cleaned=s3://cleaned-bucket,aggregated=s3://aggregated-bucket``.
    A key keeps its full name in its zone's root (``cleaned/order_items/...`` is stored as
    ``s3://cleaned-bucket/cleaned/order_items/...``), so ``location`` is where Spark, Glue and
    Athena find it.
    """

    def __init__(self, main: Lake, zones: dict[str, Lake]) -> None:
        for zone in zones:
            validate_key(zone)
            if "/" in zone:
                raise LakeError(f"zone {zone!r}: a zone is one key segment (cleaned, aggregated)")
        self.main = main
        self.zones = dict(zones)
        routes = "".join(f"{ZONE_SEPARATOR}{zone}={lake.uri}" for zone, lake in self.zones.items())
        self.uri = main.uri + routes

    @classmethod
    def from_uri(  # type: ignore[override]
        cls, uri: str | None = None, *, kms_key_id: str | None = None, s3_client: Any = None
    ) -> ZonedLake:
        """The zoned lake of a URI as the class doc writes it; every root on S3."""
        main, *routes = (uri or "").split(ZONE_SEPARATOR)
        zones: dict[str, Lake] = {}
        for route in routes:
            zone, sep, root = route.partition("=")
            if not sep or not root.startswith("s3://") or zone in zones:
                raise LakeError(
                    f"lake URI {uri!r}: {route!r} is not zone=s3://bucket[/prefix] (once per zone)"
                )
            zones[zone.strip()] = S3Lake(root, kms_key_id=kms_key_id, s3_client=s3_client)
        if not main.startswith("s3://"):
            raise LakeError(f"lake URI {uri!r}: a zoned lake's roots are all s3:// URIs")
        return cls(S3Lake(main, kms_key_id=kms_key_id, s3_client=s3_client), zones)

    def _route(self, key: str) -> Lake:
        return self.zones.get(validate_key(key).split("/", 1)[0], self.main)

    def _prefix_lakes(self, prefix: str) -> list[Lake]:
        """The roots that may hold keys starting with ``prefix``."""
        head, slash, _ = prefix.partition("/")
        if slash or head in self.zones:
            return [self.zones.get(head, self.main)]
        # A partial first segment ("" or "cle"): every root whose zone it may begin.
        return [self.main, *(lake for zone, lake in self.zones.items() if zone.startswith(head))]

    def exists(self, key: str) -> bool:
        return self._route(key).exists(key)

    def read_bytes(self, key: str) -> bytes:
        return self._route(key).read_bytes(key)

    def open(self, key: str) -> BinaryIO:
        return self._route(key).open(key)

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> WriteResult:
        return self._route(key).write_stream(key, chunks)

    def write_bytes(self, key: str, data: bytes) -> WriteResult:
        return self._route(key).write_bytes(key, data)

    def move(self, key: str, new_key: str) -> None:
        source, target = self._route(key), self._route(new_key)
        if source is target:
            source.move(key, new_key)
            return
        if isinstance(source, S3Lake) and isinstance(target, S3Lake):
            target.move_from(source, key, new_key)
            return
        with source.open(key) as stream:
            target.write_stream(new_key, iter(lambda: stream.read(PART_SIZE), b""))
        source.delete(key)

    def delete(self, key: str) -> None:
        self._route(key).delete(key)

    def sizes(self, prefix: str = "") -> dict[str, int]:
        validate_prefix(prefix)
        found: dict[str, int] = {}
        for lake in self._prefix_lakes(prefix):
            listed: list[tuple[str, int]] = list(lake.sizes(prefix).items())
            if lake is self.main:  # the main root answers only for keys routed to it
                listed = [(k, n) for k, n in listed if self._route(k) is self.main]
            found.update(listed)
        return dict(sorted(found.items()))

    def leftovers(self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER) -> Leftovers:
        lakes = (self.main, *self.zones.values())
        found = [x for lake in lakes for x in lake.leftovers(clock, max_age)]
        return sorted(found, key=lambda leftover: (leftover.path, leftover.upload_id or ""))

    def remove_leftovers(
        self, clock: Clock = SYSTEM_CLOCK, max_age: timedelta = STALE_AFTER
    ) -> Leftovers:
        lakes = (self.main, *self.zones.values())
        return [x for lake in lakes for x in lake.remove_leftovers(clock, max_age)]

    def location(self, key: str = "") -> str:
        return self._route(key).location(key) if key else self.main.location()


_PART_CHECKSUMS = (
    "ChecksumCRC32",
    "ChecksumCRC32C",
    "ChecksumCRC64NVME",
    "ChecksumSHA1",
    "ChecksumSHA256",
)


def _side_by_side(work: Any, items: Sequence[Any]) -> None:
    """``work`` on each item, up to ``SIDE_BY_SIDE`` at a time; the first error is raised
    (after the others started have finished)."""
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(min(SIDE_BY_SIDE, len(items))) as pool:
        for _ in pool.map(work, items):
            pass


def _is_not_found(exc: Any) -> bool:
    """Whether a botocore ClientError means the object (or bucket key) is missing."""
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"}


class _MultipartUpload:
    """One S3 upload fed chunk by chunk, holding at most one part (8 MiB) in memory.

    The multipart upload is created only once a full part is buffered; a stream smaller than
    one part is stored with a single ``put_object``. ``abort`` removes every uploaded part, so
    a failed write leaves neither an object nor an incomplete upload behind.
    """

    def __init__(self, lake: S3Lake, s3_key: str, where: str) -> None:
        self.lake = lake
        self.client = lake.client
        self.s3_key = s3_key
        self.where = where
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def add(self, chunk: bytes) -> None:
        """Buffer ``chunk``; upload every full part that is now available."""
        self.buffer += chunk
        while len(self.buffer) >= PART_SIZE:
            part = bytes(self.buffer[:PART_SIZE])
            del self.buffer[:PART_SIZE]
            self._upload_part(part)

    def finish(self) -> None:
        """Complete the upload (or put the small object) so the object becomes visible."""
        if self.upload_id is None:
            self.client.put_object(
                Bucket=self.lake.bucket,
                Key=self.s3_key,
                Body=bytes(self.buffer),
                **self.lake._encryption(),
            )
            return
        if self.buffer:
            self._upload_part(bytes(self.buffer))
            self.buffer.clear()
        self.client.complete_multipart_upload(
            Bucket=self.lake.bucket,
            Key=self.s3_key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        """Drop the upload and its parts (best effort: the original error is what matters)."""
        self.buffer.clear()
        if self.upload_id is None:
            return
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(
                Bucket=self.lake.bucket, Key=self.s3_key, UploadId=self.upload_id
            )

    def _upload_part(self, data: bytes) -> None:
        if self.upload_id is None:
            created = self.client.create_multipart_upload(
                Bucket=self.lake.bucket, Key=self.s3_key, **self.lake._encryption()
            )
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise LakeError(f"{self.where}: more than {MAX_PARTS} parts of {PART_SIZE} bytes")
        answer = self.client.upload_part(
            Bucket=self.lake.bucket,
            Key=self.s3_key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        part: dict[str, Any] = {"PartNumber": number, "ETag": answer["ETag"]}
        part.update({name: answer[name] for name in _PART_CHECKSUMS if answer.get(name)})
        self.parts.append(part)


class _BodyReader(io.RawIOBase):
    """A raw binary stream over a botocore ``StreamingBody`` (so callers get a real BinaryIO)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        view = memoryview(buffer).cast("B")
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()
