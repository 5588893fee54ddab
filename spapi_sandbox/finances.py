"""What the simulated seller's sales cost and earned, as the Finances API v0 posts it.

A shipment posts one ``ShipmentEvent`` per order when it ships: per item the buyer's charges
(``Principal``: the item price, ``Tax``, ``ShippingCharge`` and ``ShippingTax`` where charged),
the promotion the seller funded (negative), and Amazon's fees (negative):

- ``Commission``, the referral fee: the category's percentage of what the buyer paid for the
  item and its shipping (tax excluded), at least the minimum per item (Amazon's structure; the
  percentages are those of Amazon's US fee schedule, a beauty item at or under $10 at the lower
  rate);
- ``FBAPerUnitFulfillmentFee`` per unit for an FBA item, by the product's size tier.

A refund posts a ``RefundEvent`` when it is made: the refunded units' share of the principal,
tax and promotion back (signs reversed), the referral fee given back less Amazon's refund
administration fee (``RefundCommission``: 20 % of that referral fee, at most $5), and no FBA fee
back. Fees in USD convert into the marketplace's currency at the sandbox's fixed rates
(``seller.CURRENCIES``) and round to its minor unit. ``fee_truth`` sums the same figures per
marketplace, local day, SKU and kind of event: what a lake's fee tables must add up to.

The events settle in ``FinancialEventGroup`` s (``event_groups``): one per currency (a seller's
marketplaces of one currency share an account) and 14 days (Amazon's settlement period, here on
a fixed calendar of UTC fortnights). A group still running is ``Open`` with its balance so far;
an ended one is ``Closed``, its total paid out when it closed. Its total is every amount its
events posted, tax included (the sandbox withholds none), with nothing carried over.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spapi_sandbox.seller import (
    CURRENCIES,
    DEFAULT_CURRENCY,
    OrderItem,
    SimulatedSeller,
    as_utc,
    money,
    stable_fraction,
)
from spapi_toolkit.regions import marketplace

REFERRAL_RATES = {  # the category's referral fee, a share of the item's sales price
    "kitchen": Decimal("0.15"), "sports": Decimal("0.15"), "electronics": Decimal("0.08"),
    "beauty": Decimal("0.15"), "pet": Decimal("0.15"), "office": Decimal("0.15"),
}  # fmt: skip
LOW_PRICE_BEAUTY = (Decimal("10"), Decimal("0.08"))  # at or under $10: the lower rate
MIN_REFERRAL_USD = Decimal("0.30")  # per item
REFUND_ADMIN_SHARE, REFUND_ADMIN_MAX_USD = Decimal("0.20"), Decimal("5.00")
# FBA size tiers: (share of products up to here, fee per unit in USD)
SIZE_TIERS = (("small standard", 0.35, Decimal("3.22")), ("large standard", 0.80, Decimal("4.75")),
              ("large standard 2-3 lb", 0.95, Decimal("6.08")),
              ("large bulky", 1.0, Decimal("9.73")))  # fmt: skip


@dataclass(frozen=True)
class Posted:
    """One event, with what it is about for the listing and the truth."""

    posted: datetime  # UTC
    kind: str  # "shipment" or "refund"
    marketplace_id: str
    body: dict[str, Any]  # the ShipmentEvent as the model has it
    items: tuple[tuple[str, dict[str, Decimal]], ...]  # (SKU, {ChargeType/FeeType: amount})


def _usd(amount: Decimal, currency: str) -> Decimal:
    """A USD amount in ``currency`` at the sandbox's fixed rate, rounded to its minor unit."""
    per_usd = CURRENCIES.get(currency, DEFAULT_CURRENCY)[0]
    return money(amount * per_usd, currency)


def size_tier(sku: str) -> tuple[str, Decimal]:
    """The product's FBA size tier and its fee per unit in USD (drawn once per SKU)."""
    draw = stable_fraction(f"size-tier:{sku}")
    return next((name, fee) for name, upto, fee in SIZE_TIERS if draw < upto)


def referral_fee(seller: SimulatedSeller, item: OrderItem) -> Decimal:
    """The item's referral fee (positive) in its currency."""
    product = seller.product(item.sku)
    category = product.category if product else "kitchen"
    base = item.item_price + item.shipping_price + item.gift_wrap_price
    rate = REFERRAL_RATES.get(category, Decimal("0.15"))
    per_usd = CURRENCIES.get(item.currency, DEFAULT_CURRENCY)[0]
    if category == "beauty" and base / per_usd / max(1, item.quantity) <= LOW_PRICE_BEAUTY[0]:
        rate = LOW_PRICE_BEAUTY[1]
    return max(money(base * rate, item.currency), _usd(MIN_REFERRAL_USD, item.currency))


