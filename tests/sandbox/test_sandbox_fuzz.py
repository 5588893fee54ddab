"""Malformed requests to every served operation are refused with 4xx, never answered with 5xx.

For each operation the sandbox serves, a valid request is built and then broken one parameter at
a time: the parameter left out, given values of the wrong type, bad dates, out-of-range numbers,
empty and oversized strings; bodies left out, empty, of the wrong JSON type, not JSON at all, and
with each top-level field removed or of the wrong type. No answer may be a 5xx (the sandbox has no
faults configured) and every 4xx must have SP-API's error shape. Rate limits are lifted so that
every request reaches its handler.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests

from spapi_sandbox.faults import Faults
from spapi_sandbox.limits import ServerLimits
from spapi_sandbox.server import _parameter_specs, run_sandbox
from spapi_toolkit.api.models import find_operation

from ..support import END_DATE

US = "ATVPDKIKX0DER"
BAD_VALUES = (
    "",
    "not-a-date",
    "2026-13-45T25:61:00Z",
    "-1",
    "0",
    "1.5",
    "99999999999999999999",
    "abc",
    "true",
    ",",
    "☃é",
    "%",
    "x" * 2000,
)
BAD_BODIES = (b"", b"{}", b"[]", b"null", b'"x"', b"1", b"not json", b"\xff\xfe", b'{"a":')
WRONG_TYPES: tuple[Any, ...] = (None, 1, -1, "x", "", [], {}, [1], [{}], ["x"], True)


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(end_date=END_DATE, scale=600) as running:
        running.app.limits = ServerLimits(scale=1e6)  # every request reaches its handler
        yield running


class Client:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._tokens: dict[bool, tuple[float, str]] = {}

    def token(self, grantless: bool) -> str:
        """An access token, renewed every second (they last 6 real seconds at scale 600)."""
        cached = self._tokens.get(grantless)
        if cached is None or time.monotonic() - cached[0] > 1:
            env = self.sandbox.env
            form = {
                "client_id": env["SPAPI_CLIENT_ID"],
                "client_secret": env["SPAPI_CLIENT_SECRET"],
            }
            if grantless:
                form.update(
                    grant_type="client_credentials", scope="sellingpartnerapi::notifications"
                )
            else:
                form.update(grant_type="refresh_token", refresh_token=env["SPAPI_REFRESH_TOKEN"])
            answer = requests.post(self.sandbox.lwa_url, data=form)
            self._tokens[grantless] = (time.monotonic(), answer.json()["access_token"])
        return self._tokens[grantless][1]

    def send(self, operation, path: dict[str, str], query: dict[str, str], body: bytes | None):
        url = operation.path
        for name, value in path.items():
            url = url.replace("{" + name + "}", quote(value, safe="") or "%20")
        headers = {"x-amz-access-token": self.token(operation.grantless)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(
            operation.method,
            self.sandbox.url + url,
            params=query,
            data=body,
            headers=headers,
            timeout=30,
        )


def _fixtures(client: Client, sandbox) -> dict[str, str]:
    """Ids of objects that exist: a report and its document, a schedule, a query, ..."""
    app = sandbox.app
    product = app.seller.products()[0]
    op = find_operation("reports_2021-06-30.createReport")
    spec = {
        "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
        "marketplaceIds": [US],
    }
    report_id = client.send(op, {}, {}, json.dumps(spec).encode()).json()["reportId"]
    get_report = find_operation("reports_2021-06-30.getReport")
    deadline = time.monotonic() + 20
    while True:
        report = client.send(get_report, {"reportId": report_id}, {}, None).json()
        if report["processingStatus"] == "DONE" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    schedule = client.send(
        find_operation("reports_2021-06-30.createReportSchedule"),
        {},
        {},
        json.dumps({**spec, "period": "P1D"}).encode(),
    ).json()["reportScheduleId"]
    query = client.send(
        find_operation("dataKiosk_2023-11-15.createQuery"),
        {},
        {},
        json.dumps({"query": KIOSK_QUERY}).encode(),
    ).json()["queryId"]
    destination = client.send(
        find_operation("notifications.createDestination"),
        {},
        {},
        json.dumps(DESTINATION).encode(),
    ).json()["payload"]["destinationId"]
    subscription = client.send(
        find_operation("notifications.createSubscription"),
        {"notificationType": "ANY_OFFER_CHANGED"},
        {},
        json.dumps({"payloadVersion": "1.0", "destinationId": destination}).encode(),
    ).json()["payload"]["subscriptionId"]
    order = next(iter(app.seller.order_items(US, LATE_NOV, END_OF_HISTORY)))
    return {
        "asin": product.asin,
        "Asin": product.asin,
        "sku": product.sku,
        "sellerId": app.config.seller_id,
        "orderId": order.amazon_order_id,
        "reportId": report_id,
        "reportDocumentId": report.get("reportDocumentId", "amzn1.tortuga.nope"),
        "reportScheduleId": schedule,
        "queryId": query,
        "documentId": "nope",
        "destinationId": destination,
        "subscriptionId": subscription,
        "notificationType": "ANY_OFFER_CHANGED",
    }


KIOSK_QUERY = (
    "query{analytics_salesAndTraffic_2024_04_24{salesAndTrafficByDate("
    'startDate:"2026-11-10" endDate:"2026-11-11" aggregateBy:DAY '
    'marketplaceIds:["ATVPDKIKX0DER"]){startDate sales{unitsOrdered}}}}'
)
DESTINATION = {
    "name": "fuzz",
    "resourceSpecification": {"sqs": {"arn": "arn:aws:sqs:local:000000000000:fuzz"}},
}
LATE_NOV = datetime(2026, 11, 20, tzinfo=UTC)
END_OF_HISTORY = datetime(2026, 11, 28, tzinfo=UTC)
# Operations that remove the fixtures others use: fuzzed last, in this order.
REMOVERS = (
    "reports_2021-06-30.cancelReportSchedule",
    "notifications.deleteSubscriptionById",
    "notifications.deleteDestination",
)

# Valid query values by parameter name (first request of each operation uses them).
QUERY = {
    "marketplaceIds": US,
    "MarketplaceIds": US,
    "MarketplaceId": US,
    "ItemCondition": "New",
    "granularityType": "Marketplace",
    "granularityId": US,
    "CreatedAfter": "2026-11-20T00:00:00Z",
    "createdAfter": "2026-11-20T00:00:00Z",
    "reportTypes": "GET_MERCHANT_LISTINGS_ALL_DATA",
    "notificationTypes": "ANY_OFFER_CHANGED",
    "keywords": "a",
}


def _bodies(product_asin: str, destination: str) -> dict[str, dict[str, Any]]:
    return {
        "reports_2021-06-30.createReport": {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "marketplaceIds": [US],
            "dataStartTime": "2026-11-10T00:00:00Z",
            "dataEndTime": "2026-11-12T00:00:00Z",
        },
        "reports_2021-06-30.createReportSchedule": {
            "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
            "marketplaceIds": [US],
            "period": "P1D",
        },
        "dataKiosk_2023-11-15.createQuery": {"query": KIOSK_QUERY},
        "notifications.createDestination": DESTINATION,
        "notifications.createSubscription": {"payloadVersion": "1.0", "destinationId": destination},
        "notifications.sendTestNotification": {
            "destinationId": destination,
            "testNotification": {"payloadVersion": "1.0"},
        },
        "productPricingV0.getItemOffersBatch": {
            "requests": [
                {
                    "uri": f"/products/pricing/v0/items/{product_asin}/offers",
                    "method": "GET",
                    "MarketplaceId": US,
                    "ItemCondition": "New",
                }
            ]
        },
        "productPricing_2022-05-01.getCompetitiveSummary": {
            "requests": [
                {
                    "asin": product_asin,
                    "marketplaceId": US,
                    "method": "GET",
                    "uri": "/products/pricing/2022-05-01/items/competitiveSummary",
                    "includedData": ["featuredBuyingOptions"],
                }
            ]
        },
        "tokens_2021-03-01.createRestrictedDataToken": {
            "restrictedResources": [{"method": "GET", "path": "/orders/v0/orders/1/address"}]
        },
    }


def _body_variants(body: dict[str, Any]) -> list[bytes]:
    """Bad bodies: not JSON, wrong JSON types, each field removed or wrongly typed, and each
    field of the first element of an array field removed or wrongly typed."""
    variants = list(BAD_BODIES)
    for key, value in body.items():
        variants.append(json.dumps({k: v for k, v in body.items() if k != key}).encode())
        for wrong in WRONG_TYPES:
            variants.append(json.dumps({**body, key: wrong}).encode())
        if isinstance(value, list) and value and isinstance(value[0], dict):
            first = value[0]
            for inner in first:
                less = {k: v for k, v in first.items() if k != inner}
                variants.append(json.dumps({**body, key: [less]}).encode())
                for wrong in WRONG_TYPES:
                    variants.append(json.dumps({**body, key: [{**first, inner: wrong}]}).encode())
        if isinstance(value, dict):
            for inner in value:
                for wrong in WRONG_TYPES:
                    variants.append(json.dumps({**body, key: {**value, inner: wrong}}).encode())
    return variants


def _problem(answer: requests.Response) -> str | None:
    """What is wrong with an answer to a malformed request (None: a 2xx, or an SP-API 4xx)."""
    if answer.status_code >= 500:
        return f"{answer.status_code} {answer.text[:200]}"
    if answer.status_code >= 400:
        errors = answer.json().get("errors")
        if not errors or not all(e.get("code") and e.get("message") for e in errors):
            return f"{answer.status_code} not in SP-API's error shape: {answer.text[:200]}"
    return None


def test_malformed_requests_never_answer_5xx(sandbox):
    client = Client(sandbox)
    fixtures = _fixtures(client, sandbox)
    bodies = _bodies(fixtures["asin"], fixtures["destinationId"])
    sent = refused = 0
    problems: list[str] = []
    served = sandbox.app.served_operations()
    assert set(REMOVERS) <= set(served)
    for name in [n for n in served if n not in REMOVERS] + list(REMOVERS):
        operation = find_operation(name)
        specs = [s for s in _parameter_specs(operation) if s["in"] in ("path", "query", "body")]
        path = {s["name"]: fixtures.get(s["name"], "X") for s in specs if s["in"] == "path"}
        query = {s["name"]: QUERY[s["name"]] for s in specs if s["name"] in QUERY}
        body = bodies.get(name)
        cases: list[tuple[dict, dict, bytes | None, str]] = []
        good_body = json.dumps(body).encode() if body is not None else None
        cases.append((path, query, good_body, "as is"))
        for spec in specs:
            param = spec["name"]
            if spec["in"] == "path":
                for bad in BAD_VALUES:
                    cases.append(({**path, param: bad}, query, good_body, f"{param}={bad[:20]!r}"))
            elif spec["in"] == "query":
                less = {k: v for k, v in query.items() if k != param}
                cases.append((path, less, good_body, f"without {param}"))
                for bad in BAD_VALUES:
                    cases.append((path, {**query, param: bad}, good_body, f"{param}={bad[:20]!r}"))
            elif body is not None:
                for variant in _body_variants(body):
                    cases.append((path, query, variant, f"body {variant[:80]!r}"))
        for case_path, case_query, case_body, what in cases:
            answer = client.send(operation, case_path, case_query, case_body)
            problem = _problem(answer)
            if problem:
                problems.append(f"{name} {what}: {problem}")
            sent += 1
            refused += answer.status_code >= 400
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} in all)"
    print(f"\n{sent} malformed or valid requests, {refused} refused with 4xx, none 5xx")
    assert sent > 1500 and refused > sent // 2


def test_page_sizes_outside_the_model_range_are_refused(sandbox):
    client = Client(sandbox)
    cases = {
        "ordersV0.getOrders": (
            "MaxResultsPerPage",
            {"MarketplaceIds": US, "CreatedAfter": "2026-11-20T00:00:00Z"},
            (0, 101, -5),
        ),
        "orders_2026-01-01.searchOrders": (
            "maxResultsPerPage",
            {"createdAfter": "2026-11-20T00:00:00Z"},
            (0, 101),
        ),
        "catalogItems_2022-04-01.searchCatalogItems": (
            "pageSize",
            {"marketplaceIds": US, "keywords": "a"},
            (0, 21),
        ),
        "listingsItems_2021-08-01.searchListingsItems": (
            "pageSize",
            {"marketplaceIds": US},
            (0, 21),
        ),
        "reports_2021-06-30.getReports": ("pageSize", {"reportTypes": "X"}, (0, 101)),
        "notifications.getSubscriptions": (
            "pageSize",
            {"notificationTypes": "ANY_OFFER_CHANGED"},
            (29, 101),
        ),
    }
    path = {"sellerId": sandbox.app.config.seller_id}
    for name, (param, query, sizes) in cases.items():
        operation = find_operation(name)
        for size in sizes:
            answer = client.send(operation, path, {**query, param: str(size)}, None)
            assert answer.status_code == 400, f"{name} {param}={size}: {answer.text}"
            assert answer.json()["errors"][0]["code"] == "InvalidInput"


def test_issue_examples_are_invalid_input(sandbox):
    client = Client(sandbox)
    orders = find_operation("ordersV0.getOrders")
    answer = client.send(orders, {}, {"MarketplaceIds": US, "CreatedAfter": "not-a-date"}, None)
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidInput"
    batch = find_operation("productPricingV0.getItemOffersBatch")
    answer = client.send(batch, {}, {}, b"{}")
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidInput"


def test_a_requested_fault_is_the_only_5xx():
    with run_sandbox(end_date=END_DATE, faults=Faults(error_500=1.0)) as faulty:
        client = Client(faulty)
        operation = find_operation("sellers.getMarketplaceParticipations")
        answer = client.send(operation, {}, {}, None)
        assert answer.status_code == 500
        assert answer.json()["errors"][0]["code"] == "InternalFailure"
