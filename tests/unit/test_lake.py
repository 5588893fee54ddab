"""The lake storage: the same behaviour on a local folder and on S3 (a real moto server)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from spapi_toolkit.clock import ManualClock
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.storage import (
    _HOST_TAG,
    PART_SIZE,
    STALE_AFTER,
    InvalidKey,
    Lake,
    LakeError,
    LocalLake,
    ObjectNotFound,
    S3Lake,
    WriteResult,
)

MIB = 1024 * 1024


def _s3_lake(prefix: str = "lake/root") -> tuple[S3Lake, str]:
    """A fresh bucket and KMS key on the moto server; the lake and the key id."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    key_id = boto3.client("kms").create_key(Description="lake test")["KeyMetadata"]["KeyId"]
    lake = Lake.from_uri(f"s3://{bucket}/{prefix}", kms_key_id=key_id)
    assert isinstance(lake, S3Lake)
    return lake, key_id


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.aws)])
def lake(request, tmp_path) -> Lake:
    """The same tests against a local folder and an S3 prefix with SSE-KMS."""
    if request.param == "local":
        return Lake.from_uri(str(tmp_path / "lake"))
    request.getfixturevalue("aws_env")
    return _s3_lake()[0]


def _failing(chunks: list[bytes]) -> Iterator[bytes]:
    """Yield ``chunks`` then fail, like a download that drops mid-stream."""
    yield from chunks
    raise ConnectionError("connection reset mid-stream")


def _assert_encrypted(lake: S3Lake, key: str, key_id: str) -> None:
    head = lake.client.head_object(Bucket=lake.bucket, Key=f"{lake.prefix}/{key}")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)


def test_write_stream_round_trip(lake: Lake) -> None:
    chunks = [b"header\n", b"a" * 1000, b"\n", b"last"]
    data = b"".join(chunks)
    result = lake.write_stream("raw/x/doc.tsv", iter(chunks))
    assert result == WriteResult("raw/x/doc.tsv", len(data), hashlib.sha256(data).hexdigest())
    assert lake.exists("raw/x/doc.tsv")
    assert lake.read_bytes("raw/x/doc.tsv") == data
    with lake.open("raw/x/doc.tsv") as stream:
        assert stream.read(6) == b"header"
        assert stream.read() == data[6:]


def test_multipart_stream_larger_than_parts(lake: Lake) -> None:
    block = os.urandom(MIB)
    chunks = [block] * 20 + [b"tail"]
    data = b"".join(chunks)
    result = lake.write_stream("raw/big.bin", chunks)
    assert result.size == len(data) > 2 * PART_SIZE
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert lake.read_bytes("raw/big.bin") == data


def test_write_bytes_replaces_atomically(lake: Lake) -> None:
    lake.write_bytes("_state/ledger.json", b"{}")
    result = lake.write_bytes("_state/ledger.json", b'{"a": 1}')
    assert result.size == 8
    assert lake.read_bytes("_state/ledger.json") == b'{"a": 1}'


def test_missing_objects(lake: Lake) -> None:
    assert not lake.exists("raw/none.tsv")
    with pytest.raises(ObjectNotFound, match=r"none\.tsv"):
        lake.read_bytes("raw/none.tsv")
    with pytest.raises(ObjectNotFound):
        lake.open("raw/none.tsv")
    with pytest.raises(ObjectNotFound, match=r"none\.tsv"):
        lake.move("raw/none.tsv", "quarantine/raw/none.tsv")
    lake.delete("raw/none.tsv")  # missing is fine


def test_move_and_delete(lake: Lake) -> None:
    lake.write_bytes("raw/a/doc.tsv", b"abc")
    lake.move("raw/a/doc.tsv", "quarantine/raw/a/doc.tsv")
    assert not lake.exists("raw/a/doc.tsv")
    assert lake.read_bytes("quarantine/raw/a/doc.tsv") == b"abc"
    lake.delete("quarantine/raw/a/doc.tsv")
    assert not lake.exists("quarantine/raw/a/doc.tsv")


def test_move_many_and_delete_many(lake: Lake) -> None:
    """Curation's swap: many files moved into a folder, then the old ones deleted."""
    moves = [(f"_staging/t/run/p={i % 3}/part-{i}.parquet", f"cleaned/t/p={i % 3}/part-{i}.parquet")
             for i in range(20)]  # fmt: skip
    for i, (key, _) in enumerate(moves):
        lake.write_bytes(key, str(i).encode())
    lake.write_bytes("cleaned/t/p=0/old.parquet", b"old")
    lake.move_many(moves)
    assert not list(lake.list("_staging/"))
    assert [lake.read_bytes(new) for _, new in moves] == [str(i).encode() for i in range(20)]
    lake.delete_many(["cleaned/t/p=0/old.parquet", "cleaned/t/p=1/part-1.parquet", "none"])
    assert len(list(lake.list("cleaned/t/"))) == 19 and not lake.exists("cleaned/t/p=0/old.parquet")
    with pytest.raises(ObjectNotFound, match=r"gone\.parquet"):
        lake.move_many([("_staging/gone.parquet", "cleaned/t/gone.parquet")])


