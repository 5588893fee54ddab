"""The customer marts: aggregates only, never a customer's row.

- ``customer_behavior``: orders per Brand Analytics week, marketplace and ship-to state (from
  ``order_items``): basket size, B2B share, order value. The state is as fine as it gets: the
  city and postal code are personal data and never read here.
- ``repeat_customers``: Brand Analytics repeat purchase per week and ASIN, with the repeat
  customers rebuilt as a count so the share can be rebuilt at any grain.
- ``market_basket_pairs``: Brand Analytics market basket per week, ASIN and ASIN bought with
  it, with the orders holding both rebuilt as a count (from the ASIN's orders in the repeat
  purchase report) and whether the partner is one of the seller's own ASINs.

A count rebuilt from Amazon's rounded share (share x whole, rounded to a whole number) is exact
while the whole is below 5,000: Amazon gives shares to 4 decimals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_ratio, money_sum, ratio
from spapi_toolkit.lake.curate.marts.fx import with_reporting
from spapi_toolkit.lake.curate.marts.weekly import known_counts, own_asins, week_start

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

CANCELLED = "Cancelled"
UNKNOWN_STATE = "(unknown)"
WEEK = ("seller_id", "marketplace_id", "week_start")


def customer_behavior(items: DataFrame, fx_rates: DataFrame | None = None) -> DataFrame:
    """``customer_behavior`` from cleaned ``order_items``: per week of the local purchase day
    (``date``: its Sunday),
    marketplace, ship-to country and state (upper-cased; ``(unknown)`` when Amazon gives none).
    Cancelled items (order or item status) are left out: a basket is what was bought; pending
    items count (their price comes later). Money converts per purchase day (``fx``), then sums.
    An order ships to one address, so orders add up across states."""
    from pyspark.sql import functions as F

    cancelled = F.coalesce(
        (F.col("order_status") == CANCELLED) | (F.col("item_status") == CANCELLED), F.lit(False)
    )
    kept = (
        items.where(~cancelled)
        .withColumn("date", F.col("purchase_date"))
        .withColumn("week_start", week_start("purchase_date"))
        .withColumn("ship_country", F.coalesce(F.upper(F.trim("ship_country")), F.lit("")))
        .withColumn("ship_state", F.coalesce(F.upper(F.trim("ship_state")), F.lit(UNKNOWN_STATE)))
        .withColumn(
            "ship_state",
            F.when(F.col("ship_state") == "", UNKNOWN_STATE).otherwise(F.col("ship_state")),
        )
        .withColumn("_quantity", F.coalesce("quantity", F.lit(0)))
        .withColumn("_b2b", F.coalesce("is_business_order", F.lit(False)))
    )
    converted = with_reporting(kept, fx_rates, ["item_price"])
    per_order = converted.groupBy(*WEEK, "ship_country", "ship_state", "amazon_order_id").agg(
        F.count(F.lit(1)).alias("_items"),
        F.sum("_quantity").alias("_units"),
        F.max("_b2b").alias("_b2b"),
        F.max("currency").alias("currency"),
        F.max("reporting_currency").alias("reporting_currency"),
        money_sum("item_price").alias("_revenue"),
        money_sum("item_price_reporting").alias("_revenue_reporting"),
        F.max(F.col("currency").isNotNull() & F.col("fx_rate").isNull()).alias("_unconverted"),
    )
    summed = per_order.groupBy(*WEEK, "ship_country", "ship_state").agg(
        F.max("currency").alias("currency"),
        F.max("reporting_currency").alias("reporting_currency"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("_items").alias("order_items"),
        F.sum("_units").alias("units"),
        F.sum(F.when(F.col("_units") > 1, 1).otherwise(0)).alias("multi_unit_orders"),
        F.sum(F.when(F.col("_b2b"), 1).otherwise(0)).alias("business_orders"),
        F.sum(F.when(F.col("_b2b"), F.col("_units")).otherwise(0)).alias("business_units"),
        money_sum("_revenue").alias("item_revenue"),
        money_sum("_revenue_reporting").alias("item_revenue_reporting"),
        F.sum(F.when(F.col("_unconverted"), 1).otherwise(0)).alias("orders_without_fx_rate"),
    )
    return (
        summed.withColumnRenamed("week_start", "date")
        .withColumn("units_per_order", ratio("units", "orders"))
        .withColumn("items_per_order", ratio("order_items", "orders"))
        .withColumn("multi_unit_order_share", ratio("multi_unit_orders", "orders"))
        .withColumn("b2b_order_share", ratio("business_orders", "orders"))
        .withColumn("b2b_unit_share", ratio("business_units", "units"))
        .withColumn("average_order_value", money_ratio("item_revenue", "orders"))
        .withColumn(
            "average_order_value_reporting", money_ratio("item_revenue_reporting", "orders")
        )
    )


RATE_DAY = "_rate_day"


def _week_end(frame: DataFrame) -> DataFrame:
    """``_rate_day``: the week's last day (Saturday), the day a week's money converts on."""
    from pyspark.sql import functions as F

    return frame.withColumn(RATE_DAY, F.date_add("week_start", 6))


def repeat_customers(repeat: DataFrame, fx_rates: DataFrame | None = None) -> DataFrame:
    """``repeat_customers`` from cleaned ``repeat_purchase``: one row per week and ASIN, the
    repeat customers rebuilt as a count (share x unique customers, rounded) and the share
    rebuilt from it; the week's revenue converts at the rate for its Saturday."""
    from pyspark.sql import functions as F

    rows = _week_end(repeat.withColumn("week_start", F.col("start_date"))).withColumn(
        "repeat_customers",
        F.round(F.col("repeat_customers_share") * F.col("unique_customers")).cast("bigint"),
    )
    converted = with_reporting(rows, fx_rates, ["repeat_purchase_revenue"], day=RATE_DAY)
    return (
        converted.drop(RATE_DAY)
        .withColumnRenamed("week_start", "date")
        .withColumn("repeat_customer_share", ratio("repeat_customers", "unique_customers"))
    )


