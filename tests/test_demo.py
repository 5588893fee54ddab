"""`make demo` keeps working: the demo runs end to end and its summary says what it checked."""

from __future__ import annotations

import re

from spapi_toolkit.demo import run


def test_demo_runs_end_to_end(tmp_path):
    assert run(tmp_path, seed=42, scale=600.0) == 0
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.count("| DONE |") == 9  # 3 report types x US, DE, JP
    for country in ("US", "DE", "JP"):
        found = re.search(rf"{country}: .* ground truth on (\d+) of (\d+) settled days", summary)
        assert found, summary
        matching, settled = map(int, found.groups())
        assert matching == settled >= 10
    assert "throttled (429)" in summary
    jp_orders = tmp_path / "JP" / "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL.tsv"
    jp_orders.read_bytes().decode("cp932")  # Japanese flat files arrive in Shift_JIS
