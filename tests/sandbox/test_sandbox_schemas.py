"""Every answer of the sandbox against Amazon's published schemas.

* Every operation the sandbox serves is called over HTTP and each JSON body it returns (successes
  and errors) is validated with Draft 4 against the model's schema for that operation and status.
  One test per served operation fails if it was never answered successfully or any of its
  answers did not match the schema (one tour of calls, in a module fixture, feeds them all).
* Every notification type the sandbox sends is validated against its bundled schema, allowing
  only the known slip of ``ListingsItemStatusChangeNotification.json`` (its enum says
  ``LISTINGS_ITEM_STATUS_CHANGED``, real payloads say ``LISTINGS_ITEM_STATUS_CHANGE``).
* Every JSON report type is validated against its bundled report schema.
"""

from __future__ import annotations

import gzip
import json
import time
from importlib import resources

import jsonschema
import pytest
import requests

from spapi_sandbox.faults import Faults
from spapi_sandbox.http import route
from spapi_sandbox.notifications import ENVELOPES
from spapi_sandbox.server import SandboxApp, SandboxConfig, run_sandbox

from ..support import END_DATE

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
NOTIFICATION_SCHEMAS = {
    "REPORT_PROCESSING_FINISHED": "ReportProcessingFinishedNotification.json",
    "DATA_KIOSK_QUERY_PROCESSING_FINISHED": "DataKioskQueryProcessingFinishedNotification.json",
    "ANY_OFFER_CHANGED": "AnyOfferChangedNotification.json",
    "LISTINGS_ITEM_STATUS_CHANGE": "ListingsItemStatusChangeNotification.json",
}
KNOWN_SLIP = ("ListingsItemStatusChangeNotification.json", "LISTINGS_ITEM_STATUS_CHANGE")


class CheckedSession:
    """Calls the sandbox and validates every JSON answer against its operation's schema."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.validated: dict[str, set[int]] = {}  # operation -> statuses answered
        self.errors: dict[str, list[str]] = {}  # operation -> what did not match its schema
        self._tokens: dict[bool, tuple[float, str]] = {}

    def _token(self, grantless: bool) -> str:
        cached = self._tokens.get(grantless)
        if cached and time.monotonic() - cached[0] < 2:
            return cached[1]
        env = self.sandbox.env
        form = {"client_id": env["SPAPI_CLIENT_ID"], "client_secret": env["SPAPI_CLIENT_SECRET"]}
        if grantless:
            form.update(grant_type="client_credentials", scope="sellingpartnerapi::notifications")
        else:
            form.update(grant_type="refresh_token", refresh_token=env["SPAPI_REFRESH_TOKEN"])
        access = requests.post(self.sandbox.lwa_url, data=form).json()["access_token"]
        self._tokens[grantless] = (time.monotonic(), access)
        return access

    def merge(self, other: CheckedSession) -> None:
        """Count what ``other`` (a session with another sandbox) validated as this one's."""
        for name, codes in other.validated.items():
            self.validated.setdefault(name, set()).update(codes)
        for name, problems in other.errors.items():
            self.errors.setdefault(name, []).extend(problems)

    def call(
        self,
        method: str,
        path: str,
        *,
        grantless: bool = False,
        expect: int = 200,
        access_token: str | None = None,
        **kwargs,
    ) -> requests.Response:
        """Call and validate; ``access_token`` replaces the LWA token (an RDT, for example)."""
        headers = {"x-amz-access-token": access_token or self._token(grantless)}
        answer = requests.request(method, self.sandbox.url + path, headers=headers, **kwargs)
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        operation, _ = route(method, path.split("?")[0])
        name, problems = operation.qualified_name, []
        if answer.content:
            schema = operation.response_schema(answer.status_code)
            if schema is None:
                problems.append(f"the model has no {answer.status_code} answer")
            else:
                validator = jsonschema.Draft4Validator(
                    schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
                )
                problems += [
                    f"{answer.status_code} at {list(e.path)}: {e.message}"
                    for e in validator.iter_errors(answer.json())
                ]
        self.errors.setdefault(name, []).extend(f"{method} {path}: {p}" for p in problems)
        self.validated.setdefault(name, set()).add(answer.status_code)
        return answer


