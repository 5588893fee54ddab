"""API snapshots into the raw zone: catalog, listings, pricing, orders and inventory as JSON lines.

The registry's ``source = "api"`` datasets are taken by calling one operation many times: once per
group of ``batch_size`` identifiers (the ASINs and SKUs the merchant listings report told us the
seller has, ``driven_by``), or once with pagination (orders of a window, inventory summaries).
Every item Amazon returns becomes one line of a gzip JSON-lines batch landed with ``land()``,
with the same key and manifest rules as reports; the item is kept as Amazon returned it (an
item-level error inside a batch answer included) and the context (operation, parameters,
identifiers) goes to the manifest's ``request``.

Crash safety follows ``ingest.py``: the ledger entry is written before the first call; a batch
is landed object first, manifest second; a batch whose manifest exists is never written again.
Batch ``n`` of a request always holds the same calls (identifiers are sorted, calls grouped by a
fixed count; a watchlist request's ASINs, in the order they were chosen, are kept in its ledger
entry), so a resumed run skips the batches already landed without calling Amazon for them.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO, cast

from spapi_toolkit.api.client import SpApiClient, next_page_params, prepare_call
from spapi_toolkit.api.errors import (
    NotFoundError,
    ServerError,
    SpApiError,
    SpApiToolkitError,
    TransportError,
    UnauthorizedError,
)
from spapi_toolkit.api.models import Operation, find_operation
from spapi_toolkit.ingest import watchlist
from spapi_toolkit.ingest.jobs import encodings_for, new_entry
from spapi_toolkit.ingest.ledger import Entry, Ledger
from spapi_toolkit.ingest.planner import PlannedRequest
from spapi_toolkit.ingest.watchlist import Search
from spapi_toolkit.lake.landing import BadDocument, Manifest, is_landed, land
from spapi_toolkit.lake.layout import is_manifest, object_key, raw_prefix, raw_stem
from spapi_toolkit.lake.storage import Lake, ObjectNotFound
from spapi_toolkit.regions import marketplace

LISTINGS_DATASET = "merchant_listings"
CALLS_PER_BATCH = 100  # identifier-driven datasets: calls per landed batch
PAGES_PER_BATCH = 100  # paginated datasets: pages per landed batch ...
ITEMS_PER_BATCH = 10_000  # ... or items, whichever comes first
ORDERS_PAGE_SIZE = 100
FINANCES_PAGE_SIZE = 100  # listFinancialEvents' maximum
LATEST = timedelta(minutes=3)  # Finances refuses a window ending less than 2 minutes ago
CATALOG_PAGE_SIZE = 20  # searchCatalogItems' maximum, the same as its identifiers per call
# A page whose call failed for a reason that says nothing about the call (a token answered as
# expired again right after its refresh, a 5xx or a lost answer once the client's retries are
# spent) is asked again, up to this many times in all, before its whole request fails: one
# unlucky call among hundreds must not fail a snapshot (the reports' steps do the same).
PAGE_ATTEMPTS = 3
CHOSEN = "chosen"  # a watchlist or search request's ledger entry: what it asks about
TRANSIENT_ERRORS = (UnauthorizedError, ServerError, TransportError)


class SnapshotError(SpApiToolkitError):
    """A snapshot cannot be taken (e.g. no merchant listings landed to drive it)."""


@dataclass
class SnapshotStats:
    """What a snapshot run did; ``errors`` says why each failed request failed."""

    planned: int = 0
    already_landed: int = 0  # requests landed by an earlier run
    landed: int = 0  # requests landed by this run
    no_data: int = 0  # requests Amazon had no items for (nothing lands)
    failed: int = 0
    batches_landed: int = 0
    batches_skipped: int = 0  # batches an interrupted run had landed already
    calls: int = 0  # operation calls (pages included)
    items: int = 0  # JSON lines landed
    bytes_landed: int = 0
    errors: list[str] = field(default_factory=list)


SnapshotProgress = Callable[[SnapshotStats, int], None]  # (stats, requests still pending)


# ---- what the reports told us ----------------------------------------------------------------


def known_items(lake: Lake, seller_id: str, marketplace_id: str) -> tuple[list[str], list[str]]:
    """The seller's ASINs and SKUs in a marketplace (sorted, distinct), from the newest landed
    merchant listings report: the snapshots ask about what the seller actually lists."""
    manifest = _newest_listings(lake, seller_id, marketplace_id)
    asins: set[str] = set()
    skus: set[str] = set()
    with lake.open(manifest.key) as raw:
        for row in _tsv_rows(raw, manifest):
            if row.get("asin1"):
                asins.add(row["asin1"])
            if row.get("seller-sku"):
                skus.add(row["seller-sku"])
    return sorted(asins), sorted(skus)


def _newest_listings(lake: Lake, seller_id: str, marketplace_id: str) -> Manifest:
    """The manifest of the newest landed merchant listings object (by retrieval time)."""
    prefix = raw_prefix(LISTINGS_DATASET, seller_id, marketplace_id)
    manifests = [
        Manifest.from_json(lake.read_bytes(key))
        for key in lake.list(prefix)
        if is_manifest(key) and lake.exists(object_key(key))
    ]
    if not manifests:
        raise SnapshotError(
            f"no merchant listings landed for seller {seller_id} in {marketplace_id}: "
            f"ingest {LISTINGS_DATASET} first (the snapshots are driven by its ASINs and SKUs)"
        )
    return max(manifests, key=lambda m: (m.retrieved_at, m.key))


def _tsv_rows(raw: BinaryIO, manifest: Manifest) -> Iterator[dict[str, str]]:
    """The rows of a landed flat file as dicts, streamed (gzip and encoding per the manifest)."""
    binary = cast(BinaryIO, gzip.GzipFile(fileobj=raw)) if manifest.compression == "gzip" else raw
    text = io.TextIOWrapper(binary, encoding=manifest.encoding or "utf-8", newline="")
    header: list[str] | None = None
    for line in text:
        cells = line.rstrip("\r\n").split("\t")
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if line.strip():
            yield dict(zip(header, cells, strict=False))


# ---- how each operation is called and where its items are -----------------------------------


@dataclass(frozen=True)
class _Call:
    """One operation call (followed through its pages) and the identifiers it asks about."""

    params: dict[str, Any]
    identifiers: tuple[str, ...] = ()


def _catalog(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    return {
        "identifiers": list(ids),
        "marketplaceIds": list(request.marketplace_ids),
        "pageSize": CATALOG_PAGE_SIZE,
    }


def _listing(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    (sku,) = ids
    return {"sellerId": seller_id, "sku": sku, "marketplaceIds": list(request.marketplace_ids)}


def _competitive(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    included = list(request.dataset.params.get("includedData", ["featuredBuyingOptions"]))
    requests = [
        {
            "asin": asin,
            "marketplaceId": request.marketplace_ids[0],
            "includedData": included,
            "method": "GET",
            "uri": "/products/pricing/2022-05-01/items/competitiveSummary",
        }
        for asin in ids
    ]
    return {"body": {"requests": requests}}


def _item_offers(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    fixed = request.dataset.params
    requests = [
        {
            "uri": f"/products/pricing/v0/items/{asin}/offers",
            "method": "GET",
            "MarketplaceId": request.marketplace_ids[0],
            "ItemCondition": fixed.get("ItemCondition", "New"),
            **({"CustomerType": fixed["CustomerType"]} if "CustomerType" in fixed else {}),
        }
        for asin in ids
    ]
    return {"body": {"requests": requests}}


def _orders(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    times = request.time_range()
    if times is None:
        raise SnapshotError(f"{request.dataset.name} needs a window (plan it with a date range)")
    return {
        "lastUpdatedAfter": times[0],
        "lastUpdatedBefore": times[1],
        "marketplaceIds": list(request.marketplace_ids),
        "maxResultsPerPage": ORDERS_PAGE_SIZE,
    }


def _inventory(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    return {
        "granularityId": request.marketplace_ids[0],
        "marketplaceIds": list(request.marketplace_ids),
    }


def _exclusive(request: PlannedRequest) -> tuple[datetime, datetime]:
    """The window as [first instant, the instant after its last): Finances' ``...Before``
    bounds leave their instant out, so the last day ends at the next day's midnight (a window
    ending at 23:59:59 would never ask for its last second)."""
    times = request.time_range()
    if times is None:
        raise SnapshotError(f"{request.dataset.name} needs a window (plan it with a date range)")
    return times[0], times[1] + timedelta(seconds=1)


def _posted(
    after: str, before: str
) -> Callable[[PlannedRequest, Sequence[str], str], dict[str, Any]]:
    """A Finances listing's parameters: the window in the parameters ``after`` and ``before``."""

    def params(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
        first, end = _exclusive(request)
        return {after: _iso(first), before: _iso(end), "MaxResultsPerPage": FINANCES_PAGE_SIZE}

    return params


def _groups_in_currency(page: Any, request: PlannedRequest, params: Mapping[str, Any]) -> list[Any]:
    """The page's settlement groups in the currency of the request's marketplace: a group is
    an account's, one per currency, so each marketplace keeps those of its currency (several
    marketplaces of one currency, such as Europe's, land the same groups; the cleaned table
    keeps each group once). A group without a total says no currency: every marketplace keeps
    it, rather than none."""
    currency = marketplace(request.marketplace_ids[0]).currency
    groups = (page.get("payload") or {}).get("FinancialEventGroupList") or []
    return [g for g in groups if _total_currency(g) in (currency, None)]


def _total_currency(group: Any) -> str | None:
    return ((group or {}).get("OriginalTotal") or {}).get("CurrencyCode")


def _financial_events(page: Any, request: PlannedRequest, params: Mapping[str, Any]) -> list[Any]:
    """Each event of a page as a line of its own: a ``FinancialEvents`` object holding that one
    event in its list (``{"RefundEventList": [event]}``), so the line says what kind of event it
    is, as the page did, and still reads as Amazon's model. Finances v0 has no marketplace
    filter: every marketplace's request gets the seller's events of all its marketplaces, and
    keeps those of its own (by ``MarketplaceName``, the site's domain); each other one lands
    with its own marketplace's request. An event without a ``MarketplaceName`` (most lists but
    shipments, refunds and a few others: service fees, adjustments, ... are the account's, not
    a site's) is kept by every marketplace's request, so it lands once per marketplace rather
    than never: a table reading such events keys them by the account, not the marketplace."""
    site = marketplace(request.marketplace_ids[0]).domain.lower()
    events = (page.get("payload") or {}).get("FinancialEvents") or {}
    return [
        {name: [event]}
        for name, listed in events.items()
        if isinstance(listed, list)
        for event in listed
        if str((event or {}).get("MarketplaceName") or site).lower() == site
    ]


@dataclass(frozen=True)
class _Operation:
    """The per-operation knowledge the registry does not hold: the varying parameters of a
    call, where a page keeps its items, and which registry params go in the body instead."""

    params: Callable[[PlannedRequest, Sequence[str], str], dict[str, Any]]
    # (page, request, the call's parameters) -> the lines it lands
    items: Callable[[Any, PlannedRequest, Mapping[str, Any]], list[Any]]
    body_params: bool = False  # the registry's params are used inside the batch body
    not_found_is_item: bool = False  # a 404 for one identifier is that identifier's answer
    before: str | None = None  # a window's end Amazon wants at least LATEST before now
    first_page_only: bool = False  # the first page is all that is kept (a search's top results)


def _field(name: str) -> Callable[[Any, PlannedRequest, Mapping[str, Any]], list[Any]]:
    """The items a page keeps in its field ``name``."""
    return lambda page, request, params: page.get(name, [])


def _keyword_search(request: PlannedRequest, ids: Sequence[str], seller_id: str) -> dict[str, Any]:
    """One watched keyword search (``ids`` holds its label): its words, its brand and
    classification, its top results on one page."""
    (label,) = ids
    search = Search.from_label(label)
    return {
        "keywords": search.keywords.split(),
        **({"brandNames": [search.brand]} if search.brand else {}),
        **({"classificationIds": [search.classification]} if search.classification else {}),
        "marketplaceIds": list(request.marketplace_ids),
        "pageSize": search.results,
    }


def _search_results(page: Any, request: PlannedRequest, params: Mapping[str, Any]) -> list[Any]:
    """A keyword search's results as lines that keep what the item alone does not say: the
    search (its label) and the item's position in the results (1 = first), beside the item as
    Amazon returned it (``{"search", "position", "item"}``)."""
    brand = (params.get("brandNames") or [None])[0]
    classification = (params.get("classificationIds") or [None])[0]
    words = " ".join(params.get("keywords") or [])
    label = Search.of(words, brand, classification, params.get("pageSize")).label
    return [
        {"search": label, "position": position, "item": item}
        for position, item in enumerate(page.get("items") or [], start=1)
    ]


OPERATIONS: dict[str, _Operation] = {
    "searchCatalogItems": _Operation(_catalog, _field("items")),
    "getListingsItem": _Operation(
        _listing, lambda page, request, params: [page], not_found_is_item=True
    ),
    "getCompetitiveSummary": _Operation(_competitive, _field("responses"), body_params=True),
    "getItemOffersBatch": _Operation(_item_offers, _field("responses"), body_params=True),
    "searchOrders": _Operation(_orders, _field("orders")),
    "getInventorySummaries": _Operation(
        _inventory,
        lambda page, request, params: (page.get("payload") or {}).get("inventorySummaries", []),
    ),
    "listFinancialEvents": _Operation(
        _posted("PostedAfter", "PostedBefore"), _financial_events, before="PostedBefore"
    ),
    "listFinancialEventGroups": _Operation(
        _posted("FinancialEventGroupStartedAfter", "FinancialEventGroupStartedBefore"),
        _groups_in_currency,
        before="FinancialEventGroupStartedBefore",
    ),
}


# A catalog search by keywords (driven by the watchlist's searches) keeps its top results only.
KEYWORD_SEARCH = _Operation(_keyword_search, _search_results, first_page_only=True)


def _operation(request: PlannedRequest) -> _Operation:
    name = str(request.dataset.operation)
    if request.dataset.driven_by == "searches":
        if name != "searchCatalogItems":
            raise SnapshotError(f"{request.dataset.name}: only searchCatalogItems searches")
        return KEYWORD_SEARCH
    if name not in OPERATIONS:
        raise SnapshotError(
            f"{request.dataset.name}: no snapshot support for operation {name}; "
            f"supported: {', '.join(OPERATIONS)}"
        )
    return OPERATIONS[name]


def _calls(request: PlannedRequest, identifiers: Sequence[str], seller_id: str) -> list[_Call]:
    """Every call of a request, in a fixed order: ``batch_size`` identifiers each, or one."""
    operation = _operation(request)
    fixed = {} if operation.body_params else dict(request.dataset.params)
    if request.dataset.driven_by == "none":
        return [_Call({**fixed, **operation.params(request, (), seller_id)})]
    size = max(1, request.dataset.batch_size)
    return [
        _Call({**fixed, **operation.params(request, chunk, seller_id)}, tuple(chunk))
        for chunk in (identifiers[i : i + size] for i in range(0, len(identifiers), size))
    ]


# ---- the run ----------------------------------------------------------------------------------


class _Batch:
    """One batch's JSON lines, gzip-compressed as they come (deterministic bytes: no mtime)."""

    def __init__(self) -> None:
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._parts: list[bytes] = []
        self.items = 0
        self.calls = 0
        self.identifiers: list[str] = []

    def add(self, item: Any) -> None:
        line = json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._parts.append(self._gzip.compress(line.encode("utf-8")))
        self.items += 1

    def finish(self) -> bytes:
        self._parts.append(self._gzip.flush())
        return b"".join(self._parts)


class SnapshotIngestor:
    """Lands one seller's planned API snapshot requests in the raw zone."""

    def __init__(
        self,
        client: SpApiClient,
        lake: Lake,
        seller_id: str,
        progress: SnapshotProgress | None = None,
    ):
        self.client = client
        self.lake = lake
        self.seller_id = seller_id
        self.ledger = Ledger(lake, client.clock)
        self.progress = progress
        self.stats = SnapshotStats()
        self._items: dict[str, tuple[list[str], list[str]]] = {}  # marketplace -> asins, skus
        self._chosen: dict[str, list[list[str]]] = {}  # request id -> watched (asin, source, ...)

    def run(self, requests: Sequence[PlannedRequest]) -> SnapshotStats:
        """Drive every ``source = "api"`` request to landed or failed; return what happened."""
        todo = [r for r in requests if r.dataset.source == "api"]
        # The watched ASINs include the day's keyword searches' results: those requests last.
        todo.sort(key=lambda r: r.dataset.driven_by == "watchlist")
        self.stats.planned = len(todo)
        for position, request in enumerate(todo):
            self._one(request)
            if self.progress is not None:
                self.progress(self.stats, len(todo) - position - 1)
        return self.stats

    def _one(self, request: PlannedRequest) -> None:
        """One request: skip it if landed, else take it; every error ends in the ledger."""
        entry = self.ledger.get(self.seller_id, request.dataset.name, request.request_id)
        if entry is not None and entry.finished:
            self.stats.already_landed += 1
            return
        try:
            entry = entry or self._new_entry(request)
            calls = _calls(request, self._identifiers(request, entry), self.seller_id)
            attempt = entry.attempts + 1
            self.ledger.move(entry, "requesting", f"{len(calls)} calls", attempts=attempt)
            last = self._take(request, calls)
        except (SpApiError, SpApiToolkitError) as exc:
            self._fail(request, entry, str(exc))
            return
        if last is None:
            self.ledger.move(entry, "no_data", "Amazon returned no items", error=None)
            self.stats.no_data += 1
        else:
            self.ledger.move(entry, "landed", "", raw_key=last.key, error=None)
            self.stats.landed += 1

    def _identifiers(self, request: PlannedRequest, entry: Entry) -> list[str]:
        """What the request's calls ask about. The watched ASINs and searches of a request are
        chosen once, when it is first taken, and kept in its ledger entry: a resumed request
        asks about the same ones, so its batches hold the same calls (the module doc)."""
        driven_by = request.dataset.driven_by
        if driven_by == "none":
            return []
        if driven_by in ("watchlist", "searches"):
            if CHOSEN not in entry.request:
                entry.request[CHOSEN] = self._choose(request)
            self._chosen[request.request_id] = entry.request[CHOSEN]
            return [row[0] for row in entry.request[CHOSEN]]
        asins, skus = self._own(request.marketplace_ids[0])
        return asins if driven_by == "asins" else skus

    def _own(self, marketplace_id: str) -> tuple[list[str], list[str]]:
        """The seller's ASINs and SKUs in ``marketplace_id`` (``known_items``), read once."""
        if marketplace_id not in self._items:
            self._items[marketplace_id] = known_items(self.lake, self.seller_id, marketplace_id)
        return self._items[marketplace_id]

    def _choose(self, request: PlannedRequest) -> list[list[str]]:
        """The watched searches (label) or ASINs (asin, source, detail) of a request's day.

        The ASINs are chosen once per marketplace and day, by the first watchlist request to
        run, and kept in the lake (``watchlist.state_key``): the three watchlist datasets ask
        about the same ones. They are chosen after the day's keyword searches landed; a
        watchlist with searches whose results are not in yet is refused by name."""
        marketplace_id = request.marketplace_ids[0]
        if request.dataset.driven_by == "searches":
            found = watchlist.searches(self.lake, self.seller_id, marketplace_id)
            return [[search.label] for search in found]
        key = watchlist.state_key(self.seller_id, marketplace_id, request.dt)
        try:
            chosen: list[list[str]] = json.loads(self.lake.read_bytes(key))["watched"]
            return chosen
        except ObjectNotFound:
            pass
        declared = watchlist.searches(self.lake, self.seller_id, marketplace_id)
        if declared and not self._searched(marketplace_id, request.dt):
            raise SnapshotError(
                f"the watchlist declares {len(declared)} keyword searches in {marketplace_id}, "
                f"and catalog_search has not landed them for {request.dt}: ingest catalog_search "
                "for the day first (its results are watched too)"
            )
        own = self._own(marketplace_id)[0]
        chosen = watchlist.describe(watchlist.watched(
            self.lake, self.seller_id, marketplace_id, request.dt, own, watchlist.watch_limit()
        ))  # fmt: skip
        state = {"seller_id": self.seller_id, "marketplace_id": marketplace_id,
                 "day": str(request.dt), "watched": chosen}  # fmt: skip
        self.lake.write_bytes(key, json.dumps(state, indent=1).encode("utf-8"))
        return chosen

    def _searched(self, marketplace_id: str, day: date) -> bool:
        """Whether the day's catalog_search request in the marketplace finished."""
        from spapi_toolkit.lake.registry import dataset

        searches = PlannedRequest(dataset(watchlist.SEARCH_DATASET), self.seller_id,
                                  (marketplace_id,), None, snapshot_date=day)  # fmt: skip
        entry = self.ledger.get(self.seller_id, searches.dataset.name, searches.request_id)
        return entry is not None and entry.finished

    def _new_entry(self, request: PlannedRequest) -> Entry:
        return new_entry(request, self.seller_id, self._describe(request))

    def _describe(self, request: PlannedRequest) -> dict[str, Any]:
        """What is asked, for the ledger and the manifests (JSON-ready, no secrets)."""
        described: dict[str, Any] = {
            "operation": request.dataset.operation,
            "params": dict(request.dataset.params),
            "marketplace_id": request.marketplace_ids[0],
            "driven_by": request.dataset.driven_by,
            "batch_size": request.dataset.batch_size,
        }
        times = request.time_range()
        if times is not None:
            described["data_start"], described["data_end"] = (_iso(t) for t in times)
        if request.snapshot_date is not None:
            described["snapshot_date"] = str(request.snapshot_date)
        return described

    def _fail(self, request: PlannedRequest, entry: Entry | None, reason: str) -> None:
        entry = entry or self._new_entry(request)
        self.ledger.move(entry, "failed", reason, error=reason)
        self.stats.failed += 1
        self.stats.errors.append(f"{request.request_id}: {reason}")

    def _take(self, request: PlannedRequest, calls: list[_Call]) -> Manifest | None:
        """Land every batch of a request; the manifest of the last one (None: no items at all).

        An empty batch does not land (an empty object is not a document); a batch that ends up
        empty in the middle of a request only leaves a gap in the batch numbers."""
        if request.dataset.driven_by == "none":
            batches = self._paged_batches(request, calls)
        else:
            batches = self._grouped_batches(request, calls)
        last: Manifest | None = None
        for number, batch in batches:
            if isinstance(batch, Manifest):
                last = batch
            elif batch.items:
                last = self._land(request, number, batch)
        return last

    def _stem(self, request: PlannedRequest, number: int) -> str:
        return raw_stem(request.dataset.name, self.seller_id, request.marketplace_ids[0],
                        request.dt, f"{request.request_id}-{number:05d}")  # fmt: skip

    def _grouped_batches(
        self, request: PlannedRequest, calls: list[_Call]
    ) -> Iterator[tuple[int, _Batch | Manifest]]:
        """Identifier-driven: batch n is calls [n*CALLS_PER_BATCH, ...); a landed one is skipped
        without calling Amazon (its manifest is yielded instead)."""
        for number, start in enumerate(range(0, len(calls), CALLS_PER_BATCH)):
            landed = is_landed(self.lake, self._stem(request, number), request.dataset.format)
            if landed is not None:
                self.stats.batches_skipped += 1
                yield number, landed
                continue
            batch = _Batch()
            for call in calls[start : start + CALLS_PER_BATCH]:
                batch.calls += 1
                batch.identifiers.extend(call.identifiers)
                for item in self._items_of(request, call):
                    batch.add(item)
            yield number, batch

    def _paged_batches(
        self, request: PlannedRequest, calls: list[_Call]
    ) -> Iterator[tuple[int, _Batch | Manifest]]:
        """Paginated: pages are fetched in order (a page token cannot be skipped to); a batch
        closes after PAGES_PER_BATCH pages or ITEMS_PER_BATCH items."""
        number, batch = 0, _Batch()
        for call in calls:
            for items in self._pages(request, call):
                batch.calls += 1
                for item in items:
                    batch.add(item)
                if batch.calls >= PAGES_PER_BATCH or batch.items >= ITEMS_PER_BATCH:
                    yield number, batch
                    number, batch = number + 1, _Batch()
        if batch.items:
            yield number, batch

    def _items_of(self, request: PlannedRequest, call: _Call) -> Iterator[Any]:
        """The items of one call, all pages; a 404 for a single identifier is its item."""
        try:
            for items in self._pages(request, call):
                yield from items
        except NotFoundError as exc:
            if not (_operation(request).not_found_is_item and len(call.identifiers) == 1):
                raise
            # The listing went away since the report: keep Amazon's error body as its line.
            error = {"code": exc.code, "message": exc.message}
            yield {"errors": [{**error, **({"details": exc.details} if exc.details else {})}]}

    def _pages(self, request: PlannedRequest, call: _Call) -> Iterator[list[Any]]:
        operation = _operation(request)
        extract = operation.items
        op = find_operation(str(request.dataset.operation))
        params: Mapping[str, Any] | None = call.params
        if operation.before and operation.before in call.params:
            # A window ending less than LATEST ago (yesterday in a marketplace west of UTC,
            # soon after midnight UTC) asks up to then; the restated days are asked again.
            latest = _iso(self.client.clock.now() - LATEST)
            params = {**call.params, operation.before: min(call.params[operation.before], latest)}
        while params is not None:
            page = self._page(op, params)
            self.stats.calls += 1
            yield list(extract(page or {}, request, params))
            params = None if operation.first_page_only else next_page_params(op, params, page)

    def _page(self, op: Operation, params: Mapping[str, Any]) -> Any:
        """One page, asked again after a transient failure (``PAGE_ATTEMPTS``) with the client's
        backoff, drawing on its shared retry budget as its own retries do."""
        quota, spent = self.client.retry_quota, 0
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            try:
                page = self.client.send(prepare_call(op, params))
            except TRANSIENT_ERRORS as exc:
                cost = quota.acquire(exc.status) if attempt < PAGE_ATTEMPTS else None
                if cost is None:
                    raise
                spent += cost
                self.client.clock.sleep(self.client.retry.backoff(attempt))
                continue
            if spent:
                quota.release(spent)
            return page
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _land(self, request: PlannedRequest, number: int, batch: _Batch) -> Manifest:
        stem = self._stem(request, number)
        landed = is_landed(self.lake, stem, request.dataset.format)
        if landed is not None:  # a paginated batch an interrupted run landed: never rewritten
            self.stats.batches_skipped += 1
            return landed
        described = {**self._describe(request), "batch": number, "calls": batch.calls}
        if batch.identifiers:
            described["identifiers"] = batch.identifiers
        if request.dataset.driven_by == "watchlist":  # where each watched ASIN came from
            asked = set(batch.identifiers)
            chosen = self._chosen.get(request.request_id, [])
            described["watched"] = [row for row in chosen if row[0] in asked]
        try:
            manifest = land(
                self.lake, stem, [batch.finish()], fmt=request.dataset.format,
                encodings=encodings_for(request.dataset.format, request.marketplace_ids),
                manifest_fields={
                    "dataset": request.dataset.name,
                    "seller_id": self.seller_id,
                    "marketplace_ids": list(request.marketplace_ids),
                    "request": described,
                },
                now=self.client.clock.now(),
            )  # fmt: skip
        except BadDocument as exc:
            raise SnapshotError(f"batch {number} could not land: {exc.reason}") from exc
        self.stats.batches_landed += 1
        self.stats.items += manifest.rows or 0
        self.stats.bytes_landed += manifest.bytes
        return manifest


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ingest_snapshots(
    client: SpApiClient,
    lake: Lake,
    seller_id: str,
    requests: Sequence[PlannedRequest],
    *,
    progress: SnapshotProgress | None = None,
) -> SnapshotStats:
    """Land ``requests`` (the ``source = "api"`` ones) for one seller; see ``SnapshotIngestor``."""
    return SnapshotIngestor(client, lake, seller_id, progress).run(requests)


def read_jsonl(lake: Lake, key: str) -> list[Any]:
    """The items of a landed JSON-lines object (gzip or not): for tests and the cleaning."""
    data = lake.read_bytes(key)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = codecs.decode(data, "utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
