"""Landing documents in the raw zone: bytes unchanged, checked in one pass, manifest after."""

from __future__ import annotations

import gzip
import hashlib
import json
import resource
import tracemalloc
import uuid
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from spapi_toolkit import __version__
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.checks import Decoders
from spapi_toolkit.lake.landing import (
    BadDocument,
    LandingError,
    Manifest,
    is_landed,
    land,
)
from spapi_toolkit.lake.layout import KeyLayoutError, manifest_key, raw_stem
from spapi_toolkit.lake.storage import Lake, S3Lake

MIB = 1024 * 1024
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
STEM = raw_stem(
    "all_orders", "A1SELLER", "ATVPDKIKX0DER", date(2025, 3, 1), "amzn1.spdoc.1.4.na.d1"
)
FIELDS: dict[str, Any] = {
    "dataset": "all_orders",
    "seller_id": "A1SELLER",
    "marketplace_ids": ["ATVPDKIKX0DER"],
    "request": {
        "report_type": "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL",
        "data_start": "2025-03-01",
        "data_end": "2025-03-01",
    },
    "report_id": "50012345678",
    "document_id": "amzn1.spdoc.1.4.na.d1",
    "declared_compression": "GZIP",
}
TSV = "order-id\tproduct-name\tprice\n1\tCafé Crème\t1.50\n2\tMug\t3.00\n".encode()


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake.from_uri(str(tmp_path / "lake"))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.aws)])
def any_lake(request, tmp_path) -> Lake:
    """A local lake, and an S3 lake with SSE-KMS on the moto server."""
    if request.param == "local":
        return Lake.from_uri(str(tmp_path / "lake"))
    request.getfixturevalue("aws_env")
    bucket = f"land-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    return Lake.from_uri(f"s3://{bucket}/lake", kms_key_id=key_id)


def _land(lake: Lake, data: bytes | Iterable[bytes], **kwargs: Any) -> Manifest:
    chunks = [data] if isinstance(data, bytes) else data
    kwargs.setdefault("fmt", "tsv")
    kwargs.setdefault("encodings", ["utf-8", "iso-8859-1"])
    kwargs.setdefault("manifest_fields", FIELDS)
    return land(lake, kwargs.pop("stem", STEM), chunks, now=NOW, **kwargs)


def _bad(lake: Lake, data: bytes | Iterable[bytes], **kwargs: Any) -> BadDocument:
    with pytest.raises(BadDocument) as caught:
        _land(lake, data, **kwargs)
    return caught.value


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- keys ---------------------------------------------------------------------------------


def test_raw_stem_is_deterministic_and_sanitised() -> None:
    stem = raw_stem("sales_traffic", "A1SELLER", "A1VC38T7YXB528", date(2025, 1, 2), "a/b c:d")
    assert stem == (
        "raw/source=spapi/dataset=sales_traffic/seller_id=A1SELLER/"
        "marketplace_id=A1VC38T7YXB528/dt=2025-01-02/a_b_c_d"
    )
    assert raw_stem("d", "s", "m", datetime(2025, 1, 2, 23, 0), "..x").endswith("dt=2025-01-02/__x")
    assert manifest_key("raw/a.tsv") == "raw/a.tsv.manifest.json"


@pytest.mark.parametrize("bad", ["", "a/b", "..", "a b"])
def test_raw_stem_refuses_unsafe_partition_values(bad: str) -> None:
    with pytest.raises(KeyLayoutError, match="dataset"):
        raw_stem(bad, "s", "m", date(2025, 1, 1), "doc")


# --- good documents -----------------------------------------------------------------------


def test_plain_tsv_lands_unchanged_with_its_manifest(any_lake: Lake) -> None:
    manifest = _land(any_lake, _split(TSV, 7))
    key = STEM + ".tsv"
    assert manifest.key == key
    assert any_lake.read_bytes(key) == TSV
    assert manifest.sha256 == hashlib.sha256(TSV).hexdigest()
    assert manifest.bytes == len(TSV)
    assert manifest.compression is None
    assert manifest.declared_compression == "GZIP"  # recorded, not trusted
    assert manifest.encoding == "utf-8"
    assert manifest.rows == 2
    assert manifest.retrieved_at == "2025-03-04T05:06:07Z"
    assert manifest.toolkit_version == __version__
    assert Manifest.from_json(any_lake.read_bytes(manifest_key(key))) == manifest


def test_gzip_is_detected_and_stored_compressed(any_lake: Lake) -> None:
    compressed = gzip.compress(TSV)
    chunks = [compressed[:1], compressed[1:2], compressed[2:]]  # magic split across chunks
    manifest = _land(any_lake, chunks)
    assert manifest.key == STEM + ".tsv.gz"
    assert any_lake.read_bytes(manifest.key) == compressed  # never decompressed on the way
    assert manifest.sha256 == hashlib.sha256(compressed).hexdigest()
    assert manifest.bytes == len(compressed)
    assert (manifest.compression, manifest.rows, manifest.encoding) == ("gzip", 2, "utf-8")


