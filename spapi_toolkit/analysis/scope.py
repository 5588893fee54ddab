"""The scope of an analysis: which lake, marketplaces and days, and how trustworthy the tables are.

Defaults come from the data, never from today's date: without ``end`` the period ends on the
last day ``sales_daily`` holds for the chosen marketplaces, so a notebook run next year on this
year's lake shows the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from spapi_toolkit.lake.query import LakeConnection, QueryError, connect
from spapi_toolkit.regions import marketplace

if TYPE_CHECKING:
    import pandas as pd

ANCHOR = "sales_daily"  # the mart whose last day ends the default period
MINOR_UNITS = {"JPY": 0}  # ISO 4217 minor units of Amazon's currencies, where not 2


class EmptyResult(QueryError):
    """A query an analysis needs returned no rows (names the query and its parameters)."""


@dataclass
class Scope:
    """One analysis: a connection, the marketplaces and the days it covers."""

    con: LakeConnection
    marketplaces: list[str]
    start: date
    end: date
    reporting_currency: str | None = None
    read: list[str] = field(default_factory=list)  # the tables the analysis said it reads
    _titles: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        """The parameters every named query takes: ``start``, ``end``, ``marketplaces``."""
        return {"start": self.start, "end": self.end, "marketplaces": list(self.marketplaces)}

    def query(self, name: str, **extra: Any) -> pd.DataFrame:
        """The named query's rows for this scope; ``EmptyResult`` when there are none, so a
        notebook never draws a chart of nothing."""
        frame = self.con.query(name, **self.params, **extra)
        if frame.empty:
            raise EmptyResult(
                f"query {name!r} returned no rows for {self.describe()} "
                f"(extra parameters: {extra or 'none'})"
            )
        return frame

    def optional(self, name: str, section: str, **extra: Any) -> pd.DataFrame | None:
        """The named query's rows, or None when there are none, with a note that ``section``
        is skipped and why: a report goes on past a part the lake holds no data for in the
        period (an inventory snapshot after its end, a dataset not ingested)."""
        try:
            return self.query(name, **extra)
        except EmptyResult:
            say(f"**{section}: skipped.** The lake holds no rows of query {name!r} for "
                f"{self.describe()} (see the table of how fresh each table is above).")  # fmt: skip
            return None

    def titled(self, frame: pd.DataFrame, asin: str = "asin", into: str = "title") -> pd.DataFrame:
        """``frame`` (with ``marketplace_id`` and an ASIN column) with each ASIN's title in an
        ``into`` column beside it: its latest catalog title up to the period's end (empty
        for an ASIN no catalog snapshot from 90 days before the period on holds)."""
        if into in frame.columns:
            return frame
        if self._titles is None:
            self._titles = self.con.query("asin_titles", **self.params)
        titles = self._titles.rename(columns={"asin": asin, "title": into})
        return _beside(frame, titles, asin, into)

    def with_asins(self, frame: pd.DataFrame, sku: str = "sku") -> pd.DataFrame:
        """``frame`` (with ``marketplace_id`` and a SKU column) with each SKU's ``asin`` beside
        it, as its orders of the period name it (the ``sku_asins`` query; empty for a SKU
        without orders in the period), so ``titled`` can label it."""
        if "asin" in frame.columns:
            return frame
        asins = self.con.query("sku_asins", **self.params).rename(columns={"sku": sku})
        return _beside(frame, asins, sku, "asin")

    def describe(self) -> str:
        """The scope in words, e.g. ``US, DE 2026-10-29 to 2026-11-27``."""
        return f"{', '.join(country(m) for m in self.marketplaces)} {self.start} to {self.end}"

    def status(self, *tables: str) -> str:
        """Markdown saying, for each table (``zone.table``), how fresh it is and whether it
        passed its checks; a failed or unchecked table is said plainly."""
        self.read = list(tables)
        lines = [f"**Scope:** {self.describe()}"
                 + (f", reporting currency {self.reporting_currency}" if self.reporting_currency
                    else "")]  # fmt: skip
        try:
            fresh = self.con.freshness()
            quality = self.con.quality()
        except QueryError as exc:
            return "\n\n".join([*lines, f"Freshness and checks unknown: {exc}"])
        lines += ["", "| table | last day per marketplace | curated at (UTC) | checks |",
                  "|---|---|---|---|"]  # fmt: skip
        for qualified in tables:
            zone, _, name = qualified.partition(".")
            rows = fresh[(fresh.zone == zone) & (fresh.table == name)]
            # A table kept for no marketplace (fx_rates, unit_costs) holds for every one.
            days = (
                ", ".join(
                    f"{country(r.marketplace_id) if r.marketplace_id else 'every marketplace'} "
                    f"{r.last_day}"
                    for r in rows.itertuples()
                    if r.marketplace_id in self.marketplaces or missing(r.marketplace_id)
                )
                or "no data"
            )
            curated = rows.curated_at.dropna().max() if len(rows) else None
            checked = quality[(quality.zone == zone) & (quality.table == name)]
            if checked.empty:
                verdict = "not checked yet"
            elif bool(checked.iloc[0].success):
                verdict = f"passed ({checked.iloc[0].evaluated} expectations)"
            else:
                verdict = f"**FAILED**: {checked.iloc[0].failures}"
            lines.append(f"| {qualified} | {days} | {curated or '-'} | {verdict} |")
        failed = [t for t in tables if "**FAILED**" in next(
            (line for line in lines if line.startswith(f"| {t} |")), "")]  # fmt: skip
        if failed:
            lines += ["", f"**Warning:** {', '.join(failed)} failed their checks: the figures "
                          "below that use them may be wrong."]  # fmt: skip
        return "\n".join(lines)


def _beside(frame: pd.DataFrame, lookup: pd.DataFrame, key: str, added: str) -> pd.DataFrame:
    """``frame`` with ``lookup``'s ``added`` column (by marketplace and ``key``) right after
    ``key``; empty where ``lookup`` has no row."""
    out = frame.merge(lookup, on=["marketplace_id", key], how="left")
    columns = list(frame.columns)
    after = columns.index(key) + 1
    return out[[*columns[:after], added, *columns[after:]]]


def say(text: str) -> None:
    """Markdown in the notebook's output (plain text outside IPython)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    display(Markdown(text))


