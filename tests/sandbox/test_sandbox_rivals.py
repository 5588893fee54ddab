"""Competitors ("rivals") of the simulated seller, over real HTTP: the catalog, Product Pricing
and Brand Analytics serve them consistently, day by day, and exactly as the seller's ground
truth (``competitor_truth``, ``search_results``) says.

Each sandbox here starts its clock at a pinned instant at least three hours from midnight in
US, DE and JP, and runs at 60 simulated seconds per real second, so the marketplace-local day
rivals move by stays the same while a test runs (three real minutes).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from spapi_sandbox.seller import (
    BRANDS,
    RIVAL_BRANDS,
    RIVALS_PER_FAMILY,
    Rival,
    SellerConfig,
    SimulatedSeller,
    brand_seller_id,
    local_day,
    local_noun,
)
from spapi_sandbox.server import RunningSandbox, run_sandbox

from ..support import END_DATE
from .test_sandbox_schemas import CheckedSession

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
MARKETPLACES = (US, DE, JP)
CATALOG = "/catalog/2022-04-01/items"
BATCH = 20  # most requests (or identifiers) one batch or search takes


def at_eleven(d: date) -> datetime:
    """11:00 UTC: 03:00 in Los Angeles, noon in Berlin, 20:00 in Tokyo, all on day ``d``."""
    return datetime(d.year, d.month, d.day, 11, tzinfo=UTC)


# The morning after the history (as by default), when Los Angeles is still on its last day
# (21:00) and Berlin (06:00) and Tokyo (14:00) are on the next: rivals move by the local day.
TODAY = datetime.combine(END_DATE, datetime.min.time(), UTC) + timedelta(days=1, hours=5)
EARLIER = at_eleven(END_DATE - timedelta(days=7))  # the ISO week before: another price level


@contextmanager
def pinned(at: datetime) -> Iterator[tuple[RunningSandbox, CheckedSession]]:
    """A sandbox whose clock starts at ``at``, and a session that validates every answer."""
    with run_sandbox(end_date=END_DATE, start=at, scale=60) as sandbox:
        yield sandbox, CheckedSession(sandbox)


@pytest.fixture(scope="module")
def today() -> Iterator[tuple[RunningSandbox, CheckedSession]]:
    with pinned(TODAY) as running:
        yield running


def sandbox_day(sandbox: RunningSandbox, marketplace_id: str) -> date:
    """The sandbox's current calendar day in the marketplace."""
    return local_day(marketplace_id, sandbox.app.clock.datetime())


def test_today_is_a_different_day_in_los_angeles(today):
    sandbox, _ = today
    days = {m: sandbox_day(sandbox, m) for m in MARKETPLACES}
    assert days == {
        US: END_DATE,
        DE: END_DATE + timedelta(days=1),
        JP: END_DATE + timedelta(days=1),
    }


def valid(session: CheckedSession) -> None:
    """Every answer the session received matched its operation's schema."""
    problems = [p for found in session.errors.values() for p in found]
    assert not problems, problems


