"""The marts' transforms: cleaned DataFrames into aggregated ones (contracts: ``lake/marts.py``).

Pure DataFrame-to-DataFrame functions, the same on Glue and locally. The rules of issue 8:

- A ratio is rebuilt from its summed parts, never averaged: unit session rate = units ÷
  sessions, Buy Box share = Buy Box page views ÷ page views (weighted by page views), B2B unit
  share = B2B units ÷ units, average selling price = sales ÷ units. A zero denominator gives
  null, not zero or infinity. The parts are mart columns too, so ``rollup`` (or a notebook) can
  rebuild the ratios at any coarser grain.
- Money is in the marketplace's local currency (``currency``) and, in ``_reporting`` columns
  (sales_daily, orders_daily, customer_behavior), in the reporting currency of the daily FX
  table by the rate-date rule of ``fx.py``.
- A row's ``date`` follows its mart's declared ``day_boundary``: sales_daily and orders_daily
  use the marketplace-local calendar day (Sales & Traffic's request day; the orders' local
  purchase day, ``order_items.purchase_date``), never the UTC date of a timestamp; the snapshot
  marts (inventory_health, price_competitiveness, competitor_daily) the UTC day the snapshot
  was pulled, their sales windows the complete local days before it; product_performance the
  calendar month; the weekly marts the Sunday their week starts.
- Every mart's key starts with ``seller_id``: ranks, classes, windows and joins stay within one
  seller.

``conform`` gives a transform's result the mart's columns, order and types, so a contract and
its transform cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import conform, money_ratio, money_sum, ratio
from spapi_toolkit.lake.curate.marts.competitor_daily import competitor_daily
from spapi_toolkit.lake.curate.marts.customer_behavior import (
    customer_behavior,
    market_basket_pairs,
    repeat_customers,
)
from spapi_toolkit.lake.curate.marts.inventory_health import inventory_health
from spapi_toolkit.lake.curate.marts.orders_daily import orders_daily
from spapi_toolkit.lake.curate.marts.price_competitiveness import price_competitiveness
from spapi_toolkit.lake.curate.marts.product_performance import product_performance
from spapi_toolkit.lake.curate.marts.profit_daily import profit_daily
from spapi_toolkit.lake.curate.marts.reconcile import orders_against_sales, report_against_kiosk
from spapi_toolkit.lake.curate.marts.sales_daily import rollup, sales_daily
from spapi_toolkit.lake.curate.marts.search_terms import search_terms_weekly
from spapi_toolkit.lake.marts import Mart

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "BUILDERS",
    "build",
    "competitor_daily",
    "conform",
    "customer_behavior",
    "inventory_health",
    "market_basket_pairs",
    "money_ratio",
    "money_sum",
    "orders_against_sales",
    "orders_daily",
    "price_competitiveness",
    "product_performance",
    "profit_daily",
    "ratio",
    "repeat_customers",
    "report_against_kiosk",
    "rollup",
    "sales_daily",
    "search_terms_weekly",
]  # fmt: skip

BUILDERS: dict[str, Callable[..., DataFrame]] = {
    "sales_daily": sales_daily,
    "orders_daily": orders_daily,
    "inventory_health": inventory_health,
    "price_competitiveness": price_competitiveness,
    "product_performance": product_performance,
    "search_terms_weekly": search_terms_weekly,
    "customer_behavior": customer_behavior,
    "repeat_customers": repeat_customers,
    "market_basket_pairs": market_basket_pairs,
    "profit_daily": profit_daily,
    "competitor_daily": competitor_daily,
}
"""Each mart's transform: called with its ``from_table``'s rows, and each other table it
``reads`` as a keyword argument of that table's name."""


def build(mart: Mart, source: DataFrame | Mapping[str, DataFrame]) -> DataFrame:
    """The mart ``mart`` built from its inputs' rows, conformed to its contract. ``source`` is
    its from_table's rows, or input tables' rows by table name; a read table left out is not
    passed (the aggregate job passes all; a transform may take one as optional, e.g. FX)."""
    frames = source if isinstance(source, Mapping) else {mart.from_table: source}
    others = {name: frames[name] for name in mart.inputs[1:] if name in frames}
    return conform(BUILDERS[mart.name](frames[mart.from_table], **others), mart)
