"""Data Kiosk against the local sandbox: sales and traffic by ASIN, one day per query, lands as
JSON lines and reconciles with the simulated seller's ground truth of that day on settled days; a
rerun lands nothing, a day without data is recorded as no data, and an interrupted run finds its
query again."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.ingest.kiosk import (
    KioskError,
    KioskIngestor,
    ingest_kiosk,
    kiosk_query,
    schema_types,
)
from spapi_toolkit.ingest.ledger import Ledger
from spapi_toolkit.ingest.planner import PlannedRequest, Window, plan
from spapi_toolkit.ingest.snapshots import read_jsonl
from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import manifest_key
from spapi_toolkit.lake.registry import dataset
from spapi_toolkit.lake.storage import Lake

from ..support import END_DATE
from .test_snapshots import MARKETPLACES, SCALE, scaled_client

KIOSK = dataset("kiosk_sales_traffic")
# Data Kiosk's counts of a day, and the seller's truth columns they equal
FIELDS = ("unitsOrdered", "unitsShipped", "unitsRefunded")
TRUTH = ("units_ordered", "units_shipped", "units_refunded")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with run_sandbox(end_date=END_DATE, scale=SCALE) as sandbox:
        seller_id = sandbox.seller_ids[0]
        lake = Lake.from_uri(str(tmp_path_factory.mktemp("lake")))
        with scaled_client(sandbox.env) as client:
            # A day settles 72 h after its *local* midnight: on the sandbox's UTC date the US
            # day before the restatement tail is still a few hours short of it, so plan as of
            # yesterday to make the planner's settled windows settled in every marketplace.
            today = sandbox.app.clock.datetime().date() - timedelta(days=1)
            planned = plan(
                [KIOSK],
                seller_id,
                MARKETPLACES,
                today - timedelta(days=14),
                today - timedelta(days=1),
                today,
            )
            stats = ingest_kiosk(
                client, lake, seller_id, planned.requests, poll_seconds=1, time_scale=SCALE
            )
            yield {
                "sandbox": sandbox,
                "seller": sandbox.app.seller,
                "seller_id": seller_id,
                "lake": lake,
                "client": client,
                "plan": planned,
                "stats": stats,
            }


def manifests(lake: Lake) -> list[Manifest]:
    return [
        Manifest.from_json(lake.read_bytes(key))
        for key in lake.list(f"raw/source=spapi/dataset={KIOSK.name}/")
        if key.endswith(manifest_key(""))
    ]


def test_query_follows_the_bundled_schema() -> None:
    types = schema_types("analytics_salesAndTraffic_2024_04_24")
    assert "unitsOrdered" in types["ByAsinSales"]
    day = date(2026, 11, 1)
    (request,) = plan([KIOSK], "S", ["ATVPDKIKX0DER"], day, day, date(2026, 11, 28)).requests
    query = kiosk_query(request)
    # one day per query: Data Kiosk sums the window, so only a one-day window is a day's numbers
    assert 'salesAndTrafficByAsin(startDate: "2026-11-01", endDate: "2026-11-01"' in query
    assert 'aggregateBy: CHILD, marketplaceIds: ["ATVPDKIKX0DER"]' in query
    assert "unitsOrdered" in query and "orderedProductSales { amount currencyCode }" in query
    assert query.count("{") == query.count("}")
    with pytest.raises(KioskError, match="needs a window"):
        kiosk_query(PlannedRequest(KIOSK, "S", ("ATVPDKIKX0DER",), None))


def test_every_window_lands(world) -> None:
    stats = world["stats"]
    assert stats.errors == [] and stats.failed == 0
    assert stats.landed == len(world["plan"].requests) == stats.planned == 14 * len(MARKETPLACES)
    assert all(r.window and r.window.start == r.window.end for r in world["plan"].requests)
    for manifest in manifests(world["lake"]):
        assert manifest.key.endswith(".jsonl")
        assert manifest.report_id  # the query id
        assert manifest.document_id
        rows = read_jsonl(world["lake"], manifest.key)
        assert manifest.rows and len(rows) == manifest.rows
        assert "query" in manifest.request
    for entry in Ledger(world["lake"]).entries(world["seller_id"], KIOSK.name):
        assert entry.status == "landed"
        assert entry.history[0][1] == "requesting"


def test_settled_days_reconcile_with_the_truth(world) -> None:
    seller, lake = world["seller"], world["lake"]
    settled = [r for r in world["plan"].requests if r.provisional_as_of is None]
    assert len(settled) >= 7 * len(MARKETPLACES)
    for request in settled:
        assert request.window is not None
        day = request.window.start
        (manifest,) = [m for m in manifests(lake) if f"/{request.request_id}." in m.key]
        rows = read_jsonl(lake, manifest.key)
        assert all(r["startDate"] == r["endDate"] == str(day) for r in rows)
        landed = {r["childAsin"]: tuple(r["sales"][field] for field in FIELDS) for r in rows}
        # every truth row of the day is listed, an ASIN with only a shipment or a refund too
        # (Data Kiosk has those per ASIN; the Sales & Traffic report's by-ASIN rows do not)
        expected = {t["asin"]: tuple(t[name] for name in TRUTH) for t in seller.truth(day, day)
                    if t["marketplace_id"] == request.marketplace_ids[0]}  # fmt: skip
        assert landed == expected


def test_rerun_lands_nothing_new(world) -> None:
    lake = world["lake"]
    before = {k: lake.read_bytes(k) for k in lake.list("raw/")}
    calls = dict(world["sandbox"].app.calls)
    stats = ingest_kiosk(
        world["client"],
        lake,
        world["seller_id"],
        world["plan"].requests,
        poll_seconds=1,
        time_scale=SCALE,
    )
    assert stats.already_landed == stats.planned and stats.landed == stats.requested == 0
    assert {k: lake.read_bytes(k) for k in lake.list("raw/")} == before
    assert world["sandbox"].app.calls == calls


def test_day_without_data_is_no_data(world, tmp_path) -> None:
    seller = world["seller"]
    lake = Lake.from_uri(str(tmp_path / "lake"))
    day = seller.config.start_date - timedelta(days=60)
    request = PlannedRequest(KIOSK, world["seller_id"], (MARKETPLACES[0],), Window(day, day))
    stats = ingest_kiosk(
        world["client"], lake, world["seller_id"], [request], poll_seconds=1, time_scale=SCALE
    )
    assert stats.no_data == 1 and stats.landed == 0
    assert list(lake.list("raw/")) == []
    (entry,) = Ledger(lake).entries(world["seller_id"], KIOSK.name)
    assert entry.status == "no_data"


def test_interrupted_run_finds_its_query_again(world, tmp_path) -> None:
    """An entry left ``requesting`` (killed between the ledger write and createQuery's answer)
    adopts the query Amazon has instead of creating a second one."""
    lake = Lake.from_uri(str(tmp_path / "lake"))
    request = world["plan"].requests[0]
    ingestor = KioskIngestor(world["client"], lake, world["seller_id"])
    entry = ingestor._new_entry(request)
    ingestor.ledger.move(entry, "requesting", "attempt 1", attempts=1)
    creates = world["sandbox"].app.calls.get("dataKiosk_2023-11-15.createQuery", 0)
    stats = ingest_kiosk(
        world["client"], lake, world["seller_id"], [request], poll_seconds=1, time_scale=SCALE
    )
    assert stats.recovered == 1 and stats.landed == 1 and stats.requested == 0
    assert world["sandbox"].app.calls["dataKiosk_2023-11-15.createQuery"] == creates
    (landed,) = manifests(lake)
    original = next(m for m in manifests(world["lake"]) if f"/{request.request_id}." in m.key)
    assert json.loads(landed.to_json())["sha256"] == original.sha256
