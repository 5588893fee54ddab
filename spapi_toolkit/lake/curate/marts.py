"""The marts' transforms: cleaned DataFrames into aggregated ones (contracts: ``lake/marts.py``).

Pure DataFrame-to-DataFrame functions, the same on Glue and locally. The rules of issue 8:

- A ratio is rebuilt from its summed parts, never averaged: unit session rate = units ÷
  sessions, Buy Box share = Buy Box page views ÷ page views (weighted by page views), B2B unit
  share = B2B units ÷ units, average selling price = sales ÷ units. A zero denominator gives
  null, not zero or infinity. The parts are mart columns too, so ``rollup`` (or a notebook) can
  rebuild the ratios at any coarser grain.
- Money stays in the marketplace's local currency (``currency``); a reporting currency needs a
  daily FX table and is not built yet.
- A row's ``date`` follows its mart's declared ``day_boundary``: both marts use the
  marketplace-local calendar day (Sales & Traffic's request day; the orders' local purchase day,
  ``order_items.purchase_date``), never the UTC date of a timestamp.

``conform`` gives a transform's result the mart's columns, order and types, so a contract and
its transform cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from spapi_toolkit.lake.marts import Mart
from spapi_toolkit.lake.tables import MONEY, STORED_TYPES

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

RECONCILIATION = ("seller_id", "marketplace_id", "date", "asin", "orders_units", "sales_units",
                  "units_difference", "orders_revenue", "sales_revenue", "revenue_difference",
                  "pending_units", "cancelled_items", "reasons")  # fmt: skip
CANCELLED = "Cancelled"
PENDING = "Pending"


def ratio(part: SparkColumn | str, whole: SparkColumn | str) -> SparkColumn:
    """``part / whole`` as a double; null when ``whole`` is zero or null."""
    from pyspark.sql import functions as F

    part_col = F.col(part) if isinstance(part, str) else part
    whole_col = F.col(whole) if isinstance(whole, str) else whole
    return F.when(whole_col != 0, part_col.cast("double") / whole_col.cast("double"))


def money_ratio(amount: str, count: str) -> SparkColumn:
    """``amount / count`` as money (rounded half up to cents); null when ``count`` is zero."""
    from pyspark.sql import functions as F

    return F.when(F.col(count) != 0, (F.col(amount) / F.col(count)).cast(MONEY))


def _money_sum(column: SparkColumn | str) -> SparkColumn:
    from pyspark.sql import functions as F

    return F.sum(column).cast(MONEY)


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
        _money_sum("ordered_product_sales").alias("ordered_product_sales"),
        _money_sum("ordered_product_sales_b2b").alias("ordered_product_sales_b2b"),
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


def orders_daily(items: DataFrame) -> DataFrame:
    """``orders_daily`` from cleaned ``order_items``: per marketplace, local purchase day, SKU
    and ASIN. Cancelled means the order's or the item's status is Cancelled; Pending orders
    count their units but have no price yet."""
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
            _money_sum("item_price").alias("item_revenue"),
            _money_sum("item_tax").alias("item_tax"),
            _money_sum("item_promotion_discount").alias("promotion_discount"),
            units_where(F.col("order_status") == PENDING).alias("pending_units"),
            F.sum(F.when(cancelled, 1).otherwise(0)).alias("cancelled_items"),
            units_where(cancelled).alias("cancelled_units"),
            units_where(F.coalesce(F.col("is_business_order"), F.lit(False))).alias("units_b2b"),
            units_where(F.col("fulfillment_channel") == "Amazon").alias("fba_units"),
            units_where(F.col("fulfillment_channel") == "Merchant").alias("mfn_units"),
        )
    )
    return summed.withColumn("b2b_unit_share", ratio("units_b2b", "units"))


BUILDERS: dict[str, Callable[[DataFrame], DataFrame]] = {
    "sales_daily": sales_daily,
    "orders_daily": orders_daily,
}


def build(mart: Mart, source: DataFrame) -> DataFrame:
    """The mart ``mart`` built from its cleaned source table's rows, conformed to its contract."""
    return conform(BUILDERS[mart.name](source), mart)


