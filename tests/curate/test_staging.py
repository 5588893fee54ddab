"""Staging's pure DataFrame functions against the table contracts, on small frames."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from decimal import Decimal

import pytest

from spapi_toolkit.lake.curate import staging
from spapi_toolkit.lake.tables import LINEAGE, table

ORDERS = table("order_items")
US, JP = "ATVPDKIKX0DER", "A1VC38T7YXB528"


def _order(**values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {c.name: None for c in ORDERS.columns if c.source is not None}
    row.update(
        marketplace_id=US, amazon_order_id="111-0000000-0000001", order_item_id="1",
        purchase_ts="2026-11-02T16:30:00+00:00", last_updated_ts="2026-11-03T10:00:00+00:00",
        order_status="Shipped", sku="SKU-1", asin="B000000001", quantity="2", currency="USD",
        item_price="19.98", ship_postal_code="98101", cpf="123", is_business_order="false",
    )  # fmt: skip
    row.update(values)
    return row


def _frame(spark, rows: list[dict]):
    names = list(rows[0])
    lineage = {"seller_id": "S1", "raw_key": "raw/k1", "report_id": "R1", "document_id": "D1",
               "ingested_at": "2026-11-28T06:00:00Z"}  # fmt: skip
    data = [{**lineage, **row} for row in rows]
    schema = ", ".join(f"{n} string" for n in [*lineage, *names])
    return spark.createDataFrame([tuple(r[n] for n in [*lineage, *names]) for r in data], schema)


def test_values_are_typed_by_the_contract(spark):
    [row] = staging.typed(_frame(spark, [_order()]), ORDERS).collect()
    assert row[staging.REASON] is None
    assert row.quantity == 2 and row.item_price == Decimal("19.98")
    assert row.purchase_ts == datetime(2026, 11, 2, 16, 30)  # UTC, the session's zone
    assert row.is_business_order is False
    assert row.purchase_date == date(2026, 11, 2)  # 08:30 in Los Angeles


def test_the_local_date_follows_the_marketplace(spark):
    [row] = staging.typed(_frame(spark, [_order(marketplace_id=JP)]), ORDERS).collect()
    assert row.purchase_date == date(2026, 11, 3)  # 01:30 the next day in Tokyo


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"item_price": "12,30"}, "item_price: 12,30 is not a decimal"),
        ({"quantity": "two"}, "quantity: two is not a int"),
        ({"purchase_ts": "2026-11-02 16:30:00"}, "purchase_ts: 2026-11-02 16:30:00 is not a"),
        ({"is_business_order": "yes"}, "is_business_order: yes is not a bool"),
        ({"amazon_order_id": ""}, "amazon_order_id is missing"),
        ({"sku": None, "quantity": "x"}, "sku is missing; quantity: x is not a int"),
    ],
)
def test_rows_that_break_a_rule_get_a_reason(spark, values, reason):
    [row] = staging.typed(_frame(spark, [_order(**values)]), ORDERS).collect()
    why = row[staging.REASON]
    assert why is not None and reason in why, why


def test_a_column_of_the_data_named_reason_keeps_its_value(spark):
    """The returns report has a ``reason`` column (the customer's): staging's own column for a
    quarantine reason once overwrote it with null, silently."""
    returns = table("returns")
    row = {c.name: None for c in returns.columns if c.source is not None}
    row.update(marketplace_id=US, return_ts="2026-11-02T16:30:00+00:00", order_id="111-1",
               sku="SKU-1", asin="B000000001", quantity="1", detailed_disposition="SELLABLE",
               reason="DEFECTIVE")  # fmt: skip
    [typed] = staging.typed(_frame(spark, [row]), returns).collect()
    assert typed.reason == "DEFECTIVE" and typed[staging.REASON] is None
    bad = {**row, "quantity": "none"}
    [quarantined] = staging.quarantine_rows(
        staging.split(staging.typed(_frame(spark, [bad]), returns))[1], returns, None
    ).collect()
    assert quarantined.reason == "quantity: none is not a int"
    assert quarantined.row["reason"] == "DEFECTIVE"


def test_personal_data_is_dropped_hashed_or_kept_as_the_contract_says(spark):
    typed = staging.typed(_frame(spark, [_order()]), ORDERS)
    [row] = staging.protect(typed, ORDERS, b"the-key").collect()
    assert "cpf" not in row.asDict()
    expected = hmac.new(b"the-key", b"98101", hashlib.sha256).hexdigest()
    assert row.ship_postal_code == expected
    assert list(row.asDict())[-len(LINEAGE) :] == list(LINEAGE)


def test_hmac_matches_the_standard_library_for_long_keys_and_unicode(spark):
    key = b"k" * 100  # longer than a block: hashed first, as RFC 2104 says
    frame = spark.createDataFrame([("東京都",), (None,)], "v string")
    got = [r.h for r in frame.select(staging.hmac_sha256(frame.v, key).alias("h")).collect()]
    assert got == [hmac.new(key, "東京都".encode(), hashlib.sha256).hexdigest(), None]


def test_hashing_without_a_key_names_the_setting(spark):
    typed = staging.typed(_frame(spark, [_order()]), ORDERS)
    with pytest.raises(staging.StagingError, match="SPAPI_PII_HASH_KEY"):
        staging.protect(typed, ORDERS, None)


def test_the_newest_version_of_an_order_item_wins(spark):
    rows = [
        _order(last_updated_ts="2026-11-03T10:00:00+00:00", order_status="Pending"),
        _order(last_updated_ts="2026-11-05T10:00:00+00:00", order_status="Shipped"),
        _order(last_updated_ts="2026-11-04T10:00:00+00:00", order_status="Unshipped"),
        _order(order_item_id="2"),
    ]
    clean, bad = staging.stage(_frame(spark, rows), ORDERS, b"k")
    got = {(r.order_item_id, r.order_status) for r in clean.collect()}
    assert got == {("1", "Shipped"), ("2", "Shipped")} and bad.count() == 0


def test_json_reports_sources_become_an_explicit_schema():
    from spapi_toolkit.lake.curate.sources import document_schema, row_schema

    contract = table("sales_traffic_by_asin")
    assert document_schema(contract) == "`salesAndTrafficByAsin` array<string>"
    assert "`orderedProductSales`: struct<`currencyCode`: string, `amount`: string>" in row_schema(
        contract
    )


def test_rows_tying_on_every_ordering_column_have_one_winner_whatever_their_order(spark):
    """Same seller, key, last update, pull and raw key: the order they are read in must not
    choose the published row (the content decides, so reruns publish the same one)."""
    tied = [
        _order(order_status="Shipped", item_price="19.98"),
        _order(order_status="Shipped", item_price=None),  # a row cut short, say
        _order(order_status="Pending", item_price="19.98"),
    ]
    winners = set()
    for rows in (tied, tied[::-1], [tied[1], tied[0], tied[2]]):
        frame = _frame(spark, rows).coalesce(1)
        clean, _ = staging.stage(frame, ORDERS, b"k")
        ((winner,),) = [(tuple(r.asDict().items()),) for r in clean.collect()]
        winners.add(winner)
    assert len(winners) == 1, winners
