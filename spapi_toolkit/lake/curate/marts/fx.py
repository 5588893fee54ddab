"""Money in the reporting currency: the rate-date rule, declared once, applied by every mart.

The cleaned ``fx_rates`` table (a reference file, ``lake/reference.py``) holds per day and
currency the units of the reporting currency one unit of it buys. The rule:

- A row's money converts at the rate of the **latest ``rate_date`` on or before the row's day**
  (its mart's ``date``: the marketplace-local day of its ``day_boundary``), **at most
  ``MAX_RATE_AGE_DAYS`` (7) days older**: FX sources publish on business days only (the ECB
  skips weekends and holidays), so a Saturday uses Friday's rate, and a week covers the longest
  holiday gaps. A rate published after the day is never used (no look-ahead).
- The reporting currency's own money converts at 1, whatever the table holds.
- An older rate or none: the reporting amounts are null (never a guessed rate), ``fx_rate`` is
  null, and ``unconverted`` counts the row (the aggregate job reports the count).
- Amounts are ``amount × rate`` in exact decimals (the rate as decimal(16,10)), then rounded
  half up to cents; a ratio of money (an average price) is rebuilt from the converted parts,
  never converted itself.

A lake reports in one currency (the loader refuses a second); the rows read name it. Because
``fx_rates`` is partitioned by ``rate_date``, a mart that reads ``{ fx_rates = 7 }`` reads
exactly the days the rule may use, and a restated rate rebuilds exactly the mart days that may
use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spapi_toolkit.lake.tables import MONEY

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

MAX_RATE_AGE_DAYS = 7
RATE = "decimal(16,10)"  # 6 integer digits (e.g. 16000 IDR per USD), the file's 10 decimals
REPORTING_SUFFIX = "_reporting"
FX_COLUMNS = ("reporting_currency", "fx_rate", "fx_rate_date")


class FxError(ValueError):
    """The FX rows cannot convert (several reporting currencies); the message names them."""


def reporting_currency(fx: DataFrame | None) -> str | None:
    """The one reporting currency of the FX rows; None without rows; ``FxError`` for several."""
    if fx is None:
        return None
    found = sorted(r[0] for r in fx.select("reporting_currency").distinct().collect() if r[0])
    if len(found) > 1:
        raise FxError(f"fx_rates converts into several currencies {found}; a lake reports in one")
    return found[0] if found else None


def with_reporting(
    frame: DataFrame,
    fx: DataFrame | None,
    money: Sequence[str],
    day: str = "date",
    *,
    currency: str = "currency",
    rate: str = "fx_rate",
    rate_date: str = "fx_rate_date",
) -> DataFrame:
    """``frame`` with ``reporting_currency``, the ``fx_rate`` and ``fx_rate_date`` the rule
    chose for its ``currency`` on its ``day``, and ``<column>_reporting`` for each ``money``
    column (see the module doc). ``currency``, ``rate`` and ``rate_date`` name other columns
    for a second currency of the same rows (profit_daily's unit cost)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    target = reporting_currency(fx)
    if target is None or fx is None:
        out = (
            frame.withColumn("reporting_currency", F.lit(None).cast("string"))
            .withColumn(rate, F.lit(None).cast("double"))
            .withColumn(rate_date, F.lit(None).cast("date"))
        )
    else:
        pairs = (
            frame.select(F.col(currency).alias("_currency"), F.col(day).alias("_day"))
            .where(F.col("_currency").isNotNull() & (F.col("_currency") != target))
            .distinct()
        )
        rates = fx.where(F.col("reporting_currency") == target).select(
            F.col("currency").alias("_fx_currency"), "rate_date", "rate"
        )
        candidates = pairs.join(
            F.broadcast(rates),  # a reference table: days x currencies, small
            (F.col("_fx_currency") == F.col("_currency"))
            & (F.col("rate_date") <= F.col("_day"))
            & (F.col("rate_date") >= F.date_sub(F.col("_day"), MAX_RATE_AGE_DAYS)),
        )
        newest = Window.partitionBy("_currency", "_day").orderBy(F.col("rate_date").desc())
        chosen = (
            candidates.withColumn("_n", F.row_number().over(newest))
            .where(F.col("_n") == 1)
            .select(
                F.col("_currency").alias(currency),
                F.col("_day").alias(day),
                F.col("rate").alias("_rate"),
                F.col("rate_date").alias("_rate_date"),
            )
        )
        own = F.col(currency) == target
        out = (
            frame.join(F.broadcast(chosen), on=[currency, day], how="left")
            .withColumn("reporting_currency", F.lit(target))
            .withColumn(rate, F.when(own, F.lit(1.0)).otherwise(F.col("_rate")))
            .withColumn(rate_date, F.when(own, F.col(day)).otherwise(F.col("_rate_date")))
            .drop("_rate", "_rate_date")
        )
    for column in money:
        out = out.withColumn(column + REPORTING_SUFFIX, convert(F.col(column), F.col(rate)))
    return out


def convert(amount: SparkColumn, rate: SparkColumn) -> SparkColumn:
    """``amount × rate`` exactly, rounded half up to cents (null when either is null)."""
    return (amount.cast(MONEY) * rate.cast(RATE)).cast(MONEY)


def unconverted(frame: DataFrame) -> int:
    """Rows with a local currency but no rate under the rule (their reporting money is null);
    0 for a frame without an ``fx_rate`` column."""
    return frame.where(is_unconverted(frame)).count()


def is_unconverted(frame: DataFrame) -> SparkColumn:
    """Whether a row of ``frame`` is unconverted (``unconverted``), as a column to aggregate
    with others in one pass."""
    from pyspark.sql import functions as F

    if "fx_rate" not in frame.columns:
        return F.lit(False)
    return F.col("currency").isNotNull() & F.col("fx_rate").isNull()