def _shipped(seller: SimulatedSeller, item: OrderItem) -> dict[str, Decimal]:
    """The item's charges, promotion and fees when it ships (fees and promotion negative)."""
    parts = {"Principal": item.item_price, "Tax": item.item_tax}
    if item.shipping_price:
        parts |= {"ShippingCharge": item.shipping_price, "ShippingTax": item.shipping_tax}
    if item.gift_wrap_price:
        parts |= {"GiftWrap": item.gift_wrap_price, "GiftWrapTax": item.gift_wrap_tax}
    if item.item_promotion_discount:
        parts["Promotion"] = -item.item_promotion_discount
    parts["Commission"] = -referral_fee(seller, item)
    if item.fulfillment_channel == "Amazon":
        fee = _usd(size_tier(item.sku)[1], item.currency) * item.quantity
        parts["FBAPerUnitFulfillmentFee"] = -fee
    return parts


def _refunded(seller: SimulatedSeller, item: OrderItem) -> dict[str, Decimal]:
    """The refunded units' share back (signs reversed) and the refund administration fee."""
    share = Decimal(item.units_refunded) / Decimal(item.quantity)
    shipped = _shipped(seller, item)
    parts = {
        name: -money(amount * share, item.currency)
        for name, amount in shipped.items()
        if name
        not in (
            "FBAPerUnitFulfillmentFee",
            "ShippingCharge",
            "ShippingTax",
            "GiftWrap",
            "GiftWrapTax",
        )
    }
    given_back = parts["Commission"]  # positive: the referral fee returned
    admin = min(money(given_back * REFUND_ADMIN_SHARE, item.currency),
                _usd(REFUND_ADMIN_MAX_USD, item.currency))  # fmt: skip
    parts["RefundCommission"] = -admin
    return parts


FEES = ("Commission", "FBAPerUnitFulfillmentFee", "RefundCommission")


def _amount(value: Decimal, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "CurrencyAmount": float(value)}


def _item_json(item: OrderItem, parts: dict[str, Decimal], refund: bool) -> dict[str, Any]:
    charges = [{"ChargeType": k, "ChargeAmount": _amount(v, item.currency)}
               for k, v in parts.items() if k not in FEES and k != "Promotion"]  # fmt: skip
    fees = [{"FeeType": k, "FeeAmount": _amount(v, item.currency)}
            for k, v in parts.items() if k in FEES]  # fmt: skip
    promotions = [{"PromotionType": "PromotionMetaDataDefinitionValue",
                   "PromotionId": item.promotion_ids.split(" ")[1] if item.promotion_ids else "",
                   "PromotionAmount": _amount(parts["Promotion"], item.currency)}
                  ] if "Promotion" in parts else []  # fmt: skip
    suffix = "AdjustmentList" if refund else "List"
    body: dict[str, Any] = {
        "SellerSKU": item.sku,
        "OrderItemId": item.order_item_id,
        "QuantityShipped": item.units_refunded if refund else item.quantity,
        f"ItemCharge{suffix}": charges,
        f"ItemFee{suffix}": fees,
        f"Promotion{suffix}": promotions,
    }
    if refund:
        body["OrderAdjustmentItemId"] = f"{item.order_item_id}R"
    return body


def financial_events(
    seller: SimulatedSeller,
    marketplace_ids: Iterable[str],
    start: datetime,
    end: datetime,
    as_of: datetime | None = None,
) -> list[Posted]:
    """Every shipment and refund event posted in ``[start, end]`` (instants) in the
    marketplaces, as known at ``as_of`` (None: all), by posting time."""
    start, end = as_utc(start), as_utc(end)
    found: list[Posted] = []
    for mp in marketplace_ids:
        groups: dict[tuple[str, str, datetime], list[OrderItem]] = defaultdict(list)
        for seen in seller.items_after_sale(mp, start, end, as_of):
            if seen.is_cancelled:
                continue
            for kind, when in (("shipment", seen.ship_date), ("refund", seen.refund_date)):
                if when is not None and start <= as_utc(when) <= end:
                    groups[(kind, seen.amazon_order_id, as_utc(when))].append(seen)
        found += [_event(seller, mp, kind, order, when, items)
                  for (kind, order, when), items in groups.items()]  # fmt: skip
    return sorted(found, key=lambda e: (e.posted, e.body["AmazonOrderId"], e.kind))


