"""The synchronous SP-API operations, answered from the simulated seller.

Catalog Items 2022-04-01, Listings Items 2021-08-01, Orders 2026-01-01 and v0 (read only),
Product Pricing v0 and 2022-05-01, FBA Inventory, Finances v0 (listFinancialEvents,
listFinancialEventGroups), Sellers and Tokens. Each handler turns the seller's Python objects
into the JSON shape of the operation's model (the schema test holds every answer to it) and
does nothing else: checks of tokens, limits and parameters happen before.
``HANDLERS`` maps ``"<model>.<operationId>"`` to its handler.

The catalog and pricing serve the seller's rivals beside its own products. A rival is listed
from its launch day on and answers with its price, offers and sales rank of the sandbox's
current calendar day in the marketplace asked about (``_market_day``); our own offers change
by the hour. A keyword search orders both by that day's sales rank
(``SimulatedSeller.search_results``).

``MarketEvents`` lets simulated time produce notifications: Buy Box and price changes
(``ANY_OFFER_CHANGED``) each simulated hour and listing status changes
(``LISTINGS_ITEM_STATUS_CHANGE``) each simulated day, for sellers that subscribed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from spapi_sandbox.calls import (
    Call,
    invalid_input,
    iso,
    not_found,
    page_of,
    parse_time,
    read_state,
    state_token,
)
from spapi_sandbox.http import Response, route, sp_api_error
from spapi_sandbox.notifications import Notifier
from spapi_sandbox.seller import (
    Offer,
    OrderItem,
    Product,
    Rival,
    SellerConfig,
    SimulatedSeller,
    local_day,
    rng_for,
)
from spapi_toolkit.regions import marketplaces

ORDERS_PAGE = 100
OFFER_EVENT_PRODUCTS = 10  # products watched for ANY_OFFER_CHANGED per marketplace
STOCKOUT_SHARE = 0.04  # share of (product, day) pairs a listing is out of stock, not buyable

# Seller status words -> the enums of each Orders API version.
V0_STATUS = {"Cancelled": "Canceled"}
FULFILLMENT_STATUS = {
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "Shipped": "SHIPPED",
    "Cancelled": "CANCELLED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
}


# --------------------------------------------------------------------------------------------
# Small shared helpers
# --------------------------------------------------------------------------------------------


def _page_offset(call: Call, token_name: str) -> int:
    """Where a listing continues: the offset in its next-page token (0 without one)."""
    return int((read_state(call.arg(token_name) or "") or {}).get("offset", 0))


def _amount(value: Decimal | float) -> float:
    return float(value)


def _money_v0(value: Decimal, currency: str) -> dict[str, Any]:
    """Product Pricing v0 money: ``{"CurrencyCode", "Amount"}`` with a number."""
    return {"CurrencyCode": currency, "Amount": _amount(value)}


def _money_v0_orders(value: Decimal, currency: str) -> dict[str, str]:
    """Orders v0 money: the amount is a string."""
    return {"CurrencyCode": currency, "Amount": f"{value:.2f}"}


def _dt(value: datetime) -> str:
    return iso(value.timestamp())


def _listed_at(product: Product) -> datetime:
    """When the product's listing was created: 08:00 UTC on its open date."""
    opened = product.open_date
    return datetime(opened.year, opened.month, opened.day, 8, tzinfo=UTC)


def _now_dt(call: Call) -> datetime:
    return datetime.fromtimestamp(call.now, UTC)


def _marketplace_check(call: Call, ids: Iterable[str]) -> Response | None:
    known = set(call.seller.config.marketplace_ids)
    for marketplace_id in ids:
        if marketplace_id not in known:
            return invalid_input(
                f"Invalid marketplaceIds: the seller does not sell in {marketplace_id}."
            )
    return None


def listing_status(
    seller: SimulatedSeller, product: Product, marketplace_id: str, day: date
) -> list[str]:
    """A listing's status on a day: BUYABLE and DISCOVERABLE, unless inactive or out of stock."""
    if not product.active or product.open_date > day:
        return ["DISCOVERABLE"]
    roll = rng_for(seller.config.seed, "stockout", f"{marketplace_id}:{product.sku}:{day}").random()
    return ["DISCOVERABLE"] if roll < STOCKOUT_SHARE else ["BUYABLE", "DISCOVERABLE"]


# --------------------------------------------------------------------------------------------
# Catalog Items 2022-04-01
# --------------------------------------------------------------------------------------------

CATALOG = "catalogItems_2022-04-01"


CatalogItem = Product | Rival  # what the catalog lists: our products and launched rivals


def _market_day(call: Call, marketplace_id: str) -> date:
    """The sandbox's current calendar day in a marketplace: the day whose price, rank and
    offers a rival shows, and by which it must have launched to be listed at all."""
    return local_day(marketplace_id, _now_dt(call))


def _classification_id(item: CatalogItem) -> str:
    return str(1_000_000 + sum(map(ord, item.category)) * 97 % 900_000)


def _display_group(item: CatalogItem) -> str:
    return f"{item.department.lower().replace(' ', '_')}_display_on_website"


def _catalog_item(
    call: Call, item: CatalogItem, marketplace_ids: list[str], included: set[str]
) -> dict:
    """One item of a catalog answer with the ``included`` datasets, per marketplace.

    A rival has no variations, no SKU of ours and, in a marketplace where it is not listed
    yet that day (a time zone behind), no sales rank.
    """
    seller = call.seller
    product = item if isinstance(item, Product) else None
    answer: dict[str, Any] = {"asin": item.asin}
    if "summaries" in included:
        answer["summaries"] = [_summary(seller, item, m) for m in marketplace_ids]
    if "salesRanks" in included:
        ranks = {m: seller.sales_rank(item.asin, m, _market_day(call, m)) for m in marketplace_ids}
        answer["salesRanks"] = [
            _sales_ranks(item, m, rank) for m, rank in ranks.items() if rank is not None
        ]
    if "identifiers" in included:
        answer["identifiers"] = [
            {
                "marketplaceId": m,
                "identifiers": [{"identifierType": "SKU", "identifier": product.sku}]
                if product
                else [],
            }
            for m in marketplace_ids
        ]
    if "relationships" in included:
        answer["relationships"] = [
            {
                "marketplaceId": m,
                "relationships": _relationships(seller, product) if product else [],
            }
            for m in marketplace_ids
        ]
    if "productTypes" in included:
        answer["productTypes"] = [
            {"marketplaceId": m, "productType": item.noun.upper().replace(" ", "_")}
            for m in marketplace_ids
        ]
    if "classifications" in included:
        answer["classifications"] = [
            {
                "marketplaceId": m,
                "classifications": [
                    {"displayName": item.category, "classificationId": _classification_id(item)}
                ],
            }
            for m in marketplace_ids
        ]
    return answer


def _summary(seller: SimulatedSeller, item: CatalogItem, marketplace_id: str) -> dict[str, Any]:
    product = item if isinstance(item, Product) else None
    parent = product is not None and product.asin == product.parent_asin
    return {
        "marketplaceId": marketplace_id,
        "brand": item.brand,
        "browseClassification": {
            "displayName": item.category,
            "classificationId": _classification_id(item),
        },
        **({"color": product.variation} if product and product.variation else {}),
        "itemClassification": (
            "VARIATION_PARENT"
            if product and parent and _child_asins(seller, product)
            else "BASE_PRODUCT"
        ),
        "itemName": item.title(marketplace_id),
        "manufacturer": item.brand,
        "websiteDisplayGroup": _display_group(item),
        "websiteDisplayGroupName": item.department,
    }


