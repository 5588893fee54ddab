"""The curation benchmark (benchmarks/bench_curate.py) at toy size, so the script cannot rot.

A few products in one marketplace, one day of Sales & Traffic by ASIN and one mart (sales_daily),
then the new day on top: landing, the pyarrow floor, both curation steps, the incremental run
against the full refresh and the checks the script exits on. No figures are checked: speed is
the benchmark's to report.
"""

from __future__ import annotations

from ..benchmarks import load


def test_the_benchmark_runs_and_its_checks_pass(spark, tmp_path, capsys):
    argv = ["--products", "6", "--marketplaces", "US", "--days", "1", "--workers", "1",
            "--datasets", "sales_traffic_by_asin", "--marts", "sales_daily",
            "--lake-dir", str(tmp_path)]  # fmt: skip
    assert load("bench_curate").main(argv, spark=spark) == 0
    out = capsys.readouterr().out
    assert "result: all checks passed" in out
    assert "floor: pyarrow documents -> Parquet" in out
    incremental = next(line for line in out.splitlines() if line.startswith("incremental "))
    assert incremental.split()[1] == "1"  # documents read: the new day's one document
    assert "1 of 2" in incremental  # cleaned partitions: only the new day's
