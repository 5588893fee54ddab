"""Charts for the notebooks: always titled, both axes labelled with units, never of nothing.

Each function draws one matplotlib figure from a DataFrame and returns it; a frame without a
single finite value to draw raises ``EmptyChart`` naming the chart, so an executed notebook
fails instead of showing an empty frame, and a line chart whose lines would be single points
is not drawn (a note says why). Images are embedded in the notebook (and its HTML
export), so a report reads offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from spapi_toolkit.analysis.scope import say
from spapi_toolkit.lake.query import QueryError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


class EmptyChart(QueryError):
    """A chart would have no data (names the chart)."""


def _check(frame: pd.DataFrame, columns: Sequence[str], title: str) -> None:
    import numpy as np

    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EmptyChart(f"chart {title!r}: the data has no column {missing}")
    values = frame[list(columns)].apply(lambda s: s.astype("float64", errors="ignore"))
    numbers = values.select_dtypes("number").to_numpy(dtype="float64", na_value=np.nan)
    if frame.empty or not np.isfinite(numbers).any():
        raise EmptyChart(f"chart {title!r} has no data to draw")


@cache
def _fonts() -> None:
    """DejaVu Sans first, then IPAexGothic (matplotlib-fontja) for the CJK glyphs it lacks:
    Japanese titles, states and search terms are drawn, not shown as empty boxes."""
    import matplotlib

    try:
        import matplotlib_fontja  # noqa: F401  (registers IPAexGothic with matplotlib)
    except ImportError:
        return
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", "IPAexGothic"]


def _figure(title: str, xlabel: str, ylabel: str):  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    _fonts()
    figure, axes = plt.subplots(figsize=(10, 4.5))
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def lines(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    by: str | None = None,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Figure | None:
    """One line of ``y`` over ``x`` per value of ``by`` (or one line). When no line would have
    two points (one snapshot in the period), nothing is drawn: a note says so and None is
    returned (a trend of single dots spread over a made-up axis says nothing)."""
    _check(frame, [y], title)
    drawn = frame[frame[y].notna()]
    points = drawn.groupby(by)[x].nunique().max() if by else drawn[x].nunique()
    if points < 2:
        only = ", ".join(sorted({str(v)[:10] for v in drawn[x]}))
        say(f"**{title}**: the data holds one {xlabel} only ({only}), so there is no line "
              "to draw; its values are in the table.")  # fmt: skip
        return None
    figure, axes = _figure(title, xlabel, ylabel)
    groups = frame.groupby(by, sort=True) if by else [(None, frame)]
    for label, part in groups:
        ordered = part.sort_values(x)
        axes.plot(ordered[x], ordered[y].astype("float64"), marker=".", label=label)
    if by:
        axes.legend(title=by)
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def bars(
    frame: pd.DataFrame,
    x: str,
    y: str | Sequence[str],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    horizontal: bool = False,
) -> Figure:
    """Bars of ``y`` (one column, or several side by side) per ``x``."""
    import numpy as np

    columns = [y] if isinstance(y, str) else list(y)
    _check(frame, columns, title)
    figure, axes = _figure(
        title, ylabel if horizontal else xlabel, xlabel if horizontal else ylabel
    )
    positions = np.arange(len(frame))
    width = 0.8 / len(columns)
    for number, column in enumerate(columns):
        offsets = positions + (number - (len(columns) - 1) / 2) * width
        values = frame[column].astype("float64")
        if horizontal:
            axes.barh(offsets, values, height=width, label=column)
        else:
            axes.bar(offsets, values, width=width, label=column)
    ticks = [str(v) for v in frame[x]]
    if horizontal:
        axes.set_yticks(positions, ticks)
        axes.invert_yaxis()
    else:
        axes.set_xticks(positions, ticks, rotation=45, ha="right")
    if len(columns) > 1:
        axes.legend()
    figure.tight_layout()
    return figure
