"""Report documents of the simulated seller: reproducible, schema-valid, and reconciling
exactly with the seller's ground truth."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from spapi_sandbox.documents import (
    REPORT_TYPES,
    NoDataError,
    render_data_kiosk,
    render_report,
)
from spapi_sandbox.seller import SellerConfig, SimulatedSeller

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
ST = "GET_SALES_AND_TRAFFIC_REPORT"
BY_ORDER_DATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
BY_LAST_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"
INVENTORY = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
SEARCH_TERMS = "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT"
REPEAT = "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT"
BASKET = "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT"
RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
SCHEMA_FILES = {
    ST: "sellerSalesAndTrafficReport.json",
    SEARCH_TERMS: "sellingPartnerSearchTermsReport.json",
    REPEAT: "sellingPartnerRepeatPurchaseReport.json",
    BASKET: "sellingPartnerMarketBasketAnalysisReport.json",
}
ALL_ORDERS_COLUMNS = [
    "amazon-order-id",
    "merchant-order-id",
    "order-item-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "cpf",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
    "signature-confirmation-recommended",
]
# Long after the history: every day is final.
LATE = datetime(2027, 1, 1, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_14 = datetime(2026, 11, 14, tzinfo=UTC)


@pytest.fixture(scope="module")
def seller() -> SimulatedSeller:
    return SimulatedSeller()


def _schema(filename: str) -> dict:
    path = resources.files("spapi_toolkit").joinpath(
        f"data/spapi-models/schemas/reports/{filename}"
    )
    return json.loads(path.read_text("utf-8"))


def _tsv(content: bytes, encoding: str = "utf-8") -> list[dict[str, str]]:
    header, *lines = content.decode(encoding).rstrip("\n").split("\n")
    columns = header.split("\t")
    return [dict(zip(columns, line.split("\t"), strict=True)) for line in lines]


def _st(seller, mp, day_from, day_to, as_of=LATE, **options) -> dict:
    start = datetime.combine(day_from, datetime.min.time(), UTC)
    end = datetime.combine(day_to, datetime.min.time(), UTC)
    return json.loads(render_report(seller, ST, [mp], start, end, options, as_of))


# Every report type with one request each: (report type, marketplace, options).
REQUESTS = [
    (ST, US, {"dateGranularity": "DAY", "asinGranularity": "SKU"}),
    (BY_ORDER_DATE, US, {}),
    (BY_LAST_UPDATE, DE, {}),
    (LISTINGS, JP, {}),
    (INVENTORY, US, {}),
    (SEARCH_TERMS, DE, {"reportPeriod": "WEEK"}),
    (REPEAT, US, {"reportPeriod": "WEEK"}),
    (BASKET, JP, {"reportPeriod": "DAY"}),
    (RETURNS, US, {}),
]


def test_every_report_type_is_covered():
    assert {r[0] for r in REQUESTS} == set(REPORT_TYPES)
    assert {name for name, spec in REPORT_TYPES.items() if spec.format == "json"} == set(
        SCHEMA_FILES
    )


@pytest.mark.parametrize(("report_type", "mp", "options"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_same_seed_gives_identical_bytes_and_another_seed_differs(report_type, mp, options):
    def render(seed: int) -> bytes:
        return render_report(
            SimulatedSeller(SellerConfig(seed=seed)),
            report_type,
            [mp],
            NOV_1,
            NOV_14,
            options,
            LATE,
        )

    first = render(42)
    assert first and first == render(42)
    assert first != render(43)


def test_json_reports_validate_against_the_bundled_schemas(seller):
    requests = [
        (ST, mp, {"dateGranularity": dg, "asinGranularity": ag})
        for mp in (US, DE, JP)
        for dg in ("DAY", "WEEK", "MONTH")
        for ag in ("PARENT", "CHILD", "SKU")
    ]
    requests += [
        (SEARCH_TERMS, mp, {"reportPeriod": p})
        for mp in (US, JP)
        for p in ("DAY", "WEEK", "MONTH", "QUARTER")
    ]
    requests += [
        (REPEAT, mp, {"reportPeriod": p}) for mp in (US, DE) for p in ("WEEK", "MONTH", "QUARTER")
    ]
    requests += [
        (BASKET, mp, {"reportPeriod": p})
        for mp in (US, JP)
        for p in ("DAY", "WEEK", "MONTH", "QUARTER")
    ]
    validated = 0
    for report_type, mp, options in requests:
        document = json.loads(render_report(seller, report_type, [mp], NOV_1, NOV_14, options))
        validator = jsonschema.Draft7Validator(
            _schema(SCHEMA_FILES[report_type]), format_checker=jsonschema.FormatChecker()
        )
        errors = list(validator.iter_errors(document))
        assert not errors, f"{report_type} {options}: {errors[0].message}"
        validated += 1
    print(f"validated {validated} JSON documents against their bundled schemas")
    assert validated == len(requests) == 49


# ---- Sales & Traffic ------------------------------------------------------------------------


def test_sales_and_traffic_by_date_reconciles_with_truth(seller):
    doc = _st(seller, DE, date(2026, 11, 1), date(2026, 11, 14))
    truth: dict[str, dict] = defaultdict(lambda: defaultdict(Decimal))
    for row in seller.truth(date(2026, 11, 1), date(2026, 11, 14)):
        if row["marketplace_id"] == DE:
            for name in (
                "units_ordered",
                "ordered_product_sales",
                "total_order_items",
                "sessions",
                "page_views",
                "units_refunded",
                "units_ordered_b2b",
            ):
                truth[row["date"].isoformat()][name] += row[name]
    assert [d["date"] for d in doc["salesAndTrafficByDate"]] == sorted(truth)
    for day in doc["salesAndTrafficByDate"]:
        sales, traffic, expected = day["salesByDate"], day["trafficByDate"], truth[day["date"]]
        assert sales["unitsOrdered"] == expected["units_ordered"]
        assert sales["orderedProductSales"] == {
            "amount": float(expected["ordered_product_sales"]),
            "currencyCode": "EUR",
        }
        assert sales["totalOrderItems"] == expected["total_order_items"]
        assert sales["unitsOrderedB2B"] == expected["units_ordered_b2b"]
        assert sales["unitsRefunded"] == expected["units_refunded"]
        assert traffic["sessions"] == expected["sessions"]
        assert traffic["pageViews"] == expected["page_views"]


def _shipments_or_refunds_only(row: dict) -> bool:
    """A truth row whose ASIN only shipped or had refunds that day: no sessions, no order."""
    return not (row["sessions"] or row["total_order_items"]) and bool(
        row["units_shipped"] or row["units_refunded"]
    )


def test_sales_and_traffic_by_asin_for_one_day_equals_truth(seller):
    """Every truth key of the day is a by-ASIN row, except the ASINs with only shipments or
    refunds: Amazon's by-ASIN rows have no shipped or refunded fields and leave them out
    (``documents.on_detail_pages`` has the sources); their units are in the by-date totals."""
    day = date(2026, 11, 16)  # two JP ASINs only shipped that day
    doc = _st(seller, JP, day, day, asinGranularity="CHILD")
    truth = {r["asin"]: r for r in seller.truth(day, day) if r["marketplace_id"] == JP}
    rows = {r["childAsin"]: r for r in doc["salesAndTrafficByAsin"]}
    left_out = truth.keys() - rows.keys()
    assert rows.keys() <= truth.keys() and len(left_out) == 2
    assert all(_shipments_or_refunds_only(truth[asin]) for asin in left_out)
    assert not any(_shipments_or_refunds_only(truth[asin]) for asin in rows)
    [by_date] = doc["salesAndTrafficByDate"]
    assert by_date["salesByDate"]["unitsShipped"] == sum(t["units_shipped"] for t in truth.values())
    assert by_date["salesByDate"]["unitsRefunded"] == sum(
        t["units_refunded"] for t in truth.values()
    )
    for asin, row in rows.items():
        expected = truth[asin]
        assert row["parentAsin"] == expected["parent_asin"]
        assert row["salesByAsin"]["unitsOrdered"] == expected["units_ordered"]
        assert row["salesByAsin"]["orderedProductSales"]["amount"] == float(
            expected["ordered_product_sales"]
        )
        assert row["salesByAsin"]["orderedProductSales"]["currencyCode"] == "JPY"
        assert row["salesByAsin"]["totalOrderItems"] == expected["total_order_items"]
        assert row["trafficByAsin"]["sessions"] == expected["sessions"]
        assert row["trafficByAsin"]["browserSessions"] == expected["browser_sessions"]
        assert row["trafficByAsin"]["buyBoxPercentage"] == expected["buy_box_percentage"]


def test_parent_granularity_sums_the_children(seller):
    day = date(2026, 11, 20)
    child = _st(seller, US, day, day, asinGranularity="CHILD")["salesAndTrafficByAsin"]
    parent = _st(seller, US, day, day, asinGranularity="PARENT")["salesAndTrafficByAsin"]
    sums: dict[str, int] = defaultdict(int)
    for row in child:
        sums[row["parentAsin"]] += row["salesByAsin"]["unitsOrdered"]
    assert {r["parentAsin"]: r["salesByAsin"]["unitsOrdered"] for r in parent} == sums
    assert all("childAsin" not in r for r in parent)


def test_week_and_month_granularity_aggregate_days(seller):
    days = _st(seller, US, date(2026, 11, 1), date(2026, 11, 27))["salesAndTrafficByDate"]
    weeks = _st(seller, US, date(2026, 11, 1), date(2026, 11, 27), dateGranularity="WEEK")
    months = _st(seller, US, date(2026, 11, 1), date(2026, 11, 27), dateGranularity="MONTH")
    week_dates = [w["date"] for w in weeks["salesAndTrafficByDate"]]
    assert week_dates == ["2026-11-01", "2026-11-08", "2026-11-15", "2026-11-22"]  # Sundays
    total = sum(d["salesByDate"]["unitsOrdered"] for d in days)
    assert sum(w["salesByDate"]["unitsOrdered"] for w in weeks["salesAndTrafficByDate"]) == total
    assert months["salesAndTrafficByDate"][0]["salesByDate"]["unitsOrdered"] == total


def test_recent_days_are_restated_then_final(seller):
    day = date(2026, 11, 20)
    end_of_day = datetime(2026, 11, 21, 8, tzinfo=UTC)  # local midnight in Los Angeles
    early = _st(seller, US, day, day, as_of=end_of_day + timedelta(hours=3))
    later = _st(seller, US, day, day, as_of=end_of_day + timedelta(hours=50))
    final = _st(seller, US, day, day, as_of=end_of_day + timedelta(hours=72))
    assert early != final and later != final
    truth_units = sum(
        r["units_ordered"] for r in seller.truth(day, day) if r["marketplace_id"] == US
    )
    assert final["salesAndTrafficByDate"][0]["salesByDate"]["unitsOrdered"] == truth_units
    assert final == _st(seller, US, day, day, as_of=None)


def test_sales_and_traffic_needs_one_marketplace_and_valid_options(seller):
    with pytest.raises(ValueError):
        render_report(seller, ST, [US, DE], NOV_1, NOV_14)
    with pytest.raises(ValueError):
        render_report(seller, ST, [US], NOV_1, NOV_14, {"dateGranularity": "YEAR"})
    with pytest.raises(ValueError):
        render_report(seller, "GET_NOT_A_REPORT", [US], NOV_1, NOV_14)


def test_windows_without_data_raise_no_data(seller):
    before = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 7, tzinfo=UTC))
    for report_type, options in (
        (ST, {}),
        (BY_ORDER_DATE, {}),
        (BY_LAST_UPDATE, {}),
        (REPEAT, {"reportPeriod": "WEEK"}),
        (SEARCH_TERMS, {"reportPeriod": "WEEK"}),
        (BASKET, {"reportPeriod": "WEEK"}),
    ):
        with pytest.raises(NoDataError):
            render_report(seller, report_type, [US], *before, options)
    with pytest.raises(NoDataError):
        render_report(seller, LISTINGS, ["A1F83G8C2ARO7P"], NOV_1, NOV_14)  # not sold in UK


# ---- all orders -----------------------------------------------------------------------------


def test_all_orders_columns_and_dates(seller):
    rows = _tsv(render_report(seller, BY_ORDER_DATE, [US], NOV_1, NOV_14, as_of=LATE))
    assert list(rows[0]) == ALL_ORDERS_COLUMNS
    for row in rows:
        purchase = datetime.fromisoformat(row["purchase-date"])
        assert row["purchase-date"].endswith("+00:00") and NOV_1 <= purchase <= NOV_14
        assert datetime.fromisoformat(row["last-updated-date"]) > purchase
    assert [r["purchase-date"] for r in rows] == sorted(r["purchase-date"] for r in rows)


def test_all_orders_rows_reconcile_with_truth(seller):
    """Rule: for a local day and ASIN, the quantities of the by-order-date rows (cancelled rows
    show 0) sum to truth ``units_ordered``, and the item prices of the non-cancelled rows to
    ``ordered_product_sales``."""
    tz = ZoneInfo("Europe/Berlin")
    rows = _tsv(
        render_report(
            seller,
            BY_ORDER_DATE,
            [DE],
            NOV_1 - timedelta(days=1),
            NOV_14 + timedelta(days=1),
            as_of=LATE,
        ),
        "cp1252",  # German flat files are Cp1252, as Amazon's European ones
    )
    units: dict[tuple[date, str], int] = defaultdict(int)
    sales: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        key = (datetime.fromisoformat(row["purchase-date"]).astimezone(tz).date(), row["asin"])
        units[key] += int(row["quantity"])
        if row["order-status"] != "Cancelled":
            sales[key] += Decimal(row["item-price"])
        else:
            assert row["quantity"] == "0" and row["item-price"] == ""
    truth = [
        r
        for r in seller.truth(date(2026, 11, 1), date(2026, 11, 14))
        if r["marketplace_id"] == DE and r["total_order_items"]
    ]
    assert truth
    for r in truth:
        assert units[(r["date"], r["asin"])] == r["units_ordered"]
        assert sales[(r["date"], r["asin"])] == r["ordered_product_sales"]
    in_window = {
        k for k, v in units.items() if date(2026, 11, 1) <= k[0] <= date(2026, 11, 14) and v
    }
    assert in_window == {(r["date"], r["asin"]) for r in truth}


def test_last_update_report_differs_and_shows_cancellations(seller):
    by_order = _tsv(render_report(seller, BY_ORDER_DATE, [US], NOV_1, NOV_14, as_of=LATE))
    by_update = _tsv(render_report(seller, BY_LAST_UPDATE, [US], NOV_1, NOV_14, as_of=LATE))
    assert {r["order-item-id"] for r in by_order} != {r["order-item-id"] for r in by_update}
    assert any(r["order-status"] == "Cancelled" for r in by_order + by_update)
    for row in by_update:
        assert NOV_1 <= datetime.fromisoformat(row["last-updated-date"]) <= NOV_14


def test_all_orders_as_of_shows_pending_orders_without_prices(seller):
    as_of = datetime(2026, 11, 10, 20, tzinfo=UTC)
    rows = _tsv(
        render_report(
            seller, BY_ORDER_DATE, [US], datetime(2026, 11, 9, tzinfo=UTC), as_of, as_of=as_of
        )
    )
    pending = [r for r in rows if r["order-status"] == "Pending"]
    assert pending and all(r["item-price"] == "" for r in pending)
    assert all(datetime.fromisoformat(r["last-updated-date"]) <= as_of for r in rows)


def test_japanese_flat_files_are_cp932(seller):
    for report_type in (BY_ORDER_DATE, LISTINGS, INVENTORY):
        content = render_report(seller, report_type, [JP], NOV_1, NOV_14, as_of=LATE)
        text = content.decode("cp932")
        assert any("\u30a0" <= ch <= "\u30ff" for ch in text), "Japanese product names"
        with pytest.raises(UnicodeDecodeError):
            content.decode("utf-8", errors="strict")
    us = render_report(seller, LISTINGS, [US], NOV_1, NOV_14, as_of=LATE)
    us.decode("utf-8", errors="strict")


# ---- snapshots ------------------------------------------------------------------------------


def test_listings_and_inventory_snapshots(seller):
    listings = _tsv(render_report(seller, LISTINGS, [DE], None, None), "cp1252")
    assert len(listings) == len(seller.products())
    assert list(listings[0])[:4] == ["item-name", "item-description", "listing-id", "seller-sku"]
    assert list(listings[0])[-1] == "status"
    assert {r["fulfillment-channel"] for r in listings} == {"AMAZON_EU", "DEFAULT"}
    inventory = _tsv(render_report(seller, INVENTORY, [DE], None, None), "cp1252")
    assert list(inventory[0])[:3] == ["sku", "fnsku", "asin"]
    assert list(inventory[0])[-1] == "afn-future-supply-buyable"
    assert {r["sku"] for r in inventory} == {p.sku for p in seller.products() if p.is_fba}


# ---- scale ----------------------------------------------------------------------------------


def test_large_seller_renders_one_day():
    """A two-year, 2,000-product seller renders one day by child ASIN. How fast is
    benchmarks/bench_sandbox_render.py's to say (a timed test here flaked under load)."""
    big = SimulatedSeller(SellerConfig(products=2000, days=730))
    day = datetime(2026, 3, 10, tzinfo=UTC)
    document = render_report(big, ST, [US], day, day, {"asinGranularity": "CHILD"}, LATE)
    rows = json.loads(document)["salesAndTrafficByAsin"]
    assert len(rows) > 500
    assert len({row["childAsin"] for row in rows}) == len(rows)  # one row per child ASIN


