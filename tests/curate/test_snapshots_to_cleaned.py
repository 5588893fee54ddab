"""raw → cleaned for the JSON-lines datasets (API snapshots, Data Kiosk) and the Brand Analytics
reports: ingested from the sandbox the way ``make demo`` does (``run_seller``), curated on a
local Spark, and set against the simulated seller's own numbers."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from spapi_sandbox.demo import FEE_COLUMNS
from spapi_toolkit.lake.checks import document_shape
from spapi_toolkit.lake.landing import land
from spapi_toolkit.lake.layout import raw_stem
from spapi_toolkit.lake.registry import dataset
from spapi_toolkit.lake.storage import Lake

from ..reconcile import DE, JP, US
from .snapshots import FIRST, LAST, MARKETS, TABLES
from .week import KEY, SELLER, TODAY, curate


@pytest.fixture(scope="module")
def curated(snapshots):
    """conftest's ``snapshots``: the curation results, the curated rows and the seller's own
    numbers."""
    _, results, tables, truth = snapshots
    return results, tables, truth


def test_every_table_reconciles_with_nothing_quarantined_or_refused(curated):
    results, tables, _ = curated
    assert set(results) == set(TABLES)
    for name, result in results.items():
        assert result.documents > 0 and result.rows_out > 0, result
        assert result.reconciles, result
        assert result.quarantined == 0 and not result.refused and not result.blocked, result
        assert len(tables[name]) == result.rows_out, name
        if name != "settlements":  # an account's, one per currency: no marketplace's
            assert {r.marketplace_id for r in tables[name]} == set(MARKETS), name


def test_inventory_summaries_equal_the_sellers_fba_inventory(curated):
    _, tables, truth = curated
    got = {(r.marketplace_id, r.seller_sku): (r.asin, r.fulfillable_quantity, r.reserved_quantity,
           r.unfulfillable_quantity, r.total_quantity)
           for r in tables["inventory_summaries"]}  # fmt: skip
    expected = {(mp, i.sku): (i.asin, i.afn_fulfillable_quantity, i.afn_reserved_quantity,
                i.afn_unsellable_quantity, i.afn_total_quantity)
                for mp, rows in truth["inventory"].items() for i in rows}  # fmt: skip
    assert len(expected) > 10 and got == expected
    assert {r.snapshot_date for r in tables["inventory_summaries"]} == {TODAY}


def test_financial_events_add_up_to_the_sellers_charges_and_fees(curated):
    """Summed per marketplace, local day, SKU and kind of event, every charge, promotion and
    fee of financial_events is what the sandbox posted (fee_truth); and each row's fees and
    charges are its parts."""
    _, tables, truth = curated
    got: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in tables["financial_events"]:
        key = (row.marketplace_id, row.posted_date.isoformat(), row.sku, row.event_list)
        for name, column in FEE_COLUMNS.items():
            if getattr(row, column) is not None:
                got[key][name] += getattr(row, column)
        fees = [row.referral_fee, row.fba_fee, row.refund_commission]
        assert row.fees == sum(f for f in fees if f is not None), row
        charges = [row.principal, row.tax, row.shipping_charge, row.shipping_tax]
        assert row.charges == sum(c for c in charges if c is not None), row

    def nonzero(totals: dict) -> dict:
        return {key: {n: v for n, v in parts.items() if v} for key, parts in totals.items()}

    assert len(truth["fees"]) > 100 and nonzero(got) == nonzero(truth["fees"])
    kinds = {row.event_list for row in tables["financial_events"]}
    assert kinds == {"ShipmentEventList", "RefundEventList"}


def test_settlements_are_the_sellers_settlement_groups_once_each(curated):
    """One row per currency's group opened in the window (US, DE and JP each pulled their own
    currency's), as the sandbox had it: closed, with its payout."""
    _, tables, truth = curated
    got = {r.group_id: (r.processing_status, r.currency, r.original_total, r.group_start_ts,
                        r.group_end_ts, r.fund_transfer_status)
           for r in tables["settlements"]}  # fmt: skip

    def moment(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text[:-1])  # naive UTC, as read

    expected = {g["FinancialEventGroupId"]: (
        g["ProcessingStatus"], g["OriginalTotal"]["CurrencyCode"],
        Decimal(str(g["OriginalTotal"]["CurrencyAmount"])), moment(g["FinancialEventGroupStart"]),
        moment(g.get("FinancialEventGroupEnd")), g["FundTransferStatus"],
    ) for g in truth["groups"]}  # fmt: skip
    assert got == expected
    assert {v[1] for v in got.values()} == {"USD", "EUR", "JPY"}
    assert all(v[0] == "Closed" and v[2] > 0 for v in got.values())


