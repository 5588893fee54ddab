"""Consuming SP-API notifications from SQS exactly once per ``notificationId``.

- :func:`parse` reads both envelopes Amazon uses: camelCase (``notificationType``,
  ``notificationMetadata.notificationId``) and PascalCase (``NotificationType``,
  ``NotificationMetadata.NotificationId``).
- :func:`listen` long-polls the queue. SQS delivers at least once and SP-API itself sometimes
  sends an event twice, so it deduplicates on the notification id (:class:`DedupStore`). A
  message is deleted only once its handler succeeded (or it is a duplicate); a failing or
  malformed message is left in the queue, so SQS delivers it again and, after the redrive
  policy's ``maxReceiveCount`` receives, moves it to the dead-letter queue to be looked at.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.ingest.notifications.setup import (
    TYPE_ALIASES,
    MalformedNotification,
    envelope_field,
)
from spapi_toolkit.lake.storage import Lake

log = logging.getLogger(__name__)

MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's maximum visibility timeout
SQS_BATCH = 10  # SQS's maximum messages per receive


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
    kind = envelope_field(document, "notificationType")
    if not isinstance(kind, str) or not kind:
        raise MalformedNotification("notification has no notificationType/NotificationType")
    metadata = envelope_field(document, "notificationMetadata")
    if not isinstance(metadata, dict):
        raise MalformedNotification(
            f"{kind} notification has no notificationMetadata/NotificationMetadata"
        )
    notification_id = envelope_field(metadata, "notificationId")
    if not isinstance(notification_id, str) or not notification_id:
        raise MalformedNotification(
            f"{kind} notification has no notificationMetadata.notificationId"
        )
    payload = envelope_field(document, "payload")
    if not isinstance(payload, dict):
        raise MalformedNotification(f"{kind} notification {notification_id} has no payload")
    when = envelope_field(document, "eventTime") or envelope_field(metadata, "publishTime")
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
