"""raw → cleaned end to end: reports ingested from the sandbox, curated on a local Spark, and
the cleaned tables set against the simulated seller's truth; reruns, new days, bad rows and a
crash mid-publish."""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.ingest.jobs import encodings_for
from spapi_toolkit.lake.checks import document_shape
from spapi_toolkit.lake.curate import jobs, publish, sources
from spapi_toolkit.lake.landing import land
from spapi_toolkit.lake.layout import raw_stem
from spapi_toolkit.lake.registry import dataset
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import Column, table

from ..reconcile import DE, JP, US, settled
from ..support import END_DATE
from .week import CLOCK, FIRST, KEY, LAST, SELLER, curate, ingest


def _table(spark, root: Path, name: str):
    return spark.read.parquet(str(root / "cleaned" / name))


def test_every_table_reconciles_and_nothing_was_refused(curated):
    _, _, results, _, _ = curated
    assert {"order_items", "sales_traffic_by_asin", "listings"} <= set(results)
    for result in results.values():
        assert result.reconciles, result
        assert result.quarantined == 0 and not result.refused, result
    orders = results["order_items"]
    assert orders.superseded > 0  # the same items in both orders reports: the newest kept


def test_sales_and_traffic_by_asin_equals_the_truth(spark, curated):
    root, _, _, truth, _ = curated
    rows = _table(spark, root, "sales_traffic_by_asin").collect()
    got = {(str(r.date), r.marketplace_id, r.child_asin): (r.units_ordered, r.ordered_product_sales)
           for r in rows if r.units_ordered}  # fmt: skip
    expected = {(str(t["date"]), t["marketplace_id"], t["asin"]):
                (t["units_ordered"], Decimal(str(t["ordered_product_sales"])))
                for t in truth if t["units_ordered"]}  # fmt: skip
    assert all(settled(date.fromisoformat(day), mp) for day, mp, _ in expected)
    assert len(expected) > 100 and got == expected
    currencies = {(r.marketplace_id, r.currency) for r in rows if r.currency}
    assert currencies == {(US, "USD"), (DE, "EUR"), (JP, "JPY")}
    assert all(0 <= r.buy_box_share <= 1 for r in rows if r.buy_box_share is not None)


def test_order_items_are_unique_and_equal_the_truth(spark, curated):
    root, _, _, truth, _ = curated
    items = _table(spark, root, "order_items")
    assert items.count() == items.select("amazon_order_id", "order_item_id").distinct().count()
    units: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in items.where(items.purchase_date.between(FIRST, LAST)).collect():
        units[(str(r.purchase_date), r.marketplace_id, r.asin)] += r.quantity
    expected = {(str(t["date"]), t["marketplace_id"], t["asin"]): t["units_ordered"]
                for t in truth if t["units_ordered"]}  # fmt: skip
    assert {k: v for k, v in units.items() if v} == expected  # cancelled items have none


def test_personal_data_is_protected_and_japanese_names_read_back(spark, curated):
    root, _, _, _, titles = curated
    items = _table(spark, root, "order_items")
    assert "cpf" not in items.columns
    postal = [r.ship_postal_code for r in items.select("ship_postal_code").limit(50).collect()]
    assert all(p is None or (len(p) == 64 and "-" not in p) for p in postal)
    japanese = {r.product_name for r in items.where(items.marketplace_id == JP).collect()}
    assert japanese and japanese <= set(titles.values())
    assert any(not name.isascii() for name in japanese)


def test_the_catalog_describes_what_curation_wrote(spark, curated):
    # Glue's columns and the DuckDB views come from the contracts; the files come from Spark.
    from spapi_toolkit.lake.catalog import duckdb_views, glue_columns, table_columns
    from spapi_toolkit.lake.tables import table

    root, lake, results, _, _ = curated
    con = duckdb_views(lake)
    written_tables = sorted(n for n in results if (root / "cleaned" / n).is_dir())
    assert "order_items" in written_tables
    for name in written_tables:
        columns, partitions = glue_columns(table(name))
        written = _table(spark, root, name)
        assert dict(written.dtypes) == {**columns, **partitions}, name
        described = con.execute(f"describe {name}").fetchall()
        assert [row[0] for row in described] == [c for c, _, _ in table_columns(table(name))]
        assert con.execute(f"select count(*) from {name}").fetchone()[0] == written.count()


def test_a_rerun_reads_nothing_and_changes_nothing(spark, curated):
    root, lake, _, _, _ = curated
    before = _files(root / "cleaned")
    again = curate(spark, lake)
    assert all(r.documents == 0 and r.partitions == 0 for r in again.values())
    assert _files(root / "cleaned") == before


def test_a_new_day_reads_only_its_documents_and_rewrites_only_its_partitions(spark, curated,
                                                                             tmp_path):  # fmt: skip
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    before = _files(root / "cleaned" / "sales_traffic_by_asin")
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        ingest(sandbox, lake, date(2026, 11, 17), date(2026, 11, 17))
    results = curate(spark, lake, names=["sales_traffic_by_asin"])
    assert results["sales_traffic_by_asin"].documents == 3  # one day x three marketplaces
    after = _files(root / "cleaned" / "sales_traffic_by_asin")
    assert {k: v for k, v in after.items() if "date=2026-11-17" not in k} == before
    assert any("date=2026-11-17" in k for k in after)


