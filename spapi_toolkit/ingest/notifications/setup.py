"""Setting up SP-API notifications: the SQS queue Amazon writes to, destinations, subscriptions.

- :func:`ensure_queue` creates (or reuses) the queue, its dead-letter queue and the queue policy
  that lets SP-API's AWS account send to it.
- :func:`setup` registers the queue as a destination and subscribes the notification types,
  reusing what already exists ("already exists" is not an error), so it can run any number of
  times.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.errors import NotFoundError, SpApiError, SpApiToolkitError

log = logging.getLogger(__name__)

SPAPI_ACCOUNT = "437568002678"  # the AWS account SP-API sends notifications from
DEFAULT_TYPES = ("REPORT_PROCESSING_FINISHED", "LISTINGS_ITEM_STATUS_CHANGE", "ANY_OFFER_CHANGED")
MAX_RECEIVE_COUNT = 5  # receives before SQS moves a message to the dead-letter queue
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum: time to look at what failed
SCHEMAS_DIR = "data/spapi-models/schemas/notifications"

# Published names that differ from what Amazon actually sends: the listings status schema's
# enum says LISTINGS_ITEM_STATUS_CHANGED, its examples and the real events say ..._CHANGE.
TYPE_ALIASES = {"LISTINGS_ITEM_STATUS_CHANGED": "LISTINGS_ITEM_STATUS_CHANGE"}


class NotificationError(SpApiToolkitError):
    """Setting up notifications failed in a way a retry will not fix."""


class MalformedNotification(NotificationError, ValueError):
    """An SQS message body is not a notification; the message says what is missing."""


def envelope_field(document: Mapping[str, Any], name: str) -> Any:
    """``name`` (camelCase) or its PascalCase twin, whichever the document has."""
    if name in document:
        return document[name]
    return document.get(name[:1].upper() + name[1:])


# --------------------------------------------------------------------------------------------
# The queue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    """An SQS queue Amazon delivers to, and the dead-letter queue its failures end in."""

    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


def queue_policy(queue_arn: str) -> dict[str, Any]:
    """The queue policy Amazon's docs require: SP-API's account may send to the queue and read
    its attributes (createDestination checks them)."""
    return {
        "Version": "2012-10-17",
        "Id": f"{queue_arn}/spapi-notifications",
        "Statement": [
            {
                "Sid": "AllowSellingPartnerApiToSend",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{SPAPI_ACCOUNT}:root"},
                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                "Resource": queue_arn,
            }
        ],
    }


def _queue_url(sqs: Any, name: str) -> str:
    """The URL of queue ``name``, created with default attributes if it does not exist.

    Attributes are set afterwards (``SetQueueAttributes``) because ``CreateQueue`` with
    attributes that differ from an existing queue's fails instead of reusing it."""
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def ensure_queue(
    sqs: Any,
    name: str,
    *,
    max_receive_count: int = MAX_RECEIVE_COUNT,
    dlq_name: str | None = None,
) -> Queue:
    """Create or reuse queue ``name`` and its dead-letter queue (``<name>-dlq``), and (re)apply
    the redrive policy and the queue policy that lets SP-API send to it. ``sqs`` is a boto3 SQS
    client. Safe to run again: it converges on the same queues and attributes."""
    dlq_url = _queue_url(sqs, dlq_name or f"{name}-dlq")
    dlq_arn = _queue_arn(sqs, dlq_url)
    sqs.set_queue_attributes(
        QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
    )
    url = _queue_url(sqs, name)
    arn = _queue_arn(sqs, url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "RedrivePolicy": json.dumps(redrive),
            "Policy": json.dumps(queue_policy(arn)),
        },
    )
    return Queue(url=url, arn=arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


# --------------------------------------------------------------------------------------------
# Destination and subscriptions
# --------------------------------------------------------------------------------------------


@cache
def published_payload_versions() -> dict[str, str]:
    """Notification type -> payload version, from the examples of the bundled notification
    schemas (the examples carry the type Amazon really sends; see ``TYPE_ALIASES``). A type
    with several versions keeps the one of the schema file that sorts first (the unsuffixed)."""
    versions: dict[str, str] = {}
    folder = resources.files("spapi_toolkit").joinpath(SCHEMAS_DIR)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        examples = json.loads(entry.read_text("utf-8")).get("examples") or [{}]
        example = examples[0] if isinstance(examples[0], dict) else {}
        kind = envelope_field(example, "notificationType")
        version = envelope_field(example, "payloadVersion")
        if isinstance(kind, str) and isinstance(version, str):
            versions.setdefault(TYPE_ALIASES.get(kind, kind), version)
    return versions


def payload_version(notification_type: str) -> str:
    """The payload version to subscribe ``notification_type`` with (e.g. 2020-09-04 for
    REPORT_PROCESSING_FINISHED, 1.0 for ANY_OFFER_CHANGED)."""
    versions = published_payload_versions()
    kind = TYPE_ALIASES.get(notification_type, notification_type)
    if kind not in versions:
        raise NotificationError(
            f"no bundled schema gives a payload version for {notification_type}; "
            f"known types: {', '.join(sorted(versions))}"
        )
    return versions[kind]


@dataclass(frozen=True)
class Subscription:
    """One notification type's subscription, and whether this setup created it."""

    notification_type: str
    subscription_id: str
    destination_id: str
    payload_version: str
    created: bool


@dataclass(frozen=True)
class SetupResult:
    """What :func:`setup` found or made."""

    destination_id: str
    destination_created: bool
    subscriptions: tuple[Subscription, ...]

    @property
    def created(self) -> tuple[str, ...]:
        """The notification types this run subscribed (empty on a rerun)."""
        return tuple(s.notification_type for s in self.subscriptions if s.created)

    @property
    def elsewhere(self) -> tuple[Subscription, ...]:
        """Existing subscriptions that deliver to another destination (reused, not moved:
        deleting them is the user's call)."""
        return tuple(s for s in self.subscriptions if s.destination_id != self.destination_id)


def _is_conflict(error: SpApiError) -> bool:
    return error.status == 409 or error.code == "Conflict"


def _find_destination(client: SpApiClient, queue_arn: str) -> str | None:
    """The id of the destination that delivers to ``queue_arn``, if there is one."""
    answer = client.call("notifications.getDestinations") or {}
    for destination in answer.get("payload") or []:
        sqs = (destination.get("resource") or {}).get("sqs") or {}
        if sqs.get("arn") == queue_arn:
            return str(destination["destinationId"])
    return None


def ensure_destination(client: SpApiClient, queue_arn: str, name: str) -> tuple[str, bool]:
    """(destination id, created?) of the destination for ``queue_arn``: the existing one, or a
    new one. A 409 Conflict (someone created it meanwhile) reads it back."""
    found = _find_destination(client, queue_arn)
    if found is not None:
        return found, False
    body = {"name": name, "resourceSpecification": {"sqs": {"arn": queue_arn}}}
    try:
        answer = client.call("notifications.createDestination", body=body)
    except SpApiError as error:
        if not _is_conflict(error):
            raise
        found = _find_destination(client, queue_arn)
        if found is None:
            raise NotificationError(
                f"createDestination says a destination for {queue_arn} exists, but "
                "getDestinations does not list it"
            ) from error
        return found, False
    return str(answer["payload"]["destinationId"]), True


def _get_subscription(client: SpApiClient, kind: str, version: str) -> dict[str, Any] | None:
    try:
        answer = client.call(
            "notifications.getSubscription", notificationType=kind, payloadVersion=version
        )
    except NotFoundError:
        return None
    payload = (answer or {}).get("payload")
    return payload if isinstance(payload, dict) and payload.get("subscriptionId") else None


def ensure_subscription(
    client: SpApiClient, notification_type: str, destination_id: str, version: str
) -> Subscription:
    """The subscription of ``notification_type``: the existing one, or a new one on
    ``destination_id``. A 409 Conflict reads the existing one back."""
    found = _get_subscription(client, notification_type, version)
    created = False
    if found is None:
        body = {"payloadVersion": version, "destinationId": destination_id}
        try:
            answer = client.call(
                "notifications.createSubscription", notificationType=notification_type, body=body
            )
            found, created = answer["payload"], True
        except SpApiError as error:
            if not _is_conflict(error):
                raise
            found = _get_subscription(client, notification_type, version)
            if found is None:
                raise NotificationError(
                    f"createSubscription says {notification_type} is subscribed, but "
                    "getSubscription finds no subscription"
                ) from error
    return Subscription(
        notification_type=notification_type,
        subscription_id=str(found["subscriptionId"]),
        destination_id=str(found.get("destinationId", destination_id)),
        payload_version=str(found.get("payloadVersion", version)),
        created=created,
    )


def setup(
    client: SpApiClient,
    queue_arn: str,
    notification_types: Iterable[str] = DEFAULT_TYPES,
    name: str = "spapi-lake",
) -> SetupResult:
    """Register the SQS queue ``queue_arn`` as a destination (grantless) and subscribe the
    client's selling partner to ``notification_types`` on it, with each type's published
    payload version.

    Idempotent: an existing destination for the ARN and existing subscriptions are reused, and
    "already exists" answers read the existing one back, so a rerun creates nothing. Run it
    once per seller (profile): destinations belong to the application, subscriptions to the
    seller."""
    types = [TYPE_ALIASES.get(t, t) for t in notification_types]
    versions = {t: payload_version(t) for t in types}  # fail on an unknown type before any call
    destination_id, destination_created = ensure_destination(client, queue_arn, name)
    subscriptions = tuple(
        ensure_subscription(client, t, destination_id, versions[t]) for t in types
    )
    return SetupResult(destination_id, destination_created, subscriptions)