def test_catalog_items_carry_the_products_titles_brands_and_ranks(curated):
    _, tables, truth = curated
    products = truth["products"]
    rows = tables["catalog_items"]
    assert rows and all(r.title == products[r.asin].title(r.marketplace_id) for r in rows)
    assert all(r.brand == products[r.asin].brand for r in rows)
    assert all(r.sales_rank > 0 and r.classification_rank > 0 for r in rows)
    assert all(r.classification_rank_id == r.classification_id for r in rows)
    parents = {r.asin: r.parent_asin for r in rows}
    assert parents == {a: (None if products[a].parent_asin == a else products[a].parent_asin)
                       for a in parents}  # fmt: skip


def test_item_offers_show_our_price_and_who_has_the_buy_box(curated):
    _, tables, truth = curated
    products = truth["products"]
    rows = tables["item_offers"]
    assert rows and all(r.our_listing_price == products[r.asin].price(r.marketplace_id)
                        for r in rows)  # fmt: skip
    assert all(r.we_win_buy_box == (r.buy_box_seller_id == SELLER) for r in rows)
    # Who won is the sandbox's draw for the hour the snapshot was taken (we win often, not
    # always): each row's winner is the one the landed document names.
    winners: dict[tuple[str, str, str], set[str | None]] = defaultdict(set)
    for marketplace_id, day, item in truth["served"]["item_offers"]:
        payload = item["body"]["payload"]
        won = [o["SellerId"] for o in payload["Offers"] if o.get("IsBuyBoxWinner")]
        winners[(marketplace_id, day, payload["ASIN"])].add(won[0] if won else None)
    assert all(r.buy_box_seller_id in winners[(r.marketplace_id, str(r.snapshot_date), r.asin)]
               for r in rows)  # fmt: skip
    assert all(r.total_offer_count == (r.fba_offer_count or 0) + (r.mfn_offer_count or 0)
               for r in rows)  # fmt: skip
    lowest = [p for r in rows for p in (r.lowest_fba_landed_price, r.lowest_mfn_landed_price) if p]
    assert lowest and all(isinstance(p, Decimal) for p in lowest)
    currencies = {(r.marketplace_id, r.currency) for r in rows}
    assert currencies == {(US, "USD"), (DE, "EUR"), (JP, "JPY")}


def test_competitive_summary_threshold_is_the_lowest_landed_price(curated):
    _, tables, _ = curated
    rows = tables["competitive_summary"]
    assert rows and all(r.status_code == 200 for r in rows)
    landed = {(r.marketplace_id, r.asin): r.lowest_offer_listing_price
              + r.lowest_offer_shipping_price for r in rows}  # fmt: skip
    assert all(r.competitive_price_threshold == landed[(r.marketplace_id, r.asin)] for r in rows)
    assert all(0 <= r.featured_offer_view_share <= 1 for r in rows)


def test_data_kiosk_units_and_sales_equal_the_truth_of_each_day(curated):
    """One query per marketplace and day (salesAndTrafficByAsin sums its whole window): every
    window is one day of the range, and each (marketplace, ASIN, day) is that day's truth."""
    _, tables, truth = curated
    rows = tables["kiosk_sales_traffic"]
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    assert {(r.marketplace_id, r.start_date, r.end_date) for r in rows} == {
        (mp, d, d) for mp in MARKETS for d in days}  # fmt: skip
    got = {(r.marketplace_id, r.child_asin, r.start_date): (
           r.units_ordered, r.ordered_product_sales, r.units_shipped, r.shipped_product_sales,
           r.units_refunded) for r in rows}  # fmt: skip
    # every truth row is in its day's document, an ASIN with only shipments or refunds too
    expected = {(t["marketplace_id"], t["asin"], t["date"]): (
                t["units_ordered"], _cents(t["ordered_product_sales"]), t["units_shipped"],
                _cents(t["shipped_product_sales"]), t["units_refunded"])
                for t in truth["sales"]}  # fmt: skip
    assert len(got) > 100 and got == expected
    assert sum(v[2] for v in got.values()) > 0 and sum(v[4] for v in got.values()) > 0
    assert all(0 <= r.buy_box_share <= 1 for r in rows)