def _wait(session: CheckedSession, path: str, done: tuple[str, ...] = ("DONE",)) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = session.call("GET", path).json()
        if body["processingStatus"] in (*done, "CANCELLED", "FATAL"):
            return body
        time.sleep(0.02)
    raise AssertionError(f"{path} did not finish")


def _notification_schema(name: str) -> dict:
    folder = resources.files("spapi_toolkit").joinpath("data/spapi-models/schemas/notifications")
    return json.loads(folder.joinpath(name).read_text("utf-8"))


def validate_notification(document: dict) -> None:
    kind = document.get("notificationType") or document.get("NotificationType")
    name = NOTIFICATION_SCHEMAS[kind]
    errors = list(jsonschema.Draft7Validator(_notification_schema(name)).iter_errors(document))
    errors = [
        e
        for e in errors
        if not ((name, e.instance) == KNOWN_SLIP and list(e.path) == ["NotificationType"])
    ]
    assert not errors, [e.message for e in errors]


SERVED = SandboxApp(SandboxConfig(end_date=END_DATE)).served_operations()


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> tuple[CheckedSession, list[dict]]:
    """Every served operation called at least once with a successful answer (and its errors),
    in one sandbox: the calls build on each other (a report id, an order id, a destination).
    Returns the checked session and the notifications delivered to the file destination."""
    tmp_path = tmp_path_factory.mktemp("tour")
    config = SandboxConfig(end_date=END_DATE, scale=600, notifications_dir=str(tmp_path))
    with run_sandbox(config) as sandbox:
        s = CheckedSession(sandbox)
        app = sandbox.app
        product = app.seller.products()[0]
        seller_id = app.config.seller_id

        # ---- reports, schedules, documents ----
        reports = "/reports/2021-06-30"
        spec = {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "marketplaceIds": [US],
            "dataStartTime": "2026-11-10T00:00:00Z",
            "dataEndTime": "2026-11-12T00:00:00Z",
        }
        report_id = s.call("POST", f"{reports}/reports", json=spec, expect=202).json()["reportId"]
        report = _wait(s, f"{reports}/reports/{report_id}")
        s.call("GET", f"{reports}/documents/{report['reportDocumentId']}")
        s.call("GET", f"{reports}/reports?reportTypes=GET_SALES_AND_TRAFFIC_REPORT&pageSize=1")
        s.call("GET", f"{reports}/reports/1", expect=404)
        s.call("GET", f"{reports}/reports?reportTypes=X&pageSize=500", expect=400)
        with run_sandbox(
            end_date=END_DATE, scale=1
        ) as slow:  # cancelReport needs a report still IN_QUEUE
            slow_session = CheckedSession(slow)
            queued = slow_session.call("POST", f"{reports}/reports", json=spec, expect=202)
            slow_session.call("DELETE", f"{reports}/reports/{queued.json()['reportId']}")
            s.merge(slow_session)
        schedule = s.call(
            "POST",
            f"{reports}/schedules",
            expect=201,
            json={
                "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
                "marketplaceIds": [US],
                "period": "P1D",
            },
        ).json()["reportScheduleId"]
        s.call("GET", f"{reports}/schedules/{schedule}")
        s.call("GET", f"{reports}/schedules?reportTypes=GET_MERCHANT_LISTINGS_ALL_DATA")
        s.call("DELETE", f"{reports}/schedules/{schedule}")

        # ---- Data Kiosk ----
        kiosk = "/dataKiosk/2023-11-15"
        query = (
            "query{analytics_salesAndTraffic_2024_04_24{salesAndTrafficByDate("
            'startDate:"2026-11-10" endDate:"2026-11-11" aggregateBy:DAY '
            'marketplaceIds:["ATVPDKIKX0DER"]){startDate sales{unitsOrdered}}}}'
        )
        query_id = s.call("POST", f"{kiosk}/queries", json={"query": query}, expect=202).json()[
            "queryId"
        ]
        done = _wait(s, f"{kiosk}/queries/{query_id}")
        s.call("GET", f"{kiosk}/documents/{done['dataDocumentId']}")
        s.call("GET", f"{kiosk}/queries?pageSize=5")
        with run_sandbox(end_date=END_DATE, scale=1) as slow:
            slow_session = CheckedSession(slow)
            queued = slow_session.call(
                "POST", f"{kiosk}/queries", json={"query": query}, expect=202
            ).json()["queryId"]
            slow_session.call("DELETE", f"{kiosk}/queries/{queued}", expect=204)
            s.merge(slow_session)

        # ---- catalog, listings ----
        s.call(
            "GET",
            f"/catalog/2022-04-01/items/{product.asin}?marketplaceIds={US},{DE}"
            "&includedData=summaries,salesRanks,identifiers,relationships,productTypes,"
            "classifications",
        )
        s.call(
            "GET",
            f"/catalog/2022-04-01/items?marketplaceIds={US}&identifiersType=ASIN"
            f"&identifiers={product.asin}&includedData=summaries,salesRanks",
        )
        s.call(
            "GET",
            f"/catalog/2022-04-01/items?marketplaceIds={US}&keywords={product.brand}&pageSize=2",
        )
        s.call("GET", f"/catalog/2022-04-01/items/B000NOPE00?marketplaceIds={US}", expect=404)
        listings = f"/listings/2021-08-01/items/{seller_id}"
        s.call(
            "GET",
            f"{listings}/{product.sku}?marketplaceIds={US}"
            "&includedData=summaries,issues,offers,fulfillmentAvailability",
        )
        s.call("GET", f"{listings}?marketplaceIds={US}&pageSize=5&includedData=summaries,offers")

        # ---- orders ----
        found = s.call(
            "GET",
            "/orders/2026-01-01/orders?createdAfter=2026-11-20T00:00:00Z"
            "&maxResultsPerPage=3&includedData=PROCEEDS,FULFILLMENT",
        ).json()
        token = found["pagination"]["nextToken"]
        s.call("GET", f"/orders/2026-01-01/orders?paginationToken={token}")
        order_id = found["orders"][0]["orderId"]
        s.call("GET", f"/orders/2026-01-01/orders/{order_id}?includedData=PROCEEDS")
        s.call("GET", "/orders/2026-01-01/orders", expect=400)
        s.call(
            "GET",
            f"/orders/v0/orders?MarketplaceIds={US}"
            "&LastUpdatedAfter=2026-11-25T00:00:00Z&MaxResultsPerPage=5",
        )
        s.call("GET", f"/orders/v0/orders/{order_id}")
        s.call("GET", f"/orders/v0/orders/{order_id}/orderItems")
        s.call("GET", "/orders/v0/orders/111-0000000-0000000/orderItems", expect=404)

        # ---- pricing ----
        s.call(
            "GET",
            f"/products/pricing/v0/items/{product.asin}/offers?MarketplaceId={US}"
            "&ItemCondition=New",
        )
        s.call(
            "POST",
            "/batches/products/pricing/v0/itemOffers",
            json={
                "requests": [
                    {
                        "uri": f"/products/pricing/v0/items/{p.asin}/offers",
                        "method": "GET",
                        "MarketplaceId": US,
                        "ItemCondition": "New",
                    }
                    for p in app.seller.products()[:3]
                ]
            },
        )
        s.call(
            "POST",
            "/batches/products/pricing/2022-05-01/items/competitiveSummary",
            json={
                "requests": [
                    {
                        "asin": product.asin,
                        "marketplaceId": US,
                        "method": "GET",
                        "uri": "/products/pricing/2022-05-01/items/competitiveSummary",
                        "includedData": [
                            "featuredBuyingOptions",
                            "referencePrices",
                            "lowestPricedOffers",
                        ],
                    }
                ]
            },
        )

        # ---- inventory, sellers, tokens ----
        s.call(
            "GET",
            "/fba/inventory/v1/summaries?granularityType=Marketplace"
            f"&granularityId={US}&marketplaceIds={US}&details=true",
        )
        s.call("GET", "/sellers/v1/marketplaceParticipations")

        # ---- finances ----
        events, after = "/finances/v0/financialEvents", "PostedAfter=2026-11-10T00:00:00Z"
        window = f"{after}&PostedBefore=2026-11-20T00:00:00Z"
        first = s.call("GET", f"{events}?{window}&MaxResultsPerPage=20").json()
        listed = first["payload"]["FinancialEvents"]
        assert listed["ShipmentEventList"] and first["payload"]["NextToken"]
        s.call("GET", f"{events}?NextToken={first['payload']['NextToken']}")
        s.call("GET", f"{events}?PostedBefore=2026-11-20T00:00:00Z", expect=400)
        s.call("GET", f"{events}?{after}&PostedBefore=2099-01-01T00:00:00Z", expect=400)
        groups = "/finances/v0/financialEventGroups"
        opened = "FinancialEventGroupStartedAfter=2026-09-01T00:00:00Z"
        first = s.call("GET", f"{groups}?{opened}&MaxResultsPerPage=2").json()
        assert first["payload"]["FinancialEventGroupList"] and first["payload"]["NextToken"]
        s.call("GET", f"{groups}?NextToken={first['payload']['NextToken']}")
        every = s.call("GET", f"{groups}?{opened}").json()["payload"]["FinancialEventGroupList"]
        assert {g["ProcessingStatus"] for g in every} == {"Open", "Closed"}
        s.call("GET", f"{groups}?FinancialEventGroupStartedAfter=2099-01-01T00:00:00Z",
               expect=400)  # fmt: skip
        address, buyer = (
            f"/orders/v0/orders/{order_id}/{what}" for what in ("address", "buyerInfo")
        )
        rdt = s.call(
            "POST",
            "/tokens/2021-03-01/restrictedDataToken",
            json={
                "restrictedResources": [
                    {"method": "GET", "path": address},
                    {"method": "GET", "path": buyer},
                ]
            },
        ).json()["restrictedDataToken"]
        s.call("GET", address, access_token=rdt)
        s.call("GET", buyer, access_token=rdt)
        s.call("GET", address, expect=403)  # a plain access token is not enough

        # ---- notifications ----
        arn = "arn:aws:sqs:local:000000000000:events"
        destination = s.call(
            "POST",
            "/notifications/v1/destinations",
            grantless=True,
            json={"name": "local", "resourceSpecification": {"sqs": {"arn": arn}}},
        ).json()
        destination_id = destination["payload"]["destinationId"]
        s.call("GET", "/notifications/v1/destinations", grantless=True)
        s.call("GET", f"/notifications/v1/destinations/{destination_id}", grantless=True)
        subscriptions = {}
        for kind in ENVELOPES:
            created = s.call(
                "POST",
                f"/notifications/v1/subscriptions/{kind}",
                json={"payloadVersion": "1.0", "destinationId": destination_id},
            ).json()
            subscriptions[kind] = created["payload"]["subscriptionId"]
        s.call(
            "POST",
            "/notifications/v1/subscriptions/ANY_OFFER_CHANGED",
            expect=409,
            json={"payloadVersion": "1.0", "destinationId": destination_id},
        )
        s.call("GET", "/notifications/v1/subscriptions/ANY_OFFER_CHANGED")
        listed = s.call(
            "GET", "/notifications/v1/subscriptions?notificationTypes=ANY_OFFER_CHANGED"
        )
        assert [x["subscriptionId"] for x in listed.json()["payload"]["subscriptions"]] == [
            subscriptions["ANY_OFFER_CHANGED"]
        ]
        s.call(
            "GET",
            "/notifications/v1/subscriptions?notificationTypes=ANY_OFFER_CHANGED&pageSize=5",
            expect=400,
        )
        s.call(
            "GET",
            "/notifications/v1/subscriptions/ANY_OFFER_CHANGED/"
            f"{subscriptions['ANY_OFFER_CHANGED']}",
            grantless=True,
        )

        # events of every type, delivered to the file destination
        report_id = s.call("POST", f"{reports}/reports", json=spec, expect=202).json()["reportId"]
        _wait(s, f"{reports}/reports/{report_id}")
        query_id = s.call("POST", f"{kiosk}/queries", json={"query": query}, expect=202).json()[
            "queryId"
        ]
        _wait(s, f"{kiosk}/queries/{query_id}")
        app.clock.scale = 36000  # let simulated hours and days pass quickly
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and {
            d.get("notificationType") or d.get("NotificationType") for d in app.notifier.delivered
        } < set(ENVELOPES):
            time.sleep(0.1)
        app.clock.scale = 600
        s._tokens.clear()

        # sample events of every type (after the real ones, which the loop above waited for)
        for kind in ENVELOPES:  # land in the file validated below
            s.call(
                "POST",
                f"/notifications/v1/subscriptions/{kind}/testNotification",
                grantless=True,
                json={
                    "destinationId": destination_id,
                    "testNotification": {"payloadVersion": "1.0"},
                },
            )
        s.call(
            "POST",
            "/notifications/v1/subscriptions/ANY_OFFER_CHANGED/testNotification",
            grantless=True,
            expect=400,
            json={"destinationId": "no-such-destination"},
        )

        s.call(
            "DELETE",
            "/notifications/v1/subscriptions/ANY_OFFER_CHANGED/"
            f"{subscriptions['ANY_OFFER_CHANGED']}",
            grantless=True,
        )
        s.call("DELETE", f"/notifications/v1/destinations/{destination_id}", grantless=True)

    assert set(app.served_operations()) == set(SERVED)
    documents = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    return s, documents


