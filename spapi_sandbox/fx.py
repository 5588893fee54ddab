"""A plausible daily FX file for the sandbox's currencies, as a central bank would publish it.

The simulated seller sells in USD, EUR and JPY; the lake reports in USD. ``fx_rates`` gives one
rate per business day (Monday to Friday: like the ECB's reference rates, none on weekends) for
EUR and JPY into USD, a small seeded random walk around plausible levels, with at most 6
significant digits. Deterministic (a function of the seed and the days only) and offline: the
demo writes it with ``fx_rates_csv`` and loads it with ``spapi reference load fx_rates``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from spapi_sandbox.seller import rng_for

REPORTING_CURRENCY = "USD"
# Units of USD per unit of the currency around which the walk moves.
LEVELS = {"EUR": Decimal("1.08"), "JPY": Decimal("0.0067")}
DAILY_MOVE = 0.004  # at most 0.4 % a day
ANCHOR = date(2026, 1, 1)  # the walk starts here, so a day's rate does not depend on the range


def _walk(seed: int, currency: str, until: date) -> dict[date, Decimal]:
    """The rate of every business day from ``ANCHOR`` to ``until`` (earlier days: the level)."""
    rng = rng_for(seed, "fx", currency)
    level = float(LEVELS[currency])
    rates: dict[date, Decimal] = {}
    day = ANCHOR
    while day <= until:
        level *= 1 + rng.uniform(-DAILY_MOVE, DAILY_MOVE)
        if day.weekday() < 5:
            rates[day] = Decimal(f"{level:.6g}")
        day += timedelta(days=1)
    return rates


def fx_rates(first: date, last: date, seed: int = 42) -> list[tuple[date, str, Decimal]]:
    """(rate_date, currency, rate into USD) of every business day in ``first``..``last``."""
    rows = []
    for currency in sorted(LEVELS):
        for day, rate in _walk(seed, currency, last).items():
            if day >= first:
                rows.append((day, currency, rate))
    if first < ANCHOR:  # before the walk: the levels, so any range gets rates
        day = first
        while day < min(ANCHOR, last + timedelta(days=1)):
            if day.weekday() < 5:
                rows += [(day, c, LEVELS[c]) for c in sorted(LEVELS)]
            day += timedelta(days=1)
    return sorted(rows)


def fx_rates_csv(first: date, last: date, seed: int = 42) -> bytes:
    """The ``fx_rates`` file (see ``spapi_toolkit.lake.reference``) of ``first``..``last``."""
    lines = ["rate_date,currency,reporting_currency,rate"]
    lines += [
        f"{d.isoformat()},{c},{REPORTING_CURRENCY},{r}" for d, c, r in fx_rates(first, last, seed)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")
