"""``orders_daily``: order items per marketplace-local purchase day, SKU and ASIN, with money in
the reporting currency too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_sum, ratio
from spapi_toolkit.lake.curate.marts.fx import with_reporting

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

CANCELLED = "Cancelled"
PENDING = "Pending"
MONEY_COLUMNS = ("item_revenue", "item_tax", "promotion_discount")


def orders_daily(items: DataFrame, fx_rates: DataFrame | None = None) -> DataFrame:
    """``orders_daily`` from cleaned ``order_items``: per marketplace, local purchase day, SKU
    and ASIN. Cancelled means the order's or the item's status is Cancelled; Pending orders
    count their units but have no price yet. ``fx_rates`` gives the reporting-currency money
    (``fx.with_reporting``; null without it)."""
    from pyspark.sql import functions as F

    cancelled = (F.col("order_status") == CANCELLED) | (F.col("item_status") == CANCELLED)
    cancelled = F.coalesce(cancelled, F.lit(False))
    quantity = F.coalesce(F.col("quantity"), F.lit(0))

    def units_where(condition: SparkColumn) -> SparkColumn:
        return F.sum(F.when(condition, quantity).otherwise(0))

    summed = (
        items.withColumnRenamed("purchase_date", "date")
        .groupBy("seller_id", "marketplace_id", "date", "sku", "asin")
        .agg(
            F.max("currency").alias("currency"),
            F.countDistinct("amazon_order_id").alias("orders"),
            F.count(F.lit(1)).alias("order_items"),
            F.sum(quantity).alias("units"),
            money_sum("item_price").alias("item_revenue"),
            money_sum("item_tax").alias("item_tax"),
            money_sum("item_promotion_discount").alias("promotion_discount"),
            units_where(F.col("order_status") == PENDING).alias("pending_units"),
            F.sum(F.when(cancelled, 1).otherwise(0)).alias("cancelled_items"),
            units_where(cancelled).alias("cancelled_units"),
            units_where(F.coalesce(F.col("is_business_order"), F.lit(False))).alias("units_b2b"),
            units_where(F.col("fulfillment_channel") == "Amazon").alias("fba_units"),
            units_where(F.col("fulfillment_channel") == "Merchant").alias("mfn_units"),
        )
    )
    shared = summed.withColumn("b2b_unit_share", ratio("units_b2b", "units"))
    return with_reporting(shared, fx_rates, MONEY_COLUMNS)
