"""A landed document from its bytes to its rows (``lake/curate/documents.py``), without Spark:
bytes that are not the manifest's are refused whole, rows that do not fit are malformed with
their line number, and well-formed rows come out as the document holds them."""

from __future__ import annotations

import gzip
import hashlib
import re

import pyarrow as pa
import pytest

from spapi_toolkit.lake.curate import documents
from spapi_toolkit.lake.curate.documents import EXTRA, MALFORMED, REFUSED, ROW, Layout, Refused

ORDERS = Layout("tsv", (("sku", "sku"), ("price", "price"), ("city", "city")), ("sku",))


def _read(data: bytes, layout: Layout = ORDERS, encoding: str | None = "utf-8", **changes):
    """``reader``'s rows for one document whose manifest says ``changes`` (else the truth)."""
    facts = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "encoding": encoding}
    facts.update(changes)
    batch = pa.RecordBatch.from_pydict({"raw_key": ["raw/k"], "content": [data]})
    manifests = {"raw/k": (facts["size"], facts["sha256"], facts["encoding"])}
    out = list(documents.reader(layout, manifests)(iter([batch])))
    assert all(b.schema == documents.arrow_schema(layout) for b in out)
    return [row for b in out for row in b.to_pylist()]


def _text(rows: list[list[str]], end: str = "\n") -> bytes:
    return (end.join("\t".join(r) for r in rows) + end).encode()


GOOD = [["sku", "price", "city", "note"], ["A", "1.50", "Seattle", "ok"], ["B", "2.00", "", ""]]


def test_a_good_flat_file_reads_every_row_with_its_line_and_unknown_columns_in_extra():
    rows = _read(_text(GOOD))
    assert [(r[ROW], r["sku"], r["price"], r["city"], r[EXTRA]) for r in rows] == [
        (2, "A", "1.50", "Seattle", [("note", "ok")]),
        (3, "B", "2.00", None, [("note", None)]),  # an empty field is null, as Spark read it
    ]
    assert all(r[MALFORMED] is None and r[REFUSED] is None for r in rows)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": 10}, r"its bytes are not its manifest's: \d+ bytes, the manifest 10"),
        ({"sha256": "0" * 64}, r"sha256 [0-9a-f]{12}\.\.\., the manifest 000000000000"),
        ({"encoding": "klingon"}, r"its manifest's encoding 'klingon' is unknown"),
    ],
)
def test_bytes_that_are_not_the_manifests_are_refused_whole(change, reason):
    (row,) = _read(_text(GOOD), **change)
    assert row["raw_key"] == "raw/k" and row["sku"] is None and row[ROW] is None
    assert re.search(reason, row[REFUSED]), row[REFUSED]


def test_text_that_does_not_decode_with_the_manifests_encoding_is_refused():
    data = _text([["sku", "price", "city"], ["Köln", "1", "x"]]).replace(b"\xc3\xb6", b"\xf6")
    (row,) = _read(data)
    assert row[REFUSED] == "it does not decode as utf-8, its manifest's encoding (byte 16)"
    assert _read(data, encoding="cp1252")[0]["sku"] == "Köln"


def test_gzip_members_are_read_in_turn_and_a_cut_stream_is_refused():
    data = gzip.compress(_text(GOOD[:2])) + gzip.compress(b"C\t3.00\tKyoto\tx\n")
    assert [r["sku"] for r in _read(data)] == ["A", "C"]
    (row,) = _read(data[:-9])
    assert row[REFUSED] == "its gzip stream is cut short"


def test_japanese_in_cp932_reads_back():
    data = "sku\tprice\tcity\nA\t100\t東京\n".encode("cp932")
    assert _read(data, encoding="cp932")[0]["city"] == "東京"