# ---- Data Kiosk -----------------------------------------------------------------------------

KIOSK_BY_DATE = """
query SalesByDate {
  analytics_salesAndTraffic_2024_04_24 {
    salesAndTrafficByDate(startDate: "2026-11-02" endDate: "2026-11-06" aggregateBy: DAY
                          marketplaceIds: ["ATVPDKIKX0DER"]) {
      startDate endDate marketplaceId
      sales { orderedProductSales { amount currencyCode } unitsOrdered }
      traffic { sessions }
    }
  }
}"""

KIOSK_BY_ASIN = """
query {
  analytics_salesAndTraffic_2024_04_24 {
    salesAndTrafficByAsin(startDate: "2026-11-20", endDate: "2026-11-20", aggregateBy: CHILD,
                          marketplaceIds: ["A1VC38T7YXB528"]) {
      childAsin parentAsin sales { unitsOrdered totalOrderItems }
    }
  }
}"""


def test_data_kiosk_by_date_matches_the_report(seller):
    lines = [
        json.loads(line)
        for line in render_data_kiosk(seller, KIOSK_BY_DATE, LATE).decode().splitlines()
    ]
    report = _st(seller, US, date(2026, 11, 2), date(2026, 11, 6))["salesAndTrafficByDate"]
    assert [line["startDate"] for line in lines] == [r["date"] for r in report]
    for line, row in zip(lines, report, strict=True):
        assert set(line) == {"startDate", "endDate", "marketplaceId", "sales", "traffic"}
        assert line["sales"] == {
            "orderedProductSales": row["salesByDate"]["orderedProductSales"],
            "unitsOrdered": row["salesByDate"]["unitsOrdered"],
        }
        assert line["traffic"] == {"sessions": row["trafficByDate"]["sessions"]}
    assert render_data_kiosk(seller, KIOSK_BY_DATE, LATE) == render_data_kiosk(
        SimulatedSeller(), KIOSK_BY_DATE, LATE
    )