def test_gzip_without_declared_compression_is_still_gzip(lake: Lake) -> None:
    fields = {**FIELDS, "declared_compression": None}
    manifest = _land(lake, gzip.compress(TSV), manifest_fields=fields)
    assert (manifest.compression, manifest.declared_compression) == ("gzip", None)


def test_concatenated_gzip_members_are_read_whole(lake: Lake) -> None:
    data = gzip.compress(b"h\n1\n2\n") + gzip.compress(b"3\n4\n")
    assert _land(lake, data).rows == 4


def test_large_gzip_in_small_chunks(lake: Lake) -> None:
    text = b"col\tvalue\n" + b"".join(b"%d\tvalue\n" % i for i in range(300_000))
    compressed = gzip.compress(text, compresslevel=1)
    manifest = _land(lake, _split(compressed, 4096))
    assert manifest.rows == 300_000
    assert lake.read_bytes(manifest.key) == compressed


def test_cp932_is_detected_for_japanese_text(lake: Lake) -> None:
    text = "注文番号\t商品名\n1\t日本語の商品　ソニー\n2\tカタログ\n"
    data = text.encode("cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    manifest = _land(lake, data, encodings=["utf-8", "cp932"])
    assert (manifest.encoding, manifest.rows) == ("cp932", 2)


def test_utf8_japanese_text_stays_utf8(lake: Lake) -> None:
    data = "注文番号\t商品名\n1\t日本語\n".encode()
    assert _land(lake, data, encodings=["utf-8", "cp932"]).encoding == "utf-8"


def test_cp932_character_split_across_blocks(lake: Lake) -> None:
    # "ソ" is 83 5C in cp932: its second byte is ASCII '\\'. The block that starts with it is
    # pure ASCII but must still be decoded, because a lead byte is pending.
    lead, trail = "ソ".encode("cp932")
    first = b"h\n" + b"a" * (2 * MIB) + bytes([lead])
    second = bytes([trail]) + b"b" * (2 * MIB) + b"\n"
    assert _land(lake, [first, second], encodings=["utf-8", "cp932"]).encoding == "cp932"


def test_decoders_keep_pending_bytes_across_ascii_blocks() -> None:
    decoders = Decoders(["cp932"])
    decoders.feed(b"abc\x83")
    decoders.feed(b"\\def")  # ASCII, but completes the pending character
    assert decoders.finish() == "cp932"
    dangling = Decoders(["utf-8"])
    dangling.feed(b"abc\xe6")
    dangling.feed(b"def")
    assert dangling.finish() is None


def test_utf8_bom_is_utf8_sig(lake: Lake) -> None:
    manifest = _land(lake, b"\xef\xbb\xbf" + TSV)
    assert (manifest.encoding, manifest.rows) == ("utf-8-sig", 2)


def test_iso_8859_1_is_the_fallback(lake: Lake) -> None:
    data = "id\tname\n1\tCafé Crème\n".encode("iso-8859-1")
    manifest = _land(lake, data, encodings=["utf-8", "iso-8859-1"])
    assert manifest.encoding == "iso-8859-1"
    assert lake.read_bytes(manifest.key) == data  # bytes never re-encoded


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (b"header\n", 0),
        (b"header", 0),
        (b"header\nrow1\nrow2", 2),
        (b"header\r\nrow1\r\nrow2\r\n", 2),
        (b"header\n\n", 1),
    ],
)
def test_tsv_rows_exclude_the_header(lake: Lake, text: bytes, rows: int) -> None:
    assert _land(lake, text).rows == rows


def test_jsonl_rows_are_lines_and_json_rows_are_none(lake: Lake) -> None:
    jsonl = b'{"asin": "B01"}\n{"asin": "B02"}\n{"asin": "B03"}'
    manifest = _land(lake, gzip.compress(jsonl), fmt="jsonl", encodings=["utf-8"])
    assert (manifest.key, manifest.rows) == (STEM + ".jsonl.gz", 3)
    document = b'\xef\xbb\xbf  {"reportSpecification": {}, "salesAndTrafficByDate": []}\n'
    manifest = _land(lake, document, fmt="json", encodings=["utf-8"])
    assert (manifest.key, manifest.rows, manifest.encoding) == (STEM + ".json", None, "utf-8-sig")


# --- bad documents ------------------------------------------------------------------------


