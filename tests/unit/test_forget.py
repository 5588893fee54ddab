"""``forget_seller`` / ``spapi forget``: one seller's data out of every zone, the others' kept.

The lake is built without Spark: two sellers' documents landed (``land``), a bad one of each
quarantined, ledger entries, plans and task tokens, and the curated zones written with pyarrow
in the real layout (``tests/lakefiles.py``: INT96 timestamps, hive folders), sellers mixed in
one file as Spark writes them, plus curation's state, scratch and quarantined rows.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spapi_toolkit.aws.ingest import PLANS_PREFIX, token_key
from spapi_toolkit.clock import ManualClock
from spapi_toolkit.ingest.ledger import Entry, Ledger
from spapi_toolkit.lake.forget import ForgetError, drop_catalog_partitions, forget_seller
from spapi_toolkit.lake.landing import BadDocument, land
from spapi_toolkit.lake.layout import raw_stem
from spapi_toolkit.lake.marts import mart
from spapi_toolkit.lake.storage import Lake, LocalLake
from spapi_toolkit.lake.tables import table

from ..lakefiles import write_rows

GONE, KEPT = "A1GONESELLER", "A2KEPTSELLER"
US, DE = "ATVPDKIKX0DER", "A1PM5YBUB2CGDX"
DAY1, DAY2 = date(2025, 3, 1), date(2025, 3, 2)
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
AGGREGATE_STATE = "_state/aggregate/sales_daily.json"
ZONED = "s3://f-raw/lake,cleaned=s3://f-cleaned,aggregated=s3://f-aggregated"


def _land(lake: Lake, seller: str, market: str, day: date, name: str, body: bytes) -> str:
    stem = raw_stem("sales_traffic_by_asin", seller, market, day, name)
    fields = {"dataset": "sales_traffic_by_asin", "seller_id": seller, "marketplace_ids": [market],
              "request": {"dataStartTime": day.isoformat()}, "report_id": f"r-{name}",
              "document_id": f"d-{name}"}  # fmt: skip
    return land(lake, stem, [body], fmt="json", encodings=["utf-8"], manifest_fields=fields,
                now=NOW).key  # fmt: skip


def _order(seller: str, market: str, day: date, n: int, raw_key: str) -> dict:
    return {"seller_id": seller, "marketplace_id": market, "purchase_date": day,
            "amazon_order_id": f"{seller[:2]}-{n}", "order_item_id": str(n), "quantity": n,
            "item_price": Decimal("9.99"), "purchase_ts": datetime(2025, 3, 1, 12, n),
            "ship_postal_code": f"zip-of-{seller}", "raw_key": raw_key,
            "ingested_at": datetime(2025, 3, 4, 5, n),
            "extra": [("note", f"by {seller}")]}  # fmt: skip


def _sale(seller: str, market: str, day: date, asin: str) -> dict:
    return {"seller_id": seller, "marketplace_id": market, "date": day, "child_asin": asin,
            "units_ordered": 3, "ordered_product_sales": Decimal("29.97")}  # fmt: skip


def build(lake: Lake) -> dict[str, list[str]]:
    """Two sellers everywhere; returns each seller's raw keys."""
    clock = ManualClock(NOW)
    ledger = Ledger(lake, clock)
    raw: dict[str, list[str]] = {GONE: [], KEPT: []}
    for seller in (GONE, KEPT):
        for i, (market, day) in enumerate([(US, DAY1), (US, DAY2), (DE, DAY1)]):
            body = json.dumps({"salesAndTrafficByAsin": [{"seller": seller, "i": i}]}).encode()
            key = _land(lake, seller, market, day, f"doc{i}", body)
            raw[seller].append(key)
            entry = Entry(f"req-{i}", "sales_traffic_by_asin", seller, [market], day.isoformat(),
                          {"reportType": "GET_SALES_AND_TRAFFIC_REPORT"})  # fmt: skip
            ledger.move(entry, "landed", raw_key=key, report_id=f"r-doc{i}")
        with pytest.raises(BadDocument):
            _land(lake, seller, US, DAY1, "bad", b"")
        for name in ("quota", "jobs", "snapshots"):
            lake.write_bytes(f"{PLANS_PREFIX}/seller_id={seller}/run-1/{name}.json", b"[]")
        lake.write_bytes(token_key(seller, "r-doc0"), json.dumps({"task_token": "t"}).encode())
    # The cleaned table: US day 1 mixes both, US day 2 only the forgotten, DE day 1 only the kept.
    write_rows(lake, table("order_items"), [
        _order(GONE, US, DAY1, 1, raw[GONE][0]), _order(KEPT, US, DAY1, 2, raw[KEPT][0]),
        _order(GONE, US, DAY1, 3, raw[GONE][0]), _order(GONE, US, DAY2, 4, raw[GONE][1]),
        _order(KEPT, DE, DAY1, 5, raw[KEPT][2]),
    ])  # fmt: skip
    write_rows(lake, mart("sales_daily"), [
        _sale(GONE, US, DAY1, "B01"), _sale(KEPT, US, DAY1, "B02"), _sale(GONE, US, DAY2, "B03"),
        _sale(KEPT, DE, DAY1, "B04"),
    ])  # fmt: skip
    # What a curation run that died before its swap staged (both sellers in one file).
    staged = next(
        k
        for k in lake.list(
            "cleaned/order_items/marketplace_id=ATVPDKIKX0DER/purchase_date=2025-03-01/"
        )
    )
    lake.write_bytes("_staging/cleaned/order_items/run-9/" + staged.split("/", 2)[2],
                     lake.read_bytes(staged))  # fmt: skip
    # Rows curation quarantined (Spark's JSON lines): one run mixed, one only the forgotten's.
    lines = [{"table": "order_items", "seller_id": s, "reason": "quantity: not a number",
              "row": {"quantity": "x"}, "raw_key": raw[s][0]}
             for s in (GONE, KEPT, GONE)]  # fmt: skip
    text = "".join(json.dumps(line) + "\n" for line in lines).encode()
    lake.write_bytes("quarantine/cleaned/order_items/run=r1/part-00000-a.json", text)
    lake.write_bytes("quarantine/cleaned/order_items/run=r2/part-00000-b.json.gz",
                     gzip.compress(json.dumps(lines[0]).encode() + b"\n", mtime=0))  # fmt: skip
    # Curation state: the documents each table holds, the cleaned files each mart was built from.
    documents = {k: "sha-" + k[-12:] for s in (GONE, KEPT) for k in raw[s]}
    state = {"table": "order_items", "shape": "s", "updated_at": NOW.isoformat(),
             "documents": documents}  # fmt: skip
    lake.write_bytes("_state/curate/order_items.json", json.dumps(state).encode())
    files: dict[str, list[str]] = {}
    for key in lake.list("cleaned/order_items/"):
        folder, _, name = key.split("/", 2)[2].rpartition("/")
        files.setdefault(folder, []).append(name)
    aggregate = {"mart": "sales_daily", "rule": {"period": "day"}, "inputs": {"order_items": files}}
    lake.write_bytes("_state/aggregate/sales_daily.json", json.dumps(aggregate).encode())
    # Things that name no seller.
    lake.write_bytes("_quality/latest/cleaned/order_items.json", b'{"success": true}\n')
    lake.write_bytes("_state/notifications/seen/n-1", b'{"notification_id": "n-1"}\n')
    return raw


