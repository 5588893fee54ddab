"""``sales_daily``: Sales & Traffic by child ASIN per marketplace-local day, ratios rebuilt, with
Data Kiosk's shipped sales and refunds of one-day windows and money in the reporting currency.

A seller's day comes from the Sales & Traffic report when it holds the day, else from Data
Kiosk's one-day window of it (``daily_sales``: a backfill may take history from whichever
source is faster); ``sales_source`` says which. The framework's ``or_from`` builds the
partitions only Data Kiosk holds and checks each day's totals against the source chosen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_ratio, money_sum, ratio
from spapi_toolkit.lake.curate.marts.daily_sales import REPORT, daily_sales, one_day_windows
from spapi_toolkit.lake.curate.marts.fx import with_reporting

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

MONEY_COLUMNS = ("ordered_product_sales", "ordered_product_sales_b2b", "shipped_product_sales")
KEY = ("seller_id", "marketplace_id", "date", "child_asin")


def _sales_ratios(frame: DataFrame) -> DataFrame:
    return (
        frame.withColumn("buy_box_share", ratio("buy_box_page_views", "page_views"))
        .withColumn("unit_session_rate", ratio("units_ordered", "sessions"))
        .withColumn("average_selling_price", money_ratio("ordered_product_sales", "units_ordered"))
        .withColumn("refund_rate", ratio("units_refunded", "units_ordered"))
        .withColumn(
            "average_selling_price_reporting",
            money_ratio("ordered_product_sales_reporting", "units_ordered"),
        )
    )


def _sales_sums() -> list[SparkColumn]:
    from pyspark.sql import functions as F

    counts = ["units_ordered", "units_ordered_b2b", "total_order_items", "total_order_items_b2b",
              "sessions", "page_views", "units_shipped", "units_refunded"]  # fmt: skip
    money = [m + suffix for m in MONEY_COLUMNS for suffix in ("", "_reporting")]
    return [
        F.max("currency").alias("currency"),
        F.max("reporting_currency").alias("reporting_currency"),
        *(F.sum(c).alias(c) for c in counts),
        *(money_sum(m).alias(m) for m in money),
        F.sum("buy_box_page_views").alias("buy_box_page_views"),
    ]


def _kiosk_days(kiosk: DataFrame) -> DataFrame:
    """Data Kiosk's shipped units and sales and refunded units of its one-day windows, per day
    and ASIN."""
    from pyspark.sql import functions as F

    return (
        one_day_windows(kiosk)
        .groupBy(*KEY)
        .agg(
            F.max("parent_asin").alias("_kiosk_parent_asin"),
            F.max("currency").alias("_kiosk_currency"),
            F.sum("units_shipped").alias("units_shipped"),
            money_sum("shipped_product_sales").alias("shipped_product_sales"),
            F.sum("units_refunded").alias("units_refunded"),
        )
    )


def _ordered(rows: DataFrame) -> DataFrame:
    """Per day and child ASIN, the ordered sales and traffic of ``rows`` (``daily_sales``) and
    their source; Amazon's own buy_box_share is only used to recover the Buy Box page views
    (its weight)."""
    from pyspark.sql import functions as F

    weighted = rows.withColumn("buy_box_page_views", F.col("buy_box_share") * F.col("page_views"))
    return weighted.groupBy(*KEY).agg(
        F.max("parent_asin").alias("parent_asin"),
        F.max("currency").alias("currency"),
        *(F.sum(c).alias(c) for c in ("units_ordered", "units_ordered_b2b", "total_order_items",
                                      "total_order_items_b2b", "sessions", "page_views")),
        money_sum("ordered_product_sales").alias("ordered_product_sales"),
        money_sum("ordered_product_sales_b2b").alias("ordered_product_sales_b2b"),
        F.sum("buy_box_page_views").alias("buy_box_page_views"),
        F.max("sales_source").alias("sales_source"),  # one per seller's day
    )  # fmt: skip


def sales_daily(
    by_asin: DataFrame,
    kiosk_sales_traffic: DataFrame | None = None,
    fx_rates: DataFrame | None = None,
) -> DataFrame:
    """``sales_daily`` from cleaned ``sales_traffic_by_asin``, and ``kiosk_sales_traffic``'s
    one-day windows for a seller's days the report does not hold (the module doc): summed per
    marketplace, day and child ASIN, the ratios rebuilt from their parts (Amazon's
    unit_session_rate is not used).

    Data Kiosk also adds shipped units and sales and refunded units where it has a one-day
    window for the day (null otherwise; an ASIN only Data Kiosk names on a report's day gets a
    row with the Sales & Traffic columns null); ``fx_rates`` the reporting-currency money
    (``fx.with_reporting``). Either may be absent: its columns are then null."""
    from pyspark.sql import functions as F

    summed = _ordered(daily_sales(by_asin, kiosk_sales_traffic))
    if kiosk_sales_traffic is None:
        joined = (
            summed.withColumn("units_shipped", F.lit(None).cast("bigint"))
            .withColumn("shipped_product_sales", F.lit(None).cast("decimal(18,2)"))
            .withColumn("units_refunded", F.lit(None).cast("bigint"))
        )
    else:
        joined = (
            summed.join(_kiosk_days(kiosk_sales_traffic), on=list(KEY), how="full_outer")
            .withColumn("parent_asin", F.coalesce("parent_asin", "_kiosk_parent_asin"))
            .withColumn("currency", F.coalesce("currency", "_kiosk_currency"))
            .withColumn("sales_source", F.coalesce("sales_source", F.lit(REPORT)))
            .drop("_kiosk_parent_asin", "_kiosk_currency")
        )
    converted = with_reporting(joined, fx_rates, MONEY_COLUMNS)
    return _sales_ratios(converted)


def rollup(sales: DataFrame, by: Sequence[str]) -> DataFrame:
    """``sales_daily`` rows summed to the coarser grain ``by`` (e.g. marketplace and date, or
    parent ASIN), with every ratio rebuilt from the summed parts. Summed across marketplaces,
    only the ``_reporting`` money means anything (``currency`` is then one of several)."""
    return _sales_ratios(sales.groupBy(*by).agg(*_sales_sums()))
