"""``search_terms_weekly``: per Brand Analytics week and search term, how the seller's ASINs
fare among the term's top clicked ASINs, and which competitors take the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import ratio
from spapi_toolkit.lake.curate.marts.weekly import known_counts, own_asins

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

KEY = ("seller_id", "marketplace_id", "week_start", "department_name", "search_term")


def search_terms_weekly(
    terms: DataFrame,
    sales_traffic_by_asin: DataFrame | None = None,
    listings: DataFrame | None = None,
    kiosk_sales_traffic: DataFrame | None = None,
) -> DataFrame:
    """``search_terms_weekly`` from cleaned ``search_terms`` (one row per term and clicked ASIN);
    its ``date`` is the week's Sunday.

    Amazon's click and conversion shares are each ASIN's share of the term's clicks (and
    conversions) in the department, so the shares of several ASINs of one term add up: ours and
    the competitors' are sums. They do not add across terms or weeks (Amazon gives no click
    counts). An ASIN is ours when the week's own ASINs name it (``weekly.own_asins``); without
    any own ASIN known for the week, the split columns are null."""
    from pyspark.sql import functions as F

    own = own_asins(sales_traffic_by_asin, listings, kiosk_sales_traffic)
    rows = terms
    if own is None:
        rows = rows.withColumn("_ours", F.lit(None).cast("boolean"))
        rows = rows.withColumn("own_asins_known", F.lit(0).cast("bigint"))
    else:
        marked = own.select(
            "seller_id",
            "marketplace_id",
            "week_start",
            F.col("asin").alias("clicked_asin"),
            F.lit(True).alias("_own"),
        )
        counts = known_counts(own)
        assert counts is not None
        rows = (
            rows.join(
                marked, on=["seller_id", "marketplace_id", "week_start", "clicked_asin"], how="left"
            )
            .join(counts, on=["seller_id", "marketplace_id", "week_start"], how="left")
            .withColumn("own_asins_known", F.coalesce("own_asins_known", F.lit(0)))
            .withColumn(
                "_ours",
                F.when(F.col("own_asins_known") > 0, F.coalesce("_own", F.lit(False))),
            )
        )
    ours, theirs = F.col("_ours"), ~F.col("_ours")

    def share(column: str, where: SparkColumn) -> SparkColumn:
        """The summed share of the rows ``where`` holds (null while ours is unknown)."""
        summed = F.sum(F.when(where, F.col(column)).otherwise(0.0))
        return F.when(F.max("own_asins_known") > 0, summed)

    def count(where: SparkColumn) -> SparkColumn:
        return F.when(F.max("own_asins_known") > 0, F.sum(F.when(where, 1).otherwise(0)))

    def asins(where: SparkColumn) -> SparkColumn:
        """The ASINs ``where`` holds, by click share rank, comma-joined."""
        ranked = F.sort_array(
            F.collect_list(F.when(where, F.struct("click_share_rank", "clicked_asin")))
        )
        listed = F.concat_ws(",", F.transform(ranked, lambda s: s.getField("clicked_asin")))
        return F.when(F.max("own_asins_known") > 0, listed)

    summed = rows.groupBy(*KEY).agg(
        F.min("search_frequency_rank").alias("search_frequency_rank"),
        F.count(F.lit(1)).alias("clicked_asins"),
        count(ours).alias("our_clicked_asins"),
        count(theirs).alias("competitor_clicked_asins"),
        F.sum("click_share").alias("top_click_share"),
        share("click_share", ours).alias("our_click_share"),
        share("click_share", theirs).alias("competitor_click_share"),
        F.sum("conversion_share").alias("top_conversion_share"),
        share("conversion_share", ours).alias("our_conversion_share"),
        share("conversion_share", theirs).alias("competitor_conversion_share"),
        F.min(F.when(ours, F.col("click_share_rank"))).alias("our_best_click_share_rank"),
        asins(ours).alias("our_asins"),
        asins(theirs).alias("competitor_asins"),
        F.max("own_asins_known").alias("own_asins_known"),
    )
    return (
        summed.withColumnRenamed("week_start", "date")
        .withColumn("our_share_of_top_clicks", ratio("our_click_share", "top_click_share"))
        .withColumn(
            "our_share_of_top_conversions", ratio("our_conversion_share", "top_conversion_share")
        )
    )