def snapshot(lake: Lake) -> dict[str, bytes]:
    return {key: lake.read_bytes(key) for key in lake.list("")}


def readable(key: str, data: bytes) -> str:
    """An object's content as text a search can see into (Parquet decoded, gzip inflated)."""
    if key.endswith(".parquet"):
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        return json.dumps(rows, default=str)
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def rows(data: bytes) -> list[dict]:
    return sorted(
        pq.read_table(io.BytesIO(data)).to_pylist(), key=lambda r: json.dumps(r, default=str)
    )


def physical_types(data: bytes) -> list[tuple[str, str]]:
    schema = pq.ParquetFile(io.BytesIO(data)).schema
    return [(schema.column(i).path, schema.column(i).physical_type) for i in range(len(schema))]


def traces(lake: Lake, seller: str) -> list[str]:
    """Every object whose key or content names ``seller``."""
    return [key for key, data in snapshot(lake).items()
            if seller in key or seller in readable(key, data)]  # fmt: skip


def check_forgotten(lake: Lake, before: dict[str, bytes]) -> None:
    """Nothing of GONE anywhere; every object of KEPT as it was, its rows in shared files too."""
    after = snapshot(lake)
    assert traces(lake, GONE) == []
    assert traces(lake, KEPT)  # the scan sees sellers at all
    for key, data in before.items():
        if GONE in readable(key, data) or GONE in key or key == AGGREGATE_STATE:
            continue  # (the mart's state names files, not sellers: checked by the caller)
        assert after.get(key) == data, f"{key} changed"  # byte-identical, or gone
    for key, data in after.items():
        if key.endswith(".parquet") and key in before and after[key] != before[key]:
            kept = [r for r in rows(before[key]) if r["seller_id"] == KEPT]
            assert rows(data) == kept and kept, key
            assert physical_types(data) == physical_types(before[key])  # INT96 stays INT96
    new = set(after) - set(before)
    assert not new, new


