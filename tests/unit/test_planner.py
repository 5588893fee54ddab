"""The planner: Amazon's window rules, restatement, history and stable request ids."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from spapi_toolkit.ingest.planner import PlanError, estimate, plan
from spapi_toolkit.lake.registry import (
    DRIVERS,
    FORMATS,
    SOURCES,
    WINDOWS,
    RegistryError,
    UnknownDatasetError,
    _load,
    dataset,
    registry,
    select,
)

TODAY = date(2026, 11, 28)  # a Saturday
US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"


def windows(name: str, start: date, end: date, markets=(US,)) -> list[tuple[date, date]]:
    result = plan([dataset(name)], "S1", markets, start, end, TODAY)
    return [(r.window.start, r.window.end) for r in result.requests if r.window]


def test_registry_declares_every_dataset_of_the_issue():
    names = set(registry())
    assert {"sales_traffic_by_date", "sales_traffic_by_asin", "orders_by_order_date",
            "orders_by_last_update", "merchant_listings", "fba_inventory", "search_terms",
            "repeat_purchase", "market_basket", "orders_api", "catalog_items", "listings_items",
            "competitive_summary", "item_offers", "inventory_summaries",
            "kiosk_sales_traffic"} <= names  # fmt: skip
    assert dataset("orders_by_order_date").cleaned_table == "order_items"
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset .orderz.*orders_api"):
        dataset("orderz")


def test_registry_mistakes_fail_loudly():
    bad = '[datasets.x]\ndescription="x"\nsource="report"\nformat="tsv"\nwindow="range"\n'
    bad += 'cleaned_table="x"\njson_schema="nope.json"\n'
    with pytest.raises(
        RegistryError,
        match=r"dataset 'x'.*needs max_days.*needs report_type.*json_schema 'nope.json'",
    ):
        _load(bad)


def test_orders_take_at_most_30_days_and_the_restated_tail_apart():
    got = windows("orders_by_order_date", date(2026, 9, 1), date(2026, 11, 27))
    assert all((end - start).days < 30 for start, end in got)
    assert got[0][0] == date(2026, 9, 1) and got[-1][1] == date(2026, 11, 27)
    assert [s for s, _ in got][1:] == [e + timedelta(days=1) for _, e in got][:-1]  # contiguous
    # The restated days (3, and one more for marketplaces west of UTC) are requested alone.
    assert got[-1] == (date(2026, 11, 24), date(2026, 11, 27))


def test_restated_windows_are_provisional_and_get_new_ids_each_day():
    ds = [dataset("sales_traffic_by_asin")]
    today = plan(ds, "S1", [US], date(2026, 11, 20), date(2026, 11, 27), TODAY).requests
    provisional = [r for r in today if r.provisional_as_of]
    assert [r.window.start for r in provisional] == [date(2026, 11, d) for d in (24, 25, 26, 27)]
    tomorrow = plan(ds, "S1", [US], date(2026, 11, 20), date(2026, 11, 27),
                    TODAY + timedelta(days=1)).requests  # fmt: skip
    ids_today = {r.request_id for r in today}
    changed = [r for r in tomorrow if r.request_id not in ids_today]
    assert [r.window.start for r in changed] == [date(2026, 11, d) for d in (24, 25, 26, 27)]


def test_sales_traffic_by_asin_is_one_day_per_request():
    got = windows("sales_traffic_by_asin", date(2026, 11, 1), date(2026, 11, 7), (US, DE))
    assert len(got) == 14 and all(start == end for start, end in got)


def test_data_kiosk_is_one_day_per_query():
    """salesAndTrafficByAsin sums its whole window: only a one-day window gives a day's numbers."""
    got = windows("kiosk_sales_traffic", date(2026, 11, 1), date(2026, 11, 27), (US, DE))
    assert len(got) == 27 * 2 and all(start == end for start, end in got)
    provisional = plan([dataset("kiosk_sales_traffic")], "S1", [US], date(2026, 11, 20),
                       date(2026, 11, 27), TODAY).requests  # fmt: skip
    assert [r.window.start for r in provisional if r.provisional_as_of] == [
        date(2026, 11, d) for d in (24, 25, 26, 27)]  # fmt: skip


