"""Notifications: destinations, subscriptions, and delivering events in Amazon's envelopes.

Amazon pushes events to an SQS queue (or EventBridge) the application registered as a
*destination* and *subscribed* a notification type to. The sandbox does the same with boto3
(``AWS_ENDPOINT_URL`` points it at a moto server in tests) and, for laptops without any AWS, a
local destination: an SQS ARN in the region ``local`` (``arn:aws:sqs:local:000000000000:name``)
appends one JSON document per line to ``<notifications_dir>/<name>.jsonl``. Every delivery is
also kept in ``Notifier.delivered``.

Envelopes are Amazon's, casing included: ``REPORT_PROCESSING_FINISHED`` and
``DATA_KIOSK_QUERY_PROCESSING_FINISHED`` are camelCase, ``ANY_OFFER_CHANGED`` and
``LISTINGS_ITEM_STATUS_CHANGE`` PascalCase. With the duplicate fault on, a delivery sometimes
happens twice with the same ``notificationId``, as SQS's at-least-once delivery does.

``sendTestNotification`` (which Amazon serves on its sandbox hosts only) delivers a sample event
of a type to a subscribed destination; the sample payload comes from the simulated seller.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spapi_sandbox.calls import Call, invalid_input, iso, not_found, page_of, read_state
from spapi_sandbox.faults import Faults
from spapi_sandbox.http import Response, sp_api_error

MODEL = "notifications"
LOCAL_REGION = "local"
SUBSCRIPTIONS_PAGE = 30  # getSubscriptions' default (and minimum) pageSize
# Amazon's answer when sendTestNotification names a destination the application does not own.
UNKNOWN_DESTINATION = (
    "Invalid Input, recheck that the AppId and DestinationId are valid and DestinationId "
    "belongs to the application"
)

# (notification type, seller id, sandbox time) -> the payload of a test notification
TestPayload = Callable[[str, str, float], dict[str, Any]]


@dataclass(frozen=True)
class Envelope:
    """How one notification type is wrapped: key casing, versions and the payload's key."""

    pascal: bool
    version: str
    payload_version: str
    payload_key: str | None  # None: the payload is the event itself (no inner wrapper)


ENVELOPES = {
    "REPORT_PROCESSING_FINISHED": Envelope(
        False, "2020-09-04", "2020-09-04", "reportProcessingFinishedNotification"
    ),
    "DATA_KIOSK_QUERY_PROCESSING_FINISHED": Envelope(False, "2023-11-15", "2023-11-15", None),
    "ANY_OFFER_CHANGED": Envelope(True, "1.0", "1.0", "AnyOfferChangedNotification"),
    "LISTINGS_ITEM_STATUS_CHANGE": Envelope(True, "1.0", "1.0", None),
}


def envelope(
    notification_type: str,
    payload: dict[str, Any],
    *,
    event_time: float,
    publish_time: float,
    application_id: str,
    subscription_id: str,
    notification_id: str,
) -> dict[str, Any]:
    """The JSON document Amazon would deliver for this event."""
    shape = ENVELOPES[notification_type]
    body = {shape.payload_key: payload} if shape.payload_key else payload
    fields = {
        "notificationVersion": shape.version,
        "notificationType": notification_type,
        "payloadVersion": shape.payload_version,
        "eventTime": iso(event_time),
        "payload": body,
        "notificationMetadata": {
            "applicationId": application_id,
            "subscriptionId": subscription_id,
            "publishTime": iso(publish_time),
            "notificationId": notification_id,
        },
    }
    if not shape.pascal:
        return fields

    def pascal(value: Any, top: bool) -> Any:
        if isinstance(value, dict) and top:
            return {
                k[0].upper() + k[1:]: pascal(v, k == "notificationMetadata")
                for k, v in value.items()
            }
        return value

    return pascal(fields, True)


