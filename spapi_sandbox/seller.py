"""A deterministic simulated Amazon seller: the data behind the local SP-API sandbox.

The seller has a catalog (brands, categories, parent/child variations, titles in the
marketplace's language, prices in its currency) and, for every local calendar day of its
history in every marketplace, traffic per ASIN and the order items placed that day.

Everything is derived from seeded random generators keyed by what is generated
(``random.Random(f"{seed}:{kind}:{key}")``), so a day, an offer listing or a Brand Analytics
period is reproducible on its own, whatever was generated before it. Only the catalog is built
in ``__init__``; days are generated lazily and cached (a bounded LRU), so a seller with 2000
products and two years of history constructs instantly.

Competitors: every noun family of the catalog (a department and an English noun, as "Home &
Kitchen" and "Chef's Knife") has ``RIVALS_PER_FAMILY`` rival products of other brands, one of
them launched within the history (a new entrant). A rival's price and sales rank move from one
marketplace-local day to the next (``rival_day``), resellers come and go (``rival_offers``);
the catalog, pricing and Brand Analytics serve them, ``competitor_truth`` and
``search_results`` say what they serve on a day, and ``local_noun`` gives the keyword that
finds a family in a marketplace's language ("Kochmesser" on amazon.de).

Orders change after the fact, as on Amazon: every order starts ``Pending``; most ship within
hours to three days, about 3 % are cancelled within two days and 2 to 12 % of shipped items
(a rate per product, ``refund_rate``) are refunded up to two weeks later. ``OrderItem.as_of(t)``
gives the state a report requested at ``t`` shows.

Reconciliation rules (what ``truth()`` means, and what the reports show):

- a marketplace's day is its local calendar day (``regions.marketplace(...).timezone``);
- ``units_ordered``/``ordered_product_sales``/``total_order_items`` of (day, ASIN) count the
  order items of that ASIN purchased on that local day and not cancelled: units are the sum of
  ``quantity``, sales the sum of ``item_price`` (the line total: unit price times quantity,
  before promotion discounts, without tax or shipping), order items the number of lines;
- ``units_refunded`` counts refunded units by the local day of the refund;
- ``units_shipped``/``shipped_product_sales`` count items by the local day of shipment;
- an ASIN with only shipments or refunds on a day is a ``truth()`` row with zero ordered units
  and sessions: Data Kiosk's by-ASIN rows show it, the Sales & Traffic report's by-ASIN rows
  leave it out (they have no shipped or refunded fields) and count it in the by-date totals;
- traffic (sessions, page views, Buy Box) is generated per ASIN and day; the Buy Box
  percentage is ``buy_box_page_views / page_views`` (B2B: of the business page views, at the
  same Buy Box share), never above 100, also on scaled-down provisional days;
- requested within 72 hours after the day ended, the day is *provisional*
  (``restatement_version`` < ``FINAL_VERSION``): a few late-recorded order items and sessions
  are missing and orders cancelled later still count. From 72 hours on, the numbers are final
  and equal ``truth()``.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from zoneinfo import ZoneInfo

from spapi_toolkit.regions import Marketplace, marketplace, marketplaces

FINAL_VERSION = 3  # restatement versions 0..2 are provisional (one per 24 h after day end)
RESTATEMENT_HOURS = 72
LATE_RECORDED_SHARE = 0.02  # share of order items missing per provisional version step
SHIP_LOOKBACK_DAYS = 4  # an order ships at most ~3 days after purchase
REFUND_LOOKBACK_DAYS = 12  # ... and is refunded at most ~11 days after purchase
DAY_CACHE_SIZE = 96

# --------------------------------------------------------------------------------------------
# Static tables
# --------------------------------------------------------------------------------------------

# currency -> (units per USD, decimal places, VAT-style tax included in price?, tax rate)
CURRENCIES: dict[str, tuple[Decimal, int, bool, Decimal]] = {
    "USD": (Decimal("1"), 2, False, Decimal("0.07")),
    "CAD": (Decimal("1.37"), 2, False, Decimal("0.13")),
    "MXN": (Decimal("17"), 2, True, Decimal("0.16")),
    "BRL": (Decimal("5"), 2, True, Decimal("0.17")),
    "EUR": (Decimal("0.92"), 2, True, Decimal("0.19")),
    "GBP": (Decimal("0.79"), 2, True, Decimal("0.20")),
    "SEK": (Decimal("10.5"), 2, True, Decimal("0.25")),
    "PLN": (Decimal("4"), 2, True, Decimal("0.23")),
    "JPY": (Decimal("150"), 0, True, Decimal("0.10")),
    "AUD": (Decimal("1.5"), 2, True, Decimal("0.10")),
    "INR": (Decimal("83"), 2, True, Decimal("0.18")),
}
DEFAULT_CURRENCY = (Decimal("1"), 2, True, Decimal("0.10"))

# relative traffic of a marketplace (US = 1)
MARKET_SCALE: dict[str, float] = {
    "ATVPDKIKX0DER": 1.0,
    "A1PA6795UKMFR9": 0.45,
    "A1VC38T7YXB528": 0.35,
}
DEFAULT_MARKET_SCALE = 0.25

# amazon-order-id prefix per region
ORDER_PREFIX = {"na": 111, "eu": 302, "fe": 503}

BRANDS = ("Northpeak", "Lumora", "Kestrel & Co", "Vantiq", "Brightfold", "Oakhaven")
# The brands of competitors ("rivals"): never one of ours, and no catalog noun in their names.
RIVAL_BRANDS = (
    "Ferncliff",
    "Tidewell",
    "Corvane",
    "Halvorsen Goods",
    "Marlowe & Pine",
    "Stonebridge",
    "Quillion",
)
RIVALS_PER_FAMILY = 4
RIVAL_ASIN_BASE = 20_000_000  # rival ASIN numbers; ours are below, parents from 10_000_000
RESELLER_POOL = 5  # resellers who may offer one rival ASIN; 0 to 3 of them do on a day
PRICE_CUT_SHARE = 0.12  # share of days a rival cuts its price for the day


@dataclass(frozen=True)
class Category:
    """One product category: its department, nouns per language and USD price range."""

    key: str
    department: str
    nouns: dict[str, tuple[str, ...]]
    price_range: tuple[int, int]
    variation: str  # "color" or "size"


CATEGORIES = (
    Category(
        "kitchen",
        "Home & Kitchen",
        {
            "en": ("Chef's Knife", "Cutting Board", "Water Bottle", "Coffee Grinder"),
            "de": ("Kochmesser", "Schneidebrett", "Trinkflasche", "Kaffeemühle"),
            "ja": ("包丁", "まな板", "水筒", "コーヒーミル"),
        },
        (12, 90),
        "color",
    ),
    Category(
        "sports",
        "Sports & Outdoors",
        {
            "en": ("Yoga Mat", "Resistance Bands", "Running Belt", "Camping Lantern"),
            "de": ("Yogamatte", "Widerstandsbänder", "Laufgürtel", "Campinglaterne"),
            "ja": ("ヨガマット", "トレーニングチューブ", "ランニングポーチ", "ランタン"),
        },
        (15, 70),
        "size",
    ),
    Category(
        "electronics",
        "Electronics",
        {
            "en": ("USB-C Cable", "Wireless Charger", "Bluetooth Speaker", "Power Bank"),
            "de": ("USB-C-Kabel", "Kabelloses Ladegerät", "Bluetooth-Lautsprecher", "Powerbank"),
            "ja": (
                "USB-Cケーブル",
                "ワイヤレス充電器",
                "Bluetoothスピーカー",
                "モバイルバッテリー",
            ),
        },
        (9, 120),
        "color",
    ),
    Category(
        "beauty",
        "Beauty",
        {
            "en": ("Facial Cleanser", "Hair Brush", "Body Lotion"),
            "de": ("Gesichtsreiniger", "Haarbürste", "Körperlotion"),
            "ja": ("洗顔料", "ヘアブラシ", "ボディローション"),
        },
        (8, 40),
        "size",
    ),
    Category(
        "pet",
        "Pet Supplies",
        {
            "en": ("Dog Leash", "Cat Scratcher", "Pet Bed"),
            "de": ("Hundeleine", "Katzenkratzbrett", "Haustierbett"),
            "ja": ("犬用リード", "猫用爪とぎ", "ペットベッド"),
        },
        (10, 60),
        "size",
    ),
    Category(
        "office",
        "Office Products",
        {
            "en": ("Notebook", "Desk Organizer", "Gel Pens"),
            "de": ("Notizbuch", "Schreibtisch-Organizer", "Gelstifte"),
            "ja": ("ノート", "デスクオーガナイザー", "ゲルインクボールペン"),
        },
        (6, 45),
        "color",
    ),
)

# English noun -> its category and position among the category's nouns. A noun family is a
# department and an English noun; the nouns are distinct, so the noun alone names the family.
NOUNS: dict[str, tuple[Category, int]] = {
    noun: (category, index)
    for category in CATEGORIES
    for index, noun in enumerate(category.nouns["en"])
}

ADJECTIVES: dict[str, tuple[str, ...]] = {
    "en": ("Premium", "Compact", "Eco", "Pro", "Classic", "Ultra"),
    "de": ("Premium", "Kompakt", "Öko", "Pro", "Klassisch", "Ultra"),
    "ja": ("プレミアム", "コンパクト", "エコ", "プロ", "クラシック", "ウルトラ"),
}
VARIATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "color": {
        "en": ("Black", "Blue", "Red", "Green", "White"),
        "de": ("Schwarz", "Blau", "Rot", "Grün", "Weiß"),
        "ja": ("ブラック", "ブルー", "レッド", "グリーン", "ホワイト"),
    },
    "size": {
        "en": ("Small", "Medium", "Large", "XL"),
        "de": ("Klein", "Mittel", "Groß", "XL"),
        "ja": ("S", "M", "L", "XL"),
    },
}

# (city, state/region, postal code prefix) per country
ADDRESSES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "US": (
        ("SEATTLE", "WA", "981"),
        ("AUSTIN", "TX", "787"),
        ("BROOKLYN", "NY", "112"),
        ("DENVER", "CO", "802"),
        ("CHICAGO", "IL", "606"),
        ("MIAMI", "FL", "331"),
        ("SAN JOSE", "CA", "951"),
        ("COLUMBUS", "OH", "432"),
    ),
    "DE": (
        ("Berlin", "Berlin", "101"),
        ("München", "Bayern", "803"),
        ("Hamburg", "Hamburg", "204"),
        ("Köln", "Nordrhein-Westfalen", "506"),
        ("Leipzig", "Sachsen", "041"),
        ("Stuttgart", "Baden-Württemberg", "701"),
    ),
    "JP": (
        ("渋谷区", "東京都", "150"),
        ("大阪市北区", "大阪府", "530"),
        ("名古屋市中区", "愛知県", "460"),
        ("札幌市中央区", "北海道", "060"),
        ("福岡市博多区", "福岡県", "812"),
        ("横浜市西区", "神奈川県", "220"),
    ),
}
DEFAULT_ADDRESSES = (("CAPITAL CITY", "", "100"),)

WEEKDAY_FACTOR = (1.0, 0.97, 0.95, 0.98, 1.02, 1.08, 1.12)  # Monday .. Sunday
MONTH_FACTOR = (0.85, 0.88, 0.95, 0.95, 0.97, 1.0, 1.05, 1.0, 0.98, 1.02, 1.1, 1.25)
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 6, 6, 6, 7, 8, 9, 10, 9, 6, 3)
HOUR_CUMULATIVE = tuple(itertools.accumulate(HOUR_WEIGHTS))
QUANTITY_CUMULATIVE = (85, 96, 100)  # 1, 2 or 3 units
SERVICE_LEVELS = (("Standard", 70), ("Expedited", 85), ("SecondDay", 95), ("NextDay", 100))


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SellerConfig:
    """What defines a simulated seller; equal configs give byte-identical data."""

    seed: int = 42
    seller_id: str = "A2SANDBOXSELLER1"
    products: int = 20  # number of child products (ASINs/SKUs)
    days: int = 30  # history length ending at end_date (inclusive)
    end_date: date = date(2026, 11, 27)
    marketplace_ids: tuple[str, ...] = ("ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528")

    @property
    def start_date(self) -> date:
        """The first day of the history."""
        return self.end_date - timedelta(days=self.days - 1)


@dataclass(frozen=True, eq=False)
class Product:
    """One child product (a buyable ASIN with our SKU), with its parent and market data."""

    index: int
    asin: str
    sku: str
    fnsku: str
    parent_asin: str  # equal to asin for a product without variations
    brand: str
    category: str
    department: str
    noun: str  # English noun, the search-term family
    variation: str  # English variation value ("Blue", "Large")
    titles: dict[str, str]  # marketplace id -> title in the marketplace's language
    prices: dict[str, Decimal]  # marketplace id -> list price in the marketplace's currency
    base_price_usd: Decimal
    sales_rank: int
    fulfillment_channel: str  # "Amazon" (FBA) or "Merchant"
    open_date: date
    active: bool
    base_sessions: float = field(repr=False)
    conversion: float = field(repr=False)
    buy_box_base: float = field(repr=False)
    competitors: int = field(repr=False)

    @property
    def is_fba(self) -> bool:
        return self.fulfillment_channel == "Amazon"

    def title(self, marketplace_id: str) -> str:
        return self.titles.get(marketplace_id) or next(iter(self.titles.values()))

    def price(self, marketplace_id: str) -> Decimal:
        return self.prices.get(marketplace_id) or list_price(self.base_price_usd, marketplace_id)


@dataclass(frozen=True)
class Rival:
    """A competitor's product in one of our noun families: its brand sells it, resellers may.

    ``prices`` and ``base_rank`` are its base levels; the price and sales rank of a day are
    ``SimulatedSeller.rival_day``'s. Before ``launch_date`` Amazon does not list it.
    """

    asin: str
    brand: str
    category: str
    department: str
    noun: str  # English noun: the family, as Product.noun
    titles: dict[str, str]  # marketplace id -> title in the marketplace's language
    prices: dict[str, Decimal]  # marketplace id -> base list price in its currency
    base_price_usd: Decimal
    base_rank: int
    fulfillment: str  # of the brand's own offer: "FBA" or "MFN"
    launch_date: date

    @property
    def is_fba(self) -> bool:
        return self.fulfillment == "FBA"

    def title(self, marketplace_id: str) -> str:
        return self.titles.get(marketplace_id) or next(iter(self.titles.values()))

    def price(self, marketplace_id: str) -> Decimal:
        return self.prices.get(marketplace_id) or list_price(self.base_price_usd, marketplace_id)

    def launched_by(self, d: date) -> bool:
        return self.launch_date <= d


@dataclass(frozen=True)
class RivalDay:
    """A launched rival on one marketplace-local day: its brand's price and its sales rank."""

    price: Decimal
    sales_rank: int
    price_cut: bool  # the brand cut its price for the day (and sold better for it)


