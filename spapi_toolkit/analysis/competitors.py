"""The watched competitors' moves over a period, from the ``competitor_days`` query's rows: each
competitor's latest lowest landed price and Best Sellers Rank against its usual ones, and
the price cuts beside which we lost the Buy Box (``competitor_price_cuts``' rows). The notebook
``04_competitive_analysis`` shows them and the claims check them against the cleaned tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MOVE = 0.05  # a price move counted as a cut or a rise: 5 % of the first snapshot's price


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
    held = cuts.we_held_buy_box_before.fillna(False).astype(bool)
    lost = ~cuts.we_hold_buy_box.fillna(False).astype(bool)
    return cuts[held & lost].reset_index(drop=True)