def test_rows_that_do_not_fit_their_header_are_malformed_with_their_line():
    lines = [*GOOD[:2], ["C", "3.00"], [], ["D", "4.00", "Kyoto", "x", "one too many"]]
    rows = {r[ROW]: r for r in _read(_text([*lines, GOOD[2]], end="\r\n") + b"\r\n\n")}
    assert {n: r[MALFORMED] for n, r in rows.items()} == {
        2: None,
        3: "row 3 has 2 fields, its header 4",
        4: "row 4 is blank",
        5: "row 5 has 5 fields, its header 4",
        6: None,  # CRLF endings and blank lines at the very end are fine, as at landing
    }
    assert (rows[3]["sku"], rows[3]["price"], rows[3]["city"]) == ("C", "3.00", None)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no header: the first line is blank"),
        (b"\nsku\tprice\n", "no header: the first line is blank"),
        (b"price\tcity\n1\tx\n", "the header lacks sku, which the table requires"),
    ],
)
def test_a_flat_file_without_a_usable_header_is_refused(data, reason):
    (row,) = _read(data)
    assert row[REFUSED] == reason


def test_csv_reads_quoted_fields():
    layout = Layout("csv", ORDERS.columns, ORDERS.required)
    rows = _read(b'sku,price,city\n"A, the first",1.50,"Kyoto ""old"""\n', layout)
    assert (rows[0]["sku"], rows[0]["city"]) == ("A, the first", 'Kyoto "old"')


def test_json_lines_keep_their_line_numbers_and_skip_blank_lines():
    rows = _read(b'{"a": 1}\n\n  \n{"a": 2}\n{"a"', Layout("jsonl"))
    assert [(r[ROW], r["_text"]) for r in rows] == [(1, '{"a": 1}'), (4, '{"a": 2}'), (5, '{"a"')]


def test_a_corrupt_gzip_stream_is_refused_without_its_content():
    data = bytearray(gzip.compress(b"sku\tsecret\n" * 50))
    data[20:24] = b"\xff\xff\xff\xff"
    with pytest.raises(Refused, match="its gzip stream is corrupt") as caught:
        documents.checked_text(bytes(data), len(data), hashlib.sha256(data).hexdigest(), None)
    assert "secret" not in str(caught.value)


def test_a_carriage_return_inside_a_field_stays_in_it_and_cr_only_lines_are_refused():
    rows = _read(b"sku\tprice\tcity\nA\t1\tKyo\rto\nB\t2\tx\n")
    assert [(r[ROW], r["sku"], r["city"], r[MALFORMED]) for r in rows] == [
        (2, "A", "Kyo\rto", None),
        (3, "B", "x", None),
    ]
    (row,) = _read(b"sku\tprice\tcity\rA\t1\tx\r")
    assert row[REFUSED] == "its header holds a carriage return: lines end with CR, not LF"


def test_a_header_naming_a_column_twice_is_refused():
    (row,) = _read(b"sku\tprice\tprice\nA\t1\t2\n")
    assert row[REFUSED] == "the header names price more than once"


def test_utf8_bytes_under_a_legacy_encoding_contradict_landing_and_are_refused():
    data = "sku\tprice\tcity\nA\t1\tGroß\n".encode()
    (row,) = _read(data, encoding="cp1252")
    assert (
        row[REFUSED]
        == "its bytes are UTF-8, which landing tries first, yet its manifest says cp1252"
    )
    assert (
        _read("sku\tprice\tcity\nA\t1\tGroß\n".encode("cp1252"), encoding="cp1252")[0]["city"]
        == "Groß"
    )


def test_a_document_no_manifest_of_the_run_names_is_refused_not_dropped():
    """A path Spark read whose key is not one of the run's documents (a key that did not come
    back from its URI as it went in) is named, not silently left out."""
    batch = pa.RecordBatch.from_pydict({"raw_key": ["raw/other"], "content": [_text(GOOD)]})
    out = list(documents.reader(ORDERS, {"raw/k": (1, "0" * 64, None)})(iter([batch])))
    rows = [row for b in out for row in b.to_pylist()]
    assert [(r["raw_key"], r[REFUSED]) for r in rows] == [
        ("raw/other", "no manifest of this run names it")
    ]
