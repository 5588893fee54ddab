"""Profit per marketplace from the ``profit_by_sku`` query's rows: the parts summed, the cost of
goods, the margin and the reporting-currency sums only where every SKU has them (a sum of the
SKUs with a cost would read as the marketplace's), and the ratios rebuilt from the sums. The
notebook ``05_profitability`` shows it and the claims check it against the cleaned financial
events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PARTS = ("revenue", "promotions", "referral_fees", "fba_fees", "other_fees", "refunds",
         "refund_fees")  # fmt: skip
UNITS = ("units_shipped", "units_refunded", "units_without_cost")
# Null where a SKU's cost or FX rate is unknown: summed only when no SKU's is.
KNOWN_ONLY = ("cost_of_goods", "contribution_margin", "revenue_reporting", "fees_reporting",
              "refunds_reporting", "cost_of_goods_reporting",
              "contribution_margin_reporting")  # fmt: skip


def by_marketplace(profit: pd.DataFrame) -> pd.DataFrame:
    """One row per marketplace (with ``marketplace``, ``currency``): the units and money parts
    summed, the cost of goods, margins and reporting sums where no SKU's is null (else null),
    and ``margin_rate`` (margin / revenue) and ``fee_share`` (-(referral + FBA + other fees) /
    revenue)."""
    keys = ["marketplace_id", "marketplace", "currency", "reporting_currency"]
    grouped = profit.groupby(keys, dropna=False, sort=True)
    out = grouped[[*UNITS, *PARTS]].sum().reset_index()
    for column in KNOWN_ONLY:
        out[column] = list(grouped[column].agg(_all_or_none))
    revenue = out.revenue.where(out.revenue != 0)
    out["margin_rate"] = out.contribution_margin / revenue
    out["fee_share"] = -(out.referral_fees + out.fba_fees + out.other_fees) / revenue
    return out


def _all_or_none(values: pd.Series) -> Any:
    """The sum of ``values`` when none is missing, else None (an unknown part, unknown sum)."""
    return values.sum() if values.notna().all() else None
