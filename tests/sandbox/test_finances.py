"""The sandbox's Finances events follow Amazon's fee structure and agree with its orders: every
shipped item posts once, when it ships, with its price as Principal; the referral fee is the
category's share with its minimum, the FBA fee its size tier's per unit (FBA items only); a
refund gives back the refunded share less the refund administration fee and never the FBA fee;
and the principal posted per local day and SKU is the seller's shipped product sales."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from spapi_sandbox.finances import (
    MIN_REFERRAL_USD,
    REFERRAL_RATES,
    fee_truth,
    financial_events,
    referral_fee,
    size_tier,
)
from spapi_sandbox.seller import SellerConfig, SimulatedSeller

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
CENT = Decimal("0.01")
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def seller() -> SimulatedSeller:
    return SimulatedSeller(SellerConfig(days=45))


def _parts(item_json: dict, refund: bool) -> dict[str, Decimal]:
    suffix = "AdjustmentList" if refund else "List"
    parts = {c["ChargeType"]: c["ChargeAmount"] for c in item_json[f"ItemCharge{suffix}"]}
    parts |= {f["FeeType"]: f["FeeAmount"] for f in item_json[f"ItemFee{suffix}"]}
    for promotion in item_json[f"Promotion{suffix}"]:
        parts["Promotion"] = promotion["PromotionAmount"]
    return {k: Decimal(str(v["CurrencyAmount"])) for k, v in parts.items()}


def test_every_shipped_item_posts_once_with_amazons_fees(seller):
    items = {i.order_item_id: i for i in seller.order_items(US, START, END)}
    posted = defaultdict(int)
    for event in financial_events(seller, [US], START, END):
        if event.kind != "shipment":
            continue
        for entry in event.body["ShipmentItemList"]:
            item = items[entry["OrderItemId"]]
            posted[item.order_item_id] += 1
            parts = _parts(entry, refund=False)
            assert event.posted == item.ship_date and parts["Principal"] == item.item_price
            product = seller.product(item.sku)
            fee = -parts["Commission"]
            assert fee >= MIN_REFERRAL_USD and fee == referral_fee(seller, item)
            sold = item.item_price + item.shipping_price  # what the buyer paid, tax excluded
            rates = (REFERRAL_RATES[product.category], Decimal("0.08"))  # 8 %: cheap beauty
            assert fee in {max(MIN_REFERRAL_USD, (sold * r).quantize(CENT, ROUND_HALF_UP))
                           for r in rates}  # fmt: skip
            fba = item.fulfillment_channel == "Amazon"
            assert ("FBAPerUnitFulfillmentFee" in parts) == fba
            if fba:
                assert -parts["FBAPerUnitFulfillmentFee"] == size_tier(item.sku)[1] * item.quantity
    shipped = {k for k, i in items.items() if i.ship_date and START <= i.ship_date <= END}
    assert set(posted) == shipped and set(posted.values()) == {1}


def test_a_refund_gives_back_its_share_less_the_admin_fee_and_no_fba_fee(seller):
    refunds = [e for e in financial_events(seller, [US, DE], START, END) if e.kind == "refund"]
    assert refunds
    for event in refunds:
        for entry in event.body["ShipmentItemAdjustmentList"]:
            parts = _parts(entry, refund=True)
            assert parts["Principal"] < 0 and parts["Commission"] > 0
            assert "FBAPerUnitFulfillmentFee" not in parts
            admin = -parts["RefundCommission"]
            cap = Decimal("5.00") if event.marketplace_id == US else Decimal("4.60")  # EUR
            fifth = (parts["Commission"] * Decimal("0.2")).quantize(CENT, ROUND_HALF_UP)
            assert admin == min(fifth, cap)


def test_the_principal_posted_per_day_and_sku_is_the_shipped_product_sales(seller):
    truth = fee_truth(seller, [US, DE, JP], START, END)
    for row in seller.truth():
        key = (row["marketplace_id"], row["date"].isoformat(), row["sku"], "ShipmentEventList")
        assert truth.get(key, {}).get("Principal", 0) == row["shipped_product_sales"], key
