"""The period against the one before it and the same one a year earlier: what Seller Central's
Business Reports open with, per marketplace in its currency and across marketplaces in the
lake's reporting currency.

A comparison is shown only where the lake holds every day of it (a marketplace that holds 12
of 30 days of last year has no "last year" figure, and the notes say why): half a period
against a whole one is no comparison. Sums in the reporting currency across marketplaces are
shown only when every row was converted (a day without an FX rate has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from spapi_toolkit.analysis.scope import Scope, country, missing, money

if TYPE_CHECKING:
    import pandas as pd

ALL = "all marketplaces"
MEASURES = {  # the query's column -> the measure's name
    "sales": "ordered product sales",
    "units_ordered": "units ordered",
    "total_order_items": "order items",
    "sessions": "sessions",
}


@dataclass(frozen=True)
class Period:
    """A named run of days, both ends included."""

    label: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.label} ({self.start} to {self.end})"


def periods(start: date, end: date) -> tuple[Period, Period, Period]:
    """The period, the one as long just before it, and the same dates a year earlier (29
    February a year earlier is the 28th)."""
    length = end - start + timedelta(days=1)
    return (
        Period("this period", start, end),
        Period("previous period", start - length, start - timedelta(days=1)),
        Period("same period last year", _year_before(start), _year_before(end)),
    )


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


@dataclass
class Comparison:
    """The totals of a scope's period and of its two comparisons (``table``: one row per
    marketplace and measure, and the same across marketplaces in the reporting currency) and
    the notes on what could not be compared."""

    periods: tuple[Period, Period, Period]
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The headline per marketplace and across them, in words, with the notes."""
        now, before, last_year = self.periods
        lines = [f"**{now.start} to {now.end}** ({now.days} days) against the {before} and the "
                 f"{last_year}:", ""]  # fmt: skip
        sales = self.table[self.table.measure == MEASURES["sales"]]
        for row in sales.to_dict("records"):
            said = [_against(row, p.label) for p in self.periods[1:]]
            sales_now = money(row["this_period"], row["currency"])
            lines.append("; ".join([f"- {row['marketplace']}: ordered product sales {sales_now}",
                                    *(words for words in said if words)]))  # fmt: skip
        lines += ["", *[f"- {note}" for note in self.notes]] if self.notes else []
        return "\n".join(lines)


def formatted(comparison: Comparison) -> pd.DataFrame:
    """``comparison.table`` for people: money with its currency's minor units, counts with
    thousands separators, changes signed, "-" where there is no figure."""
    table = comparison.table.copy()
    for column in ("this_period", "previous_period", "same_period_last_year"):
        table[column] = [
            money(value, currency) if measure == MEASURES["sales"] else _count(value)
            for value, currency, measure in zip(
                table[column], table.currency, table.measure, strict=True
            )
        ]
    for column in ("previous_change_%", "last_year_change_%"):
        table[column] = ["-" if missing(v) else f"{v:+.1f}" for v in table[column]]
    return table.drop(columns="currency").set_index(["marketplace", "measure"])


def _count(value: Any) -> str:
    return "-" if missing(value) else f"{int(value):,}"


def compare(scope: Scope) -> Comparison:
    """The scope's period against the previous one and the same one last year (module doc)."""
    import pandas as pd

    spans = periods(scope.start, scope.end)
    found = [
        scope.con.query("period_totals", start=p.start, end=p.end, marketplaces=scope.marketplaces)
        for p in spans
    ]
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    per_market = [_by_marketplace(frame) for frame in found]
    short: dict[tuple[Period, int], list[str]] = {}  # (period, days held) -> marketplaces
    for market in scope.marketplaces:
        now = per_market[0].get(market)
        if now is None:
            notes.append(f"{country(market)} has no sales in {spans[0]}")
            continue
        held = []
        for period, found_then in zip(spans[1:], per_market[1:], strict=True):
            days = int(found_then[market]["days"]) if market in found_then else 0
            held.append(found_then[market] if days == period.days else None)
            if days != period.days:
                short.setdefault((period, days), []).append(country(market))
        for column, measure in MEASURES.items():
            rows.append(_row(country(market), now["currency"], measure, now, held, column))
    notes += [f"no {period.label} figures for {', '.join(markets)}: the lake holds {days} of "
              f"its {period.days} days ({period.start} to {period.end})"
              for (period, days), markets in short.items()]  # fmt: skip
    rows += _across(scope, spans, per_market, notes)
    table = pd.DataFrame(rows, columns=_COLUMNS)
    return Comparison(spans, table, notes)


