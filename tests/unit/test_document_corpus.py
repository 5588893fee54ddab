"""A corpus of documents, good and hostile, landed as ingestion lands them: with the dataset's
shape from the registry and the marketplace's encodings. Every good one lands byte for byte;
every bad one is quarantined with a reason that says what was wrong, and nothing reaches raw/.

The good documents are the sandbox's renderings of every report dataset in three marketplaces
(plain and gzip), plus Data Kiosk JSON lines. The bad ones are what a proxy between the toolkit
and Amazon was seen to get through, and their relatives."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest

from spapi_sandbox.documents import NoDataError, render_data_kiosk, render_report
from spapi_sandbox.seller import SimulatedSeller
from spapi_toolkit.ingest.jobs import encodings_for
from spapi_toolkit.lake.checks import document_shape
from spapi_toolkit.lake.landing import REASON_SUFFIX, BadDocument, land
from spapi_toolkit.lake.layout import raw_stem
from spapi_toolkit.lake.registry import dataset, registry
from spapi_toolkit.lake.storage import Lake

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
LATE = datetime(2027, 1, 1, tzinfo=UTC)  # long after the history: every day is final
DAY = date(2026, 11, 3)
WEEK = (date(2026, 11, 1), date(2026, 11, 7))  # Sunday to Saturday
REPORTS = [d.name for d in registry().values() if d.source == "report"]
KIOSK_QUERY = (
    "query { analytics_salesAndTraffic_2024_04_24 { salesAndTrafficByDate(startDate: "
    '"2026-11-02" endDate: "2026-11-06" aggregateBy: DAY marketplaceIds: ["ATVPDKIKX0DER"]) '
    "{ startDate endDate marketplaceId sales { unitsOrdered } traffic { sessions } } } }"
)


@pytest.fixture(scope="module")
def seller() -> SimulatedSeller:
    return SimulatedSeller()


def _render(seller: SimulatedSeller, name: str, marketplace_id: str) -> bytes:
    spec = dataset(name)
    assert spec.report_type is not None
    first, last = WEEK if spec.window == "week" else (DAY, DAY)
    # a small seller's Brand Analytics week may be empty (go a week back), its day without
    # returns (widen the range by a week each side)
    for weeks in range(5):
        start = datetime.combine(first - timedelta(weeks=weeks), time(), UTC)
        moved = (
            last + timedelta(weeks=weeks)
            if spec.window == "range"
            else start.date() + (last - first)
        )
        end = datetime.combine(moved, time(23, 59, 59), UTC)
        window = (None, None) if spec.window == "snapshot" else (start, end)
        try:
            return render_report(
                seller, spec.report_type, [marketplace_id], *window, spec.report_options, LATE
            )
        except NoDataError:
            continue
    raise AssertionError(f"the sandbox has no {name} document for {marketplace_id}")


def _land(lake: Lake, name: str, marketplace_id: str, body: bytes, case: str):
    spec = dataset(name)
    stem = raw_stem(name, "S1", marketplace_id, DAY, case)
    return land(
        lake,
        stem,
        [body[i : i + 7000] for i in range(0, len(body), 7000)],  # off any line boundary
        fmt=spec.format,
        encodings=encodings_for(spec.format, [marketplace_id]),
        manifest_fields={"dataset": name, "seller_id": "S1", "marketplace_ids": [marketplace_id]},
        shape=document_shape(spec),
    )


# ---- good documents -------------------------------------------------------------------------


def _good_cases() -> list[tuple[str, str, bool]]:
    return [(name, mp, zipped) for name in REPORTS for mp in (US, DE, JP) for zipped in (0, 1)]


@pytest.mark.parametrize(("name", "marketplace_id", "zipped"), _good_cases())
def test_every_good_document_lands_byte_for_byte(seller, tmp_path, name, marketplace_id, zipped):
    lake = Lake.from_uri(str(tmp_path))
    body = _render(seller, name, marketplace_id)
    sent = gzip.compress(body, mtime=0) if zipped else body
    manifest = _land(lake, name, marketplace_id, sent, "good")
    assert lake.read_bytes(manifest.key) == sent
    assert not list(lake.list("quarantine/"))
    if dataset(name).format == "tsv":
        assert manifest.rows == body.count(b"\n") - 1
        sandbox_encoding = {US: "utf-8", DE: "cp1252", JP: "cp932"}[marketplace_id]
        assert manifest.encoding is not None
        assert body.decode(manifest.encoding) == body.decode(sandbox_encoding)


def test_data_kiosk_json_lines_land(seller, tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    body = render_data_kiosk(seller, KIOSK_QUERY, LATE)
    manifest = _land(lake, "kiosk_sales_traffic", US, body, "kiosk")
    assert lake.read_bytes(manifest.key) == body
    assert manifest.rows == 5


def test_the_corpus_is_large_enough():
    assert len(_good_cases()) + 1 >= 50
    assert len(BAD) >= 30


# ---- bad documents --------------------------------------------------------------------------

ERRORS_JSON = b'{"errors":[{"code":"InvalidInput","message":"Invalid input","details":""}]}'
S3_ERROR = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


def _orders(seller: SimulatedSeller, marketplace_id: str = US) -> bytes:
    return _render(seller, "orders_by_order_date", marketplace_id)


def _st(seller: SimulatedSeller) -> bytes:
    return _render(seller, "sales_traffic_by_asin", US)


def _without(document: bytes, name: str) -> bytes:
    payload = json.loads(document)
    del payload[name]
    return json.dumps(payload).encode()


def _retyped(document: bytes, name: str, value: object) -> bytes:
    payload = json.loads(document)
    payload[name] = value
    return json.dumps(payload).encode()


def _replace_column(document: bytes, old: bytes, new: bytes) -> bytes:
    header, rest = document.split(b"\n", 1)
    return header.replace(old, new) + b"\n" + rest


def _ragged(document: bytes, change: Callable[[bytes], bytes]) -> bytes:
    lines = document.split(b"\n")
    lines[2] = change(lines[2])
    return b"\n".join(lines)


def _cp932_in_us_orders(seller: SimulatedSeller) -> bytes:
    lines = _orders(seller).split(b"\n")
    fields = lines[1].split(b"\t")
    fields[10] = "テスト商品　ソニー".encode("cp932")  # product-name
    lines[1] = b"\t".join(fields)
    return b"\n".join(lines)


# case -> (dataset, marketplace, the bytes from the seller, a fragment of the reason)
BAD: dict[str, tuple[str, str, Callable[[SimulatedSeller], bytes], str]] = {
    # Sales & Traffic (JSON) ---------------------------------------------------------------
    "json: a quote removed": (
        "sales_traffic_by_asin", US, lambda s: _st(s).replace(b'"', b"", 1), "not JSON"),
    "json: two documents back to back": (
        "sales_traffic_by_asin", US, lambda s: _st(s) + _st(s), "trailing garbage"),
    "json: a bare array": (
        "sales_traffic_by_asin", US,
        lambda s: json.dumps(json.loads(_st(s))["salesAndTrafficByAsin"]).encode(),
        "JSON top level is array"),
    "json: errors served with 200": (
        "sales_traffic_by_asin", US, lambda s: ERRORS_JSON, "SP-API error body"),
    "json: errors after whitespace": (
        "search_terms", DE, lambda s: b"\n  " + ERRORS_JSON, "SP-API error body"),
    "json: errors not first": (
        "sales_traffic_by_asin", US,
        lambda s: b'{"payload": null, "errors": [{"code": "QuotaExceeded"}]}', "lacks"),
    "json: cut in half": (
        "sales_traffic_by_asin", US, lambda s: _st(s)[: len(_st(s)) // 2], "not JSON"),
    "json: a required property missing": (
        "sales_traffic_by_asin", US, lambda s: _without(_st(s), "salesAndTrafficByAsin"),
        "lacks salesAndTrafficByAsin"),
    "json: a property of the wrong type": (
        "sales_traffic_by_date", US, lambda s: _retyped(_st(s), "salesAndTrafficByDate", {}),
        "salesAndTrafficByDate is object, not array"),
    "json: an empty object": ("repeat_purchase", US, lambda s: b"{}", "lacks"),
    "json: a number": ("market_basket", JP, lambda s: b"42", "JSON top level is a scalar"),
    "json: text after the document": (
        "sales_traffic_by_asin", US, lambda s: _st(s) + b"\nEND OF REPORT\n", "not JSON"),
    "json: utf-16": (
        "sales_traffic_by_asin", US, lambda s: _st(s).decode().encode("utf-16"), "NUL byte"),
    "json: latin-1 bytes": (
        "search_terms", DE, lambda s: b'{"reportSpecification": {"x": "caf\xe9"}}',
        "undecodable as utf-8"),
    "json: an html page": (
        "sales_traffic_by_asin", US,
        lambda s: b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
    "json: an S3 error without a declaration": (
        "sales_traffic_by_asin", US, lambda s: S3_ERROR, "XML error body (Code AccessDenied)"),
    "json: whitespace only": ("sales_traffic_by_asin", US, lambda s: b" \n\t\n", "not JSON"),
    # flat files -------------------------------------------------------------------------------
    "tsv: JSON served as TSV": (
        "orders_by_order_date", US, lambda s: _st(s), "lacks the key column"),
    "tsv: errors served as TSV": (
        "orders_by_last_update", DE, lambda s: ERRORS_JSON, "SP-API error body"),
    "tsv: header without amazon-order-id": (
        "orders_by_order_date", US,
        lambda s: _replace_column(_orders(s), b"amazon-order-id", b"order-id"),
        "lacks the key column(s) amazon-order-id"),
    "tsv: header without order-item-id": (
        "orders_by_last_update", US,
        lambda s: _replace_column(_orders(s), b"order-item-id", b"item"),
        "lacks the key column(s) order-item-id"),
    "tsv: listings without seller-sku": (
        "merchant_listings", JP,
        lambda s: _replace_column(_render(s, "merchant_listings", JP), b"seller-sku", b"sku"),
        "seller-sku"),
    "tsv: a row with a field too few": (
        "orders_by_order_date", US,
        lambda s: _ragged(_orders(s), lambda line: line.rsplit(b"\t", 1)[0]),
        "ragged rows: line 3"),
    "tsv: a row with a field too many": (
        "orders_by_order_date", US, lambda s: _ragged(_orders(s), lambda line: line + b"\textra"),
        "ragged rows: line 3"),
    "tsv: whitespace only": ("orders_by_order_date", US, lambda s: b"  \n\n  \n", "blank"),
    "tsv: a blank line between rows": (
        "fba_inventory", US, lambda s: _render(s, "fba_inventory", US).replace(b"\n", b"\n\n", 1),
        "a blank line 2 in the middle"),
    "tsv: cp932 in a US orders file": (
        "orders_by_order_date", US, _cp932_in_us_orders, "control byte"),
    "tsv: utf-16": (
        "fba_inventory", US, lambda s: _render(s, "fba_inventory", US).decode().encode("utf-16"),
        "NUL byte"),
    "tsv: an S3 error without a declaration": (
        "merchant_listings", US, lambda s: S3_ERROR, "XML error body"),
    "tsv: an html page": (
        "orders_by_order_date", JP, lambda s: b"\r\n<html><head><title>503</title></head>",
        "HTML page"),
    "tsv: empty": ("orders_by_order_date", US, lambda s: b"", "empty document"),
    "tsv: truncated gzip": (
        "orders_by_order_date", US,
        lambda s: gzip.compress(_orders(s))[: len(gzip.compress(_orders(s))) // 2],
        "truncated gzip"),
    "tsv: corrupt gzip": (
        "orders_by_order_date", DE,
        lambda s: (lambda z: z[:20] + bytes(b ^ 0xFF for b in z[20:40]) + z[40:])(
            gzip.compress(_orders(s, DE))),
        "gzip"),
    # JSON lines -------------------------------------------------------------------------------
    "jsonl: a line that is not JSON": (
        "kiosk_sales_traffic", US, lambda s: b'{"a": 1}\n{"a": 2\n{"a": 3}\n',
        "line 2 is not JSON"),
    "jsonl: a line that is an array": (
        "kiosk_sales_traffic", US, lambda s: b'{"a": 1}\n[1, 2]\n', "line 2 is list"),
    "jsonl: errors served as lines": (
        "kiosk_sales_traffic", US, lambda s: ERRORS_JSON + b"\n", "SP-API error body"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_every_bad_document_is_quarantined_with_its_reason(seller, tmp_path, case):
    name, marketplace_id, make, fragment = BAD[case]
    lake = Lake.from_uri(str(tmp_path))
    body = make(seller)
    with pytest.raises(BadDocument) as caught:
        _land(lake, name, marketplace_id, body, "bad")
    error = caught.value
    assert fragment in error.reason, error.reason
    assert not [key for key in lake.list("raw/")], "a bad document reached raw/"
    if body:
        assert error.quarantine_key is not None
        assert lake.read_bytes(error.quarantine_key) == body  # kept as received, for a look
        record = json.loads(lake.read_bytes(error.quarantine_key + REASON_SUFFIX))
        assert record["reason"] == error.reason and record["manifest_fields"]["dataset"] == name