def test_data_kiosk_by_asin_matches_truth(seller):
    lines = [
        json.loads(line)
        for line in render_data_kiosk(seller, KIOSK_BY_ASIN, LATE).decode().splitlines()
    ]
    truth = {
        r["asin"]: r
        for r in seller.truth(date(2026, 11, 20), date(2026, 11, 20))
        if r["marketplace_id"] == JP
    }
    assert lines
    for line in lines:
        assert set(line) == {"childAsin", "parentAsin", "sales"}
        assert line["sales"]["unitsOrdered"] == truth[line["childAsin"]]["units_ordered"]


KIOSK_DAY_BY_ASIN = """
query {
  analytics_salesAndTraffic_2024_04_24 {
    salesAndTrafficByAsin(startDate: "%(day)s", endDate: "%(day)s", aggregateBy: CHILD,
                          marketplaceIds: ["%(mp)s"]) {
      startDate endDate marketplaceId childAsin parentAsin
      sales { unitsOrdered totalOrderItems orderedProductSales { amount currencyCode }
              unitsShipped shippedProductSales { amount currencyCode } ordersShipped
              unitsRefunded refundRate }
      traffic { sessions pageViews }
    }
  }
}"""


def _graphql_fields(type_name: str) -> set[str]:
    """The field names of one type of the bundled Data Kiosk Sales and Traffic schema."""
    text = (
        resources.files("spapi_toolkit")
        .joinpath(
            "data/spapi-models/schemas/data-kiosk/analytics_salesAndTraffic_2024_04_24.graphql"
        )
        .read_text("utf-8")
    )
    body = text.split(f"type {type_name} {{", 1)[1].split("\n}", 1)[0]
    return set(re.findall(r"^  (\w+)(?:\(|: \[?\w+!?\]?!?(?: @|$))", body, re.M))