def test_forget_removes_one_seller_from_every_zone(tmp_path: Path):
    lake = LocalLake(tmp_path / "lake")
    raw = build(lake)
    before = snapshot(lake)
    assert len(traces(lake, GONE)) > 20

    planned = forget_seller(lake, GONE, dry_run=True, clock=ManualClock(NOW))
    assert snapshot(lake) == before  # a dry run changes nothing
    assert planned.dry_run and set(raw[GONE]) <= set(planned.deleted)

    report = forget_seller(lake, GONE, clock=ManualClock(NOW))
    assert report.deleted == planned.deleted and report.rewritten == planned.rewritten
    zones = {name: (c.deleted, c.rewritten, c.rows) for name, c in report.zones.items()}
    assert zones == {
        "raw": (6, 0, 0),  # 3 documents + 3 manifests
        "quarantine": (3, 1, 3),  # the bad document, its reason; quarantined rows: 2 files
        "ledger": (3, 0, 0),
        "plans": (3, 0, 0),
        "task_tokens": (1, 0, 0),
        "cleaned": (1, 1, 3),  # US day 2 deleted, US day 1 rewritten
        "aggregated": (1, 1, 2),
        "staging": (0, 1, 2),
        "curation_state": (0, 1, 3),
        "aggregate_state": (0, 1, 1),
    }
    assert report.finished_at == NOW.isoformat()
    assert [(p.zone, p.table, p.values) for p in report.emptied_partitions] == [
        ("aggregated", "sales_daily", (US, "2025-03-02")),
        ("cleaned", "order_items", (US, "2025-03-02")),
    ]
    assert any("partition emptied: cleaned.order_items" in line for line in report.lines())
    check_forgotten(lake, before)
    # No folder named after the seller is left on disk either.
    assert [p for p in (tmp_path / "lake").rglob("*") if GONE in p.name] == []
    assert not (
        tmp_path / "lake/cleaned/order_items/marketplace_id=ATVPDKIKX0DER/purchase_date=2025-03-02"
    ).exists()
    # The state: the kept seller's documents still curated, the emptied partition out.
    state = json.loads(lake.read_bytes("_state/curate/order_items.json"))
    assert sorted(state["documents"]) == sorted(raw[KEPT]) and state["shape"] == "s"
    inputs = json.loads(lake.read_bytes("_state/aggregate/sales_daily.json"))["inputs"]
    assert sorted(inputs["order_items"]) == [
        f"marketplace_id={DE}/purchase_date=2025-03-01",
        f"marketplace_id={US}/purchase_date=2025-03-01",
    ]
    with pytest.raises(ForgetError, match="unknown"):  # done: a second run finds nothing
        forget_seller(lake, GONE)