class _TrafficTotals:
    """The totals of the traffic counters that ``AsinTraffic`` and ``Tally`` both carry."""

    browser_sessions: int
    mobile_app_sessions: int
    browser_page_views: int
    mobile_app_page_views: int
    browser_sessions_b2b: int
    mobile_app_sessions_b2b: int
    browser_page_views_b2b: int
    mobile_app_page_views_b2b: int
    buy_box_page_views: int
    buy_box_page_views_b2b: int

    @property
    def sessions(self) -> int:
        return self.browser_sessions + self.mobile_app_sessions

    @property
    def page_views(self) -> int:
        return self.browser_page_views + self.mobile_app_page_views

    @property
    def sessions_b2b(self) -> int:
        return self.browser_sessions_b2b + self.mobile_app_sessions_b2b

    @property
    def page_views_b2b(self) -> int:
        return self.browser_page_views_b2b + self.mobile_app_page_views_b2b

    @property
    def buy_box_percentage(self) -> float:
        return percentage(self.buy_box_page_views, self.page_views)

    @property
    def buy_box_percentage_b2b(self) -> float:
        return percentage(self.buy_box_page_views_b2b, self.page_views_b2b)


@dataclass(frozen=True)
class AsinTraffic(_TrafficTotals):
    """One ASIN's traffic on one day."""

    browser_sessions: int
    mobile_app_sessions: int
    browser_page_views: int
    mobile_app_page_views: int
    browser_sessions_b2b: int
    mobile_app_sessions_b2b: int
    browser_page_views_b2b: int
    mobile_app_page_views_b2b: int
    buy_box_page_views: int  # page views on which our offer held the Buy Box
    buy_box_page_views_b2b: int  # the business customers' ones among them

    def scaled(self, factor: float) -> AsinTraffic:
        """The traffic with every count scaled down (provisional or partial days).

        Each count is truncated on its own, so the Buy Box page views are capped by the scaled
        page views they are part of (the sum of two truncated counts can be one below the
        truncated sum): a Buy Box percentage never exceeds 100.
        """
        values = {name: int(getattr(self, name) * factor) for name in self.__dataclass_fields__}
        views = values["browser_page_views"] + values["mobile_app_page_views"]
        views_b2b = values["browser_page_views_b2b"] + values["mobile_app_page_views_b2b"]
        values["buy_box_page_views"] = min(values["buy_box_page_views"], views)
        values["buy_box_page_views_b2b"] = min(
            values["buy_box_page_views_b2b"], views_b2b, values["buy_box_page_views"]
        )
        return AsinTraffic(**values)


@dataclass(frozen=True)
class StatusEvent:
    """A change of an order's status at a point in time."""

    at: datetime
    order_status: str
    item_status: str


