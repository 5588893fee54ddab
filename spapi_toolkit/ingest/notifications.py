"""SP-API notifications: an SQS queue Amazon may write to, destinations and subscriptions, and a
consumer that hands each notification to a handler exactly once per ``notificationId``.

Amazon pushes events (a report finished, a listing's status changed, an offer changed) to an SQS
queue the application registered as a *destination* and *subscribed* notification types to.
Polling stays the fallback; notifications only make it unnecessary.

- :func:`ensure_queue` creates (or reuses) the queue, its dead-letter queue and the queue policy
  that lets SP-API's AWS account send to it.
- :func:`setup` registers the queue as a destination and subscribes the notification types,
  reusing what already exists ("already exists" is not an error), so it can run any number of
  times.
- :func:`parse` reads both envelopes Amazon uses: camelCase (``notificationType``,
  ``notificationMetadata.notificationId``) and PascalCase (``NotificationType``,
  ``NotificationMetadata.NotificationId``).
- :func:`listen` long-polls the queue. SQS delivers at least once and SP-API itself sometimes
  sends an event twice, so it deduplicates on the notification id (:class:`DedupStore`). A
  message is deleted only once its handler succeeded (or it is a duplicate); a failing or
  malformed message is left in the queue, so SQS delivers it again and, after the redrive
  policy's ``maxReceiveCount`` receives, moves it to the dead-letter queue to be looked at.
- :class:`EventSink` lands listings-status and offer-change notifications as JSON-lines events
  in the lake's raw zone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Protocol

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.errors import NotFoundError, SpApiError, SpApiToolkitError
from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake import landing, layout
from spapi_toolkit.lake.storage import Lake

log = logging.getLogger(__name__)

SPAPI_ACCOUNT = "437568002678"  # the AWS account SP-API sends notifications from
DEFAULT_TYPES = ("REPORT_PROCESSING_FINISHED", "LISTINGS_ITEM_STATUS_CHANGE", "ANY_OFFER_CHANGED")
MAX_RECEIVE_COUNT = 5  # receives before SQS moves a message to the dead-letter queue
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum: time to look at what failed
MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's maximum visibility timeout
SQS_BATCH = 10  # SQS's maximum messages per receive
SCHEMAS_DIR = "data/spapi-models/schemas/notifications"

# Published names that differ from what Amazon actually sends: the listings status schema's
# enum says LISTINGS_ITEM_STATUS_CHANGED, its examples and the real events say ..._CHANGE.
TYPE_ALIASES = {"LISTINGS_ITEM_STATUS_CHANGED": "LISTINGS_ITEM_STATUS_CHANGE"}


class NotificationError(SpApiToolkitError):
    """Setting up notifications failed in a way a retry will not fix."""


class MalformedNotification(NotificationError, ValueError):
    """An SQS message body is not a notification; the message says what is missing."""


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
        kind = _field(example, "notificationType")
        version = _field(example, "payloadVersion")
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


# --------------------------------------------------------------------------------------------
# Reading notifications
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One notification, whichever envelope it came in."""

    notification_id: str
    notification_type: str  # normalised: LISTINGS_ITEM_STATUS_CHANGED reads ..._CHANGE
    event_time: datetime  # timezone-aware UTC
    payload: dict[str, Any]  # the envelope's payload, as sent
    raw: dict[str, Any]  # the whole envelope, as sent
    body: str = field(default="", repr=False)  # the SQS message body, byte for byte

    @property
    def event(self) -> dict[str, Any]:
        """The payload without its one-key wrapper (``reportProcessingFinishedNotification``,
        ``AnyOfferChangedNotification``), or the payload itself when it has none."""
        if len(self.payload) == 1:
            ((key, inner),) = self.payload.items()
            if key.lower().endswith("notification") and isinstance(inner, dict):
                return inner
        return self.payload


def _field(document: Mapping[str, Any], name: str) -> Any:
    """``name`` (camelCase) or its PascalCase twin, whichever the document has."""
    if name in document:
        return document[name]
    return document.get(name[:1].upper() + name[1:])