_COLUMNS = ["marketplace", "currency", "measure", "this_period", "previous_period",
            "previous_change_%", "same_period_last_year", "last_year_change_%"]  # fmt: skip


def _by_marketplace(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The query's rows by marketplace, ``sales`` the local ordered product sales."""
    out = {}
    for record in frame.to_dict("records"):
        record["sales"] = record["ordered_product_sales"]
        out[record["marketplace_id"]] = record
    return out


def _row(
    market: str,
    currency: str | None,
    measure: str,
    now: dict[str, Any],
    held: list[dict[str, Any] | None],
    column: str,
) -> dict[str, Any]:
    whole = column != "sales"  # counts are integers; money keeps its decimals
    value = _number(now[column], whole)
    before, last_year = (None if h is None else _number(h[column], whole) for h in held)
    return dict(zip(_COLUMNS, [market, currency if column == "sales" else None, measure, value,
                               before, _change(value, before), last_year,
                               _change(value, last_year)], strict=True))  # fmt: skip


def _across(
    scope: Scope,
    spans: tuple[Period, Period, Period],
    per_market: list[dict[str, dict[str, Any]]],
    notes: list[str],
) -> list[dict[str, Any]]:
    """The rows across marketplaces: sales in the reporting currency, the counts summed; a
    comparison only when every marketplace holds it (else some would be missing from it)."""
    if len(scope.marketplaces) < 2 or any(m not in per_market[0] for m in scope.marketplaces):
        return []
    totals: list[dict[str, Any] | None] = []
    for i, period in enumerate(spans):
        records = [per_market[i].get(m) for m in scope.marketplaces]
        complete = all(r is not None and int(r["days"]) == period.days for r in records)
        if i and not complete:
            totals.append(None)
            continue
        held = [r for r in records if r is not None]
        total: dict[str, Any] = {
            c: sum(_number(r[c], True) or 0 for r in held) for c in MEASURES if c != "sales"
        }
        converted = all(int(r["unconverted_rows"]) == 0 for r in held)
        reporting = {r["reporting_currency"] for r in held} - {None}
        total["sales"] = (
            sum(_number(r["ordered_product_sales_reporting"], False) or 0 for r in held)
            if converted and len(reporting) == 1 else None
        )  # fmt: skip
        if total["sales"] is None and i == 0:
            notes.append(f"{ALL}: no total sales in one currency: some days have no FX rate "
                         "in the lake (the marts convert with the rate of the day or the "
                         "7 days before)")  # fmt: skip
        total["currency"] = next(iter(reporting)) if len(reporting) == 1 else None
        totals.append(total)
    now = totals[0]
    assert now is not None
    currency = now["currency"] or scope.reporting_currency
    return [_row(ALL, currency, measure, now, totals[1:], column)
            for column, measure in MEASURES.items()]  # fmt: skip


def _number(value: Any, whole: bool) -> int | Decimal | None:
    """A query's figure as an int (``whole``) or a Decimal; None when it has none."""
    if missing(value):
        return None
    return int(value) if whole else Decimal(str(value))


def _change(now: Any, before: Any) -> float | None:
    """The change in percent, one decimal; None without a base."""
    if now is None or before is None or before == 0:
        return None
    return round(float((Decimal(now) - Decimal(before)) / Decimal(before) * 100), 1)


def _against(row: dict[str, Any], label: str) -> str | None:
    """One comparison of a row in words, the figure and the change; None without one (the
    notes say why)."""
    value = row[label.replace(" ", "_")]
    if missing(value):
        return None
    change = row["previous_change_%" if label == "previous period" else "last_year_change_%"]
    moved = "" if missing(change) else f", {change:+.1f} %"
    return f"{label} {money(value, row['currency'])}{moved}"