def market_basket_pairs(
    basket: DataFrame,
    repeat_purchase: DataFrame | None = None,
    sales_traffic_by_asin: DataFrame | None = None,
    listings: DataFrame | None = None,
    kiosk_sales_traffic: DataFrame | None = None,
) -> DataFrame:
    """``market_basket_pairs`` from cleaned ``market_basket``: one row per week, ASIN and ASIN
    bought with it. ``asin_orders`` (orders holding the ASIN) comes from the same week's repeat
    purchase report; ``combination_orders`` = combination share x asin_orders, rounded, and
    the share rebuilt from the two (null without the repeat purchase row)."""
    from pyspark.sql import functions as F

    rows = basket.withColumn("week_start", F.col("start_date"))
    if repeat_purchase is None:
        rows = rows.withColumn("asin_orders", F.lit(None).cast("bigint"))
    else:
        orders = repeat_purchase.select(
            *WEEK[:2],
            F.col("start_date").alias("week_start"),
            "asin",
            F.col("orders").alias("asin_orders"),
        )
        rows = rows.join(orders, on=[*WEEK, "asin"], how="left")
    own = own_asins(sales_traffic_by_asin, listings, kiosk_sales_traffic)
    if own is None:
        rows = rows.withColumn("purchased_with_own_asin", F.lit(None).cast("boolean"))
        rows = rows.withColumn("own_asins_known", F.lit(0).cast("bigint"))
    else:
        marked = own.select(
            *WEEK, F.col("asin").alias("purchased_with_asin"), F.lit(True).alias("_own")
        )
        counts = known_counts(own)
        assert counts is not None
        rows = (
            rows.join(marked, on=[*WEEK, "purchased_with_asin"], how="left")
            .join(counts, on=list(WEEK), how="left")
            .withColumn("own_asins_known", F.coalesce("own_asins_known", F.lit(0)))
            .withColumn(
                "purchased_with_own_asin",
                F.when(F.col("own_asins_known") > 0, F.coalesce("_own", F.lit(False))),
            )
        )
    counted = rows.withColumn(
        "combination_orders",
        F.round(F.col("combination_share") * F.col("asin_orders")).cast("bigint"),
    )
    return counted.withColumnRenamed("week_start", "date").withColumn(
        "combination_order_share", ratio("combination_orders", "asin_orders")
    )