def chunks(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def money(amount: dict[str, Any]) -> Decimal:
    """A Product Pricing amount (``Amount`` in v0, ``amount`` in 2022-05-01) as a Decimal."""
    return Decimal(str(amount.get("Amount", amount.get("amount"))))


# --------------------------------------------------------------------------------------------
# calling the sandbox
# --------------------------------------------------------------------------------------------


def search(session: CheckedSession, marketplace_ids: str, **query: str) -> list[dict]:
    """Every item of a catalog search, page after page (summaries and sales ranks)."""
    params = {"marketplaceIds": marketplace_ids, "includedData": "summaries,salesRanks"}
    params |= {"pageSize": "20", **query}
    items: list[dict] = []
    while True:
        body = session.call("GET", CATALOG, params=params).json()
        items += body["items"]
        token = body["pagination"].get("nextToken")
        if not token:
            assert len(items) == body["numberOfResults"]
            return items
        params = {**params, "pageToken": token}


def item_offers(session: CheckedSession, marketplace_id: str, asins: list[str]) -> dict[str, dict]:
    """getItemOffersBatch's answers by ASIN (status and body)."""
    answers = {}
    for chunk in chunks(asins):
        requests_ = [
            {
                "uri": f"/products/pricing/v0/items/{asin}/offers",
                "method": "GET",
                "MarketplaceId": marketplace_id,
                "ItemCondition": "New",
            }
            for asin in chunk
        ]
        body = session.call(
            "POST", "/batches/products/pricing/v0/itemOffers", json={"requests": requests_}
        ).json()
        answers |= {r["request"]["Asin"]: r for r in body["responses"]}
    return answers


def competitive_summaries(
    session: CheckedSession, marketplace_id: str, asins: list[str]
) -> dict[str, dict]:
    """getCompetitiveSummary's answers by ASIN (status and body)."""
    answers = {}
    for chunk in chunks(asins):
        requests_ = [
            {
                "asin": asin,
                "marketplaceId": marketplace_id,
                "method": "GET",
                "uri": "/products/pricing/2022-05-01/items/competitiveSummary",
                "includedData": ["featuredBuyingOptions", "referencePrices", "lowestPricedOffers"],
            }
            for asin in chunk
        ]
        body = session.call(
            "POST",
            "/batches/products/pricing/2022-05-01/items/competitiveSummary",
            json={"requests": requests_},
        ).json()
        answers |= {r["body"]["asin"]: r for r in body["responses"]}
    return answers


def catalog_by_asin(session: CheckedSession, marketplace_id: str, asins: list[str]) -> dict:
    """searchCatalogItems by ASIN: the items found, by ASIN."""
    found = {}
    for chunk in chunks(asins):
        items = search(session, marketplace_id, identifiersType="ASIN", identifiers=",".join(chunk))
        found |= {item["asin"]: item for item in items}
    return found


# --------------------------------------------------------------------------------------------
# what an answer says, in competitor_truth's terms
# --------------------------------------------------------------------------------------------


def truth_of_item_offers(payload: dict, rival: Rival) -> dict[str, Any]:
    """A GetOffersResult as a ``competitor_truth`` row (without date, marketplace, currency)."""
    summary, offers = payload["Summary"], payload["Offers"]
    lowest = {p["fulfillmentChannel"]: money(p["LandedPrice"]) for p in summary["LowestPrices"]}
    counts = {n["fulfillmentChannel"]: n["OfferCount"] for n in summary["NumberOfOffers"]}
    [buy_box] = summary["BuyBoxPrices"]
    [brand] = [o for o in offers if o["SellerId"] == brand_seller_id(rival.brand)]
    [winner] = [o for o in offers if o["IsBuyBoxWinner"]]
    assert winner["SellerId"] == buy_box["sellerId"]
    assert not any(o["MyOffer"] for o in offers)
    return {
        "asin": payload["ASIN"],
        "brand": rival.brand,
        "sales_rank": summary["SalesRankings"][0]["Rank"],
        "buy_box_seller_id": buy_box["sellerId"],
        "buy_box_landed_price": money(buy_box["LandedPrice"]),
        "buy_box_listing_price": money(buy_box["ListingPrice"]),
        "lowest_landed_price": min(lowest.values()),
        "lowest_fba_landed_price": lowest.get("Amazon"),
        "lowest_mfn_landed_price": lowest.get("Merchant"),
        "total_offer_count": summary["TotalOfferCount"],
        "fba_offer_count": counts.get("Amazon", 0),
        "mfn_offer_count": counts.get("Merchant", 0),
        "brand_price": money(brand["ListingPrice"]),
    }


def truth_of_competitive_summary(body: dict) -> dict[str, Any]:
    """What getCompetitiveSummary says of the Buy Box, the lowest price and the offer count."""
    [buying] = body["featuredBuyingOptions"]
    [featured] = buying["segmentedFeaturedOffers"]
    [threshold] = [p for p in body["referencePrices"] if p["name"] == "CompetitivePriceThreshold"]
    [lowest] = body["lowestPricedOffers"]
    return {
        "buy_box_seller_id": featured["sellerId"],
        "buy_box_listing_price": money(featured["listingPrice"]),
        "lowest_landed_price": money(threshold["price"]),
        "total_offer_count": len(lowest["offers"]),
    }


def display_rank(item: dict, marketplace_id: str) -> int:
    [ranks] = [r for r in item["salesRanks"] if r["marketplaceId"] == marketplace_id]
    return ranks["displayGroupRanks"][0]["rank"]


def summary_of(item: dict, marketplace_id: str) -> dict:
    [summary] = [s for s in item["summaries"] if s["marketplaceId"] == marketplace_id]
    return summary


def entrant(seller: SimulatedSeller) -> Rival:
    """The new entrant of the first family: launched within the history."""
    noun = seller.rivals()[0].noun
    cfg = seller.config
    [new] = [
        r
        for r in seller.rivals()
        if r.noun == noun and cfg.start_date < r.launch_date <= cfg.end_date
    ]
    return new


# --------------------------------------------------------------------------------------------
# the rivals
# --------------------------------------------------------------------------------------------


def test_rivals_are_deterministic_distinct_and_not_ours():
    config = SellerConfig(seed=5, end_date=END_DATE)
    seller, again = SimulatedSeller(config), SimulatedSeller(config)
    rivals = seller.rivals()
    assert rivals == again.rivals()
    assert seller.competitor_truth(DE, END_DATE) == again.competitor_truth(DE, END_DATE)
    other = SimulatedSeller(SellerConfig(seed=6, end_date=END_DATE))
    assert {r.asin for r in rivals}.isdisjoint(r.asin for r in other.rivals())

    ours = {p.asin for p in seller.products()} | set(seller.parent_asins())
    asins = [r.asin for r in rivals]
    assert len(set(asins)) == len(asins) and ours.isdisjoint(asins)
    assert set(RIVAL_BRANDS).isdisjoint(BRANDS) and {r.brand for r in rivals} <= set(RIVAL_BRANDS)
    assert all(seller.rival(r.asin) == r for r in rivals) and seller.rival(asins[0][::-1]) is None

    families = {(p.department, p.noun) for p in seller.products()}
    assert {(r.department, r.noun) for r in rivals} == families
    for department, noun in families:
        family = [r for r in rivals if (r.department, r.noun) == (department, noun)]
        assert len(family) == RIVALS_PER_FAMILY and len({r.brand for r in family}) == len(family)
        launches = sorted(r.launch_date for r in family)
        assert launches[-2] < config.start_date < launches[-1] <= config.end_date
        for rival in family:
            for m in config.marketplace_ids:
                assert local_noun(noun, m) in rival.title(m) and rival.brand in rival.title(m)
    assert any(r.fulfillment == "FBA" for r in rivals) and any(
        r.fulfillment == "MFN" for r in rivals
    )


def test_the_catalog_answers_the_same_in_two_sandboxes_of_one_seed(today):
    sandbox, _ = today
    asins = [r.asin for r in sandbox.app.seller.rivals()][:BATCH]
    with pinned(TODAY) as (_, twin):
        assert catalog_by_asin(twin, DE, asins) == catalog_by_asin(
            CheckedSession(sandbox), DE, asins
        )


# --------------------------------------------------------------------------------------------
# keyword search
# --------------------------------------------------------------------------------------------


def test_german_keyword_search_finds_ours_and_rivals_by_rank(today):
    sandbox, session = today
    seller, day = sandbox.app.seller, sandbox_day(sandbox, DE)
    noun = seller.rivals()[0].noun
    keyword = local_noun(noun, DE)  # "Kochmesser" for "Chef's Knife"
    assert keyword.casefold() != noun.casefold()
    items = search(session, DE, keywords=keyword)
    asins = [item["asin"] for item in items]
    assert asins == seller.search_results(DE, day, [keyword])
    assert {seller.rival(a) is not None for a in asins} == {True, False}  # rivals and ours
    assert all(keyword in summary_of(item, DE)["itemName"] for item in items)
    ranks = [display_rank(item, DE) for item in items]
    assert ranks == sorted(ranks)
    assert ranks == [seller.sales_rank(a, DE, day) for a in asins]
    # The requested marketplace's titles decide: English ones do not say "Kochmesser".
    assert search(session, US, keywords=keyword) == []
    # Case does not matter; words of one keyword match apart; filters narrow the results.
    assert [i["asin"] for i in search(session, DE, keywords=keyword.upper())] == asins
    rival = next(seller.rival(a) for a in asins if seller.rival(a))
    by_brand = search(session, DE, keywords=f"{keyword}", brandNames=rival.brand)
    assert [i["asin"] for i in by_brand] == seller.search_results(
        DE, day, [keyword], brand_names=[rival.brand]
    )
    assert rival.asin in [i["asin"] for i in by_brand]
    classification = summary_of(items[0], DE)["browseClassification"]["classificationId"]
    assert len(search(session, DE, keywords=keyword, classificationIds=classification)) == len(
        items
    )
    assert search(session, DE, keywords=keyword, classificationIds="1") == []
    assert seller.search_results(DE, day, [keyword], top=2) == asins[:2]
    valid(session)


def test_the_new_entrant_is_absent_before_its_launch_day_and_listed_from_it():
    seller = SimulatedSeller(SellerConfig(seed=1, end_date=END_DATE))
    new = entrant(seller)
    keyword = local_noun(new.noun, DE)
    for day, listed in ((new.launch_date - timedelta(days=1), False), (new.launch_date, True)):
        with pinned(at_eleven(day)) as (sandbox, session):
            assert sandbox.app.seller.rival(new.asin) == new
            assert {sandbox_day(sandbox, m) for m in MARKETPLACES} == {day}
            found = [i["asin"] for i in search(session, DE, keywords=keyword)]
            assert (new.asin in found) is listed
            assert found == seller.search_results(DE, day, [keyword])
            assert (new.asin in catalog_by_asin(session, DE, [new.asin])) is listed
            get = f"{CATALOG}/{new.asin}?marketplaceIds={DE}"
            session.call("GET", get, expect=200 if listed else 404)
            [offers] = item_offers(session, DE, [new.asin]).values()
            assert offers["status"]["statusCode"] == (200 if listed else 404)
            [summary] = competitive_summaries(session, DE, [new.asin]).values()
            assert summary["status"]["statusCode"] == (200 if listed else 404)
            truth = {row["asin"] for row in seller.competitor_truth(DE, day)}
            assert (new.asin in truth) is listed
            valid(session)


# --------------------------------------------------------------------------------------------
# pricing and catalog against the ground truth
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("marketplace_id", MARKETPLACES)
def test_pricing_and_catalog_serve_the_truth_of_the_day(today, marketplace_id):
    sandbox, session = today
    seller, day = sandbox.app.seller, sandbox_day(sandbox, marketplace_id)
    truth = {row["asin"]: row for row in seller.competitor_truth(marketplace_id, day)}
    asins = list(truth)
    assert asins == [r.asin for r in seller.rivals()]  # all launched by the morning after
    offers = item_offers(session, marketplace_id, asins)
    summaries = competitive_summaries(session, marketplace_id, asins)
    catalog = catalog_by_asin(session, marketplace_id, asins)
    for asin, row in truth.items():
        rival = seller.rival(asin)
        assert offers[asin]["status"]["statusCode"] == 200
        served = truth_of_item_offers(offers[asin]["body"]["payload"], rival)
        assert served == {k: row[k] for k in served}
        assert summaries[asin]["status"]["statusCode"] == 200
        served = truth_of_competitive_summary(summaries[asin]["body"])
        assert served == {k: row[k] for k in served}
        summary = summary_of(catalog[asin], marketplace_id)
        assert (summary["brand"], summary["itemName"]) == (rival.brand, rival.title(marketplace_id))
        assert summary["websiteDisplayGroupName"] == rival.department
        assert display_rank(catalog[asin], marketplace_id) == row["sales_rank"]
    assert {row["buy_box_seller_id"] for row in truth.values()} - {
        brand_seller_id(b) for b in RIVAL_BRANDS
    }, "resellers win some Buy Boxes"
    valid(session)


def test_prices_and_ranks_move_from_day_to_day(today):
    sandbox, session = today
    seller = sandbox.app.seller
    asins = [r.asin for r in seller.rivals() if r.launched_by(EARLIER.date())]
    days = {}
    with pinned(EARLIER) as (earlier, earlier_session):
        for running, checked in ((sandbox, session), (earlier, earlier_session)):
            day = sandbox_day(running, US)
            answers = item_offers(checked, US, asins)
            days[day] = {
                asin: truth_of_item_offers(answers[asin]["body"]["payload"], seller.rival(asin))
                for asin in asins
            }
            truth = {r["asin"]: r for r in seller.competitor_truth(US, day)}
            assert all(
                served == {k: truth[a][k] for k in served} for a, served in days[day].items()
            )
            valid(checked)
    first, second = days.values()
    assert len(days) == 2
    assert sum(first[a]["brand_price"] != second[a]["brand_price"] for a in asins) > len(asins) // 2
    assert sum(first[a]["sales_rank"] != second[a]["sales_rank"] for a in asins) > len(asins) // 2


# --------------------------------------------------------------------------------------------
# Brand Analytics
# --------------------------------------------------------------------------------------------


def search_terms_report(session: CheckedSession, marketplace_id: str) -> list[dict]:
    spec = {
        "reportType": "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT",
        "marketplaceIds": [marketplace_id],
        "reportOptions": {"reportPeriod": "WEEK"},
        "dataStartTime": "2026-11-15T00:00:00Z",
        "dataEndTime": "2026-11-21T23:59:59Z",
    }
    reports = "/reports/2021-06-30"
    report_id = session.call("POST", f"{reports}/reports", json=spec, expect=202).json()["reportId"]
    deadline = time.monotonic() + 20
    while (report := session.call("GET", f"{reports}/reports/{report_id}").json())[
        "processingStatus"
    ] != "DONE":
        assert time.monotonic() < deadline, report
        time.sleep(0.02)
    document = session.call("GET", f"{reports}/documents/{report['reportDocumentId']}").json()
    raw = requests.get(document["url"]).content
    content = gzip.decompress(raw) if document.get("compressionAlgorithm") == "GZIP" else raw
    return json.loads(content)["dataByDepartmentAndSearchTerm"]


def test_brand_analytics_clicks_rivals_that_the_catalog_serves():
    with run_sandbox(end_date=END_DATE, scale=600) as sandbox:  # reports finish in 0.2 s
        session = CheckedSession(sandbox)
        seller = sandbox.app.seller
        ours = {p.asin for p in seller.products()}
        rows = search_terms_report(session, DE)
        theirs = {r["clickedAsin"] for r in rows} - ours
        assert theirs and ours & {r["clickedAsin"] for r in rows}
        assert all(seller.rival(asin) is not None for asin in theirs)
        for row in rows:
            rival = seller.rival(row["clickedAsin"])
            if rival is not None:  # a rival of the term's family, launched by the week's end
                assert local_noun(rival.noun, DE).casefold() in row["searchTerm"]
                assert rival.launch_date <= date(2026, 11, 21)
        served = catalog_by_asin(session, DE, sorted(theirs))
        assert set(served) == theirs
        assert {summary_of(item, DE)["brand"] for item in served.values()} <= set(RIVAL_BRANDS)
        valid(session)
