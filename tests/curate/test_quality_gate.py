"""The gate's attribution on a small frame: each kind of expectation the suites use fails GX in
one partition, and the gate blames exactly that partition with the right row count; a failure
no row can be blamed for (a missing column) holds back the whole batch."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from spapi_toolkit.clock import ManualClock
from spapi_toolkit.lake.quality import gate
from spapi_toolkit.lake.quality.suites import IN_WINDOW, TOTALS, Check, Spec
from spapi_toolkit.lake.storage import Lake

CLOCK = ManualClock(datetime(2026, 11, 28, 8, tzinfo=UTC))


D1, D2, D3 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
SCHEMA = "mp string, d date, k string, status string, price decimal(18,2), share double, n bigint"


def _checks() -> tuple[Check, ...]:
    def check(kind: str, rule: str, **kwargs):  # type: ignore[no-untyped-def]
        what = kwargs.get("column") or kwargs.get("column_A") or ""
        return Check(kind, kwargs, rule, f"{rule} {what}".strip())

    return (
        check("expect_table_columns_to_match_set", "columns", column_set=["mp", "d", "k"],
              exact_match=False),
        check("expect_column_values_to_be_of_type", "type", column="price", type_="DecimalType"),
        check("expect_column_values_to_not_be_null", "not_null", column="status"),
        check("expect_column_values_to_be_in_set", "allowed", column="status",
              value_set=["Shipped", "Pending"]),
        check("expect_column_values_to_be_between", "range", column="price", min_value=0),
        check("expect_column_values_to_be_between", "range", column="share", min_value=0,
              max_value=1),
        check("expect_compound_columns_to_be_unique", "unique_key", column_list=["mp", "d", "k"]),
        check("expect_column_values_to_be_in_set", "in_window", column=f"{IN_WINDOW}d",
              value_set=[True]),
        check("expect_column_values_to_be_in_set", "totals", column=f"{TOTALS}n",
              value_set=[True]),
    )  # fmt: skip


def _frame(spark, spec, rows):  # type: ignore[no-untyped-def]
    """The rows with the business rules' columns, as the jobs add them: one document per
    marketplace, the US one asked for D1-D2 only; cleaned totals that disagree on DE D2."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(rows, SCHEMA).withColumn("raw_key", F.col("mp"))
    windows = {"US": (D1.isoformat(), D2.isoformat()), "DE": (D1.isoformat(), D3.isoformat())}
    frame = gate.with_windows(spark, frame, spec, windows)
    cleaned = spark.createDataFrame(
        [("US", D1, 3), ("US", D2, 1), ("US", D3, 0), ("DE", D1, 1), ("DE", D2, 5), ("DE", D3, 1)],
        "market string, day date, units bigint",
    )
    return gate.with_totals(frame, spec, cleaned, {"n": "units"}, {"market": "mp", "day": "d"})


def test_each_failed_expectation_is_blamed_on_its_partition_with_its_count(spark, tmp_path):
    spec = Spec("cleaned", "t", ("mp", "d"), _checks())
    rows = [
        ("US", D1, "a", "Shipped", Decimal("1.00"), 0.5, 1),
        ("US", D1, "b", None, Decimal("-2.00"), 0.5, 1),  # null status, negative price
        ("US", D1, "c", "Lost", Decimal("3.00"), 1.5, 1),  # status not allowed, share above 1
        ("US", D2, "a", "Shipped", Decimal("1.00"), 0.1, 1),
        ("US", D3, "a", "Pending", Decimal("1.00"), 0.1, 0),  # after the US window
        ("DE", D1, "a", "Shipped", Decimal("1.00"), 0.1, 1),
        ("DE", D2, "a", "Shipped", Decimal("1.00"), 0.1, 2),  # totals 2 + 2, cleaned says 5
        ("DE", D2, "b", "Shipped", Decimal("1.00"), 0.1, 2),
        ("DE", D3, "a", "Shipped", Decimal("1.00"), 0.2, 1),  # the key twice
        ("DE", D3, "a", "Shipped", Decimal("1.00"), 0.2, 0),
    ]
    lake = Lake.from_uri(str(tmp_path))
    validator = gate.Validator(lake, "run-1", CLOCK)
    try:
        outcome = validator.validate(_frame(spark, spec, rows), spec)
        found = {f.description: (f.unexpected, f.partitions) for f in outcome.failures}
        us1, us3 = f"mp=US/d={D1}", f"mp=US/d={D3}"
        de2, de3 = f"mp=DE/d={D2}", f"mp=DE/d={D3}"
        assert found == {
            "not_null status": (1, {us1: 1}),
            "allowed status": (1, {us1: 1}),
            "range price": (1, {us1: 1}),
            "range share": (1, {us1: 1}),
            "unique_key": (2, {de3: 2}),
            f"in_window {IN_WINDOW}d": (1, {us3: 1}),
            f"totals {TOTALS}n": (2, {de2: 2}),
        }
        assert len(outcome.failures) == 7 and not outcome.success
        assert outcome.blocked == sorted([us1, us3, de2, de3])
        assert outcome.blocked_values[0] == ("DE", D2)
        latest = json.loads(lake.read_bytes("_quality/latest/cleaned/t.json"))
        assert latest["blocked"] == outcome.blocked and latest["failed"] == 7
        assert latest["at"] == CLOCK.now().isoformat() and latest["run_id"] == "run-1"

        # A column the suite needs is missing: no row to blame, the whole batch is held back.
        missing = Spec("cleaned", "t", ("mp", "d"), (_checks()[0],))
        frame = spark.createDataFrame([("US", D1, 1)], "mp string, d date, x bigint")
        outcome = validator.validate(frame, missing)
        [failure] = outcome.failures
        assert failure.partitions == {} and failure.line("t").endswith("the whole batch")
        assert outcome.blocked == [f"mp=US/d={D1}"]
        assert validator.publish_docs() == "_quality/docs/index.html"
        assert lake.exists("_quality/docs/index.html")
    finally:
        validator.close()
