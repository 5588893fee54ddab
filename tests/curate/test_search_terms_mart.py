"""The search_terms_weekly mart: ours against competitors per term on hand-made rows (shares of one
term add up, unknown own ASINs give null rather than "all competitors"), and on the simulated
seller's own Brand Analytics week, whose own ASINs are its catalog's."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from spapi_sandbox.seller import SellerConfig, SimulatedSeller
from spapi_toolkit.lake.curate import marts as transforms
from spapi_toolkit.lake.marts import mart

from ..support import END_DATE

US = "ATVPDKIKX0DER"
WEEK = date(2026, 11, 8)  # a Sunday
TERMS = (
    "seller_id string, marketplace_id string, week_start date, department_name string,"
    " search_term string, search_frequency_rank bigint, clicked_asin string,"
    " click_share_rank bigint, click_share double, conversion_share double"
)
SALES = "seller_id string, marketplace_id string, date date, child_asin string"


def _build(spark, terms, own=None):
    frames = {"search_terms": spark.createDataFrame(terms, TERMS)}
    if own is not None:
        frames["sales_traffic_by_asin"] = spark.createDataFrame(own, SALES)
    rows = transforms.build(mart("search_terms_weekly"), frames).collect()
    return {r.search_term: r for r in rows}


def test_ours_and_the_competitors_shares_per_term(spark):
    terms = [
        ("S1", US, WEEK, "Pets", "dog bowl", 12, "B0COMP0001", 1, 0.30, 0.20),
        ("S1", US, WEEK, "Pets", "dog bowl", 12, "B0OURS0001", 2, 0.25, 0.40),
        ("S1", US, WEEK, "Pets", "dog bowl", 12, "B0OURS0002", 3, 0.05, 0.10),
        ("S1", US, WEEK, "Pets", "cat bowl", 40, "B0COMP0002", 1, 0.10, 0.00),
    ]
    # Our ASINs: those our own Sales & Traffic names in the week (a Saturday counts, the next
    # Sunday does not: it is the next week).
    own = [("S1", US, WEEK + timedelta(days=6), "B0OURS0001"),
           ("S1", US, WEEK + timedelta(days=2), "B0OURS0002"),
           ("S1", US, WEEK + timedelta(days=7), "B0COMP0002")]  # fmt: skip
    got = _build(spark, terms, own)
    bowl = got["dog bowl"]
    assert (bowl.clicked_asins, bowl.our_clicked_asins, bowl.competitor_clicked_asins) == (3, 2, 1)
    assert bowl.our_click_share == pytest.approx(0.30)
    assert bowl.competitor_click_share == pytest.approx(0.30)
    assert bowl.top_click_share == pytest.approx(0.60)
    assert bowl.our_share_of_top_clicks == pytest.approx(0.5)
    assert bowl.our_conversion_share == pytest.approx(0.50)
    assert bowl.our_share_of_top_conversions == pytest.approx(0.5 / 0.7)
    assert (bowl.our_best_click_share_rank, bowl.our_asins) == (2, "B0OURS0001,B0OURS0002")
    assert bowl.competitor_asins == "B0COMP0001" and bowl.own_asins_known == 2
    cat = got["cat bowl"]
    assert (cat.our_clicked_asins, cat.our_click_share, cat.our_best_click_share_rank) == (
        0, 0.0, None)  # fmt: skip
    assert cat.our_asins == "" and cat.our_share_of_top_conversions is None  # 0 / 0


def test_without_own_asins_for_the_week_the_split_is_unknown_not_all_competitors(spark):
    terms = [("S1", US, WEEK, "Pets", "dog bowl", 12, "B0OURS0001", 1, 0.3, 0.2)]
    for own in (None, [("S1", US, WEEK - timedelta(days=1), "B0OURS0001")]):
        row = _build(spark, terms, own)["dog bowl"]
        assert row.own_asins_known == 0 and row.top_click_share == pytest.approx(0.3)
        assert (row.our_clicked_asins, row.our_click_share, row.competitor_click_share,
                row.competitor_asins, row.our_share_of_top_clicks) == (None,) * 5  # fmt: skip


def test_the_simulated_sellers_week_against_its_own_numbers(spark):
    seller = SimulatedSeller(SellerConfig(end_date=END_DATE))
    ours = {p.asin for p in seller.products()}
    report = seller.search_terms(US, WEEK, WEEK + timedelta(days=6))
    assert report and {t["clickedAsin"] for t in report} - ours  # competitors are there too
    terms = [("S1", US, WEEK, t["departmentName"], t["searchTerm"], t["searchFrequencyRank"],
              t["clickedAsin"], t["clickShareRank"], t["clickShare"], t["conversionShare"])
             for t in report]  # fmt: skip
    own = [("S1", US, WEEK, asin) for asin in sorted(ours)]
    got = _build(spark, terms, own)
    assert len(got) == len({t["searchTerm"] for t in report})
    for term, row in got.items():
        listed = [t for t in report if t["searchTerm"] == term]
        mine = [t for t in listed if t["clickedAsin"] in ours]
        assert row.our_clicked_asins == len(mine)
        assert row.our_click_share == pytest.approx(sum(t["clickShare"] for t in mine))
        assert row.competitor_conversion_share == pytest.approx(
            sum(t["conversionShare"] for t in listed if t["clickedAsin"] not in ours)
        )
        assert row.own_asins_known == len(ours)  # fmt: skip


def test_a_week_data_kiosk_alone_holds_still_knows_our_asins(spark):
    """Issue 23: a backfilled week may be Data Kiosk's alone; its ASINs are ours as the
    report's would be (a day the report holds is the report's)."""
    terms = [("S1", US, WEEK, "Pets", "dog bowl", 12, "B0OURS0001", 1, 0.30, 0.20),
             ("S1", US, WEEK, "Pets", "dog bowl", 12, "B0COMP0001", 2, 0.10, 0.10)]  # fmt: skip
    kiosk = [
        ("S1", US, WEEK + timedelta(days=3), WEEK + timedelta(days=3), "B0OURS0001"),
        ("S1", US, WEEK, WEEK + timedelta(days=6), "B0COMP0001"),
    ]  # a week's window: no
    frames = {"search_terms": spark.createDataFrame(terms, TERMS),
              "kiosk_sales_traffic": spark.createDataFrame(
                  kiosk, "seller_id string, marketplace_id string, start_date date, "
                  "end_date date, child_asin string")}  # fmt: skip
    [row] = transforms.build(mart("search_terms_weekly"), frames).collect()
    assert (row.own_asins_known, row.our_asins, row.competitor_asins) == (
        1, "B0OURS0001", "B0COMP0001")  # fmt: skip
