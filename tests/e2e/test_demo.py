"""`make demo` keeps working: the pipeline runs end to end, its ground-truth check holds, and
a second run lands nothing new."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from spapi_sandbox.demo import run
from spapi_toolkit.analysis import run as notebooks

from ..support import END_DATE

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.spark  # the demo curates on a local Spark
@pytest.mark.timeout(900)  # ingestion, curation with its suites, five notebooks, then again
def test_demo_runs_end_to_end_and_again(tmp_path):
    lake, out, reports = str(tmp_path / "lake"), tmp_path / "out", tmp_path / "reports"
    assert run(lake, out, seed=42, scale=3600.0, notebooks=NOTEBOOKS, reports=reports,
               end_date=END_DATE) == 0  # fmt: skip
    summary = (out / "summary.md").read_text(encoding="utf-8")
    for country in ("US", "DE", "JP"):
        found = re.search(rf"{country}: .* ground truth on (\d+) of (\d+) settled days", summary)
        assert found, summary
        matching, settled = map(int, found.groups())
        assert matching == settled >= 25
    assert "| sales_traffic_by_asin | 90 |" in summary  # 30 days x 3 marketplaces
    assert "FAILED" not in summary
    for stage in ("ingest: sandbox → raw", "curate: raw → cleaned → marts, suites",
                  "notebooks → HTML", "total"):  # fmt: skip
        assert re.search(rf"\| {stage} \| \d+ \|", summary), stage
    _notebooks_ran(reports)
    assert "## The reports' claims, checked against the lake" in summary, summary
    assert "- ok: 01: US ordered product sales equals the SUM" in summary
    assert "- ok: 02: every ASIN flagged for low conversion" in summary
    _a_period_without_data_fails(lake, tmp_path / "empty")
    _another_reporting_currency_fails(lake, tmp_path / "eur")
    _a_period_before_the_snapshots_skips_their_sections(lake, tmp_path / "early")
    assert run(lake, out, seed=42, scale=3600.0, end_date=END_DATE) == 0
    again = (out / "summary.md").read_text(encoding="utf-8")
    assert re.search(r"reports: 0 requested, 0 landed, \d+ already landed", again), again


def _notebooks_ran(reports: Path) -> None:
    """Every notebook ran on the demo's lake to HTML, each with charts (which refuse to draw
    nothing) embedded as images."""
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert sorted(p.stem for p in reports.glob("*.html")) == names
    for name in names:
        html = (reports / f"{name}.html").read_text(encoding="utf-8")
        assert html.count("data:image/png;base64,") >= 1, name
        assert "Traceback" not in html and "EmptyResult" not in html, name


def _a_period_without_data_fails(lake: str, reports: Path) -> None:
    [empty] = notebooks.run(NOTEBOOKS, reports, {"lake": lake, "start": "2020-01-01",
                                                 "end": "2020-01-31"},
                            names=["00_quickstart"])  # fmt: skip
    assert not empty.ok and "EmptyResult" in empty.error and "2020-01-01" in empty.error


def _another_reporting_currency_fails(lake: str, reports: Path) -> None:
    """One marketplace in another currency than the lake's: an error naming the lake's, not
    USD figures under a EUR label."""
    [run_eur] = notebooks.run(NOTEBOOKS, reports, {"lake": lake, "marketplaces": ["DE"],
                                                   "reporting_currency": "EUR"},
                              names=["01_sales_performance"])  # fmt: skip
    assert not run_eur.ok
    assert "reporting_currency 'EUR': this lake converts money into USD" in str(run_eur.error)


def _a_period_before_the_snapshots_skips_their_sections(lake: str, reports: Path) -> None:
    """The demo's snapshots are of its last day: 02 over a period that ends before it still
    runs, and says which sections it skipped (rendered without its code, for readers)."""
    end = (END_DATE - timedelta(days=3)).isoformat()
    [early] = notebooks.run(NOTEBOOKS, reports, {"lake": lake, "end": end},
                            names=["02_product_performance"], no_input=True)  # fmt: skip
    assert early.ok, early.error
    assert early.html is not None
    html = early.html.read_text(encoding="utf-8")
    assert "<strong>Inventory: skipped.</strong>" in html
    assert 'class="n">analysis' not in html, "--no-input leaves the code out"