def _timestamp(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise MalformedNotification(f"notification has no {what}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise MalformedNotification(f"{what} {text!r} is not an ISO 8601 time") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse(body: str) -> Notification:
    """Read an SQS message body as a notification, camelCase or PascalCase envelope.

    Raises :class:`MalformedNotification` naming what is missing: not JSON, no
    notificationType, no notificationMetadata.notificationId, no payload, no eventTime."""
    try:
        document = json.loads(body)
    except ValueError as error:
        raise MalformedNotification(f"message body is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise MalformedNotification("message body is not a JSON object")
    kind = _field(document, "notificationType")
    if not isinstance(kind, str) or not kind:
        raise MalformedNotification("notification has no notificationType/NotificationType")
    metadata = _field(document, "notificationMetadata")
    if not isinstance(metadata, dict):
        raise MalformedNotification(
            f"{kind} notification has no notificationMetadata/NotificationMetadata"
        )
    notification_id = _field(metadata, "notificationId")
    if not isinstance(notification_id, str) or not notification_id:
        raise MalformedNotification(
            f"{kind} notification has no notificationMetadata.notificationId"
        )
    payload = _field(document, "payload")
    if not isinstance(payload, dict):
        raise MalformedNotification(f"{kind} notification {notification_id} has no payload")
    when = _field(document, "eventTime") or _field(metadata, "publishTime")
    return Notification(
        notification_id=notification_id,
        notification_type=TYPE_ALIASES.get(kind, kind),
        event_time=_timestamp(when, f"eventTime of {kind} notification {notification_id}"),
        payload=payload,
        raw=document,
        body=body,
    )


# --------------------------------------------------------------------------------------------
# Deduplication
# --------------------------------------------------------------------------------------------


class DedupStore(Protocol):
    """Remembers which notification ids were handled, so a redelivery is not handled again."""

    def seen(self, notification_id: str) -> bool: ...

    def remember(self, notification_id: str) -> None: ...


class MemoryDedup:
    """Ids remembered for the life of the process (tests, one-off listens)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, notification_id: str) -> bool:
        with self._lock:
            return notification_id in self._ids

    def remember(self, notification_id: str) -> None:
        with self._lock:
            self._ids.add(notification_id)


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]*")


class LakeDedup:
    """Ids remembered as marker objects in the lake (``_state/notifications/seen/<id>``), so
    every listener on every host, and every restart, agrees on what was handled."""

    PREFIX = "_state/notifications/seen/"

    def __init__(self, lake: Lake, prefix: str = PREFIX, clock: Clock = SYSTEM_CLOCK):
        self.lake = lake
        self.prefix = prefix
        self.clock = clock

    def key(self, notification_id: str) -> str:
        """The marker's key; an id that is not a safe key segment is hashed."""
        if _SAFE_ID.fullmatch(notification_id) and ".." not in notification_id:
            return self.prefix + notification_id
        return self.prefix + "sha256-" + hashlib.sha256(notification_id.encode()).hexdigest()

    def seen(self, notification_id: str) -> bool:
        return self.lake.exists(self.key(notification_id))

    def remember(self, notification_id: str) -> None:
        handled_at = self.clock.now().isoformat(timespec="seconds").replace("+00:00", "Z")
        marker = {"notification_id": notification_id, "handled_at": handled_at}
        self.lake.write_bytes(self.key(notification_id), json.dumps(marker).encode() + b"\n")


# --------------------------------------------------------------------------------------------
# Listening
# --------------------------------------------------------------------------------------------

Handler = Callable[[Notification], None]


@dataclass
class ListenStats:
    """What one :func:`listen` did with the messages it received."""

    received: int = 0  # messages received (redeliveries counted again)
    handled: int = 0  # handler succeeded; message deleted
    duplicates: int = 0  # id already handled; message deleted without calling the handler
    failed: int = 0  # handler raised; message left for redelivery / the dead-letter queue
    malformed: int = 0  # not a notification; message left for the dead-letter queue


def _receive_count(message: Mapping[str, Any]) -> int:
    try:
        return int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
    except ValueError:
        return 1


def _delete(sqs: Any, queue_url: str, message: Mapping[str, Any]) -> None:
    """Delete a message; a failure only means SQS redelivers it, and dedup catches that."""
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    except Exception as error:
        log.warning("could not delete message %s: %s", message.get("MessageId"), error)


def _back_off(sqs: Any, queue_url: str, message: Mapping[str, Any], base: float) -> None:
    """Hide a failed message for ``base`` x 2^(receives - 1) seconds before SQS redelivers it."""
    seconds = min(base * 2 ** (_receive_count(message) - 1), MAX_VISIBILITY_SECONDS)
    try:
        sqs.change_message_visibility(
            QueueUrl=queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=int(seconds),
        )
    except Exception as error:
        log.warning("could not delay message %s: %s", message.get("MessageId"), error)


def handle_message(
    sqs: Any,
    queue_url: str,
    message: Mapping[str, Any],
    handler: Handler,
    dedup: DedupStore,
    stats: ListenStats,
    backoff_seconds: float | None = None,
) -> None:
    """Process one received SQS message: parse, skip duplicates, handle, then delete.

    Only a handled (or duplicate) message is deleted; the id is remembered before the delete,
    so a crash in between means a redelivery that dedup recognises. A failing or malformed
    message stays in the queue: SQS redelivers it and, past ``maxReceiveCount``, moves it to
    the dead-letter queue."""
    stats.received += 1
    try:
        notification = parse(message.get("Body", ""))
    except MalformedNotification as error:
        stats.malformed += 1
        log.error("malformed message %s (left for the DLQ): %s", message.get("MessageId"), error)
        return
    if dedup.seen(notification.notification_id):
        stats.duplicates += 1
        _delete(sqs, queue_url, message)
        return
    try:
        handler(notification)
    except Exception:
        stats.failed += 1
        log.exception(
            "%s notification %s failed (receive %d); left for redelivery",
            notification.notification_type,
            notification.notification_id,
            _receive_count(message),
        )
        if backoff_seconds is not None:
            _back_off(sqs, queue_url, message, backoff_seconds)
        return
    dedup.remember(notification.notification_id)
    _delete(sqs, queue_url, message)
    stats.handled += 1


def listen(
    sqs: Any,
    queue_url: str,
    handler: Handler,
    *,
    dedup: DedupStore,
    max_messages: int | None = None,
    idle_seconds: float | None = None,
    wait_seconds: int = 1,
    visibility_timeout: int = 300,
    backoff_seconds: float | None = None,
    stop: threading.Event | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> ListenStats:
    """Consume notifications from ``queue_url`` (boto3 SQS client ``sqs``), calling
    ``handler(notification)`` once per notification id, until one of: ``max_messages``
    notifications handled, ``idle_seconds`` passed without any message, or ``stop`` set.
    With none of them it runs until interrupted.

    Long-polls ``wait_seconds`` per receive (up to 20), 10 messages at a time.
    ``visibility_timeout`` is how long a received message stays hidden from other consumers:
    longer than the slowest handler (fetching and landing a large report). A handler that
    raises leaves its message to come back after that, or after ``backoff_seconds`` doubled per
    receive when given. Duplicates are deleted without calling the handler; malformed messages
    are left for the dead-letter queue. Returns the counts."""
    stats = ListenStats()
    last_message = clock.monotonic()
    while not (stop is not None and stop.is_set()):
        wanted = SQS_BATCH if max_messages is None else min(SQS_BATCH, max_messages - stats.handled)
        if wanted <= 0:
            break
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = answer.get("Messages") or []
        if not messages:
            if idle_seconds is not None and clock.monotonic() - last_message >= idle_seconds:
                break
            continue
        last_message = clock.monotonic()
        for message in messages:
            handle_message(sqs, queue_url, message, handler, dedup, stats, backoff_seconds)
    return stats


def dispatch(routes: Mapping[str, Handler], default: Handler | None = None) -> Handler:
    """One handler that sends each notification to ``routes[its type]``, else ``default``.
    A type with neither is logged and accepted (deleted): it was subscribed elsewhere, and
    leaving it would only fill the dead-letter queue."""

    def handle(notification: Notification) -> None:
        route = routes.get(notification.notification_type, default)
        if route is None:
            log.info(
                "ignoring %s notification %s: no handler",
                notification.notification_type,
                notification.notification_id,
            )
            return
        route(notification)

    return handle


# --------------------------------------------------------------------------------------------
# Landing events
# --------------------------------------------------------------------------------------------

EVENT_DATASETS = {
    "LISTINGS_ITEM_STATUS_CHANGE": "listings_status_events",
    "ANY_OFFER_CHANGED": "offer_change_events",
}


def event_marketplace(notification: Notification) -> str:
    """The marketplace an event is about (listings: ``MarketplaceId``; offers:
    ``OfferChangeTrigger.MarketplaceId``)."""
    event = notification.event
    marketplace = event.get("MarketplaceId") or (event.get("OfferChangeTrigger") or {}).get(
        "MarketplaceId"
    )
    if not isinstance(marketplace, str) or not marketplace:
        raise MalformedNotification(
            f"{notification.notification_type} notification {notification.notification_id} "
            "names no MarketplaceId"
        )
    return marketplace


class EventSink:
    """A handler that lands LISTINGS_ITEM_STATUS_CHANGE and ANY_OFFER_CHANGED notifications in
    the raw zone, one JSON-lines object per notification id (the envelope as Amazon sent it):
    ``raw/source=spapi/dataset=<listings_status_events|offer_change_events>/seller_id=...
    /marketplace_id=.../dt=<event date>/<notification id>.jsonl``.

    The seller is the payload's ``SellerId`` (one application queue serves every seller),
    else ``seller_id``. Landing an id already landed does nothing. Other types raise
    ``ValueError``: route them elsewhere (see :func:`dispatch`)."""

    def __init__(self, lake: Lake, seller_id: str | None = None, clock: Clock = SYSTEM_CLOCK):
        self.lake = lake
        self.seller_id = seller_id
        self.clock = clock

    def __call__(self, notification: Notification) -> None:
        self.land(notification)

    def _seller(self, notification: Notification) -> str:
        seller = notification.event.get("SellerId") or self.seller_id
        if not isinstance(seller, str) or not seller:
            raise MalformedNotification(
                f"{notification.notification_type} notification "
                f"{notification.notification_id} names no SellerId and the sink has none"
            )
        return seller

    def land(self, notification: Notification) -> landing.Manifest:
        """Land one event; returns its manifest (the existing one when already landed)."""
        dataset = EVENT_DATASETS.get(notification.notification_type)
        if dataset is None:
            raise ValueError(f"EventSink does not land {notification.notification_type}")
        seller, marketplace = self._seller(notification), event_marketplace(notification)
        stem = layout.raw_stem(
            dataset,
            seller,
            marketplace,
            notification.event_time.date(),
            notification.notification_id,
        )
        return landing.land(
            self.lake,
            stem,
            [_json_line(notification)],
            fmt="jsonl",
            encodings=["utf-8"],
            manifest_fields={
                "dataset": dataset,
                "seller_id": seller,
                "marketplace_ids": [marketplace],
                "request": {
                    "notification_type": notification.notification_type,
                    "notification_id": notification.notification_id,
                },
                "report_id": None,
                "document_id": None,
                "declared_compression": None,
            },
            now=self.clock.now(),
        )


def _json_line(notification: Notification) -> bytes:
    """The envelope as one line: the body as received when it is one line, else re-encoded."""
    body = notification.body.strip()
    if not body or "\n" in body or "\r" in body:
        body = json.dumps(notification.raw, ensure_ascii=False, separators=(",", ":"))
    return body.encode("utf-8") + b"\n"
