"""Three days of competitor snapshots from the sandbox in the US and Germany, landed as the daily
schedule lands them (a sandbox started on each day's morning) and curated into the cleaned tables
and ``competitor_daily``, with the simulated seller's own answers kept beside them: what
``test_competitors.py`` compares (the ``competitors`` fixture of conftest.py builds it once).

The seller's watchlist file watches one rival ASIN in Germany and a keyword search in each
marketplace; Brand Analytics' search terms of the week before add the rivals clicked beside
the seller's ASINs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from spapi_sandbox.seller import SimulatedSeller, local_day, local_noun
from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated
from spapi_toolkit.lake.reference import load_reference
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..reconcile import DE, US
from ..support import END_DATE
from .week import CLOCK, SELLER, curate

DAYS = (date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30))  # snapshot days (UTC)
MARKETS = (US, DE)
FIRST_RUN = "merchant_listings,search_terms"  # the seller's ASINs, and Brand Analytics' week
DAILY = ("catalog_search,watchlist_catalog,watchlist_offers,watchlist_competitive,item_offers,"
         "catalog_items")  # fmt: skip
# What competitor_daily and the tests read (the other tables these datasets feed are curated
# like any other: their own tests cover them).
TABLES = ["search_terms", "catalog_search", "catalog_items", "item_offers"]
SCALE = 600  # ten simulated minutes per real second: a day's snapshots stay on its local day


def searches(seller: SimulatedSeller) -> dict[str, str]:
    """A keyword per marketplace that finds some of our ASINs and some rivals': the first rival's
    noun family, in the marketplace's language."""
    noun = seller.rivals()[0].noun
    return {market: local_noun(noun, market) for market in MARKETS}


def build(spark, root: Path) -> dict[str, Any]:
    """Land and curate the days into the lake at ``root``; the curated rows and the truth."""
    lake = Lake.from_uri(str(root))
    truth: dict[str, Any] = {"rivals": {}, "search": {}, "local_day": {}}
    for number, day in enumerate(DAYS):
        start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6)
        if number == 0:  # the reports first, on a fast clock (their queues take hours)
            with run_sandbox(end_date=END_DATE, scale=3600, start=start) as sandbox:
                seller = sandbox.app.seller
                keywords = searches(seller)
                known = next(
                    r for r in seller.rivals() if r.launch_date < END_DATE - timedelta(days=60)
                )
                _watchlist(lake, root, keywords, known.asin)
                run = run_seller(SellerRun(SELLER, SpApiClient.from_env(env=sandbox.env)), lake,
                                 select(FIRST_RUN), MARKETS, day - timedelta(days=13),
                                 day - timedelta(days=1), day)  # fmt: skip
                assert not run.failures, run.failures
                truth.update(keywords=keywords, watched_rival=known.asin,
                             own={p.asin for p in seller.products()})  # fmt: skip
        with run_sandbox(end_date=END_DATE, scale=SCALE, start=start) as sandbox:
            client = SpApiClient.from_env(env=sandbox.env)
            seller = sandbox.app.seller
            pulled = sandbox.app.clock.datetime()
            run = run_seller(SellerRun(SELLER, client), lake, select(DAILY), MARKETS,
                             day - timedelta(days=1), day - timedelta(days=1), day)  # fmt: skip
            assert not run.failures, run.failures
            for market in MARKETS:  # the run stayed on one local day in each marketplace
                assert local_day(market, sandbox.app.clock.datetime()) == local_day(market, pulled)
                local = local_day(market, pulled)
                truth["local_day"][(market, day)] = local
                truth["rivals"][(market, day)] = seller.competitor_truth(market, local)
                keyword = truth["keywords"][market]
                truth["search"][(market, day)] = seller.search_results(market, local, [keyword],
                                                                       top=10)  # fmt: skip
    results = curate(spark, lake, names=TABLES)
    marts = {m.mart: m for m in cleaned_to_aggregated(spark, lake, ["competitor_daily"],
                                                       clock=CLOCK)}  # fmt: skip
    rows = {name: spark.read.parquet(str(root / "cleaned" / name)).collect()
            for name in TABLES if (root / "cleaned" / name).exists()}  # fmt: skip
    rows["competitor_daily"] = spark.read.parquet(
        str(root / "aggregated" / "competitor_daily")
    ).collect()
    return {"lake": lake, "results": results, "marts": marts, "rows": rows, "truth": truth}


def _watchlist(lake: Lake, root: Path, keywords: dict[str, str], rival: str) -> None:
    path = root.parent / f"{root.name}-watchlist.csv"
    lines = ["marketplace_id,kind,value,brand,watch,note",
             f"{DE},asin,{rival},,true,the rival we know"]  # fmt: skip
    lines += [f"{market},search,{keyword},,true," for market, keyword in keywords.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_reference(lake, "watchlist", path, seller=SELLER, clock=CLOCK)
