"""profit_daily end to end on sandbox data: conftest's ``snapshots`` lake's cleaned financial
events, the simulated seller's unit costs and the sandbox's FX rates, loaded as `spapi reference
load` loads them, curated and aggregated by the incremental job, and set against what the
sandbox posted (``fee_truth``), its shipped and refunded units and its unit costs."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from spapi_sandbox.fx import fx_rates_csv
from spapi_toolkit.clock import ManualClock
from spapi_toolkit.lake.curate import aggregate
from spapi_toolkit.lake.reference import load_reference
from spapi_toolkit.lake.storage import Lake

from .snapshots import FIRST, LAST
from .week import SELLER, curate

pytestmark = pytest.mark.timeout(900)

CLOCK = ManualClock(datetime(2026, 11, 28, 9, tzinfo=UTC))
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def profit(spark, snapshots, tmp_path_factory):
    """The snapshots' cleaned financial events beside curated unit costs and FX rates, with
    profit_daily built from them: (its rows by (marketplace, day, SKU), the FX rates, the
    unit costs file's rows, the snapshots' truth)."""
    root, _, _, truth = snapshots
    lake_root = tmp_path_factory.mktemp("profit")
    events = "cleaned/financial_events"
    shutil.copytree(root / events, lake_root / events)
    lake = Lake.from_uri(str(lake_root))
    files = lake_root / "files"
    files.mkdir()
    (files / "fx.csv").write_bytes(fx_rates_csv(FIRST - timedelta(days=10), LAST))
    (files / "costs.csv").write_bytes(truth["unit_costs"])
    load_reference(lake, "fx_rates", files / "fx.csv")
    load_reference(lake, "unit_costs", files / "costs.csv", seller=SELLER)
    results = curate(spark, lake, names=["fx_rates", "unit_costs"])
    assert all(r.reconciles and not r.quarantined for r in results.values()), results
    (result,) = aggregate.cleaned_to_aggregated(spark, lake, ["profit_daily"], clock=CLOCK)
    assert result.passed, result.failure_lines()
    (rerun,) = aggregate.cleaned_to_aggregated(spark, lake, ["profit_daily"], clock=CLOCK)
    assert (rerun.changed, rerun.partitions) == (0, 0)
    rows = spark.read.parquet(str(lake_root / "aggregated" / "profit_daily")).collect()
    fx = spark.read.parquet(str(lake_root / "cleaned" / "fx_rates")).collect()
    return {(r.marketplace_id, r.date.isoformat(), r.sku): r for r in rows}, fx, truth


def _events(spark, shipments: list[tuple[str, str, str, str]]):  # type: ignore[no-untyped-def]
    """financial_events rows: one unit shipped per (sku, currency, item price, referral fee),
    on 2026-11-03 in the US marketplace (the transform reads the currency, not the site)."""
    return spark.createDataFrame(
        [(SELLER, "ATVPDKIKX0DER", datetime(2026, 11, 3).date(), sku, "ShipmentEventList", 1,
          currency, Decimal(price), Decimal(price), None, None, None, None, Decimal(fee), None,
          Decimal(fee)) for sku, currency, price, fee in shipments],
        "seller_id string, marketplace_id string, posted_date date, sku string, "
        "event_list string, quantity int, currency string, principal decimal(18,2), "
        "charges decimal(18,2), tax decimal(18,2), shipping_tax decimal(18,2), "
        "gift_wrap_tax decimal(18,2), promotion decimal(18,2), referral_fee decimal(18,2), "
        "fba_fee decimal(18,2), fees decimal(18,2)",
    )  # fmt: skip


def _costs(text: bytes) -> dict[str, list[tuple[str, Decimal, str]]]:
    found: dict[str, list[tuple[str, Decimal, str]]] = defaultdict(list)
    for line in text.decode().splitlines()[1:]:
        sku, currency, cost, valid_from = line.split(",")
        found[sku].append((valid_from, Decimal(cost), currency))
    return found


def test_profit_daily_is_what_the_sandbox_posted_per_sku_and_day(profit):
    """Every money part of each (marketplace, day, SKU) is the sum of what the sandbox posted
    that local day; the units are its shipped and refunded units."""
    rows, _, truth = profit
    expected: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for (mp, day, sku, kind), parts in truth["fees"].items():
        out = expected[(mp, day, sku)]
        get = parts.get
        zero = Decimal(0)
        if kind == "ShipmentEventList":
            out["revenue"] += get("Principal", zero) + get("ShippingCharge", zero)
            out["promotions"] += get("Promotion", zero)
            out["referral_fees"] += get("Commission", zero)
            out["fba_fees"] += get("FBAPerUnitFulfillmentFee", zero)
        else:
            out["refunds"] += get("Principal", zero) + get("ShippingCharge", zero) + get(
                "Promotion", zero)  # fmt: skip
            out["refund_fees"] += get("Commission", zero) + get("RefundCommission", zero)
        out["tax_collected"] += get("Tax", zero) + get("ShippingTax", zero)
    assert len(expected) > 100 and set(rows) == set(expected)
    names = ("revenue", "promotions", "referral_fees", "fba_fees", "refunds", "refund_fees",
             "tax_collected")  # fmt: skip
    for key, parts in expected.items():
        row = rows[key]
        assert {n: getattr(row, n) for n in names} == {n: parts.get(n, 0) for n in names}, key
        assert row.other_fees == 0, key  # the sandbox posts no other fee
        assert row.amazon_fees == (row.referral_fees + row.fba_fees + row.refund_fees), key
    units = {(t["marketplace_id"], t["date"].isoformat(), t["sku"]):
             (t["units_shipped"], t["units_refunded"]) for t in truth["sales"]}  # fmt: skip
    for key, row in rows.items():
        assert (row.units_shipped, row.units_refunded) == units.get(key, (0, 0)), key
    assert sum(r.units_refunded for r in rows.values()) > 0


def test_the_margin_is_its_parts_less_the_units_cost_of_the_day(profit):
    rows, fx, truth = profit
    costs = _costs(truth["unit_costs"])
    rates = {(r.rate_date.isoformat(), r.currency): Decimal(str(r.rate)) for r in fx}
    crossed = 0
    for (mp, day, sku), row in rows.items():
        valid = max(c for c in costs[sku] if c[0] <= day)
        assert (row.cost_valid_from.isoformat(), row.unit_cost, row.cost_currency) == valid
        cost = valid[1] * row.units_shipped
        if row.currency == valid[2]:
            assert row.cost_of_goods == cost
        else:  # the sandbox's costs are USD: through the reporting currency (USD) itself
            crossed += 1
            local_rate = rates[(row.fx_rate_date.isoformat(), row.currency)]
            assert abs(row.cost_of_goods - cost / local_rate) <= CENT, (mp, day, sku)
        assert row.cost_of_goods_reporting == cost  # USD into USD
        parts = (row.revenue + row.promotions + row.referral_fees + row.fba_fees
                 + row.other_fees + row.refunds + row.refund_fees)  # fmt: skip
        assert row.contribution_margin == parts - row.cost_of_goods
        assert row.units_without_cost == 0
        if row.revenue:
            assert row.margin_rate == pytest.approx(float(row.contribution_margin / row.revenue))
        reporting = sum(getattr(row, n + "_reporting") for n in (
            "promotions", "referral_fees", "fba_fees", "other_fees", "refunds", "refund_fees",
        )) + row.revenue_reporting  # fmt: skip
        assert row.contribution_margin_reporting == reporting - row.cost_of_goods_reporting
    assert crossed > 50  # DE and JP sell in EUR and JPY


def test_an_unknown_cost_gives_a_null_margin_and_counts_its_units(spark, profit):
    """A SKU sold before its first cost: no margin, never a zero one (the transform alone, on
    the same rows with one SKU's costs taken away)."""
    from spapi_toolkit.lake.curate.marts import build
    from spapi_toolkit.lake.marts import mart

    rows, _, _ = profit
    sku = next(k[2] for k, r in rows.items() if r.units_shipped)
    events = _events(spark, [(sku, "USD", "10.00", "-1.50")])
    later = spark.createDataFrame(
        [(SELLER, sku, "USD", datetime(2026, 11, 4).date(), Decimal("4.00"))],
        "seller_id string, sku string, currency string, valid_from date, unit_cost decimal(18,2)",
    )
    inputs = {"financial_events": events, "unit_costs": later}
    (row,) = build(mart("profit_daily"), inputs).collect()
    assert (row.revenue, row.referral_fees, row.cost_of_goods, row.contribution_margin,
            row.margin_rate, row.units_without_cost) == (Decimal("10.00"), Decimal("-1.50"), None,
                                                         None, None, 1)  # fmt: skip


def test_a_cost_in_another_currency_converts_through_the_reporting_currency(spark):
    """An EUR cost of a JPY sale: cost x (EUR's rate / JPY's rate) in yen, cost x EUR's rate in
    the reporting currency (USD), each rate the latest on or before the day."""
    from spapi_toolkit.lake.curate.marts import build
    from spapi_toolkit.lake.marts import mart

    day = datetime(2026, 11, 3).date()
    costs = spark.createDataFrame(
        [(SELLER, "S1", "EUR", day - timedelta(days=30), Decimal("10.00"))],
        "seller_id string, sku string, currency string, valid_from date, unit_cost decimal(18,2)",
    )
    rates = spark.createDataFrame(
        [(day - timedelta(days=1), "EUR", "USD", 1.10), (day, "JPY", "USD", 0.0066),
         (day + timedelta(days=1), "EUR", "USD", 9.99)],  # after the day: never used
        "rate_date date, currency string, reporting_currency string, rate double",
    )  # fmt: skip
    inputs = {"financial_events": _events(spark, [("S1", "JPY", "3000", "-450")]),
              "unit_costs": costs, "fx_rates": rates}  # fmt: skip
    (row,) = build(mart("profit_daily"), inputs).collect()
    assert (row.unit_cost, row.cost_currency) == (Decimal("10.00"), "EUR")
    assert row.cost_of_goods_reporting == Decimal("11.00")
    assert row.cost_of_goods == (Decimal("10") * Decimal("1.10") / Decimal("0.0066")).quantize(CENT)
    assert row.contribution_margin == Decimal("3000") - 450 - row.cost_of_goods
    assert row.contribution_margin_reporting == (
        Decimal("19.80") - Decimal("2.97") - Decimal("11.00")
    )  # 3000 and -450 yen at 0.0066
