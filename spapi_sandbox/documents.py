"""Report documents of the simulated seller, as Amazon delivers them (bytes).

``render_report`` builds the document of one ``createReport`` request; ``render_data_kiosk``
the JSON-lines document of one Data Kiosk ``createQuery``. Both are pure functions of the
seller, the request and ``as_of`` (the time the report is generated): the same arguments give
byte-identical output, and no wall-clock time enters a document.

Conventions, matching what sellers receive:

- JSON reports are UTF-8 and follow the bundled JSON Schemas (``schema_for``).
- Flat files are tab-separated with a header line, ``\\n`` line ends, encoded in the
  marketplace's flat-file encoding (cp1252 in Europe, cp932 for Japan, UTF-8 elsewhere) and
  served with that charset in their ``Content-Type`` (``CHARSETS``), as Amazon's are.
- All-orders rows of ``Pending`` orders carry no prices yet; ``Cancelled`` rows carry quantity 0
  and no prices. So the units of a local day's rows (cancelled ones counted as 0) add up to the
  seller's ``truth()`` ``units_ordered`` once the day is final, and the prices of its
  non-cancelled rows to ``ordered_product_sales``.
- Report windows given as datetimes are read as calendar dates (their own date part) for the
  date-based reports (Sales & Traffic, Brand Analytics) and as instants for all-orders.
- A window without activity raises ``NoDataError`` (the server marks the report CANCELLED);
  an invalid request (unknown type or option, several marketplaces where one is needed)
  raises ``ValueError`` (FATAL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from spapi_sandbox.returns import COLUMNS as RETURN_COLUMNS
from spapi_sandbox.returns import returns
from spapi_sandbox.seller import (
    DayView,
    OrderItem,
    Product,
    SimulatedSeller,
    Tally,
    as_utc,
    base36,
    currency_of,
    daterange,
    money,
    percentage,
    scramble,
    stable_fraction,
    tally_by_asin,
    tally_day,
)
from spapi_toolkit.regions import marketplace

SCHEMAS_DIR = "data/spapi-models/schemas/reports"


class NoDataError(Exception):
    """The requested window has no data: the report is CANCELLED, which is not an error."""


@dataclass(frozen=True)
class ReportRequest:
    """One report request, as the renderers receive it."""

    report_type: str
    marketplace_ids: tuple[str, ...]
    data_start: datetime | None
    data_end: datetime | None
    options: dict[str, str] = field(default_factory=dict)
    as_of: datetime | None = None


@dataclass(frozen=True)
class ReportType:
    """How one report type is rendered: its format, renderer and (JSON) schema file."""

    format: str  # "json" or "tsv"
    render: Callable[[SimulatedSeller, ReportRequest], bytes]
    schema: str | None = None
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)  # allowed values

    def content_type(self, marketplace_ids: Iterable[str]) -> str:
        """The download's ``Content-Type``: flat files name their charset as Amazon does."""
        if self.format == "json":
            return "application/json"
        return f"text/plain;charset={CHARSETS[_encoding(marketplace_ids)]}"


# Python codec -> the (Java) charset name Amazon's downloads give in their Content-Type.
CHARSETS = {"utf-8": "UTF-8", "cp1252": "Cp1252", "cp932": "Windows-31J"}


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


@cache
def load_schema(filename: str) -> dict[str, Any]:
    """A bundled report JSON Schema by file name."""
    text = resources.files("spapi_toolkit").joinpath(f"{SCHEMAS_DIR}/{filename}").read_text("utf-8")
    return json.loads(text)