def _event(
    seller: SimulatedSeller, mp: str, kind: str, order: str, when: datetime, items: list[OrderItem]
) -> Posted:
    refund = kind == "refund"
    parts = [(i, _refunded(seller, i) if refund else _shipped(seller, i)) for i in items]
    key = "ShipmentItemAdjustmentList" if refund else "ShipmentItemList"
    body = {
        "AmazonOrderId": order,
        "SellerOrderId": items[0].merchant_order_id or order,
        "MarketplaceName": marketplace(mp).domain.capitalize(),
        "PostedDate": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        key: [_item_json(i, p, refund) for i, p in parts],
    }
    return Posted(when, kind, mp, body, tuple((i.sku, p) for i, p in parts))


def fee_truth(
    seller: SimulatedSeller, marketplace_ids: Iterable[str], start: datetime, end: datetime
) -> dict[tuple[str, str, str, str], dict[str, Decimal]]:
    """{(marketplace id, local day posted, SKU, event list): {charge, fee or "Promotion":
    summed amount}} of every event posted in ``[start, end]``; the event list is Amazon's name,
    ``ShipmentEventList`` or ``RefundEventList``, so a refund's referral fee given back and its
    ``RefundCommission`` stay apart from the shipment's."""
    totals: dict[tuple[str, str, str, str], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    for event in financial_events(seller, marketplace_ids, start, end):
        day = event.posted.astimezone(ZoneInfo(marketplace(event.marketplace_id).timezone))
        listed = "RefundEventList" if event.kind == "refund" else "ShipmentEventList"
        for sku, parts in event.items:
            for name, amount in parts.items():
                totals[(event.marketplace_id, day.date().isoformat(), sku, listed)][name] += amount
    return totals


GROUP_DAYS = 14  # a settlement period
GROUPS_FROM = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday: the first period of the calendar


def group_start(moment: datetime) -> datetime:
    """The start of the settlement period ``moment`` falls in."""
    periods = (as_utc(moment) - GROUPS_FROM) // timedelta(days=GROUP_DAYS)
    return GROUPS_FROM + periods * timedelta(days=GROUP_DAYS)


def group_id(currency: str, start: datetime) -> str:
    """A stable opaque id per currency and period, of Amazon's shape (letters and digits)."""
    digest = hashlib.sha256(f"group:{currency}:{start.isoformat()}".encode()).hexdigest()
    return digest[:44]


def event_groups(
    seller: SimulatedSeller, started_after: datetime, started_before: datetime, now: datetime
) -> list[dict[str, Any]]:
    """The seller's event groups (as the model has them) opened in ``[started_after,
    started_before)`` (the model's "before (but not at)"), as known at ``now``, by start and
    currency."""
    by_currency: dict[str, list[str]] = defaultdict(list)
    for mp in seller.config.marketplace_ids:
        by_currency[marketplace(mp).currency].append(mp)
    groups = []
    start = group_start(started_after)
    if start < as_utc(started_after):
        start += timedelta(days=GROUP_DAYS)
    while start < as_utc(started_before) and start <= now:
        end = start + timedelta(days=GROUP_DAYS)
        closed = end <= now
        for currency, markets in sorted(by_currency.items()):
            posted = financial_events(seller, markets, start, min(end, now) - timedelta(seconds=1),
                                      as_of=now)  # fmt: skip
            total = sum((a for e in posted for _, parts in e.items for a in parts.values()),
                        Decimal(0))  # fmt: skip
            group: dict[str, Any] = {
                "FinancialEventGroupId": group_id(currency, start),
                "ProcessingStatus": "Closed" if closed else "Open",
                "FundTransferStatus": "Succeeded" if closed else "Unknown",
                "OriginalTotal": _amount(total, currency),
                "BeginningBalance": _amount(Decimal(0), currency),
                "FinancialEventGroupStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            if closed:
                group |= {
                    "ConvertedTotal": _amount(total, currency),
                    "FundTransferDate": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "FinancialEventGroupEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "TraceId": group_id(currency, start)[:16].upper(),
                    "AccountTail": "042",
                }
            groups.append(group)
        start = end
    return groups
