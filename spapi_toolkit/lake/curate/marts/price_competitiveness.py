"""``price_competitiveness``: our offer on an ASIN on a snapshot day against the competition.

Landed price = listing price + shipping, the price a customer compares. Ours comes from our own
offer in ``item_offers`` (MyOffer); the lowest is the lower of Amazon's lowest FBA and lowest
seller-fulfilled landed prices; the Buy Box price is the Buy Box offer's landed price. Amazon's
Competitive Price Threshold is item_offers' own, else ``competitive_summary``'s of the same
snapshot day (getItemOffers often leaves it out; getCompetitiveSummary gives it as a reference
price): an offer priced above it is not made the featured (Buy Box) offer.

Gaps are money (our price minus theirs, local currency); price indexes are ratios of the two
prices, so a rollup over ASINs rebuilds a basket index from summed prices. Answers Amazon marks
as failed (status other than Success) carry no prices and give no row, and neither do the
competitors' ASINs the seller watches (``watched``): ``competitor_daily`` is theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import own, ratio
from spapi_toolkit.lake.tables import MONEY

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

SUCCESS = "Success"
KEY = ["seller_id", "marketplace_id", "snapshot_date", "asin"]


def _winner() -> SparkColumn:
    """Who has the Buy Box: us, another seller, nobody, or unknown (see the contract)."""
    from pyspark.sql import functions as F

    someone = F.col("buy_box_seller_id").isNotNull() | F.col("buy_box_landed_price").isNotNull()
    return (
        F.when(F.col("we_win_buy_box"), "us")
        .when(~F.col("we_win_buy_box") & someone, "other")
        .when(~someone, "none")
        .otherwise("unknown")
    )


def price_competitiveness(offers: DataFrame, *, competitive_summary: DataFrame) -> DataFrame:
    """``price_competitiveness`` from cleaned ``item_offers``, with the Competitive Price
    Threshold of the same day's ``competitive_summary`` where item_offers has none."""
    from pyspark.sql import functions as F

    answered = offers.where(F.coalesce(F.col("status") == SUCCESS, F.lit(True)) & own())
    summary = competitive_summary.where(
        F.coalesce(F.col("status_code") == 200, F.lit(True)) & own()
    ).select(
        *KEY,
        F.col("competitive_price_threshold").alias("_summary_threshold"),
        F.col("currency").alias("_summary_currency"),
    )
    our = F.col("our_landed_price")

    def money(column: SparkColumn) -> SparkColumn:
        return column.cast(MONEY)

    return (
        answered.join(summary, on=KEY, how="left")
        .withColumnRenamed("snapshot_date", "date")
        .withColumn("currency", F.coalesce("currency", "_summary_currency"))
        .withColumn(
            "our_landed_price",
            money(F.col("our_listing_price") + F.coalesce("our_shipping_price", F.lit(0))),
        )
        .withColumn(
            "lowest_landed_price", F.least("lowest_fba_landed_price", "lowest_mfn_landed_price")
        )
        .withColumn(
            "competitive_price_threshold",
            F.coalesce("competitive_price_threshold", "_summary_threshold"),
        )
        .withColumn("price_gap_to_lowest", money(our - F.col("lowest_landed_price")))
        .withColumn("price_gap_to_buy_box", money(our - F.col("buy_box_landed_price")))
        .withColumn("price_index_to_lowest", ratio(our, F.col("lowest_landed_price")))
        .withColumn("price_index_to_buy_box", ratio(our, F.col("buy_box_landed_price")))
        .withColumn("is_lowest_price", our <= F.col("lowest_landed_price"))
        .withColumn("above_competitive_price_threshold", our > F.col("competitive_price_threshold"))
        .withColumn("fba_offer_count", F.coalesce("fba_offer_count", F.lit(0)))
        .withColumn("mfn_offer_count", F.coalesce("mfn_offer_count", F.lit(0)))
        .withColumn(
            "we_win_buy_box",
            F.coalesce(F.col("we_win_buy_box"), F.col("buy_box_seller_id") == F.col("seller_id")),
        )
        .withColumn("buy_box_winner", _winner())
    )
