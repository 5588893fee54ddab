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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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
        if name not in ("FBAPerUnitFulfillmentFee", "ShippingCharge", "ShippingTax")
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