@dataclass(frozen=True)
class OrderItem:
    """One line of one order, in its final state (see ``as_of`` for earlier states).

    Money is ``Decimal`` in the marketplace currency; ``item_price`` is the line total.
    """

    amazon_order_id: str
    merchant_order_id: str
    order_item_id: str
    marketplace_id: str
    purchase_date: datetime  # UTC
    local_date: date  # the marketplace-local calendar day of purchase
    last_updated_date: datetime
    order_status: str
    fulfillment_channel: str
    sales_channel: str
    order_channel: str
    ship_service_level: str
    product_name: str
    sku: str
    asin: str
    parent_asin: str
    item_status: str
    quantity: int
    currency: str
    item_price: Decimal
    item_tax: Decimal
    shipping_price: Decimal
    shipping_tax: Decimal
    gift_wrap_price: Decimal
    gift_wrap_tax: Decimal
    item_promotion_discount: Decimal
    ship_promotion_discount: Decimal
    ship_city: str
    ship_state: str
    ship_postal_code: str
    ship_country: str
    promotion_ids: str
    is_business_order: bool
    purchase_order_number: str
    price_designation: str
    customer_id: str  # an opaque buyer key for Brand Analytics; never in flat files
    events: tuple[StatusEvent, ...]
    ship_date: datetime | None
    refund_date: datetime | None
    units_refunded: int

    @property
    def is_cancelled(self) -> bool:
        return self.order_status == "Cancelled"

    def as_of(self, at: datetime | None) -> OrderItem | None:
        """The item as a report requested at ``at`` shows it; None if not yet purchased."""
        if at is None or at >= self.last_updated_date:
            return self
        if at < self.purchase_date:
            return None
        seen = [e for e in self.events if e.at <= at]
        last = seen[-1]
        shipped = self.ship_date if self.ship_date and self.ship_date <= at else None
        refunded = self.refund_date if self.refund_date and self.refund_date <= at else None
        return replace(
            self,
            order_status=last.order_status,
            item_status=last.item_status,
            last_updated_date=last.at,
            events=tuple(seen),
            ship_date=shipped,
            refund_date=refunded,
            units_refunded=self.units_refunded if refunded else 0,
        )


@dataclass(frozen=True)
class DayActivity:
    """One marketplace-local day: traffic per ASIN and the order items purchased that day."""

    marketplace_id: str
    date: date
    traffic: dict[str, AsinTraffic]
    order_items: tuple[OrderItem, ...]
    feedback_received: int
    negative_feedback_received: int
    offer_count: int  # active listings that day
    parent_items: int  # distinct parent items among them


@dataclass(frozen=True)
class InventoryRow:
    """One FBA SKU's quantities (the columns of the MYI unsuppressed inventory report)."""

    sku: str
    fnsku: str
    asin: str
    product_name: str
    condition: str
    your_price: Decimal
    mfn_listing_exists: str
    mfn_fulfillable_quantity: int | None
    afn_listing_exists: str
    afn_warehouse_quantity: int
    afn_fulfillable_quantity: int
    afn_unsellable_quantity: int
    afn_reserved_quantity: int
    afn_total_quantity: int
    per_unit_volume: Decimal
    afn_inbound_working_quantity: int
    afn_inbound_shipped_quantity: int
    afn_inbound_receiving_quantity: int
    afn_researching_quantity: int
    afn_reserved_future_supply: int
    afn_future_supply_buyable: int


@dataclass(frozen=True)
class Offer:
    """One offer on an ASIN's detail page at one hour (ours or a competitor's)."""

    seller_id: str
    listing_price: Decimal
    shipping: Decimal
    currency: str
    condition: str
    is_fulfilled_by_amazon: bool
    is_buy_box_winner: bool
    is_my_offer: bool
    feedback_count: int
    feedback_rating: int  # percent positive

    @property
    def landed_price(self) -> Decimal:
        return self.listing_price + self.shipping


@dataclass
class Tally(_TrafficTotals):
    """Running totals of sales and traffic; the one place where the report rules live."""

    currency: str
    units_ordered: int = 0
    ordered_product_sales: Decimal = Decimal(0)
    total_order_items: int = 0
    units_ordered_b2b: int = 0
    ordered_product_sales_b2b: Decimal = Decimal(0)
    total_order_items_b2b: int = 0
    units_refunded: int = 0
    units_refunded_b2b: int = 0
    units_shipped: int = 0
    shipped_product_sales: Decimal = Decimal(0)
    shipped_orders: set[str] = field(default_factory=set)
    browser_sessions: int = 0
    mobile_app_sessions: int = 0
    browser_page_views: int = 0
    mobile_app_page_views: int = 0
    browser_sessions_b2b: int = 0
    mobile_app_sessions_b2b: int = 0
    browser_page_views_b2b: int = 0
    mobile_app_page_views_b2b: int = 0
    buy_box_page_views: int = 0
    buy_box_page_views_b2b: int = 0

    def add_ordered(self, item: OrderItem) -> None:
        self.units_ordered += item.quantity
        self.ordered_product_sales += item.item_price
        self.total_order_items += 1
        if item.is_business_order:
            self.units_ordered_b2b += item.quantity
            self.ordered_product_sales_b2b += item.item_price
            self.total_order_items_b2b += 1

    def add_shipped(self, item: OrderItem) -> None:
        self.units_shipped += item.quantity
        self.shipped_product_sales += item.item_price
        self.shipped_orders.add(item.amazon_order_id)

    def add_refunded(self, item: OrderItem) -> None:
        self.units_refunded += item.units_refunded
        if item.is_business_order:
            self.units_refunded_b2b += item.units_refunded

    def add_traffic(self, traffic: AsinTraffic) -> None:
        for name in AsinTraffic.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(traffic, name))

    @property
    def orders_shipped(self) -> int:
        return len(self.shipped_orders)

    @property
    def is_empty(self) -> bool:
        return not (
            self.sessions or self.total_order_items or self.units_refunded or self.units_shipped
        )


@dataclass(frozen=True)
class DayView:
    """A day as a report requested at some time sees it (see ``SimulatedSeller.day_view``)."""

    marketplace_id: str
    date: date
    version: int
    ordered: tuple[OrderItem, ...]  # counted as ordered that day
    shipped: tuple[OrderItem, ...]  # shipped that day
    refunded: tuple[OrderItem, ...]  # refunded that day
    traffic: dict[str, AsinTraffic]
    feedback_received: int
    negative_feedback_received: int
    offer_count: int
    parent_items: int


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def percentage(part: float, whole: float) -> float:
    """``part / whole`` in percent with two decimals (0 for an empty whole)."""
    return round(100.0 * part / whole, 2) if whole else 0.0


def rng_for(seed: int, kind: str, key: str) -> random.Random:
    """The generator of one independently reproducible piece of data."""
    return random.Random(f"{seed}:{kind}:{key}")


def refund_rate(seed: int, asin: str) -> float:
    """The share of a product's shipped items that are refunded: 2 to 12 %, one rate per
    product (what it is and how it is described make some come back more than others)."""
    return 0.02 + 0.10 * stable_fraction(f"{seed}:refund-rate:{asin}")


def stable_fraction(text: str) -> float:
    """A deterministic number in [0, 1) from a string (not Python's salted ``hash``)."""
    return zlib.crc32(text.encode()) / 2**32


def currency_of(marketplace_id: str) -> str:
    return marketplace(marketplace_id).currency


def money(value: Decimal | float, currency: str) -> Decimal:
    """Round to the currency's minor unit (JPY has none)."""
    places = CURRENCIES.get(currency, DEFAULT_CURRENCY)[1]
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def list_price(usd: Decimal, marketplace_id: str) -> Decimal:
    """A charm price in the marketplace's currency (19.99 USD, 18.99 EUR, 2980 JPY)."""
    currency = currency_of(marketplace_id)
    rate, places, _, _ = CURRENCIES.get(currency, DEFAULT_CURRENCY)
    converted = usd * rate
    if places == 0:
        return Decimal(max(100, int(converted / 100 + 1) * 100 - 20))
    return Decimal(int(converted)) + Decimal("0.99")


def language_of(market: Marketplace) -> str:
    lang = market.language.split("_")[0]
    return lang if lang in ADJECTIVES else "en"


