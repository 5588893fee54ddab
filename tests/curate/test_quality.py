"""The expectation suites on real curated data: the sandbox week passes every suite, a bad
batch is held back partition by partition (published files untouched, documents not recorded,
the run failing with the expectation named), a fixed rerun publishes, and the latest results
and Data Docs land in the lake's ``_quality/``."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spapi_toolkit import cli
from spapi_toolkit.clock import ManualClock
from spapi_toolkit.ingest.jobs import encodings_for
from spapi_toolkit.lake.checks import document_shape
from spapi_toolkit.lake.curate import aggregate
from spapi_toolkit.lake.landing import Manifest, land
from spapi_toolkit.lake.layout import manifest_key, raw_stem
from spapi_toolkit.lake.marts import mart as mart_contract
from spapi_toolkit.lake.quality import gate, suites
from spapi_toolkit.lake.registry import dataset
from spapi_toolkit.lake.storage import Lake

from ..reconcile import DE, US
from .week import KEY, SELLER, curate

# The first test here may build the session's curated week and this module's marts (minutes on
# a loaded two-core machine), so its timeout is above pyproject's default.
pytestmark = pytest.mark.timeout(900)

CLOCK = ManualClock(datetime(2026, 11, 28, 8, tzinfo=UTC))


def _files(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for p in folder.rglob("*") if p.is_file()}  # fmt: skip


def test_every_table_of_the_curated_week_passed_its_suite(curated):
    root, lake, results, _, _ = curated
    checked = [name for name, r in results.items() if r.rows_out]
    assert {"order_items", "sales_traffic_by_asin", "listings"} <= set(checked)
    for name in checked:
        assert results[name].passed and not results[name].blocked, results[name].failure_lines()
        latest = gate.read_latest(lake, "cleaned", name)
        assert latest is not None and latest["success"] is True, latest
        assert latest["evaluated"] == len(suites.spec("cleaned", name).checks)
        assert latest["rows"] > 0 and latest["at"].startswith("2026-11-28T07:00")
        assert lake.exists(latest["results_key"])
    assert (root / "_quality/docs/index.html").is_file()


def _local_spark(monkeypatch, spark) -> None:  # type: ignore[no-untyped-def]
    """The CLI runs in this process on the tests' Spark session, which outlives the command."""
    from spapi_toolkit.lake.curate import session

    monkeypatch.setattr(session, "spark_session", lambda *args, **kwargs: spark)
    monkeypatch.setattr(spark, "stop", lambda: None)


def _orders_with(
    lake: Lake, marketplace_id: str, day: date, price: str, tag: str, items: int = 1
) -> str:
    """Land an all-orders document of ``items`` items bought on ``day`` (noon UTC) at
    ``price``."""
    spec = dataset("orders_by_order_date")
    header = ["amazon-order-id", "order-item-id", "purchase-date", "last-updated-date",
              "order-status", "fulfillment-channel", "sku", "asin", "quantity", "currency",
              "item-price"]  # fmt: skip
    rows = [["999-0000000-" + tag.rjust(7, "0"), str(item), f"{day}T12:00:00+00:00",
             f"{day}T13:00:00+00:00", "Shipped", "Amazon", "SKU-Q", "B0QUALITY1", "1", "EUR",
             price] for item in range(1, items + 1)]  # fmt: skip
    text = "\n".join("\t".join(line) for line in [header, *rows]) + "\n"
    stem = raw_stem(spec.name, SELLER, marketplace_id, day, f"quality-{tag}")
    manifest = land(lake, stem, [text.encode()], fmt="tsv",
                    encodings=encodings_for("tsv", [marketplace_id]), shape=document_shape(spec),
                    manifest_fields={"dataset": spec.name, "seller_id": SELLER,
                                     "marketplace_ids": [marketplace_id]})  # fmt: skip
    return manifest.key