def _cents(amount) -> Decimal:
    return Decimal(str(amount)).quantize(Decimal("0.01"))


def test_brand_analytics_rows_equal_the_sandboxs_reports(curated):
    _, tables, truth = curated
    reports = truth["brand_analytics"]
    terms = {(r.marketplace_id, r.week_start, r.department_name, r.search_term, r.click_share_rank,
              r.clicked_asin, r.click_share, r.conversion_share)
             for r in tables["search_terms"]}  # fmt: skip
    assert terms == {
        (mp, week, t["departmentName"], t["searchTerm"], t["clickShareRank"], t["clickedAsin"],
         t["clickShare"], t["conversionShare"])
        for (name, mp, week), rows in reports.items() if name == "search_terms" for t in rows
    }  # fmt: skip
    repeat = {(r.marketplace_id, r.start_date, r.asin): (r.orders, r.unique_customers,
              r.repeat_customers_share, r.repeat_purchase_revenue)
              for r in tables["repeat_purchase"]}  # fmt: skip
    assert repeat == {
        (mp, week, t["asin"]): (t["orders"], t["uniqueCustomers"], t["repeatCustomersPctTotal"],
                                Decimal(str(t["repeatPurchaseRevenue"]["amount"])).quantize(
                                    Decimal("0.01")))
        for (name, mp, week), rows in reports.items() if name == "repeat_purchase" for t in rows
    }  # fmt: skip
    basket = {(r.marketplace_id, r.start_date, r.asin, r.purchased_with_asin):
              (r.purchased_with_rank, r.combination_share)
              for r in tables["market_basket"]}  # fmt: skip
    assert basket == {
        (mp, week, t["asin"], t["purchasedWithAsin"]): (t["purchasedWithRank"], t["combinationPct"])
        for (name, mp, week), rows in reports.items() if name == "market_basket" for t in rows
    }  # fmt: skip
    assert all(0 <= r.combination_share <= 1 for r in tables["market_basket"])


def _utc(text: str | None) -> datetime | None:
    """An ISO 8601 instant as the naive UTC datetime Spark gives back (the session is in UTC)."""
    return (
        None
        if text is None
        else datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    )


def _units(items: list[dict], field: str) -> int | None:
    values = [i["fulfillment"][field] for i in items if field in i.get("fulfillment", {})]
    return sum(values) if values else None


ORDER_COLUMNS = ("marketplace_id", "purchase_ts", "last_updated_ts", "order_status",
                 "fulfillment_channel", "sales_channel", "marketplace_name", "currency",
                 "order_total", "order_items", "units_ordered", "units_shipped",
                 "units_unshipped", "is_business_order", "is_prime")  # fmt: skip


def _served_order(marketplace_id: str, order: dict) -> tuple:
    """The cleaned columns of ``order`` as the Orders API served it, worked out in Python."""
    items, programs = order["orderItems"], order.get("programs", [])
    total = order.get("proceeds", {}).get("grandTotal")
    return (marketplace_id, _utc(order["createdTime"]), _utc(order["lastUpdatedTime"]),
            order["fulfillment"]["fulfillmentStatus"], order["fulfillment"]["fulfilledBy"],
            order["salesChannel"]["channelName"], order["salesChannel"]["marketplaceName"],
            total and total["currencyCode"], total and Decimal(total["amount"]), len(items),
            sum(i["quantityOrdered"] for i in items), _units(items, "quantityFulfilled"),
            _units(items, "quantityUnfulfilled"), "AMAZON_BUSINESS" in programs,
            "PRIME" in programs)  # fmt: skip


def test_orders_hold_the_newest_version_the_orders_api_served(curated):
    _, tables, truth = curated
    newest: dict[str, tuple] = {}
    for marketplace_id, _, order in truth["served"]["orders_api"]:
        seen = _served_order(marketplace_id, order)
        if order["orderId"] not in newest or seen[2] > newest[order["orderId"]][2]:
            newest[order["orderId"]] = seen
    got = {r.order_id: tuple(getattr(r, c) for c in ORDER_COLUMNS) for r in tables["orders"]}
    assert len(got) == len(tables["orders"]) > 100  # the key is unique
    assert got == newest
    assert {r.order_status for r in tables["orders"]} >= {"SHIPPED", "CANCELLED"}
    assert {r.is_business_order for r in tables["orders"]} == {True, False}
    assert {(r.marketplace_id, r.currency) for r in tables["orders"]} == {
        (US, "USD"), (DE, "EUR"), (JP, "JPY")}  # fmt: skip


