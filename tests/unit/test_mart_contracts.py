"""The marts' contracts (the [marts.*] sections of tables.toml): loaded, checked, documented."""

from __future__ import annotations

import pytest

from spapi_toolkit.lake import marts as contracts
from spapi_toolkit.lake.registry import RegistryError
from spapi_toolkit.lake.tables import tables

GOOD = """
[marts.m]
description = "d"
from_table = "sales_traffic_by_asin"
day_boundary = "the local day"
key = ["marketplace_id", "date"]
partition_by = ["marketplace_id", "date"]
[marts.m.columns]
marketplace_id = { type = "string", doc = "Marketplace" }
date = { type = "date", doc = "Day" }
"""


def test_every_mart_is_built_from_a_contracted_table_and_every_column_is_documented():
    loaded = contracts.marts()
    assert {"sales_daily", "orders_daily"} <= set(loaded)
    for mart in loaded.values():
        assert mart.source.has_contract and mart.day_boundary
        assert all(c.doc for c in mart.columns)
        assert mart.partition_by == ("marketplace_id", "date")
    assert contracts.mart("orders_daily").source_partition() == {
        "marketplace_id": "marketplace_id",
        "purchase_date": "date",
    }


def test_the_marts_section_does_not_become_cleaned_tables():
    assert not set(contracts.marts()) & set(tables())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('doc = "Day"', 'doc = ""'), "needs a doc"),
        (('"sales_traffic_by_asin"', '"no_such_table"'), "not a cleaned table with a contract"),
        (('key = ["marketplace_id", "date"]', 'key = ["asin"]'), "undeclared columns"),
        (('type = "date"', 'type = "day"'), "is not one of"),
        (
            ('partition_by = ["marketplace_id", "date"]', 'partition_by = ["marketplace_id"]'),
            "one to one",
        ),
        (('day_boundary = "the local day"', 'day_boundary = " "'), "day_boundary"),
        (("key = [", 'period = "year"\nkey = ['), "period 'year' is not one of"),
        (("key = [", "reads = { no_such_table = 3 }\nkey = ["), "reads 'no_such_table': not a"),
        (("key = [", "reads = { order_items = -1 }\nkey = ["), "whole number >= 0"),
        (("key = [", 'or_from = ["no_such_table"]\nkey = ['), "or_from 'no_such_table' is not"),
        (("key = [", 'or_from = ["fx_rates"]\nkey = ['), "not map one to one onto fx_rates"),
    ],
)
def test_a_broken_contract_is_refused_saying_why(change, message):
    assert contracts._load(GOOD)["m"].name == "m"
    with pytest.raises(RegistryError, match=message):
        contracts._load(GOOD.replace(*change))


def test_an_unknown_mart_names_the_known_ones():
    with pytest.raises(RegistryError, match="sales_daily"):
        contracts.mart("nope")


def test_a_mart_reads_its_from_table_first_and_each_read_table_once():
    text = GOOD.replace("key = [", 'period = "week"\nreads = { order_items = 90, '
                        'sales_traffic_by_asin = 7 }\nkey = [')  # fmt: skip
    loaded = contracts._load(text)["m"]
    assert loaded.period == "week"
    assert loaded.reads == (("order_items", 90), ("sales_traffic_by_asin", 7))
    assert loaded.inputs == ("sales_traffic_by_asin", "order_items")


def test_a_mart_made_from_one_table_or_another_reads_both_first():
    loaded = contracts._load(GOOD.replace("key = [", 'or_from = ["kiosk_sales_traffic"]\n'
                                          "reads = { kiosk_sales_traffic = 0, order_items = 3 }"
                                          "\nkey = ["))["m"]  # fmt: skip
    assert loaded.sources == ("sales_traffic_by_asin", "kiosk_sales_traffic")
    assert loaded.inputs == ("sales_traffic_by_asin", "kiosk_sales_traffic", "order_items")
    assert loaded.source_partition("kiosk_sales_traffic") == {
        "marketplace_id": "marketplace_id", "start_date": "date"}  # fmt: skip
