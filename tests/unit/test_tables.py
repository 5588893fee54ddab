"""The cleaned tables' contracts (data/tables.toml): loaded, checked, and the one source the
landing checks, curation and catalog read."""

from __future__ import annotations

import pytest

from spapi_toolkit.lake.registry import RegistryError, registry
from spapi_toolkit.lake.tables import _load, table, table_of, tables


def test_every_dataset_feeds_a_declared_table_and_both_orders_reports_share_one():
    assert {d.cleaned_table for d in registry().values()} <= set(tables())
    orders = table("order_items")
    assert orders.datasets == ("orders_by_order_date", "orders_by_last_update")
    assert table_of("orders_by_last_update") is orders
    assert orders.raw_key_columns() == ("amazon-order-id", "order-item-id")


def test_personal_data_has_an_action_and_dropped_columns_are_not_published():
    orders = table("order_items")
    actions = {c.name: c.pii for c in orders.columns if c.pii}
    assert actions == {
        "ship_city": "restrict",
        "ship_postal_code": "hash",
        "cpf": "drop",
        "purchase_order_number": "restrict",
    }
    assert "cpf" not in {c.name for c in orders.published}
    assert orders.column("purchase_date").local_date_of == "purchase_ts"


def test_contracts_document_every_column():
    for contract in tables().values():
        for column in contract.columns:
            assert column.doc, f"{contract.name}.{column.name} has no doc"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('columns = { a = { from = "a", type = "text" } }', "type 'text' is not one of"),
        ('columns = { a = { from = "a", type = "int", pii = "mask" } }', "pii 'mask'"),
        ('columns = { a = { type = "int" } }', "exactly one of from and local_date_of"),
        ('columns = { a = { from = "@today", type = "date" } }', "'@today' is not one of"),
        ('columns = { A = { from = "a", type = "int" } }', "not snake_case"),
        ('columns = { b = { from = "b", type = "int" } }', "key names undeclared columns"),
        (
            'columns = { a = { from = "a", type = "int" }, d = { local_date_of = "a", '
            'type = "date" } }',
            "local_date_of must name a timestamp column",
        ),
        ('columns = { a = { from = "a", type = "int", pii = "drop" } }', "cannot be dropped"),
        ('columns = { a = { from = "a", type = "int", colour = "red" } }', "unknown field"),
        (
            'columns = { a = { from = "a", type = "int" }, w = { from = "@watched_from", '
            'type = "string" } }',
            r"\['w'\] are found by each row's asin: the table needs an asin column",
        ),
    ],
)
def test_contract_mistakes_fail_loudly_naming_table_and_column(spec, message):
    text = f'[tables.t]\ndescription = "t"\nkey = ["a"]\npartition_by = []\n{spec}\n'
    with pytest.raises(RegistryError, match=message):
        _load(text, feeders={})


def test_a_dataset_feeding_an_undeclared_table_fails():
    with pytest.raises(RegistryError, match=r"tables\.toml does not declare"):
        _load('[tables.order_items]\ndescription = "x"\nkey = []\npartition_by = []\n')