def test_orders_agree_with_the_sellers_order_items(curated):
    _, tables, truth = curated
    for row in tables["orders"]:
        items = truth["order_items"][row.order_id]
        first = items[0]
        assert row.marketplace_id == first.marketplace_id
        assert row.purchase_ts == first.purchase_date.replace(tzinfo=None)
        assert row.purchase_date == first.local_date  # the marketplace-local day
        assert row.is_business_order == first.is_business_order
        assert row.fulfillment_channel == first.fulfillment_channel.upper()
        assert row.order_items == len(items), row.order_id  # every order comes whole
        assert row.units_ordered == sum(i.quantity for i in items)
        assert row.order_total == sum(i.item_price for i in items if not i.is_cancelled)


def test_orders_have_no_personal_data_columns_but_the_restricted_and_hashed(curated):
    _, tables, _ = curated
    columns = set(tables["orders"][0].asDict())
    assert not {"buyer_name", "buyer_email"} & columns
    assert {"ship_city", "ship_postal_code", "purchase_order_number"} <= columns


LISTING_COLUMNS = ("asin", "fnsku", "product_type", "condition", "is_buyable", "is_discoverable",
                   "item_name", "created_ts", "last_updated_ts", "currency", "price",
                   "fulfillment_channel", "quantity", "issue_count",
                   "highest_issue_severity")  # fmt: skip


def _served_listing(item: dict) -> tuple:
    summary, availability = item["summaries"][0], item["fulfillmentAvailability"][0]
    offer = next(o for o in item["offers"] if o["offerType"] == "B2C")
    severities = [i["severity"] for i in item["issues"]]
    worst = next((s for s in ("ERROR", "WARNING", "INFO") if s in severities), None)
    return (summary["asin"], summary.get("fnSku"), summary["productType"],
            summary["conditionType"], "BUYABLE" in summary["status"],
            "DISCOVERABLE" in summary["status"], summary["itemName"],
            _utc(summary["createdDate"]), _utc(summary["lastUpdatedDate"]),
            offer["price"]["currencyCode"], Decimal(offer["price"]["amount"]),
            availability["fulfillmentChannelCode"], availability.get("quantity"),
            len(item["issues"]), worst)  # fmt: skip


def test_listings_items_equal_what_the_listings_api_served(curated):
    _, tables, truth = curated
    served = {(mp, date.fromisoformat(dt), item["sku"]): _served_listing(item)
              for mp, dt, item in truth["served"]["listings_items"]}  # fmt: skip
    got = {(r.marketplace_id, r.snapshot_date, r.sku): tuple(getattr(r, c) for c in LISTING_COLUMNS)
           for r in tables["listings_items"]}  # fmt: skip
    assert len(got) > 30 and got == served
    assert {r.snapshot_date for r in tables["listings_items"]} == {TODAY}


def test_listings_items_carry_the_products_titles_prices_and_channels(curated):
    _, tables, truth = curated
    products = {p.sku: p for p in truth["products"].values()}
    rows = tables["listings_items"]
    for r in rows:
        product = products[r.sku]
        assert (r.asin, r.item_name, r.price) == (
            product.asin,
            product.title(r.marketplace_id),
            product.price(r.marketplace_id),
        )
        assert r.fulfillment_channel == ("AMAZON_NA" if product.is_fba else "DEFAULT")
        assert (r.quantity is None) == product.is_fba and (r.fnsku is not None) == product.is_fba
        assert r.is_discoverable and r.issue_count == 0 and r.highest_issue_severity is None
    assert {r.is_buyable for r in rows} >= {True}
    assert {(r.marketplace_id, r.currency) for r in rows} == {(US, "USD"), (DE, "EUR"),
                                                              (JP, "JPY")}  # fmt: skip


