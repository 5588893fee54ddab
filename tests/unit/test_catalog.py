"""The catalog: contracts as Glue tables (against a real moto server) and as local DuckDB views.

The cleaned table is written here with pyarrow, the way curation's Spark writes it (hive folders
without the partition columns, timestamps as INT96, decimal(18,2), a map for ``extra``), so the
tests need neither Java nor Spark.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import boto3
import pytest

from spapi_toolkit.lake.catalog import (
    CatalogError,
    duckdb_views,
    glue_columns,
    glue_comments,
    partitions,
    register,
    table_columns,
)
from spapi_toolkit.lake.marts import mart, marts
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import LINEAGE, Table, table, tables

from ..lakefiles import write_rows

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
DAY1, DAY2 = "2026-11-03", "2026-11-04"


def _value(name: str, kind: str, i: int):
    special = {
        "quantity": i + 1,
        "item_price": Decimal("12.34") * (i + 1),
        "purchase_ts": datetime(2026, 11, 3, 10, i),
        "extra": [("new-column", f"v{i}")],
    }
    if name in special:
        return special[name]
    return {
        "string": f"{name}-{i}",
        "bigint": i,
        "decimal(18,2)": Decimal("1.00"),
        "double": 0.5,
        "timestamp": datetime(2026, 11, 4, 0, 0, i),
        "date": date(2026, 11, 3),
        "boolean": i % 2 == 0,
        "map<string,string>": [],
    }[kind]


def write_cleaned(lake: Lake, name: str, rows: dict[tuple[str, str], int]) -> None:
    """A cleaned table as curation writes it: ``rows`` rows in each (marketplace, day)."""
    write_table(lake, table(name), rows)


def write_table(lake: Lake, contract, rows: dict[tuple[str, str], int]) -> None:
    """A cleaned table or a mart as curation writes it: ``rows`` rows per (marketplace, day)."""
    columns, _ = glue_columns(contract)
    for (marketplace, day), count in rows.items():
        where = {"marketplace_id": marketplace, contract.partition_by[1]: day}
        made = [{**{c: _value(c, kind, i) for c, kind in columns.items()}, **where}
                for i in range(count)]  # fmt: skip
        write_rows(lake, contract, made)


# ---- the columns, from the contract ------------------------------------------------------


def test_glue_columns_are_the_published_contract_in_curations_order():
    contract = table("order_items")
    columns, partition_types = glue_columns(contract)
    assert partition_types == {"marketplace_id": "string", "purchase_date": "date"}
    names = list(columns)
    # staging.protect's order: seller, published contract columns, lineage, extra
    published = [c.name for c in contract.published if c.name not in partition_types]
    assert names == ["seller_id", *published, *LINEAGE, "extra"]
    assert "cpf" not in names and "cpf" not in glue_comments(contract)  # pii = "drop"
    assert columns["quantity"] == "bigint"
    assert columns["item_price"] == "decimal(18,2)"
    assert columns["purchase_ts"] == columns["ingested_at"] == "timestamp"
    assert columns["is_business_order"] == "boolean"
    assert columns["extra"] == "map<string,string>"
    comments = glue_comments(contract)
    assert comments["ship_city"].startswith("Ship-to city")
    assert "restricted: personal data" in comments["ship_city"]
    assert "HMAC-SHA256" in comments["ship_postal_code"]
    assert comments["purchase_date"] == "The marketplace-local calendar day of purchase"
    assert "[" not in comments["sku"]  # only personal data gets a note


def test_json_tables_have_no_extra_and_fractions_are_doubles():
    columns, partition_types = glue_columns(table("sales_traffic_daily"))
    assert "extra" not in columns
    assert partition_types == {"marketplace_id": "string", "date": "date"}
    assert columns["buy_box_share"] == "double"
    assert columns["ordered_product_sales"] == "decimal(18,2)"


def test_every_contract_maps_to_glue_within_its_limits():
    contracted = [t for t in tables().values() if t.has_contract]
    assert contracted
    for contract in contracted:
        rows = table_columns(contract)  # raises on a comment longer than Glue allows
        assert len({name for name, _, _ in rows}) == len(rows), contract.name
        dropped = {c.name for c in contract.columns if c.pii == "drop"}
        assert not dropped & {name for name, _, _ in rows}, contract.name
    for each in marts().values():
        rows = table_columns(each)  # the marts' docs too
        assert [name for name, _, _ in rows] == [c.name for c in each.columns], each.name


def test_a_table_without_a_contract_or_an_unknown_table_is_refused_by_name(tmp_path):
    bare = Table("bare", "declared, no columns yet", ("id",), ("marketplace_id",))
    with pytest.raises(CatalogError, match=bare.name):
        glue_columns(bare)
    with pytest.raises(CatalogError, match="no_such_table"):
        register("s3://bucket/lake", "db", ["no_such_table"])


# ---- partitions found in the lake ----------------------------------------------------------


def test_partitions_are_read_from_hive_keys_and_committer_files_ignored(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_cleaned(lake, "order_items", {(US, DAY1): 1, (DE, DAY2): 2})
    lake.write_bytes("cleaned/order_items/_SUCCESS", b"")
    lake.write_bytes(f"cleaned/order_items/marketplace_id={US}/_temporary/0/x.parquet", b"")
    lake.write_bytes("cleaned/order_items_extra/marketplace_id=X/purchase_date=Y/a.parquet", b"")
    found = partitions(lake, table("order_items"))
    assert list(found) == [(DE, DAY2), (US, DAY1)]
    assert (
        found[(US, DAY1)]
        == lake.location(f"cleaned/order_items/marketplace_id={US}/purchase_date={DAY1}") + "/"
    )


def test_a_parquet_file_outside_a_partition_is_an_error_naming_it(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    lake.write_bytes(f"cleaned/order_items/purchase_date={DAY1}/marketplace_id={US}/a.parquet", b"")
    with pytest.raises(
        CatalogError, match=r"purchase_date=2026-11-03/marketplace_id=.*/a\.parquet"
    ):
        partitions(lake, table("order_items"))


# ---- Glue, against the moto server -----------------------------------------------------------


def test_a_local_lake_cannot_be_registered(tmp_path):
    with pytest.raises(CatalogError, match=r"only an S3 lake .* local folder"):
        register(str(tmp_path / "lake"), "spapi_cleaned")


def _s3_lake() -> Lake:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return Lake.from_uri(f"s3://{bucket}/prod")


def _catalog(database: str, name: str) -> tuple[dict, list[tuple[list[str], str]]]:
    """The table as Glue has it (without timestamps that change on update) and its partitions
    as (values, location), sorted."""
    glue = boto3.client("glue")
    found = glue.get_table(DatabaseName=database, Name=name)["Table"]
    kept = {
        k: found[k] for k in ("Name", "Description", "PartitionKeys", "Parameters", "TableType")
    }
    kept["StorageDescriptor"] = {
        k: found["StorageDescriptor"][k] for k in ("Columns", "Location", "InputFormat")
    }
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
    parts = sorted(
        (p["Values"], p["StorageDescriptor"]["Location"])
        for page in pages
        for p in page["Partitions"]
    )
    return kept, parts


@pytest.mark.aws
def test_register_puts_the_contract_and_the_partitions_in_glue_idempotently(aws_env):
    lake = _s3_lake()
    write_cleaned(lake, "order_items", {(US, DAY1): 2, (DE, DAY2): 1})
    lake.write_bytes("cleaned/order_items/_SUCCESS", b"")
    database = f"spapi_{uuid.uuid4().hex[:8]}"

    first = register(lake, database, ["order_items"])

    assert [(r.table, r.partitions, r.added, r.removed, r.redefined) for r in first] == [
        ("order_items", 2, 2, 0, True)
    ]
    location = lake.location("cleaned/order_items") + "/"
    assert first[0].location == location
    described, parts = _catalog(database, "order_items")
    assert described["Description"] == table("order_items").description
    assert described["StorageDescriptor"]["Location"] == location
    assert "Parquet" in described["StorageDescriptor"]["InputFormat"]
    columns = {c["Name"]: c for c in described["StorageDescriptor"]["Columns"]}
    expected_columns, expected_partitions = glue_columns(table("order_items"))
    assert {n: c["Type"] for n, c in columns.items()} == expected_columns
    assert list(columns) == list(expected_columns)  # the order too
    assert "cpf" not in columns
    assert "restricted: personal data" in columns["ship_city"]["Comment"]
    assert columns["quantity"]["Comment"] == "Units ordered"
    keys = described["PartitionKeys"]
    assert [(k["Name"], k["Type"]) for k in keys] == list(expected_partitions.items())
    assert keys[1]["Comment"] == "The marketplace-local calendar day of purchase"
    assert parts == [
        ([DE, DAY2], f"{location}marketplace_id={DE}/purchase_date={DAY2}/"),
        ([US, DAY1], f"{location}marketplace_id={US}/purchase_date={DAY1}/"),
    ]
    # the table is readable back by awswrangler's own view of it
    import awswrangler as wr

    assert wr.catalog.get_table_types(database, "order_items")["purchase_date"] == "date"

    again = register(lake, database, ["order_items"])

    assert [(r.partitions, r.added, r.removed, r.redefined) for r in again] == [(2, 0, 0, False)]
    assert _catalog(database, "order_items") == (described, parts)


@pytest.mark.aws
def test_register_puts_the_marts_in_their_own_database_with_their_docs(aws_env):
    lake = _s3_lake()
    sales = mart("sales_daily")
    write_table(lake, sales, {(US, DAY1): 2, (DE, DAY2): 1})
    database = f"spapi_marts_{uuid.uuid4().hex[:8]}"

    done = register(lake, database, zone="aggregated")

    assert {r.table: r.partitions for r in done} == {
        m.name: 2 if m.name == "sales_daily" else 0 for m in marts().values()
    }
    described, parts = _catalog(database, "sales_daily")
    assert (
        described["StorageDescriptor"]["Location"] == lake.location("aggregated/sales_daily") + "/"
    )
    columns = {c["Name"]: c for c in described["StorageDescriptor"]["Columns"]}
    assert columns["unit_session_rate"]["Comment"] == sales.column("unit_session_rate").doc
    assert columns["ordered_product_sales"]["Type"] == "decimal(18,2)"
    assert [k["Name"] for k in described["PartitionKeys"]] == ["marketplace_id", "date"]
    assert [values for values, _ in parts] == [[DE, DAY2], [US, DAY1]]
    with pytest.raises(CatalogError, match="unknown aggregated table"):
        register(lake, database, ["order_items"], zone="aggregated")
    with pytest.raises(CatalogError, match="unknown zone"):
        register(lake, database, zone="raw")


@pytest.mark.aws
def test_register_follows_the_lake_and_the_contract(aws_env, monkeypatch):
    lake = _s3_lake()
    write_cleaned(lake, "order_items", {(US, DAY1): 1, (DE, DAY2): 1})
    database = f"spapi_{uuid.uuid4().hex[:8]}"
    register(lake, database, ["order_items"])
    # a new day lands, a partition goes (a full refresh without it)
    write_cleaned(lake, "order_items", {(US, DAY2): 1})
    lake.delete_folder(f"cleaned/order_items/marketplace_id={DE}")

    [result] = register(lake, database, ["order_items"])

    assert (result.partitions, result.added, result.removed) == (2, 1, 1)
    _, parts = _catalog(database, "order_items")
    assert [values for values, _ in parts] == [[US, DAY1], [US, DAY2]]

    # a contract change (a doc edited) rewrites the definition and keeps the partitions
    contract = table("order_items")
    edited = replace(contract.column("amazon_order_id"), doc="Order id")
    changed = replace(
        contract,
        columns=tuple(edited if c.name == edited.name else c for c in contract.columns),
    )
    monkeypatch.setattr("spapi_toolkit.lake.catalog.tables", lambda: {"order_items": changed})

    [result] = register(lake, database, ["order_items"])

    assert (result.redefined, result.partitions, result.added, result.removed) == (True, 2, 2, 0)
    described, parts = _catalog(database, "order_items")
    columns = {c["Name"]: c for c in described["StorageDescriptor"]["Columns"]}
    assert columns["amazon_order_id"]["Comment"] == "Order id"
    assert len(parts) == 2


@pytest.mark.aws
def test_every_contracted_table_is_registered_by_default_and_empty_ones_have_no_partitions(
    aws_env,
):
    lake = _s3_lake()
    write_cleaned(lake, "listings", {(US, DAY1): 3})
    database = f"spapi_{uuid.uuid4().hex[:8]}"

    results = {r.table: r for r in register(lake, database)}

    assert set(results) == {t.name for t in tables().values() if t.has_contract}
    assert results["listings"].partitions == 1
    assert results["order_items"].partitions == 0
    glue = boto3.client("glue")
    names = {t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]}
    assert names == set(results)


@pytest.mark.aws
def test_cli_registers_and_prints_the_partition_counts(aws_env):
    from typer.testing import CliRunner

    from spapi_toolkit.cli import app

    lake = _s3_lake()
    write_cleaned(lake, "order_items", {(US, DAY1): 1, (US, DAY2): 1, (DE, DAY2): 1})
    database = f"spapi_{uuid.uuid4().hex[:8]}"
    args = ["catalog", "register", "--lake", lake.uri, "--database", database]

    out = CliRunner().invoke(app, [*args, "--tables", "order_items"])

    assert out.exit_code == 0, out.output
    row = next(line for line in out.output.splitlines() if "order_items" in line)
    cells = [cell.strip() for cell in row.split("│")[1:6]]
    assert cells == ["order_items", "3", "3", "0", "written"]
    bad = CliRunner().invoke(app, [*args, "--tables", "nope"])
    assert bad.exit_code == 1 and "unknown cleaned table" in bad.output


# ---- DuckDB, locally -------------------------------------------------------------------------


def test_duckdb_views_read_the_same_files_with_the_contract_types(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "it's a lake"))  # a quote in the path, too
    write_cleaned(lake, "order_items", {(US, DAY1): 2, (DE, DAY2): 1})

    con = duckdb_views(lake)

    views = {
        r[0] for r in con.sql("select view_name from duckdb_views() where not internal").fetchall()
    }
    assert views == {t.name for t in tables().values() if t.has_contract} | set(marts())
    assert con.sql("select count(*) from listings").fetchall() == [(0,)]  # not written: empty
    described = con.sql("describe order_items").fetchall()
    types = {name: kind for name, kind, *_ in described}
    assert [name for name, *_ in described] == [
        n for n, _, _ in table_columns(table("order_items"))
    ]
    assert types["marketplace_id"] == "VARCHAR"
    assert types["purchase_date"] == "DATE"
    assert types["item_price"] == "DECIMAL(18,2)"
    assert types["quantity"] == "BIGINT"
    assert types["purchase_ts"] == "TIMESTAMP"
    assert types["extra"] == "MAP(VARCHAR, VARCHAR)"
    rows = con.sql(
        "select marketplace_id, purchase_date, count(*), sum(quantity), sum(item_price) "
        "from order_items group by all order by 1"
    ).fetchall()
    assert rows == [
        (DE, date(2026, 11, 4), 1, 1, Decimal("12.34")),
        (US, date(2026, 11, 3), 2, 3, Decimal("37.02")),
    ]
    extras = con.sql("select extra['new-column'] from order_items order by 1").fetchall()
    assert extras == [("v0",), ("v0",), ("v1",)]


def test_duckdb_views_give_each_zone_its_schema(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_cleaned(lake, "order_items", {(US, DAY1): 2})
    write_table(lake, mart("sales_daily"), {(US, DAY1): 3, (DE, DAY2): 1})

    con = duckdb_views(lake)

    views = set(con.sql("select schema_name, view_name from duckdb_views() where not internal")
                .fetchall())  # fmt: skip
    assert {("cleaned", "order_items"), ("aggregated", "sales_daily")} <= views
    assert ("aggregated", "orders_daily") in views  # no files yet: an empty view, as on Athena
    empty = con.sql("describe aggregated.orders_daily").fetchall()
    assert [name for name, *_ in empty] == [c.name for c in mart("orders_daily").columns]
    assert con.sql("select count(*) from aggregated.orders_daily").fetchall() == [(0,)]
    rows = con.sql("select marketplace_id, date, count(*) from aggregated.sales_daily group by all "
                   "order by 1").fetchall()  # fmt: skip
    assert rows == [(DE, date(2026, 11, 4), 1), (US, date(2026, 11, 3), 3)]
    assert con.sql("select count(*) from order_items").fetchall() == [(2,)]  # on the search path
    described = con.sql("describe aggregated.sales_daily").fetchall()
    assert [name for name, *_ in described] == [c.name for c in mart("sales_daily").columns]


def test_files_older_than_their_contract_read_its_new_columns_as_null(tmp_path):
    """A lake curated before the contract gained a column: its files lack it, and the view
    matches columns by name (reading it as null); files that hold the contract are read by the
    first file's schema (no per-file schema reads on every scan)."""
    import pyarrow.parquet as pq

    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_cleaned(lake, "order_items", {(US, DAY1): 2})
    write_table(lake, mart("sales_daily"), {(US, DAY1): 3})
    current = duckdb_views(lake)
    [(sql,)] = current.sql(
        "select sql from duckdb_views() where view_name = 'order_items'"
    ).fetchall()
    assert "union_by_name = false" in sql
    for path in (tmp_path / "lake" / "cleaned" / "order_items").rglob("*.parquet"):
        old = pq.read_table(path)
        pq.write_table(old.drop_columns(["item_tax"]), path)  # as written before item_tax
    con = duckdb_views(lake)
    assert con.sql("select count(*), count(item_tax) from order_items").fetchall() == [(2, 0)]
    assert con.sql("select count(*) from aggregated.sales_daily").fetchall() == [(3,)]


def test_duckdb_views_pin_partition_types_instead_of_guessing_them(tmp_path):
    # A marketplace id that looks like a number would be guessed BIGINT from the folder name.
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_cleaned(lake, "listings", {("12345", DAY1): 1})
    con = duckdb_views(lake)
    assert con.sql("select marketplace_id, snapshot_date from listings").fetchall() == [
        ("12345", date(2026, 11, 3))
    ]
    types = {name: kind for name, kind, *_ in con.sql("describe listings").fetchall()}
    assert types["marketplace_id"] == "VARCHAR"


def test_duckdb_views_refuse_an_s3_lake():
    with pytest.raises(CatalogError, match=r"local lake.*S3"):
        duckdb_views(Lake.from_uri("s3://bucket/lake", s3_client=object()))