def test_list_is_sorted_and_prefix_is_a_string_prefix(lake: Lake) -> None:
    for key in ["raw/b/2.tsv", "raw/a/1.tsv", "raw/a/1.tsv.manifest.json", "raw/ab/3.tsv", "x/4"]:
        lake.write_bytes(key, b"-")
    assert list(lake.list("raw/")) == [
        "raw/a/1.tsv",
        "raw/a/1.tsv.manifest.json",
        "raw/ab/3.tsv",
        "raw/b/2.tsv",
    ]
    assert list(lake.list("raw/a")) == ["raw/a/1.tsv", "raw/a/1.tsv.manifest.json", "raw/ab/3.tsv"]
    assert list(lake.list("raw/a/1.tsv.")) == ["raw/a/1.tsv.manifest.json"]
    assert list(lake.list("nothing/")) == []
    assert len(list(lake.list())) == 5


@pytest.mark.parametrize(
    "key", ["", "/abs/key", "../escape", "raw/../../etc", "raw//double", "raw/./x", "a\\b", "x\x00"]
)
def test_unsafe_keys_are_refused(lake: Lake, key: str) -> None:
    with pytest.raises(InvalidKey):
        lake.write_bytes(key, b"x")
    with pytest.raises(InvalidKey):
        lake.exists(key)


def test_invalid_key_is_a_toolkit_error_and_value_error() -> None:
    assert issubclass(InvalidKey, SpApiToolkitError)
    assert issubclass(InvalidKey, ValueError)
    assert issubclass(ObjectNotFound, FileNotFoundError)


def test_failed_stream_leaves_nothing_locally(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path))
    lake.write_bytes("raw/doc.tsv", b"previous")
    with pytest.raises(ConnectionError):
        lake.write_stream("raw/doc.tsv", _failing([b"new", b"er"]))
    with pytest.raises(ConnectionError):
        lake.write_stream("raw/other.tsv", _failing([b"x" * MIB]))
    assert lake.read_bytes("raw/doc.tsv") == b"previous"
    assert not lake.exists("raw/other.tsv")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["doc.tsv"]  # no temp file


def test_local_in_progress_temp_files_are_not_listed(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path))

    def check_while_writing() -> Iterator[bytes]:
        yield b"abc"
        assert any(p.name.startswith(".tmp-") for p in (tmp_path / "raw").iterdir())
        assert list(lake.list("raw/")) == []
        yield b"def"

    lake.write_stream("raw/doc.tsv", check_while_writing())
    assert list(lake.list("raw/")) == ["raw/doc.tsv"]


# A writer in its own process: it stores one chunk, says so, and writes the rest only when its
# stdin closes, so a test can look at (or kill) a write in progress.
_WRITER = """
import sys
from spapi_toolkit.lake.storage import Lake

def chunks():
    yield b"first chunk"
    print("writing", flush=True)
    sys.stdin.read()
    yield b" and the rest"

Lake.from_uri(sys.argv[1]).write_stream(sys.argv[2], chunks())
"""


def _writer(root: Path, key: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), key],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "writing\n"
    return process


def _temp_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".tmp-*"))


def test_a_dead_writers_temp_file_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path))
    lake.write_bytes("raw/a/kept.tsv", b"landed before")
    dead, live = _writer(tmp_path, "raw/a/doc.tsv"), _writer(tmp_path, "raw/b/doc.tsv")
    try:
        assert len(_temp_files(tmp_path)) == 2
        assert lake.leftovers() == []  # both writers are running: nothing is abandoned
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        found = lake.leftovers()
        assert [f.path for f in found] == [p for p in _temp_files(tmp_path) if "/a/" in p]
        assert found[0].reason == f"its writer, process {dead.pid}, is gone"
        assert lake.remove_leftovers() == found
        assert [p.split("/")[1] for p in _temp_files(tmp_path)] == ["b"]  # the live one stays
        assert lake.remove_leftovers() == []
    finally:
        for process in (dead, live):
            if process.poll() is None:
                process.communicate("")
    assert live.returncode == 0  # the live writer finished its write after the sweep
    assert lake.read_bytes("raw/b/doc.tsv") == b"first chunk and the rest"
    assert list(lake.list()) == ["raw/a/kept.tsv", "raw/b/doc.tsv"]
    assert _temp_files(tmp_path) == []


