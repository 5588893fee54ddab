"""Notifications end to end: the SQS queue and its dead-letter queue on a real moto server,
destinations and subscriptions against the local sandbox over HTTP, and ``listen`` consuming
what the sandbox delivers (both envelopes, duplicates, failing handlers, malformed bodies)."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from spapi_sandbox.faults import Faults
from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.errors import ClientError, NotFoundError
from spapi_toolkit.api.ratelimit import RetryPolicy
from spapi_toolkit.ingest.notifications import (
    SPAPI_ACCOUNT,
    EventSink,
    LakeDedup,
    ListenStats,
    MalformedNotification,
    MemoryDedup,
    Notification,
    Queue,
    dispatch,
    ensure_queue,
    listen,
    parse,
    payload_version,
    setup,
)
from spapi_toolkit.lake.storage import Lake

from ..support import END_DATE

US = "ATVPDKIKX0DER"
SCHEMAS = Path(__file__).resolve().parents[2] / "spapi_toolkit/data/spapi-models/schemas"
CALLS = ("notifications.createDestination", "notifications.createSubscription")


def schema_example(name: str) -> dict:
    """The first example envelope of a bundled notification schema."""
    return json.loads((SCHEMAS / "notifications" / name).read_text())["examples"][0]


@pytest.fixture
def sqs(aws_env):
    import boto3

    return boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def queue(sqs) -> Queue:
    """A fresh queue whose messages go to the DLQ after 2 receives."""
    return ensure_queue(sqs, f"spapi-{uuid.uuid4().hex[:12]}", max_receive_count=2)


def sandbox_client(sandbox) -> SpApiClient:
    return SpApiClient.from_env(
        env=sandbox.env, retry=RetryPolicy(base_seconds=0.01, cap_seconds=0.05)
    )


def drain(sqs, url: str, wait: int = 1) -> list[dict]:
    """Every message currently visible in a queue (left in place)."""
    answer = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, VisibilityTimeout=0
    )
    return answer.get("Messages", [])


def send(sqs, url: str, document: dict | str) -> None:
    body = document if isinstance(document, str) else json.dumps(document)
    sqs.send_message(QueueUrl=url, MessageBody=body)


# --------------------------------------------------------------------------------------------
# queue
# --------------------------------------------------------------------------------------------


def test_queue_dead_letter_queue_and_policy(sqs):
    name = f"spapi-{uuid.uuid4().hex[:12]}"
    queue = ensure_queue(sqs, name, max_receive_count=3)
    attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == queue.arn and queue.arn.endswith(f":{name}")
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == queue.dlq_arn and int(redrive["maxReceiveCount"]) == 3
    assert queue.dlq_arn.endswith(f":{name}-dlq")
    statement = json.loads(attributes["Policy"])["Statement"][0]
    assert statement["Principal"]["AWS"] == f"arn:aws:iam::{SPAPI_ACCOUNT}:root"
    assert set(statement["Action"]) == {"sqs:SendMessage", "sqs:GetQueueAttributes"}
    assert statement["Resource"] == queue.arn
    assert ensure_queue(sqs, name, max_receive_count=3) == queue  # rerun reuses both queues


# --------------------------------------------------------------------------------------------
# setup
# --------------------------------------------------------------------------------------------


def test_payload_versions_come_from_the_bundled_schemas():
    assert payload_version("REPORT_PROCESSING_FINISHED") == "2020-09-04"
    assert payload_version("ANY_OFFER_CHANGED") == "1.0"
    assert payload_version("LISTINGS_ITEM_STATUS_CHANGE") == "1.0"
    assert payload_version("LISTINGS_ITEM_STATUS_CHANGED") == "1.0"  # the schema enum's slip


def test_setup_is_idempotent_against_the_sandbox(queue):
    with run_sandbox(end_date=END_DATE, scale=600) as sb, sandbox_client(sb) as client:
        first = setup(client, queue.arn)
        assert first.destination_created
        assert set(first.created) == {
            "REPORT_PROCESSING_FINISHED",
            "LISTINGS_ITEM_STATUS_CHANGE",
            "ANY_OFFER_CHANGED",
        }
        versions = {s.notification_type: s.payload_version for s in first.subscriptions}
        assert versions["REPORT_PROCESSING_FINISHED"] == "2020-09-04"
        assert versions["ANY_OFFER_CHANGED"] == versions["LISTINGS_ITEM_STATUS_CHANGE"] == "1.0"
        made = {name: sb.app.calls.get(name, 0) for name in CALLS}
        assert made == {CALLS[0]: 1, CALLS[1]: 3}

        again = setup(client, queue.arn)
        assert not again.destination_created and again.created == ()
        assert again.destination_id == first.destination_id
        assert [s.subscription_id for s in again.subscriptions] == [
            s.subscription_id for s in first.subscriptions
        ]
        assert {name: sb.app.calls.get(name, 0) for name in CALLS} == made
        assert len(sb.app.notifier.destinations) == 1 and again.elsewhere == ()


class RacingClient:
    """getDestinations/getSubscription find nothing the first time, then what the create calls
    answered 409 Conflict about: another setup won the race."""

    def __init__(self):
        self.calls: list[str] = []

    def call(self, operation: str, **params):
        self.calls.append(operation)
        name = operation.split(".")[-1]
        if name.startswith("create"):
            raise ClientError("already exists", status=409, code="Conflict", operation=name)
        first = self.calls.count(operation) == 1
        if name == "getDestinations":
            return {"payload": [] if first else [{"destinationId": "d-1", "resource": ARN}]}
        if first:
            raise_not_found(name)
        return {
            "payload": {"subscriptionId": "s-1", "destinationId": "d-1", "payloadVersion": "1.0"}
        }


ARN = {"sqs": {"arn": "arn:aws:sqs:us-east-1:123456789012:q"}}


def raise_not_found(name: str) -> None:
    raise NotFoundError("none", status=404, code="NotFound", operation=name)


def test_already_exists_reads_back_and_reuses():
    client = RacingClient()
    result = setup(client, ARN["sqs"]["arn"], ["ANY_OFFER_CHANGED"])  # type: ignore[arg-type]
    assert result.destination_id == "d-1" and not result.destination_created
    assert result.created == () and result.subscriptions[0].subscription_id == "s-1"


def test_setup_refuses_a_type_without_a_published_version():
    with pytest.raises(Exception, match="NO_SUCH_TYPE"):
        setup(RacingClient(), "arn", ["NO_SUCH_TYPE"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# parse
# --------------------------------------------------------------------------------------------


def test_parse_camel_case_envelope():
    example = schema_example("ReportProcessingFinishedNotification.json")
    notification = parse(json.dumps(example))
    assert notification.notification_type == "REPORT_PROCESSING_FINISHED"
    assert notification.notification_id == example["notificationMetadata"]["notificationId"]
    assert notification.event_time.isoformat() == "2020-07-14T03:35:13.214000+00:00"
    assert notification.event["reportId"] == "54517018502"
    assert notification.raw == example


def test_parse_pascal_case_envelopes_and_the_status_type_slip():
    offer = parse(json.dumps(schema_example("AnyOfferChangedNotification.json")))
    assert offer.notification_type == "ANY_OFFER_CHANGED"
    assert offer.notification_id == "d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    assert offer.event["OfferChangeTrigger"]["MarketplaceId"] == US
    status = schema_example("ListingsItemStatusChangeNotification.json")
    status["NotificationType"] = "LISTINGS_ITEM_STATUS_CHANGED"  # as the schema's enum says
    parsed = parse(json.dumps(status))
    assert parsed.notification_type == "LISTINGS_ITEM_STATUS_CHANGE"
    assert parsed.event["Sku"] == "NLS-SHOES-03" and parsed.event_time.year == 2021


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"payload": {}}', "notificationType"),
        ('{"notificationType": "X", "payload": {}}', "notificationMetadata"),
        ('{"NotificationType": "X", "NotificationMetadata": {}}', "notificationId"),
        ('{"NotificationType": "X", "NotificationMetadata": {"NotificationId": "n"}}', "payload"),
        (
            '{"notificationType": "X", "payload": {}, "notificationMetadata": '
            '{"notificationId": "n"}}',
            "eventTime",
        ),
    ],
)
def test_parse_names_what_is_missing(body: str, missing: str):
    with pytest.raises(MalformedNotification, match=missing):
        parse(body)


# --------------------------------------------------------------------------------------------
# listen
# --------------------------------------------------------------------------------------------


def create_report(client: SpApiClient) -> str:
    body = {
        "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
        "marketplaceIds": [US],
    }
    return str(client.call("reports_2021-06-30.createReport", body=body)["reportId"])


def test_report_finished_reaches_the_handler(queue, sqs):
    seen: list[Notification] = []
    with run_sandbox(end_date=END_DATE, scale=600) as sb, sandbox_client(sb) as client:
        setup(client, queue.arn, ["REPORT_PROCESSING_FINISHED"])
        report_id = create_report(client)
        stats = listen(
            sqs, queue.url, seen.append, dedup=MemoryDedup(), max_messages=1, idle_seconds=10
        )
        report = client.call("reports_2021-06-30.getReport", reportId=report_id)
    assert stats == ListenStats(received=1, handled=1)
    (notification,) = seen
    assert notification.notification_type == "REPORT_PROCESSING_FINISHED"
    assert notification.event["reportId"] == report_id
    assert notification.event["reportDocumentId"] == report["reportDocumentId"]
    assert drain(sqs, queue.url) == []  # handled messages are deleted


def test_duplicate_deliveries_are_handled_once(queue, sqs, tmp_path):
    handled: list[str] = []
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(duplicate_notification=1.0)) as sb:
        with sandbox_client(sb) as client:
            setup(client, queue.arn, ["REPORT_PROCESSING_FINISHED"])
            reports = {create_report(client) for _ in range(2)}
            stats = listen(
                sqs,
                queue.url,
                lambda n: handled.append(n.event["reportId"]),
                dedup=MemoryDedup(),
                idle_seconds=1.5,
            )
        delivered = len(sb.app.notifier.delivered)
    assert delivered == 4  # every notification was sent twice
    assert sorted(handled) == sorted(reports)
    assert stats == ListenStats(received=4, handled=2, duplicates=2)
    assert drain(sqs, queue.url) == []  # duplicates are deleted too


def test_lake_dedup_survives_a_restart(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    LakeDedup(lake).remember("8e009934-da2c-4f9c-9bc7-93f23b7e1f60")
    again = LakeDedup(Lake.from_uri(str(tmp_path / "lake")))  # a new listener, the same lake
    assert again.seen("8e009934-da2c-4f9c-9bc7-93f23b7e1f60") and not again.seen("other")
    assert list(lake.list("_state/")) == [
        "_state/notifications/seen/8e009934-da2c-4f9c-9bc7-93f23b7e1f60"
    ]
    odd = again.key("../../etc/passwd")
    assert odd.startswith("_state/notifications/seen/sha256-") and ".." not in odd
    again.remember("../../etc/passwd")
    assert again.seen("../../etc/passwd")


def test_a_failing_handler_leaves_the_message_for_the_dead_letter_queue(queue, sqs):
    send(sqs, queue.url, schema_example("AnyOfferChangedNotification.json"))
    calls: list[str] = []

    def broken(notification: Notification) -> None:
        calls.append(notification.notification_id)
        raise RuntimeError("warehouse on fire")

    stats = listen(
        sqs, queue.url, broken, dedup=MemoryDedup(), idle_seconds=2.5, visibility_timeout=1
    )
    # received, hidden 1 s, received again (maxReceiveCount 2), then moved to the DLQ
    assert stats == ListenStats(received=2, failed=2)
    assert len(calls) == 2 and len(set(calls)) == 1
    (dead,) = drain(sqs, queue.dlq_url)
    assert parse(dead["Body"]).notification_type == "ANY_OFFER_CHANGED"


def test_malformed_messages_are_counted_and_not_deleted(queue, sqs):
    send(sqs, queue.url, "not json at all")
    send(sqs, queue.url, {"notificationType": "REPORT_PROCESSING_FINISHED", "payload": {}})
    handled: list[Notification] = []
    stats = listen(
        sqs, queue.url, handled.append, dedup=MemoryDedup(), idle_seconds=0.5, visibility_timeout=5
    )
    assert stats == ListenStats(received=2, malformed=2) and handled == []
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"  # in flight, not deleted


def test_stop_flag_and_max_messages_end_the_listen(queue, sqs):
    for n in range(3):
        example = schema_example("ListingsItemStatusChangeNotification.json")
        example["NotificationMetadata"]["NotificationId"] = f"id-{n}"
        send(sqs, queue.url, example)
    seen: list[str] = []
    stats = listen(
        sqs,
        queue.url,
        lambda n: seen.append(n.notification_id),
        dedup=MemoryDedup(),
        max_messages=2,
    )
    assert stats.handled == 2 and len(seen) == 2
    stop = threading.Event()
    stop.set()
    assert listen(sqs, queue.url, seen.append, dedup=MemoryDedup(), stop=stop) == ListenStats()


def test_sandbox_pascal_case_test_notification_through_sqs(queue, sqs):
    """The sandbox's sendTestNotification delivers a PascalCase LISTINGS_ITEM_STATUS_CHANGE."""
    routed: list[str] = []
    with run_sandbox(end_date=END_DATE, scale=600) as sb, sandbox_client(sb) as client:
        result = setup(client, queue.arn, ["LISTINGS_ITEM_STATUS_CHANGE"])
        client.call(
            "notifications.sendTestNotification",
            notificationType="LISTINGS_ITEM_STATUS_CHANGE",
            body={"testNotification": {"payloadVersion": "1.0"}},
        )
        handler = dispatch({"LISTINGS_ITEM_STATUS_CHANGE": lambda n: routed.append(n.event["Sku"])})
        stats = listen(
            sqs, queue.url, handler, dedup=MemoryDedup(), max_messages=1, idle_seconds=10
        )
    assert stats.handled == 1 and len(routed) == 1
    assert result.subscriptions[0].payload_version == "1.0"


