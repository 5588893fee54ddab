"""FBA customer returns of the simulated seller: what ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``
shows, and so the ground truth of the lake's ``returns`` table.

A refunded FBA item comes back to a fulfillment center: its return is processed at the moment
of the refund (Amazon refunds most FBA returns when the unit is scanned in), for the refunded
units, one row per item. About ``RETURNLESS_SHARE`` of the refunds are returnless (Amazon
refunds without asking for the item back): those appear in no returns report, as on Amazon,
so a marketplace's returned units are at most its refunded units (Data Kiosk's
``unitsRefunded``) and equal them less the returnless ones. Merchant-fulfilled items are not
FBA returns and never appear.

Each product has a main reason its returns lean to (half of them), so a product's reasons tell
a story; the rest follow the general mix. The disposition (the unit's condition as the
fulfillment center graded it, Amazon's six codes) follows the reason; the status follows the
disposition. Everything is drawn per order item from seeded generators, so a return reads the
same whenever it is requested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from spapi_sandbox.seller import (
    OrderItem,
    SimulatedSeller,
    as_utc,
    rng_for,
)
from spapi_toolkit.regions import marketplace

RETURNLESS_SHARE = 0.1  # refunds Amazon grants without the item coming back

# The report's columns, in Amazon's order (Seller Central help 200453320).
COLUMNS = (
    "return-date", "order-id", "sku", "asin", "fnsku", "product-name", "quantity",
    "fulfillment-center-id", "detailed-disposition", "reason", "status",
    "license-plate-number", "customer-comments",
)  # fmt: skip

# Customer return reasons (a subset of Amazon's codes) and their weights in the general mix.
REASONS = {
    "UNWANTED_ITEM": 30, "DEFECTIVE": 15, "NOT_AS_DESCRIBED": 12, "QUALITY_UNACCEPTABLE": 10,
    "ORDERED_WRONG_ITEM": 10, "FOUND_BETTER_PRICE": 8, "NO_REASON_GIVEN": 6,
    "DAMAGED_BY_CARRIER": 5, "MISSING_PARTS": 4,
}  # fmt: skip
MAIN_REASONS = ("DEFECTIVE", "NOT_AS_DESCRIBED", "QUALITY_UNACCEPTABLE", "UNWANTED_ITEM")
MAIN_REASON_SHARE = 0.5

# Amazon's six condition codes, weighted by what the reason makes likely.
DISPOSITIONS = ("SELLABLE", "DEFECTIVE", "CUSTOMER_DAMAGED", "CARRIER_DAMAGED", "DAMAGED",
                "EXPIRED")  # fmt: skip
_FAULTY = {"DEFECTIVE": 70, "CUSTOMER_DAMAGED": 20, "SELLABLE": 10}
_BY_REASON = {
    "DEFECTIVE": _FAULTY, "QUALITY_UNACCEPTABLE": _FAULTY, "MISSING_PARTS": _FAULTY,
    "DAMAGED_BY_CARRIER": {"CARRIER_DAMAGED": 80, "DAMAGED": 20},
}  # fmt: skip
_OTHERWISE = {"SELLABLE": 75, "CUSTOMER_DAMAGED": 20, "DAMAGED": 5}
# What became of the unit: Amazon takes over (and reimburses) what it or its carrier damaged;
# the rest goes back to the seller's inventory, sellable or not.
REIMBURSED = ("DAMAGED", "CARRIER_DAMAGED")

FULFILLMENT_CENTERS = {
    "na": ("PHX7", "ONT8", "BFI4", "MDW2", "TPA1"),
    "eu": ("FRA7", "LEJ1", "DUS2", "MUC3"),
    "fe": ("NRT1", "KIX2", "HND3"),
}
COMMENTS = {
    "DEFECTIVE": "stopped working after two days",
    "NOT_AS_DESCRIBED": "smaller than in the pictures",
    "QUALITY_UNACCEPTABLE": "feels cheap",
    "UNWANTED_ITEM": "changed my mind",
}
COMMENT_SHARE = 0.3
_LPN_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class Return:
    """One row of the FBA customer returns report."""

    return_date: datetime  # when the fulfillment center processed it (UTC)
    order_id: str
    sku: str
    asin: str
    fnsku: str
    product_name: str
    quantity: int
    fulfillment_center_id: str
    detailed_disposition: str
    reason: str
    status: str
    license_plate_number: str
    customer_comments: str
    marketplace_id: str
    local_date: date  # the marketplace-local day of return_date

    def cells(self) -> list[object]:
        """The report's cells, in ``COLUMNS`` order."""
        values = {**self.__dict__, "return_date": as_utc(self.return_date).isoformat()}
        return [values[c.replace("-", "_")] for c in COLUMNS]


def returns(
    seller: SimulatedSeller,
    marketplace_id: str,
    start: datetime,
    end: datetime,
    as_of: datetime | None = None,
) -> list[Return]:
    """The FBA returns processed in ``[start, end]`` (instants; naive means UTC) as a report
    requested at ``as_of`` shows them (None: every return, the ground truth), by return date."""
    start, end = as_utc(start), as_utc(end)
    found = []
    for seen in seller.items_after_sale(marketplace_id, start, end, as_of):
        if seen.refund_date is None or seen.fulfillment_channel != "Amazon":
            continue
        if start <= seen.refund_date <= end and (row := _return(seller, seen)):
            found.append(row)
    return sorted(found, key=lambda r: (r.return_date, r.order_id, r.sku))


def _return(seller: SimulatedSeller, item: OrderItem) -> Return | None:
    """A refunded item's return, processed when it was refunded (None: a returnless refund)."""
    at = as_utc(item.refund_date) if item.refund_date else None
    if at is None:
        return None
    rng = rng_for(seller.config.seed, "return", item.order_item_id)
    if rng.random() < RETURNLESS_SHARE:
        return None
    main = rng_for(seller.config.seed, "return-reason", item.asin).choice(MAIN_REASONS)
    if rng.random() < MAIN_REASON_SHARE:
        reason = main
    else:
        reason = rng.choices(list(REASONS), weights=list(REASONS.values()))[0]
    odds = _BY_REASON.get(reason, _OTHERWISE)
    disposition = rng.choices(list(odds), weights=list(odds.values()))[0]
    market = marketplace(item.marketplace_id)
    product = seller.product(item.sku)
    comment = COMMENTS.get(reason, "") if rng.random() < COMMENT_SHARE else ""
    return Return(
        return_date=as_utc(at), order_id=item.amazon_order_id, sku=item.sku, asin=item.asin,
        fnsku=product.fnsku if product else "", product_name=item.product_name,
        quantity=item.units_refunded,
        fulfillment_center_id=rng.choice(FULFILLMENT_CENTERS.get(market.region, ("XFC1",))),
        detailed_disposition=disposition, reason=reason,
        status="Reimbursed" if disposition in REIMBURSED else "Unit returned to inventory",
        license_plate_number="LPN" + "".join(rng.choice(_LPN_CHARACTERS) for _ in range(9)),
        customer_comments=comment, marketplace_id=item.marketplace_id,
        local_date=at.astimezone(ZoneInfo(market.timezone)).date(),
    )  # fmt: skip
