"""The SP-API notification queue as a Lambda event source: what ``spapi listen`` does, per batch.

Lambda's SQS event source receives the messages and deletes those the function reports as
handled, so this module keeps ``listen``'s rules and leaves the queue calls to Lambda:
the same parsing (``consumer.parse``), deduplication on the notification id in the lake
(``LakeDedup``, shared with ``spapi listen``), event landing (``EventSink``). A message that
fails or is malformed is reported in ``batchItemFailures``: SQS delivers it again and, past the
redrive policy's ``maxReceiveCount``, moves it to the dead-letter queue.

REPORT_PROCESSING_FINISHED moves the report's ledger entry on (``record_report_notice``, the
CLI's) and hands the parked task token of the state machine waiting for it back to Step
Functions, so the report is landed by the state machine's landing step right away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from spapi_toolkit.aws.config import Deployment
from spapi_toolkit.aws.ingest import complete_task, token_key
from spapi_toolkit.ingest.ledger import Ledger
from spapi_toolkit.ingest.notifications.consumer import (
    LakeDedup,
    Notification,
    dispatch,
    parse,
)
from spapi_toolkit.ingest.notifications.events import EVENT_DATASETS, EventSink
from spapi_toolkit.ingest.notifications.setup import MalformedNotification
from spapi_toolkit.ingest.pipeline import find_report_entry, record_report_notice
from spapi_toolkit.lake.storage import Lake, ObjectNotFound

log = logging.getLogger(__name__)


class ReportFinished:
    """The handler of REPORT_PROCESSING_FINISHED: ledger first, then the waiting task."""

    def __init__(self, lake: Lake, sfn: Any = None):
        self.lake = lake
        self.ledger = Ledger(lake)
        self.sfn = sfn
        self.unknown = 0

    def __call__(self, notification: Notification) -> None:
        event = notification.event
        seller, report_id = str(event.get("sellerId", "")), str(event.get("reportId", ""))
        status, document = event.get("processingStatus", ""), event.get("reportDocumentId")
        entry = find_report_entry(self.ledger, seller, report_id) if seller and report_id else None
        if entry is None:
            self.unknown += 1
            log.info("report %s of %s is not in the ledger: ignored", report_id, seller)
            return
        now = record_report_notice(self.ledger, entry, str(status), document)
        key = token_key(seller, report_id)
        try:
            parked = json.loads(self.lake.read_bytes(key))
        except ObjectNotFound:
            return  # nobody waits: the poll (or await_report's second look) will see it
        if now == "requested":
            return  # FATAL and the like: the waiting state machine's poll deals with it
        complete_task(parked["task_token"], {"status": now, "told_by": "notification"}, self.sfn)
        self.lake.delete(key)


def consume(
    deployment: Deployment, records: Sequence[Mapping[str, Any]], sfn: Any = None
) -> dict[str, Any]:
    """Handle one SQS batch (the Lambda event's ``Records``); the partial batch response
    ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` names what to redeliver."""
    lake = deployment.lake()
    dedup = LakeDedup(lake)
    sink = EventSink(lake)
    handler = dispatch(
        {
            "REPORT_PROCESSING_FINISHED": ReportFinished(lake, sfn),
            **dict.fromkeys(EVENT_DATASETS, sink),
        }
    )
    failures = []
    counts = {"handled": 0, "duplicates": 0, "failed": 0, "malformed": 0}
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            notification = parse(str(record.get("body", "")))
        except MalformedNotification as error:
            counts["malformed"] += 1
            log.error("malformed message %s (left for the DLQ): %s", message_id, error)
            failures.append({"itemIdentifier": message_id})
            continue
        if dedup.seen(notification.notification_id):
            counts["duplicates"] += 1
            continue
        try:
            handler(notification)
        except Exception:
            counts["failed"] += 1
            log.exception(
                "%s notification %s failed; left for redelivery",
                notification.notification_type,
                notification.notification_id,
            )
            failures.append({"itemIdentifier": message_id})
            continue
        dedup.remember(notification.notification_id)
        counts["handled"] += 1
    log.info("notifications batch", extra=counts)
    return {"batchItemFailures": failures}
