"""The competitors a seller watches: the keyword searches and ASINs of a day's snapshots.

A seller's watchlist files (``spapi reference load watchlist FILE --seller ID``; the format is in
``lake/reference.py``) declare ASINs to watch and catalog keyword searches. The files' rows are
read as curation reads them: the newest file's row wins per marketplace, kind and value, and a
row with ``watch`` false stops watching what an earlier file declared.

The ASINs watched on a day in a marketplace, each with where it came from, in this order (the
list stops at ``LIMIT``, so the earlier sources win when it is full):

1. ``file``: the ``asin`` rows;
2. ``search``: the results of each ``search`` row's catalog search landed that day
   (``catalog_search``: its top ``results``, default ``SEARCH_RESULTS``, narrowed to its
   ``brand`` and ``classification`` when the row names them), by position (every search's
   first result, then every search's second, ...);
3. ``brand_analytics``: the ASINs Brand Analytics shows clicked for a search term beside one of
   the seller's own ASINs, in the newest search terms report of the marketplace landed for a
   week that started on or before the day, by the term's search frequency rank.

The seller's own ASINs are never watched: their snapshots are the seller's datasets already.
``LIMIT`` is the default bound; ``SPAPI_WATCHLIST_LIMIT`` sets another (``watch_limit()``), and
``spapi ingest --plan`` shows what the watchlist will ask for (``estimate``). Everything here
reads landed objects only, never Amazon.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO, cast

from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import is_manifest, object_key, raw_partition, raw_prefix
from spapi_toolkit.lake.reference import (
    ALL_MARKETPLACES,
    DEFAULT_RESULTS,
    NARROWED_BY,
    entry_value,
)
from spapi_toolkit.lake.storage import Lake

WATCHLIST_DATASET = "watchlist"
SEARCH_DATASET = "catalog_search"
SEARCH_TERMS_DATASET = "search_terms"
LIMIT = 100  # watched ASINs per seller, marketplace and day: 5 getItemOffersBatch calls
LIMIT_SETTING = "SPAPI_WATCHLIST_LIMIT"
BATCH = 20  # ASINs per call of the watchlist_* operations (their batch_size)
SEARCH_RESULTS = DEFAULT_RESULTS  # a search's results kept per day unless its row says more
SOURCES = ("file", "search", "brand_analytics")
STATE = "_state/watchlist"  # the ASINs chosen per seller, marketplace and day
_NARROWED = re.compile(rf"^(.*) \[({'|'.join(NARROWED_BY)})=([^\]]*)\]$")


@dataclass(frozen=True)
class Search:
    """One catalog keyword search of a watchlist: its words, the brand and classification it is
    narrowed to, and how many of its top results are kept (one page)."""

    keywords: str
    brand: str | None = None
    classification: str | None = None
    results: int = SEARCH_RESULTS

    @property
    def label(self) -> str:
        """How the search is named in the ledger, the manifests and the cleaned table: its
        keywords, then what narrows it (``kochmesser [brand=Vantiq] [top=20]``)."""
        top = None if self.results == SEARCH_RESULTS else str(self.results)
        narrowed = [("brand", self.brand), ("classification", self.classification), ("top", top)]
        return " ".join([self.keywords] + [f"[{name}={v}]" for name, v in narrowed if v])

    @classmethod
    def from_label(cls, label: str) -> Search:
        narrowed: dict[str, str] = {}
        while match := _NARROWED.fullmatch(label):
            label, name, value = match.groups()
            narrowed[name] = value
        return cls(label, narrowed.get("brand"), narrowed.get("classification"),
                   int(narrowed.get("top", SEARCH_RESULTS)))  # fmt: skip

    @classmethod
    def of(
        cls,
        keywords: str,
        brand: str | None = None,
        classification: str | None = None,
        results: int | str | None = None,
    ) -> Search:
        """A search with its keywords' whitespace normalised (one space between words); empty
        narrowing is none, and no ``results`` is ``SEARCH_RESULTS``."""
        return cls(" ".join(keywords.split()), brand or None, classification or None,
                   int(results) if results else SEARCH_RESULTS)  # fmt: skip


@dataclass(frozen=True)
class Watched:
    """One watched ASIN and where it came from (``SOURCES``): the note of its file row, the
    search's label, or the Brand Analytics search term."""

    asin: str
    source: str
    detail: str


def _manifests(lake: Lake, prefix: str) -> list[Manifest]:
    """The manifests under ``prefix`` whose objects are there, oldest pull first."""
    keys = set(lake.list(prefix))
    found = [
        Manifest.from_json(lake.read_bytes(key))
        for key in keys
        if is_manifest(key) and object_key(key) in keys
    ]
    return sorted(found, key=lambda m: (m.retrieved_at, m.key))