def _sales_ranks(item: CatalogItem, marketplace_id: str, rank: int) -> dict[str, Any]:
    return {
        "marketplaceId": marketplace_id,
        "classificationRanks": [
            {
                "classificationId": _classification_id(item),
                "title": item.category,
                "rank": max(1, rank // 12),
            }
        ],
        "displayGroupRanks": [
            {
                "websiteDisplayGroup": _display_group(item),
                "title": item.department,
                "rank": rank,
            }
        ],
    }


def _child_asins(seller: SimulatedSeller, product: Product) -> list[str]:
    """The variations whose parent is ``product`` (none for a child or standalone product)."""
    return [p.asin for p in seller.products() if p.parent_asin == product.asin and p is not product]


def _relationships(seller: SimulatedSeller, product: Product) -> list[dict[str, Any]]:
    if product.parent_asin != product.asin:
        return [{"type": "VARIATION", "parentAsins": [product.parent_asin]}]
    children = _child_asins(seller, product)
    return [{"type": "VARIATION", "childAsins": children}] if children else []


def _included(call: Call, default: str) -> set[str]:
    return set(call.args("includedData") or [default])


def _unknown_marketplace(ids: Iterable[str]) -> Response | None:
    """400 for a marketplace id that names no Amazon marketplace (it has no currency or
    day for a rival's price and rank)."""
    for marketplace_id in ids:
        if marketplace_id not in marketplaces():
            return invalid_input(f"Invalid marketplaceIds: {marketplace_id} is not a marketplace.")
    return None


def get_catalog_item(call: Call) -> Response:
    asin, marketplace_ids = call.arg("asin") or "", call.args("marketplaceIds")
    refusal = _unknown_marketplace(marketplace_ids)
    if refusal:
        return refusal
    item = call.seller.catalog_item(asin, _market_day(call, marketplace_ids[0]))
    if item is None:
        return not_found(f"Requested item '{asin}' not found.")
    answer = _catalog_item(call, item, marketplace_ids, _included(call, "summaries"))
    return Response.json(200, answer)


def _identified(
    seller: SimulatedSeller, identifiers: list[str], kind: str | None, day: date
) -> list[CatalogItem]:
    """Our products with one of the identifiers (SKUs, or else ASINs), in catalog order, then
    the rivals listed on ``day`` with one of them as ASIN."""
    wanted = set(identifiers)
    items: list[CatalogItem] = [
        p for p in seller.products() if (p.sku if kind == "SKU" else p.asin) in wanted
    ]
    if kind != "SKU":
        items += [r for r in seller.rivals() if r.asin in wanted and r.launched_by(day)]
    return items


def _searched(call: Call, keywords: list[str], marketplace_id: str, day: date) -> list[CatalogItem]:
    """A keyword search's results in the first requested marketplace, ordered as
    ``SimulatedSeller.search_results`` orders them, within the requested classifications."""
    seller = call.seller
    asins = seller.search_results(marketplace_id, day, keywords, call.args("brandNames"))
    items = [item for asin in asins if (item := seller.catalog_item(asin, day)) is not None]
    classifications = set(call.args("classificationIds"))
    if classifications:
        items = [item for item in items if _classification_id(item) in classifications]
    return items


def search_catalog_items(call: Call) -> Response:
    identifiers, keywords = call.args("identifiers"), call.args("keywords")
    if bool(identifiers) == bool(keywords):
        return invalid_input("Exactly one of identifiers or keywords is required.")
    if identifiers and not call.arg("identifiersType"):
        return invalid_input("Missing required parameter: identifiersType.")
    if call.arg("identifiersType") == "SKU" and not call.arg("sellerId"):
        return invalid_input("sellerId is required when identifiersType is SKU.")
    marketplace_ids = call.args("marketplaceIds")
    refusal = _unknown_marketplace(marketplace_ids)
    if refusal:
        return refusal
    day = _market_day(call, marketplace_ids[0])
    if identifiers:
        items = _identified(call.seller, identifiers, call.arg("identifiersType"), day)
        brands = call.args("brandNames")
        if brands:
            items = [i for i in items if i.brand in brands]
    else:
        items = _searched(call, keywords, marketplace_ids[0], day)
    size = int(call.arg("pageSize") or 10)
    start = _page_offset(call, "pageToken")
    page = items[start : start + size]
    included = _included(call, "summaries")
    body: dict[str, Any] = {
        "numberOfResults": len(items),
        "pagination": {},
        "refinements": {
            "brands": [
                {"numberOfResults": sum(1 for i in items if i.brand == b), "brandName": b}
                for b in sorted({i.brand for i in items})
            ],
            "classifications": [
                {
                    "numberOfResults": sum(1 for i in items if i.category == c),
                    "displayName": c,
                    "classificationId": _classification_id(
                        next(i for i in items if i.category == c)
                    ),
                }
                for c in sorted({i.category for i in items})
            ],
        },
        "items": [_catalog_item(call, i, marketplace_ids, included) for i in page],
    }
    if start + size < len(items):
        body["pagination"]["nextToken"] = state_token({"offset": start + size})
    if start:
        body["pagination"]["previousToken"] = state_token({"offset": max(0, start - size)})
    return Response.json(200, body)


# --------------------------------------------------------------------------------------------
# Listings Items 2021-08-01
# --------------------------------------------------------------------------------------------

LISTINGS = "listingsItems_2021-08-01"


def _listing(call: Call, product: Product, marketplace_ids: list[str], included: set[str]) -> dict:
    today = _now_dt(call).date()
    opened = _listed_at(product)
    item: dict[str, Any] = {"sku": product.sku}
    if "summaries" in included:
        item["summaries"] = [
            {
                "marketplaceId": m,
                "asin": product.asin,
                "productType": product.noun.upper().replace(" ", "_"),
                "conditionType": "new_new",
                "status": listing_status(call.seller, product, m, today),
                "itemName": product.title(m),
                "createdDate": _dt(opened),
                "lastUpdatedDate": _dt(opened + timedelta(days=product.index % 20)),
                **({"fnSku": product.fnsku} if product.is_fba else {}),
            }
            for m in marketplace_ids
        ]
    if "issues" in included:
        item["issues"] = []
    if "offers" in included:
        item["offers"] = [
            {
                "marketplaceId": m,
                "offerType": "B2C",
                "price": {
                    "currencyCode": marketplaces()[m].currency,
                    "amount": f"{product.price(m):.2f}",
                },
            }
            for m in marketplace_ids
        ]
    if "fulfillmentAvailability" in included:
        item["fulfillmentAvailability"] = [
            {
                "fulfillmentChannelCode": "AMAZON_NA" if product.is_fba else "DEFAULT",
                **(
                    {}
                    if product.is_fba
                    else {"quantity": call.seller.mfn_quantity(marketplace_ids[0], product)}
                ),
            }
        ]
    return item


def _own_seller(call: Call) -> Response | None:
    if call.arg("sellerId") != call.grant.seller_id:
        return sp_api_forbidden()
    return None


def sp_api_forbidden() -> Response:
    return sp_api_error(403, "Unauthorized", "Access to requested resource is denied.")


def get_listings_item(call: Call) -> Response:
    refusal = _own_seller(call) or _marketplace_check(call, call.args("marketplaceIds"))
    if refusal:
        return refusal
    product = call.seller.product(call.arg("sku") or "")
    if product is None or product.sku != call.arg("sku"):
        return not_found(f"SKU '{call.arg('sku')}' not found in marketplace.")
    included = _included(call, "summaries")
    return Response.json(200, _listing(call, product, call.args("marketplaceIds"), included))


def search_listings_items(call: Call) -> Response:
    refusal = _own_seller(call) or _marketplace_check(call, call.args("marketplaceIds"))
    if refusal:
        return refusal
    products = call.seller.products()
    identifiers = set(call.args("identifiers"))
    if identifiers:
        kind = call.arg("identifiersType") or "SKU"
        products = [p for p in products if (p.asin if kind == "ASIN" else p.sku) in identifiers]
    size = int(call.arg("pageSize") or 10)
    start = _page_offset(call, "pageToken")
    included = _included(call, "summaries")
    body: dict[str, Any] = {
        "numberOfResults": len(products),
        "pagination": {},
        "items": [
            _listing(call, p, call.args("marketplaceIds"), included)
            for p in products[start : start + size]
        ],
    }
    if start + size < len(products):
        body["pagination"]["nextToken"] = state_token({"offset": start + size})
    return Response.json(200, body)


# --------------------------------------------------------------------------------------------
# Orders (2026-01-01 and v0)
# --------------------------------------------------------------------------------------------

ORDERS = "orders_2026-01-01"
ORDERS_V0 = "ordersV0"


class _OrderIndex:
    """Order id -> its items (final state), built once per seller on first lookup.

    Keyed by the seller's (frozen) configuration, not ``id(seller)``: ids of sellers that were
    garbage-collected get reused, and equal configurations have the same orders anyway.
    """

    _lock = threading.Lock()
    _cache: dict[SellerConfig, dict[str, list[OrderItem]]] = {}

    @classmethod
    def lookup(cls, seller: SimulatedSeller, order_id: str) -> list[OrderItem]:
        with cls._lock:
            index = cls._cache.get(seller.config)
            if index is None:
                index = {}
                cfg = seller.config
                start = datetime.combine(cfg.start_date, datetime.min.time(), UTC) - timedelta(
                    days=1
                )
                end = datetime.combine(cfg.end_date, datetime.min.time(), UTC) + timedelta(days=2)
                for marketplace_id in cfg.marketplace_ids:
                    for item in seller.order_items(marketplace_id, start, end):
                        index.setdefault(item.amazon_order_id, []).append(item)
                cls._cache[seller.config] = index
        return index.get(order_id, [])


def _group(items: Iterable[OrderItem]) -> list[list[OrderItem]]:
    orders: dict[str, list[OrderItem]] = {}
    for item in items:
        orders.setdefault(item.amazon_order_id, []).append(item)
    return list(orders.values())


def _order_window(
    call: Call, names: tuple[str, str, str, str]
) -> tuple[str, datetime, datetime] | Response:
    """(by, start, end) from created/lastUpdated After/Before parameters (v0 or 2026 names)."""
    created_after, created_before, updated_after, updated_before = (call.arg(n) for n in names)
    if bool(created_after) == bool(updated_after):
        return invalid_input(f"Exactly one of {names[0]} or {names[2]} is required.")
    if created_after:
        end = parse_time(created_before) if created_before else _now_dt(call) - timedelta(minutes=2)
        return "order_date", parse_time(created_after), end
    end = parse_time(updated_before) if updated_before else _now_dt(call) - timedelta(minutes=2)
    return "last_update", parse_time(updated_after or ""), end


def _as_seen(call: Call, items: list[OrderItem], now: datetime | None = None) -> list[OrderItem]:
    """The items as they are at ``now`` (the sandbox's current time unless given): later
    changes not yet made."""
    now = now or _now_dt(call)
    return [seen for seen in (item.as_of(now) for item in items) if seen is not None]


def _order_listing(
    call: Call,
    token_name: str,
    names: tuple[str, str, str, str],
    marketplace_ids: list[str],
    **filters: Any,
) -> dict[str, Any] | Response:
    """The state of a paginated order listing (v0 or 2026 parameter names): read from its
    next-page token, or new from a first request's window, marketplaces and ``filters``."""
    token = call.arg(token_name)
    if token:
        state = read_state(token)
        return state if state is not None else invalid_input(f"Invalid {token_name}.")
    window = _order_window(call, names)
    if isinstance(window, Response):
        return window
    refusal = _marketplace_check(call, marketplace_ids)
    if refusal:
        return refusal
    by, start, end = window
    return {
        "by": by,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "marketplaces": marketplace_ids,
        **filters,
        "offset": 0,
        # Later pages list the orders as they were at the first page: paging by offset over a
        # list that changes between pages (an order updated now leaves a past window) would
        # skip orders that never left it.
        "as_of": _now_dt(call).isoformat(),
    }


def _orders_in_window(call: Call, state: dict[str, Any]) -> list[list[OrderItem]]:
    """The orders (each a list of all its items) of an order listing's window, as seen at its
    first page. By last update, an order is in the window when its newest change is, as Amazon
    filters on the order's ``LastUpdateDate``: it comes whole, with the items that changed
    earlier, and not again in an earlier window."""
    start, end = parse_time(state["start"]), parse_time(state["end"])
    items: list[OrderItem] = []
    now = parse_time(state["as_of"]) if "as_of" in state else _now_dt(call)
    end = min(end, now)
    for marketplace_id in state["marketplaces"]:
        items.extend(call.seller.order_items(marketplace_id, start, end, by=state["by"], as_of=now))
    orders = _group(items)
    if state["by"] != "last_update":
        return orders  # an order's items share its purchase date: each order is whole
    whole = []
    for changed in orders:
        order = _as_seen(call, _OrderIndex.lookup(call.seller, changed[0].amazon_order_id), now)
        if start <= max(i.last_updated_date for i in order) <= end:
            whole.append(order)
    return whole


def _order_2026(items: list[OrderItem], included: set[str]) -> dict[str, Any]:
    first = items[0]
    currency = first.currency
    market = marketplaces()[first.marketplace_id]
    order: dict[str, Any] = {
        "orderId": first.amazon_order_id,
        "createdTime": _dt(first.purchase_date),
        "lastUpdatedTime": _dt(max(i.last_updated_date for i in items)),
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": first.marketplace_id,
            "marketplaceName": market.domain.capitalize(),
        },
        "fulfillment": {
            "fulfillmentStatus": FULFILLMENT_STATUS.get(first.order_status, "PENDING"),
            "fulfilledBy": "AMAZON" if first.fulfillment_channel == "Amazon" else "MERCHANT",
        },
        "orderItems": [],
    }
    if first.is_business_order:
        order["programs"] = ["AMAZON_BUSINESS"]
    for item in items:
        entry: dict[str, Any] = {
            "orderItemId": item.order_item_id,
            "quantityOrdered": item.quantity,
            "product": {
                "asin": item.asin,
                "title": item.product_name,
                "sellerSku": item.sku,
                "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                "price": {
                    "unitPrice": {
                        "amount": f"{item.item_price / max(1, item.quantity):.2f}",
                        "currencyCode": currency,
                    }
                },
            },
        }
        if "PROCEEDS" in included:
            entry["proceeds"] = {
                "proceedsTotal": {"amount": f"{item.item_price:.2f}", "currencyCode": currency}
            }
        if "FULFILLMENT" in included:
            shipped = item.quantity if item.ship_date else 0
            entry["fulfillment"] = {
                "quantityFulfilled": shipped,
                "quantityUnfulfilled": 0 if item.is_cancelled else item.quantity - shipped,
            }
        order["orderItems"].append(entry)
    if "PROCEEDS" in included:
        total = sum((i.item_price for i in items if not i.is_cancelled), Decimal(0))
        order["proceeds"] = {"grandTotal": {"amount": f"{total:.2f}", "currencyCode": currency}}
    return order


