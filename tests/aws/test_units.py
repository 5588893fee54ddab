"""The pieces of the AWS side that need no SP-API: the zoned lake on moto's S3, plan items
read back, redacted JSON logs, and the Lake Formation custom resource against moto."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from spapi_toolkit.aws import lakeformation
from spapi_toolkit.aws.logs import REDACTED, JsonFormatter, redact
from spapi_toolkit.ingest.planner import PlanError, PlannedRequest, plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake, LakeError, ZonedLake

US, DE = "ATVPDKIKX0DER", "A1PM5YBUB2CGDX"


@pytest.mark.aws
def test_a_zoned_lake_puts_each_zone_in_its_bucket(aws_env):
    s3 = boto3.client("s3")
    for bucket in ("z-raw", "z-cleaned", "z-aggregated"):
        s3.create_bucket(Bucket=bucket)
    lake = Lake.from_uri("s3://z-raw/lake,cleaned=s3://z-cleaned,aggregated=s3://z-aggregated")
    assert isinstance(lake, ZonedLake)
    lake.write_bytes("raw/a.json", b"raw")
    lake.write_bytes("_state/ledger/x.json", b"state")
    lake.write_stream("cleaned/t/part.parquet", [b"c", b"leaned"])
    lake.write_bytes("aggregated/m/part.parquet", b"agg")
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="z-raw")["Contents"]) == [
        "lake/_state/ledger/x.json",
        "lake/raw/a.json",
    ]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="z-cleaned")["Contents"]] == [
        "cleaned/t/part.parquet"
    ]
    assert lake.read_bytes("cleaned/t/part.parquet") == b"cleaned"
    assert lake.location("cleaned/t") == "s3://z-cleaned/cleaned/t"
    assert lake.location("raw/a.json") == "s3://z-raw/lake/raw/a.json"
    assert list(lake.list("")) == sorted(
        [
            "_state/ledger/x.json",
            "aggregated/m/part.parquet",
            "cleaned/t/part.parquet",
            "raw/a.json",
        ]
    )
    assert list(lake.list("c")) == ["cleaned/t/part.parquet"]
    lake.move("raw/a.json", "aggregated/a.json")  # across buckets, a server-side copy
    assert not lake.exists("raw/a.json") and lake.read_bytes("aggregated/a.json") == b"raw"
    staged = [(f"_staging/cleaned/t/run/d={d}/part.parquet", f"cleaned/t/d={d}/part.parquet")
              for d in range(3)]  # fmt: skip
    for key, _ in staged:
        lake.write_bytes(key, key.encode())
    lake.move_many(staged)  # curation's swap: from the main bucket into the cleaned one
    assert [lake.read_bytes(new) for _, new in staged] == [key.encode() for key, _ in staged]
    assert not list(lake.list("_staging/"))
    with pytest.raises(LakeError):
        Lake.from_uri("s3://z-raw,cleaned=./folder")


def test_a_plan_item_reads_back_as_the_same_request():
    requests = plan(
        select("sales_traffic_by_asin,merchant_listings,orders_by_order_date"),
        "A1SELLER",
        [US, DE],
        date(2026, 11, 20),
        date(2026, 11, 26),
        date(2026, 11, 28),
    ).requests
    assert any(r.provisional_as_of for r in requests) and any(r.window is None for r in requests)
    for request in requests:
        data = json.loads(json.dumps(request.to_dict()))
        assert PlannedRequest.from_dict(data) == request
    tampered = {**requests[0].to_dict(), "marketplace_ids": [DE]}
    with pytest.raises(PlanError, match="changed since it was planned"):
        PlannedRequest.from_dict(tampered)


def test_log_lines_are_json_without_secrets():
    line = redact(
        {
            "client_secret": "s",
            "event": {"task_token": "t", "refresh": "Atzr|abc"},
            "url": "https://d.example/doc?X-Amz-Signature=abc",
            "n": 3,
        }
    )
    assert line == {
        "client_secret": REDACTED,
        "event": {"task_token": REDACTED, "refresh": REDACTED},
        "url": "https://d.example/doc?<query removed>",
        "n": 3,
    }
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.aws.logs")
    logger.addHandler(handler)
    try:
        raise ValueError("token Atza|secret-access-token refused")
    except ValueError:
        logger.error(
            "failed for %s", "amzn1.oa2-cs.v1.TOPSECRET", extra={"seller_id": "A1"}, exc_info=True
        )
    logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["seller_id"] == "A1" and record["level"] == "ERROR"
    assert "TOPSECRET" not in stream.getvalue() and "secret-access-token" not in stream.getvalue()
    assert record["exception"]["type"] == "ValueError"


OLD = "arn:aws:iam::123456789012:role/old"  # an administrator before the stack
SHARED = "arn:aws:iam::123456789012:role/shared"  # one too, and listed by the stack
OURS = "arn:aws:iam::123456789012:role/deployer"
OURS2 = "arn:aws:iam::123456789012:role/deployer2"
EVERYONE = [{"Principal": lakeformation.IAM_ALLOWED_PRINCIPALS, "Permissions": ["ALL"]}]
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/lf-stack/0a1b2c3d"


@pytest.fixture
def lake_formation_account(aws_env):
    """The account's Lake Formation settings, put back after the test (one moto server)."""
    lf = boto3.client("lakeformation")
    kept = lf.get_data_lake_settings()["DataLakeSettings"]
    yield lf
    lf.put_data_lake_settings(DataLakeSettings=kept)


