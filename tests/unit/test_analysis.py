"""The notebooks' helpers: charts refuse to draw nothing, the scope comes from the data (never
from today's date), and the committed notebooks carry no outputs and a parameters cell."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from spapi_toolkit.analysis import EmptyResult, charts, scope
from spapi_toolkit.lake.marts import mart
from spapi_toolkit.lake.query import QueryError
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import table

from ..lakefiles import write_rows

matplotlib.use("Agg")
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"


def test_a_chart_of_nothing_is_refused_by_its_title():
    empty = pd.DataFrame({"day": [], "units": []})
    with pytest.raises(charts.EmptyChart, match="'Units per day' has no data"):
        charts.lines(empty, "day", "units", title="Units per day", xlabel="day", ylabel="units")
    blank = pd.DataFrame({"day": [1, 2], "units": [None, float("nan")]})
    with pytest.raises(charts.EmptyChart, match="has no data"):
        charts.bars(blank, "day", "units", title="Units", xlabel="day", ylabel="units")
    with pytest.raises(charts.EmptyChart, match=r"no column \['revenue'\]"):
        charts.bars(blank, "day", "revenue", title="Revenue", xlabel="day", ylabel="USD")


def test_a_line_of_one_point_is_a_note_not_a_chart(capsys):
    snapshot = pd.DataFrame({"day": ["2026-12-06"] * 2, "rank": [3, 9], "asin": ["A", "B"]})
    figure = charts.lines(snapshot, "day", "rank", by="asin", title="Sales rank",
                          xlabel="snapshot day", ylabel="rank")  # fmt: skip
    assert figure is None
    said = capsys.readouterr().out
    assert "Sales rank" in said and "one snapshot day only (2026-12-06)" in said
    two = pd.concat([snapshot, snapshot.assign(day="2026-12-07")])
    assert charts.lines(two, "day", "rank", by="asin", title="t", xlabel="d", ylabel="r")


def test_charts_are_titled_and_labelled():
    frame = pd.DataFrame({"day": [1, 2, 1, 2], "units": [3, 4, Decimal("5"), 6],
                          "market": ["US", "US", "DE", "DE"]})  # fmt: skip
    figure = charts.lines(frame, "day", "units", by="market", title="Units per day",
                          xlabel="local day", ylabel="units ordered")  # fmt: skip
    [axes] = figure.axes
    assert (axes.get_title(), axes.get_xlabel(), axes.get_ylabel()) == (
        "Units per day", "local day", "units ordered")  # fmt: skip
    assert len(axes.get_lines()) == 2
    bars = charts.bars(frame.head(2), "day", ["units"], horizontal=True, title="t",
                       xlabel="day", ylabel="units ordered")  # fmt: skip
    assert bars.axes[0].get_xlabel() == "units ordered"  # the values' axis


def _sales(marketplace, day):
    return dict(seller_id="S", marketplace_id=marketplace, date=day, child_asin="B01",
                currency="USD", units_ordered=1, ordered_product_sales=Decimal("1.00"))  # fmt: skip


def test_the_default_period_ends_on_the_lakes_last_day_not_today(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    write_rows(lake, mart("sales_daily"), [_sales(US, date(2025, 3, 30)),
                                           _sales(US, date(2025, 3, 31)),
                                           _sales(DE, date(2025, 4, 2))])  # fmt: skip
    every = scope(str(tmp_path))
    assert (every.marketplaces, every.start, every.end) == (
        [DE, US], date(2025, 3, 4), date(2025, 4, 2))  # fmt: skip
    american = scope(str(tmp_path), marketplaces=["US"], days=7)
    assert (american.start, american.end) == (date(2025, 3, 25), date(2025, 3, 31))
    assert american.describe() == "US 2025-03-25 to 2025-03-31"
    with pytest.raises(EmptyResult, match="returned no rows for US 2024-01-01 to 2024-01-31"):
        scope(str(tmp_path), marketplaces=["US"], start="2024-01-01", end="2024-01-31").query(
            "sales_by_day"
        )
    (tmp_path / "bare" / "cleaned").mkdir(parents=True)
    with pytest.raises(EmptyResult, match="has no sales_daily yet"):
        scope(str(tmp_path / "bare"))


def test_an_optional_section_without_rows_is_skipped_with_a_note(tmp_path, capsys):
    lake = Lake.from_uri(str(tmp_path))
    write_rows(lake, mart("sales_daily"), [_sales(US, date(2025, 3, 31))])
    analysis = scope(str(tmp_path))
    assert analysis.optional("inventory_latest", "Inventory") is None
    assert "**Inventory: skipped.** The lake holds no rows of query 'inventory_latest' for US " \
           "2025-03-02 to 2025-03-31" in capsys.readouterr().out  # fmt: skip
    assert len(analysis.optional("sales_by_day", "Sales")) == 1


def test_asins_get_their_latest_title_up_to_the_periods_end(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    write_rows(lake, mart("sales_daily"), [_sales(US, date(2025, 3, 31))])

    def snapshot(day, asin, title, marketplace=US):
        return dict(marketplace_id=marketplace, snapshot_date=day, asin=asin, title=title)

    write_rows(lake, table("catalog_items"), [
        snapshot(date(2025, 3, 1), "B01", "Old name"),
        snapshot(date(2025, 4, 1), "B01", "Renamed"),  # the day after the end: its state then
        snapshot(date(2025, 4, 2), "B01", "Renamed after the period"),
        snapshot(date(2025, 4, 1), "B01", "Another marketplace's", marketplace=DE),
    ])  # fmt: skip
    analysis = scope(str(tmp_path), marketplaces=["US"])
    frame = pd.DataFrame({"marketplace_id": [US, US], "asin": ["B01", "B99"], "units": [3, 1]})
    titled = analysis.titled(frame)
    assert list(titled.columns) == ["marketplace_id", "asin", "title", "units"]
    assert titled.title.iloc[0] == "Renamed" and pd.isna(titled.title.iloc[1])


def test_a_reporting_currency_other_than_the_lakes_is_refused(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    rows = [_sales(US, date(2025, 3, 31)), _sales(DE, date(2025, 3, 31))]
    for row in rows:
        row.update(reporting_currency="USD")
    write_rows(lake, mart("sales_daily"), rows)
    assert scope(str(tmp_path), reporting_currency="USD").reporting_currency == "USD"
    assert scope(str(tmp_path)).reporting_currency is None
    with pytest.raises(QueryError, match=r"^reporting_currency 'EUR': this lake converts money "
                                         r"into USD .* use reporting_currency='USD'"):  # fmt: skip
        scope(str(tmp_path), marketplaces=["DE"], reporting_currency="EUR")


def test_the_notebooks_are_committed_without_outputs_and_with_parameters():
    books = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert books, "the notebooks are in notebooks/"
    for path in books:
        book = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in book["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), path.name
        tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1 and "lake = None" in "".join(tagged[0]["source"]), path.name
        assert book["metadata"]["kernelspec"]["name"] == "spapi-lake", path.name
        assert book["cells"][0]["cell_type"] == "markdown", f"{path.name}: say what it answers"


def test_a_relative_lake_reaches_the_notebooks_as_an_absolute_path(tmp_path, monkeypatch):
    """Notebooks run in their own folder, so ``run`` makes a local lake absolute first."""
    import nbformat

    from spapi_toolkit.analysis import run as runner

    folder = tmp_path / "books"
    folder.mkdir()
    book = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python"}}
    )
    parameters = nbformat.v4.new_code_cell("lake = None")
    parameters.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell(
        "from pathlib import Path\nassert Path(lake).is_absolute() and Path(lake).name == 'lake'"
    )
    book.cells = [parameters, check]
    nbformat.write(book, folder / "probe.ipynb")
    monkeypatch.chdir(tmp_path)
    [done] = runner.run(folder, tmp_path / "out", {"lake": "lake"})
    assert done.ok, done.error
