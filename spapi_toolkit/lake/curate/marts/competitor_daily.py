"""``competitor_daily``: each ASIN on each snapshot day, the seller's and the competitors' it
watches side by side (``ingest/watchlist.py`` chooses the watched ones).

The offers come from ``item_offers`` (both kinds: ``watched`` tells them apart, and
``watched_from`` says why a competitor is watched), the title,
brand and rank from ``catalog_items`` of the same day, and the keyword searches from
``catalog_search`` of the same day. A competitor's price is compared with ours where we sell
the same ASIN, else with our cheapest ASIN among those its searches also list: the price a
shopper comparing that search's results would see from us. Landed price = listing + shipping;
answers Amazon marks as failed (status other than Success) give no row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import own
from spapi_toolkit.lake.tables import MONEY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SUCCESS = "Success"
DAY = ["seller_id", "marketplace_id", "snapshot_date"]
KEY = [*DAY, "asin"]


def competitor_daily(
    offers: DataFrame, *, catalog_items: DataFrame, catalog_search: DataFrame
) -> DataFrame:
    """``competitor_daily`` from cleaned ``item_offers``, ``catalog_items`` and
    ``catalog_search`` (the module doc)."""
    from pyspark.sql import functions as F

    base = offers.where(F.coalesce(F.col("status") == SUCCESS, F.lit(True))).select(
        *KEY,
        own().alias("is_ours"),
        "watched_from",
        "watched_detail",
        "currency",
        "buy_box_landed_price",
        "buy_box_seller_id",
        F.least("lowest_fba_landed_price", "lowest_mfn_landed_price").alias("lowest_landed_price"),
        "total_offer_count",
        F.coalesce("fba_offer_count", F.lit(0)).alias("fba_offer_count"),
        F.coalesce("mfn_offer_count", F.lit(0)).alias("mfn_offer_count"),
        (F.col("our_listing_price") + F.coalesce("our_shipping_price", F.lit(0)))
        .cast(MONEY)
        .alias("our_landed_price"),
        F.when(
            own(), F.coalesce("we_win_buy_box", F.col("buy_box_seller_id") == F.col("seller_id"))
        ).alias("we_hold_buy_box"),
    )
    catalog = catalog_items.select(*KEY, "brand", "title", "sales_rank")
    results = catalog_search.select(*KEY, "search", "position")
    placed = results.groupBy(*KEY).agg(
        F.countDistinct("search").alias("searches"),
        F.min("position").alias("best_search_position"),
    )
    ours = base.where("is_ours").select(*KEY, "our_landed_price")
    cheapest_per_search = (
        results.join(ours, on=KEY)
        .groupBy(*DAY, "search")
        .agg(F.min("our_landed_price").alias("_search_price"))
    )
    in_our_searches = (
        results.join(cheapest_per_search, on=[*DAY, "search"])
        .groupBy(*KEY)
        .agg(F.min("_search_price").alias("_search_price"))
    )
    reference = F.coalesce("our_landed_price", "_search_price")
    return (
        base.join(catalog, on=KEY, how="left")
        .join(placed, on=KEY, how="left")
        .join(in_our_searches, on=KEY, how="left")
        .withColumnRenamed("snapshot_date", "date")
        .withColumn("searches", F.coalesce("searches", F.lit(0)))
        .withColumn("our_reference_price", reference.cast(MONEY))
        .withColumn(
            "price_gap_to_ours",
            (F.col("lowest_landed_price") - F.col("our_reference_price")).cast(MONEY),
        )
    )
