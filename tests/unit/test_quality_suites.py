"""The expectation suites generated from the contracts: checked in up to date, valid GX 1.x
suites, and the contracts' check fields (allowed, min, max, signed, in_window, totals) loaded
and refused when wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spapi_toolkit.lake import marts as mart_contracts
from spapi_toolkit.lake.marts import marts
from spapi_toolkit.lake.quality import suites
from spapi_toolkit.lake.registry import RegistryError
from spapi_toolkit.lake.tables import _load, bounds, table, tables

EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


def test_the_checked_in_suites_are_what_the_contracts_generate():
    # A contract changed without `spapi quality --write-suites expectations`? This says which.
    wanted = {f"{s.zone}/{s.table}.json": suites.suite_json(s) for s in suites.specs()}
    present = {
        str(p.relative_to(EXPECTATIONS)): p.read_text("utf-8")
        for zone in suites.ZONES
        for p in (EXPECTATIONS / zone).glob("*.json")
    }
    assert sorted(present) == sorted(wanted), (
        "regenerate: spapi quality --write-suites expectations"
    )
    stale = [name for name in wanted if present[name] != wanted[name]]
    assert not stale, f"regenerate (spapi quality --write-suites expectations): {stale}"


def test_there_is_a_suite_per_contracted_table_and_per_mart_whatever_they_are():
    names = {(s.zone, s.table) for s in suites.specs()}
    assert names == {("cleaned", t.name) for t in tables().values() if t.has_contract} | {
        ("aggregated", m) for m in marts()
    }
    assert suites.specs(["orders_daily"])[0].zone == "aggregated"
    with pytest.raises(ValueError, match="no suite for"):
        suites.specs(["no_such_table"])


def test_a_suite_checks_keys_types_values_ranges_and_the_business_rules():
    spec = suites.table_spec(table("order_items"))
    by_rule: dict[str, list[suites.Check]] = {}
    for check in spec.checks:
        by_rule.setdefault(check.rule, []).append(check)
    [unique] = by_rule["unique_key"]
    assert unique.kwargs["column_list"] == ["seller_id", "amazon_order_id", "order_item_id"]
    not_null = {c.kwargs["column"] for c in by_rule["not_null"]}
    assert {"seller_id", "amazon_order_id", "order_item_id", "purchase_ts", "sku"} <= not_null
    assert "cpf" not in by_rule["columns"][0].kwargs["column_set"]  # dropped: never published
    ranges = {c.kwargs["column"]: c.kwargs for c in by_rule["range"]}
    assert ranges["item_price"] == {"column": "item_price", "min_value": 0}
    allowed = {c.kwargs["column"]: c.kwargs["value_set"] for c in by_rule["allowed"]}
    assert allowed["fulfillment_channel"] == ["Amazon", "Merchant"]
    types = {c.kwargs["column"]: c.kwargs["type_"] for c in by_rule["type"]}
    assert types["item_price"] == "DecimalType" and types["quantity"] == "LongType"

    traffic = suites.table_spec(table("sales_traffic_by_asin"))
    fractions = {c.kwargs["column"]: c.kwargs for c in traffic.checks if c.rule == "range"}
    assert fractions["buy_box_share"] == {"column": "buy_box_share", "min_value": 0,
                                          "max_value": 1}  # fmt: skip
    assert fractions["unit_session_rate"] == {"column": "unit_session_rate", "min_value": 0}

    daily = suites.table_spec(table("sales_traffic_daily"))
    assert daily.needs_windows() and not traffic.needs_windows()
    orders_daily = suites.mart_spec(marts()["orders_daily"])
    assert "units" in orders_daily.totals() and "item_revenue" in orders_daily.totals()


def test_the_suites_are_gx_suites_and_the_json_round_trips():
    from great_expectations.core import ExpectationSuite

    spec = suites.mart_spec(marts()["sales_daily"])
    built = suites.build(spec)
    assert built.name == "aggregated.sales_daily" and len(built.expectations) == len(spec.checks)
    again = ExpectationSuite(**json.loads(suites.suite_json(spec)))
    assert again.to_json_dict()["expectations"] == built.to_json_dict()["expectations"]
    assert {e.description for e in built.expectations} == {c.description for c in spec.checks}


def test_bounds_come_from_the_type_unless_the_contract_says_otherwise():
    assert bounds("decimal", None, None, False) == (0, None)
    assert bounds("decimal", None, None, True) == (None, None)  # signed: refunds
    assert bounds("fraction", None, None, False) == (0, 1)
    assert bounds("fraction", None, float("inf"), False) == (0, None)
    assert bounds("int", 1, 3, False) == (1, 3)
    assert bounds("double", None, None, False) == (None, None)


def _table(spec: str) -> str:
    return f'[tables.t]\ndescription = "t"\nkey = ["a"]\npartition_by = []\n{spec}\n'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('columns = { a = { from = "a", type = "int", allowed = ["1"] } }', "allowed is for"),
        ('columns = { a = { from = "a", type = "string", allowed = [] } }', "non-empty list"),
        ('columns = { a = { from = "a", type = "string", min = 1 } }', "min and max are for"),
        ('columns = { a = { from = "a", type = "int", min = "1" } }', "min must be a number"),
        ('columns = { a = { from = "a", type = "int", min = 3, max = 1 } }', "above max"),
        ('columns = { a = { from = "a", type = "int", signed = true } }', "signed is for"),
        (
            'columns = { a = { from = "a", type = "decimal", signed = true, min = 0 } }',
            "contradict",
        ),
        ('columns = { a = { from = "a", type = "string", in_window = true } }', "in_window"),
        (
            'columns = { a = { from = "@window_start", type = "date", in_window = true } }',
            "in_window",
        ),
    ],
)
def test_wrong_check_fields_are_refused_naming_table_and_column(spec, message):
    with pytest.raises(RegistryError, match=f"table 't' column 'a'.*{message}"):
        _load(_table(spec), feeders={})


def test_check_fields_load():
    spec = 'columns = { a = { from = "a", type = "decimal", signed = true } }'
    column = _load(_table(spec), feeders={})["t"].column("a")
    assert column.signed and column.bounds() == (None, None)


MART = """
[marts.m]
description = "d"
from_table = "sales_traffic_by_asin"
day_boundary = "the local day"
key = ["marketplace_id", "date"]
partition_by = ["marketplace_id", "date"]
totals = { units = "units_ordered" }
[marts.m.columns]
marketplace_id = { type = "string", doc = "Marketplace" }
date = { type = "date", doc = "Day" }
units = { type = "int", min = 0, doc = "Units" }
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"units_ordered"', '"nope"'), "has no column 'nope'"),
        (('"units_ordered"', '"child_asin"'), "is not numeric"),
        (("totals = { units", "totals = { date"), "'date' is not a numeric column"),
        (('min = 0, doc = "Units"', 'allowed = ["1"], doc = "Units"'), "allowed is for"),
        (('min = 0, doc = "Units"', 'in_window = true, doc = "Units"'), "unknown field"),
    ],
)
def test_a_marts_totals_and_checks_are_refused_when_wrong(change, message):
    assert mart_contracts._load(MART)["m"].totals == (("units", "units_ordered"),)
    with pytest.raises(RegistryError, match=message):
        mart_contracts._load(MART.replace(*change))