def base36(number: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(width):
        number, rem = divmod(number, 36)
        out.append(digits[rem])
    return "".join(reversed(out))


@cache
def _multiplier(modulus: int) -> int:
    """A multiplier near ``modulus / golden ratio`` and coprime to it."""
    m = int(modulus * 0.6180339887) | 1
    while math.gcd(m, modulus) != 1:
        m += 2
    return m


def scramble(number: int, salt: int, modulus: int) -> int:
    """A bijection on ``range(modulus)`` (for a fixed salt) that looks random."""
    return ((number + salt * 104_729 + 1) * _multiplier(modulus)) % modulus


def make_asin(number: int, seed: int) -> str:
    return "B0" + base36(scramble(number, seed, 36**8), 8)


def brand_seller_id(brand: str) -> str:
    """The seller id under which a rival brand sells its own products (14 characters)."""
    return "A" + base36(scramble(zlib.crc32(f"brand:{brand}".encode()), 11, 36**13), 13)


def local_day(marketplace_id: str, at: datetime) -> date:
    """The marketplace-local calendar day of the instant ``at``.

    Rivals move once a day: this is the day their price, rank and offers are those of.
    """
    return as_utc(at).astimezone(ZoneInfo(marketplace(marketplace_id).timezone)).date()


def local_noun(noun: str, marketplace_id: str) -> str:
    """A family's English noun as the marketplace's titles and search terms write it: the
    keyword that finds the family's products, ours and rivals', in a catalog search there."""
    category, index = NOUNS[noun]
    return category.nouns[language_of(marketplace(marketplace_id))][index]


def _factor(value: float) -> Decimal:
    """A random multiplier as a Decimal, rounded so that prices do not depend on float repr."""
    return Decimal(str(round(value, 4)))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth below 30, normal approximation above)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def local_midnight(d: date, tz: tzinfo) -> datetime:
    return datetime.combine(d, time(0), tz)


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive value is taken to be UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def daterange(start: date, end: date) -> Iterator[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


@cache
def thanksgiving(year: int) -> date:
    """The fourth Thursday of November."""
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


@cache
def prime_day(year: int) -> date:
    """Our stand-in for Prime Day: the second Tuesday of July."""
    first = date(year, 7, 1)
    return first + timedelta(days=(1 - first.weekday()) % 7 + 7)


def event_factor(d: date) -> tuple[float, str]:
    """The demand multiplier and promotion name of a sales event day (1.0, "" otherwise)."""
    tg, pd = thanksgiving(d.year), prime_day(d.year)
    events = {
        pd: (2.6, "Prime Day Deal"),
        pd + timedelta(days=1): (2.2, "Prime Day Deal"),
        tg: (1.6, "Black Friday Week Deal"),
        tg + timedelta(days=1): (3.0, "Black Friday Deal"),
        tg + timedelta(days=2): (1.9, "Black Friday Deal"),
        tg + timedelta(days=3): (1.8, "Black Friday Deal"),
        tg + timedelta(days=4): (2.5, "Cyber Monday Deal"),
    }
    return events.get(d, (1.0, ""))


def seasonality(d: date) -> float:
    """Demand multiplier of a day: weekday pattern, month, November ramp-up, events."""
    factor = WEEKDAY_FACTOR[d.weekday()] * MONTH_FACTOR[d.month - 1]
    if d.month == 11:
        factor *= 1.0 + 0.35 * d.day / 30
    if d.month == 12 and d.day > 25:
        factor *= 0.75
    return factor * event_factor(d)[0]


# --------------------------------------------------------------------------------------------
# The seller
# --------------------------------------------------------------------------------------------


class SimulatedSeller:
    """A seller with a catalog and a reproducible history of traffic and orders."""

    def __init__(self, config: SellerConfig = SellerConfig()) -> None:
        self.config = config
        self._products = self._build_catalog()
        self._by_key = {p.asin: p for p in self._products}
        self._by_key.update({p.sku: p for p in self._products})
        self._rivals = self._build_rivals()
        self._rival_by_asin = {r.asin: r for r in self._rivals}
        self._days: OrderedDict[tuple[str, date], DayActivity] = OrderedDict()
        self._lock = threading.Lock()

    # ---- catalog ---------------------------------------------------------------------------

    def products(self) -> list[Product]:
        """The child products, in catalog order."""
        return list(self._products)

    def product(self, asin_or_sku: str) -> Product | None:
        return self._by_key.get(asin_or_sku)

    def parent_asins(self) -> list[str]:
        """The distinct parent ASINs (a standalone product is its own parent)."""
        return sorted({p.parent_asin for p in self._products})

    def _build_catalog(self) -> list[Product]:
        cfg = self.config
        rng = rng_for(cfg.seed, "catalog", str(cfg.products))
        markets = [marketplace(m) for m in cfg.marketplace_ids]
        products: list[Product] = []
        family = 0
        while len(products) < cfg.products:
            size = min(rng.choices((1, 2, 3, 4), (50, 15, 20, 15))[0], cfg.products - len(products))
            products.extend(self._family(rng, family, size, len(products), markets))
            family += 1
        ranked = sorted(products, key=lambda p: -p.base_sessions)
        ranks = {p.asin: 800 + i * 450 + rng.randrange(400) for i, p in enumerate(ranked)}
        return [replace(p, sales_rank=ranks[p.asin]) for p in products]

    def _family(
        self, rng: random.Random, family: int, size: int, first: int, markets: list[Marketplace]
    ) -> list[Product]:
        """One parent with ``size`` children (or one standalone product when size is 1)."""
        cfg = self.config
        category = rng.choice(CATEGORIES)
        brand = rng.choice(BRANDS)
        noun_index = rng.randrange(len(category.nouns["en"]))
        adjective = rng.randrange(len(ADJECTIVES["en"]))
        usd = Decimal(rng.randint(*category.price_range))
        values = VARIATIONS[category.variation]["en"]
        parent = make_asin(10_000_000 + family, cfg.seed) if size > 1 else None
        history_start = cfg.start_date
        open_date = (
            history_start + timedelta(days=rng.randrange(max(1, cfg.days)))
            if rng.random() < 0.1
            else history_start - timedelta(days=rng.randrange(30, 900))
        )
        out = []
        for v in range(size):
            index = first + v
            asin = make_asin(index, cfg.seed)
            variation = v % len(values) if size > 1 else -1
            titles = {
                m.marketplace_id: self._title(
                    brand, category, noun_index, adjective, variation, language_of(m)
                )
                for m in markets
            }
            child_usd = usd + (Decimal(v * 2) if category.variation == "size" else 0)
            prices = {m.marketplace_id: list_price(child_usd, m.marketplace_id) for m in markets}
            out.append(
                Product(
                    index=index,
                    asin=asin,
                    sku=f"{brand[:2].upper()}-{category.key[:3].upper()}-{index:05d}",
                    fnsku="X00" + base36(scramble(index, cfg.seed + 7, 36**7), 7),
                    parent_asin=parent or asin,
                    brand=brand,
                    category=category.key,
                    department=category.department,
                    noun=category.nouns["en"][noun_index],
                    variation=values[variation] if variation >= 0 else "",
                    titles=titles,
                    prices=prices,
                    base_price_usd=child_usd,
                    sales_rank=0,
                    fulfillment_channel="Amazon" if rng.random() < 0.7 else "Merchant",
                    open_date=open_date,
                    active=rng.random() > 0.04,
                    base_sessions=math.exp(rng.gauss(1.6, 1.1)),
                    conversion=min(0.2, max(0.02, rng.gauss(0.09, 0.025))),
                    buy_box_base=min(100.0, max(40.0, rng.gauss(88, 10))),
                    competitors=rng.randrange(0, 7),
                )
            )
        return out

    @staticmethod
    def _title(
        brand: str, category: Category, noun: int, adjective: int, variation: int, lang: str
    ) -> str:
        noun_text = category.nouns[lang][noun]
        adj = ADJECTIVES[lang][adjective]
        value = VARIATIONS[category.variation][lang][variation] if variation >= 0 else ""
        if lang == "ja":
            return f"{brand} {adj}{noun_text}" + (f" {value}" if value else "")
        return f"{brand} {adj} {noun_text}" + (f" - {value}" if value else "")

    def _build_rivals(self) -> list[Rival]:
        """``RIVALS_PER_FAMILY`` rivals for each noun family of our catalog, family by family."""
        return [
            rival
            for (_, noun), products in _noun_families(self._products).items()
            for rival in self._rival_family(noun, products)
        ]

    def _rival_family(self, noun: str, products: list[Product]) -> list[Rival]:
        """The rivals of one family, priced around our products of it.

        Their ASINs and brands depend on the seed and the noun only, so a family's rivals are
        the same whatever else the catalog holds. One of them is a new entrant, launched
        within the history; the others were launched long before it.
        """
        cfg = self.config
        category, noun_index = NOUNS[noun]
        rng = rng_for(cfg.seed, "rivals", noun)
        family_usd = sum((p.base_price_usd for p in products), Decimal(0)) / len(products)
        markets = [marketplace(m) for m in cfg.marketplace_ids]
        entrant = rng.randrange(RIVALS_PER_FAMILY)
        brands = rng.sample(RIVAL_BRANDS, RIVALS_PER_FAMILY)
        first_number = RIVAL_ASIN_BASE + list(NOUNS).index(noun) * RIVALS_PER_FAMILY
        rivals = []
        for k, brand in enumerate(brands):
            adjective = rng.randrange(len(ADJECTIVES["en"]))
            usd = (family_usd * _factor(rng.uniform(0.8, 1.25))).quantize(Decimal("0.01"))
            if k == entrant:  # after the first day, by the last (a one-day history: on it)
                since_start = timedelta(days=rng.randint(1, max(1, cfg.days - 1)))
                launch = min(cfg.end_date, cfg.start_date + since_start)
            else:
                launch = cfg.start_date - timedelta(days=rng.randint(60, 1500))
            rivals.append(
                Rival(
                    asin=make_asin(first_number + k, cfg.seed),
                    brand=brand,
                    category=category.key,
                    department=category.department,
                    noun=noun,
                    titles={
                        m.marketplace_id: self._title(
                            brand, category, noun_index, adjective, -1, language_of(m)
                        )
                        for m in markets
                    },
                    prices={m.marketplace_id: list_price(usd, m.marketplace_id) for m in markets},
                    base_price_usd=usd,
                    base_rank=rng.randint(500, 40_000),
                    fulfillment="FBA" if rng.random() < 0.7 else "MFN",
                    launch_date=launch,
                )
            )
        return rivals

    # ---- days ------------------------------------------------------------------------------

    def in_history(self, d: date) -> bool:
        return self.config.start_date <= d <= self.config.end_date

    def day(self, marketplace_id: str, d: date) -> DayActivity:
        """One local day of one marketplace (empty outside the history); cached."""
        key = (marketplace_id, d)
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                self._days.move_to_end(key)
                return cached
        activity = _DayGenerator(self, marketplace_id, d).run()
        with self._lock:
            self._days[key] = activity
            while len(self._days) > DAY_CACHE_SIZE:
                self._days.popitem(last=False)
        return activity

    def restatement_version(
        self, d: date, as_of: datetime | None, marketplace_id: str | None = None
    ) -> int:
        """How settled a day's Sales & Traffic numbers are when requested at ``as_of``.

        0, 1, 2 during the 72 hours after the local day ended (0 also while the day runs),
        ``FINAL_VERSION`` (3) from then on, or when ``as_of`` is None. The day ends at local
        midnight of the marketplace (UTC when no marketplace is given).
        """
        if as_of is None:
            return FINAL_VERSION
        tz: tzinfo = ZoneInfo(marketplace(marketplace_id).timezone) if marketplace_id else UTC
        hours = (as_utc(as_of) - local_midnight(d + timedelta(days=1), tz)).total_seconds() / 3600
        if hours >= RESTATEMENT_HOURS:
            return FINAL_VERSION
        return max(0, int(hours // 24))

    def day_view(self, marketplace_id: str, d: date, as_of: datetime | None = None) -> DayView:
        """The day as a Sales & Traffic report requested at ``as_of`` sees it.

        Applies the module's reconciliation rules, including the provisional restatement.
        """
        version = self.restatement_version(d, as_of, marketplace_id)
        activity = self.day(marketplace_id, d)
        ordered = []
        for item in activity.order_items:
            seen = item.as_of(as_of)
            if seen is None or seen.is_cancelled or _late_recorded(seen, version):
                continue
            ordered.append(seen)
        return DayView(
            marketplace_id=marketplace_id,
            date=d,
            version=version,
            ordered=tuple(ordered),
            shipped=tuple(self._items_by_event(marketplace_id, d, as_of, "ship_date")),
            refunded=tuple(self._items_by_event(marketplace_id, d, as_of, "refund_date")),
            traffic=self._traffic_as_of(activity, version, as_of),
            feedback_received=activity.feedback_received,
            negative_feedback_received=activity.negative_feedback_received,
            offer_count=activity.offer_count,
            parent_items=activity.parent_items,
        )

    def _items_by_event(
        self, marketplace_id: str, d: date, as_of: datetime | None, attr: str
    ) -> Iterator[OrderItem]:
        """Items whose ``ship_date``/``refund_date`` falls on local day ``d`` (by ``as_of``)."""
        tz = ZoneInfo(marketplace(marketplace_id).timezone)
        lookback = SHIP_LOOKBACK_DAYS if attr == "ship_date" else REFUND_LOOKBACK_DAYS
        for earlier in daterange(d - timedelta(days=lookback), d):
            for item in self.day(marketplace_id, earlier).order_items:
                seen = item.as_of(as_of)
                when = getattr(seen, attr) if seen else None
                if seen is not None and when is not None and when.astimezone(tz).date() == d:
                    yield seen

    def _traffic_as_of(
        self, activity: DayActivity, version: int, as_of: datetime | None
    ) -> dict[str, AsinTraffic]:
        factor = 1.0 - 0.015 * (FINAL_VERSION - version)
        if as_of is not None:
            tz = ZoneInfo(marketplace(activity.marketplace_id).timezone)
            elapsed = (as_utc(as_of) - local_midnight(activity.date, tz)).total_seconds()
            factor *= min(1.0, max(0.0, elapsed / 86400))
        if factor >= 1.0:
            return activity.traffic
        scaled = {asin: t.scaled(factor) for asin, t in activity.traffic.items()}
        return {asin: t for asin, t in scaled.items() if t.sessions or t.page_views}

    # ---- orders ----------------------------------------------------------------------------

    def order_items(
        self,
        marketplace_id: str,
        start: datetime,
        end: datetime,
        by: str = "order_date",
        as_of: datetime | None = None,
    ) -> Iterator[OrderItem]:
        """Order items whose purchase date (``by="order_date"``) or last update
        (``by="last_update"``) lies in ``[start, end]`` (inclusive; naive means UTC).

        ``as_of`` shows the items as they were at that time (None: their final state).
        Items come in purchase order within each day.
        """
        if by not in ("order_date", "last_update"):
            raise ValueError(f"by must be 'order_date' or 'last_update', not {by!r}")
        start, end = as_utc(start), as_utc(end)
        tz = ZoneInfo(marketplace(marketplace_id).timezone)
        first = start.astimezone(tz).date()
        if by == "last_update":
            first -= timedelta(days=REFUND_LOOKBACK_DAYS)
        last = end.astimezone(tz).date()
        for d in daterange(max(first, self.config.start_date), min(last, self.config.end_date)):
            for item in self.day(marketplace_id, d).order_items:
                seen = item.as_of(as_of)
                if seen is None:
                    continue
                when = seen.purchase_date if by == "order_date" else seen.last_updated_date
                if start <= when <= end:
                    yield seen

    def items_after_sale(
        self, marketplace_id: str, start: datetime, end: datetime, as_of: datetime | None = None
    ) -> Iterator[OrderItem]:
        """Every order item, as ``as_of`` sees it (None: final), that could ship or be refunded
        in ``[start, end]`` (naive means UTC): those purchased from ``REFUND_LOOKBACK_DAYS``
        before ``start``'s local day to ``end``'s. The caller picks the events in the window."""
        tz = ZoneInfo(marketplace(marketplace_id).timezone)
        first = as_utc(start).astimezone(tz).date() - timedelta(days=REFUND_LOOKBACK_DAYS)
        last = min(as_utc(end).astimezone(tz).date(), self.config.end_date)
        for d in daterange(max(first, self.config.start_date), last):
            for item in self.day(marketplace_id, d).order_items:
                seen = item.as_of(as_of)
                if seen is not None:
                    yield seen

    # ---- ground truth ----------------------------------------------------------------------

    def truth(self, start: date | None = None, end: date | None = None) -> list[dict]:
        """Final daily figures per (date, marketplace_id, asin), sorted by those keys.

        A row exists where the ASIN had traffic, orders, shipments or refunds that day. The
        rules are the module docstring's; Sales & Traffic reports requested 72 hours or more
        after a day show exactly these numbers, and the all-orders report's rows of that local
        day (cancelled ones excluded) sum to ``units_ordered`` and ``ordered_product_sales``.
        Data Kiosk's ``salesAndTrafficByAsin`` of a one-day window lists every row of the day;
        the report's ``salesAndTrafficByAsin`` only those with sessions or order items, as
        Amazon's does (``documents.on_detail_pages`` gives the reasons and sources).
        """
        start = max(start or self.config.start_date, self.config.start_date)
        end = min(end or self.config.end_date, self.config.end_date)
        rows: list[dict] = []
        for d in daterange(start, end):
            for mp in sorted(self.config.marketplace_ids):
                tallies = tally_by_asin(self.day_view(mp, d), lambda asin: asin)
                rows.extend(self._truth_row(d, mp, asin, t) for asin, t in sorted(tallies.items()))
        return rows

    def _truth_row(self, d: date, mp: str, asin: str, t: Tally) -> dict:
        product = self.product(asin)
        return {
            "date": d,
            "marketplace_id": mp,
            "asin": asin,
            "parent_asin": product.parent_asin if product else asin,
            "sku": product.sku if product else "",
            "currency": t.currency,
            "units_ordered": t.units_ordered,
            "ordered_product_sales": t.ordered_product_sales,
            "total_order_items": t.total_order_items,
            "units_ordered_b2b": t.units_ordered_b2b,
            "ordered_product_sales_b2b": t.ordered_product_sales_b2b,
            "total_order_items_b2b": t.total_order_items_b2b,
            "units_refunded": t.units_refunded,
            "units_shipped": t.units_shipped,
            "shipped_product_sales": t.shipped_product_sales,
            "sessions": t.sessions,
            "browser_sessions": t.browser_sessions,
            "mobile_app_sessions": t.mobile_app_sessions,
            "sessions_b2b": t.sessions_b2b,
            "page_views": t.page_views,
            "browser_page_views": t.browser_page_views,
            "mobile_app_page_views": t.mobile_app_page_views,
            "page_views_b2b": t.page_views_b2b,
            "buy_box_percentage": t.buy_box_percentage,
        }

    # ---- inventory and offers --------------------------------------------------------------

    def inventory(self, marketplace_id: str) -> list[InventoryRow]:
        """FBA quantities per FBA SKU, a snapshot at the end of the history."""
        rows = []
        for p in self._products:
            if not p.is_fba or p.open_date > self.config.end_date:
                continue
            rng = rng_for(self.config.seed, "inventory", f"{marketplace_id}:{p.sku}")
            scale = MARKET_SCALE.get(marketplace_id, DEFAULT_MARKET_SCALE)
            cover = p.base_sessions * p.conversion * scale * rng.uniform(20, 60)
            fulfillable = 0 if rng.random() < 0.05 else int(cover)
            unsellable = rng.choice((0, 0, 0, 1, 2))
            reserved = int(fulfillable * rng.uniform(0, 0.08))
            researching = rng.choice((0, 0, 0, 0, 1))
            warehouse = fulfillable + unsellable + reserved + researching
            inbound = [
                int(cover * rng.uniform(0, 0.5)) if rng.random() < 0.3 else 0 for _ in range(3)
            ]
            rows.append(
                InventoryRow(
                    sku=p.sku,
                    fnsku=p.fnsku,
                    asin=p.asin,
                    product_name=p.title(marketplace_id),
                    condition="New",
                    your_price=p.price(marketplace_id),
                    mfn_listing_exists="No",
                    mfn_fulfillable_quantity=None,
                    afn_listing_exists="Yes",
                    afn_warehouse_quantity=warehouse,
                    afn_fulfillable_quantity=fulfillable,
                    afn_unsellable_quantity=unsellable,
                    afn_reserved_quantity=reserved,
                    afn_total_quantity=warehouse + sum(inbound),
                    per_unit_volume=Decimal(rng.randint(5, 400)) / 100,
                    afn_inbound_working_quantity=inbound[0],
                    afn_inbound_shipped_quantity=inbound[1],
                    afn_inbound_receiving_quantity=inbound[2],
                    afn_researching_quantity=researching,
                    afn_reserved_future_supply=0,
                    afn_future_supply_buyable=0,
                )
            )
        return rows

    def mfn_quantity(self, marketplace_id: str, product: Product) -> int:
        """Units the seller has for merchant-fulfilled shipping (0 for FBA products)."""
        if product.is_fba:
            return 0
        rng = rng_for(self.config.seed, "mfn-quantity", f"{marketplace_id}:{product.sku}")
        return rng.randrange(0, 250)

    def offers(self, asin: str, marketplace_id: str, at: datetime) -> list[Offer]:
        """Offers on an ASIN's page during the hour of ``at``: ours plus competitors'.

        Competitors come and go and reprice from hour to hour; we win the Buy Box about as
        often as the product's Buy Box share says. Sorted by landed price, then seller id.
        """
        product = self.product(asin)
        if product is None:
            return []
        hour = as_utc(at).replace(minute=0, second=0, microsecond=0)
        rng = rng_for(self.config.seed, "offers", f"{marketplace_id}:{asin}:{hour.isoformat()}")
        currency = currency_of(marketplace_id)
        ours = product.price(marketplace_id)
        offers = [
            Offer(
                self.config.seller_id,
                ours,
                Decimal(0),
                currency,
                "New",
                product.is_fba,
                False,
                True,
                1800 + product.index,
                97,
            )
        ]
        for i in range(max(0, product.competitors + rng.randint(-1, 1))):
            crng = rng_for(self.config.seed, "competitor", f"{asin}:{i}")
            fba = crng.random() < 0.6
            price = money(ours * Decimal(str(round(rng.uniform(0.9, 1.15), 3))), currency)
            shipping = Decimal(0) if fba else money(ours * Decimal("0.08"), currency)
            offers.append(
                Offer(
                    "A" + base36(scramble(zlib.crc32(f"{asin}:{i}".encode()), 3, 36**13), 13),
                    price,
                    shipping,
                    currency,
                    "New",
                    fba,
                    False,
                    False,
                    crng.randint(10, 50_000),
                    crng.randint(80, 100),
                )
            )
        winner = (
            0
            if rng.random() * 100 < product.buy_box_base
            else min(
                range(len(offers)), key=lambda k: (offers[k].landed_price, offers[k].seller_id)
            )
        )
        offers[winner] = replace(offers[winner], is_buy_box_winner=True)
        return sorted(offers, key=lambda o: (o.landed_price, o.seller_id))

    # ---- rivals ----------------------------------------------------------------------------

    def rivals(self) -> list[Rival]:
        """Every rival, launched or not, family by family (families sorted)."""
        return list(self._rivals)

    def rival(self, asin: str) -> Rival | None:
        return self._rival_by_asin.get(asin)

    def _launched_rivals(self, noun: str, d: date) -> list[str]:
        """The ASINs of a family's rivals launched by day ``d``."""
        return [r.asin for r in self._rivals if r.noun == noun and r.launched_by(d)]

    def rival_day(self, asin: str, marketplace_id: str, d: date) -> RivalDay | None:
        """A rival's brand price and sales rank on a marketplace-local day (None before its
        launch or for an ASIN that is no rival).

        The price level is set per ISO week (base times 0.95 to 1.05); on about 12 % of days
        the brand cuts it by 10 to 20 % for the day, and sells better: the rank, base times a
        daily log-normal factor, improves by 40 %. Each week and day has its own generator,
        so any day is computed on its own.
        """
        rival = self.rival(asin)
        if rival is None or not rival.launched_by(d):
            return None
        return self._rival_day(rival, marketplace_id, d)

    def _rival_day(self, rival: Rival, marketplace_id: str, d: date) -> RivalDay:
        seed, key = self.config.seed, f"{marketplace_id}:{rival.asin}"
        year, week, _ = d.isocalendar()
        level = rng_for(seed, "rival-week", f"{key}:{year}-W{week:02d}").uniform(0.95, 1.05)
        rng = rng_for(seed, "rival-day", f"{key}:{d.isoformat()}")
        price_cut = rng.random() < PRICE_CUT_SHARE
        depth = rng.uniform(0.80, 0.90)  # drawn every day, so the draws after it stay aligned
        factor = level * (depth if price_cut else 1.0)
        price = money(rival.price(marketplace_id) * _factor(factor), currency_of(marketplace_id))
        rank = rival.base_rank * math.exp(rng.gauss(0, 0.15)) * (0.6 if price_cut else 1.0)
        return RivalDay(price, max(1, round(rank)), price_cut)

    def rival_offers(self, asin: str, marketplace_id: str, d: date) -> list[Offer]:
        """Offers on a rival's page on a marketplace-local day: its brand's, at the day's
        price, and 0 to 3 resellers' at up to 20 % more. The lowest landed price wins the
        Buy Box (ties: the lower seller id). Sorted as ``offers`` sorts; [] before launch."""
        rival, day = self.rival(asin), self.rival_day(asin, marketplace_id, d)
        if rival is None or day is None:
            return []
        currency = currency_of(marketplace_id)
        brand = rng_for(self.config.seed, "rival-brand", rival.brand)
        offers = [
            Offer(
                brand_seller_id(rival.brand),
                day.price,
                _shipping(day.price, rival.is_fba, currency),
                currency,
                "New",
                rival.is_fba,
                False,
                False,
                brand.randint(200, 80_000),
                brand.randint(88, 100),
            )
        ]
        rng = rng_for(self.config.seed, "rival-resellers", f"{marketplace_id}:{asin}:{d}")
        for slot in sorted(rng.sample(range(RESELLER_POOL), rng.randint(0, 3))):
            reseller = rng_for(self.config.seed, "rival-reseller", f"{asin}:{slot}")
            fba = reseller.random() < 0.5
            price = money(day.price * _factor(rng.uniform(1.0, 1.2)), currency)
            crc = zlib.crc32(f"{asin}:reseller:{slot}".encode())
            offers.append(
                Offer(
                    "A" + base36(scramble(crc, 13, 36**13), 13),
                    price,
                    _shipping(price, fba, currency),
                    currency,
                    "New",
                    fba,
                    False,
                    False,
                    reseller.randint(10, 20_000),
                    reseller.randint(75, 100),
                )
            )
        offers.sort(key=lambda o: (o.landed_price, o.seller_id))
        offers[0] = replace(offers[0], is_buy_box_winner=True)
        return offers

    def catalog_item(self, asin: str, d: date) -> Product | Rival | None:
        """What the catalog lists under ``asin`` on day ``d``: our product, or a rival
        launched by then; None otherwise."""
        product = self._by_key.get(asin)
        if product is not None and product.asin == asin:
            return product
        rival = self.rival(asin)
        return rival if rival is not None and rival.launched_by(d) else None

    def sales_rank(self, asin: str, marketplace_id: str, d: date) -> int | None:
        """An ASIN's sales rank on a marketplace-local day: ours is fixed, a rival's moves
        (``rival_day``); None for an ASIN the catalog does not list that day."""
        item = self.catalog_item(asin, d)
        return None if item is None else self._rank(item, marketplace_id, d)

    def _rank(self, item: Product | Rival, marketplace_id: str, d: date) -> int:
        if isinstance(item, Product):
            return item.sales_rank
        return self._rival_day(item, marketplace_id, d).sales_rank

    def page_offers(self, asin: str, marketplace_id: str, at: datetime) -> list[Offer]:
        """The offers on any listed ASIN's page at ``at``: ours for the hour (``offers``), a
        rival's for the marketplace-local day (``rival_offers``)."""
        if self.rival(asin) is not None:
            return self.rival_offers(asin, marketplace_id, local_day(marketplace_id, at))
        return self.offers(asin, marketplace_id, at)

    def search_results(
        self,
        marketplace_id: str,
        d: date,
        keywords: list[str],
        brand_names: Iterable[str] | None = None,
        top: int | None = None,
    ) -> list[str]:
        """The ASINs, ours and launched rivals', a catalog keyword search in the marketplace
        finds on day ``d``, as an organic search orders them: by that day's sales rank, then
        ASIN (at most ``top``).

        An item matches when its title there contains every word of every keyword (case
        folded), and its brand is one of ``brand_names`` when they are given.
        """
        words = [word.casefold() for keyword in keywords for word in keyword.split()]
        brands = set(brand_names or ())
        candidates: list[Product | Rival] = [*self._products]
        candidates += [r for r in self._rivals if r.launched_by(d)]
        ranked = sorted(
            (self._rank(item, marketplace_id, d), item.asin)
            for item in candidates
            if (not brands or item.brand in brands)
            and all(word in item.title(marketplace_id).casefold() for word in words)
        )
        return [asin for _, asin in ranked][:top]

    def competitor_truth(self, marketplace_id: str, d: date) -> list[dict]:
        """What the catalog and pricing APIs serve of each rival launched by marketplace-local
        day ``d`` (in ``rivals()`` order): its sales rank and its offers' Buy Box, lowest
        prices and counts. Money is Decimal in the marketplace's currency; a lowest price of a
        channel without offers is None."""
        rows = []
        for rival in self._rivals:
            day = self.rival_day(rival.asin, marketplace_id, d)
            if day is None:
                continue
            offers = self.rival_offers(rival.asin, marketplace_id, d)
            winner = offers[0]  # they are sorted as the Buy Box is decided
            fba = [o.landed_price for o in offers if o.is_fulfilled_by_amazon]
            mfn = [o.landed_price for o in offers if not o.is_fulfilled_by_amazon]
            rows.append(
                {
                    "date": d,
                    "marketplace_id": marketplace_id,
                    "asin": rival.asin,
                    "brand": rival.brand,
                    "currency": currency_of(marketplace_id),
                    "sales_rank": day.sales_rank,
                    "buy_box_seller_id": winner.seller_id,
                    "buy_box_landed_price": winner.landed_price,
                    "buy_box_listing_price": winner.listing_price,
                    "lowest_landed_price": min(o.landed_price for o in offers),
                    "lowest_fba_landed_price": min(fba, default=None),
                    "lowest_mfn_landed_price": min(mfn, default=None),
                    "total_offer_count": len(offers),
                    "fba_offer_count": len(fba),
                    "mfn_offer_count": len(mfn),
                    "brand_price": day.price,
                }
            )
        return rows

    # ---- Brand Analytics -------------------------------------------------------------------

    def _counted_items(self, marketplace_id: str, start: date, end: date) -> list[OrderItem]:
        """Final, non-cancelled order items purchased in ``[start, end]`` (local days)."""
        return [
            item
            for d in daterange(max(start, self.config.start_date), min(end, self.config.end_date))
            for item in self.day(marketplace_id, d).order_items
            if not item.is_cancelled
        ]

    def search_terms(self, marketplace_id: str, start: date, end: date) -> list[dict]:
        """Brand Analytics search terms of the period: the top three clicked ASINs per term.

        Terms come from the catalog's product nouns in the marketplace's language, with
        modifiers; our ASINs compete for the clicks with the family's rivals launched by the
        end of the period (the catalog and pricing APIs serve them too).
        """
        items = self._counted_items(marketplace_id, start, end)
        if not items:
            return []
        lang = language_of(marketplace(marketplace_id))
        rng = rng_for(self.config.seed, "search-terms", f"{marketplace_id}:{start}:{end}")
        terms = [
            (dept, term, [p.asin for p in products], self._launched_rivals(noun, end))
            for (dept, noun), products in _noun_families(self._products).items()
            for term in _search_term_variants(local_noun(noun, marketplace_id), lang)
        ]
        rng.shuffle(terms)
        rows = []
        for rank, (dept, term, ours, rivals) in enumerate(terms, start=1):
            clicked = _clicked_asins(rng, ours, rivals)
            shares = sorted((rng.uniform(0.02, 0.3) for _ in clicked), reverse=True)
            for position, (asin, share) in enumerate(zip(clicked, shares, strict=True), 1):
                rows.append(
                    {
                        "departmentName": dept,
                        "searchTerm": term,
                        "searchFrequencyRank": rank * 37 + rng.randrange(37),
                        "clickedAsin": asin,
                        "clickShareRank": position,
                        "clickShare": round(share, 4),
                        "conversionShare": round(share * rng.uniform(0.6, 1.3), 4),
                    }
                )
        rows.sort(key=lambda r: (r["searchFrequencyRank"], r["clickShareRank"]))
        return rows

    def repeat_purchase(self, marketplace_id: str, start: date, end: date) -> list[dict]:
        """Per ASIN: orders, unique customers and the share of repeat customers and revenue.

        A repeat customer bought the ASIN in two or more orders of the period; repeat revenue
        is what repeat customers spent on it after their first order.
        """
        by_asin: dict[str, dict[str, list[OrderItem]]] = {}
        for item in self._counted_items(marketplace_id, start, end):
            by_asin.setdefault(item.asin, {}).setdefault(item.customer_id, []).append(item)
        currency = currency_of(marketplace_id)
        rows = []
        for asin, customers in sorted(by_asin.items()):
            orders = {i.amazon_order_id for items in customers.values() for i in items}
            revenue = sum((i.item_price for items in customers.values() for i in items), Decimal(0))
            repeat = [
                items for items in customers.values() if len({i.amazon_order_id for i in items}) > 1
            ]
            repeat_revenue = sum((i.item_price for items in repeat for i in items[1:]), Decimal(0))
            rows.append(
                {
                    "startDate": start.isoformat(),
                    "endDate": end.isoformat(),
                    "asin": asin,
                    "orders": len(orders),
                    "uniqueCustomers": len(customers),
                    "repeatCustomersPctTotal": round(len(repeat) / len(customers), 4),
                    "repeatPurchaseRevenue": {
                        "amount": float(money(repeat_revenue, currency)),
                        "currencyCode": currency,
                    },
                    "repeatPurchaseRevenuePctTotal": round(float(repeat_revenue / revenue), 4)
                    if revenue
                    else 0.0,
                }
            )
        return rows

    def market_basket(self, marketplace_id: str, start: date, end: date) -> list[dict]:
        """Per ASIN: the (up to) three ASINs most often in the same order, with the share of
        the ASIN's orders that contained each."""
        orders: dict[str, set[str]] = {}
        for item in self._counted_items(marketplace_id, start, end):
            orders.setdefault(item.amazon_order_id, set()).add(item.asin)
        with_asin: dict[str, int] = {}
        together: dict[str, dict[str, int]] = {}
        for asins in orders.values():
            for a in asins:
                with_asin[a] = with_asin.get(a, 0) + 1
                for b in asins - {a}:
                    together.setdefault(a, {})[b] = together.get(a, {}).get(b, 0) + 1
        rows: list[dict] = []
        for asin in sorted(with_asin):
            partners = sorted(
                ((n, b) for b, n in together.get(asin, {}).items()), key=lambda nb: (-nb[0], nb[1])
            )[:3]
            rows.extend(
                {
                    "startDate": start.isoformat(),
                    "endDate": end.isoformat(),
                    "asin": asin,
                    "purchasedWithAsin": b,
                    "purchasedWithRank": rank,
                    "combinationPct": round(n / with_asin[asin], 4),
                }
                for rank, (n, b) in enumerate(partners, start=1)
            )
        return rows


def _shipping(price: Decimal, fba: bool, currency: str) -> Decimal:
    """What a rival's or reseller's offer charges for shipping: nothing with FBA, 8 % of the
    price when the merchant ships."""
    return Decimal(0) if fba else money(price * Decimal("0.08"), currency)


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    """A random whole-second delay between ``low`` and ``high`` hours."""
    return timedelta(seconds=int(rng.uniform(low, high) * 3600))


def _late_recorded(item: OrderItem, version: int) -> bool:
    """Whether a provisional report (``version`` < final) does not show the item yet."""
    missing = LATE_RECORDED_SHARE * (FINAL_VERSION - version)
    return missing > 0 and stable_fraction(item.order_item_id) < missing


def tally_by_asin(
    view: DayView, key_of: Callable[[str], Hashable], tallies: dict | None = None
) -> dict:
    """Add a day view into tallies keyed by ``key_of(asin)`` (child ASIN, parent, ...)."""
    tallies = {} if tallies is None else tallies
    currency = currency_of(view.marketplace_id)

    def tally(asin: str) -> Tally:
        key = key_of(asin)
        if key not in tallies:
            tallies[key] = Tally(currency)
        return tallies[key]

    for asin, traffic in view.traffic.items():
        tally(asin).add_traffic(traffic)
    for item in view.ordered:
        tally(item.asin).add_ordered(item)
    for item in view.shipped:
        tally(item.asin).add_shipped(item)
    for item in view.refunded:
        tally(item.asin).add_refunded(item)
    return tallies


def tally_day(view: DayView, total: Tally | None = None) -> Tally:
    """Add a whole day view into one tally (the by-date figures)."""
    total = total or Tally(currency_of(view.marketplace_id))
    tally_by_asin(view, lambda _asin: None, {None: total})
    return total


def _noun_families(products: Iterable[Product]) -> dict[tuple[str, str], list[Product]]:
    """(department, English noun) -> our products of that noun family, families sorted."""
    families: dict[tuple[str, str], list[Product]] = {}
    for p in products:
        families.setdefault((p.department, p.noun), []).append(p)
    return dict(sorted(families.items()))


SEARCH_MODIFIERS = {
    "en": ("", "best ", " for women", " for men", " set", " large", " cheap"),
    "de": ("", "beste ", " für damen", " für herren", " set", " groß", " günstig"),
    "ja": ("", "おすすめ ", " レディース", " メンズ", " セット", " 大きい", " 安い"),
}


def _search_term_variants(noun: str, lang: str) -> list[str]:
    base = noun.lower() if lang != "ja" else noun
    out = []
    for modifier in SEARCH_MODIFIERS[lang]:
        out.append(modifier + base if modifier.endswith(" ") else base + modifier)
    return out


def _clicked_asins(rng: random.Random, ours: list[str], rivals: list[str]) -> list[str]:
    """Three distinct clicked ASINs of a term's family: each one of ours about 45 % of the
    time (while any is left), otherwise one of the family's rivals."""
    picks: list[str] = []
    for _ in range(3):
        left_ours = sorted(set(ours) - set(picks))
        left_rivals = [asin for asin in rivals if asin not in picks]
        take_ours = left_ours and (not left_rivals or rng.random() < 0.45)
        pool = left_ours if take_ours else left_rivals
        if pool:
            picks.append(rng.choice(pool))
    return picks


# --------------------------------------------------------------------------------------------
# Generating one day
# --------------------------------------------------------------------------------------------


class _DayGenerator:
    """Generates one marketplace-local day from its own seeded generator."""

    def __init__(self, seller: SimulatedSeller, marketplace_id: str, d: date) -> None:
        self.seller = seller
        self.cfg = seller.config
        self.market = marketplace(marketplace_id)
        self.tz = ZoneInfo(self.market.timezone)
        self.d = d
        self.rng = rng_for(self.cfg.seed, "day", f"{marketplace_id}:{d.isoformat()}")
        self.currency = self.market.currency
        self.items: list[OrderItem] = []
        self.order_seq = 0
        self.promotion = event_factor(d)[1]
        # unique per (marketplace, day): the base of order and order-item ids
        self.day_number = d.toordinal() * 100 + sorted(marketplaces()).index(marketplace_id)

    def run(self) -> DayActivity:
        mp = self.market.marketplace_id
        if not self.seller.in_history(self.d):
            return DayActivity(mp, self.d, {}, (), 0, 0, 0, 0)
        live = [p for p in self.seller._products if p.open_date <= self.d and p.active]
        scale = MARKET_SCALE.get(mp, DEFAULT_MARKET_SCALE) * seasonality(self.d)
        traffic: dict[str, AsinTraffic] = {}
        for product in live:
            sessions = poisson(self.rng, product.base_sessions * scale)
            if sessions == 0:
                continue
            traffic[product.asin] = self._traffic(product, sessions)
            buy_box = traffic[product.asin].buy_box_percentage / 100
            for _ in range(
                min(sessions, poisson(self.rng, sessions * product.conversion * buy_box))
            ):
                self._order(product, live)
        self.items.sort(key=lambda i: (i.purchase_date, i.amazon_order_id, i.order_item_id))
        shipped = sum(1 for i in self.items if not i.is_cancelled)
        feedback = poisson(self.rng, shipped * 0.02)
        negative = sum(1 for _ in range(feedback) if self.rng.random() < 0.06)
        return DayActivity(
            mp,
            self.d,
            traffic,
            tuple(self.items),
            feedback,
            negative,
            len(live),
            len({p.parent_asin for p in live}),
        )

    def _traffic(self, product: Product, sessions: int) -> AsinTraffic:
        rng = self.rng
        mobile = int(sessions * rng.uniform(0.5, 0.72))
        browser = sessions - mobile
        b_views = browser + poisson(rng, browser * 0.35)
        m_views = mobile + poisson(rng, mobile * 0.25)
        b2b = [int(x * rng.uniform(0.06, 0.14)) for x in (browser, mobile, b_views, m_views)]
        share = min(100.0, max(0.0, rng.gauss(product.buy_box_base, 4))) / 100
        return AsinTraffic(
            browser,
            mobile,
            b_views,
            m_views,
            b2b[0],
            b2b[1],
            b2b[2],
            b2b[3],
            buy_box_page_views=round((b_views + m_views) * share),
            buy_box_page_views_b2b=round((b2b[2] + b2b[3]) * share),
        )

    def _order(self, product: Product, live: list[Product]) -> None:
        """One order: its first line is ``product``; sometimes a second line joins it."""
        rng = self.rng
        seq = self.order_seq
        self.order_seq += 1
        order_id = self._order_id(seq)
        business = rng.random() < 0.1
        purchase = self._purchase_time()
        fate = self._fate(purchase, product.is_fba)
        address = rng.choice(ADDRESSES.get(self.market.country_code, DEFAULT_ADDRESSES))
        postal = address[2] + f"{rng.randrange(100):02d}"
        if self.market.country_code == "JP":
            postal = f"{address[2]}-{rng.randrange(10000):04d}"
        customer = self._customer(rng)
        lines = [product]
        if rng.random() < 0.08 and len(live) > 1:
            companion = rng.choice(live)
            if companion.asin != product.asin:
                lines.append(companion)
        promotion = self.promotion if self.promotion and rng.random() < 0.4 else ""
        for line, p in enumerate(lines):
            self.items.append(
                self._item(
                    p,
                    order_id,
                    seq,
                    line,
                    purchase,
                    fate,
                    business,
                    address,
                    postal,
                    customer,
                    promotion,
                )
            )

    def _order_id(self, seq: int) -> str:
        prefix = ORDER_PREFIX.get(self.market.region, 999)
        n = scramble(self.day_number * 100_000 + seq, prefix, 10**14)
        return f"{prefix}-{n // 10**7:07d}-{n % 10**7:07d}"

    def _purchase_time(self) -> datetime:
        hour = self.rng.choices(range(24), cum_weights=HOUR_CUMULATIVE)[0]
        local = datetime.combine(
            self.d, time(hour, self.rng.randrange(60), self.rng.randrange(60)), self.tz
        )
        return local.astimezone(UTC)

    def _customer(self, rng: random.Random) -> str:
        loyal = max(50, self.cfg.products * 5)
        if rng.random() < 0.25:
            return f"C{rng.randrange(loyal)}"
        return f"N{rng.randrange(10**9)}"

    def _fate(self, purchase: datetime, fba: bool) -> tuple[StatusEvent, ...]:
        """The order's status history: Pending, then Cancelled or (Unshipped,) Shipped."""
        rng = self.rng
        events = [StatusEvent(purchase, "Pending", "Unshipped")]
        if rng.random() < 0.03:
            events.append(StatusEvent(purchase + _hours(rng, 2, 44), "Cancelled", "Cancelled"))
            return tuple(events)
        if not fba:
            events.append(StatusEvent(purchase + _hours(rng, 0.3, 1.5), "Unshipped", "Unshipped"))
        delay = _hours(rng, 3, 40) if fba else _hours(rng, 12, 70)
        events.append(StatusEvent(purchase + delay, "Shipped", "Shipped"))
        return tuple(events)

    def _item(
        self,
        p: Product,
        order_id: str,
        seq: int,
        line: int,
        purchase: datetime,
        fate: tuple[StatusEvent, ...],
        business: bool,
        address: tuple[str, str, str],
        postal: str,
        customer: str,
        promotion: str,
    ) -> OrderItem:
        rng = self.rng
        mp = self.market.marketplace_id
        quantity = (
            rng.randint(1, 10)
            if business
            else rng.choices((1, 2, 3), cum_weights=QUANTITY_CUMULATIVE)[0]
        )
        unit = p.price(mp) * (Decimal("0.95") if business else 1)
        price = money(unit * quantity, self.currency)
        _, _, included, rate = CURRENCIES.get(self.currency, DEFAULT_CURRENCY)
        tax = money(price * rate / (1 + rate) if included else price * rate, self.currency)
        shipping = Decimal(0) if p.is_fba else money(p.price(mp) * Decimal("0.1"), self.currency)
        ship_tax = money(shipping * rate / (1 + rate) if included else 0, self.currency)
        discount = money(price * Decimal("0.2"), self.currency) if promotion else Decimal(0)
        shipped = next((e.at for e in fate if e.order_status == "Shipped"), None)
        events, refund, refunded_units = list(fate), None, 0
        if shipped and rng.random() < refund_rate(self.seller.config.seed, p.asin):
            refund = shipped + _hours(rng, 48, 192)
            refunded_units = rng.randint(1, quantity)
            events.append(StatusEvent(refund, "Shipped", "Shipped"))
        item_number = scramble((self.day_number * 100_000 + seq) * 10 + line, 17, 10**14)
        return OrderItem(
            amazon_order_id=order_id,
            merchant_order_id="" if p.is_fba else f"SO-{self.d:%y%m%d}-{seq:05d}",
            order_item_id=f"{item_number:014d}",
            marketplace_id=mp,
            purchase_date=purchase,
            local_date=self.d,
            last_updated_date=events[-1].at,
            order_status=events[-1].order_status,
            fulfillment_channel=p.fulfillment_channel,
            sales_channel=self.market.domain.capitalize(),
            order_channel="",
            ship_service_level=rng.choices(
                [s for s, _ in SERVICE_LEVELS], cum_weights=[w for _, w in SERVICE_LEVELS]
            )[0],
            product_name=p.title(mp),
            sku=p.sku,
            asin=p.asin,
            parent_asin=p.parent_asin,
            item_status=events[-1].item_status,
            quantity=quantity,
            currency=self.currency,
            item_price=price,
            item_tax=tax,
            shipping_price=shipping,
            shipping_tax=ship_tax,
            gift_wrap_price=Decimal(0),
            gift_wrap_tax=Decimal(0),
            item_promotion_discount=discount,
            ship_promotion_discount=Decimal(0),
            ship_city=address[0],
            ship_state=address[1],
            ship_postal_code=postal,
            ship_country=self.market.country_code,
            promotion_ids=f"{self.market.country_code} {promotion} {seq % 7 + 1001}"
            if promotion
            else "",
            is_business_order=business,
            purchase_order_number=f"PO-{seq:06d}" if business and seq % 2 == 0 else "",
            price_designation="BusinessPrice" if business else "",
            customer_id=customer,
            events=tuple(events),
            ship_date=shipped,
            refund_date=refund,
            units_refunded=refunded_units,
        )