def test_brand_analytics_weeks_run_sunday_to_saturday_and_must_have_ended():
    got = windows("search_terms", date(2026, 11, 4), date(2026, 11, 27))
    assert got == [(date(2026, 11, 1), date(2026, 11, 7)), (date(2026, 11, 8), date(2026, 11, 14)),
                   (date(2026, 11, 15), date(2026, 11, 21))]  # fmt: skip
    assert all(start.weekday() == 6 for start, _ in got)  # Sundays
    # The week of Nov 22-28 has not ended on Saturday Nov 28 (today): not requested.


def test_history_limit_and_unfinished_days():
    result = plan([dataset("orders_by_order_date")], "S1", [US], date(2024, 1, 1),
                  date(2026, 12, 31), TODAY)  # fmt: skip
    starts = [r.window.start for r in result.requests]
    assert min(starts) == TODAY - timedelta(days=730)
    assert max(r.window.end for r in result.requests) == TODAY - timedelta(days=1)
    assert any("Amazon refuses older data" in n for n in result.notes)
    assert any("have not ended" in n for n in result.notes)
    with pytest.raises(PlanError, match=r"only the last 730 days"):
        plan([dataset("orders_by_order_date")], "S1", [US], date(2020, 1, 1), date(2020, 2, 1),
             TODAY)  # fmt: skip
    with pytest.raises(PlanError, match=r"starts .* after it ends"):
        plan([dataset("orders_by_order_date")], "S1", [US], date(2026, 2, 1), date(2026, 1, 1),
             TODAY)  # fmt: skip


def test_request_ids_are_stable_and_distinct():
    args = ([dataset("orders_by_order_date")], "S1", [US, DE], date(2026, 8, 1),
            date(2026, 11, 27), TODAY)  # fmt: skip
    first = [r.request_id for r in plan(*args).requests]
    assert first == [r.request_id for r in plan(*args).requests]
    assert len(set(first)) == len(first)


def test_local_windows_are_sent_as_the_marketplaces_midnights():
    jp = plan([dataset("orders_by_order_date")], "S1", ["A1VC38T7YXB528"], date(2026, 11, 1),
              date(2026, 11, 3), TODAY).requests[0]  # fmt: skip
    body = jp.report_body()
    assert body["dataStartTime"].isoformat() == "2026-10-31T15:00:00+00:00"  # midnight in Tokyo
    st = plan([dataset("sales_traffic_by_asin")], "S1", ["A1VC38T7YXB528"], date(2026, 11, 1),
              date(2026, 11, 1), TODAY).requests[0]  # fmt: skip
    assert st.report_body()["dataStartTime"].isoformat() == "2026-11-01T00:00:00+00:00"
    assert st.report_body()["reportOptions"] == {"dateGranularity": "DAY",
                                                 "asinGranularity": "CHILD"}  # fmt: skip


def test_estimate_says_how_long_the_quota_makes_a_backfill():
    year = plan([dataset("sales_traffic_by_asin")], "S1", [US], TODAY - timedelta(days=365),
                TODAY - timedelta(days=1), TODAY).requests  # fmt: skip
    guess = estimate(year)
    assert guess.quota_limited == 365
    assert guess.seconds >= 3 * 24 * 3600  # 96 a day: nearly four days
    assert "365 requests" in guess.describe()
    queries = plan([dataset("kiosk_sales_traffic")], "S1", [US], TODAY - timedelta(days=365),
                   TODAY - timedelta(days=1), TODAY).requests  # fmt: skip
    kiosk = estimate(queries)
    assert (kiosk.requests, kiosk.report_requests) == (365, 0)
    assert 5 * 3600 < kiosk.seconds < 7 * 3600  # createQuery: about one a minute after a burst


def test_days_already_final_are_left_out_of_range_requests():
    orders = dataset("orders_by_order_date")
    covered = {("orders_by_order_date", US): {date(2026, 11, d) for d in range(5, 11)}}
    got = plan([orders], "S1", [US, DE], date(2026, 11, 1), date(2026, 11, 20), TODAY, covered)
    us = [(r.window.start, r.window.end) for r in got.requests if r.marketplace_ids == (US,)]
    de = [(r.window.start, r.window.end) for r in got.requests if r.marketplace_ids == (DE,)]
    assert us == [(date(2026, 11, 1), date(2026, 11, 4)), (date(2026, 11, 11), date(2026, 11, 20))]
    assert de == [(date(2026, 11, 1), date(2026, 11, 20))]  # nothing of DE was covered


