"""A seller's competitor watchlist: the file checked whole (every bad line named, nothing
written), and the day's watched ASINs chosen from it, from the day's keyword searches and from
Brand Analytics, in that order of precedence, without the seller's own ASINs, newest file first."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import pytest

from spapi_toolkit.clock import ManualClock
from spapi_toolkit.errors import ConfigurationError
from spapi_toolkit.ingest import watchlist
from spapi_toolkit.ingest.watchlist import Search, Watched
from spapi_toolkit.lake.landing import land
from spapi_toolkit.lake.layout import raw_stem
from spapi_toolkit.lake.reference import ReferenceFileError, load_reference
from spapi_toolkit.lake.storage import Lake

HEADER = "marketplace_id,kind,value,brand,watch,note\n"
SELLER = "A2SELLER1"
DE = "A1PA6795UKMFR9"
US = "ATVPDKIKX0DER"
DAY = date(2026, 11, 20)
OURS = "B0OURS0001"


def _load(tmp_path, lake, text, name="watch.csv", at=datetime(2026, 11, 19, 8, tzinfo=UTC)):
    path = tmp_path / name
    path.write_text(HEADER + text)
    return load_reference(lake, "watchlist", path, seller=SELLER, clock=ManualClock(at))


def test_a_malformed_watchlist_is_refused_whole_with_each_line_and_column(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    with pytest.raises(ReferenceFileError) as caught:
        _load(tmp_path, lake, f"{DE},asin,B0RIVAL001,,true,their best seller\n"
              "DE,asin,B0RIVAL002,,true,\n"  # a country code, not an id
              f"{DE},asin,b0lower001,,true,\n"
              f"{DE},brand,Northpeak,,true,\n"
              f"{DE},asin,B0RIVAL003,Northpeak,true,\n"  # a brand narrows searches only
              f"{DE},search,kochmesser,,yes,\n"
              f"{DE},asin,B0RIVAL001,,false,\n"  # the same entry again
              f"{DE},search,{'x' * 201},,true,\n")  # fmt: skip
    message = str(caught.value)
    for expected in (
        "7 problem(s), nothing loaded",
        f"line 3 column marketplace_id: 'DE' is not a marketplace id (the id of DE is {DE})",
        "line 4 column value: 'b0lower001' is not an ASIN",
        "line 5 column kind: 'brand' is not one of asin, search",
        "line 6 column brand: only a search is narrowed to a brand",
        "line 7 column watch: 'yes' is not true or false",
        "line 8: asin 'B0RIVAL001' in " + DE + " again (first on line 2)",
        "line 9 column value: a search's keywords are 1 to 200 characters",
    ):
        assert expected in message, message
    assert not list(lake.list("raw/"))


def test_a_watchlist_belongs_to_a_seller_and_lands_on_its_day(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    path = tmp_path / "w.csv"
    path.write_text(HEADER + f"{DE},asin,B0RIVAL001,,true,\n")
    with pytest.raises(ReferenceFileError, match="belong to one seller"):
        load_reference(lake, "watchlist", path)
    manifest, checked = _load(tmp_path, lake, f"{DE},asin,B0RIVAL001,,true,\n"
                              f"{DE},search,kochmesser,Vantiq,true,a rival brand\n")  # fmt: skip
    assert (checked.rows, checked.first, checked.details["searches"]) == (2, None, "1")
    assert f"seller_id={SELLER}/marketplace_id=all/dt=2026-11-19/" in manifest.key


def _land_jsonl(lake, dataset, marketplace_id, day, lines, object_id="batch"):
    data = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    land(lake, raw_stem(dataset, SELLER, marketplace_id, day, object_id), [data], fmt="jsonl",
         encodings=["utf-8"], manifest_fields={"dataset": dataset, "seller_id": SELLER,
                                               "request": {}},
         now=datetime(2026, 11, 20, 9, tzinfo=UTC))  # fmt: skip


def _land_search_terms(lake, marketplace_id, week, rows):
    body = {"reportSpecification": {"reportType": "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT"},
            "dataByDepartmentAndSearchTerm": rows}  # fmt: skip
    land(lake, raw_stem("search_terms", SELLER, marketplace_id, week, "report"),
         [json.dumps(body).encode()], fmt="json", encodings=["utf-8"],
         manifest_fields={"dataset": "search_terms", "seller_id": SELLER, "request": {}},
         now=datetime(2026, 11, 20, 9, tzinfo=UTC))  # fmt: skip


def _term(term, rank, asin, position):
    return {"departmentName": "Home & Kitchen", "searchTerm": term, "searchFrequencyRank": rank,
            "clickedAsin": asin, "clickShareRank": position, "clickShare": 0.1,
            "conversionShare": 0.1}  # fmt: skip


def test_the_days_watched_asins_come_from_the_file_the_searches_and_brand_analytics(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    _load(tmp_path, lake, f"{DE},asin,B0FILE0001,,true,old note\n"
          f"{DE},asin,B0FILE0002,,true,\n"
          f"{DE},search,kochmesser,,true,\n"
          f"{US},asin,B0USONLY01,,true,\n", name="first.csv")  # fmt: skip
    # A newer file stops watching one ASIN and changes another's note.
    _load(tmp_path, lake, f"{DE},asin,B0FILE0002,,false,\n"
          f"{DE},asin,B0FILE0001,,true,new note\n"
          f"{DE},search,schneidebrett,Vantiq,true,\n",
          name="second.csv", at=datetime(2026, 11, 19, 9, tzinfo=UTC))  # fmt: skip
    assert watchlist.searches(lake, SELLER, DE) == [
        Search("kochmesser"),
        Search("schneidebrett", "Vantiq"),
    ]
    _land_jsonl(lake, "catalog_search", DE, DAY, [
        {"search": "kochmesser", "position": 2, "item": {"asin": "B0FILE0001"}},
        {"search": "kochmesser", "position": 1, "item": {"asin": OURS}},
        {"search": "kochmesser", "position": 3, "item": {"asin": "B0SEARCH01"}},
    ])  # fmt: skip
    _land_jsonl(lake, "catalog_search", DE, date(2026, 11, 19), [
        {"search": "kochmesser", "position": 1, "item": {"asin": "B0YESTERDY"}},
    ])  # fmt: skip
    _land_search_terms(lake, DE, date(2026, 11, 8), [
        _term("messer", 5, "B0BA000001", 1), _term("messer", 5, OURS, 2),
        _term("brett", 2, "B0BA000002", 1), _term("brett", 2, OURS, 3),
        _term("tasse", 1, "B0NOTBESID", 1),  # no ASIN of ours clicked beside it
    ])  # fmt: skip
    _land_search_terms(
        lake,
        DE,
        date(2026, 11, 22),
        [  # a week after the day: not read
            _term("brett", 1, "B0FUTURE01", 1),
            _term("brett", 1, OURS, 2),
        ],
    )

    chosen = watchlist.watched(lake, SELLER, DE, DAY, own=[OURS])
    assert chosen == [
        Watched("B0FILE0001", "file", "new note"),
        Watched("B0SEARCH01", "search", "kochmesser"),
        Watched("B0BA000002", "brand_analytics", "brett"),  # the more searched term first
        Watched("B0BA000001", "brand_analytics", "messer"),
    ]
    assert [w.asin for w in watchlist.watched(lake, SELLER, DE, DAY, [OURS], limit=2)] == [
        "B0FILE0001",
        "B0SEARCH01",
    ]
    assert [w.asin for w in watchlist.watched(lake, SELLER, US, DAY, [OURS])] == ["B0USONLY01"]


def test_a_search_label_names_its_brand_and_reads_back():
    search = Search.of("  beste   kochmesser ", "Vantiq")
    assert search.label == "beste kochmesser [brand=Vantiq]"
    assert Search.from_label(search.label) == search
    assert Search.from_label("kochmesser") == Search("kochmesser")
    narrowed = Search.of("kochmesser", "", "3167641", "20")
    assert narrowed.label == "kochmesser [classification=3167641] [top=20]"
    assert Search.from_label(narrowed.label) == narrowed
    assert narrowed == Search("kochmesser", None, "3167641", 20)
    assert Search.of("kochmesser", results="10").label == "kochmesser"  # the default is unsaid


def test_a_search_may_be_kept_to_a_classification_and_its_top_results(tmp_path):
    """The two optional columns: absent from the header, empty in every row; present, checked
    like the others, and read into the day's searches."""
    lake = Lake.from_uri(str(tmp_path / "lake"))
    path = tmp_path / "narrow.csv"
    path.write_text(HEADER.strip() + ",classification,results\n"
                    f"{DE},search,kochmesser,,true,,3167641,20\n"
                    f"{DE},search,brett,,true,,,\n"
                    f"{DE},asin,B0RIVAL001,,true,,12,3\n"
                    f"{DE},search,tasse,,true,,home,21\n"
                    f"{DE},search,teller [top=5],,true,,,\n")  # fmt: skip
    with pytest.raises(ReferenceFileError) as caught:
        load_reference(lake, "watchlist", path, seller=SELLER)
    message = str(caught.value)
    for expected in (
        "5 problem(s)",
        "line 4 column classification: only a search is narrowed to a classification",
        "line 4 column results: only a search has top results",
        "line 5 column classification: 'home' is not a classification id",
        "line 5 column results: '21' is not a whole number from 1 to 20",
        "line 6 column value: '[brand=', '[classification=' and '[top=' label a search's",
    ):
        assert expected in message, message
    path.write_text(HEADER.strip() + ",results,classification\n"
                    f"{DE},search,kochmesser,,true,,20,3167641\n"
                    f"{DE},search,brett,,true,,,\n")  # fmt: skip
    load_reference(lake, "watchlist", path, seller=SELLER)
    assert watchlist.searches(lake, SELLER, DE) == [
        Search("kochmesser", None, "3167641", 20), Search("brett")]  # fmt: skip
    path.write_text(HEADER.strip() + ",top\n")
    with pytest.raises(ReferenceFileError, match=r"has unknown \['top'\].* may name "
                       "classification, results"):  # fmt: skip
        load_reference(lake, "watchlist", path, seller=SELLER)


