"""The simulated seller's unit costs, as its own bookkeeping would export them.

Every product costs the seller a share of its US price (25 to 45 %, one share per product: what
buying it, shipping it in and preparing it for Amazon take), in USD, from the day it was first
listed. About a third of the products had a supplier price change during the history: a second
row from a day inside it, 5 to 15 % dearer. Deterministic (a function of the seed): the demo
writes the file with ``unit_costs_csv`` and loads it with ``spapi reference load unit_costs``,
and the profit analyses take each sale's cost from the row valid on its day.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from spapi_sandbox.seller import SimulatedSeller, money, rng_for

CURRENCY = "USD"  # the seller buys in dollars whatever marketplace it sells in
US = "ATVPDKIKX0DER"
CHANGED_SHARE = 0.35


def unit_costs(seller: SimulatedSeller) -> list[tuple[str, str, Decimal, date]]:
    """(sku, currency, unit cost, valid from) of every product, sorted."""
    rows = []
    for product in seller.products():
        rng = rng_for(seller.config.seed, "unit-cost", product.sku)
        cost = money(product.price(US) * Decimal(str(round(rng.uniform(0.25, 0.45), 3))), CURRENCY)
        rows.append((product.sku, CURRENCY, cost, product.open_date))
        if rng.random() < CHANGED_SHARE:
            days = (seller.config.end_date - seller.config.start_date).days
            changed = seller.config.start_date + timedelta(days=rng.randint(1, max(1, days)))
            if changed > product.open_date:
                dearer = cost * Decimal(str(round(rng.uniform(1.05, 1.15), 3)))
                rows.append((product.sku, CURRENCY, money(dearer, CURRENCY), changed))
    return sorted(rows)


def unit_costs_csv(seller: SimulatedSeller) -> bytes:
    """The ``unit_costs`` file (see ``spapi_toolkit.lake.reference``) of ``seller``."""
    lines = ["sku,currency,unit_cost,valid_from"]
    lines += [f"{s},{c},{cost},{d.isoformat()}" for s, c, cost, d in unit_costs(seller)]
    return ("\n".join(lines) + "\n").encode("utf-8")