def test_listings_and_offer_changes_land_as_events(queue, sqs, tmp_path):
    """PascalCase events from the sandbox land once each in the raw zone, duplicates and all."""
    lake = Lake.from_uri(str(tmp_path / "lake"))
    kinds = ("LISTINGS_ITEM_STATUS_CHANGE", "ANY_OFFER_CHANGED")
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(duplicate_notification=1.0)) as sb:
        with sandbox_client(sb) as client:
            setup(client, queue.arn, kinds)
            for kind in kinds:
                client.call(
                    "notifications.sendTestNotification",
                    notificationType=kind,
                    body={"testNotification": {"payloadVersion": "1.0"}},
                )
        seller_id = sb.seller_ids[0]
    sink = EventSink(lake, seller_id)
    handler = dispatch({kind: sink for kind in kinds})
    stats = listen(sqs, queue.url, handler, dedup=LakeDedup(lake), idle_seconds=1)
    assert stats == ListenStats(received=4, handled=2, duplicates=2)
    objects = [key for key in lake.list("raw/") if key.endswith(".jsonl")]
    datasets = sorted(key.split("/")[2] for key in objects)
    assert datasets == ["dataset=listings_status_events", "dataset=offer_change_events"]
    for key in objects:
        assert f"/seller_id={seller_id}/" in key and "/marketplace_id=" in key
        (line,) = lake.read_bytes(key).splitlines()
        notification = parse(line.decode())
        assert key.endswith(f"/{notification.notification_id}.jsonl")
        assert f"/dt={notification.event_time.date().isoformat()}/" in key
        assert lake.exists(key + ".manifest.json")


