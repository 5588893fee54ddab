"""SP-API notifications, in three parts: set-up, consumer and event landing.

Amazon pushes events (a report finished, a listing's status changed, an offer changed) to an SQS
queue the application registered as a *destination* and *subscribed* notification types to.
Polling stays the fallback; notifications only make it unnecessary.

- ``setup``: the queue with its dead-letter queue and policy, destinations, subscriptions;
- ``consumer``: parsing both envelopes, deduplicated long-polling, dispatch by type;
- ``events``: listings-status and offer-change notifications landed as raw JSON-lines events.
"""

from spapi_toolkit.ingest.notifications.consumer import (
    DedupStore,
    Handler,
    LakeDedup,
    ListenStats,
    MemoryDedup,
    Notification,
    dispatch,
    handle_message,
    listen,
    parse,
)
from spapi_toolkit.ingest.notifications.events import EVENT_DATASETS, EventSink, event_marketplace
from spapi_toolkit.ingest.notifications.setup import (
    DEFAULT_TYPES,
    SPAPI_ACCOUNT,
    MalformedNotification,
    NotificationError,
    Queue,
    SetupResult,
    Subscription,
    ensure_destination,
    ensure_queue,
    ensure_subscription,
    payload_version,
    published_payload_versions,
    queue_policy,
    setup,
)

__all__ = [
    "DEFAULT_TYPES",
    "EVENT_DATASETS",
    "SPAPI_ACCOUNT",
    "DedupStore",
    "EventSink",
    "Handler",
    "LakeDedup",
    "ListenStats",
    "MalformedNotification",
    "MemoryDedup",
    "Notification",
    "NotificationError",
    "Queue",
    "SetupResult",
    "Subscription",
    "dispatch",
    "ensure_destination",
    "ensure_queue",
    "ensure_subscription",
    "event_marketplace",
    "handle_message",
    "listen",
    "parse",
    "payload_version",
    "published_payload_versions",
    "queue_policy",
    "setup",
]