def search_orders(call: Call) -> Response:
    state = _order_listing(
        call,
        "paginationToken",
        ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore"),
        call.args("marketplaceIds") or list(call.seller.config.marketplace_ids),
        statuses=call.args("fulfillmentStatuses"),
        fulfilledBy=call.args("fulfilledBy"),
        size=int(call.arg("maxResultsPerPage") or ORDERS_PAGE),
    )
    if isinstance(state, Response):
        return state
    orders = [
        _order_2026(items, set(call.args("includedData")))
        for items in _orders_in_window(call, state)
    ]
    orders = [
        o
        for o in orders
        if (not state["statuses"] or o["fulfillment"]["fulfillmentStatus"] in state["statuses"])
        and (not state["fulfilledBy"] or o["fulfillment"]["fulfilledBy"] in state["fulfilledBy"])
    ]
    page, next_token = page_of(orders, state)
    body: dict[str, Any] = {"orders": page}
    if next_token:
        body["pagination"] = {"nextToken": next_token}
    key = "createdBefore" if state["by"] == "order_date" else "lastUpdatedBefore"
    body[key] = _dt(parse_time(state["end"]))
    return Response.json(200, body)


def get_order(call: Call) -> Response:
    items = _as_seen(call, _OrderIndex.lookup(call.seller, call.arg("orderId") or ""))
    if not items:
        return not_found(f"Order {call.arg('orderId')} not found.")
    return Response.json(200, {"order": _order_2026(items, set(call.args("includedData")))})