def test_a_bad_batch_is_held_back_and_a_fixed_rerun_publishes(spark, curated, tmp_path,
                                                               monkeypatch):  # fmt: skip
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    bad_day, good_day = date(2026, 11, 12), date(2026, 11, 13)
    bad_partition = f"marketplace_id={DE}/purchase_date={bad_day}"
    good_partition = f"marketplace_id={DE}/purchase_date={good_day}"
    table = root / "cleaned" / "order_items"
    before = _files(table / bad_partition)
    state = json.loads((root / "_state/curate/order_items.json").read_text())["documents"]
    bad = _orders_with(lake, DE, bad_day, "-5.00", "1")  # money below zero
    good = _orders_with(lake, DE, good_day, "5.00", "2")

    # Curated by `spapi curate` (the Glue job's code): it must fail, naming what and where.
    _local_spark(monkeypatch, spark)
    monkeypatch.setenv("SPAPI_PII_HASH_KEY", KEY.decode())
    args = ["curate", "--lake", str(root), "--tables", "order_items", "--no-marts"]
    run = CliRunner().invoke(cli.app, args)

    assert run.exit_code == 1, run.output
    assert "quality gate failed" in run.output
    assert f"cleaned.order_items: blocked 1 partition(s): {bad_partition}" in run.output
    assert "expect_column_values_to_be_between failed — item_price >= 0" in run.output
    assert f"1 row(s) in {bad_partition}: 1 row(s)" in run.output
    assert _files(table / bad_partition) == before  # byte for byte, not even rewritten
    items = spark.read.parquet(str(table))
    assert items.where(items.sku == "SKU-Q").count() == 1  # the good one, published
    recorded = json.loads((root / "_state/curate/order_items.json").read_text())["documents"]
    assert good in recorded and bad not in recorded and set(state) <= set(recorded)
    latest = gate.read_latest(lake, "cleaned", "order_items")
    assert latest["success"] is False and latest["blocked"] == [bad_partition]
    [failure] = latest["failures"]
    assert (failure["expectation"], failure["columns"]) == (
        "expect_column_values_to_be_between",
        ["item_price"],
    )
    assert failure["partitions"] == {bad_partition: 1} and failure["unexpected"] == 1

    # The fix: say the rule was wrong (a contract allowing negative prices). The held-back
    # document was not recorded, so the next run reads it again and publishes its partition.
    lenient = suites.table_spec

    def signed_prices(contract):
        spec = lenient(contract)
        keep = tuple(c for c in spec.checks if c.columns != ("item_price",) or c.rule != "range")
        return suites.Spec(spec.zone, spec.table, spec.partition_by, keep)

    monkeypatch.setattr(suites, "table_spec", signed_prices)
    again = curate(spark, lake, names=["order_items"])["order_items"]
    assert again.passed and (again.documents, again.partitions) == (1, 1)
    assert _files(table / bad_partition) != before
    items = spark.read.parquet(str(table))
    assert items.where(items.sku == "SKU-Q").count() == 2
    assert good_partition in {str(p.relative_to(table).parent) for p in table.rglob("*.parquet")}


