"""`make demo` keeps working: the pipeline runs end to end, its ground-truth check holds, and
a second run lands nothing new."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spapi_sandbox.demo import run
from spapi_toolkit.analysis import run as notebooks
from spapi_toolkit.analysis import scope
from spapi_toolkit.analysis.claims import check

from ..support import END_DATE

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.spark  # the demo curates on a local Spark
@pytest.mark.timeout(900)  # ingestion, curation with its suites, six notebooks, then again
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
        returns = (rf"{country}: cleaned FBA returns \((\d+) units\) match the ground truth "
                   r"on (\d+) of (\d+) settled days with returns")  # fmt: skip
        found = re.search(returns, summary)
        assert found, summary
        units, matching, settled = map(int, found.groups())
        assert units > 0 and matching == settled > 0, found.group(0)
        fees = (rf"{country}: cleaned financial events match the sandbox's posted charges and "
                r"fees on (\d+) of (\d+) settled days")  # fmt: skip
        found = re.search(fees, summary)
        assert found, summary
        matching, settled = map(int, found.groups())
        assert matching == settled >= 20, found.group(0)
    assert "| sales_traffic_by_asin | 90 |" in summary  # 30 days x 3 marketplaces
    costs = re.search(r"unit_costs: (\d+) rows curated of the (\d+) loaded: yes", summary)
    assert costs and costs.group(1) == costs.group(2), summary
    assert "FAILED" not in summary
    agree = re.search(r"kiosk_sales_traffic agree on the (\d+) settled marketplace-days both "
                      r"hold \(0 ASIN-days differ\): yes", summary)  # fmt: skip
    assert agree and int(agree.group(1)) >= 20 * 3, summary
    rivals = re.search(r"competitor_daily matches the sandbox's catalog and offers on (\d+) "
                       r"of (\d+) watched rival-days \((\d+) marketplace-days\): yes",
                       summary)  # fmt: skip
    assert rivals, summary
    matching, total, days = map(int, rivals.groups())
    assert matching == total > 0 and days == 7 * 3  # seven snapshot mornings, 3 markets
    for stage in ("ingest: sandbox → raw", "curate: raw → cleaned → marts, suites",
                  "notebooks → HTML", "total"):  # fmt: skip
        assert re.search(rf"\| {stage} \| \d+ \|", summary), stage
    _notebooks_ran(reports)
    assert "## The reports' claims, checked against the lake" in summary, summary
    assert "- ok: 01: US ordered product sales equals the SUM" in summary
    assert "- ok: 02: every ASIN flagged for low conversion" in summary
    for report in ("00", "01", "02", "03", "04", "05"):
        assert f"- ok: {report}: " in summary, report
    losing = re.search(r"- ok: 05: the SKUs flagged as losing money .* \((\d+): ", summary)
    assert losing and int(losing.group(1)) > 0, "the demo's seller has SKUs that lose money"
    _altered_tables_fail_their_claims(lake, tmp_path / "altered")
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


ALTERED = [  # (table, which row, column, its new value, the claim that must then fail)
    ("cleaned/sales_traffic_by_asin", lambda f: f.units_ordered >= 0, "units_ordered",
     lambda v: v + 1, "00: units ordered per marketplace"),
    ("aggregated/customer_behavior", lambda f: f.orders > 0, "orders", lambda v: v + 1,
     "03: orders per marketplace"),
    ("aggregated/repeat_customers", lambda f: f.unique_customers > f.repeat_customers,
     "repeat_customers", lambda v: v + 1, "03: the weekly repeat-customer share"),
    ("aggregated/inventory_health", lambda f: f.stock_out_risk == "out_of_stock",
     "stock_out_risk", lambda v: "low", "02: the SKUs that need stock now"),
    ("aggregated/price_competitiveness", lambda f: f.buy_box_winner == "us", "buy_box_winner",
     lambda v: "other", "04: the Buy Boxes we held"),
    ("aggregated/search_terms_weekly",
     lambda f: (f.our_clicked_asins > 0) & (f.search_frequency_rank
                                            == f.search_frequency_rank.min()),
     "our_click_share", lambda v: v + 0.1, "04: our click share"),
    ("cleaned/financial_events", lambda f: f.event_list == "RefundEventList", "fees",
     lambda v: v - 1, "05: each marketplace's revenue and Amazon's fees"),
]  # fmt: skip


def _altered_tables_fail_their_claims(lake: str, copy: Path) -> None:
    """Each claim can fail: in a copy of the lake, one row of the table a report reads is
    altered per claim, and exactly those claims fail (the others still hold)."""
    shutil.copytree(lake, copy, ignore=shutil.ignore_patterns("raw"))
    for folder, where, column, change, _ in ALTERED:
        _alter(copy / folder, where, column, change)
    failed = {f"{c.report}: {c.claim}" for c in check(scope(str(copy))) if not c.holds}
    for *_, claim in ALTERED:
        assert any(line.startswith(claim) for line in failed), (claim, failed)
    assert len(failed) == len(ALTERED), failed


def _alter(folder: Path, where: Any, column: str, change: Any) -> None:
    """The first row ``where`` holds in ``folder``'s latest partition files gets ``column``
    changed, its file rewritten with the same schema."""
    for path in sorted(folder.rglob("*.parquet"), reverse=True):
        read = pq.read_table(path)
        frame = read.to_pandas()
        rows = frame.index[where(frame).fillna(False)]
        if len(rows):
            frame.loc[rows[0], column] = change(frame.loc[rows[0], column])
            pq.write_table(pa.Table.from_pandas(frame, schema=read.schema, preserve_index=False),
                           path)  # fmt: skip
            return
    raise AssertionError(f"no row of {folder} to alter")


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