def _assert_quarantined(lake: Lake, error: BadDocument, key: str, data: bytes) -> None:
    assert error.key == key
    assert error.quarantine_key == "quarantine/" + key
    assert not lake.exists(key)
    assert not lake.exists(manifest_key(key))
    assert list(lake.list("raw/")) == []
    assert lake.read_bytes(error.quarantine_key) == data
    reason = json.loads(lake.read_bytes(error.quarantine_key + ".reason.json"))
    assert reason["reason"] == error.reason
    assert reason["manifest_fields"]["document_id"] == FIELDS["document_id"]
    assert reason["sha256"] == hashlib.sha256(data).hexdigest()
    assert "all_orders" in str(error) and key in str(error)


def test_truncated_gzip_is_quarantined(any_lake: Lake) -> None:
    data = gzip.compress(TSV * 100)[:-20]
    error = _bad(any_lake, data)
    assert error.reason.startswith("truncated gzip")
    assert isinstance(error, SpApiToolkitError)
    _assert_quarantined(any_lake, error, STEM + ".tsv.gz", data)


def test_corrupt_gzip_is_quarantined(lake: Lake) -> None:
    good = gzip.compress(TSV * 100)
    data = good[:30] + bytes(b ^ 0xFF for b in good[30:60]) + good[60:]
    error = _bad(lake, data)
    assert error.reason.startswith(("corrupt gzip", "truncated gzip"))
    _assert_quarantined(lake, error, STEM + ".tsv.gz", data)


@pytest.mark.parametrize(
    ("page", "kind"),
    [
        (b"<!DOCTYPE html>\n<html><body>503 Service Unavailable</body></html>", "an HTML page"),
        (b"\n  <HTML><head><title>Error</title></head></html>", "an HTML page"),
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            b"<Message>Request has expired</Message></Error>",
            "an XML error body (Code AccessDenied)",
        ),
        (
            b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
            b"</Error>",
            "an XML error body (Code NoSuchKey)",
        ),
        (
            b'{"errors": [{"code": "Unauthorized", "message": "Access to requested resource is '
            b'denied."}]}',
            'an SP-API error body {"errors": ...} (code Unauthorized)',
        ),
    ],
)
def test_error_bodies_are_quarantined(lake: Lake, page: bytes, kind: str) -> None:
    error = _bad(lake, page)
    assert error.reason == f"{kind} instead of a document"
    _assert_quarantined(lake, error, STEM + ".tsv", page)


def test_gzipped_error_page_is_quarantined(lake: Lake) -> None:
    data = gzip.compress(b"<html><body>Internal error</body></html>")
    assert "an HTML page" in _bad(lake, data).reason


def test_empty_documents_are_quarantined(lake: Lake) -> None:
    error = _bad(lake, [])
    assert error.reason == "empty document (0 bytes)"
    _assert_quarantined(lake, error, STEM + ".tsv", b"")
    error = _bad(lake, gzip.compress(b""))
    assert error.reason.startswith("empty document")
    assert error.quarantine_key == "quarantine/" + STEM + ".tsv.gz"


def test_undecodable_bytes_are_quarantined(lake: Lake) -> None:
    # compressed once: gzip stamps the current second, so two compressions can differ
    compressed = gzip.compress(b"id\tname\n1\tCaf\xe9\n")
    error = _bad(lake, compressed, encodings=["utf-8"])
    assert error.reason.startswith("undecodable as utf-8")
    assert "byte 13" in error.reason  # where the first bad byte is (0-based)
    _assert_quarantined(lake, error, STEM + ".tsv.gz", compressed)


def test_not_json_is_quarantined(lake: Lake) -> None:
    for data in [b"hello", b'{"truncated": [1, 2', b"[1, 2] trailing"]:
        error = _bad(lake, data, fmt="json", encodings=["utf-8"])
        assert error.reason.startswith("not JSON")
        assert error.key == STEM + ".json"


def test_bad_document_can_land_on_a_later_good_download(lake: Lake) -> None:
    _bad(lake, gzip.compress(TSV)[:-5])
    manifest = _land(lake, gzip.compress(TSV))
    assert is_landed(lake, STEM, "tsv") == manifest


# --- idempotence and failures -------------------------------------------------------------


def test_is_landed_with_either_extension(lake: Lake) -> None:
    assert is_landed(lake, STEM, "tsv") is None
    plain = _land(lake, TSV)
    assert is_landed(lake, STEM, "tsv") == plain
    assert is_landed(lake, plain.key, "tsv") == plain
    other = STEM.replace("d1", "d2")
    assert is_landed(lake, other, "tsv") is None
    zipped = _land(lake, gzip.compress(TSV), stem=other)
    assert is_landed(lake, other, "tsv") == zipped
    assert is_landed(lake, other + ".tsv.gz", "tsv") == zipped
    assert is_landed(lake, other + ".tsv", "tsv") is None


