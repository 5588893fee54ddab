"""Reading documents: JSON lines (the read schema built from the contract's paths, and array
steps that take an element by position or by a field's value; rows inside lines, read through
alternatives, with their parent's values) and flat files (a row that does
not fit its header is quarantined, never padded)."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from spapi_toolkit.lake.curate import staging
from spapi_toolkit.lake.curate.sources import (
    RawDocument,
    SourceError,
    _read_flat,
    _read_json,
    _read_jsonl,
    line_schema,
    row_schema,
)
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import ROWS_SOURCE, Column, Table


def landed(lake: Lake, key: str, data: bytes, fmt: str, encoding: str = "utf-8") -> RawDocument:
    """``data`` written at ``key`` with the manifest facts curation checks it against."""
    lake.write_bytes(key, data)
    return RawDocument(key, "test", fmt, "S", "M", "2026-11-28", encoding,
                       hashlib.sha256(data).hexdigest(), None, None, "2026-11-28T06:00:00+00:00",
                       size=len(data))  # fmt: skip


LINEAGE_VALUES = {"seller_id": "S", "report_id": "R", "document_id": "D",
                  "ingested_at": "2026-11-28T06:00:00+00:00"}  # fmt: skip

OFFERS = Table(
    name="offers_test",
    description="test",
    key=("asin",),
    partition_by=(),
    columns=(
        Column("asin", "string", "body.ASIN"),
        Column("count", "int", "body.Summary.TotalOfferCount"),
        Column("first_rank", "int", "body.Ranks[0].Rank"),
        Column("our_price", "decimal", "body.Offers[MyOffer=true].Price.Amount"),
        Column("our_fba", "bool", "body.Offers[MyOffer=true].IsFba"),
        Column("parent", "string", "body.Parents[0]"),
        Column("missing", "string", "body.Ranks[3].Rank"),
    ),
)


def test_the_read_schema_of_json_lines_holds_every_path_and_the_fields_arrays_compare():
    schema = row_schema(OFFERS)
    assert schema == (
        "`body` struct<`ASIN`: string, `Summary`: struct<`TotalOfferCount`: string>, "
        "`Ranks`: array<struct<`Rank`: string>>, "
        "`Offers`: array<struct<`MyOffer`: string, `Price`: struct<`Amount`: string>, "
        "`IsFba`: string>>, `Parents`: array<string>>"
    )


def test_a_path_read_both_as_an_array_and_not_is_refused():
    clash = Table("clash", "test", ("a",), (), (Column("a", "string", "x.y"),
                                                 Column("b", "string", "x[0].y")))  # fmt: skip
    with pytest.raises(SourceError, match="both as an array and not"):
        row_schema(clash)


def test_json_lines_are_read_one_row_per_line_with_array_steps(spark, tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    key = "raw/source=spapi/dataset=item_offers/x.jsonl.gz"
    lines = [
        {"body": {"ASIN": "B1", "Summary": {"TotalOfferCount": 2}, "Ranks": [{"Rank": 7}],
                  "Offers": [{"MyOffer": False, "Price": {"Amount": 9.5}, "IsFba": True},
                             {"MyOffer": True, "Price": {"Amount": 10.25}, "IsFba": False}],
                  "Parents": ["P1", "P2"], "Other": {"ignored": 1}}},
        {"body": {"ASIN": "B2", "Offers": [{"MyOffer": False, "Price": {"Amount": 1}}]}},
    ]  # fmt: skip
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    document = landed(lake, key, gzip.compress(text.encode()), "jsonl")
    rows = {r.asin: r.asDict() for r in _read_jsonl(spark, lake, OFFERS, [document]).collect()}
    assert rows["B1"] == {
        "raw_key": key, "_row": 1, "asin": "B1", "count": "2", "first_rank": "7",
        "our_price": "10.25", "our_fba": "false", "parent": "P1", "missing": None,
        "_malformed": None, "_refused": None,
    }  # fmt: skip
    assert rows["B2"] == {
        "raw_key": key, "_row": 2, "asin": "B2", "count": None, "first_rank": None,
        "our_price": None, "our_fba": None, "parent": None, "missing": None, "_malformed": None,
        "_refused": None,
    }  # fmt: skip


ORDERS = Table(
    name="orders_test",
    description="test",
    key=("id",),
    partition_by=(),
    columns=(
        Column("id", "string", "id"),
        Column("lines", "int", "count(items[*])"),
        Column("units", "int", "sum(items[*].qty)"),
        Column("paid", "decimal", "sum(items[*].price.amount)"),
        Column("prime", "bool", "has(programs[*], PRIME)"),
        Column("gift", "bool", "has(items[*].flags.gift, yes)"),
        Column("worst", "string", "issues[level=ERROR].level | issues[level=WARNING].level"),
        Column("issues", "int", "count(issues[*])"),
    ),
)


def test_array_functions_widen_a_counted_array_to_what_other_paths_read():
    assert row_schema(ORDERS) == (
        "`id` string, `items` array<struct<`qty`: string, `price`: struct<`amount`: string>, "
        "`flags`: struct<`gift`: string>>>, `programs` array<string>, "
        "`issues` array<struct<`level`: string>>"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("items[*].qty", r"reads every element \(\[\*\]\) outside count, sum, has"),
        ("count(items[*].qty)", r"must end at its \[\*\] step"),
        ("sum(items[0].qty)", r"needs one \[\*\] step"),
        ("sum(items[*].parts[*].qty)", r"needs one \[\*\] step"),
        ("has(programs[*])", r"needs has\(path, value\)"),
    ],
)
def test_array_functions_are_checked(source, message):
    bad = Table("bad", "test", ("a",), (), (Column("a", "string", source),))
    with pytest.raises(SourceError, match=message):
        row_schema(bad)


def test_array_functions_count_sum_and_look_for_values_and_alternatives_fall_back(spark, tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    key = "raw/source=spapi/dataset=orders_api/x.jsonl.gz"
    lines = [
        {"id": "A", "programs": ["PRIME", "AMAZON_BUSINESS"],
         "items": [{"qty": 2, "price": {"amount": "10.50"}, "flags": {"gift": "yes"}},
                   {"qty": 3, "price": {"amount": "0.25"}}],
         "issues": [{"level": "WARNING"}, {"level": "ERROR"}]},
        {"id": "B", "items": [{"qty": 1}], "issues": [{"level": "WARNING"}]},
        {"id": "C", "items": [], "programs": [], "issues": []},
        {"id": "D", "items": [{"qty": "two"}, {"qty": 1}]},
    ]  # fmt: skip
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    document = landed(lake, key, gzip.compress(text.encode()), "jsonl")
    rows = {r.id: r.asDict() for r in _read_jsonl(spark, lake, ORDERS, [document]).collect()}
    columns = ("lines", "units", "paid", "prime", "gift", "worst", "issues")
    got = {name: tuple(row[c] for c in columns) for name, row in rows.items()}
    assert got == {
        "A": ("2", "5", "10.75", "true", "true", "ERROR", "2"),
        "B": ("1", "1", None, "false", "false", "WARNING", "1"),
        "C": ("0", None, None, "false", "false", None, "0"),
        "D": ("2", "two", None, "false", "false", None, "0"),  # staging quarantines "two"
    }


FLAT = Table(
    name="flat_test",
    description="test",
    key=("sku",),
    partition_by=(),
    columns=(
        Column("sku", "string", "sku"),
        Column("price", "decimal", "price"),
        Column("city", "string", "city"),
    ),
)


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_a_flat_row_with_more_or_fewer_fields_than_its_header_is_quarantined(spark, tmp_path, fmt):
    """A row cut short after landing (or with a field too many) would be padded with nulls (or
    cut) by Spark and pass the contract, its missing cells being optional: it is quarantined with
    the reason, and the well-formed rows of the same file go on."""
    sep = "\t" if fmt == "tsv" else ","
    lines = [
        ["sku", "price", "city", "note"],
        ["A", "1.50", "Seattle", "ok"],
        ["B", "2.00"],  # cut after price
        ["C", "3.00", "Kyoto", "x", "one too many"],
        ["D", "4.00", "", ""],
    ]
    lake = Lake.from_uri(str(tmp_path))
    key = f"raw/source=spapi/dataset=flat/x.{fmt}"
    data = ("\n".join(sep.join(line) for line in lines) + "\n").encode()
    document = landed(lake, key, data, fmt)
    from pyspark.sql import functions as F

    frame = _read_flat(spark, lake, FLAT, [document])
    frame = frame.withColumns(
        {name: F.lit(value) for name, value in LINEAGE_VALUES.items() if name != "raw_key"}
    )
    clean, bad = staging.stage(frame, FLAT, b"k")
    assert sorted(r.sku for r in clean.collect()) == ["A", "D"]
    reasons = {r.sku: r[staging.REASON] for r in bad.collect()}
    assert reasons == {
        "B": "row 3 has 2 fields, its header 4",
        "C": "row 4 has 5 fields, its header 4",
    }
    assert {r.sku: r._row for r in bad.collect()} == {"B": 3, "C": 4}
    assert all(r.raw_key == key for r in bad.collect())


def test_a_json_line_that_is_not_json_or_not_of_the_read_shape_is_quarantined(spark, tmp_path):
    """A line cut short, or whose value has another shape than the paths read (a text where
    an object is read), would be read as nulls: it is quarantined, the other lines go on."""
    from pyspark.sql import functions as F

    table = Table("lines_test", "test", ("asin",), (), (
        Column("asin", "string", "body.ASIN"), Column("count", "int", "body.Summary.Count"),
    ))  # fmt: skip
    lines = [
        '{"body": {"ASIN": "B1", "Summary": {"Count": 2}}}',
        '{"body": {"ASIN": "B2", "Summ',  # cut short
        '{"body": {"ASIN": "B3", "Summary": "none"}}',  # a text where an object is read
        '{"body": {"ASIN": "B4"}}',
    ]
    lake = Lake.from_uri(str(tmp_path))
    key = "raw/source=spapi/dataset=lines/x.jsonl"
    document = landed(lake, key, ("\n".join(lines) + "\n").encode(), "jsonl")
    frame = _read_jsonl(spark, lake, table, [document]).withColumns(
        {name: F.lit(value) for name, value in LINEAGE_VALUES.items()}
    )
    clean, bad = staging.stage(frame, table, b"k")
    assert sorted(r.asin for r in clean.collect()) == ["B1", "B4"]
    reasons = sorted(r[staging.REASON] for r in bad.collect())
    # The cut line's asin is lost with it (Spark keeps no field of a line it cannot parse).
    assert reasons == [
        "line 2 is not one JSON value of the shape the contract reads",
        "line 3 is not one JSON value of the shape the contract reads",
    ]


EVENTS = Table(
    name="events_test",
    description="test",
    key=("order", "item"),
    partition_by=(),
    rows="Shipments[0].Items | Refunds[0].Adjustments",
    columns=(
        Column("kind", "string", ROWS_SOURCE),
        Column("order", "string", "^OrderId"),
        Column("posted", "string", "^Posted | ^PostedAt"),
        Column("item", "string", "Id"),
        Column("fee", "decimal",
               "Fees[FeeType=Commission].Amount | FeeAdjustments[FeeType=Commission].Amount"),
    ),
)  # fmt: skip


def test_rows_inside_json_lines_read_the_array_and_the_parent_of_each_alternative():
    assert line_schema(EVENTS) == (
        "`Shipments` array<struct<`Items`: array<string>, `OrderId`: string, `Posted`: string, "
        "`PostedAt`: string>>, `Refunds` array<struct<`Adjustments`: array<string>, "
        "`OrderId`: string, `Posted`: string, `PostedAt`: string>>"
    )
    assert row_schema(EVENTS) == (
        "`Id` string, `Fees` array<struct<`FeeType`: string, `Amount`: string>>, "
        "`FeeAdjustments` array<struct<`FeeType`: string, `Amount`: string>>"
    )


def test_rows_inside_json_lines_come_from_the_first_alternative_a_line_holds(spark, tmp_path):
    """A row per element of the line's array, with its event's values and the list it came by;
    a line of another list has no rows; a line that is not JSON, or an element of another
    shape, is one malformed row each, numbered by its line."""
    lake = Lake.from_uri(str(tmp_path))
    key = "raw/source=spapi/dataset=financial_events/x.jsonl.gz"
    fee = [{"FeeType": "Other", "Amount": 1}, {"FeeType": "Commission", "Amount": -2.5}]
    lines = [
        json.dumps({"Shipments": [{"OrderId": "O1", "Posted": "T1", "Items": [
            {"Id": "I1", "Fees": fee}, {"Id": "I2"}]}]}),
        json.dumps({"Refunds": [{"OrderId": "O2", "PostedAt": "T2", "Adjustments": [
            {"Id": "I3", "FeeAdjustments": [{"FeeType": "Commission", "Amount": 0.5}]}]}]}),
        json.dumps({"ServiceFees": [{"OrderId": "O9"}]}),  # another list: not this table's
        json.dumps({"Shipments": [{"OrderId": "O3", "Items": []}]}),  # no items: no rows
        "{not json",
        json.dumps({"Shipments": [{"OrderId": "O4", "Items": [
            {"Id": "I9", "Fees": {"FeeType": "x"}}]}]}),  # an object where a list is read
    ]  # fmt: skip
    text = "\n".join(lines) + "\n"
    document = landed(lake, key, gzip.compress(text.encode()), "jsonl")
    rows = [r.asDict() for r in _read_jsonl(spark, lake, EVENTS, [document]).collect()]
    good = {r["item"]: r for r in rows if r["_malformed"] is None}
    assert good == {
        "I1": {"raw_key": key, "_row": 1, "kind": "Shipments", "order": "O1", "posted": "T1",
               "item": "I1", "fee": "-2.5", "_malformed": None, "_refused": None},
        "I2": {"raw_key": key, "_row": 1, "kind": "Shipments", "order": "O1", "posted": "T1",
               "item": "I2", "fee": None, "_malformed": None, "_refused": None},
        "I3": {"raw_key": key, "_row": 2, "kind": "Refunds", "order": "O2", "posted": "T2",
               "item": "I3", "fee": "0.5", "_malformed": None, "_refused": None},
    }  # fmt: skip
    bad = sorted((r["_row"], r["_malformed"]) for r in rows if r["_malformed"] is not None)
    assert bad == [
        (5, "line 5 is not one JSON value of the shape the contract reads"),
        (6, "line 6, item 1 of its rows, is not of the shape the contract reads"),
    ]


def test_parent_and_rows_columns_need_json_lines_with_rows(spark, tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    key = "raw/source=spapi/dataset=x/x.jsonl"
    document = landed(lake, key, b'{"Id": "1"}\n', "jsonl")
    for source in (ROWS_SOURCE, "^OrderId"):
        columns = (Column("item", "string", "Id"), Column("other", "string", source))
        loose = Table("loose", "test", ("item",), (), columns)
        with pytest.raises(SourceError, match=r"other read @rows or a row's parent"):
            _read_jsonl(spark, lake, loose, [document])
        as_report = Table("report", "test", ("item",), (), loose.columns, rows="Items")
        with pytest.raises(SourceError, match=r"other read @rows or a row's parent"):
            _read_json(spark, lake, as_report, [document])


@pytest.mark.parametrize(
    ("rows", "source", "message"),
    [
        ("Items[0]", "Id", r"must end at the array itself"),
        ("Items[*]", "Id", r"must end at the array itself"),
        ("Items", "^Posted | Id", r"reads both the row and its parent"),
    ],
)
def test_rows_paths_and_parent_reads_are_checked(rows, source, message):
    bad = Table("bad", "test", ("a",), (), (Column("a", "string", source),), rows=rows)
    with pytest.raises(SourceError, match=message):
        line_schema(bad)