def _order_v0(items: list[OrderItem]) -> dict[str, Any]:
    first = items[0]
    total = sum((i.item_price for i in items if not i.is_cancelled), Decimal(0))
    order: dict[str, Any] = {
        "AmazonOrderId": first.amazon_order_id,
        "PurchaseDate": _dt(first.purchase_date),
        "LastUpdateDate": _dt(max(i.last_updated_date for i in items)),
        "OrderStatus": V0_STATUS.get(first.order_status, first.order_status),
        "FulfillmentChannel": "AFN" if first.fulfillment_channel == "Amazon" else "MFN",
        "SalesChannel": first.sales_channel,
        "ShipServiceLevel": first.ship_service_level,
        "NumberOfItemsShipped": sum(i.quantity for i in items if i.ship_date),
        "NumberOfItemsUnshipped": sum(
            i.quantity for i in items if not i.ship_date and not i.is_cancelled
        ),
        "MarketplaceId": first.marketplace_id,
        "IsBusinessOrder": first.is_business_order,
        "IsPrime": False,
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "OrderType": "StandardOrder",
    }
    if not first.is_cancelled:
        order["OrderTotal"] = _money_v0_orders(total, first.currency)
    return order


def get_orders_v0(call: Call) -> Response:
    state = _order_listing(
        call,
        "NextToken",
        ("CreatedAfter", "CreatedBefore", "LastUpdatedAfter", "LastUpdatedBefore"),
        call.args("MarketplaceIds"),
        statuses=call.args("OrderStatuses"),
        size=int(call.arg("MaxResultsPerPage") or ORDERS_PAGE),
    )
    if isinstance(state, Response):
        return state
    orders = [_order_v0(items) for items in _orders_in_window(call, state)]
    if state["statuses"]:
        orders = [o for o in orders if o["OrderStatus"] in state["statuses"]]
    page, next_token = page_of(orders, state)
    payload: dict[str, Any] = {"Orders": page}
    if next_token:
        payload["NextToken"] = next_token
    end = parse_time(state["end"])
    payload["CreatedBefore" if state["by"] == "order_date" else "LastUpdatedBefore"] = _dt(end)
    return Response.json(200, {"payload": payload})


def get_order_v0(call: Call) -> Response:
    items = _as_seen(call, _OrderIndex.lookup(call.seller, call.arg("orderId") or ""))
    if not items:
        return not_found(f"Order {call.arg('orderId')} not found.")
    return Response.json(200, {"payload": _order_v0(items)})


def get_order_items_v0(call: Call) -> Response:
    items = _as_seen(call, _OrderIndex.lookup(call.seller, call.arg("orderId") or ""))
    if not items:
        return not_found(f"Order {call.arg('orderId')} not found.")
    order_items = []
    for item in items:
        entry: dict[str, Any] = {
            "ASIN": item.asin,
            "SellerSKU": item.sku,
            "OrderItemId": item.order_item_id,
            "Title": item.product_name,
            "QuantityOrdered": item.quantity,
            "QuantityShipped": item.quantity if item.ship_date else 0,
            "ProductInfo": {"NumberOfItems": "1"},
            "IsGift": "false",
            "ConditionId": "New",
            "ConditionSubtypeId": "New",
            "IsTransparency": False,
        }
        if not item.is_cancelled:
            entry.update(
                ItemPrice=_money_v0_orders(item.item_price, item.currency),
                ItemTax=_money_v0_orders(item.item_tax, item.currency),
                ShippingPrice=_money_v0_orders(item.shipping_price, item.currency),
                PromotionDiscount=_money_v0_orders(item.item_promotion_discount, item.currency),
            )
        if item.price_designation:
            entry["PriceDesignation"] = item.price_designation
        order_items.append(entry)
    payload = {"AmazonOrderId": items[0].amazon_order_id, "OrderItems": order_items}
    return Response.json(200, {"payload": payload})


# --------------------------------------------------------------------------------------------
# Orders v0 restricted operations: personal data, behind a Restricted Data Token
# --------------------------------------------------------------------------------------------

# Operations that accept only a Restricted Data Token made for their method and path.
RESTRICTED = frozenset({f"{ORDERS_V0}.getOrderAddress", f"{ORDERS_V0}.getOrderBuyerInfo"})

# Coarse, fake shipping destinations per country: (city, state or region, postal code).
DESTINATIONS = {
    "US": (
        ("Seattle", "WA", "98109"), ("Austin", "TX", "78701"), ("Columbus", "OH", "43215"),
        ("Denver", "CO", "80202"), ("Portland", "OR", "97205"), ("Atlanta", "GA", "30303"),
    ),
    "DE": (
        ("Berlin", "BE", "10115"), ("München", "BY", "80331"), ("Hamburg", "HH", "20095"),
        ("Köln", "NW", "50667"), ("Leipzig", "SN", "04109"),
    ),
    "JP": (
        ("千代田区", "東京都", "100-0001"), ("大阪市", "大阪府", "530-0001"),
        ("札幌市", "北海道", "060-0001"), ("名古屋市", "愛知県", "460-0001"),
    ),
}  # fmt: skip
# Amazon shows a shipping address only for orders in these states.
ADDRESS_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})


def _seen_order(call: Call) -> list[OrderItem]:
    """The path's order as it stands now (empty if the seller has no such order)."""
    return _as_seen(call, _OrderIndex.lookup(call.seller, call.arg("orderId") or ""))


def get_order_address(call: Call) -> Response:
    """The shipping address: a city, region and postal code drawn from the order id."""
    items = _seen_order(call)
    if not items:
        return not_found(f"Order {call.arg('orderId')} not found.")
    first = items[0]
    payload: dict[str, Any] = {"AmazonOrderId": first.amazon_order_id}
    if V0_STATUS.get(first.order_status, first.order_status) in ADDRESS_STATUSES:
        country = marketplaces()[first.marketplace_id].country_code
        choices = DESTINATIONS.get(country)
        address: dict[str, Any] = {"CountryCode": country, "AddressType": "Residential"}
        if choices:
            pick = rng_for(call.seller.config.seed, "address", first.amazon_order_id)
            city, region, postal_code = pick.choice(choices)
            address.update(City=city, StateOrRegion=region, PostalCode=postal_code)
        payload["ShippingAddress"] = address
    return Response.json(200, {"payload": payload})