class Notifier:
    """The Notifications API's state plus delivery."""

    def __init__(
        self,
        *,
        application_id: str,
        faults: Faults,
        local_dir: str | None = None,
        seed: int = 0,
        now: Callable[[], float] | None = None,
        test_payload: TestPayload | None = None,
    ):
        self.application_id = application_id
        self.test_payload = test_payload
        self.faults = faults
        self.local_dir = Path(local_dir) if local_dir else None
        self._seed = seed
        self._now = now
        self.destinations: dict[str, dict[str, Any]] = {}
        # (seller id, notification type) -> subscription
        self.subscriptions: dict[tuple[str, str], dict[str, Any]] = {}
        self.delivered: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self._counter = 0
        self._lock = threading.Lock()
        self._sqs: dict[str, Any] = {}

    def _new_id(self, kind: str) -> str:
        with self._lock:
            self._counter += 1
            return str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{self._seed}:{kind}:{self._counter}")
            )

    def handlers(self) -> dict[str, Callable[[Call], Response]]:
        return {
            f"{MODEL}.getDestinations": self.get_destinations,
            f"{MODEL}.createDestination": self.create_destination,
            f"{MODEL}.getDestination": self.get_destination,
            f"{MODEL}.deleteDestination": self.delete_destination,
            f"{MODEL}.getSubscription": self.get_subscription,
            f"{MODEL}.createSubscription": self.create_subscription,
            f"{MODEL}.getSubscriptionById": self.get_subscription_by_id,
            f"{MODEL}.deleteSubscriptionById": self.delete_subscription_by_id,
            f"{MODEL}.getSubscriptions": self.get_subscriptions,
            f"{MODEL}.sendTestNotification": self.send_test_notification,
        }

    def subscribed(self, seller_id: str, notification_type: str) -> bool:
        return (seller_id, notification_type) in self.subscriptions

    # ---- destinations (grantless) -----------------------------------------------------------

    def create_destination(self, call: Call) -> Response:
        spec = call.body["resourceSpecification"]
        if "sqs" not in spec:
            return invalid_input("The sandbox delivers to SQS destinations only.")
        arn = spec["sqs"]["arn"]
        if any(d["resource"]["sqs"]["arn"] == arn for d in self.destinations.values()):
            return sp_api_error(409, "Conflict", f"A destination for {arn} already exists.")
        destination_id = self._new_id("destination")
        self.destinations[destination_id] = {
            "name": call.body["name"],
            "destinationId": destination_id,
            "resource": {"sqs": {"arn": arn}},
        }
        return Response.json(200, {"payload": self.destinations[destination_id]})

    def get_destinations(self, call: Call) -> Response:
        return Response.json(200, {"payload": list(self.destinations.values())})

    def get_destination(self, call: Call) -> Response:
        destination = self.destinations.get(call.arg("destinationId") or "")
        if destination is None:
            return not_found(f"Destination {call.arg('destinationId')} not found.")
        return Response.json(200, {"payload": destination})

    def delete_destination(self, call: Call) -> Response:
        if self.destinations.pop(call.arg("destinationId") or "", None) is None:
            return not_found(f"Destination {call.arg('destinationId')} not found.")
        return Response.json(200, {})

    # ---- subscriptions ------------------------------------------------------------------

    def create_subscription(self, call: Call) -> Response:
        notification_type = call.arg("notificationType") or ""
        if notification_type not in ENVELOPES:
            known = ", ".join(sorted(ENVELOPES))
            return invalid_input(f"The sandbox sends {known}; not {notification_type}.")
        if call.body["destinationId"] not in self.destinations:
            return invalid_input(f"Unknown destinationId {call.body['destinationId']}.")
        key = (call.grant.seller_id or "", notification_type)
        if key in self.subscriptions:
            return sp_api_error(409, "Conflict", "A subscription already exists for this type.")
        subscription = {
            "subscriptionId": self._new_id("subscription"),
            "payloadVersion": call.body["payloadVersion"],
            "destinationId": call.body["destinationId"],
        }
        if call.body.get("processingDirective"):
            subscription["processingDirective"] = call.body["processingDirective"]
        self.subscriptions[key] = subscription
        return Response.json(200, {"payload": subscription})

    def get_subscription(self, call: Call) -> Response:
        key = (call.grant.seller_id or "", call.arg("notificationType") or "")
        subscription = self.subscriptions.get(key)
        if subscription is None:
            return not_found(f"No subscription for {key[1]}.")
        return Response.json(200, {"payload": subscription})

    def get_subscriptions(self, call: Call) -> Response:
        """The caller's subscriptions of the type ``notificationTypes`` names (the model allows
        one), optionally of one ``payloadVersion``, in pages of ``pageSize``."""
        token = call.arg("nextToken")
        state = read_state(token) if token else None
        if token and state is None:
            return invalid_input("Invalid nextToken.")
        if state is None:
            state = {
                "types": call.args("notificationTypes"),
                "version": call.arg("payloadVersion"),
                "size": int(call.arg("pageSize") or SUBSCRIPTIONS_PAGE),
                "offset": 0,
            }
        matches = [
            subscription
            for (seller_id, kind), subscription in self.subscriptions.items()
            if seller_id == call.grant.seller_id
            and kind in state["types"]
            and state["version"] in (None, subscription["payloadVersion"])
        ]
        page, next_token = page_of(matches, state)
        payload: dict[str, Any] = {"subscriptions": page}
        if next_token:
            payload["nextToken"] = next_token
        return Response.json(200, {"payload": payload})

    def _by_id(self, call: Call) -> tuple[tuple[str, str], dict[str, Any]] | None:
        for key, subscription in self.subscriptions.items():
            if key[1] == call.arg("notificationType") and subscription[
                "subscriptionId"
            ] == call.arg("subscriptionId"):
                return key, subscription
        return None

    def get_subscription_by_id(self, call: Call) -> Response:
        found = self._by_id(call)
        if found is None:
            return not_found(f"Subscription {call.arg('subscriptionId')} not found.")
        return Response.json(200, {"payload": found[1]})

    def delete_subscription_by_id(self, call: Call) -> Response:
        found = self._by_id(call)
        if found is None:
            return not_found(f"Subscription {call.arg('subscriptionId')} not found.")
        del self.subscriptions[found[0]]
        return Response.json(200, {})

    # ---- test notifications (grantless, sandbox-only) ----------------------------------------

    def _test_subscription(
        self, notification_type: str, destination_id: str | None
    ) -> tuple[str, dict[str, Any]] | Response:
        """(seller id, subscription) a test notification goes to: the first subscription to the
        type, on ``destination_id`` when the request names one."""
        if destination_id is not None and destination_id not in self.destinations:
            return invalid_input("InvalidInput", UNKNOWN_DESTINATION)
        for (seller_id, kind), subscription in self.subscriptions.items():
            if kind == notification_type and destination_id in (
                None,
                subscription["destinationId"],
            ):
                return seller_id, subscription
        where = f" on destination {destination_id}" if destination_id else ""
        return not_found(f"No subscription to {notification_type}{where}.")

    def send_test_notification(self, call: Call) -> Response:
        """Deliver a sample notification of the path's type to a subscribed destination."""
        notification_type = call.arg("notificationType") or ""
        if notification_type not in ENVELOPES or self.test_payload is None:
            known = ", ".join(sorted(ENVELOPES))
            return invalid_input(f"The sandbox sends {known}; not {notification_type}.")
        found = self._test_subscription(notification_type, call.body.get("destinationId"))
        if isinstance(found, Response):
            return found
        seller_id, subscription = found
        payload = self.test_payload(notification_type, seller_id, call.now)
        self._send(notification_type, subscription, payload, call.now)
        return Response.json(200, {})

    # ---- delivery -----------------------------------------------------------------------

    def publish(
        self, notification_type: str, seller_id: str, payload: dict[str, Any], event_time: float
    ) -> None:
        """Deliver an event to the seller's subscription for its type, if there is one."""
        subscription = self.subscriptions.get((seller_id, notification_type))
        if subscription is not None:
            self._send(notification_type, subscription, payload, event_time)

    def _send(
        self,
        notification_type: str,
        subscription: dict[str, Any],
        payload: dict[str, Any],
        event_time: float,
    ) -> None:
        """Wrap ``payload`` in its envelope and deliver it to the subscription's destination
        (twice when the duplicate fault fires); a deleted destination gets nothing."""
        destination = self.destinations.get(subscription["destinationId"])
        if destination is None:
            return
        document = envelope(
            notification_type,
            payload,
            event_time=event_time,
            publish_time=self._now() if self._now else event_time,
            application_id=self.application_id,
            subscription_id=subscription["subscriptionId"],
            notification_id=self._new_id("notification"),
        )
        copies = 2 if self.faults.roll("duplicate_notification") else 1
        for _ in range(copies):
            self._deliver(destination["resource"]["sqs"]["arn"], document)

    def _deliver(self, arn: str, document: dict[str, Any]) -> None:
        body = json.dumps(document)
        _, _, _, region, account, name = arn.split(":", 5)
        try:
            if region == LOCAL_REGION:
                if self.local_dir is not None:
                    self.local_dir.mkdir(parents=True, exist_ok=True)
                    with (self.local_dir / f"{name}.jsonl").open("a", encoding="utf-8") as out:
                        out.write(body + "\n")
            else:
                client, url = self._queue(region, account, name)
                client.send_message(QueueUrl=url, MessageBody=body)
        except Exception as exc:  # Amazon retries and gives up quietly; we keep the reason
            self.failures.append(f"{arn}: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            self.delivered.append(document)

    def _queue(self, region: str, account: str, name: str) -> tuple[Any, str]:
        key = f"{region}:{account}:{name}"
        if key not in self._sqs:
            import boto3

            client = boto3.client(
                "sqs", region_name=region, endpoint_url=os.environ.get("AWS_ENDPOINT_URL")
            )
            url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self._sqs[key] = (client, url)
        return self._sqs[key]

    def close(self) -> None:
        self._sqs.clear()