def _change(lake: Lake, key: str, data: bytes, *, in_manifest: bool) -> None:
    """Replace a landed object's bytes, its manifest following (as if it had landed like that)
    or not (the object changed behind it)."""
    lake.write_bytes(key, data)
    if in_manifest:
        manifest = Manifest.from_json(lake.read_bytes(manifest_key(key)))
        moved = replace(manifest, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        lake.write_bytes(manifest_key(key), moved.to_json())


def test_curate_names_quarantined_rows_and_refused_documents_and_fails_unless_allowed(
    spark, curated, tmp_path, monkeypatch
):
    """A row cut after landing (its manifest updated to match) is quarantined with its row
    number, the document's good row published; a document whose bytes changed behind its
    manifest is refused, named by `spapi curate` and `spapi status`, read again every run until
    its bytes are back, and its earlier rows stay published. `spapi curate` exits 1 for either,
    0 with --allow-quarantine."""
    root = tmp_path / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    day = date(2026, 11, 13)
    altered = _orders_with(lake, DE, day, "6.00", "32")
    _local_spark(monkeypatch, spark)
    monkeypatch.setenv("SPAPI_PII_HASH_KEY", KEY.decode())
    args = ["curate", "--lake", str(root), "--tables", "order_items", "--no-marts"]
    assert CliRunner().invoke(cli.app, args).exit_code == 0  # a good document: published
    original = lake.read_bytes(altered)
    _change(lake, altered, original.replace(b"6.00", b"9.00"), in_manifest=False)
    cut = _orders_with(lake, DE, day, "5.00", "31", items=2)
    lines = lake.read_bytes(cut).decode().split("\n")
    lines[2] = lines[2].rsplit("\t", 3)[0]  # the second item cut after its sku
    _change(lake, cut, "\n".join(lines).encode(), in_manifest=True)

    run = CliRunner().invoke(cli.app, [*args, "--full-refresh"])

    assert run.exit_code == 1, run.output
    assert (
        f"refused {altered} (order_items): its bytes are not its manifest's: sha256" in run.output
    )
    assert "quarantined 1 row(s) of order_items: quarantine/cleaned/order_items/run=" in run.output
    assert "1 row(s) quarantined, 1 document(s) refused" in run.output
    items = spark.read.parquet(str(root / "cleaned" / "order_items")).where("sku = 'SKU-Q'")
    # The cut document's good row, and the refused document's row as it was published, kept
    # through the full refresh.
    assert sorted((r.raw_key, str(r.item_price)) for r in items.collect()) == [
        (key, price) for key, price in sorted([(cut, "5.00"), (altered, "6.00")])
    ]
    quarantine = root / "quarantine/cleaned/order_items"
    quarantined = [json.loads(line) for f in quarantine.rglob("*.json")
                   for line in f.read_text().splitlines()]  # fmt: skip
    assert [(q["raw_key"], q["row_number"], q["reason"]) for q in quarantined] == [
        (cut, 3, "row 3 has 8 fields, its header 11")
    ]
    status = CliRunner().invoke(cli.app, ["status", "--lake", str(root)])
    assert f"refused by curation (order_items) {altered}: its bytes are not its manifest's" in (
        status.output
    )

    again = CliRunner().invoke(cli.app, [*args, "--allow-quarantine"])
    assert again.exit_code == 0, again.output
    assert f"refused {altered} (order_items)" in again.output  # read again, named again
    _change(lake, altered, original, in_manifest=False)  # its bytes back
    fixed = CliRunner().invoke(cli.app, args)
    assert fixed.exit_code == 0, fixed.output
    assert f"refused {altered}" not in fixed.output
    state = json.loads((root / "_state/curate/order_items.json").read_text())
    assert altered in state["documents"] and state["refused"] == {}
    status = CliRunner().invoke(cli.app, ["status", "--lake", str(root)])
    assert f"refused by curation (order_items) {altered}" not in status.output


@pytest.fixture(scope="module")
def with_marts(spark, curated, tmp_path_factory):
    """The curated week with its marts built (each rebuild gated by its mart's suite)."""
    root = tmp_path_factory.mktemp("quality") / "lake"
    shutil.copytree(curated[0], root)
    lake = Lake.from_uri(str(root))
    results = aggregate.cleaned_to_aggregated(spark, lake, clock=CLOCK)
    return root, lake, {r.mart: r for r in results}


def test_every_mart_passed_its_suite_with_its_totals_equal_to_the_cleaned_ones(with_marts):
    _, lake, results = with_marts
    assert {"sales_daily", "orders_daily"} <= set(results)
    assert results["sales_daily"].partitions and results["orders_daily"].partitions
    for name, result in results.items():
        assert result.passed, result.failure_lines()
        if not result.rows_out:
            continue  # a mart whose sources this week's lake does not have (snapshots, BA)
        latest = gate.read_latest(lake, "aggregated", name)
        assert latest["success"] is True and latest["rows"] == result.rows_out
        assert latest["evaluated"] == len(suites.spec("aggregated", name).checks)


def test_a_mart_partition_whose_totals_disagree_is_held_back_and_rebuilt_next_run(
    spark, with_marts, tmp_path, monkeypatch
):
    from pyspark.sql import functions as F

    from spapi_toolkit.lake.curate import marts as transforms

    root = tmp_path / "lake"
    shutil.copytree(with_marts[0], root)
    lake = Lake.from_uri(str(root))
    day = date(2026, 11, 12)
    wrong = f"marketplace_id={US}/date={day}"
    mart = root / "aggregated" / "orders_daily"
    before = _files(mart / wrong)
    right = transforms.BUILDERS["orders_daily"]

    def double_counted(items, **reads):  # a bug that counts one day's units twice
        built = right(items, **reads)
        twice = (F.col("marketplace_id") == US) & (F.col("date") == F.lit(day))
        units = F.when(twice, F.col("units") * 2).otherwise(F.col("units"))
        return built.withColumn("units", units)

    monkeypatch.setitem(transforms.BUILDERS, "orders_daily", double_counted)
    [result] = aggregate.cleaned_to_aggregated(spark, lake, ["orders_daily"], full_refresh=True,
                                               clock=CLOCK)  # fmt: skip
    days = aggregate.cleaned_partitions(lake, mart_contract("orders_daily").source)
    assert result.blocked == [wrong] and result.partitions == len(days) - 1
    [failure] = result.failures
    assert failure.rule == "totals" and list(failure.partitions) == [wrong]
    assert failure.columns == ["_check_totals_units"]
    assert failure.unexpected and failure.unexpected > 0  # every row of the partition
    assert _files(mart / wrong) == before  # the published partition, as it was
    state = json.loads((root / "_state/aggregate/orders_daily.json").read_text())["inputs"]
    source = f"marketplace_id={US}/purchase_date={day}"
    recorded = state["order_items"]
    assert source not in recorded and len(recorded) == len(days) - 1  # the next run rebuilds it

    monkeypatch.setitem(transforms.BUILDERS, "orders_daily", right)
    [again] = aggregate.cleaned_to_aggregated(spark, lake, ["orders_daily"], clock=CLOCK)
    assert again.passed and (again.changed, again.partitions) == (1, 1)
    assert _files(mart / wrong).keys() != before.keys()  # rewritten by the fixed rebuild


def test_spapi_quality_prints_the_table_and_fails_on_a_broken_table(
    spark, with_marts, tmp_path, monkeypatch
):
    _local_spark(monkeypatch, spark)
    monkeypatch.setenv("SPAPI_CLOCK_OFFSET", "0")
    root = tmp_path / "lake"
    shutil.copytree(with_marts[0], root)
    chosen = "listings,orders_daily"
    good = CliRunner().invoke(cli.app, ["quality", "--lake", str(root), "--tables", chosen])
    assert good.exit_code == 0, good.output
    assert "expectations" in good.output and "passed" in good.output
    assert "listings" in good.output and "orders_daily" in good.output
    assert (root / "_quality/docs/index.html").is_file()

    # Break the published listings: one partition's rows there twice (a duplicated key).
    listings = root / "cleaned" / "listings"
    data = sorted(listings.rglob("*.parquet"))[0]
    shutil.copy(data, data.with_name("copy-" + data.name))
    partition = data.parent
    bad = CliRunner().invoke(cli.app, ["quality", "--lake", str(root), "--tables", "listings"])
    assert bad.exit_code == 1, bad.output
    assert "FAILED" in bad.output and "expect_compound_columns_to_be_unique" in bad.output
    assert partition.relative_to(listings).as_posix() in bad.output
    latest = json.loads((root / "_quality/latest/cleaned/listings.json").read_text())
    assert latest["success"] is False and latest["failures"][0]["rule"] == "unique_key"
