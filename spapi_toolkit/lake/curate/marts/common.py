"""What every mart transform shares: ratios rebuilt from parts, money sums, and ``conform``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.marts import Mart
from spapi_toolkit.lake.tables import MONEY, STORED_TYPES

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame


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


def money_sum(column: SparkColumn | str) -> SparkColumn:
    from pyspark.sql import functions as F

    return F.sum(column).cast(MONEY)


def conform(frame: DataFrame, mart: Mart) -> DataFrame:
    """``frame`` with exactly the mart's columns, in its order, cast to its types; a contract
    column the transform does not produce is an error naming it."""
    from pyspark.sql import functions as F

    missing = [c.name for c in mart.columns if c.name not in frame.columns]
    if missing:
        raise ValueError(f"mart {mart.name}: the transform does not produce {missing}")
    return frame.select(*(F.col(c.name).cast(STORED_TYPES[c.type]).alias(c.name)
                          for c in mart.columns))  # fmt: skip


def own() -> SparkColumn:
    """The rows of the seller's own ASINs in a table that also holds the competitors it
    watches (``watched``: catalog_items, item_offers, competitive_summary)."""
    from pyspark.sql import functions as F

    return ~F.coalesce(F.col("watched"), F.lit(False))