def test_weeks_reaching_back_past_the_history_limit_are_left_out():
    ds = [dataset("search_terms")]
    weeks = plan(ds, "S1", [US], date(2024, 11, 1), date(2024, 12, 31), TODAY).requests
    earliest = TODAY - timedelta(days=730)  # 2024-11-28, a Thursday
    assert weeks and min(r.window.start for r in weeks) >= earliest


def test_every_api_dataset_names_an_operation_of_the_bundled_models():
    # The registry lives in the lake core, which knows nothing of the API; the check is here.
    from spapi_toolkit.api.models import find_operation

    for ds in registry().values():
        if ds.source == "api":
            assert find_operation(ds.operation), ds.name


def test_the_registry_file_validates_against_its_json_schema():
    import json
    import tomllib
    from importlib import resources

    import jsonschema

    data = resources.files("spapi_toolkit").joinpath("data")
    schema = json.loads(data.joinpath("datasets.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    registry_file = tomllib.loads(data.joinpath("datasets.toml").read_text("utf-8"))
    jsonschema.validate(registry_file, schema, cls=jsonschema.Draft202012Validator)
    # The schema's choices are the ones the loader checks: one list each, not two that drift.
    fields = schema["$defs"]["dataset"]["properties"]
    assert tuple(fields["source"]["enum"]) == SOURCES
    assert tuple(fields["format"]["enum"]) == FORMATS
    assert tuple(fields["window"]["enum"]) == WINDOWS
    assert tuple(fields["driven_by"]["enum"]) == DRIVERS
    # The schema is not a formality: an unknown field or a wrong enum value is refused.
    sales = dict(registry_file["datasets"]["sales_traffic_by_date"], quota="x")
    with pytest.raises(jsonschema.ValidationError, match="quota"):
        jsonschema.validate({"datasets": {"x": sales}}, schema)
    api = dict(registry_file["datasets"]["catalog_items"], driven_by="orders")
    with pytest.raises(jsonschema.ValidationError, match="orders"):
        jsonschema.validate({"datasets": {"x": api}}, schema)


MARKETS = (US, DE, "A1VC38T7YXB528")  # US, DE, JP


def _by_dataset(requests) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        counts[r.dataset.name] = counts.get(r.dataset.name, 0) + 1
    return counts


def test_a_new_sellers_two_years_take_under_two_days_from_one_source_per_day():
    """Issue 23: two years of every dataset in US, DE and JP. As named, the Sales & Traffic
    report's quota (4 an hour) makes it 23 days; with one source per day, Data Kiosk (the same
    figures and more, a query a minute) holds every day and the report is not asked."""
    start, end = TODAY - timedelta(days=730), TODAY - timedelta(days=1)
    as_named = plan(select("all"), "S1", MARKETS, start, end, TODAY)
    chosen = plan(select("all"), "S1", MARKETS, start, end, TODAY, one_source=True)
    assert estimate(as_named.requests).seconds > 500 * 3600
    assert estimate(chosen.requests).seconds <= 48 * 3600
    counts = _by_dataset(chosen.requests)
    assert "sales_traffic_by_asin" not in counts and counts["kiosk_sales_traffic"] == 730 * 3
    assert _by_dataset(as_named.requests)["sales_traffic_by_asin"] == 730 * 3
    assert any(
        "sales_traffic_by_asin: 2190 marketplace-days not asked: kiosk_sales_traffic "
        "gives the same figures and is asked for in this plan" in n
        for n in chosen.notes
    )


def test_the_reports_history_goes_to_data_kiosk_its_restated_days_stay():
    start, end = TODAY - timedelta(days=730), TODAY - timedelta(days=1)
    chosen = plan([dataset("sales_traffic_by_asin")], "S1", MARKETS, start, end, TODAY,
                  one_source=True)  # fmt: skip
    report = [r for r in chosen.requests if r.dataset.name == "sales_traffic_by_asin"]
    kiosk = [r for r in chosen.requests if r.dataset.name == "kiosk_sales_traffic"]
    assert report and all(r.provisional_as_of for r in report)  # the restated tail, as named
    assert len(report) + len(kiosk) == 730 * 3
    assert all(r.provisional_as_of is None and r.window.start == r.window.end for r in kiosk)
    assert not {(r.marketplace_ids, r.dt) for r in report} & {(r.marketplace_ids, r.dt)
                                                              for r in kiosk}  # fmt: skip
    # Each moved day is the request Data Kiosk's own plan makes: one id, one ledger entry.
    direct = {r.request_id for r in plan([dataset("kiosk_sales_traffic")], "S1", MARKETS,
                                         start, end, TODAY).requests}  # fmt: skip
    assert {r.request_id for r in kiosk} <= direct
    [note] = [n for n in chosen.notes if "asked of kiosk_sales_traffic instead" in n]
    assert f"{len(kiosk)} settled marketplace-days" in note and "as named" in note
    assert estimate(chosen.requests).seconds < 48 * 3600


def test_a_short_range_the_quota_serves_at_once_stays_as_named():
    day = TODAY - timedelta(days=10)
    chosen = plan([dataset("sales_traffic_by_asin")], "S1", [US], day, day + timedelta(days=2),
                  TODAY, one_source=True)  # fmt: skip
    assert _by_dataset(chosen.requests) == {"sales_traffic_by_asin": 3}  # within 4 an hour
    assert not chosen.notes


def test_days_either_source_landed_are_not_asked_of_the_other():
    first = TODAY - timedelta(days=60)
    last = TODAY - timedelta(days=1)
    kiosk_days = {first + timedelta(days=n) for n in range(20)}
    report_days = {first + timedelta(days=n) for n in range(20, 30)}
    covered = {("kiosk_sales_traffic", US): kiosk_days, ("sales_traffic_by_asin", US): report_days}
    chosen = plan([dataset("sales_traffic_by_asin")], "S1", [US], first, last, TODAY, covered,
                  one_source=True)  # fmt: skip
    asked = {(r.dataset.name, r.dt) for r in chosen.requests}
    assert not {d for name, d in asked} & kiosk_days  # Data Kiosk holds them: asked of neither
    assert {d for name, d in asked if name == "sales_traffic_by_asin"} >= report_days  # skipped
    assert {d for name, d in asked if name == "kiosk_sales_traffic"}  # the rest of the history
    assert any("20 marketplace-days not asked" in n and "landed already" in n
               for n in chosen.notes)  # fmt: skip


def test_same_figures_as_names_another_day_dataset():
    base = ('[datasets.a]\ndescription = "a"\nsource = "data_kiosk"\nformat = "jsonl"\n'
            'window = "day"\ncleaned_table = "a"\n')  # fmt: skip
    with pytest.raises(RegistryError, match="same_figures_as 'b' is not another dataset"):
        _load(base + 'same_figures_as = "b"\n')
    weekly = base.replace('window = "day"', 'window = "week"').replace("datasets.a", "datasets.w")
    with pytest.raises(RegistryError, match="asked one day per marketplace"):
        _load(base + 'same_figures_as = "w"\n' + weekly)


def test_a_day_the_report_pulled_while_restated_stays_its_own_once_settled():
    """The daily run pulls the restated tail of the report; once those days settle, their final
    pull is the report's too: Data Kiosk's would lose to the stale provisional figures."""
    first, last = TODAY - timedelta(days=60), TODAY - timedelta(days=1)
    tail = {TODAY - timedelta(days=n) for n in range(7, 11)}  # settled by now, pulled before
    chosen = plan([dataset("sales_traffic_by_asin")], "S1", [US], first, last, TODAY,
                  one_source=True, pulled={("sales_traffic_by_asin", US): tail})  # fmt: skip
    report = {r.dt for r in chosen.requests if r.dataset.name == "sales_traffic_by_asin"}
    kiosk = {r.dt for r in chosen.requests if r.dataset.name == "kiosk_sales_traffic"}
    assert tail <= report and not tail & kiosk and kiosk