def schema_for(report_type: str) -> dict[str, Any] | None:
    """The JSON Schema a report type's document follows (None for flat files)."""
    spec = REPORT_TYPES[report_type]
    return load_schema(spec.schema) if spec.schema else None


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _amount(value: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": float(Decimal(value).quantize(Decimal("0.01"))), "currencyCode": currency}


def _ratio(value: Decimal, count: int) -> Decimal:
    return value / count if count else Decimal(0)


def _single_marketplace(seller: SimulatedSeller, request: ReportRequest) -> str:
    if len(request.marketplace_ids) != 1:
        raise ValueError(f"{request.report_type} takes exactly one marketplace id")
    return _known_marketplace(seller, request.marketplace_ids[0])


def _known_marketplace(seller: SimulatedSeller, marketplace_id: str) -> str:
    marketplace(marketplace_id)  # ValueError for an unknown id
    if marketplace_id not in seller.config.marketplace_ids:
        raise NoDataError(f"the seller does not sell in {marketplace_id}")
    return marketplace_id


def _date_window(seller: SimulatedSeller, request: ReportRequest) -> tuple[date, date]:
    """The requested calendar dates (defaults: the history's bounds)."""
    start = request.data_start.date() if request.data_start else seller.config.start_date
    end = request.data_end.date() if request.data_end else seller.config.end_date
    if end < start:
        raise ValueError("dataEndTime is before dataStartTime")
    return start, end


def _clip_to_history(
    seller: SimulatedSeller, start: date, end: date, as_of: datetime | None
) -> tuple[date, date]:
    """The part of ``[start, end]`` the seller has data for, or NoDataError."""
    first = max(start, seller.config.start_date)
    last = min(end, seller.config.end_date)
    if as_of is not None:
        last = min(last, as_utc(as_of).date() + timedelta(days=1))
    if last < first:
        raise NoDataError(f"no data between {start} and {end}")
    return first, last


def period_start(d: date, granularity: str) -> date:
    """The first day of the period holding ``d``: weeks run Sunday to Saturday."""
    if granularity == "DAY":
        return d
    if granularity == "WEEK":
        return d - timedelta(days=(d.weekday() + 1) % 7)
    if granularity == "MONTH":
        return d.replace(day=1)
    if granularity == "QUARTER":
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
    raise ValueError(f"unknown period {granularity!r}")


def period_end(start: date, granularity: str) -> date:
    """The last day of the period starting at ``start``."""
    if granularity == "DAY":
        return start
    if granularity == "WEEK":
        return start + timedelta(days=6)
    months = 1 if granularity == "MONTH" else 3
    year, month = divmod(start.month - 1 + months, 12)
    return date(start.year + year, month + 1, 1) - timedelta(days=1)


def periods(start: date, end: date, granularity: str) -> Iterator[tuple[date, date]]:
    """Whole periods covering ``[start, end]``."""
    first = period_start(start, granularity)
    while first <= end:
        last = period_end(first, granularity)
        yield first, last
        first = last + timedelta(days=1)


def _option(request: ReportRequest, name: str, default: str) -> str:
    value = request.options.get(name, default)
    allowed = REPORT_TYPES[request.report_type].options.get(name)
    if allowed and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# Sales and Traffic
# --------------------------------------------------------------------------------------------


@dataclass
class PeriodTotals:
    """A period's by-date totals: the sales/traffic tally plus per-day counters."""

    tally: Tally
    days: int = 0
    offer_count: int = 0
    parent_items: int = 0
    feedback: int = 0
    negative_feedback: int = 0

    def add(self, view: DayView) -> None:
        tally_day(view, self.tally)
        self.days += 1
        self.offer_count += view.offer_count
        self.parent_items += view.parent_items
        self.feedback += view.feedback_received
        self.negative_feedback += view.negative_feedback_received


def date_sales(t: Tally) -> dict[str, Any]:
    """The ``salesByDate`` object of a tally."""
    c = t.currency
    return {
        "orderedProductSales": _amount(t.ordered_product_sales, c),
        "orderedProductSalesB2B": _amount(t.ordered_product_sales_b2b, c),
        "unitsOrdered": t.units_ordered,
        "unitsOrderedB2B": t.units_ordered_b2b,
        "totalOrderItems": t.total_order_items,
        "totalOrderItemsB2B": t.total_order_items_b2b,
        "averageSalesPerOrderItem": _amount(
            _ratio(t.ordered_product_sales, t.total_order_items), c
        ),
        "averageSalesPerOrderItemB2B": _amount(
            _ratio(t.ordered_product_sales_b2b, t.total_order_items_b2b), c
        ),
        "averageUnitsPerOrderItem": float(
            round(_ratio(Decimal(t.units_ordered), t.total_order_items), 2)
        ),
        "averageUnitsPerOrderItemB2B": float(
            round(_ratio(Decimal(t.units_ordered_b2b), t.total_order_items_b2b), 2)
        ),
        "averageSellingPrice": _amount(_ratio(t.ordered_product_sales, t.units_ordered), c),
        "averageSellingPriceB2B": _amount(
            _ratio(t.ordered_product_sales_b2b, t.units_ordered_b2b), c
        ),
        "unitsRefunded": t.units_refunded,
        "refundRate": min(100.0, percentage(t.units_refunded, t.units_ordered)),
        "claimsGranted": 0,
        "claimsAmount": _amount(Decimal(0), c),
        "shippedProductSales": _amount(t.shipped_product_sales, c),
        "unitsShipped": t.units_shipped,
        "ordersShipped": t.orders_shipped,
    }


def _traffic_counts(t: Tally) -> dict[str, Any]:
    return {
        "browserPageViews": t.browser_page_views,
        "browserPageViewsB2B": t.browser_page_views_b2b,
        "mobileAppPageViews": t.mobile_app_page_views,
        "mobileAppPageViewsB2B": t.mobile_app_page_views_b2b,
        "pageViews": t.page_views,
        "pageViewsB2B": t.page_views_b2b,
        "browserSessions": t.browser_sessions,
        "browserSessionsB2B": t.browser_sessions_b2b,
        "mobileAppSessions": t.mobile_app_sessions,
        "mobileAppSessionsB2B": t.mobile_app_sessions_b2b,
        "sessions": t.sessions,
        "sessionsB2B": t.sessions_b2b,
        "buyBoxPercentage": t.buy_box_percentage,
        "buyBoxPercentageB2B": t.buy_box_percentage_b2b,
        "unitSessionPercentage": percentage(t.units_ordered, t.sessions),
        "unitSessionPercentageB2B": percentage(t.units_ordered_b2b, t.sessions_b2b),
    }


def date_traffic(p: PeriodTotals) -> dict[str, Any]:
    """The ``trafficByDate`` object of a period."""
    t = p.tally
    return {
        **_traffic_counts(t),
        "orderItemSessionPercentage": min(100.0, percentage(t.total_order_items, t.sessions)),
        "orderItemSessionPercentageB2B": min(
            100.0, percentage(t.total_order_items_b2b, t.sessions_b2b)
        ),
        "averageOfferCount": p.offer_count // max(1, p.days),
        "averageParentItems": p.parent_items // max(1, p.days),
        "feedbackReceived": p.feedback,
        "negativeFeedbackReceived": p.negative_feedback,
        "receivedNegativeFeedbackRate": percentage(p.negative_feedback, p.feedback),
    }


def asin_sales(t: Tally) -> dict[str, Any]:
    """The ``salesByAsin`` object of a tally."""
    return {
        "unitsOrdered": t.units_ordered,
        "unitsOrderedB2B": t.units_ordered_b2b,
        "orderedProductSales": _amount(t.ordered_product_sales, t.currency),
        "orderedProductSalesB2B": _amount(t.ordered_product_sales_b2b, t.currency),
        "totalOrderItems": t.total_order_items,
        "totalOrderItemsB2B": t.total_order_items_b2b,
    }


# (output name, Tally attribute) of the per-ASIN shares of the window's traffic
SHARE_FIELDS = (
    ("browserSessionPercentage", "browser_sessions"),
    ("browserSessionPercentageB2B", "browser_sessions_b2b"),
    ("mobileAppSessionPercentage", "mobile_app_sessions"),
    ("mobileAppSessionPercentageB2B", "mobile_app_sessions_b2b"),
    ("sessionPercentage", "sessions"),
    ("sessionPercentageB2B", "sessions_b2b"),
    ("browserPageViewsPercentage", "browser_page_views"),
    ("browserPageViewsPercentageB2B", "browser_page_views_b2b"),
    ("mobileAppPageViewsPercentage", "mobile_app_page_views"),
    ("mobileAppPageViewsPercentageB2B", "mobile_app_page_views_b2b"),
    ("pageViewsPercentage", "page_views"),
    ("pageViewsPercentageB2B", "page_views_b2b"),
)


def asin_traffic(t: Tally, total: Tally) -> dict[str, Any]:
    """The ``trafficByAsin`` object: counts plus shares of the window's ``total``."""
    shares = {
        name: percentage(getattr(t, attr), getattr(total, attr)) for name, attr in SHARE_FIELDS
    }
    return {**_traffic_counts(t), **shares}


ASIN_KEYS: dict[str, tuple[str, ...]] = {
    "PARENT": ("parentAsin",),
    "CHILD": ("parentAsin", "childAsin"),
    "SKU": ("parentAsin", "childAsin", "sku"),
}


def _asin_key(seller: SimulatedSeller, granularity: str) -> Callable[[str], tuple[str, ...]]:
    def key(asin: str) -> tuple[str, ...]:
        product = seller.product(asin)
        values = {
            "parentAsin": product.parent_asin if product else asin,
            "childAsin": asin,
            "sku": product.sku if product else "",
        }
        return tuple(values[name] for name in ASIN_KEYS[granularity])

    return key


@dataclass
class SalesAndTraffic:
    """A window's Sales & Traffic figures, by date period and by ASIN key."""

    by_period: dict[date, PeriodTotals]
    by_asin: dict[tuple[str, ...], Tally]
    total: Tally


def on_detail_pages(t: Tally) -> bool:
    """Whether the Reports API's ``salesAndTrafficByAsin`` lists a key: it had sessions or
    order items in the window. A key with only shipments or refunds is left out: Amazon's
    by-ASIN rows have nowhere to show it (no source states the omission in so many words;
    these are the grounds).

    The report's by-ASIN part is Seller Central's "Detail Page Sales and Traffic" business
    report: detail-page traffic and items ordered. Its ``SalesByAsin`` has no shipped or
    refunded field (``unitsRefunded``, ``refundRate``, ``unitsShipped``,
    ``shippedProductSales`` and ``ordersShipped`` are in ``SalesByDate`` only; Amazon's model
    schemas/reports/sellerSalesAndTrafficReport.json, bundled in
    ``spapi_toolkit/data/spapi-models``), so such a row could only be all zeros. Amazon's help
    counts refunds in the Business Reports *by date*, by refund date ("Why do my numbers seem
    different across the various seller reports?", quoted in
    https://www.tool4seller.com/blog/why-do-my-numbers-seem-different-across-the-various-seller-reports.html).
    The by-ASIN rows sellers report are ones with traffic or an order: at CHILD granularity
    rows with traffic and no order appear
    (https://github.com/amzn/selling-partner-api-docs/issues/2441), and at SKU granularity
    only rows with orders (Openbridge's "Known Issues",
    https://docs.openbridge.com/en/articles/6303562-amazon-sales-and-traffic-business-report).
    Such keys' shipments and refunds are in ``salesAndTrafficByDate`` (summed over the ASINs)
    and, per ASIN, in Data Kiosk's ``salesAndTrafficByAsin`` (``has_activity``).
    """
    return bool(t.sessions or t.total_order_items)


def has_activity(t: Tally) -> bool:
    """Whether Data Kiosk's ``salesAndTrafficByAsin`` lists a key: any traffic, order item,
    shipment or refund in the window, i.e. every key of ``SimulatedSeller.truth()``.

    Unlike the report, Data Kiosk's ``ByAsinSales`` (analytics_salesAndTraffic_2024_04_24,
    Amazon's schemas/data-kiosk/analytics_salesAndTraffic_2024_04_24.graphql, bundled in
    ``spapi_toolkit/data/spapi-models``) has ``unitsShipped``, ``shippedProductSales``,
    ``ordersShipped``, ``unitsRefunded`` and ``refundRate`` per ASIN, all non-null: a shipment
    or a refund alone is data of the ASIN there, and the dataset returns the ASINs "with
    available data" (its wording for ``salesAndTrafficTrends``). Such a row shows the shipped
    and refunded figures with zero ordered units, order items and sessions.
    """
    return not t.is_empty


def sales_and_traffic(
    seller: SimulatedSeller,
    marketplace_id: str,
    start: date,
    end: date,
    date_granularity: str,
    asin_granularity: str,
    as_of: datetime | None,
    listed: Callable[[Tally], bool] = on_detail_pages,
) -> SalesAndTraffic:
    """Aggregate the day views of ``[start, end]`` (already clipped to the history); ``by_asin``
    keeps the keys ``listed`` accepts (the report's by default, ``has_activity`` for Data
    Kiosk)."""
    currency = currency_of(marketplace_id)
    by_period: dict[date, PeriodTotals] = {}
    by_asin: dict[tuple[str, ...], Tally] = {}
    total = Tally(currency)
    key = _asin_key(seller, asin_granularity)
    for d in daterange(start, end):
        view = seller.day_view(marketplace_id, d, as_of)
        first = period_start(d, date_granularity)
        by_period.setdefault(first, PeriodTotals(Tally(currency))).add(view)
        tally_by_asin(view, key, by_asin)
        tally_day(view, total)
    by_asin = {k: t for k, t in by_asin.items() if listed(t)}
    return SalesAndTraffic(by_period, by_asin, total)


def _render_sales_and_traffic(seller: SimulatedSeller, request: ReportRequest) -> bytes:
    mp = _single_marketplace(seller, request)
    date_granularity = _option(request, "dateGranularity", "DAY")
    asin_granularity = _option(request, "asinGranularity", "PARENT")
    start, end = _date_window(seller, request)
    first, last = _clip_to_history(seller, start, end, request.as_of)
    figures = sales_and_traffic(
        seller, mp, first, last, date_granularity, asin_granularity, request.as_of
    )
    document = {
        "reportSpecification": {
            "reportType": request.report_type,
            "reportOptions": {
                "dateGranularity": date_granularity,
                "asinGranularity": asin_granularity,
            },
            "dataStartTime": start.isoformat(),
            "dataEndTime": end.isoformat(),
            "marketplaceIds": [mp],
        },
        "salesAndTrafficByDate": [
            {
                "date": d.isoformat(),
                "salesByDate": date_sales(p.tally),
                "trafficByDate": date_traffic(p),
            }
            for d, p in sorted(figures.by_period.items())
        ],
        "salesAndTrafficByAsin": [
            {
                **dict(zip(ASIN_KEYS[asin_granularity], k, strict=True)),
                "salesByAsin": asin_sales(t),
                "trafficByAsin": asin_traffic(t, figures.total),
            }
            for k, t in sorted(figures.by_asin.items())
        ],
    }
    return _json_bytes(document)


# --------------------------------------------------------------------------------------------
# Flat files
# --------------------------------------------------------------------------------------------


def _flat_file(columns: Iterable[str], rows: Iterable[Iterable[Any]], encoding: str) -> bytes:
    """Tab-separated text with a header line; tabs and line breaks in values become spaces.

    Characters the encoding lacks become ``?``, as in Amazon's Cp1252 files.
    """

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")

    lines = ["\t".join(columns)]
    lines.extend("\t".join(cell(v) for v in row) for row in rows)
    return ("\n".join(lines) + "\n").encode(encoding, errors="replace")


def _encoding(marketplace_ids: Iterable[str]) -> str:
    encodings = {marketplace(m).flat_file_encoding for m in marketplace_ids}
    if len(encodings) != 1:
        raise ValueError("a flat-file report's marketplaces must share one encoding")
    return encodings.pop()


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat(timespec="seconds") if value else ""


def _price(item: OrderItem, value: Decimal) -> str:
    """A money cell: blank while the order is Pending or after it was cancelled."""
    if item.order_status in ("Pending", "Cancelled"):
        return ""
    return str(money(value, item.currency))


def _bool(value: bool) -> str:
    return "true" if value else "false"


# column -> cell of an order item, in Amazon's column order
ALL_ORDERS_COLUMNS: dict[str, Callable[[OrderItem], Any]] = {
    "amazon-order-id": lambda i: i.amazon_order_id,
    "merchant-order-id": lambda i: i.merchant_order_id,
    "order-item-id": lambda i: i.order_item_id,
    "purchase-date": lambda i: _iso(i.purchase_date),
    "last-updated-date": lambda i: _iso(i.last_updated_date),
    "order-status": lambda i: i.order_status,
    "fulfillment-channel": lambda i: i.fulfillment_channel,
    "sales-channel": lambda i: i.sales_channel,
    "order-channel": lambda i: i.order_channel,
    "ship-service-level": lambda i: i.ship_service_level,
    "product-name": lambda i: i.product_name,
    "sku": lambda i: i.sku,
    "asin": lambda i: i.asin,
    "item-status": lambda i: i.item_status,
    "quantity": lambda i: 0 if i.is_cancelled else i.quantity,
    "currency": lambda i: i.currency,
    "item-price": lambda i: _price(i, i.item_price),
    "item-tax": lambda i: _price(i, i.item_tax),
    "shipping-price": lambda i: _price(i, i.shipping_price),
    "shipping-tax": lambda i: _price(i, i.shipping_tax),
    "gift-wrap-price": lambda i: _price(i, i.gift_wrap_price),
    "gift-wrap-tax": lambda i: _price(i, i.gift_wrap_tax),
    "item-promotion-discount": lambda i: _price(i, i.item_promotion_discount),
    "ship-promotion-discount": lambda i: _price(i, i.ship_promotion_discount),
    "ship-city": lambda i: i.ship_city,
    "ship-state": lambda i: i.ship_state,
    "ship-postal-code": lambda i: i.ship_postal_code,
    "ship-country": lambda i: i.ship_country,
    "promotion-ids": lambda i: i.promotion_ids,
    "cpf": lambda i: "",
    "is-business-order": lambda i: _bool(i.is_business_order),
    "purchase-order-number": lambda i: i.purchase_order_number,
    "price-designation": lambda i: i.price_designation,
    "signature-confirmation-recommended": lambda i: "false",
}

ORDER_FILTERS = {
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL": "order_date",
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL": "last_update",
}


def _instant_window(seller: SimulatedSeller, request: ReportRequest) -> tuple[datetime, datetime]:
    """All-orders window as instants; defaults: the last 30 days before ``as_of`` (or the
    end of the history)."""
    history_end = datetime.combine(
        seller.config.end_date + timedelta(days=1), datetime.min.time(), UTC
    )
    end = as_utc(request.data_end) if request.data_end else as_utc(request.as_of or history_end)
    start = as_utc(request.data_start) if request.data_start else end - timedelta(days=30)
    if end < start:
        raise ValueError("dataEndTime is before dataStartTime")
    return start, end


def _render_all_orders(seller: SimulatedSeller, request: ReportRequest) -> bytes:
    by = ORDER_FILTERS[request.report_type]
    start, end = _instant_window(seller, request)
    items: list[OrderItem] = []
    for mp in request.marketplace_ids:
        _known_marketplace(seller, mp)
        items.extend(seller.order_items(mp, start, end, by=by, as_of=request.as_of))
    if not items:
        raise NoDataError(f"no orders between {start} and {end}")
    sort_time = (
        (lambda i: i.purchase_date) if by == "order_date" else (lambda i: i.last_updated_date)
    )
    items.sort(key=lambda i: (sort_time(i), i.amazon_order_id, i.order_item_id))
    rows = ([cell(i) for cell in ALL_ORDERS_COLUMNS.values()] for i in items)
    return _flat_file(ALL_ORDERS_COLUMNS, rows, _encoding(request.marketplace_ids))


def _snapshot_date(seller: SimulatedSeller, request: ReportRequest) -> date:
    if request.as_of is None:
        return seller.config.end_date
    return min(seller.config.end_date, as_utc(request.as_of).date())


def _open_date(product: Product, marketplace_id: str) -> str:
    """The listing's creation time as Amazon prints it: local time with zone abbreviation."""
    seconds = int(stable_fraction(f"{product.sku}:open") * 86400)
    local = datetime.combine(
        product.open_date, datetime.min.time(), ZoneInfo(marketplace(marketplace_id).timezone)
    )
    return (local + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S %Z")


FBA_CHANNEL = {"na": "AMAZON_NA", "eu": "AMAZON_EU", "fe": "AMAZON_JP"}


def _listing_row(seller: SimulatedSeller, p: Product, mp: str) -> dict[str, Any]:
    market = marketplace(mp)
    quantity = "" if p.is_fba else seller.mfn_quantity(mp, p)
    return {
        "item-name": p.title(mp),
        "item-description": "",
        "listing-id": f"{p.open_date:%m%d}" + base36(scramble(p.index, 11, 36**7), 7),
        "seller-sku": p.sku,
        "price": str(p.price(mp)),
        "quantity": quantity,
        "open-date": _open_date(p, mp),
        "image-url": "https://m.media-amazon.com/images/I/"
        + base36(scramble(p.index, 5, 36**10), 10)
        + ".jpg",
        "item-is-marketplace": "y",
        "product-id-type": "1",
        "zshop-shipping-fee": "",
        "item-note": "",
        "item-condition": "11",
        "zshop-category1": "",
        "zshop-browse-path": "",
        "zshop-storefront-feature": "",
        "asin1": p.asin,
        "asin2": "",
        "asin3": "",
        "will-ship-internationally": "",
        "expedited-shipping": "",
        "zshop-boldface": "",
        "product-id": p.asin,
        "bid-for-featured-placement": "",
        "add-delete": "",
        "pending-quantity": "0" if p.active else "",
        "fulfillment-channel": FBA_CHANNEL.get(market.region, "AMAZON") if p.is_fba else "DEFAULT",
        "merchant-shipping-group": "Migrated Template",
        "status": "Active" if p.active else "Inactive",
    }


LISTINGS_COLUMNS = (
    "item-name",
    "item-description",
    "listing-id",
    "seller-sku",
    "price",
    "quantity",
    "open-date",
    "image-url",
    "item-is-marketplace",
    "product-id-type",
    "zshop-shipping-fee",
    "item-note",
    "item-condition",
    "zshop-category1",
    "zshop-browse-path",
    "zshop-storefront-feature",
    "asin1",
    "asin2",
    "asin3",
    "will-ship-internationally",
    "expedited-shipping",
    "zshop-boldface",
    "product-id",
    "bid-for-featured-placement",
    "add-delete",
    "pending-quantity",
    "fulfillment-channel",
    "merchant-shipping-group",
    "status",
)


def _render_listings(seller: SimulatedSeller, request: ReportRequest) -> bytes:
    mp = _single_marketplace(seller, request)
    snapshot = _snapshot_date(seller, request)
    rows = [_listing_row(seller, p, mp) for p in seller.products() if p.open_date <= snapshot]
    if not rows:
        raise NoDataError("no listings yet")
    return _flat_file(
        LISTINGS_COLUMNS, ([r[c] for c in LISTINGS_COLUMNS] for r in rows), _encoding([mp])
    )


INVENTORY_COLUMNS = (
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "mfn-listing-exists",
    "mfn-fulfillable-quantity",
    "afn-listing-exists",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "per-unit-volume",
    "afn-inbound-working-quantity",
    "afn-inbound-shipped-quantity",
    "afn-inbound-receiving-quantity",
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
)


def _render_inventory(seller: SimulatedSeller, request: ReportRequest) -> bytes:
    mp = _single_marketplace(seller, request)
    snapshot = _snapshot_date(seller, request)
    inventory = [
        r
        for r in seller.inventory(mp)
        if (p := seller.product(r.sku)) is not None and p.open_date <= snapshot
    ]
    if not inventory:
        raise NoDataError("no FBA inventory")
    rows = ([getattr(r, c.replace("-", "_")) for c in INVENTORY_COLUMNS] for r in inventory)
    return _flat_file(INVENTORY_COLUMNS, rows, _encoding([mp]))


def _render_returns(seller: SimulatedSeller, request: ReportRequest) -> bytes:
    """FBA customer returns processed in the window (``returns``: the rows and their rules)."""
    mp = _single_marketplace(seller, request)
    start, end = _instant_window(seller, request)
    rows = returns(seller, mp, start, end, as_of=request.as_of)
    if not rows:
        raise NoDataError(f"no FBA returns between {start} and {end}")
    return _flat_file(RETURN_COLUMNS, (r.cells() for r in rows), _encoding([mp]))


# --------------------------------------------------------------------------------------------
# Brand Analytics
# --------------------------------------------------------------------------------------------

# report type -> (seller method, top-level array name, rows carry their own period dates)
BRAND_ANALYTICS: dict[
    str, tuple[Callable[[SimulatedSeller, str, date, date], list[dict]], str, bool]
] = {
    "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT": (
        SimulatedSeller.search_terms,
        "dataByDepartmentAndSearchTerm",
        False,
    ),
    "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT": (
        SimulatedSeller.repeat_purchase,
        "dataByAsin",
        True,
    ),
    "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT": (SimulatedSeller.market_basket, "dataByAsin", True),
}


def _render_brand_analytics(seller: SimulatedSeller, request: ReportRequest) -> bytes:
    """Rows per whole period (weeks Sunday to Saturday) covering the requested window.

    Repeat purchase and market basket rows carry each period's dates; search-term rows do
    not, so that report covers the whole (snapped) window as one period.
    """
    rows_of, array, dated = BRAND_ANALYTICS[request.report_type]
    mp = _single_marketplace(seller, request)
    period = _option(request, "reportPeriod", "WEEK")
    start, end = _date_window(seller, request)
    windows = list(periods(start, end, period))
    if not dated:
        windows = [(windows[0][0], windows[-1][1])]
    rows = [row for first, last in windows for row in rows_of(seller, mp, first, last)]
    if not rows:
        raise NoDataError(f"no Brand Analytics data between {start} and {end}")
    document = {
        "reportSpecification": {
            "reportType": request.report_type,
            "reportOptions": {"reportPeriod": period},
            "dataStartTime": windows[0][0].isoformat(),
            "dataEndTime": windows[-1][1].isoformat(),
            "marketplaceIds": [mp],
        },
        array: rows,
    }
    return _json_bytes(document)


# --------------------------------------------------------------------------------------------
# The table of report types and the entry point
# --------------------------------------------------------------------------------------------

_PERIODS = ("DAY", "WEEK", "MONTH", "QUARTER")

REPORT_TYPES: dict[str, ReportType] = {
    "GET_SALES_AND_TRAFFIC_REPORT": ReportType(
        "json",
        _render_sales_and_traffic,
        "sellerSalesAndTrafficReport.json",
        {
            "dateGranularity": ("DAY", "WEEK", "MONTH"),
            "asinGranularity": ("PARENT", "CHILD", "SKU"),
        },
    ),
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL": ReportType("tsv", _render_all_orders),
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL": ReportType("tsv", _render_all_orders),
    "GET_MERCHANT_LISTINGS_ALL_DATA": ReportType("tsv", _render_listings),
    "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA": ReportType("tsv", _render_inventory),
    "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA": ReportType("tsv", _render_returns),
    "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT": ReportType(
        "json",
        _render_brand_analytics,
        "sellingPartnerSearchTermsReport.json",
        {"reportPeriod": _PERIODS},
    ),
    "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT": ReportType(
        "json",
        _render_brand_analytics,
        "sellingPartnerRepeatPurchaseReport.json",
        {"reportPeriod": ("WEEK", "MONTH", "QUARTER")},
    ),
    "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT": ReportType(
        "json",
        _render_brand_analytics,
        "sellingPartnerMarketBasketAnalysisReport.json",
        {"reportPeriod": _PERIODS},
    ),
}


def render_report(
    seller: SimulatedSeller,
    report_type: str,
    marketplace_ids: list[str],
    data_start: datetime | None,
    data_end: datetime | None,
    options: dict[str, str] | None = None,
    as_of: datetime | None = None,
) -> bytes:
    """The document of one report request, as Amazon would deliver it (uncompressed).

    Raises ``NoDataError`` when the window has no data and ``ValueError`` for a request
    Amazon would refuse or fail (unknown type, bad option, several marketplaces for a
    one-marketplace report).
    """
    spec = REPORT_TYPES.get(report_type)
    if spec is None:
        raise ValueError(
            f"the sandbox does not produce {report_type}; "
            f"supported: {', '.join(sorted(REPORT_TYPES))}"
        )
    if not marketplace_ids:
        raise ValueError("marketplaceIds is empty")
    request = ReportRequest(
        report_type, tuple(marketplace_ids), data_start, data_end, dict(options or {}), as_of
    )
    return spec.render(seller, request)


# --------------------------------------------------------------------------------------------
# Data Kiosk
# --------------------------------------------------------------------------------------------

_CALL = re.compile(r"(salesAndTrafficByDate|salesAndTrafficByAsin)\s*\(([^)]*)\)")
_ARG = re.compile(r"(\w+)\s*:\s*(\"[^\"]*\"|\[[^\]]*\]|\w+)")
_TOKEN = re.compile(r"[{}]|[A-Za-z_]\w*")


def _parse_args(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, raw in _ARG.findall(text):
        if raw.startswith("["):
            args[name] = re.findall(r"\"([^\"]*)\"", raw)
        else:
            args[name] = raw.strip('"')
    return args


def _parse_selection(text: str) -> dict[str, Any]:
    """The field selection of ``{ a b { c } }`` as ``{"a": {}, "b": {"c": {}}}``."""
    tokens = _TOKEN.findall(text)
    stack: list[dict[str, Any]] = [{}]
    last: str | None = None
    for token in tokens:
        if token == "{":
            if last is None:
                continue
            stack[-1][last] = {}
            stack.append(stack[-1][last])
            last = None
        elif token == "}":
            if len(stack) == 1:
                break
            stack.pop()
            last = None
        else:
            stack[-1].setdefault(token, {})
            last = token
    return stack[0]


def _selection_after(query: str, position: int) -> dict[str, Any]:
    """The balanced ``{...}`` block starting after ``position``, parsed."""
    begin = query.find("{", position)
    if begin < 0:
        return {}
    depth = 0
    for i in range(begin, len(query)):
        depth += {"{": 1, "}": -1}.get(query[i], 0)
        if depth == 0:
            return _parse_selection(query[begin + 1 : i])
    return _parse_selection(query[begin + 1 :])


def _project(record: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    """Keep the selected fields (all when nothing is selected), recursively."""
    if not selection:
        return record
    out = {}
    for name, sub in selection.items():
        if name in record:
            value = record[name]
            out[name] = _project(value, sub) if isinstance(value, dict) and sub else value
    return out


def _kiosk_window(start: date, end: date, granularity: str) -> tuple[date, date]:
    """Snap as Data Kiosk does: start to the next period start, end to the previous end."""
    if granularity in ("WEEK", "MONTH") and period_start(start, granularity) != start:
        start = period_end(period_start(start, granularity), granularity) + timedelta(days=1)
    if granularity in ("WEEK", "MONTH"):
        last_start = period_start(end, granularity)
        if period_end(last_start, granularity) != end:
            end = last_start - timedelta(days=1)
    return start, end


def _kiosk_records(
    seller: SimulatedSeller, call: str, args: dict[str, Any], as_of: datetime | None
) -> list[dict[str, Any]]:
    granularity = str(args.get("aggregateBy", "DAY" if call.endswith("Date") else "CHILD"))
    start = date.fromisoformat(args["startDate"])
    end = date.fromisoformat(args["endDate"])
    records: list[dict[str, Any]] = []
    for mp in args.get("marketplaceIds") or list(seller.config.marketplace_ids):
        try:
            _known_marketplace(seller, mp)
            first, last = start, end
            if call.endswith("Date"):
                first, last = _kiosk_window(start, end, granularity)
            first, last = _clip_to_history(seller, first, last, as_of)
        except NoDataError:
            continue
        if call.endswith("Date"):
            records.extend(_kiosk_by_date(seller, mp, first, last, granularity, as_of))
        else:
            records.extend(_kiosk_by_asin(seller, mp, start, end, first, last, granularity, as_of))
    return records


def _kiosk_by_date(
    seller: SimulatedSeller,
    mp: str,
    first: date,
    last: date,
    granularity: str,
    as_of: datetime | None,
) -> Iterator[dict[str, Any]]:
    figures = sales_and_traffic(seller, mp, first, last, granularity, "CHILD", as_of)
    for d, p in sorted(figures.by_period.items()):
        yield {
            "startDate": max(d, first).isoformat(),
            "endDate": min(period_end(d, granularity), last).isoformat(),
            "marketplaceId": mp,
            "sales": date_sales(p.tally),
            "traffic": date_traffic(p),
        }


def _kiosk_by_asin(
    seller: SimulatedSeller,
    mp: str,
    start: date,
    end: date,
    first: date,
    last: date,
    granularity: str,
    as_of: datetime | None,
) -> Iterator[dict[str, Any]]:
    figures = sales_and_traffic(
        seller, mp, first, last, "DAY", granularity, as_of, listed=has_activity
    )
    for key, t in sorted(figures.by_asin.items()):
        ids = dict(zip(ASIN_KEYS[granularity], key, strict=True))
        sales = {
            **asin_sales(t),
            "unitsRefunded": t.units_refunded,
            "refundRate": min(100.0, percentage(t.units_refunded, t.units_ordered)),
            "unitsShipped": t.units_shipped,
            "shippedProductSales": _amount(t.shipped_product_sales, t.currency),
            "ordersShipped": t.orders_shipped,
        }
        yield {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "marketplaceId": mp,
            **ids,
            "sales": sales,
            "traffic": asin_traffic(t, figures.total),
        }


def render_data_kiosk(seller: SimulatedSeller, query: str, as_of: datetime | None = None) -> bytes:
    """The JSON-lines document of an ``analytics_salesAndTraffic_2024_04_24`` query.

    Understands ``salesAndTrafficByDate`` and ``salesAndTrafficByAsin`` with their
    ``startDate``, ``endDate``, ``aggregateBy`` and ``marketplaceIds`` arguments, and returns
    the selected fields only. Raises ``NoDataError`` when nothing matches (Amazon then
    returns no document) and ``ValueError`` for a query it cannot read.
    """
    if "analytics_salesAndTraffic_2024_04_24" not in query:
        raise ValueError("the sandbox answers analytics_salesAndTraffic_2024_04_24 queries only")
    lines = []
    for match in _CALL.finditer(query):
        args = _parse_args(match.group(2))
        if "startDate" not in args or "endDate" not in args:
            raise ValueError(f"{match.group(1)} needs startDate and endDate")
        selection = _selection_after(query, match.end())
        for record in _kiosk_records(seller, match.group(1), args, as_of):
            lines.append(
                json.dumps(_project(record, selection), ensure_ascii=False, separators=(",", ":"))
            )
    if not lines:
        raise NoDataError("the query matched no data")
    return ("\n".join(lines) + "\n").encode("utf-8")
