"""The Lambda handlers chained in the state machine's order, against a moto server (S3, Secrets
Manager, SSM) and the local SP-API sandbox: they land exactly the raw objects ``ReportIngestor``
(what ``spapi ingest`` runs) lands for the same requests, and the notification consumer hands a
finished report back to the waiting task."""

from __future__ import annotations

import json
import logging
import time
from datetime import date

import boto3
import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.aws import handlers
from spapi_toolkit.aws.ingest import token_key
from spapi_toolkit.ingest.jobs import IngestSettings, ReportIngestor
from spapi_toolkit.ingest.ledger import Ledger
from spapi_toolkit.ingest.planner import PlannedRequest, plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..reconcile import US, manifests
from ..support import END_DATE

pytestmark = pytest.mark.aws

TODAY = date(2026, 11, 28)  # the pinned sandbox's "now" (END_DATE + 1)
DATASETS = "sales_traffic_by_asin,orders_by_order_date"
FIRST, LAST = date(2026, 11, 10), date(2026, 11, 11)
PROFILE = "main"
PREFIX = "/spapi-test/"
SECRET_PREFIX = "spapi-test/seller/"


class Recorder:
    """A Step Functions client that records SendTaskSuccess (moto has no task tokens)."""

    class exceptions:
        class TaskDoesNotExist(Exception): ...

        class TaskTimedOut(Exception): ...

        class InvalidToken(Exception): ...

    def __init__(self) -> None:
        self.completed: list[tuple[str, dict]] = []

    def send_task_success(self, taskToken: str, output: str) -> None:
        self.completed.append((taskToken, json.loads(output)))


@pytest.fixture
def deployment(aws_env, monkeypatch, request):
    """The sandbox, three buckets, the seller's secret and the SSM parameters; the process
    environment set as the template sets a function's."""
    s3 = boto3.client("s3")
    tag = request.node.name.replace("_", "-")[-30:].strip("-").lower()
    buckets = {zone: f"{zone}-{tag}" for zone in ("raw", "cleaned", "aggregated", "reference")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        env = sandbox.env
        boto3.client("secretsmanager").create_secret(
            Name=f"{SECRET_PREFIX}{tag}/{PROFILE}",
            SecretString=json.dumps(
                {
                    "client_id": env["SPAPI_CLIENT_ID"],
                    "client_secret": env["SPAPI_CLIENT_SECRET"],
                    "refresh_token": env["SPAPI_REFRESH_TOKEN"],
                    "selling_partner_id": env["SPAPI_SELLING_PARTNER_ID"],
                    "region": env["SPAPI_REGION"],
                }
            ),
        )
        ssm = boto3.client("ssm")
        for name, value in {
            "profiles": PROFILE,
            "marketplaces": "US",
            "datasets": DATASETS,
            "lookback-days": "2",
        }.items():
            ssm.put_parameter(Name=PREFIX + name, Value=value, Type="String", Overwrite=True)
        for name, value in env.items():
            if name not in (
                "SPAPI_CLIENT_ID",
                "SPAPI_CLIENT_SECRET",
                "SPAPI_REFRESH_TOKEN",
                "SPAPI_SELLING_PARTNER_ID",
            ):
                monkeypatch.setenv(name, value)
        lake = (
            f"s3://{buckets['raw']}/lake,cleaned=s3://{buckets['cleaned']},"
            f"aggregated=s3://{buckets['aggregated']}"
        )
        monkeypatch.setenv("SPAPI_LAKE", lake)
        monkeypatch.setenv("SPAPI_SECRET_PREFIX", f"{SECRET_PREFIX}{tag}/")
        monkeypatch.setenv("SPAPI_PARAMETER_PREFIX", PREFIX)
        yield sandbox, buckets, lake


def read_plan(location: dict) -> list[dict]:
    body = boto3.client("s3").get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"]
    return json.loads(body.read())


def drive(item: dict, await_token: str | None = None) -> list[str]:
    """One Map iteration as the state machine runs it: request (waiting for quotas), check
    until done (the Wait states shortened), land. Returns the statuses seen."""
    seen = []
    answer = handlers.request_job(item)
    while answer["status"] in ("new", "requesting", "fatal"):
        time.sleep(min(answer["wait_seconds"], 0.2))
        answer = handlers.request_job(item)
    seen.append(answer["status"])
    deadline = time.monotonic() + 60
    while answer["status"] == "requested":
        assert time.monotonic() < deadline, "the report never finished"
        time.sleep(0.1)
        answer = handlers.check_job(item)
        seen.append(answer["status"])
    if answer["status"] == "done":
        answer = handlers.land_job(item)
        seen.append(answer["status"])
    return seen


def test_handlers_land_what_spapi_ingest_lands(deployment, caplog):
    sandbox, buckets, lake_uri = deployment
    caplog.set_level(logging.INFO)
    planned = handlers.plan({"run_id": "run-1", "from": str(FIRST), "to": str(LAST)})
    (seller,) = planned["sellers"]
    assert seller["seller_id"] == sandbox.seller_ids[0] and seller["profile"] == PROFILE
    # Sales & Traffic is under a report quota: planned apart, to run one at a time.
    quota_items, items = read_plan(seller["quota_jobs"]), read_plan(seller["jobs"])
    assert {i["request"]["dataset"] for i in quota_items} == {"sales_traffic_by_asin"}
    assert {i["request"]["dataset"] for i in items} == {"orders_by_order_date"}
    assert len(quota_items) == 2 and read_plan(seller["snapshots"]) == []

    for item in quota_items + items:
        assert drive(item)[-1] == "landed"
        # Idempotent: any step again only says where the request stands.
        assert handlers.request_job(item)["status"] == "landed"
        assert handlers.land_job(item)["status"] == "landed"

    # The same requests through the CLI's loop, into another lake.
    reference = Lake.from_uri(f"s3://{buckets['reference']}/lake")
    client = SpApiClient.from_env(env=sandbox.env)
    requests = plan(select(DATASETS), seller["seller_id"], [US], FIRST, LAST, TODAY).requests
    assert sorted(r.request_id for r in requests) == sorted(
        i["request"]["request_id"] for i in quota_items + items
    )
    settings = IngestSettings(time_scale=client.time_scale, poll_seconds=0.5)
    stats = ReportIngestor(client, reference, seller["seller_id"], settings).run(requests)
    assert stats.failed == 0 and stats.landed == len(requests)

    ours = Lake.from_uri(lake_uri)
    landed, expected = manifests(ours), manifests(reference)
    assert sorted(landed) == sorted(expected) and len(landed) == len(requests)
    for key in landed:
        assert ours.read_bytes(key) == reference.read_bytes(key), key
        assert landed[key].sha256 == expected[key].sha256
    # Nothing landed went to the cleaned or aggregated buckets.
    for zone in ("cleaned", "aggregated"):
        assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=buckets[zone])
    # No secret in any log line.
    text = caplog.text
    for secret in (sandbox.env["SPAPI_CLIENT_SECRET"], sandbox.env["SPAPI_REFRESH_TOKEN"]):
        assert secret not in text