def test_data_kiosk_by_asin_of_each_day_lists_every_truth_key(seller):
    """One-day Data Kiosk by-ASIN documents hold every truth row of their day, those of ASINs
    with only shipments or refunds too (with zero ordered units and sessions), with the
    truth's shipped and refunded figures; their fields are the schema's."""
    fields = {name: _graphql_fields(name) for name in ("SalesAndTrafficByAsin", "ByAsinSales",
                                                       "ByAsinTraffic")}  # fmt: skip
    checked, only = 0, defaultdict(int)
    for mp, currency in ((DE, "EUR"), (JP, "JPY")):
        for day in (date(2026, 11, 15) + timedelta(days=n) for n in range(9)):
            query = KIOSK_DAY_BY_ASIN % {"day": day.isoformat(), "mp": mp}
            lines = [json.loads(x) for x in render_data_kiosk(seller, query, LATE).splitlines()]
            truth = {r["asin"]: r for r in seller.truth(day, day) if r["marketplace_id"] == mp}
            got = {line["childAsin"]: line for line in lines}
            assert len(got) == len(lines) and got.keys() == truth.keys(), (mp, day)
            for asin, line in got.items():
                t, sales = truth[asin], line["sales"]
                assert set(line) <= fields["SalesAndTrafficByAsin"]
                assert set(sales) <= fields["ByAsinSales"]
                assert set(line["traffic"]) <= fields["ByAsinTraffic"]
                window = (day.isoformat(), day.isoformat(), mp, t["parent_asin"])
                assert window == (
                    line["startDate"],
                    line["endDate"],
                    line["marketplaceId"],
                    line["parentAsin"],
                )
                assert sales == {
                    "unitsOrdered": t["units_ordered"],
                    "totalOrderItems": t["total_order_items"],
                    "orderedProductSales": _money(t["ordered_product_sales"], currency),
                    "unitsShipped": t["units_shipped"],
                    "shippedProductSales": _money(t["shipped_product_sales"], currency),
                    "ordersShipped": sales["ordersShipped"],
                    "unitsRefunded": t["units_refunded"],
                    "refundRate": sales["refundRate"],
                }
                assert line["traffic"] == {"sessions": t["sessions"], "pageViews": t["page_views"]}
                if _shipments_or_refunds_only(t):
                    assert sales["unitsOrdered"] == sales["totalOrderItems"] == 0
                    assert line["traffic"]["sessions"] == 0 and sales["refundRate"] == 0.0
                    assert (sales["ordersShipped"] > 0) == (sales["unitsShipped"] > 0)
                    only["shipped" if sales["unitsShipped"] else "refunded"] += 1
                checked += 1
    assert checked > 100 and only["shipped"] >= 5 and only["refunded"] >= 1  # JP, Nov 23


def _money(amount: Decimal, currency: str) -> dict:
    return {"amount": float(amount), "currencyCode": currency}


def test_data_kiosk_rejects_other_queries_and_empty_windows(seller):
    with pytest.raises(ValueError):
        render_data_kiosk(seller, "query { analytics_economics_2024_03_15 { economics } }")
    with pytest.raises(NoDataError):
        render_data_kiosk(seller, KIOSK_BY_DATE.replace("2026-11-0", "2023-11-0"))