@pytest.mark.parametrize("operation", SERVED)
def test_served_operation_validates(tour, operation: str):
    session, _ = tour
    statuses = session.validated.get(operation, set())
    assert any(code < 300 for code in statuses), f"never answered successfully: {statuses}"
    assert not session.errors.get(operation), session.errors[operation]


def test_the_tour_calls_only_served_operations(tour):
    session, _ = tour
    assert set(session.validated) <= set(SERVED)
    assert len(SERVED) >= 37


def test_every_notification_type_validates(tour):
    _, documents = tour
    kinds = {d.get("notificationType") or d.get("NotificationType") for d in documents}
    assert kinds == set(ENVELOPES)
    for document in documents:
        validate_notification(document)


def test_listing_status_slip_is_the_only_allowance():
    document = {
        "NotificationVersion": "1.0",
        "NotificationType": "LISTINGS_ITEM_STATUS_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": "2026-11-28T06:00:00Z",
        "Payload": {"SellerId": "A1", "Sku": "S", "Status": ["BUYABLE"]},
        "NotificationMetadata": {
            "ApplicationId": "a",
            "SubscriptionId": "s",
            "PublishTime": "2026-11-28T06:00:00Z",
            "NotificationId": "n",
        },
    }
    validate_notification(document)
    broken = {**document, "Payload": {"SellerId": "A1"}}
    with pytest.raises(AssertionError):
        validate_notification(broken)


