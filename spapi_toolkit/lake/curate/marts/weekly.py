"""What the weekly marts share: the Brand Analytics week of a day, and the seller's own ASINs.

A week runs Sunday to Saturday (Amazon's Brand Analytics weeks, ``period = "week"``); a mart row's
``week_start`` is its Sunday. The seller's own ASINs of a week and marketplace are those its own
reports name in that week: the child ASINs of its per-ASIN sales and traffic (a seller's Sales
& Traffic report lists only its ASINs; on a day the report does not hold, Data Kiosk's one-day
window, as ``daily_sales`` takes the day) and the ASINs of its ``listings`` snapshots. All are read
for the week only (``reads = { ... = 0 }``); a week in which neither was pulled has no known own
ASINs, and the marts then say "unknown" (null), never "all competitors".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.daily_sales import daily_sales, one_day_windows

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame


def week_start(day: SparkColumn | str) -> SparkColumn:
    """The Sunday the Sunday-to-Saturday week of ``day`` starts (``aggregate.period_start``)."""
    from pyspark.sql import functions as F

    column = F.col(day) if isinstance(day, str) else day
    return F.date_sub(column, F.dayofweek(column) - 1)  # dayofweek: 1 = Sunday


def own_asins(
    sales: DataFrame | None, listings: DataFrame | None, kiosk: DataFrame | None = None
) -> DataFrame | None:
    """(seller_id, marketplace_id, week_start, asin) of the seller's own ASINs per week (module
    doc): from cleaned ``sales_traffic_by_asin``, ``listings`` and ``kiosk_sales_traffic``; None
    when none was given."""
    from pyspark.sql import functions as F

    frames = []
    which = ("seller_id", "marketplace_id", "date", "child_asin")
    days = daily_sales(sales, kiosk, which) if sales is not None else None
    if days is None and kiosk is not None:
        days = one_day_windows(kiosk)
    if days is not None:
        frames.append(
            days.select(
                "seller_id",
                "marketplace_id",
                week_start("date").alias("week_start"),
                F.col("child_asin").alias("asin"),
            )
        )
    if listings is not None:
        frames.append(
            listings.select(
                "seller_id",
                "marketplace_id",
                week_start("snapshot_date").alias("week_start"),
                "asin",
            )
        )
    if not frames:
        return None
    found = frames[0]
    for frame in frames[1:]:
        found = found.unionByName(frame)
    return found.where(F.col("asin").isNotNull()).distinct()


def known_counts(own: DataFrame | None) -> DataFrame | None:
    """(seller_id, marketplace_id, week_start, own_asins_known): how many own ASINs per week."""
    from pyspark.sql import functions as F

    if own is None:
        return None
    return own.groupBy("seller_id", "marketplace_id", "week_start").agg(
        F.count(F.lit(1)).alias("own_asins_known")
    )
