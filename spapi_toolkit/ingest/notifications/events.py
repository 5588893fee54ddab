"""Landing listings-status and offer-change notifications as JSON-lines events in the raw zone."""

from __future__ import annotations

import json
import logging

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.ingest.notifications.consumer import Notification
from spapi_toolkit.ingest.notifications.setup import MalformedNotification
from spapi_toolkit.lake import landing, layout
from spapi_toolkit.lake.storage import Lake

log = logging.getLogger(__name__)

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