def get_order_buyer_info(call: Call) -> Response:
    """The buyer's anonymised e-mail (and a purchase order number on business orders)."""
    items = _seen_order(call)
    if not items:
        return not_found(f"Order {call.arg('orderId')} not found.")
    first = items[0]
    pick = rng_for(call.seller.config.seed, "buyer", first.amazon_order_id)
    mailbox = "".join(pick.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(15))
    payload: dict[str, Any] = {
        "AmazonOrderId": first.amazon_order_id,
        "BuyerEmail": f"{mailbox}@marketplace.amazon.com",
    }
    if first.is_business_order:
        payload["PurchaseOrderNumber"] = f"PO-{pick.randrange(10**9):09d}"
    return Response.json(200, {"payload": payload})


# --------------------------------------------------------------------------------------------
# Product Pricing (v0 getItemOffers(+Batch), 2022-05-01 getCompetitiveSummary)
# --------------------------------------------------------------------------------------------

PRICING_V0 = "productPricingV0"
PRICING = "productPricing_2022-05-01"


def _channel(offer: Offer) -> str:
    return "Amazon" if offer.is_fulfilled_by_amazon else "Merchant"


def offers_result(
    seller: SimulatedSeller, asin: str, marketplace_id: str, condition: str, at: datetime
) -> dict:
    """The ``GetOffersResult`` of one ASIN at one moment (also the ANY_OFFER_CHANGED summary):
    our product's offers of the hour, or a rival's of the marketplace-local day."""
    offers = seller.page_offers(asin, marketplace_id, at)
    day = local_day(marketplace_id, at)
    item = seller.catalog_item(asin, day)
    currency = marketplaces()[marketplace_id].currency
    counts: dict[str, int] = {}
    lowest: dict[str, Offer] = {}
    for offer in offers:
        channel = _channel(offer)
        counts[channel] = counts.get(channel, 0) + 1
        if channel not in lowest or offer.landed_price < lowest[channel].landed_price:
            lowest[channel] = offer
    winner = next((o for o in offers if o.is_buy_box_winner), None)
    summary: dict[str, Any] = {
        "TotalOfferCount": len(offers),
        "NumberOfOffers": [
            {"condition": "new", "fulfillmentChannel": c, "OfferCount": n}
            for c, n in sorted(counts.items())
        ],
        "LowestPrices": [
            {
                "condition": "new",
                "fulfillmentChannel": c,
                "LandedPrice": _money_v0(o.landed_price, currency),
                "ListingPrice": _money_v0(o.listing_price, currency),
                "Shipping": _money_v0(o.shipping, currency),
            }
            for c, o in sorted(lowest.items())
        ],
        "BuyBoxEligibleOffers": [
            {"condition": "new", "fulfillmentChannel": c, "OfferCount": n}
            for c, n in sorted(counts.items())
        ],
        "OffersAvailableTime": _dt(at),
    }
    if winner is not None:
        summary["BuyBoxPrices"] = [
            {
                "condition": "New",
                "LandedPrice": _money_v0(winner.landed_price, currency),
                "ListingPrice": _money_v0(winner.listing_price, currency),
                "Shipping": _money_v0(winner.shipping, currency),
                "sellerId": winner.seller_id,
            }
        ]
    rank = seller.sales_rank(asin, marketplace_id, day)
    if item is not None and rank is not None:
        summary["ListPrice"] = _money_v0(item.price(marketplace_id), currency)
        summary["SalesRankings"] = [{"ProductCategoryId": _classification_id(item), "Rank": rank}]
    return {
        "marketplaceId": marketplace_id,
        "ASIN": asin,
        "ItemCondition": condition,
        "status": "Success",
        "Identifier": {"MarketplaceId": marketplace_id, "ASIN": asin, "ItemCondition": condition},
        "Summary": summary,
        "Offers": [
            {
                "MyOffer": o.is_my_offer,
                "SubCondition": "new",
                "SellerId": o.seller_id,
                "SellerFeedbackRating": {
                    "SellerPositiveFeedbackRating": float(o.feedback_rating),
                    "FeedbackCount": o.feedback_count,
                },
                "ShippingTime": {
                    "minimumHours": 0 if o.is_fulfilled_by_amazon else 24,
                    "maximumHours": 24 if o.is_fulfilled_by_amazon else 48,
                    "availabilityType": "NOW",
                },
                "ListingPrice": _money_v0(o.listing_price, currency),
                "Shipping": _money_v0(o.shipping, currency),
                "IsFulfilledByAmazon": o.is_fulfilled_by_amazon,
                "IsBuyBoxWinner": o.is_buy_box_winner,
                "IsFeaturedMerchant": o.is_fulfilled_by_amazon or o.feedback_rating >= 90,
            }
            for o in offers
        ],
    }


def _item_offers(call: Call, asin: str, marketplace_id: str, condition: str) -> tuple[int, dict]:
    if marketplace_id not in call.seller.config.marketplace_ids:
        error = {"code": "InvalidInput", "message": f"Invalid MarketplaceId {marketplace_id}."}
        return 400, {"errors": [error]}
    if call.seller.catalog_item(asin, _market_day(call, marketplace_id)) is None:
        error = {"code": "NotFound", "message": f"ASIN {asin} is not in the catalog."}
        return 404, {"errors": [error]}
    result = offers_result(call.seller, asin, marketplace_id, condition, _now_dt(call))
    return 200, {"payload": result}


def get_item_offers(call: Call) -> Response:
    status, body = _item_offers(
        call,
        call.arg("Asin") or "",
        call.arg("MarketplaceId") or "",
        call.arg("ItemCondition") or "New",
    )
    return Response.json(status, body)


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


_OFFERS_URI = re.compile(r"^/products/pricing/v0/items/([^/]+)/offers/?$")


def get_item_offers_batch(call: Call) -> Response:
    # The model's schema leaves ``requests`` optional and ``uri`` free-form; Amazon refuses both.
    if "requests" not in call.body:
        return invalid_input("Missing required parameter: requests.")
    asins = []
    for number, request in enumerate(call.body["requests"]):
        match = _OFFERS_URI.match(request["uri"])
        if match is None:
            return invalid_input(
                f"Invalid requests[{number}].uri: {request['uri']!r} is not "
                "/products/pricing/v0/items/{Asin}/offers."
            )
        asins.append(match.group(1))
    responses = []
    for asin, request in zip(asins, call.body["requests"], strict=True):
        status, body = _item_offers(call, asin, request["MarketplaceId"], request["ItemCondition"])
        responses.append(
            {
                "headers": {"x-amzn-RequestId": f"batch-{asin}", "Date": _dt(_now_dt(call))},
                "status": {"statusCode": status, "reasonPhrase": REASONS[status]},
                "body": body,
                "request": {
                    "MarketplaceId": request["MarketplaceId"],
                    "Asin": asin,
                    "ItemCondition": request["ItemCondition"],
                },
            }
        )
    return Response.json(200, {"responses": responses})