@pytest.fixture
def cloudformation():
    """A stand-in for CloudFormation's pre-signed ResponseURL: the answers PUT to it."""
    answers: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/response?X-Amz-Signature=s", answers
    server.shutdown()
    server.server_close()


def _request(url: str, kind: str, admins: list[str], databases: list[str]) -> dict:
    event = {"RequestType": kind, "ResponseURL": url, "StackId": STACK_ID, "RequestId": kind,
             "LogicalResourceId": "LakeFormationSettings",
             "ResourceProperties": {"ServiceToken": "arn:fn", "Admins": admins,
                                    "Databases": databases}}  # fmt: skip
    if kind != "Create":
        event["PhysicalResourceId"] = "lf-settings-LakeFormationSettings"
    return event


def _admins(lf) -> list[str]:
    settings = lf.get_data_lake_settings()["DataLakeSettings"]
    return [a["DataLakePrincipalIdentifier"] for a in settings["DataLakeAdmins"]]


def _iam_allowed(lf, resource: dict) -> list[dict]:
    listed = lf.list_permissions(Principal=lakeformation.IAM_ALLOWED_PRINCIPALS, Resource=resource)
    return [
        {k: sorted(p.get(k) or []) for k in ("Permissions", "PermissionsWithGrantOption")}
        for p in listed["PrincipalResourcePermissions"]
        if p["Principal"] == lakeformation.IAM_ALLOWED_PRINCIPALS
    ]


def _account(lf, admins: list[str]) -> dict:
    """The account's settings before the stack: its admins, both defaults granting everyone."""
    settings = {"DataLakeAdmins": [{"DataLakePrincipalIdentifier": a} for a in admins],
                "CreateDatabaseDefaultPermissions": EVERYONE,
                "CreateTableDefaultPermissions": EVERYONE}  # fmt: skip
    lf.put_data_lake_settings(DataLakeSettings=settings)
    return lf.get_data_lake_settings()["DataLakeSettings"]


def _database(glue, lf, name: str) -> list[dict]:
    """A database granting everyone, as one created under the account's defaults; its
    resources (the database, one table) with IAMAllowedPrincipals' grants on them."""
    glue.create_database(DatabaseInput={"Name": name, "Description": "d",
                                        "CreateTableDefaultPermissions": EVERYONE})  # fmt: skip
    glue.create_table(DatabaseName=name, TableInput={"Name": "order_items"})
    resources = [{"Database": {"Name": name}},
                 {"Table": {"DatabaseName": name, "Name": "order_items"}}]  # fmt: skip
    for resource, grantable in zip(resources, ([], ["SELECT"]), strict=True):
        lf.grant_permissions(Principal=lakeformation.IAM_ALLOWED_PRINCIPALS, Resource=resource,
                             Permissions=["ALL"], PermissionsWithGrantOption=grantable)  # fmt: skip
    return resources