def test_temp_files_of_unknown_writers_are_removed_only_when_stale(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path))
    written = datetime(2026, 3, 1, 12, tzinfo=UTC)
    names = [
        ".tmp-doc.tsv.abc123",  # the names of earlier versions: no writer in them
        ".tmp-4242-0badcafe-doc.tsv.abc123",  # a writer on another machine
        f".tmp-{os.getpid()}-{_HOST_TAG}-doc.tsv.abc123",  # this very process
    ]
    for name in names:
        path = tmp_path / "_state" / "ledger" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"{}")
        os.utime(path, (written.timestamp(), written.timestamp()))
    fresh = ManualClock(written + STALE_AFTER - timedelta(minutes=1))
    assert lake.leftovers(fresh) == [] and lake.remove_leftovers(fresh) == []
    stale = ManualClock(written + STALE_AFTER + timedelta(minutes=1))
    removed = lake.remove_leftovers(stale)
    assert sorted(r.path.rsplit("/", 1)[1] for r in removed) == sorted(names)
    assert all("untouched for 24.0 hours" in r.reason for r in removed)
    assert _temp_files(tmp_path) == []


def test_status_counts_leftovers_without_removing_them(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from spapi_toolkit.cli import app

    lake = Lake.from_uri(str(tmp_path))
    lake.write_bytes("_state/ledger/entry.json", b"{}")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid names a process that is gone
    temp = tmp_path / "_state" / "ledger" / f".tmp-{ended.pid}-{_HOST_TAG}-entry.json.x1y2z3"
    temp.write_bytes(b'{"half')
    result = CliRunner().invoke(app, ["status", "--lake", str(tmp_path)])
    assert "1 leftover(s) of interrupted writes" in result.output
    assert temp.exists()  # status only tells
    assert [r.path for r in lake.remove_leftovers()] == [temp.relative_to(tmp_path).as_posix()]
    result = CliRunner().invoke(app, ["status", "--lake", str(tmp_path)])
    assert "leftover" not in result.output


def test_from_uri_forms(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    default = Lake.from_uri()
    assert isinstance(default, LocalLake)
    assert default.uri == str(tmp_path / "lake")
    assert Lake.from_uri(f"file://{tmp_path}/x").uri == str(tmp_path / "x")
    with pytest.raises(LakeError, match="gs"):
        Lake.from_uri("gs://bucket/prefix")


@pytest.mark.aws
def test_s3_failed_multipart_leaves_no_object_and_no_upload(aws_env) -> None:
    lake, _ = _s3_lake()
    with pytest.raises(ConnectionError):
        lake.write_stream("raw/doc.tsv.gz", _failing([os.urandom(MIB)] * 20))
    assert not lake.exists("raw/doc.tsv.gz")
    uploads = lake.client.list_multipart_uploads(Bucket=lake.bucket)
    assert uploads.get("Uploads", []) == []
    with pytest.raises(ConnectionError):
        lake.write_stream("raw/small.tsv", _failing([b"small"]))
    assert not lake.exists("raw/small.tsv")


@pytest.mark.aws
def test_s3_writes_use_sse_kms(aws_env) -> None:
    lake, key_id = _s3_lake()
    lake.write_stream("raw/big.bin", [os.urandom(MIB)] * 9)  # multipart
    lake.write_stream("raw/small.bin", [b"small"])  # single put
    lake.write_bytes("raw/small.bin.manifest.json", b"{}")
    lake.move("raw/small.bin", "quarantine/raw/small.bin")
    for key in ["raw/big.bin", "raw/small.bin.manifest.json", "quarantine/raw/small.bin"]:
        _assert_encrypted(lake, key, key_id)


@pytest.mark.aws
def test_s3_lake_keys_live_under_the_prefix(aws_env) -> None:
    lake, _ = _s3_lake(prefix="team/lake")
    lake.write_bytes("raw/a.tsv", b"x")
    listed = lake.client.list_objects_v2(Bucket=lake.bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["team/lake/raw/a.tsv"]
    assert lake.uri == f"s3://{lake.bucket}/team/lake"
    assert list(lake.list("raw/")) == ["raw/a.tsv"]


@pytest.mark.aws
def test_s3_abandoned_multipart_uploads_are_aborted_once_stale(aws_env) -> None:
    lake, _ = _s3_lake()
    client, bucket = lake.client, lake.bucket
    started = client.create_multipart_upload(Bucket=bucket, Key=f"{lake.prefix}/raw/doc.tsv")
    client.upload_part(Bucket=bucket, Key=f"{lake.prefix}/raw/doc.tsv", PartNumber=1,
                       UploadId=started["UploadId"], Body=b"part")  # fmt: skip
    client.create_multipart_upload(Bucket=bucket, Key="elsewhere/doc.tsv")  # not this lake's
    (upload,) = client.list_multipart_uploads(Bucket=bucket, Prefix=lake.prefix)["Uploads"]
    begun = upload["Initiated"]
    assert lake.leftovers(ManualClock(begun + STALE_AFTER - timedelta(minutes=1))) == []
    removed = lake.remove_leftovers(ManualClock(begun + STALE_AFTER + timedelta(minutes=1)))
    assert [(r.path, r.upload_id) for r in removed] == [("raw/doc.tsv", started["UploadId"])]
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["elsewhere/doc.tsv"]
