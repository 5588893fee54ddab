"""``inventory_health``: FBA stock of a SKU on a snapshot day against the SKU's sales.

The terms (the contract's column docs say the same, per column):

- The snapshot day D is the UTC day ``inventory_summaries`` was pulled. The sales windows are the
  complete marketplace-local purchase days before it, D-30..D-1 and D-90..D-1: orders of D
  itself are left out, the day had not ended when the stock was counted.
- Units ordered are the SKU's order items fulfilled by Amazon (a seller-fulfilled order does not
  draw on FBA stock), cancelled items left out.
- A stock-out day is a day of D-30..D-1 whose snapshot of the SKU shows no fulfillable units. A
  day without a snapshot is unknown and counts as in stock: snapshots exist only for the days
  they were pulled, and treating a missing day as a stock-out would inflate the velocity.
- Sales velocity = units ordered in D-30..D-1 / in-stock days of D-30..D-1 (30 - stock-out
  days); days of supply = fulfillable units / velocity, and with inbound units added.
- Sell-through over a window = units ordered / (units ordered + units on hand at D), where on
  hand = fulfillable + reserved - pending customer orders (reserved units already sold are not
  stock any more).
- Stock-out risk: ``out_of_stock`` (no fulfillable units), ``no_sales`` (no units in the 30
  days), ``unknown`` (no velocity: every day stocked out), ``high`` (fulfillable and inbound
  last less than ``HIGH_RISK_DAYS``), ``medium`` (fulfillable alone last less than
  ``MEDIUM_RISK_DAYS``), ``low`` otherwise.

Every snapshot day of the history gets rows; the aggregate job keeps those of the partitions it
rebuilds, whose windows its ``reads`` (30 days of snapshots, 90 of orders) cover whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import ratio
from spapi_toolkit.lake.curate.marts.orders_daily import CANCELLED

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

VELOCITY_DAYS = 30  # the velocity and the short sell-through window
LONG_DAYS = 90  # the long sell-through window
HIGH_RISK_DAYS = 14  # fulfillable + inbound last less: high risk
MEDIUM_RISK_DAYS = 30  # fulfillable alone last less: medium risk
MERCHANT = "Merchant"
SKU = ["seller_id", "marketplace_id", "sku"]


def _stock(summaries: DataFrame) -> DataFrame:
    """The snapshot rows as the mart's stock columns, one per seller, marketplace, day and SKU."""
    from pyspark.sql import functions as F

    def count(name: str) -> SparkColumn:
        return F.coalesce(F.col(name), F.lit(0))

    inbound = (
        count("inbound_working_quantity")
        + count("inbound_shipped_quantity")
        + count("inbound_receiving_quantity")
    )
    on_hand = (
        F.col("fulfillable_quantity")
        + count("reserved_quantity")
        - count("pending_customer_order_quantity")
    )
    return summaries.select(
        "seller_id",
        "marketplace_id",
        F.col("snapshot_date").alias("date"),
        F.col("seller_sku").alias("sku"),
        "asin",
        "fnsku",
        "fulfillable_quantity",
        inbound.alias("inbound_quantity"),
        "inbound_working_quantity",
        "inbound_shipped_quantity",
        "inbound_receiving_quantity",
        "reserved_quantity",
        "pending_customer_order_quantity",
        "unfulfillable_quantity",
        on_hand.alias("units_on_hand"),
    )


def _stockouts(stock: DataFrame) -> DataFrame:
    """Per SKU and snapshot day D: the snapshots of D-30..D-1 and how many show no stock."""
    from pyspark.sql import functions as F

    days = stock.select(*SKU, "date")
    seen = stock.where(F.col("fulfillable_quantity").isNotNull()).select(
        *SKU, F.col("date").alias("seen"), "fulfillable_quantity"
    )
    window = (F.col("seen") >= F.date_sub("date", VELOCITY_DAYS)) & (F.col("seen") < F.col("date"))
    joined = days.join(seen, on=SKU, how="inner").where(window)
    return joined.groupBy(*SKU, "date").agg(
        F.count(F.lit(1)).alias("snapshot_days_30d"),
        F.sum(F.when(F.col("fulfillable_quantity") == 0, 1).otherwise(0)).alias(
            "stockout_days_30d"
        ),
    )


