"""Two weeks of API snapshots, Data Kiosk and Brand Analytics from the sandbox in US, DE and JP,
landed the way ``make demo`` does (``run_seller``) and curated, with the simulated seller's own
numbers kept beside them: what the snapshot curation tests and the snapshot marts' tests share
(the ``snapshots`` fixture of conftest.py builds it once per session)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from spapi_sandbox.finances import event_groups, fee_truth
from spapi_sandbox.server import run_sandbox
from spapi_sandbox.unit_costs import unit_costs_csv
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.ingest.snapshots import read_jsonl
from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import is_manifest, raw_partition, raw_prefix
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.regions import marketplace

from ..reconcile import DE, JP, US
from ..support import END_DATE
from .week import SELLER, TODAY, curate

# merchant_listings drives the snapshots (their ASINs and SKUs); it is curated too (listings).
DATASETS = ("merchant_listings,inventory_summaries,catalog_items,competitive_summary,item_offers,"
            "kiosk_sales_traffic,search_terms,repeat_purchase,market_basket,orders_api,"
            "listings_items,financial_events,financial_event_groups")  # fmt: skip
TABLES = ["inventory_summaries", "catalog_items", "competitive_summary", "item_offers",
          "kiosk_sales_traffic", "search_terms", "repeat_purchase", "market_basket", "orders",
          "listings_items", "financial_events", "settlements"]  # fmt: skip
SERVED = ("orders_api", "listings_items", "item_offers")  # landed items the tests read back
FIRST, LAST = date(2026, 11, 2), date(2026, 11, 15)  # two Brand Analytics weeks, settled days
MARKETS = (US, DE, JP)


def build(spark, root: Path) -> tuple[dict, dict[str, list], dict[str, Any]]:
    """Land and curate the datasets into the lake at ``root``: the curation results by table,
    every curated table's rows, and the seller's own numbers."""
    lake = Lake.from_uri(str(root))
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env)
        run = run_seller(SellerRun(SELLER, client), lake, select(DATASETS), MARKETS,
                         FIRST, LAST, TODAY)  # fmt: skip
        assert not run.failures, run.failures
        seller = sandbox.app.seller
        truth = {
            "sales": seller.truth(FIRST, LAST),
            "inventory": {mp: seller.inventory(mp) for mp in MARKETS},
            "products": {p.asin: p for p in seller.products()},
            "brand_analytics": {
                (name, mp, week): getattr(seller, name)(mp, week, week + timedelta(days=6))
                for name in ("search_terms", "repeat_purchase", "market_basket")
                for mp in MARKETS
                for week in (date(2026, 11, 1), date(2026, 11, 8), date(2026, 11, 15))
            },
            # Every order item purchased from a month before the window to its end (orders
            # updated in the window were bought up to the refund lookback before it), by order.
            "order_items": _by_order(
                item
                for mp in MARKETS
                for item in seller.order_items(
                    mp, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)
                )
            ),
            "served": {name: served(lake, name) for name in SERVED},
            "unit_costs": unit_costs_csv(seller),
            "groups": event_groups(
                seller,
                datetime.combine(FIRST, time.min, UTC),
                datetime.combine(LAST, time.max, UTC),
                sandbox.app.clock.datetime(),
            ),
            "fees": {
                key: parts
                for mp in MARKETS
                for key, parts in fee_truth(seller, [mp], *local_days(mp)).items()
            },
        }
    results = curate(spark, lake, names=TABLES)
    tables = {name: spark.read.parquet(str(root / "cleaned" / name)).collect() for name in TABLES}
    return results, tables, truth


def local_days(marketplace_id: str) -> tuple[datetime, datetime]:
    """FIRST..LAST as the instants of the marketplace's local days (its requests' window)."""
    zone = ZoneInfo(marketplace(marketplace_id).timezone)
    return (datetime.combine(FIRST, time.min, tzinfo=zone),
            datetime.combine(LAST, time.max, tzinfo=zone))  # fmt: skip


def served(lake: Lake, name: str) -> list[tuple[str, str, dict]]:
    """What the sandbox served for dataset ``name``, as landed: (marketplace, dt, item) for
    every line of every landed document."""
    found = []
    for key in sorted(lake.list(raw_prefix(name))):
        if is_manifest(key):
            manifest = Manifest.from_json(lake.read_bytes(key))
            part = raw_partition(manifest.key)
            for item in read_jsonl(lake, manifest.key):
                found.append((part["marketplace_id"], part["dt"], item))
    return found


def _by_order(items) -> dict[str, list]:
    orders: dict[str, list] = {}
    for item in items:
        orders.setdefault(item.amazon_order_id, []).append(item)
    return orders
