"""Reading JSON-lines documents: the read schema built from the contract's paths, and array
steps that take an element by position or by a field's value."""

from __future__ import annotations

import gzip
import json

import pytest

from spapi_toolkit.lake.curate.sources import (
    RawDocument,
    SourceError,
    _read_jsonl,
    jsonl_schema,
)
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import Column, Table

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
    schema = jsonl_schema(OFFERS)
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
        jsonl_schema(clash)


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
    lake.write_bytes(key, gzip.compress(text.encode()))
    document = RawDocument(key, "item_offers", "jsonl", "S", "M", "2026-11-28", "utf-8", "0",
                           None, None, "2026-11-28T06:00:00+00:00")  # fmt: skip
    rows = {r.asin: r.asDict() for r in _read_jsonl(spark, lake, OFFERS, [document]).collect()}
    assert rows["B1"] == {
        "raw_key": key, "asin": "B1", "count": "2", "first_rank": "7", "our_price": "10.25",
        "our_fba": "false", "parent": "P1", "missing": None,
    }  # fmt: skip
    assert rows["B2"] == {
        "raw_key": key, "asin": "B2", "count": None, "first_rank": None, "our_price": None,
        "our_fba": None, "parent": None, "missing": None,
    }  # fmt: skip
