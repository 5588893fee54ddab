"""Competitors tracked over three days (issue 25): the watched ASINs are the watchlist file's,
the day's keyword searches' and Brand Analytics' clicks beside ours, never ours; and
``competitor_daily`` equals what the sandbox's catalog and pricing served of every watched rival
on every snapshot day (its ground truth), with the search results in the order it served them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from .competitors import DAYS, MARKETS


def _by(rows, *names):
    grouped = defaultdict(list)
    for row in rows:
        grouped[tuple(row[n] for n in names)].append(row)
    return grouped


def test_every_table_and_the_mart_passed_their_suites(competitors):
    for name, result in competitors["results"].items():
        assert not result.failures and not result.refused and result.reconciles, name
    mart = competitors["marts"]["competitor_daily"]
    assert not mart.failures and mart.rows_out


def test_the_searches_results_are_those_served_in_order(competitors):
    rows, truth = competitors["rows"], competitors["truth"]
    found = _by(rows["catalog_search"], "marketplace_id", "snapshot_date")
    for market in MARKETS:
        for day in DAYS:
            served = sorted(found[(market, day)], key=lambda r: r.position)
            assert [r.asin for r in served] == truth["search"][(market, day)], (market, day)
            assert {r.search for r in served} == {truth["keywords"][market]}


def _clicked_beside_ours(search_terms, market: str, day: date, own: set[str]) -> set[str]:
    weeks = [r.week_start for r in search_terms
             if r.marketplace_id == market and r.week_start <= day]  # fmt: skip
    newest = max(weeks)
    terms = _by([r for r in search_terms
                 if r.marketplace_id == market and r.week_start == newest],
                "department_name", "search_term")  # fmt: skip
    return {r.clicked_asin for rows in terms.values() if {x.clicked_asin for x in rows} & own
            for r in rows if r.clicked_asin not in own}  # fmt: skip


def test_the_watched_asins_are_the_files_the_searches_and_brand_analytics_never_ours(competitors):
    rows, truth = competitors["rows"], competitors["truth"]
    own = truth["own"]
    offers = _by(rows["item_offers"], "marketplace_id", "snapshot_date")
    for market in MARKETS:
        for day in DAYS:
            watched = {r.asin for r in offers[(market, day)] if r.watched}
            expected = {a for a in truth["search"][(market, day)] if a not in own}
            expected |= _clicked_beside_ours(rows["search_terms"], market, day, own)
            if market == MARKETS[1]:
                expected.add(truth["watched_rival"])
            assert watched == expected, (market, day)
            assert watched and not watched & own
            ours = {r.asin for r in offers[(market, day)] if not r.watched}
            assert ours and ours <= own
            # Each watched ASIN says why, by the sources' precedence: the file, a search, BA.
            why = {r.asin: (r.watched_from, r.watched_detail)
                   for r in offers[(market, day)] if r.watched}  # fmt: skip
            for asin, (source, detail) in why.items():
                if market == MARKETS[1] and asin == truth["watched_rival"]:
                    assert (source, detail) == ("file", "the rival we know")
                elif asin in truth["search"][(market, day)]:
                    assert (source, detail) == ("search", truth["keywords"][market]), asin
                else:
                    assert source == "brand_analytics" and detail, (market, day, asin)
            assert {r.watched_from for r in offers[(market, day)] if not r.watched} == {None}


def test_competitor_daily_equals_the_sandboxs_truth_on_every_snapshot_day(competitors):
    rows, truth = competitors["rows"], competitors["truth"]
    mart = {(r.marketplace_id, r.date, r.asin): r for r in rows["competitor_daily"]}
    assert len(mart) == len(rows["competitor_daily"])  # one row per key
    offers = _by(rows["item_offers"], "marketplace_id", "snapshot_date")
    checked = 0
    for market in MARKETS:
        for day in DAYS:
            served = {t["asin"]: t for t in truth["rivals"][(market, day)]}
            theirs = {k[2]: r for k, r in mart.items() if k[:2] == (market, day) and not r.is_ours}
            watched = {r.asin for r in offers[(market, day)] if r.watched}
            assert theirs and set(theirs) == watched and watched <= set(served), (market, day)
            for asin, row in theirs.items():
                want = served[asin]
                got = {name: row[name] for name in (
                    "brand", "sales_rank", "buy_box_seller_id", "buy_box_landed_price",
                    "lowest_landed_price", "total_offer_count", "fba_offer_count",
                    "mfn_offer_count", "currency")}  # fmt: skip
                wanted = {name: want[name] for name in got}
                wanted["fba_offer_count"] = wanted["fba_offer_count"] or 0
                wanted["mfn_offer_count"] = wanted["mfn_offer_count"] or 0
                assert got == wanted, (market, day, asin)
                offered = next(r for r in offers[(market, day)] if r.asin == asin)
                assert (row.watched_from, row.watched_detail) == (
                    offered.watched_from, offered.watched_detail) != (None, None)  # fmt: skip
                checked += 1
    assert checked >= len(MARKETS) * len(DAYS) * 3
    # Prices and ranks moved between the days for some rival.
    by_asin = _by([r for r in rows["competitor_daily"] if not r.is_ours], "marketplace_id", "asin")
    assert any(len({(r.lowest_landed_price, r.sales_rank) for r in days}) > 1
               for days in by_asin.values())  # fmt: skip


def test_a_rival_is_compared_with_our_cheapest_asin_in_its_search(competitors):
    rows, truth = competitors["rows"], competitors["truth"]
    mart = _by(rows["competitor_daily"], "marketplace_id", "date")
    compared = 0
    for (market, day), found in mart.items():
        ours = {r.asin: r.our_landed_price for r in found if r.is_ours}
        in_search = set(truth["search"][(market, day)])
        cheapest = min((p for a, p in ours.items() if a in in_search and p is not None),
                       default=None)  # fmt: skip
        for row in found:
            if not row.is_ours and row.asin in in_search and cheapest is not None:
                assert row.our_reference_price == cheapest
                assert row.price_gap_to_ours == row.lowest_landed_price - cheapest
                compared += 1
    assert compared