def test_an_unknown_seller_is_refused_and_nothing_changes(tmp_path: Path):
    lake = LocalLake(tmp_path / "lake")
    build(lake)
    before = snapshot(lake)
    with pytest.raises(
        ForgetError, match=r"'A9NOBODY' is unknown in the lake at .*nothing was changed"
    ):
        forget_seller(lake, "A9NOBODY")
    with pytest.raises(ForgetError, match="reference files"):
        forget_seller(lake, "reference")
    with pytest.raises(ForgetError, match="not a seller id"):
        forget_seller(lake, "../A1GONESELLER")
    assert snapshot(lake) == before


def test_the_cli_lists_asks_and_forgets(tmp_path: Path):
    from spapi_toolkit.cli import app

    lake = LocalLake(tmp_path / "lake")
    build(lake)
    before = snapshot(lake)
    runner = CliRunner()
    base = ["forget", "--seller", GONE, "--lake", str(tmp_path / "lake")]
    listed = runner.invoke(app, [*base, "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert (
        f"delete  raw/source=spapi/dataset=sales_traffic_by_asin/seller_id={GONE}/" in listed.stdout
    )
    assert "rewrite _state/curate/order_items.json (-3)" in listed.stdout
    refused = runner.invoke(app, base, input="n\n")
    assert refused.exit_code == 1 and snapshot(lake) == before
    unknown = runner.invoke(
        app, ["forget", "--seller", "A9NOBODY", "--lake", str(tmp_path / "lake"), "--yes"]
    )
    assert unknown.exit_code == 1 and "A9NOBODY" in unknown.output and "unknown" in unknown.output
    done = runner.invoke(app, [*base, "--yes"])
    assert done.exit_code == 0, done.output
    assert "cleaned: 1 object(s) deleted, 1 rewritten" in done.stdout
    check_forgotten(lake, before)


@pytest.mark.aws
def test_forget_on_the_zoned_aws_lake(aws_env):
    s3 = boto3.client("s3")
    for bucket in ("f-raw", "f-cleaned", "f-aggregated"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket="f-raw", VersioningConfiguration={"Status": "Enabled"})
    lake = Lake.from_uri(ZONED)
    build(lake)
    # An earlier version of a raw document: what the versioned bucket keeps after a rewrite.
    first = next(
        k
        for k in lake.list(f"raw/source=spapi/dataset=sales_traffic_by_asin/seller_id={GONE}/")
        if k.endswith(".json")
    )
    lake.write_bytes(first, lake.read_bytes(first))
    before = snapshot(lake)
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "forget_cleaned"})
    glue.create_table(
        DatabaseName="forget_cleaned",
        TableInput={"Name": "order_items", "PartitionKeys": [
            {"Name": "marketplace_id", "Type": "string"},
            {"Name": "purchase_date", "Type": "date"}]},
    )  # fmt: skip
    for day in ("2025-03-01", "2025-03-02"):
        glue.create_partition(DatabaseName="forget_cleaned", TableName="order_items",
                              PartitionInput={"Values": [US, day]})  # fmt: skip

    planned = forget_seller(lake, GONE, dry_run=True)
    assert snapshot(lake) == before and planned.versions >= 1
    report = forget_seller(lake, GONE)
    assert report.zones["raw"].deleted == 6 and report.zones["cleaned"].rewritten == 1
    check_forgotten(lake, before)
    # No older version of the seller's objects, nor of the rewritten ones, is left in S3.
    for bucket in ("f-raw", "f-cleaned", "f-aggregated"):
        listed = s3.list_object_versions(Bucket=bucket)
        for item in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
            assert GONE not in item["Key"], item
            if "Size" in item:
                body = s3.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
                assert GONE not in readable(item["Key"], body["Body"].read()), item["Key"]
    dropped = drop_catalog_partitions(report, {"cleaned": "forget_cleaned"}, glue=glue)
    assert dropped == [f"forget_cleaned.order_items({US}, 2025-03-02)"]
    left = glue.get_partitions(DatabaseName="forget_cleaned", TableName="order_items")
    assert [p["Values"] for p in left["Partitions"]] == [[US, "2025-03-01"]]