def _text(lake: Lake, manifest: Manifest) -> str:
    """A landed document's text (gunzipped when compressed, decoded as its manifest says)."""
    data = lake.read_bytes(manifest.key)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode(manifest.encoding or "utf-8")


def _entries(lake: Lake, seller_id: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """The seller's watchlist rows, newest file's row per marketplace, kind and value, in the
    order of the files (a newer row moves to the end)."""
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    for manifest in _manifests(lake, raw_prefix(WATCHLIST_DATASET, seller_id, ALL_MARKETPLACES)):
        text = lake.read_bytes(manifest.key).decode("utf-8-sig")
        for row in csv.DictReader(io.StringIO(text, newline="")):
            key = (row["marketplace_id"], row["kind"], entry_value(row["kind"], row["value"]))
            rows.pop(key, None)
            rows[key] = row
    return rows


def settings(lake: Lake, seller_id: str, marketplace_id: str) -> list[dict[str, str]]:
    """The seller's watchlist rows of ``marketplace_id`` that are watched, newest file's row per
    kind and value, in the order of the files (the module doc)."""
    return [row for (market, _, _), row in _entries(lake, seller_id).items()
            if market == marketplace_id and row.get("watch") == "true"]  # fmt: skip


def marketplaces(lake: Lake, seller_id: str) -> dict[str, int]:
    """The marketplaces the seller's watchlist names: how many entries each watches."""
    found: dict[str, int] = {}
    for (market, _, _), row in _entries(lake, seller_id).items():
        found[market] = found.get(market, 0) + (row.get("watch") == "true")
    return {market: count for market, count in found.items() if count}


def searches(lake: Lake, seller_id: str, marketplace_id: str) -> list[Search]:
    """The keyword searches the seller watches in ``marketplace_id``."""
    return _searches(settings(lake, seller_id, marketplace_id))


def _searches(rows: Iterable[dict[str, str]]) -> list[Search]:
    """The searches of watchlist ``rows`` (``settings``), each once."""
    found = [
        Search.of(row["value"], row.get("brand"), row.get("classification"), row.get("results"))
        for row in rows
        if row["kind"] == "search"
    ]
    return list(dict.fromkeys(found))


def search_results(lake: Lake, seller_id: str, marketplace_id: str, day: date) -> list[Watched]:
    """The ASINs the catalog searches landed for ``day`` found, by position (every search's
    first result, then every search's second, ...), then search."""
    prefix = f"{raw_prefix(SEARCH_DATASET, seller_id, marketplace_id)}dt={day.isoformat()}/"
    lines = [
        json.loads(line)
        for manifest in _manifests(lake, prefix)
        for line in _text(lake, manifest).splitlines()
        if line.strip()
    ]
    # Interleaved by position: every search's first result before any search's second.
    ordered = sorted(lines, key=lambda line: (line.get("position", 0), line.get("search", "")))
    return [
        Watched(str((line.get("item") or {}).get("asin")), "search", str(line.get("search")))
        for line in ordered
        if (line.get("item") or {}).get("asin")
    ]


def _search_term_rows(lake: Lake, manifest: Manifest) -> Iterator[dict]:
    """The rows of a landed search terms report, parsed as they stream in: the report of a big
    marketplace runs to gigabytes, more than a Lambda's memory."""
    import ijson  # the landing functions already need it

    with lake.open(manifest.key) as raw:
        stream = cast(BinaryIO, gzip.GzipFile(fileobj=raw)) if manifest.compression else raw
        yield from ijson.items(stream, "dataByDepartmentAndSearchTerm.item", use_float=True)


def clicked_beside(
    lake: Lake, seller_id: str, marketplace_id: str, day: date, own: set[str]
) -> list[Watched]:
    """The ASINs clicked for the search terms where one of ``own`` is clicked too, from the
    newest search terms report of a week starting on or before ``day``.

    Two passes over the report, keeping only the terms beside ``own`` and their rows, so memory
    follows the seller's terms, not the report's size."""
    candidates = [
        m
        for m in _manifests(lake, raw_prefix(SEARCH_TERMS_DATASET, seller_id, marketplace_id))
        if raw_partition(m.key).get("dt", "") <= day.isoformat()
    ]
    if not candidates:
        return []
    newest = max(candidates, key=lambda m: (raw_partition(m.key)["dt"], m.retrieved_at))

    def term(row: dict) -> tuple[str, str]:
        return (str(row.get("departmentName")), str(row.get("searchTerm")))

    beside_ours = {term(r) for r in _search_term_rows(lake, newest) if r.get("clickedAsin") in own}
    terms: dict[tuple[str, str], list[dict]] = {}
    for row in _search_term_rows(lake, newest):
        if term(row) in beside_ours:
            terms.setdefault(term(row), []).append(row)

    def frequency_rank(rows: list[dict]) -> float:
        return min(r.get("searchFrequencyRank") or math.inf for r in rows)

    beside = sorted(terms.values(), key=frequency_rank)
    return [
        Watched(str(row["clickedAsin"]), "brand_analytics", str(row.get("searchTerm")))
        for rows in beside
        for row in sorted(rows, key=lambda r: r.get("clickShareRank") or math.inf)
        if row.get("clickedAsin") and row["clickedAsin"] not in own
    ]


def watch_limit(env: Mapping[str, str] | None = None) -> int:
    """The most ASINs watched per seller, marketplace and day: ``SPAPI_WATCHLIST_LIMIT``, else
    ``LIMIT``; a value that is not a whole number of 0 or more is refused by name."""
    text = (os.environ if env is None else env).get(LIMIT_SETTING)
    if text is None or text == "":
        return LIMIT
    if not text.isdigit():
        from spapi_toolkit.errors import ConfigurationError

        raise ConfigurationError(
            f"{LIMIT_SETTING}={text[:40]!r} is not a whole number of 0 or more"
        )
    return int(text)


@dataclass(frozen=True)
class Estimate:
    """What a day's watchlist asks of Amazon in one marketplace, before the searches run."""

    marketplace_id: str
    files: int  # ASINs the watchlist files name
    searches: int
    search_results: int  # the searches' top results together
    brand_analytics: int  # competitors clicked beside ours in the newest Brand Analytics week
    limit: int

    @property
    def asins(self) -> int:
        """At most this many ASINs are watched: every search may fill its top results."""
        return min(self.limit, self.files + self.search_results + self.brand_analytics)

    @property
    def calls(self) -> int:
        """Calls a day: one per search, and per watchlist_* operation one per ``BATCH`` ASINs."""
        return self.searches + 3 * math.ceil(self.asins / BATCH)

    def describe(self) -> str:
        return (f"{self.marketplace_id}: up to {self.asins} watched ASINs ({self.files} named, "
                f"{self.searches} searches of {self.search_results} results together, "
                f"{self.brand_analytics} from Brand "
                f"Analytics; at most {self.limit}), {self.calls} calls a day")  # fmt: skip


def estimate(
    lake: Lake, seller_id: str, marketplace_id: str, day: date, own: Iterable[str]
) -> Estimate:
    """What the watchlist of ``seller_id`` will ask for on ``day`` in ``marketplace_id``."""
    mine = set(own)
    rows = settings(lake, seller_id, marketplace_id)
    named = {r["value"] for r in rows if r["kind"] == "asin"} - mine
    clicked = {w.asin for w in clicked_beside(lake, seller_id, marketplace_id, day, mine)}
    declared = _searches(rows)
    return Estimate(marketplace_id, len(named), len(declared), sum(s.results for s in declared),
                    len(clicked - named), watch_limit())  # fmt: skip


def watched(
    lake: Lake,
    seller_id: str,
    marketplace_id: str,
    day: date,
    own: Iterable[str],
    limit: int = LIMIT,
) -> list[Watched]:
    """The ASINs the seller watches on ``day`` in ``marketplace_id`` (the module doc), at most
    ``limit``, each once (by its first source), none of ``own``."""
    mine = set(own)
    listed = [
        Watched(row["value"], "file", row.get("note") or "")
        for row in settings(lake, seller_id, marketplace_id)
        if row["kind"] == "asin"
    ]
    listed += search_results(lake, seller_id, marketplace_id, day)
    listed += clicked_beside(lake, seller_id, marketplace_id, day, mine)
    chosen: dict[str, Watched] = {}
    for entry in listed:
        if entry.asin not in mine and entry.asin not in chosen and len(chosen) < limit:
            chosen[entry.asin] = entry
    return list(chosen.values())


def state_key(seller_id: str, marketplace_id: str, day: date) -> str:
    """Where the ASINs watched on ``day`` are kept once chosen (``ingest/snapshots.py``): the
    watchlist datasets of the day read them from there."""
    return (f"{STATE}/seller_id={seller_id}/marketplace_id={marketplace_id}/"
            f"dt={day.isoformat()}.json")  # fmt: skip


def describe(entries: Sequence[Watched]) -> list[list[str]]:
    """``entries`` as JSON-ready rows (asin, source, detail), for the ledger and manifests."""
    return [[e.asin, e.source, e.detail] for e in entries]