def _competitive_summary(call: Call, request: dict[str, Any]) -> dict[str, Any]:
    """One ``getCompetitiveSummary`` answer: our product's offers of the hour, or a rival's of
    the marketplace-local day; 404 for an ASIN the catalog does not list (yet)."""
    asin, marketplace_id = request["asin"], request["marketplaceId"]
    item = None
    if marketplace_id in call.seller.config.marketplace_ids:
        item = call.seller.catalog_item(asin, _market_day(call, marketplace_id))
    if item is None:
        error = {"code": "NotFound", "message": f"No offers for {asin} in {marketplace_id}."}
        return {
            "status": {"statusCode": 404, "reasonPhrase": "Not Found"},
            "body": {"asin": asin, "marketplaceId": marketplace_id, "errors": [error]},
        }
    offers = call.seller.page_offers(asin, marketplace_id, _now_dt(call))
    currency = marketplaces()[marketplace_id].currency

    def money(value: Decimal) -> dict[str, Any]:
        return {"amount": _amount(value), "currencyCode": currency}

    body: dict[str, Any] = {"asin": asin, "marketplaceId": marketplace_id}
    included = set(request["includedData"])
    winner = next((o for o in offers if o.is_buy_box_winner), None)
    if "featuredBuyingOptions" in included:
        segments = []
        if winner is not None:
            segments.append(
                {
                    "featuredOfferSegments": [
                        {
                            "customerMembership": "DEFAULT",
                            "segmentDetails": {"glanceViewWeightPercentage": 100.0},
                        }
                    ],
                    "sellerId": winner.seller_id,
                    "condition": "New",
                    "fulfillmentType": "AFN" if winner.is_fulfilled_by_amazon else "MFN",
                    "listingPrice": money(winner.listing_price),
                    "shippingOptions": [
                        {"shippingOptionType": "DEFAULT", "price": money(winner.shipping)}
                    ],
                }
            )
        body["featuredBuyingOptions"] = [
            {"buyingOptionType": "New", "segmentedFeaturedOffers": segments}
        ]
    if "lowestPricedOffers" in included:
        body["lowestPricedOffers"] = [
            {
                "lowestPricedOffersInput": {"itemCondition": "New", "offerType": "Consumer"},
                "offers": [
                    {
                        "sellerId": o.seller_id,
                        "condition": "New",
                        "fulfillmentType": "AFN" if o.is_fulfilled_by_amazon else "MFN",
                        "listingPrice": money(o.listing_price),
                        "shippingOptions": [
                            {"shippingOptionType": "DEFAULT", "price": money(o.shipping)}
                        ],
                    }
                    for o in offers[:20]
                ],
            }
        ]
    if "referencePrices" in included:
        body["referencePrices"] = [
            {
                "name": "CompetitivePriceThreshold",
                "price": money(min(o.landed_price for o in offers)),
            },
            {"name": "WasPrice", "price": money(item.price(marketplace_id))},
        ]
    return {"status": {"statusCode": 200, "reasonPhrase": "OK"}, "body": body}


def get_competitive_summary(call: Call) -> Response:
    responses = [_competitive_summary(call, request) for request in call.body["requests"]]
    return Response.json(200, {"responses": responses})


# --------------------------------------------------------------------------------------------
# FBA Inventory, Sellers, Tokens
# --------------------------------------------------------------------------------------------


def get_inventory_summaries(call: Call) -> Response:
    marketplace_id = call.arg("granularityId") or ""
    refusal = _marketplace_check(call, [marketplace_id, *call.args("marketplaceIds")])
    if refusal:
        return refusal
    rows = call.seller.inventory(marketplace_id)
    skus = set(call.args("sellerSkus"))
    if skus:
        rows = [r for r in rows if r.sku in skus]
    details = (call.arg("details") or "false").lower() == "true"
    start = _page_offset(call, "nextToken")
    page = rows[start : start + 50]
    summaries = []
    updated = _dt(_now_dt(call).replace(minute=0, second=0, microsecond=0))
    for row in page:
        summary: dict[str, Any] = {
            "asin": row.asin,
            "fnSku": row.fnsku,
            "sellerSku": row.sku,
            "condition": "NewItem",
            "lastUpdatedTime": updated,
            "productName": row.product_name,
            "totalQuantity": row.afn_total_quantity,
        }
        if details:
            summary["inventoryDetails"] = {
                "fulfillableQuantity": row.afn_fulfillable_quantity,
                "inboundWorkingQuantity": row.afn_inbound_working_quantity,
                "inboundShippedQuantity": row.afn_inbound_shipped_quantity,
                "inboundReceivingQuantity": row.afn_inbound_receiving_quantity,
                "reservedQuantity": {
                    "totalReservedQuantity": row.afn_reserved_quantity,
                    "pendingCustomerOrderQuantity": row.afn_reserved_quantity,
                    "pendingTransshipmentQuantity": 0,
                    "fcProcessingQuantity": 0,
                },
                "researchingQuantity": {"totalResearchingQuantity": row.afn_researching_quantity},
                "unfulfillableQuantity": {
                    "totalUnfulfillableQuantity": row.afn_unsellable_quantity,
                    "customerDamagedQuantity": row.afn_unsellable_quantity,
                    "warehouseDamagedQuantity": 0,
                    "distributorDamagedQuantity": 0,
                    "carrierDamagedQuantity": 0,
                    "defectiveQuantity": 0,
                    "expiredQuantity": 0,
                },
            }
        summaries.append(summary)
    body: dict[str, Any] = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": marketplace_id},
            "inventorySummaries": summaries,
        }
    }
    if start + 50 < len(rows):
        body["pagination"] = {"nextToken": state_token({"offset": start + 50})}
    return Response.json(200, body)


def get_marketplace_participations(call: Call) -> Response:
    payload = []
    for marketplace_id in call.seller.config.marketplace_ids:
        market = marketplaces()[marketplace_id]
        payload.append(
            {
                "marketplace": {
                    "id": marketplace_id,
                    "name": market.domain.capitalize(),
                    "countryCode": market.country_code,
                    "defaultCurrencyCode": market.currency,
                    "defaultLanguageCode": market.language,
                    "domainName": market.domain,
                },
                "participation": {"isParticipating": True, "hasSuspendedListings": False},
                "storeName": "Sandbox Goods",
            }
        )
    return Response.json(200, {"payload": payload})


def create_restricted_data_token(call: Call) -> Response:
    """An RDT for exactly the restricted resources (method and path) asked for; each must be
    a path of a published operation, concrete or generic (``{orderId}``)."""
    app = call.extras["app"]
    resources = [(r["method"], r["path"]) for r in call.body["restrictedResources"]]
    for method, path in resources:
        if not path.startswith("/") or route(method, path.split("?")[0]) is None:
            return invalid_input(f"Invalid restricted resource {method} {path!r}.")
    lifetime = app.config.rdt_lifetime
    token = app.lwa.issue_restricted(call.grant, lifetime, resources)
    return Response.json(200, {"restrictedDataToken": token, "expiresIn": int(lifetime)})


# --------------------------------------------------------------------------------------------
# Finances v0
# --------------------------------------------------------------------------------------------

FINANCES_PAGE = 100  # MaxResultsPerPage's default and maximum


def _resumed(call: Call) -> dict[str, Any] | Response | None:
    """A Finances listing's state from its ``NextToken`` (an error for a token it did not
    make); None for a first page."""
    token = call.arg("NextToken")
    if not token:
        return None
    state = read_state(token)
    return invalid_input("Invalid NextToken.") if state is None else state


