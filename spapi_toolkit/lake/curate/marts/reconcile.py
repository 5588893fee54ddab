"""Where ``orders_daily`` and ``sales_daily`` disagree, with the known reasons."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_sum
from spapi_toolkit.lake.curate.marts.daily_sales import DAY, one_day_windows
from spapi_toolkit.lake.tables import MONEY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RECONCILIATION = ("seller_id", "marketplace_id", "date", "asin", "orders_units", "sales_units",
                  "units_difference", "orders_revenue", "sales_revenue", "revenue_difference",
                  "pending_units", "cancelled_items", "reasons")  # fmt: skip


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
        money_sum("item_revenue").alias("orders_revenue"),
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


COMPARED = ("units_ordered", "ordered_product_sales", "sessions", "page_views")
SIDES = tuple(f"{side}_{c}" for c in COMPARED for side in ("report", "kiosk"))
SOURCES_DIFFER = ("seller_id", "marketplace_id", "date", "asin", *SIDES, "reasons")


def report_against_kiosk(report: DataFrame, kiosk: DataFrame, settled_through: date) -> DataFrame:
    """Where cleaned ``sales_traffic_by_asin`` (the Sales & Traffic report) and
    ``kiosk_sales_traffic`` (Data Kiosk's one-day windows) disagree on a seller's day both
    hold, up to ``settled_through`` (the last day Amazon no longer restates: a day still
    restated may differ between two pulls). ``sales_daily`` takes such a day from the report
    (``or_from``) without a word; this lists the days it chose between figures that differ.

    One row per seller, marketplace, day and ASIN that differs: each side's ``COMPARED`` figures
    (``report_units_ordered``, ``kiosk_units_ordered``, ...) and ``reasons``: ``only in the
    report`` / ``only in Data Kiosk`` (an ASIN the other does not list, with figures that are
    not all 0: Data Kiosk also lists an ASIN that only shipped or had a refund that day), else
    the figures that differ, e.g. ``sessions differ``."""
    from pyspark.sql import functions as F

    mine = (
        report.where(F.col("date") <= F.lit(settled_through))
        .groupBy(*DAY, F.col("child_asin").alias("asin"))
        .agg(*(F.sum(c).alias(f"report_{c}") for c in COMPARED), F.lit(True).alias("_report"))
    )
    theirs = (
        one_day_windows(kiosk)
        .where(F.col("date") <= F.lit(settled_through))
        .groupBy(*DAY, F.col("child_asin").alias("asin"))
        .agg(*(F.sum(c).alias(f"kiosk_{c}") for c in COMPARED), F.lit(True).alias("_kiosk"))
    )
    both_days = mine.select(*DAY).distinct().join(theirs.select(*DAY).distinct(), on=DAY)
    joined = mine.join(theirs, on=[*DAY, "asin"], how="full_outer").join(both_days, on=DAY)
    zero = {c: F.lit(0).cast(dict(mine.dtypes)[f"report_{c}"]) for c in COMPARED}
    differs = [  # an ASIN a source does not list had none of these: 0, not unknown
        F.when(F.coalesce(f"report_{c}", zero[c]) != F.coalesce(f"kiosk_{c}", zero[c]),
               F.lit(f"{c} differ"))
        for c in COMPARED
    ]  # fmt: skip
    known = F.array_compact(
        F.array(
            F.when(F.col("_kiosk").isNull(), F.lit("only in the report")),
            F.when(F.col("_report").isNull(), F.lit("only in Data Kiosk")),
        )
    )
    figures = F.array_compact(F.array(*differs))
    reasons = F.when(F.size(known) > 0, F.concat_ws("; ", known)).otherwise(
        F.concat_ws("; ", figures)
    )
    return joined.where(F.size(figures) > 0).withColumn("reasons", reasons).select(*SOURCES_DIFFER)