def test_a_notification_releases_the_waiting_task(deployment, monkeypatch):
    sandbox, _, lake_uri = deployment
    event = {
        "run_id": "run-2",
        "datasets": "orders_by_order_date",
        "marketplaces": ["US"],
        "from": str(FIRST),
        "to": str(FIRST),
    }
    planned = handlers.plan(event)
    (item,) = read_plan(planned["sellers"][0]["jobs"])
    answer = handlers.request_job(item)
    while answer["status"] != "requested":
        answer = handlers.request_job(item)
    recorder = Recorder()
    monkeypatch.setattr("spapi_toolkit.aws.ingest._default_sfn", lambda: recorder)
    parked = handlers.await_report({"item": item, "task_token": "token-1"})
    assert parked == {"parked": True} and recorder.completed == []

    lake = Lake.from_uri(lake_uri)
    request = PlannedRequest.from_dict(item["request"])
    entry = Ledger(lake).get(request.seller_id, request.dataset.name, request.request_id)
    assert entry is not None and entry.report_id
    report = None
    deadline = time.monotonic() + 60
    while report is None or report["processingStatus"] != "DONE":
        assert time.monotonic() < deadline
        time.sleep(0.1)
        report = SpApiClient.from_env(env=sandbox.env).call("getReport", reportId=entry.report_id)
    body = {
        "notificationVersion": "2020-09-04",
        "notificationType": "REPORT_PROCESSING_FINISHED",
        "payloadVersion": "2020-09-04",
        "eventTime": "2026-11-28T06:00:00.000Z",
        "payload": {
            "reportProcessingFinishedNotification": {
                "sellerId": request.seller_id,
                "reportId": entry.report_id,
                "reportType": report["reportType"],
                "processingStatus": "DONE",
                "reportDocumentId": report["reportDocumentId"],
            }
        },
        "notificationMetadata": {
            "applicationId": "app",
            "subscriptionId": "sub",
            "publishTime": "2026-11-28T06:00:01.000Z",
            "notificationId": "n-1",
        },
    }
    records = [
        {"messageId": "m-1", "body": json.dumps(body)},
        {"messageId": "m-2", "body": json.dumps(body)},  # SQS delivers at least once
        {"messageId": "m-3", "body": "not a notification"},
    ]
    answer = handlers.consume_notifications({"Records": records})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}
    assert recorder.completed == [("token-1", {"status": "done", "told_by": "notification"})]
    assert not lake.exists(token_key(request.seller_id, entry.report_id))
    # The state machine goes on: check says done without a poll, land lands.
    assert handlers.check_job(item)["status"] == "done"
    assert handlers.land_job(item)["status"] == "landed"
    # A task parked after the report settled is completed at once.
    handlers.await_report({"item": item, "task_token": "token-2"})
    assert recorder.completed[-1] == ("token-2", {"status": "landed", "told_by": "ledger"})
