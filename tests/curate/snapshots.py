"""Two weeks of API snapshots, Data Kiosk and Brand Analytics from the sandbox in US, DE and JP,
landed the way ``make demo`` does (``run_seller``) and curated, with the simulated seller's own
numbers kept beside them: what the snapshot curation tests and the snapshot marts' tests share
(the ``snapshots`` fixture of conftest.py builds it once per session)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..reconcile import DE, JP, US
from ..support import END_DATE
from .week import SELLER, TODAY, curate

# merchant_listings drives the snapshots (their ASINs and SKUs); it is curated too (listings).
DATASETS = ("merchant_listings,inventory_summaries,catalog_items,competitive_summary,item_offers,"
            "kiosk_sales_traffic,search_terms,repeat_purchase,market_basket")  # fmt: skip
TABLES = ["inventory_summaries", "catalog_items", "competitive_summary", "item_offers",
          "kiosk_sales_traffic", "search_terms", "repeat_purchase", "market_basket"]  # fmt: skip
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
        }
    results = curate(spark, lake, names=TABLES)
    tables = {name: spark.read.parquet(str(root / "cleaned" / name)).collect() for name in TABLES}
    return results, tables, truth
