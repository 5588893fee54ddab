"""``sales_daily``: Sales & Traffic by child ASIN per marketplace-local day, ratios rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_ratio, money_sum, ratio

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame


def _sales_ratios(frame: DataFrame) -> DataFrame:
    return (
        frame.withColumn("buy_box_share", ratio("buy_box_page_views", "page_views"))
        .withColumn("unit_session_rate", ratio("units_ordered", "sessions"))
        .withColumn("average_selling_price", money_ratio("ordered_product_sales", "units_ordered"))
    )


def _sales_sums() -> list[SparkColumn]:
    from pyspark.sql import functions as F

    counts = ["units_ordered", "units_ordered_b2b", "total_order_items", "total_order_items_b2b",
              "sessions", "page_views"]  # fmt: skip
    return [
        F.max("currency").alias("currency"),
        *(F.sum(c).alias(c) for c in counts),
        money_sum("ordered_product_sales").alias("ordered_product_sales"),
        money_sum("ordered_product_sales_b2b").alias("ordered_product_sales_b2b"),
        F.sum("buy_box_page_views").alias("buy_box_page_views"),
    ]


def sales_daily(by_asin: DataFrame) -> DataFrame:
    """``sales_daily`` from cleaned ``sales_traffic_by_asin``: summed per marketplace, day and
    child ASIN; Amazon's own buy_box_share is only used to recover the Buy Box page views (its
    weight), and its unit_session_rate is not used at all: the mart rebuilds both."""
    from pyspark.sql import functions as F

    weighted = by_asin.withColumn(
        "buy_box_page_views", F.col("buy_box_share") * F.col("page_views")
    )
    summed = weighted.groupBy("seller_id", "marketplace_id", "date", "child_asin").agg(
        F.max("parent_asin").alias("parent_asin"), *_sales_sums()
    )
    return _sales_ratios(summed)


def rollup(sales: DataFrame, by: Sequence[str]) -> DataFrame:
    """``sales_daily`` rows summed to the coarser grain ``by`` (e.g. marketplace and date, or
    parent ASIN), with every ratio rebuilt from the summed parts."""
    return _sales_ratios(sales.groupBy(*by).agg(*_sales_sums()))