def _order_line(order_id: str, status: str, updated: str, **extra: Any) -> dict:
    shipped = 2 if status == "SHIPPED" else 0
    return {"orderId": order_id, "createdTime": "2026-11-12T18:00:00Z", "lastUpdatedTime": updated,
            "salesChannel": {"channelName": "AMAZON", "marketplaceName": "Amazon.com"},
            "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": "MERCHANT"},
            "orderItems": [{"orderItemId": "1", "quantityOrdered": 2,
                            "fulfillment": {"quantityFulfilled": shipped,
                                            "quantityUnfulfilled": 2 - shipped}}],
            **extra}  # fmt: skip


def test_the_newest_order_version_wins_and_buyer_data_never_leaves_raw(spark, snapshots, tmp_path):
    """Versions of orders landed after the fixture's run: within a batch and against the
    published table the latest lastUpdatedTime wins; names and emails stay in raw, the postal
    code is hashed, the city kept for Lake Formation to restrict."""
    root = tmp_path / "lake"
    shutil.copytree(snapshots[0], root)
    lake = Lake.from_uri(str(root))
    published = {r.order_id: r for r in snapshots[2]["orders"] if r.marketplace_id == US}
    old_id, old = next(iter(sorted(published.items())))
    private = {"buyer": {"buyerName": "Jane Doe", "buyerEmail": "jane@marketplace.example",
                         "buyerPurchaseOrderNumber": "PO-77"},
               "recipient": {"deliveryAddress": {"name": "Jane Doe", "city": "Seattle",
                                                 "stateOrRegion": "WA", "postalCode": "98101",
                                                 "countryCode": "US"}},
               "programs": ["AMAZON_BUSINESS", "PRIME"]}  # fmt: skip
    lines = [
        # an older version of a published order: the published one stays
        {**_order_line(old_id, "PENDING", "2020-01-01T00:00:00Z"),
         "createdTime": f"{old.purchase_ts.isoformat()}Z"},
        _order_line("999-0000000-0000001", "UNSHIPPED", "2026-11-12T19:00:00Z", **private),
        _order_line("999-0000000-0000001", "SHIPPED", "2026-11-13T08:00:00Z", **private),
        {**_order_line("999-0000000-0000002", "SHIPPED", "2026-11-13T08:00:00Z", **private),
         "createdTime": None},  # no purchase time: quarantined
    ]  # fmt: skip
    spec = dataset("orders_api")
    text = "".join(json.dumps(line) + "\n" for line in lines)
    land(lake, raw_stem(spec.name, SELLER, US, date(2026, 11, 13), "injected-versions"),
         [text.encode()], fmt="jsonl", encodings=["utf-8"], shape=document_shape(spec),
         manifest_fields={"dataset": spec.name, "seller_id": SELLER, "marketplace_ids": [US]},
         now=datetime(2026, 11, 29, 6, tzinfo=UTC))  # fmt: skip

    result = curate(spark, lake, names=["orders"])["orders"]

    assert (result.documents, result.rows_in, result.rows_out, result.quarantined,
            result.superseded) == (1, 4, 2, 1, 1)  # fmt: skip
    assert result.reconciles and not result.blocked
    rows = {r.order_id: r for r in spark.read.parquet(str(root / "cleaned" / "orders")).collect()}
    assert len(rows) == len(snapshots[2]["orders"]) + 1
    assert rows[old_id] == old  # the older version did not replace it
    new = rows["999-0000000-0000001"]
    assert (new.order_status, new.last_updated_ts, new.units_shipped, new.units_unshipped) == (
        "SHIPPED", datetime(2026, 11, 13, 8), 2, 0)  # fmt: skip
    assert (new.is_business_order, new.is_prime) == (True, True)
    assert new.purchase_date == date(2026, 11, 12)
    assert (new.ship_city, new.ship_state, new.ship_country, new.purchase_order_number) == (
        "Seattle", "WA", "US", "PO-77")  # fmt: skip
    assert new.ship_postal_code == hmac.new(KEY, b"98101", hashlib.sha256).hexdigest()
    [bad] = spark.read.json(lake.location(str(result.quarantine_key))).collect()
    assert bad.reason == "purchase_ts is missing" and "buyer_email" not in bad.row.asDict()
    cleaned = [p.read_bytes() for p in (root / "cleaned" / "orders").rglob("*.parquet")]
    quarantined = [p.read_bytes() for p in (root / "quarantine").rglob("*.json")]
    assert cleaned and quarantined
    assert not any(b"Jane" in data or b"jane@" in data for data in cleaned + quarantined)
    assert not any(b"98101" in data for data in cleaned)  # the quarantine keeps it as read