def conform(frame: DataFrame, mart: Mart) -> DataFrame:
    """``frame`` with exactly the mart's columns, in its order, cast to its types; a contract
    column the transform does not produce is an error naming it."""
    from pyspark.sql import functions as F

    missing = [c.name for c in mart.columns if c.name not in frame.columns]
    if missing:
        raise ValueError(f"mart {mart.name}: the transform does not produce {missing}")
    return frame.select(*(F.col(c.name).cast(STORED_TYPES[c.type]).alias(c.name)
                          for c in mart.columns))  # fmt: skip


def orders_against_sales(orders: DataFrame, sales: DataFrame) -> DataFrame:
    """Where ``orders_daily`` and ``sales_daily`` disagree, per seller, marketplace, day and
    ASIN, with the known reasons: one row per difference (none when they agree).

    Columns: seller_id, marketplace_id, date, asin; units and sales of each side (``orders_units``,
    ``sales_units``, ``orders_revenue``, ``sales_revenue``) and their differences (orders minus
    sales); the orders' ``pending_units`` and ``cancelled_items``; and ``reasons``, the known
    causes that apply, "; "-joined:

    - ``only in orders_daily`` / ``only in sales_daily``: the other side has no row (a day or an
      ASIN the other source does not cover, e.g. orders of days before the first S&T report);
    - ``cancelled``: units differ and items were cancelled (the orders report zeroes a cancelled
      item's quantity; Sales & Traffic may still count it as ordered);
    - ``pending``: revenue differs and pending units have no price yet;
    - ``unexplained`` when none applies.

    The day boundary is the same on both sides (the marketplace-local day, see each mart's
    ``day_boundary``), so a difference cannot come from it; a source whose boundary differs
    would add its reason here.
    """
    from pyspark.sql import functions as F

    by_asin = orders.groupBy("seller_id", "marketplace_id", "date", "asin").agg(
        F.sum("units").alias("orders_units"),
        _money_sum("item_revenue").alias("orders_revenue"),
        F.sum("pending_units").alias("pending_units"),
        F.sum("cancelled_items").alias("cancelled_items"),
    )
    sold = sales.select(
        "seller_id",
        "marketplace_id",
        "date",
        F.col("child_asin").alias("asin"),
        F.col("units_ordered").alias("sales_units"),
        F.col("ordered_product_sales").alias("sales_revenue"),
    )
    joined = by_asin.withColumn("_orders", F.lit(True)).join(
        sold.withColumn("_sales", F.lit(True)),
        ["seller_id", "marketplace_id", "date", "asin"],
        "full_outer",
    )
    zero_money = F.lit(0).cast(MONEY)
    compared = joined.withColumn(
        "units_difference",
        F.coalesce("orders_units", F.lit(0)) - F.coalesce("sales_units", F.lit(0)),
    ).withColumn(
        "revenue_difference",
        (F.coalesce("orders_revenue", zero_money) - F.coalesce("sales_revenue", zero_money)).cast(
            MONEY
        ),
    )
    units_differ = F.col("units_difference") != 0
    revenue_differs = F.col("revenue_difference") != 0
    known = F.array_compact(
        F.array(
            F.when(F.col("_sales").isNull(), F.lit("only in orders_daily")),
            F.when(F.col("_orders").isNull(), F.lit("only in sales_daily")),
            F.when(units_differ & (F.col("cancelled_items") > 0), F.lit("cancelled")),
            F.when(revenue_differs & (F.col("pending_units") > 0), F.lit("pending")),
        )
    )
    reasons = F.when(F.size(known) > 0, F.concat_ws("; ", known)).otherwise("unexplained")
    return (
        compared.where(units_differ | revenue_differs)
        .withColumn("reasons", reasons)
        .select(*RECONCILIATION)
    )
