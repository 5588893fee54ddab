"""`make demo` keeps working: the pipeline runs end to end, its ground-truth check holds, and
a second run lands nothing new."""

from __future__ import annotations

import re

import pytest

from spapi_sandbox.demo import run


@pytest.mark.slow
@pytest.mark.spark  # the demo curates on a local Spark
def test_demo_runs_end_to_end_and_again(tmp_path):
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    assert run(lake, out, seed=42, scale=3600.0) == 0
    summary = (out / "summary.md").read_text(encoding="utf-8")
    for country in ("US", "DE", "JP"):
        found = re.search(rf"{country}: .* ground truth on (\d+) of (\d+) settled days", summary)
        assert found, summary
        matching, settled = map(int, found.groups())
        assert matching == settled >= 25
    assert "| sales_traffic_by_asin | 90 |" in summary  # 30 days x 3 marketplaces
    assert "FAILED" not in summary
    assert run(lake, out, seed=42, scale=3600.0) == 0
    again = (out / "summary.md").read_text(encoding="utf-8")
    assert re.search(r"reports: 0 requested, 0 landed, \d+ already landed", again), again