def test_the_plan_estimates_a_days_watchlist_within_its_limit(tmp_path, monkeypatch):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    _load(tmp_path, lake, f"{DE},asin,B0FILE0001,,true,\n"
          f"{DE},asin,{OURS},,true,\n"  # our own: never watched
          f"{DE},search,kochmesser,,true,\n"
          f"{DE},search,schneidebrett,,true,\n")  # fmt: skip
    _land_search_terms(lake, DE, date(2026, 11, 8), [
        _term("messer", 5, "B0BA000001", 1), _term("messer", 5, OURS, 2),
        _term("messer", 5, "B0FILE0001", 3)])  # fmt: skip
    guess = watchlist.estimate(lake, SELLER, DE, DAY, own=[OURS])
    assert (guess.files, guess.searches, guess.brand_analytics) == (1, 2, 1)
    assert (guess.asins, guess.calls) == (22, 2 + 3 * 2)  # 2 searches; 2 batches x 3 operations
    assert "up to 22 watched ASINs" in guess.describe()
    monkeypatch.setenv(watchlist.LIMIT_SETTING, "5")
    assert watchlist.estimate(lake, SELLER, DE, DAY, own=[OURS]).asins == 5
    monkeypatch.setenv(watchlist.LIMIT_SETTING, "-1")
    with pytest.raises(ConfigurationError, match="SPAPI_WATCHLIST_LIMIT='-1' is not a whole"):
        watchlist.watch_limit()


