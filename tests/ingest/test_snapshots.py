"""API snapshots against the local sandbox: every api dataset over US, DE and JP lands as gzip
JSON lines, covers every listed ASIN/SKU, batches at most 20 identifiers per call, reconciles
orders with the simulated seller, and lands nothing new when run again."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_sandbox.watchlist import watchlist_csv
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.ratelimit import RateLimiter, RetryPolicy, official_limits
from spapi_toolkit.ingest.jobs import IngestSettings, ReportIngestor
from spapi_toolkit.ingest.ledger import Ledger
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.ingest.snapshots import (
    CALLS_PER_BATCH,
    SnapshotError,
    SnapshotIngestor,
    ingest_snapshots,
    known_items,
    read_jsonl,
)
from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import manifest_key
from spapi_toolkit.lake.reference import load_reference
from spapi_toolkit.lake.registry import dataset, registry
from spapi_toolkit.lake.storage import Lake

from ..support import END_DATE

SCALE = 3600
MARKETPLACES = ["ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"]  # US, DE, JP
API_DATASETS = [d for d in registry().values() if d.source == "api"]


def scaled_client(env: dict[str, str]) -> SpApiClient:
    """A client whose rate limits run at the sandbox's clock speed."""
    limits = {name: (lim.rate * SCALE, lim.burst) for name, lim in official_limits().items()}
    return SpApiClient.from_env(
        env=env,
        limiter=RateLimiter(overrides=limits),
        retry=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A sandbox, a lake with merchant listings and the seller's watchlist landed, and one
    snapshot run of every api dataset over the last 10 days (orders) and today (the rest)."""
    with run_sandbox(end_date=END_DATE, scale=SCALE) as sandbox:
        seller = sandbox.app.seller
        seller_id = sandbox.seller_ids[0]
        lake = Lake.from_uri(str(tmp_path_factory.mktemp("lake")))
        with scaled_client(sandbox.env) as client:
            today = sandbox.app.clock.datetime().date()
            settings = IngestSettings(time_scale=SCALE, poll_seconds=1)
            listings = plan(
                [dataset("merchant_listings")], seller_id, MARKETPLACES, today, today, today
            )
            report_stats = ReportIngestor(client, lake, seller_id, settings).run(listings.requests)
            assert report_stats.landed == len(MARKETPLACES), report_stats.errors
            watching = tmp_path_factory.mktemp("watchlist") / "watchlist.csv"
            watching.write_bytes(watchlist_csv(seller))  # searches and a rival in each market
            load_reference(lake, "watchlist", watching, seller=seller_id, clock=client.clock)
            snapshots = plan(
                API_DATASETS,
                seller_id,
                MARKETPLACES,
                today - timedelta(days=10),
                today - timedelta(days=1),
                today,
            )
            before = sandbox.app.clock.datetime()
            calls_before = dict(sandbox.app.calls)
            stats = ingest_snapshots(client, lake, seller_id, snapshots.requests)
            after = sandbox.app.clock.datetime()
            calls = {k: v - calls_before.get(k, 0) for k, v in sandbox.app.calls.items()}
            yield {
                "sandbox": sandbox,
                "seller": seller,
                "seller_id": seller_id,
                "lake": lake,
                "client": client,
                "plan": snapshots,
                "stats": stats,
                "calls": calls,
                "window": (before, after),
            }


def landed_manifests(lake: Lake, name: str, marketplace_id: str | None = None) -> list[Manifest]:
    prefix = f"raw/source=spapi/dataset={name}/"
    found = [
        Manifest.from_json(lake.read_bytes(key))
        for key in lake.list(prefix)
        if key.endswith(manifest_key(""))
    ]
    return [m for m in found if marketplace_id is None or m.marketplace_ids == [marketplace_id]]


def items_of(lake: Lake, name: str, marketplace_id: str) -> list[dict]:
    return [
        item
        for manifest in landed_manifests(lake, name, marketplace_id)
        for item in read_jsonl(lake, manifest.key)
    ]


def test_every_request_lands(world) -> None:
    stats = world["stats"]
    assert stats.errors == []
    assert stats.failed == 0
    assert stats.planned == len(world["plan"].requests)
    assert stats.landed + stats.no_data == stats.planned
    assert stats.landed >= len(MARKETPLACES) * (len(API_DATASETS) - 1)
    for entry in Ledger(world["lake"]).entries(world["seller_id"]):
        if entry.dataset in {d.name for d in API_DATASETS}:
            assert entry.status in ("landed", "no_data")
            assert entry.history[0][1] == "requesting"  # recorded before the first call


def test_manifests_match_objects(world) -> None:
    lake = world["lake"]
    for ds in API_DATASETS:
        for manifest in landed_manifests(lake, ds.name):
            assert manifest.key.endswith(".jsonl.gz")
            assert manifest.compression == "gzip"
            assert manifest.encoding == "utf-8"
            assert manifest.request["operation"] == ds.operation
            items = read_jsonl(lake, manifest.key)  # every line parses
            assert manifest.rows and len(items) == manifest.rows
            assert "url" not in json.dumps(manifest.request).lower().replace("uri", "")


def test_known_items_match_the_sellers_listings(world) -> None:
    products = world["seller"].products()
    for marketplace_id in MARKETPLACES:
        asins, skus = known_items(world["lake"], world["seller_id"], marketplace_id)
        assert asins == sorted(asins) and skus == sorted(skus)
        assert set(asins) <= {p.asin for p in products}
        assert set(skus) <= {p.sku for p in products}
        assert len(skus) >= len(products) // 2


def test_catalog_listings_and_pricing_cover_every_item(world) -> None:
    lake = world["lake"]
    for marketplace_id in MARKETPLACES:
        asins, skus = known_items(lake, world["seller_id"], marketplace_id)
        catalog = {i["asin"] for i in items_of(lake, "catalog_items", marketplace_id)}
        assert catalog == set(asins)
        listings = {i["sku"] for i in items_of(lake, "listings_items", marketplace_id)}
        assert listings == set(skus)
        offers = items_of(lake, "item_offers", marketplace_id)
        assert sorted(o["request"]["Asin"] for o in offers) == asins
        summary = items_of(lake, "competitive_summary", marketplace_id)
        assert sorted(s["body"]["asin"] for s in summary) == asins
        assert all(s["status"]["statusCode"] == 200 for s in summary)


def test_batches_of_at_most_20_identifiers(world) -> None:
    calls, lake = world["calls"], world["lake"]
    per_marketplace = [known_items(lake, world["seller_id"], m) for m in MARKETPLACES]
    asin_calls = sum(-(-len(asins) // 20) for asins, _ in per_marketplace)
    sku_calls = sum(len(skus) for _, skus in per_marketplace)
    # The watchlist's: one call per keyword search, and 20 watched ASINs per call.
    entries = Ledger(lake).entries(world["seller_id"])
    chosen = {(e.dataset, e.marketplace_ids[0]): e.request["chosen"]
              for e in entries if "chosen" in e.request}  # fmt: skip
    searches = sum(len(rows) for (name, _), rows in chosen.items() if name == "catalog_search")
    watched = sum(-(-len(rows) // 20) for (name, _), rows in chosen.items()
                  if name == "watchlist_offers")  # fmt: skip
    assert searches and watched
    assert calls["catalogItems_2022-04-01.searchCatalogItems"] == asin_calls + searches + watched
    assert calls["productPricingV0.getItemOffersBatch"] == asin_calls + watched
    assert calls["productPricing_2022-05-01.getCompetitiveSummary"] == asin_calls + watched
    assert calls["listingsItems_2021-08-01.getListingsItem"] == sku_calls
    for name in ("catalog_items", "item_offers", "competitive_summary", "watchlist_offers"):
        for manifest in landed_manifests(lake, name):
            assert manifest.request["calls"] <= CALLS_PER_BATCH
            assert len(manifest.request["identifiers"]) <= 20 * manifest.request["calls"]


def test_inventory_summaries_match_the_fba_inventory(world) -> None:
    seller = world["seller"]
    for marketplace_id in MARKETPLACES:
        rows = items_of(world["lake"], "inventory_summaries", marketplace_id)
        expected = {r.sku: r.afn_total_quantity for r in seller.inventory(marketplace_id)}
        assert {r["sellerSku"]: r["totalQuantity"] for r in rows} == expected


def test_orders_reconcile_with_the_seller(world) -> None:
    seller, lake = world["seller"], world["lake"]
    before, after = world["window"]
    orders_requests = [r for r in world["plan"].requests if r.dataset.name == "orders_api"]
    assert orders_requests
    for marketplace_id in MARKETPLACES:
        landed: set[str] = set()
        for request in orders_requests:
            if request.marketplace_ids != (marketplace_id,):
                continue
            ids = [
                row["orderId"]
                for m in landed_manifests(lake, "orders_api", marketplace_id)
                if f"/{request.request_id}-" in m.key
                for row in read_jsonl(lake, m.key)
            ]
            # Within one window no order twice; across windows an order whose items were
            # updated on both sides appears in each (the cleaning keeps the newest).
            assert len(ids) == len(set(ids)), "an order landed twice for one window"
            landed |= set(ids)
        expected_at: list[set[str]] = [set(), set()]
        for request in orders_requests:
            if request.marketplace_ids != (marketplace_id,):
                continue
            times = request.time_range()
            assert times is not None
            for index, as_of in enumerate((before, after)):
                expected_at[index] |= _order_ids(seller, marketplace_id, times[0], times[1], as_of)
        # Orders may change while the run goes (the sandbox clock runs an hour a second).
        assert expected_at[0] & expected_at[1] <= landed <= expected_at[0] | expected_at[1]
        assert len(expected_at[0] & expected_at[1]) > 0


def _order_ids(seller, marketplace_id: str, start: datetime, end: datetime, as_of) -> set[str]:
    items = seller.order_items(marketplace_id, start, end, by="last_update", as_of=as_of)
    return {item.amazon_order_id for item in items}


def test_rerun_lands_nothing_new(world) -> None:
    lake = world["lake"]
    keys_before = {k: lake.read_bytes(k) for k in lake.list("raw/")}
    sandbox = world["sandbox"]
    calls_before = dict(sandbox.app.calls)
    stats = ingest_snapshots(world["client"], lake, world["seller_id"], world["plan"].requests)
    assert stats.already_landed == stats.planned and stats.landed == 0
    assert stats.calls == 0
    assert {k: lake.read_bytes(k) for k in lake.list("raw/")} == keys_before
    assert sandbox.app.calls == calls_before


def test_resume_skips_landed_batches_and_rebuilds_the_same_bytes(world, tmp_path) -> None:
    """A run interrupted after some batches: the next one calls only for the missing ones and
    lands them byte for byte as an uninterrupted run would (same snapshot date, same data)."""
    lake, seller_id = world["lake"], world["seller_id"]
    fresh = Lake.from_uri(str(tmp_path / "lake"))
    for key in lake.list("raw/source=spapi/dataset=merchant_listings/"):
        fresh.write_bytes(key, lake.read_bytes(key))
    requests = [r for r in world["plan"].requests if r.dataset.name == "catalog_items"]
    ingest_snapshots(world["client"], fresh, seller_id, requests)
    # Forget the ledger and one manifest: as if the run had died before the last batch.
    victim = landed_manifests(fresh, "catalog_items", MARKETPLACES[1])[-1]
    fresh.delete(manifest_key(victim.key))
    for key in list(fresh.list("_state/")):
        fresh.delete(key)
    ingestor = SnapshotIngestor(world["client"], fresh, seller_id)
    stats = ingestor.run(requests)
    assert stats.batches_landed == 1
    assert stats.batches_skipped == len(landed_manifests(fresh, "catalog_items")) - 1
    assert fresh.read_bytes(victim.key) == lake.read_bytes(victim.key)


def test_snapshots_need_merchant_listings_first(world, tmp_path) -> None:
    empty = Lake.from_uri(str(tmp_path / "empty"))
    with pytest.raises(SnapshotError, match="ingest merchant_listings first"):
        known_items(empty, world["seller_id"], MARKETPLACES[0])
    requests = [r for r in world["plan"].requests if r.dataset.name == "listings_items"][:1]
    stats = ingest_snapshots(world["client"], empty, world["seller_id"], requests)
    assert stats.failed == 1 and "ingest merchant_listings first" in stats.errors[0]
    (entry,) = Ledger(empty).entries(world["seller_id"])
    assert entry.status == "failed"


def _lake_with_listings(world, path) -> Lake:
    """A new lake holding only the merchant listings of the shared one."""
    fresh = Lake.from_uri(str(path))
    for key in world["lake"].list("raw/source=spapi/dataset=merchant_listings/"):
        fresh.write_bytes(key, world["lake"].read_bytes(key))
    return fresh


def test_item_level_errors_are_kept_as_amazon_returned_them(world, tmp_path) -> None:
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    marketplace_id = MARKETPLACES[0]
    names = {"item_offers", "competitive_summary", "listings_items", "catalog_items"}
    requests = [
        r
        for r in world["plan"].requests
        if r.dataset.name in names and r.marketplace_ids == (marketplace_id,)
    ]
    ingestor = SnapshotIngestor(world["client"], lake, seller_id)
    asins, skus = known_items(lake, seller_id, marketplace_id)
    ingestor._items[marketplace_id] = (sorted([*asins, "B0NOSUCH00"]), sorted([*skus, "ZZ-GONE"]))
    stats = ingestor.run(requests)
    assert stats.failed == 0, stats.errors
    offers = {o["request"]["Asin"]: o for o in items_of(lake, "item_offers", marketplace_id)}
    assert offers["B0NOSUCH00"]["status"]["statusCode"] == 404
    assert offers["B0NOSUCH00"]["body"]["errors"][0]["code"] == "NotFound"
    summary = {s["body"]["asin"]: s for s in items_of(lake, "competitive_summary", marketplace_id)}
    assert summary["B0NOSUCH00"]["status"]["statusCode"] == 404
    listings = items_of(lake, "listings_items", marketplace_id)
    assert len(listings) == len(skus) + 1
    assert next(i for i in listings if "sku" not in i)["errors"][0]["code"] == "NotFound"
    assert {i["asin"] for i in items_of(lake, "catalog_items", marketplace_id)} == set(asins)


def test_a_call_failing_after_retries_fails_the_entry_and_lands_nothing(world, tmp_path) -> None:
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    requests = [r for r in world["plan"].requests if r.dataset.name == "listings_items"][:1]
    faults = world["sandbox"].app.faults
    faults.error_500 = 1.0
    try:
        stats = ingest_snapshots(world["client"], lake, seller_id, requests)
    finally:
        faults.error_500 = 0.0
    assert stats.failed == 1 and "InternalFailure" in stats.errors[0]
    assert list(lake.list("raw/source=spapi/dataset=listings_items/")) == []
    (entry,) = Ledger(lake).entries(seller_id, "listings_items")
    assert entry.status == "failed" and "InternalFailure" in (entry.error or "")
    stats = ingest_snapshots(world["client"], lake, seller_id, requests)  # a rerun retries it
    assert stats.landed == 1
    assert Ledger(lake).entries(seller_id, "listings_items")[0].status == "landed"


def test_a_token_answered_expired_twice_in_a_row_does_not_fail_the_snapshot(
    world, tmp_path, monkeypatch
) -> None:
    """The client refreshes a token answered as expired once per call; a second "expired" for
    the fresh token (the soak's 3 % of expired tokens did it to one getListingsItem among
    hundreds) ended the call, and with it the whole listings snapshot. The page is asked again."""
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    requests = [r for r in world["plan"].requests if r.dataset.name == "listings_items"][:1]
    faults = world["sandbox"].app.faults
    roll, expired = faults.roll, iter([True, True])  # the first call: refused twice

    def rigged(kind: str) -> bool:
        return next(expired, False) if kind == "expired_token" else roll(kind)

    monkeypatch.setattr(faults, "roll", rigged)
    stats = ingest_snapshots(world["client"], lake, seller_id, requests)
    assert next(expired, None) is None  # both refusals were served
    assert (stats.failed, stats.landed) == (0, 1), stats.errors
    (entry,) = Ledger(lake).entries(seller_id, "listings_items")
    assert entry.status == "landed"


def test_faults_change_nothing_landed(world, tmp_path) -> None:
    """429s and 5xx on the way: the same catalog and listings bytes as the clean run."""
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    names = ("catalog_items", "listings_items")
    requests = [r for r in world["plan"].requests if r.dataset.name in names]
    faults = world["sandbox"].app.faults
    faults.error_500 = faults.throttle = 0.2
    try:
        stats = ingest_snapshots(world["client"], lake, seller_id, requests)
    finally:
        faults.error_500 = faults.throttle = 0.0
    assert stats.failed == 0, stats.errors
    for name in names:
        for key in world["lake"].list(f"raw/source=spapi/dataset={name}/"):
            if not key.endswith(".manifest.json"):
                assert lake.read_bytes(key) == world["lake"].read_bytes(key)


def test_resume_with_several_batches(world, tmp_path, monkeypatch) -> None:
    """Batches of 3 calls: a run that died after two batches resumes without calling for them."""
    import spapi_toolkit.ingest.snapshots as snapshots

    monkeypatch.setattr(snapshots, "CALLS_PER_BATCH", 3)
    seller_id = world["seller_id"]
    requests = [r for r in world["plan"].requests if r.dataset.name == "listings_items"][:1]
    whole = _lake_with_listings(world, tmp_path / "whole")
    ingest_snapshots(world["client"], whole, seller_id, requests)
    keys = sorted(m.key for m in landed_manifests(whole, "listings_items"))
    assert len(keys) >= 3
    resumed = _lake_with_listings(world, tmp_path / "resumed")
    for key in keys[:2]:  # what the interrupted run had landed, with its ledger entry
        resumed.write_bytes(key, whole.read_bytes(key))
        resumed.write_bytes(manifest_key(key), whole.read_bytes(manifest_key(key)))
    sandbox = world["sandbox"]
    before = sandbox.app.calls.get("listingsItems_2021-08-01.getListingsItem", 0)
    stats = ingest_snapshots(world["client"], resumed, seller_id, requests)
    assert stats.batches_skipped == 2 and stats.batches_landed == len(keys) - 2
    after = sandbox.app.calls["listingsItems_2021-08-01.getListingsItem"]
    skus = known_items(resumed, seller_id, requests[0].marketplace_ids[0])[1]
    assert after - before == len(skus) - 6
    for key in keys:
        assert resumed.read_bytes(key) == whole.read_bytes(key)


def test_finances_windows_end_at_the_next_midnight_and_events_of_no_site_are_kept() -> None:
    """PostedBefore leaves its instant out, so a window asks up to the next local midnight;
    each marketplace keeps its own site's events and every event of no site (the account's)."""
    from datetime import date

    from spapi_toolkit.ingest.planner import PlannedRequest, Window
    from spapi_toolkit.ingest.snapshots import OPERATIONS

    us, de = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
    day = date(2026, 11, 10)
    events = dataset("financial_events")
    request = PlannedRequest(events, "S", (us,), Window(day, day))
    params = OPERATIONS["listFinancialEvents"].params(request, (), "S")
    assert (params["PostedAfter"], params["PostedBefore"]) == (
        "2026-11-10T08:00:00Z", "2026-11-11T08:00:00Z")  # Los Angeles' midnights  # fmt: skip
    page = {"payload": {"FinancialEvents": {
        "ShipmentEventList": [{"AmazonOrderId": "1", "MarketplaceName": "Amazon.com"},
                              {"AmazonOrderId": "2", "MarketplaceName": "Amazon.de"}],
        "ServiceFeeEventList": [{"FeeReason": "Subscription"}],
        "RefundEventList": [],
    }}}  # fmt: skip
    lines = OPERATIONS["listFinancialEvents"].items
    assert lines(page, request, params) == [
        {"ShipmentEventList": [{"AmazonOrderId": "1", "MarketplaceName": "Amazon.com"}]},
        {"ServiceFeeEventList": [{"FeeReason": "Subscription"}]},
    ]
    in_de = PlannedRequest(events, "S", (de,), Window(day, day))
    assert [next(iter(line)) for line in lines(page, in_de, params)] == [
        "ShipmentEventList", "ServiceFeeEventList"]  # fmt: skip
    groups = {"payload": {"FinancialEventGroupList": [
        {"FinancialEventGroupId": "G1", "OriginalTotal": {"CurrencyCode": "USD"}},
        {"FinancialEventGroupId": "G2", "OriginalTotal": {"CurrencyCode": "EUR"}},
        {"FinancialEventGroupId": "G3"},  # no total: no currency, kept by every marketplace
    ]}}  # fmt: skip
    kept = OPERATIONS["listFinancialEventGroups"].items(groups, request, {})
    assert [g["FinancialEventGroupId"] for g in kept] == ["G1", "G3"]


def test_a_resumed_watchlist_request_asks_the_asins_it_chose_first(world, tmp_path) -> None:
    """The watched ASINs of a request are chosen once and kept in its ledger entry: after a
    crash, a watchlist that changed meanwhile does not change what the request asks about (its
    batches would no longer hold the same calls)."""
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    marketplace_id = MARKETPLACES[1]
    (request,) = [r for r in world["plan"].requests if r.dataset.name == "watchlist_offers"
                  and r.marketplace_ids == (marketplace_id,)]  # fmt: skip
    first = tmp_path / "first.csv"
    rival = next(
        r for r in world["seller"].rivals() if r.launch_date < END_DATE - timedelta(days=60)
    )
    first.write_text(
        f"marketplace_id,kind,value,brand,watch,note\n{marketplace_id},asin,{rival.asin},,true,\n"
    )
    load_reference(lake, "watchlist", first, seller=seller_id, clock=world["client"].clock)
    ingestor = SnapshotIngestor(world["client"], lake, seller_id)
    entry = ingestor._new_entry(request)
    assert ingestor._identifiers(request, entry) == [rival.asin]
    ingestor.ledger.move(entry, "requesting", "the run dies here")
    other = next(r for r in world["seller"].rivals() if r.asin != rival.asin)
    second = tmp_path / "second.csv"
    second.write_text(
        f"marketplace_id,kind,value,brand,watch,note\n{marketplace_id},asin,{other.asin},,true,\n"
    )
    load_reference(lake, "watchlist", second, seller=seller_id, clock=world["client"].clock)
    stats = SnapshotIngestor(world["client"], lake, seller_id).run([request])
    assert stats.landed == 1, stats.errors
    offers = items_of(lake, "watchlist_offers", marketplace_id)
    assert [o["request"]["Asin"] for o in offers] == [rival.asin]
    (landed,) = landed_manifests(lake, "watchlist_offers", marketplace_id)
    assert landed.request["identifiers"] == [rival.asin]
    assert landed.request["watched"] == [[rival.asin, "file", ""]]  # where it came from


def test_the_days_watched_asins_follow_its_searches_and_are_shared(world, tmp_path) -> None:
    """The watched ASINs of a day are chosen after its keyword searches landed (whatever order
    the datasets were named in; refused by name without them), once per marketplace: the
    three watchlist datasets ask about the same ASINs even if the watchlist changed between."""
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    market = MARKETPLACES[0]
    watching = tmp_path / "watchlist.csv"
    watching.write_bytes(watchlist_csv(world["seller"]))
    load_reference(lake, "watchlist", watching, seller=seller_id, clock=world["client"].clock)

    def planned(name):
        return [r for r in world["plan"].requests
                if r.dataset.name == name and r.marketplace_ids == (market,)]  # fmt: skip

    alone = ingest_snapshots(world["client"], lake, seller_id, planned("watchlist_offers"))
    assert alone.failed == 1 and "catalog_search has not landed them" in alone.errors[0]
    for key in list(lake.list("_state/ledger/")):
        lake.delete(key)
    requests = planned("watchlist_offers") + planned("catalog_search")  # the wrong order
    stats = ingest_snapshots(world["client"], lake, seller_id, requests)
    assert stats.failed == 0 and stats.landed == 2, stats.errors
    searched = {o["item"]["asin"] for o in items_of(lake, "catalog_search", market)}
    offered = [o["request"]["Asin"] for o in items_of(lake, "watchlist_offers", market)]
    assert searched - {p.asin for p in world["seller"].products()} <= set(offered)
    # A changed watchlist before the day's other watchlist datasets: the same ASINs.
    other = tmp_path / "other.csv"
    other.write_text(
        f"marketplace_id,kind,value,brand,watch,note\n{market},asin,B0OTHER001,,true,\n"
    )
    load_reference(lake, "watchlist", other, seller=seller_id, clock=world["client"].clock)
    stats = ingest_snapshots(world["client"], lake, seller_id, planned("watchlist_competitive"))
    assert stats.landed == 1, stats.errors
    summary = [s["body"]["asin"] for s in items_of(lake, "watchlist_competitive", market)]
    assert sorted(summary) == sorted(offered)


def test_a_search_kept_to_a_classification_lands_its_top_results_there(world, tmp_path) -> None:
    """A watchlist search with a classification and a number of results asks Amazon for them
    (classificationIds, pageSize) and lands exactly that many of the results in that
    classification, in the order the unnarrowed search ranks them, labelled with both."""
    lake, seller_id = _lake_with_listings(world, tmp_path / "lake"), world["seller_id"]
    market = MARKETPLACES[0]

    def classification(line: dict) -> str:
        return line["item"]["summaries"][0]["browseClassification"]["classificationId"]

    wide = sorted(items_of(world["lake"], "catalog_search", market),
                  key=lambda line: line["position"])  # fmt: skip
    by_pair: dict[tuple[str, str], list[str]] = {}
    for line in (line for line in wide if "[" not in line["search"]):  # an unnarrowed search
        by_pair.setdefault((line["search"], classification(line)), []).append(line["item"]["asin"])
    (label, node), asins = next((pair, a) for pair, a in by_pair.items() if len(a) >= 2)
    narrowed = tmp_path / "narrowed.csv"
    narrowed.write_text("marketplace_id,kind,value,brand,watch,note,classification,results\n"
                        f"{market},search,{label},,true,,{node},2\n")  # fmt: skip
    load_reference(lake, "watchlist", narrowed, seller=seller_id, clock=world["client"].clock)
    (request,) = [r for r in world["plan"].requests if r.dataset.name == "catalog_search"
                  and r.marketplace_ids == (market,)]  # fmt: skip
    stats = ingest_snapshots(world["client"], lake, seller_id, [request])
    assert stats.landed == 1, stats.errors
    landed = items_of(lake, "catalog_search", market)
    assert [line["search"] for line in landed] == [f"{label} [classification={node}] [top=2]"] * 2
    assert [line["item"]["asin"] for line in landed] == asins[:2]
    assert [line["position"] for line in landed] == [1, 2]