@pytest.mark.aws
def test_lake_formation_settings_change_only_what_the_stack_owns_and_undo_it(
    lake_formation_account, cloudformation
):
    url, answers = cloudformation
    lf, glue, ssm = boto3.client("lakeformation"), boto3.client("glue"), boto3.client("ssm")
    account = _account(lf, [OLD, SHARED])
    resources = _database(glue, lf, "lf_cleaned")
    before = {json.dumps(r): _iam_allowed(lf, r) for r in resources}
    assert all(before.values())
    record = "/lf-stack/lake-formation/LakeFormationSettings"

    lakeformation.custom_resource(_request(url, "Create", [SHARED, OURS], ["lf_cleaned"]), None)
    assert answers[-1]["Status"] == "SUCCESS", answers[-1]
    assert answers[-1]["PhysicalResourceId"] == "lf-settings-LakeFormationSettings"
    assert answers[-1]["Data"] == {"Record": record, "AdminsAdded": OURS, "Revoked": "2"}
    assert _admins(lf) == [OLD, SHARED, OURS]
    settings = lf.get_data_lake_settings()["DataLakeSettings"]
    for name in ("CreateDatabaseDefaultPermissions", "CreateTableDefaultPermissions"):
        assert settings[name] == account[name] == EVERYONE  # the account's: untouched
    assert not glue.get_database(Name="lf_cleaned")["Database"].get("CreateTableDefaultPermissions")
    assert all(_iam_allowed(lf, r) == [] for r in resources)
    saved = json.loads(ssm.get_parameter(Name=record)["Parameter"]["Value"])
    assert saved["admins_added"] == [OURS] and len(saved["revoked"]) == 2
    assert saved["table_defaults"] == {"lf_cleaned": EVERYONE}

    # Update: the stack's own admin OURS replaced by OURS2; SHARED listed still, OLD never.
    lakeformation.custom_resource(_request(url, "Update", [SHARED, OURS2], ["lf_cleaned"]), None)
    assert answers[-1]["Status"] == "SUCCESS", answers[-1]
    assert _admins(lf) == [OLD, SHARED, OURS2]

    lakeformation.custom_resource(_request(url, "Delete", [SHARED, OURS2], ["lf_cleaned"]), None)
    assert answers[-1]["Status"] == "SUCCESS", answers[-1]
    assert _admins(lf) == [OLD, SHARED]  # both administrators from before the stack stay
    settings = lf.get_data_lake_settings()["DataLakeSettings"]
    assert settings["CreateTableDefaultPermissions"] == EVERYONE
    assert settings["CreateDatabaseDefaultPermissions"] == EVERYONE
    assert glue.get_database(Name="lf_cleaned")["Database"]["CreateTableDefaultPermissions"] == (
        EVERYONE
    )
    assert {json.dumps(r): _iam_allowed(lf, r) for r in resources} == before  # restored
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=record)
    # A second Delete (CloudFormation retries) finds no record and changes nothing.
    lakeformation.custom_resource(_request(url, "Delete", [SHARED, OURS2], ["lf_cleaned"]), None)
    assert answers[-1]["Status"] == "SUCCESS" and _admins(lf) == [OLD, SHARED]


@pytest.mark.aws
def test_a_failed_create_is_undone_by_the_delete_that_follows(
    lake_formation_account, cloudformation
):
    url, answers = cloudformation
    lf, glue = boto3.client("lakeformation"), boto3.client("glue")
    _account(lf, [OLD])
    resources = _database(glue, lf, "lf_partial")
    event = _request(url, "Create", [OURS], ["lf_partial", "lf_missing"])
    lakeformation.custom_resource(event, None)
    assert answers[-1]["Status"] == "FAILED" and "lf_missing" in answers[-1]["Reason"]
    assert _admins(lf) == [OLD, OURS] and _iam_allowed(lf, resources[0]) == []
    # The stack deleted the table already: only what still exists gets its grants back.
    glue.delete_table(DatabaseName="lf_partial", Name="order_items")
    lakeformation.custom_resource({**event, "RequestType": "Delete",
                                   "PhysicalResourceId": "lf-settings-LakeFormationSettings"},
                                  None)  # fmt: skip
    assert answers[-1]["Status"] == "SUCCESS", answers[-1]
    assert _admins(lf) == [OLD]
    assert _iam_allowed(lf, resources[0]) == [
        {"Permissions": ["ALL"], "PermissionsWithGrantOption": []}
    ]