def test_brand_analytics_is_read_as_it_streams_whatever_the_reports_size(tmp_path):
    """A big marketplace's search terms report runs to gigabytes: choosing the competitors keeps
    only the terms beside the seller's ASINs in memory, and finds them wherever they are."""
    import tracemalloc

    lake = Lake.from_uri(str(tmp_path / "lake"))
    rows = [_term(f"term {n}", n + 10, f"B0X{n:07d}", 1) for n in range(60_000)]
    rows.insert(10, _term("messer", 3, "B0BA000001", 1))  # our row comes 50,000 rows later
    rows.insert(50_000, _term("messer", 3, OURS, 2))
    body = {"reportSpecification": {}, "dataByDepartmentAndSearchTerm": rows}
    data = gzip.compress(json.dumps(body).encode())
    land(lake, raw_stem("search_terms", SELLER, DE, date(2026, 11, 8), "report"), [data],
         fmt="json", encodings=["utf-8"],
         manifest_fields={"dataset": "search_terms", "seller_id": SELLER, "request": {}},
         now=datetime(2026, 11, 20, 9, tzinfo=UTC))  # fmt: skip
    del rows, body
    whole = len(gzip.decompress(data))
    tracemalloc.start()
    try:
        found = watchlist.clicked_beside(lake, SELLER, DE, DAY, {OURS})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [Watched("B0BA000001", "brand_analytics", "messer")]
    assert peak < whole / 4, (peak, whole)  # json.loads alone would hold several times `whole`
