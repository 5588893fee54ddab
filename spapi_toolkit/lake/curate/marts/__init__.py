"""The marts' transforms: cleaned DataFrames into aggregated ones (contracts: ``lake/marts.py``).

Pure DataFrame-to-DataFrame functions, the same on Glue and locally. The rules of issue 8:

- A ratio is rebuilt from its summed parts, never averaged: unit session rate = units ÷
  sessions, Buy Box share = Buy Box page views ÷ page views (weighted by page views), B2B unit
  share = B2B units ÷ units, average selling price = sales ÷ units. A zero denominator gives
  null, not zero or infinity. The parts are mart columns too, so ``rollup`` (or a notebook) can
  rebuild the ratios at any coarser grain.
- Money stays in the marketplace's local currency (``currency``); a reporting currency needs a
  daily FX table and is not built yet.
- A row's ``date`` follows its mart's declared ``day_boundary``: sales_daily and orders_daily
  use the marketplace-local calendar day (Sales & Traffic's request day; the orders' local
  purchase day, ``order_items.purchase_date``), never the UTC date of a timestamp; the snapshot
  marts (inventory_health, price_competitiveness) the UTC day the snapshot was pulled, their
  sales windows the complete local days before it; product_performance the calendar month.
- Every mart's key starts with ``seller_id``: ranks, classes, windows and joins stay within one
  seller.

``conform`` gives a transform's result the mart's columns, order and types, so a contract and
its transform cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.marts.common import conform, money_ratio, money_sum, ratio
from spapi_toolkit.lake.curate.marts.inventory_health import inventory_health
from spapi_toolkit.lake.curate.marts.orders_daily import orders_daily
from spapi_toolkit.lake.curate.marts.price_competitiveness import price_competitiveness
from spapi_toolkit.lake.curate.marts.product_performance import product_performance
from spapi_toolkit.lake.curate.marts.reconcile import orders_against_sales
from spapi_toolkit.lake.curate.marts.sales_daily import rollup, sales_daily
from spapi_toolkit.lake.marts import Mart

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["BUILDERS", "build", "conform", "inventory_health", "money_ratio", "money_sum",
           "orders_against_sales", "orders_daily", "price_competitiveness", "product_performance",
           "ratio", "rollup", "sales_daily"]  # fmt: skip

BUILDERS: dict[str, Callable[..., DataFrame]] = {
    "sales_daily": sales_daily,
    "orders_daily": orders_daily,
    "inventory_health": inventory_health,
    "price_competitiveness": price_competitiveness,
    "product_performance": product_performance,
}
"""Each mart's transform: called with its ``from_table``'s rows, and each other table it
``reads`` as a keyword argument of that table's name."""


def build(mart: Mart, source: DataFrame | Mapping[str, DataFrame]) -> DataFrame:
    """The mart ``mart`` built from its inputs' rows, conformed to its contract. ``source`` is
    its from_table's rows, or every input table's rows by table name."""
    frames = source if isinstance(source, Mapping) else {mart.from_table: source}
    others = {name: frames[name] for name in mart.inputs[1:]}
    return conform(BUILDERS[mart.name](frames[mart.from_table], **others), mart)