def _bad_orders(lake: Lake, marketplace_id: str) -> str:
    """Land an orders document whose second row has a quantity that is not a number, and a
    column Amazon might add one day."""
    spec = dataset("orders_by_order_date")
    header = [
        "amazon-order-id",
        "order-item-id",
        "purchase-date",
        "last-updated-date",
        "order-status",
        "sku",
        "asin",
        "quantity",
        "currency",
        "item-price",
        "ship-postal-code",
        "new-column",
    ]
    rows = [["999-0000000-0000001", "91", "2026-11-12T10:00:00+00:00",
             "2026-11-12T11:00:00+00:00", "Shipped", "SKU-X", "B0NEW00001", "1", "USD", "5.00",
             "10001", "hello"],
            ["999-0000000-0000002", "92", "2026-11-12T10:00:00+00:00",
             "2026-11-12T11:00:00+00:00", "Shipped", "SKU-X", "B0NEW00001", "two", "USD", "5.00",
             "94105", "world"]]  # fmt: skip
    text = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    stem = raw_stem(spec.name, SELLER, marketplace_id, date(2026, 11, 12), "injected-bad-batch")
    manifest = land(lake, stem, [text.encode()], fmt="tsv",
                    encodings=encodings_for("tsv", [marketplace_id]), shape=document_shape(spec),
                    manifest_fields={"dataset": spec.name, "seller_id": SELLER,
                                     "marketplace_ids": [marketplace_id]})  # fmt: skip
    return manifest.key


def test_a_bad_row_is_quarantined_with_its_reason_and_new_columns_are_kept(spark, curated,
                                                                           tmp_path):  # fmt: skip
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    key = _bad_orders(lake, US)
    result = curate(spark, lake, names=["order_items"])["order_items"]
    assert (result.documents, result.rows_in, result.rows_out, result.quarantined) == (1, 2, 1, 1)
    assert result.reconciles and result.quarantine_key
    [bad] = spark.read.json(lake.location(result.quarantine_key)).collect()
    assert bad.reason == "quantity: two is not a int" and bad.raw_key == key
    items = _table(spark, root, "order_items")
    [good] = items.where(items.amazon_order_id == "999-0000000-0000001").collect()
    assert good.extra == {"new-column": "hello"} and good.raw_key == key
    # Personal data is no plainer in the quarantine than in the table: the same keyed hash.
    assert len(good.ship_postal_code) == 64 and "10001" not in good.ship_postal_code
    assert bad.row.quantity == "two" and len(bad.row.ship_postal_code) == 64
    text = "".join(p.read_text() for p in (root / result.quarantine_key).rglob("*.json"))
    assert "94105" not in text and "two" in text


def test_a_crash_while_publishing_leaves_the_table_and_the_state_as_they_were(
    spark, curated, tmp_path, monkeypatch
):
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    _bad_orders(lake, DE)
    state = root / "_state/curate/order_items.json"
    before, remembered = _files(root / "cleaned"), state.read_text()

    def killed(*args, **kwargs):  # the batch is staged; the process dies before the swap
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(publish, "_swap", killed)
    with pytest.raises(KeyboardInterrupt):
        curate(spark, lake, names=["order_items"])
    assert _files(root / "cleaned") == before and state.read_text() == remembered
    assert (root / "_staging").exists()  # what the dead run staged, left behind
    monkeypatch.undo()
    result = curate(spark, lake, names=["order_items"])["order_items"]
    assert (result.documents, result.rows_out) == (1, 1)  # the next run finishes the work
    assert not (root / "_staging").exists()


def test_a_crash_between_the_swaps_moves_and_deletes_loses_no_row(
    spark, curated, tmp_path, monkeypatch
):
    """The swap moves the new files in before deleting the old ones: a crash between leaves a
    partition with both versions of its rows (never without them), and the next run's merge
    keeps the newest of each key, as if nothing had happened."""
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    _bad_orders(lake, DE)
    key = ["seller_id", *table("order_items").key]

    def keys() -> list[tuple]:
        return [tuple(r) for r in _table(spark, root, "order_items").select(*key).collect()]

    before = set(keys())

    def killed(*args, **kwargs):  # the new files are in; the process dies before the old go
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(type(lake), "delete_many", killed)
    with pytest.raises(KeyboardInterrupt):
        curate(spark, lake, names=["order_items"])
    during = keys()
    assert before < set(during) and len(during) > len(set(during))  # twice, none lost
    monkeypatch.undo()
    result = curate(spark, lake, names=["order_items"])["order_items"]
    after = keys()
    assert result.reconciles and (result.documents, result.quarantined) == (1, 1)
    assert len(after) == len(set(after)) and set(after) == set(during)


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every data file under ``folder``: (size, modification time in ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_a_contract_that_gains_a_column_rebuilds_its_table_from_raw(spark, curated, tmp_path):
    """A column added to the contract gets its values from raw for every row (no old file keeps
    the old shape); a contract change that changes no row (a doc) rebuilds nothing."""
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    before = table("listings")
    grown = replace(before, columns=(*before.columns, Column("sku_text", "string", "seller-sku")))
    documents = len(sources.raw_documents(lake, before))
    result = jobs.curate_table(spark, lake, grown, hash_key=KEY, clock=CLOCK)
    assert result.reshaped and result.documents == documents > 0 and result.passed
    rows = _table(spark, root, "listings").collect()
    assert rows and all(r.sku_text == r.seller_sku for r in rows)
    files = list((root / "cleaned/listings").rglob("*.parquet"))
    assert all("sku_text" in spark.read.parquet(str(f)).columns for f in files)
    again = jobs.curate_table(spark, lake, grown, hash_key=KEY, clock=CLOCK)
    assert (again.reshaped, again.documents) == (False, 0)
    reworded = replace(grown, columns=tuple(replace(c, doc="other words") for c in grown.columns))
    assert jobs.curate_table(spark, lake, reworded, hash_key=KEY, clock=CLOCK).documents == 0
