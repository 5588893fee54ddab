"""``profit_daily``: what one SKU earned in one marketplace on one day, after Amazon's fees, its
refunds and what its units cost.

From cleaned ``financial_events`` (the Finances API's shipment and refund events), priced with
cleaned ``unit_costs`` and converted with ``fx_rates``. The rules, declared in the contract too:

- The day is the marketplace-local day the event posted: a sale's charges and fees on the day it
  shipped (when Amazon posts them), a refund's on the day it was made. It is the day money moved
  on the seller's account, not the purchase day ``sales_daily`` counts an order on.
- Revenue is every charge to the buyer but tax: the item, its shipping, gift wrap and any other
  charge; tax (on the item, shipping and gift wrap) is owed, not earned, and is apart
  (``tax_collected``). Fees, promotions and refunds carry Amazon's signs: negative when they
  take from the seller, so the margin is a plain sum of parts.
- A unit's cost is the ``unit_costs`` row of the SKU with the latest ``valid_from`` on or before
  the day, in the sale's currency when the file has one in it, else in another converted
  through the reporting currency (the FX rule of ``fx.py``). Shipped units cost; a refunded
  unit's cost is not given back (whether it came back sellable is in ``returns``).
- An unknown cost (no row, or no FX rate to convert it) gives a null ``cost_of_goods`` and a
  null margin, never a zero, and counts the units in ``units_without_cost``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import money_sum, ratio
from spapi_toolkit.lake.curate.marts.fx import REPORTING_SUFFIX, convert, with_reporting
from spapi_toolkit.lake.tables import MONEY

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

SHIPMENT, REFUND = "ShipmentEventList", "RefundEventList"
ROW = ("seller_id", "marketplace_id", "date", "sku")
# The parts the margin sums, in the row's currency (fees, promotions, refunds negative).
PARTS = ("revenue", "promotions", "referral_fees", "fba_fees", "other_fees", "refunds",
         "refund_fees")  # fmt: skip
MONEY_COLUMNS = (*PARTS, "tax_collected", "amazon_fees")
TAXES = ("tax", "shipping_tax", "gift_wrap_tax")  # the charges that are tax: owed, not earned


def profit_daily(
    events: DataFrame, unit_costs: DataFrame | None = None, fx_rates: DataFrame | None = None
) -> DataFrame:
    """``profit_daily`` from cleaned ``financial_events`` (the module doc's rules)."""
    from pyspark.sql import functions as F

    def total(column: str, kind: str) -> SparkColumn:
        return money_sum(F.when(F.col("event_list") == kind, F.coalesce(column, F.lit(0))))

    def units(kind: str) -> SparkColumn:
        return F.sum(F.when(F.col("event_list") == kind, F.coalesce("quantity", F.lit(0))))

    taxes = sum((F.coalesce(c, F.lit(0)) for c in TAXES[1:]), F.coalesce(TAXES[0], F.lit(0)))
    sold = events.withColumns({
        "date": F.col("posted_date"),
        "_sales": F.coalesce("charges", F.lit(0)) - taxes,
        "_tax": taxes,
        "_other": F.coalesce("fees", F.lit(0)) - F.coalesce("referral_fee", F.lit(0))
        - F.coalesce("fba_fee", F.lit(0)),
    })  # fmt: skip
    summed = sold.groupBy(*ROW).agg(
        F.max("currency").alias("currency"),
        F.coalesce(units(SHIPMENT), F.lit(0)).alias("units_shipped"),
        F.coalesce(units(REFUND), F.lit(0)).alias("units_refunded"),
        F.coalesce(total("_sales", SHIPMENT), F.lit(0)).cast(MONEY).alias("revenue"),
        money_sum(F.coalesce("_tax", F.lit(0))).alias("tax_collected"),
        F.coalesce(total("promotion", SHIPMENT), F.lit(0)).cast(MONEY).alias("promotions"),
        F.coalesce(total("referral_fee", SHIPMENT), F.lit(0)).cast(MONEY).alias("referral_fees"),
        F.coalesce(total("fba_fee", SHIPMENT), F.lit(0)).cast(MONEY).alias("fba_fees"),
        F.coalesce(total("_other", SHIPMENT), F.lit(0)).cast(MONEY).alias("other_fees"),
        F.coalesce(
            money_sum(F.when(F.col("event_list") == REFUND,
                             F.col("_sales") + F.coalesce("promotion", F.lit(0)))), F.lit(0)
        ).cast(MONEY).alias("refunds"),
        F.coalesce(total("fees", REFUND), F.lit(0)).cast(MONEY).alias("refund_fees"),
        money_sum(F.coalesce("fees", F.lit(0))).alias("amazon_fees"),
    )  # fmt: skip
    converted = with_reporting(summed, fx_rates, MONEY_COLUMNS)
    costed = _with_cost(converted, unit_costs, fx_rates)
    shipped_fees = F.col("referral_fees") + F.col("fba_fees") + F.col("other_fees")
    margin = sum((F.col(p) for p in PARTS[1:]), F.col(PARTS[0])) - F.col("cost_of_goods")
    margin_reporting = sum(
        (F.col(p + REPORTING_SUFFIX) for p in PARTS[1:]), F.col(PARTS[0] + REPORTING_SUFFIX)
    ) - F.col("cost_of_goods_reporting")
    return (
        costed.withColumn("contribution_margin", margin.cast(MONEY))
        .withColumn("contribution_margin_reporting", margin_reporting.cast(MONEY))
        .withColumn("margin_rate", ratio("contribution_margin", "revenue"))
        .withColumn("fee_share", ratio(-shipped_fees, "revenue"))
    )


def _with_cost(
    rows: DataFrame, unit_costs: DataFrame | None, fx_rates: DataFrame | None
) -> DataFrame:
    """``rows`` (with their FX columns) with the unit cost of their day (``unit_cost``,
    ``cost_currency``, ``cost_valid_from``), ``cost_of_goods`` in the row's currency and in the
    reporting currency, and ``units_without_cost`` (module doc)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if unit_costs is None:
        costed = rows.withColumns({
            "unit_cost": F.lit(None).cast(MONEY), "cost_currency": F.lit(None).cast("string"),
            "cost_valid_from": F.lit(None).cast("date"),
        })  # fmt: skip
    else:
        costs = unit_costs.select(
            "seller_id", "sku", F.col("currency").alias("cost_currency"),
            F.col("valid_from").alias("cost_valid_from"), "unit_cost",
        )  # fmt: skip
        days = rows.select(*ROW, "currency").distinct()
        candidates = days.join(costs, on=["seller_id", "sku"]).where(
            F.col("cost_valid_from") <= F.col("date")
        )
        best = Window.partitionBy(*ROW).orderBy(
            (F.col("cost_currency") == F.col("currency")).desc(), F.col("cost_valid_from").desc()
        )
        chosen = (
            candidates.withColumn("_n", F.row_number().over(best))
            .where(F.col("_n") == 1)
            .drop("_n", "currency")
        )
        costed = rows.join(chosen, on=list(ROW), how="left")
    # The cost currency's rate on the row's day converts a cost in another currency.
    rated = with_reporting(costed, fx_rates, [], currency="cost_currency", rate="_cost_rate",
                           rate_date="_cost_rate_date")  # fmt: skip
    shipped = F.col("units_shipped")
    cost = F.col("unit_cost") * shipped
    same = F.col("cost_currency") == F.col("currency")
    # Another currency: through the reporting currency (cost rate / the row's rate).
    crossed = convert(cost, F.col("_cost_rate") / F.col("fx_rate"))
    local = F.when(shipped == 0, F.lit(0)).when(same, cost).otherwise(crossed)
    reporting = F.when(shipped == 0, F.lit(0)).otherwise(convert(cost, F.col("_cost_rate")))
    return (
        rated.withColumn("cost_of_goods", local.cast(MONEY))
        .withColumn("cost_of_goods_reporting", reporting.cast(MONEY))
        .withColumn(
            "units_without_cost",
            F.when(F.col("cost_of_goods").isNull(), shipped).otherwise(F.lit(0)),
        )
        .drop("_cost_rate", "_cost_rate_date")
    )
