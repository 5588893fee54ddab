"""A seller's per-ASIN sales and traffic of each day from whichever source holds it (issue 23).

The Sales & Traffic report by ASIN and Data Kiosk's ``salesAndTrafficByAsin`` of a one-day
window give the same figures of a day (``same_figures_as`` in the registry: a backfill asks each
day of one of them). A seller's day the report holds is the report's; a day it does not hold is
Data Kiosk's, its columns named as the report's. The marts that read daily per-ASIN sales and
traffic (``sales_daily``, ``product_performance``) take their rows from here, so the two
sources are mapped once; the claims' SQL counterpart is ``analysis.claims.ORDERED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DAY = ["seller_id", "marketplace_id", "date"]
REPORT, KIOSK = "sales_traffic_report", "data_kiosk"  # the values of sales_source
# The report's columns a day's rows carry, whichever source they come from
COLUMNS = ("seller_id", "marketplace_id", "date", "parent_asin", "child_asin", "currency",
           "units_ordered", "units_ordered_b2b", "total_order_items", "total_order_items_b2b",
           "sessions", "page_views", "ordered_product_sales", "ordered_product_sales_b2b",
           "buy_box_share")  # fmt: skip


def one_day_windows(kiosk: DataFrame) -> DataFrame:
    """Data Kiosk's rows of windows that are one day (a longer window's sums cannot be split
    per day honestly), with the day as ``date``."""
    from pyspark.sql import functions as F

    return kiosk.where(F.col("start_date") == F.col("end_date")).withColumnRenamed(
        "start_date", "date"
    )


def daily_sales(
    report: DataFrame, kiosk: DataFrame | None = None, columns: Sequence[str] = COLUMNS
) -> DataFrame:
    """The report's rows (cleaned ``sales_traffic_by_asin``), then Data Kiosk's one-day rows
    (cleaned ``kiosk_sales_traffic``) of the seller's days the report does not hold: their
    ``columns`` (default ``COLUMNS``) and ``sales_source``."""
    from pyspark.sql import functions as F

    mine = report.select(*columns).withColumn("sales_source", F.lit(REPORT))
    if kiosk is None:
        return mine
    held = report.select(*DAY).distinct()
    theirs = one_day_windows(kiosk).join(held, on=DAY, how="left_anti")
    return mine.unionByName(theirs.select(*columns).withColumn("sales_source", F.lit(KIOSK)))
