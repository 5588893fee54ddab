"""``product_performance``: a child ASIN's month in a marketplace: funnel, revenue rank, ABC
class and sales-rank trend.

- Funnel: sessions -> page views -> units ordered, summed over the month's Sales & Traffic days
  (each day from the report, else from Data Kiosk's one-day window: ``daily_sales``), with the
  step rates rebuilt from the sums (never averages of Amazon's daily rates).
- Revenue rank: by ordered product sales within seller, marketplace and month, 1 = highest,
  equal sales sharing a rank.
- ABC (Pareto) class: ASINs in revenue order (highest first, ties by ASIN); an ASIN is A while
  the revenue share of the ASINs before it is below ``A_SHARE`` (0.80: the ASINs that make the
  first 80 % of revenue, the one crossing 80 % included), B below ``B_SHARE`` (0.95: the next
  15 %), C otherwise; an ASIN without sales is always C. The comparison is done on the exact
  decimal sums, so a share of exactly 0.80 before an ASIN makes it B.
- Sales-rank trend: the ``catalog_items`` snapshots of the month with a Best Sellers Rank: first,
  last, best, and the change last - first (null when the two ranks are in different display
  groups, which are not comparable).

ASINs with a catalog snapshot in the month but no Sales & Traffic row get zero counts (a listed
product that drew no traffic is part of the picture, class C). A marketplace-month without any
Sales & Traffic row gives no rows, as the aggregate job builds only partitions of its
``from_table``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_ratio, money_sum, own, ratio
from spapi_toolkit.lake.curate.marts.daily_sales import daily_sales
from spapi_toolkit.lake.tables import MONEY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

A_SHARE = Decimal("0.80")
B_SHARE = Decimal("0.95")
MONTH = ["seller_id", "marketplace_id", "date"]
COUNTS = ["sessions", "page_views", "units_ordered", "total_order_items"]


def _funnel(by_asin: DataFrame) -> DataFrame:
    """Sales & Traffic rows summed per seller, marketplace, month and child ASIN."""
    from pyspark.sql import functions as F

    monthly = by_asin.withColumn("date", F.trunc("date", "month").cast("date")).withColumn(
        "buy_box_page_views", F.col("buy_box_share") * F.col("page_views")
    )
    return monthly.groupBy(*MONTH, "child_asin").agg(
        F.max("parent_asin").alias("parent_asin"),
        *(F.sum(c).alias(c) for c in COUNTS),
        money_sum("ordered_product_sales").alias("ordered_product_sales"),
        F.sum("buy_box_page_views").alias("buy_box_page_views"),
    )


def _months(by_asin: DataFrame) -> DataFrame:
    """Per seller, marketplace and month: the days with Sales & Traffic rows and the currency."""
    from pyspark.sql import functions as F

    return by_asin.groupBy(
        "seller_id", "marketplace_id", F.trunc("date", "month").cast("date").alias("date")
    ).agg(
        F.countDistinct("date").alias("report_days"),
        F.max("currency").alias("currency"),
    )


def _ranks(catalog: DataFrame) -> DataFrame:
    """Per seller, marketplace, month and ASIN: the sales-rank trend of its catalog snapshots
    (the seller's own ASINs: the competitors it watches are ``competitor_daily``'s)."""
    from pyspark.sql import functions as F

    ranked = F.col("sales_rank").isNotNull()
    snapshot = F.when(ranked, F.struct("snapshot_date", "sales_rank", "sales_rank_group"))
    trend = (
        catalog.where(own())
        .withColumn("date", F.trunc("snapshot_date", "month").cast("date"))
        .groupBy(*MONTH, F.col("asin").alias("child_asin"))
        .agg(
            F.max("parent_asin").alias("_catalog_parent"),
            F.sum(F.when(ranked, 1).otherwise(0)).alias("sales_rank_snapshots"),
            F.min(snapshot).alias("_first"),
            F.max(snapshot).alias("_last"),
            F.min("sales_rank").alias("sales_rank_best"),
        )
    )
    same_group = F.col("_first.sales_rank_group").eqNullSafe(F.col("_last.sales_rank_group"))
    return (
        trend.withColumn("sales_rank_first", F.col("_first.sales_rank"))
        .withColumn("sales_rank_last", F.col("_last.sales_rank"))
        .withColumn("sales_rank_group", F.col("_last.sales_rank_group"))
        .withColumn(
            "sales_rank_change",
            F.when(same_group, F.col("sales_rank_last") - F.col("sales_rank_first")),
        )
        .drop("_first", "_last")
    )


def _pareto(frame: DataFrame) -> DataFrame:
    """Revenue shares, rank and ABC class within seller, marketplace and month."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    sales = F.col("ordered_product_sales")
    month = Window.partitionBy(*MONTH)
    ordered = month.orderBy(sales.desc(), F.col("child_asin"))
    running = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    before = F.col("cumulative_sales") - sales  # revenue of the ASINs ranked before this one
    total = F.col("marketplace_sales")
    return (
        frame.withColumn("marketplace_sales", F.sum(sales).over(month).cast(MONEY))
        .withColumn("cumulative_sales", F.sum(sales).over(running).cast(MONEY))
        .withColumn("revenue_share", ratio(sales, total))
        .withColumn("cumulative_revenue_share", ratio("cumulative_sales", total))
        .withColumn("revenue_rank", F.rank().over(month.orderBy(sales.desc())))
        .withColumn(
            "abc_class",
            F.when((sales > 0) & (before < total * F.lit(A_SHARE)), "A")
            .when((sales > 0) & (before < total * F.lit(B_SHARE)), "B")
            .otherwise("C"),
        )
    )


def product_performance(
    by_asin: DataFrame,
    *,
    catalog_items: DataFrame,
    kiosk_sales_traffic: DataFrame | None = None,
) -> DataFrame:
    """``product_performance`` from cleaned ``sales_traffic_by_asin`` (and
    ``kiosk_sales_traffic`` on the days the report does not hold) and the same months'
    ``catalog_items`` snapshots (the module doc defines the terms)."""
    from pyspark.sql import functions as F

    keys = [*MONTH, "child_asin"]
    days = daily_sales(by_asin, kiosk_sales_traffic)
    joined = (
        _funnel(days)
        .join(_ranks(catalog_items), on=keys, how="full_outer")
        .join(_months(days), on=MONTH, how="inner")  # months with Sales & Traffic rows only
        .withColumn("parent_asin", F.coalesce("parent_asin", "_catalog_parent"))
        .withColumn(
            "ordered_product_sales", F.coalesce("ordered_product_sales", F.lit(0).cast(MONEY))
        )
        .withColumn("buy_box_page_views", F.coalesce("buy_box_page_views", F.lit(0.0)))
        .withColumn("sales_rank_snapshots", F.coalesce("sales_rank_snapshots", F.lit(0)))
    )
    for column in COUNTS:
        joined = joined.withColumn(column, F.coalesce(column, F.lit(0)))
    return (
        _pareto(joined)
        .withColumn("period_end", F.last_day("date"))
        .withColumn("page_views_per_session", ratio("page_views", "sessions"))
        .withColumn("unit_session_rate", ratio("units_ordered", "sessions"))
        .withColumn("unit_page_view_rate", ratio("units_ordered", "page_views"))
        .withColumn("buy_box_share", ratio("buy_box_page_views", "page_views"))
        .withColumn("average_selling_price", money_ratio("ordered_product_sales", "units_ordered"))
    )