def missing(value: Any) -> bool:
    """Whether a figure from a query is absent: None, NaN, or pandas' NA (a nullable integer
    column's null, on which ``value != value`` raises instead of answering)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def money(amount: Any, currency: str | None) -> str:
    """An amount with its currency's minor units: ``1,331.99 EUR``, ``3,780 JPY``; ``-``
    without one."""
    if missing(amount) or currency is None:
        return "-" if missing(amount) else f"{amount:,}"
    places = MINOR_UNITS.get(currency, 2)
    return f"{float(amount):,.{places}f} {currency}"


def with_money(
    frame: pd.DataFrame, columns: Sequence[str], currency: str | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` for display with ``columns`` as ``money()`` text: each row in its
    ``currency`` column's currency, or all in ``currency`` when given (a reporting-currency
    column)."""
    shown = frame.copy()
    currencies = [currency] * len(frame) if currency else list(frame["currency"])
    for column in columns:
        shown[column] = [money(v, c) for v, c in zip(frame[column], currencies, strict=True)]
    return shown


def country(marketplace_id: str | None) -> str:
    """A marketplace's country code for labels (the id itself when unknown; ``all`` for a
    table not kept per marketplace, whose ``marketplace_id`` is null)."""
    if marketplace_id is None or missing(marketplace_id):
        return "all"
    try:
        return marketplace(marketplace_id).country_code
    except ValueError:
        return marketplace_id


def day(value: Any) -> str:
    """A date, datetime or pandas timestamp as ``YYYY-MM-DD`` for titles and prose (DuckDB
    hands dates to pandas as midnight timestamps)."""
    import pandas as pd

    return f"{pd.Timestamp(value):%Y-%m-%d}"


def scope(
    lake: str | None = None,
    *,
    workgroup: str | None = None,
    databases: Mapping[str, str] | None = None,
    marketplaces: Sequence[str] | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    days: int = 30,
    reporting_currency: str | None = None,
) -> Scope:
    """The scope of a notebook from its parameters.

    Parameters
    ----------
    lake
        A local lake folder, or ``s3://...`` on AWS (for freshness and checks); default
        ``$SPAPI_LAKE``.
    workgroup, databases
        Athena's workgroup and the Glue databases by zone, to run on AWS (see ``connect``).
    marketplaces
        Marketplace ids or country codes; default every marketplace ``sales_daily`` holds.
    start, end
        The days covered (ISO dates); default the last ``days`` days ``sales_daily`` holds.
    reporting_currency
        The currency to report money in besides the local one: the lake's (the one its FX
        rates convert into), or an error naming it; None for local currencies only.
    """
    con = connect(lake, workgroup=workgroup, databases=databases)
    chosen = con.marketplace_ids(marketplaces) if marketplaces else None
    last: date | None = _date(end)
    if chosen is None or last is None:
        fresh = con.freshness()
        anchor = fresh[fresh.table == ANCHOR]
        if anchor.empty:
            raise EmptyResult(f"the lake has no {ANCHOR} yet: curate it first (spapi curate)")
        if chosen is None:
            chosen = sorted(anchor.marketplace_id)
        if last is None:
            held = anchor[anchor.marketplace_id.isin(chosen)]
            if held.empty:
                raise EmptyResult(f"{ANCHOR} has no rows for the marketplaces {chosen}")
            last = date.fromisoformat(max(held.last_day))
    first = _date(start) or last - timedelta(days=days - 1)
    if first > last:
        raise QueryError(f"the period starts ({first}) after it ends ({last})")
    chosen_scope = Scope(con, chosen, first, last, reporting_currency)
    if reporting_currency is not None:
        _lakes_currency(chosen_scope, reporting_currency)
    return chosen_scope


def _lakes_currency(chosen: Scope, wanted: str) -> None:
    """An error unless the marts converted the scope's money into ``wanted``: a lake has one
    reporting currency (its FX rates convert into one), and another would only relabel it."""
    found = sorted(chosen.con.query("reporting_currency", **chosen.params).reporting_currency)
    if found and wanted not in found:
        held = " and ".join(found)
        raise QueryError(
            f"reporting_currency {wanted!r}: this lake converts money into {held} (its FX "
            f"rates), so {wanted} figures would be {held} figures under another label; use "
            f"reporting_currency={found[0]!r} (or None for local currencies only)"
        )


def _date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