def list_financial_events(call: Call) -> Response:
    """Shipment and refund events posted in the window (``finances``: what they hold), the
    window's end at most two minutes before now, paged by event."""
    from spapi_sandbox.finances import financial_events

    state = _resumed(call)
    if isinstance(state, Response):
        return state
    if state is None:
        after, before = call.arg("PostedAfter"), call.arg("PostedBefore")
        latest = _now_dt(call) - timedelta(minutes=2)
        if not after:
            return invalid_input("PostedAfter is required (the first day of events to list).")
        try:
            start = parse_time(after)
            end = parse_time(before) if before else latest
        except ValueError:
            return invalid_input("PostedAfter and PostedBefore must be ISO 8601 date-times.")
        if end > latest:
            return invalid_input("PostedBefore must be at least two minutes before now.")
        if end < start:
            return invalid_input("PostedBefore must be later than PostedAfter.")
        size = int(call.arg("MaxResultsPerPage") or FINANCES_PAGE)
        if not 1 <= size <= FINANCES_PAGE:
            return invalid_input(f"MaxResultsPerPage must be 1 to {FINANCES_PAGE}.")
        state = {"start": start.isoformat(), "end": end.isoformat(), "offset": 0, "size": size,
                 "as_of": _now_dt(call).isoformat()}  # fmt: skip
    # PostedBefore leaves its own instant out ("before (but not on)", says the model).
    events = financial_events(
        call.seller, call.seller.config.marketplace_ids, parse_time(state["start"]),
        parse_time(state["end"]) - timedelta(microseconds=1), as_of=parse_time(state["as_of"]),
    )  # fmt: skip
    page, next_token = page_of(events, state)
    lists: dict[str, list[dict[str, Any]]] = {"ShipmentEventList": [], "RefundEventList": []}
    for event in page:
        lists["RefundEventList" if event.kind == "refund" else "ShipmentEventList"].append(
            event.body
        )
    payload: dict[str, Any] = {"FinancialEvents": lists}
    if next_token:
        payload["NextToken"] = next_token
    return Response.json(200, {"payload": payload})


GROUPS_PAGE = 100  # listFinancialEventGroups' MaxResultsPerPage default and maximum
GROUPS_HISTORY = timedelta(days=180)  # groups opened since then when no start is given


def list_financial_event_groups(call: Call) -> Response:
    """The settlement groups opened in the window (``finances.event_groups``), paged."""
    from spapi_sandbox.finances import event_groups

    state = _resumed(call)
    if isinstance(state, Response):
        return state
    if state is None:
        now = _now_dt(call)
        after = call.arg("FinancialEventGroupStartedAfter")
        before = call.arg("FinancialEventGroupStartedBefore")
        try:
            start = parse_time(after) if after else now - GROUPS_HISTORY
            end = parse_time(before) if before else now - timedelta(minutes=2)
        except ValueError:
            return invalid_input("FinancialEventGroupStartedAfter and ...Before must be ISO 8601 "
                                 "date-times.")  # fmt: skip
        if start > now - timedelta(minutes=2):
            return invalid_input("FinancialEventGroupStartedAfter must be at least two minutes "
                                 "before now.")  # fmt: skip
        if end < start:
            return invalid_input("FinancialEventGroupStartedBefore must be later than "
                                 "FinancialEventGroupStartedAfter.")  # fmt: skip
        size = int(call.arg("MaxResultsPerPage") or GROUPS_PAGE)
        if not 1 <= size <= GROUPS_PAGE:
            return invalid_input(f"MaxResultsPerPage must be 1 to {GROUPS_PAGE}.")
        state = {"start": start.isoformat(), "end": end.isoformat(), "offset": 0, "size": size,
                 "as_of": now.isoformat()}  # fmt: skip
    groups = event_groups(call.seller, parse_time(state["start"]), parse_time(state["end"]),
                          parse_time(state["as_of"]))  # fmt: skip
    page, next_token = page_of(groups, state)
    payload: dict[str, Any] = {"FinancialEventGroupList": page}
    if next_token:
        payload["NextToken"] = next_token
    return Response.json(200, {"payload": payload})


HANDLERS: dict[str, Callable[[Call], Response]] = {
    f"{CATALOG}.getCatalogItem": get_catalog_item,
    f"{CATALOG}.searchCatalogItems": search_catalog_items,
    f"{LISTINGS}.getListingsItem": get_listings_item,
    f"{LISTINGS}.searchListingsItems": search_listings_items,
    f"{ORDERS}.searchOrders": search_orders,
    f"{ORDERS}.getOrder": get_order,
    f"{ORDERS_V0}.getOrders": get_orders_v0,
    f"{ORDERS_V0}.getOrder": get_order_v0,
    f"{ORDERS_V0}.getOrderItems": get_order_items_v0,
    f"{ORDERS_V0}.getOrderAddress": get_order_address,
    f"{ORDERS_V0}.getOrderBuyerInfo": get_order_buyer_info,
    f"{PRICING_V0}.getItemOffers": get_item_offers,
    f"{PRICING_V0}.getItemOffersBatch": get_item_offers_batch,
    f"{PRICING}.getCompetitiveSummary": get_competitive_summary,
    "fbaInventory.getInventorySummaries": get_inventory_summaries,
    "financesV0.listFinancialEvents": list_financial_events,
    "financesV0.listFinancialEventGroups": list_financial_event_groups,
    "sellers.getMarketplaceParticipations": get_marketplace_participations,
    "tokens_2021-03-01.createRestrictedDataToken": create_restricted_data_token,
}


# --------------------------------------------------------------------------------------------
# Events that simulated time produces
# --------------------------------------------------------------------------------------------


