"""04's reading of ``competitor_price_cuts``: beside which cuts we lost the Buy Box, our sales,
or both, by the rules the notebook states."""

from __future__ import annotations

import math

import pandas as pd

from spapi_toolkit.analysis.competitors import (
    lost_beside_cuts,
    lost_ground,
    sales_fell_beside_cuts,
)


def _cut(asin: str, held_before, holds, usual, units) -> dict:
    return {"marketplace_id": "ATVPDKIKX0DER", "date": "2026-11-20", "competitor_asin": "B0RIVAL1",
            "our_asin": asin, "we_held_buy_box_before": held_before, "we_hold_buy_box": holds,
            "our_usual_units": usual, "our_units": units}  # fmt: skip


def test_lost_ground_names_the_buy_box_the_sales_or_both():
    cuts = pd.DataFrame([
        _cut("B0BOTH0001", True, False, 4.0, 2),  # half the usual: fell
        _cut("B0BUYBOX01", True, False, 4.0, 3),
        _cut("B0SALES001", True, True, 2.0, 0),
        _cut("B0SMALL001", None, None, 0.9, 0),  # sells less than a unit a day: not counted
        _cut("B0NOTYET01", False, False, 3.0, math.nan),  # the day's report is not in yet
        _cut("B0NEVER001", False, False, None, 5),  # nothing sold the week before: no usual
        _cut("B0STEADY01", None, True, 3.0, 2),
    ])  # fmt: skip
    assert list(lost_beside_cuts(cuts).our_asin) == ["B0BOTH0001", "B0BUYBOX01"]
    assert list(sales_fell_beside_cuts(cuts).our_asin) == ["B0BOTH0001", "B0SALES001"]
    lost = lost_ground(cuts)
    assert dict(zip(lost.our_asin, lost.lost, strict=True)) == {
        "B0BOTH0001": "Buy Box, sales",
        "B0BUYBOX01": "Buy Box",
        "B0SALES001": "sales",
    }