def _sales(stock: DataFrame, items: DataFrame) -> DataFrame:
    """Per SKU and snapshot day D: FBA units ordered in D-30..D-1 and D-90..D-1."""
    from pyspark.sql import functions as F

    cancelled = (F.col("order_status") == CANCELLED) | (F.col("item_status") == CANCELLED)
    fba = F.coalesce(F.col("fulfillment_channel"), F.lit("")) != MERCHANT
    daily = (
        items.where(~F.coalesce(cancelled, F.lit(False)) & fba)
        .groupBy("seller_id", "marketplace_id", "sku", F.col("purchase_date").alias("day"))
        .agg(F.sum(F.coalesce(F.col("quantity"), F.lit(0))).alias("units"))
    )
    days = stock.select(*SKU, "date")
    joined = days.join(daily, on=SKU, how="inner").where(
        (F.col("day") >= F.date_sub("date", LONG_DAYS)) & (F.col("day") < F.col("date"))
    )
    recent = F.col("day") >= F.date_sub("date", VELOCITY_DAYS)
    return joined.groupBy(*SKU, "date").agg(
        F.sum(F.when(recent, F.col("units")).otherwise(0)).alias("units_ordered_30d"),
        F.sum("units").alias("units_ordered_90d"),
    )


def _risk() -> SparkColumn:
    from pyspark.sql import functions as F

    return (
        F.when(F.col("fulfillable_quantity").isNull(), "unknown")
        .when(F.col("fulfillable_quantity") == 0, "out_of_stock")
        .when(F.col("units_ordered_30d") == 0, "no_sales")
        .when(F.col("sales_velocity").isNull(), "unknown")
        .when(F.col("days_of_supply_with_inbound") < HIGH_RISK_DAYS, "high")
        .when(F.col("days_of_supply") < MEDIUM_RISK_DAYS, "medium")
        .otherwise("low")
    )


def inventory_health(summaries: DataFrame, *, order_items: DataFrame) -> DataFrame:
    """``inventory_health`` from the windowed history of cleaned ``inventory_summaries`` (every
    snapshot day gets rows) and cleaned ``order_items`` (the module doc defines the terms)."""
    from pyspark.sql import functions as F

    stock = _stock(summaries)
    zero = F.lit(0)
    health = (
        stock.join(_stockouts(stock), on=[*SKU, "date"], how="left")
        .join(_sales(stock, order_items), on=[*SKU, "date"], how="left")
        .withColumn("snapshot_days_30d", F.coalesce("snapshot_days_30d", zero))
        .withColumn("stockout_days_30d", F.coalesce("stockout_days_30d", zero))
        .withColumn("units_ordered_30d", F.coalesce("units_ordered_30d", zero))
        .withColumn("units_ordered_90d", F.coalesce("units_ordered_90d", zero))
        .withColumn("in_stock_days_30d", VELOCITY_DAYS - F.col("stockout_days_30d"))
        .withColumn("sales_velocity", ratio("units_ordered_30d", "in_stock_days_30d"))
        .withColumn("days_of_supply", ratio("fulfillable_quantity", "sales_velocity"))
        .withColumn(
            "days_of_supply_with_inbound",
            ratio(F.col("fulfillable_quantity") + F.col("inbound_quantity"), "sales_velocity"),
        )
    )
    for days in (VELOCITY_DAYS, LONG_DAYS):
        units = F.col(f"units_ordered_{days}d")
        health = health.withColumn(
            f"sell_through_{days}d", ratio(units, units + F.col("units_on_hand"))
        )
    return health.withColumn("stock_out_risk", _risk())