class MarketEvents:
    """Watches the simulation and publishes ANY_OFFER_CHANGED and LISTINGS_ITEM_STATUS_CHANGE."""

    def __init__(self, sellers: dict[str, SimulatedSeller], notifier: Notifier):
        self.sellers = sellers
        self.notifier = notifier
        self._hour: int | None = None
        self._day: date | None = None
        self._last_offer: dict[tuple[str, str, str], tuple] = {}

    def tick(self, now: float) -> None:
        hour = int(now // 3600)
        if self._hour is None:
            self._hour, self._day = hour, datetime.fromtimestamp(now, UTC).date()
            return
        if hour == self._hour:
            return
        self._hour = hour
        at = datetime.fromtimestamp(hour * 3600, UTC)
        for seller_id, seller in self.sellers.items():
            if self.notifier.subscribed(seller_id, "ANY_OFFER_CHANGED"):
                self._offers(seller_id, seller, at)
            if at.date() != self._day and self.notifier.subscribed(
                seller_id, "LISTINGS_ITEM_STATUS_CHANGE"
            ):
                self._statuses(seller_id, seller, self._day or at.date(), at)
        self._day = at.date()

    def _offers(self, seller_id: str, seller: SimulatedSeller, at: datetime) -> None:
        for marketplace_id in seller.config.marketplace_ids:
            for product in seller.products()[:OFFER_EVENT_PRODUCTS]:
                previous = seller.offers(product.asin, marketplace_id, at - timedelta(hours=1))
                current = seller.offers(product.asin, marketplace_id, at)
                if _offer_key(previous) == _offer_key(current):
                    continue
                result = offers_result(seller, product.asin, marketplace_id, "New", at)
                self.notifier.publish(
                    "ANY_OFFER_CHANGED",
                    seller_id,
                    any_offer_changed_payload(seller_id, marketplace_id, product.asin, at, result),
                    at.timestamp(),
                )

    def _statuses(
        self, seller_id: str, seller: SimulatedSeller, before: date, at: datetime
    ) -> None:
        day = at.date()
        for marketplace_id in seller.config.marketplace_ids:
            for product in seller.products():
                old = listing_status(seller, product, marketplace_id, before)
                new = listing_status(seller, product, marketplace_id, day)
                if old == new:
                    continue
                payload = listing_status_payload(seller_id, marketplace_id, product, new)
                self.notifier.publish(
                    "LISTINGS_ITEM_STATUS_CHANGE", seller_id, payload, at.timestamp()
                )


def listing_status_payload(
    seller_id: str, marketplace_id: str, product: Product, status: list[str]
) -> dict[str, Any]:
    """The ``LISTINGS_ITEM_STATUS_CHANGE`` payload of one listing's new status."""
    return {
        "SellerId": seller_id,
        "MarketplaceId": marketplace_id,
        "Asin": product.asin,
        "Sku": product.sku,
        "CreatedDate": _dt(_listed_at(product)),
        "Status": status,
    }


# --------------------------------------------------------------------------------------------
# Test notifications (sendTestNotification): one sample payload per type, from the seller
# --------------------------------------------------------------------------------------------

TEST_ID = "TEST_NOTIFICATION"  # the report/query id test notifications speak of


def _sample_report_finished(seller: SimulatedSeller, at: datetime) -> dict[str, Any]:
    seller_id = seller.config.seller_id
    return {
        "sellerId": seller_id,
        "accountId": f"amzn1.merchant.o.{seller_id}",
        "reportId": TEST_ID,
        "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
        "processingStatus": "DONE",
        "reportDocumentId": f"amzn1.spdoc.1.4.na.{TEST_ID}",
    }


def _sample_query_finished(seller: SimulatedSeller, at: datetime) -> dict[str, Any]:
    seller_id = seller.config.seller_id
    return {
        "sellerId": seller_id,
        "accountId": f"amzn1.merchant.o.{seller_id}",
        "queryId": TEST_ID,
        "query": "query{analytics_salesAndTraffic_2024_04_24{salesAndTrafficByDate}}",
        "processingStatus": "DONE",
        "dataDocumentId": f"amzn1.tortuga.4.na.{TEST_ID}",
    }


def _sample_offer_changed(seller: SimulatedSeller, at: datetime) -> dict[str, Any]:
    marketplace_id, asin = seller.config.marketplace_ids[0], seller.products()[0].asin
    result = offers_result(seller, asin, marketplace_id, "New", at)
    return any_offer_changed_payload(seller.config.seller_id, marketplace_id, asin, at, result)


def _sample_listing_status(seller: SimulatedSeller, at: datetime) -> dict[str, Any]:
    marketplace_id, product = seller.config.marketplace_ids[0], seller.products()[0]
    status = listing_status(seller, product, marketplace_id, at.date())
    return listing_status_payload(seller.config.seller_id, marketplace_id, product, status)


SAMPLE_PAYLOADS: dict[str, Callable[[SimulatedSeller, datetime], dict[str, Any]]] = {
    "REPORT_PROCESSING_FINISHED": _sample_report_finished,
    "DATA_KIOSK_QUERY_PROCESSING_FINISHED": _sample_query_finished,
    "ANY_OFFER_CHANGED": _sample_offer_changed,
    "LISTINGS_ITEM_STATUS_CHANGE": _sample_listing_status,
}


def sample_notification_payload(
    seller: SimulatedSeller, notification_type: str, now: float
) -> dict[str, Any]:
    """The payload a test notification of ``notification_type`` carries for ``seller``, as the
    simulation stands at the start of the hour of ``now``."""
    at = datetime.fromtimestamp(now - now % 3600, UTC)
    return SAMPLE_PAYLOADS[notification_type](seller, at)


def _offer_key(offers: list[Offer]) -> tuple:
    winner = next((o.seller_id for o in offers if o.is_buy_box_winner), "")
    return winner, min((o.landed_price for o in offers), default=None), len(offers)


def any_offer_changed_payload(
    seller_id: str, marketplace_id: str, asin: str, at: datetime, result: dict[str, Any]
) -> dict[str, Any]:
    """The ``AnyOfferChangedNotification`` of the published schema, from a GetOffersResult."""
    summary = result["Summary"]
    currency = marketplaces()[marketplace_id].currency
    country = marketplaces()[marketplace_id].country_code
    zero = {"Amount": 0.0, "CurrencyCode": currency}
    list_price = summary.get("ListPrice", zero)
    lowest = summary["LowestPrices"]
    threshold = min((p["LandedPrice"]["Amount"] for p in lowest), default=0.0)
    return {
        "SellerId": seller_id,
        "OfferChangeTrigger": {
            "MarketplaceId": marketplace_id,
            "ASIN": asin,
            "ItemCondition": "new",
            "TimeOfOfferChange": _dt(at),
            "OfferChangeType": "External",
        },
        "Summary": {
            "NumberOfOffers": [
                {
                    "Condition": "new",
                    "FulfillmentChannel": n["fulfillmentChannel"],
                    "OfferCount": n["OfferCount"],
                }
                for n in summary["NumberOfOffers"]
            ],
            "LowestPrices": [
                {
                    "Condition": "new",
                    "FulfillmentChannel": p["fulfillmentChannel"],
                    "LandedPrice": p["LandedPrice"],
                    "ListingPrice": p["ListingPrice"],
                    "Shipping": p["Shipping"],
                }
                for p in lowest
            ],
            "BuyBoxPrices": [
                {
                    "Condition": "new",
                    "LandedPrice": b["LandedPrice"],
                    "ListingPrice": b["ListingPrice"],
                    "Shipping": b["Shipping"],
                }
                for b in summary.get("BuyBoxPrices", [])
            ],
            "ListPrice": list_price,
            "MinimumAdvertisedPrice": list_price,
            "SuggestedLowerPricePlusShipping": {"Amount": threshold, "CurrencyCode": currency},
            "TotalBuyBoxEligibleOffers": summary["TotalOfferCount"],
            "SalesRankings": summary.get("SalesRankings", []),
            "NumberOfBuyBoxEligibleOffers": [
                {
                    "Condition": "new",
                    "FulfillmentChannel": n["fulfillmentChannel"],
                    "OfferCount": n["OfferCount"],
                }
                for n in summary["NumberOfOffers"]
            ],
            "CompetitivePriceThreshold": {"Amount": threshold, "CurrencyCode": currency},
        },
        "Offers": [
            {
                "SellerId": o["SellerId"],
                "SubCondition": "new",
                "SellerFeedbackRating": {
                    "FeedbackCount": o["SellerFeedbackRating"]["FeedbackCount"],
                    "SellerPositiveFeedbackRating": int(
                        o["SellerFeedbackRating"]["SellerPositiveFeedbackRating"]
                    ),
                },
                "ShippingTime": {
                    "MinimumHours": o["ShippingTime"]["minimumHours"],
                    "MaximumHours": o["ShippingTime"]["maximumHours"],
                    "AvailabilityType": "now",
                    "AvailableDate": _dt(at),
                },
                "ListingPrice": o["ListingPrice"],
                "Points": {"PointsNumber": 0},
                "Shipping": o["Shipping"],
                "ShipsFrom": {"Country": country, "State": ""},
                "IsFulfilledByAmazon": o["IsFulfilledByAmazon"],
                "PrimeInformation": {
                    "IsOfferPrime": o["IsFulfilledByAmazon"],
                    "IsOfferNationalPrime": o["IsFulfilledByAmazon"],
                },
                "IsExpeditedShippingAvailable": o["IsFulfilledByAmazon"],
                "IsBuyBoxWinner": o["IsBuyBoxWinner"],
                "IsFeaturedMerchant": o["IsFeaturedMerchant"],
                "ShipsDomestically": True,
                "ShipsInternationally": False,
            }
            for o in result["Offers"]
        ],
    }
