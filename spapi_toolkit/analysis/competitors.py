"""The watched competitors' moves over a period, from the ``competitor_days`` query's rows: each
competitor's latest lowest landed price and Best Sellers Rank against its usual ones, and
the price cuts beside which we lost the Buy Box or sales (``competitor_price_cuts``' rows).
The notebook ``04_competitive_analysis`` shows them and the claims check them against the
cleaned tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MOVE = 0.05  # a price move counted as a cut or a rise: 5 % of the first snapshot's price
FELL = 0.5  # our units on a cut's day at most half the usual ones: sales fell
USUAL_UNITS = 1.0  # ... counted only for an ASIN that usually sells a unit a day or more


def moves(days: pd.DataFrame) -> pd.DataFrame:
    """One row per marketplace and competitor ASIN (``is_ours`` false) with two priced
    snapshots or more: its latest lowest landed price and rank (``last_price``, ``last_rank``)
    against its usual ones, the medians over its earlier snapshots in the period
    (``usual_price``, ``usual_rank``: a one-day cut on the first day does not make every later
    day read as a rise), ``price_change`` (last / usual - 1), ``snapshots``, ``first_date``,
    ``last_date``, the latest ``brand``, ``title``, ``currency``, ``our_reference_price`` and
    ``price_gap_to_ours``, and ``move``: ``cut`` or ``rise`` (by ``MOVE`` or more) or
    ``steady``; largest moves first."""
    import pandas as pd

    theirs = days[~days.is_ours.astype(bool)].sort_values("date")
    rows = []
    for (market, asin), one in theirs.groupby(["marketplace_id", "asin"], sort=True):
        priced = one.dropna(subset=["lowest_landed_price"])
        if priced.date.nunique() < 2:
            continue
        earlier, last = priced.iloc[:-1], priced.iloc[-1]
        usual = earlier.lowest_landed_price.astype(float).median()
        change = float(last.lowest_landed_price) / usual - 1
        rows.append({
            "marketplace_id": market, "asin": asin, "brand": last.brand, "title": last.title,
            "currency": last.currency, "snapshots": priced.date.nunique(),
            "first_date": priced.date.iloc[0], "last_date": last.date,
            "usual_price": round(usual, 2), "last_price": last.lowest_landed_price,
            "price_change": change, "usual_rank": earlier.sales_rank.median(),
            "last_rank": last.sales_rank, "our_reference_price": last.our_reference_price,
            "price_gap_to_ours": last.price_gap_to_ours,
            "move": "cut" if change <= -MOVE else "rise" if change >= MOVE else "steady",
        })  # fmt: skip
    found = pd.DataFrame(rows)
    if found.empty:
        return found
    order = found.price_change.abs().sort_values(ascending=False).index
    return found.loc[order].reset_index(drop=True)


def lost_beside_cuts(cuts: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``competitor_price_cuts`` where our ASIN held the Buy Box at its previous
    snapshot and no longer did on the day the competitor beside it in a search cut its price."""
    return cuts[_lost_buy_box(cuts)].reset_index(drop=True)


def sales_fell_beside_cuts(cuts: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``competitor_price_cuts`` where our ASIN, usually selling ``USUAL_UNITS`` a
    day or more, sold at most ``FELL`` of its usual units on the day of the cut's snapshot."""
    return cuts[_sales_fell(cuts)].reset_index(drop=True)


def lost_ground(cuts: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``competitor_price_cuts`` where we lost the Buy Box or sales (above), with
    ``lost`` saying which: ``Buy Box``, ``sales`` or both."""
    buy_box, sales = _lost_buy_box(cuts), _sales_fell(cuts)
    labels = {(True, False): "Buy Box", (False, True): "sales", (True, True): "Buy Box, sales"}
    found = cuts.assign(lost=[labels.get((b, s)) for b, s in zip(buy_box, sales, strict=True)])
    return found[buy_box | sales].reset_index(drop=True)


def _lost_buy_box(cuts: pd.DataFrame) -> pd.Series:
    held = cuts.we_held_buy_box_before.astype("boolean").fillna(False).astype(bool)
    return held & ~cuts.we_hold_buy_box.astype("boolean").fillna(False).astype(bool)


def _sales_fell(cuts: pd.DataFrame) -> pd.Series:
    usual = cuts.our_usual_units.astype(float)
    units = cuts.our_units.astype(float)  # NaN: the day's sales are not in yet
    return (usual >= USUAL_UNITS) & (units <= usual * FELL)