def test_backoff_hides_a_failed_message_longer(queue, sqs):
    send(sqs, queue.url, schema_example("AnyOfferChangedNotification.json"))

    def broken(notification: Notification) -> None:
        raise RuntimeError("not yet")

    stats = listen(
        sqs,
        queue.url,
        broken,
        dedup=MemoryDedup(),
        idle_seconds=2,
        visibility_timeout=1,
        backoff_seconds=30,
    )
    assert stats == ListenStats(received=1, failed=1)  # not back after the 1 s visibility
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_listener_lands_a_report_the_ledger_is_waiting_for(queue, sqs, tmp_path):
    """`spapi listen` without a run: a finished report found in the ledger is landed."""
    from datetime import date

    from spapi_toolkit.ingest.jobs import ReportIngestor, _Work
    from spapi_toolkit.ingest.ledger import Ledger
    from spapi_toolkit.ingest.pipeline import ReportNotices
    from spapi_toolkit.ingest.planner import plan
    from spapi_toolkit.lake.registry import select
    from spapi_toolkit.lake.storage import Lake

    lake = Lake.from_uri(str(tmp_path / "lake"))
    with run_sandbox(end_date=END_DATE, scale=600) as sb, sandbox_client(sb) as client:
        setup(client, queue.arn, ["REPORT_PROCESSING_FINISHED"])
        seller = sb.env["SPAPI_SELLING_PARTNER_ID"]
        day = date(2026, 11, 28)
        listings = select("merchant_listings")
        [request] = plan(listings, seller, ["ATVPDKIKX0DER"], day, day, day).requests
        ReportIngestor(client, lake, seller)._request(_Work(request, None))  # requested, no more
        [entry] = Ledger(lake).entries()
        assert entry.status == "requested"
        notices = ReportNotices(lake, {seller: client})
        stats = listen(sqs, queue.url, notices, dedup=MemoryDedup(), max_messages=1,
                       idle_seconds=10)  # fmt: skip
    assert stats.handled == 1
    [entry] = Ledger(lake).entries()
    assert entry.status == "landed" and entry.raw_key and lake.exists(entry.raw_key)
    assert entry.history[-2][2] == "told by REPORT_PROCESSING_FINISHED"


def test_cli_setup_is_idempotent_and_names_what_it_made(aws_env, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    spapi = str(Path(sys.executable).parent / "spapi")
    with run_sandbox(end_date=END_DATE, scale=600) as sb:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SPAPI_")}, **sb.env}
        args = [spapi, "notifications", "setup", "--queue", f"q-{uuid.uuid4().hex[:8]}"]
        first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "subscribed REPORT_PROCESSING_FINISHED (new)" in first.stdout
    assert second.returncode == 0 and "(new)" not in second.stdout
    assert "sandbox-client-secret" not in first.stdout + first.stderr