def test_object_without_manifest_is_not_landed_and_is_rewritten(lake: Lake) -> None:
    lake.write_bytes(STEM + ".tsv", b"half-landed by a crashed run")
    assert is_landed(lake, STEM, "tsv") is None
    manifest = _land(lake, TSV)
    assert lake.read_bytes(manifest.key) == TSV


def test_landed_document_is_never_written_twice(lake: Lake) -> None:
    first = _land(lake, TSV)

    def must_not_be_read() -> Iterator[bytes]:
        raise AssertionError("a landed document was downloaded again")
        yield b""  # pragma: no cover

    again = _land(lake, must_not_be_read(), manifest_fields={**FIELDS, "report_id": "other"})
    assert again == first
    assert lake.read_bytes(manifest_key(first.key)) == first.to_json()


def test_download_failure_mid_stream_leaves_nothing(any_lake: Lake) -> None:
    def dropped() -> Iterator[bytes]:
        yield gzip.compress(TSV * 1000)[:1000]
        raise ConnectionError("connection reset by peer")

    with pytest.raises(ConnectionError):
        _land(any_lake, dropped())
    assert list(any_lake.list("")) == []
    if isinstance(any_lake, S3Lake):
        uploads = any_lake.client.list_multipart_uploads(Bucket=any_lake.bucket)
        assert uploads.get("Uploads", []) == []


def test_manifest_json_is_stable_and_round_trips(lake: Lake) -> None:
    manifest = _land(lake, TSV)
    data = manifest.to_json()
    assert data.endswith(b"}\n")
    payload = json.loads(data)
    assert list(payload) == sorted(payload)
    assert (
        data == json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False).encode() + b"\n"
    )
    assert Manifest.from_json(data) == manifest
    assert Manifest.from_json(data).to_json() == data
    with pytest.raises(LandingError, match="sha256"):
        Manifest.from_json(json.dumps({k: v for k, v in payload.items() if k != "sha256"}).encode())


def test_manifest_never_stores_secrets_or_presigned_urls(lake: Lake) -> None:
    url = "https://tortuga-prod-na.s3.amazonaws.com/doc?X-Amz-Signature=abc&X-Amz-Credential=x"
    for fields in [
        {**FIELDS, "request": {**FIELDS["request"], "url": url}},
        {**FIELDS, "request": {"params": [url]}},
        {**FIELDS, "request": {"refresh_token": "Atzr|x"}},
    ]:
        with pytest.raises(LandingError) as caught:
            _land(lake, TSV, manifest_fields=fields)
        assert "Atzr" not in str(caught.value) and "abc" not in str(caught.value)
    assert list(lake.list("")) == []


def test_bad_arguments_are_named(lake: Lake) -> None:
    with pytest.raises(LandingError, match="unknown encoding 'klingon'"):
        _land(lake, TSV, encodings=["utf-8", "klingon"])
    with pytest.raises(LandingError, match="sha256"):
        _land(lake, TSV, manifest_fields={**FIELDS, "sha256": "forged"})
    with pytest.raises(LandingError, match="seller_id"):
        _land(lake, TSV, manifest_fields={"dataset": "all_orders"})
    with pytest.raises(LandingError, match="marketplace_ids"):
        _land(lake, TSV, manifest_fields={**FIELDS, "marketplace_ids": "ATVPDKIKX0DER"})
    with pytest.raises(LandingError, match="fmt"):
        _land(lake, TSV, fmt="../tsv")


# --- constant memory ----------------------------------------------------------------------


ORDER_LINE = "113-1234567-1234567\t2025-01-01T00:00:00+00:00\tShipped\tCafé Crème™\tSKU-1\t12.34\n"


def _gzip_stream(uncompressed_mib: int) -> Iterator[bytes]:
    """A single gzip member of ``uncompressed_mib`` MiB of TSV rows, yielded as it is made
    (level 0, so the raw stream is as large as the content: buffering either would show)."""
    block = (ORDER_LINE * (MIB // len(ORDER_LINE.encode()))).encode()
    compressor = zlib.compressobj(0, zlib.DEFLATED, 31)  # stored: 200 MiB on the wire too
    yield compressor.compress(b"id\tdate\tstatus\tname\tsku\tprice\n")
    for _ in range(uncompressed_mib):
        yield compressor.compress(block)
    yield compressor.flush()


def test_landing_a_large_stream_uses_constant_memory(lake: Lake) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        manifest = _land(lake, _gzip_stream(200))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert manifest.rows == 200 * (MIB // len(ORDER_LINE.encode()))
    assert peak < 30 * MIB, f"traced peak {peak / MIB:.0f} MiB while landing 200 MiB"
    assert rss_growth < 100 * MIB, f"RSS grew {rss_growth / MIB:.0f} MiB while landing 200 MiB"