JSON_REPORTS = [
    (
        "GET_SALES_AND_TRAFFIC_REPORT",
        {"dateGranularity": "DAY", "asinGranularity": "CHILD"},
        "2026-11-10",
        "2026-11-16",
    ),
    (
        "GET_SALES_AND_TRAFFIC_REPORT",
        {"dateGranularity": "WEEK", "asinGranularity": "PARENT"},
        "2026-11-01",
        "2026-11-21",
    ),
    (
        "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT",
        {"reportPeriod": "WEEK"},
        "2026-11-15",
        "2026-11-21",
    ),
    (
        "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT",
        {"reportPeriod": "WEEK"},
        "2026-11-15",
        "2026-11-21",
    ),
    (
        "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT",
        {"reportPeriod": "WEEK"},
        "2026-11-15",
        "2026-11-21",
    ),
]


def test_json_reports_validate_against_their_schemas():
    from spapi_sandbox.documents import schema_for

    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults()) as sandbox:
        s = CheckedSession(sandbox)
        for report_type, options, start, end in JSON_REPORTS:
            spec = {
                "reportType": report_type,
                "marketplaceIds": [US],
                "reportOptions": options,
                "dataStartTime": f"{start}T00:00:00Z",
                "dataEndTime": f"{end}T23:59:59Z",
            }
            report_id = s.call("POST", "/reports/2021-06-30/reports", json=spec, expect=202).json()[
                "reportId"
            ]
            report = _wait(s, f"/reports/2021-06-30/reports/{report_id}")
            assert report["processingStatus"] == "DONE", (report_type, report)
            doc = s.call("GET", f"/reports/2021-06-30/documents/{report['reportDocumentId']}")
            raw = requests.get(doc.json()["url"]).content
            content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            jsonschema.validate(json.loads(content), schema_for(report_type))
    print(f"\nvalidated {len(JSON_REPORTS)} JSON report documents")
