"""The pieces of the AWS side that need no SP-API: the zoned lake on moto's S3, plan items
read back, redacted JSON logs, and the Lake Formation custom resource against moto."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

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
    lake.move("raw/a.json", "aggregated/a.json")  # across buckets
    assert not lake.exists("raw/a.json") and lake.read_bytes("aggregated/a.json") == b"raw"
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


@pytest.mark.aws
def test_lake_formation_settings_keep_admins_and_revoke_iam_allowed_principals(aws_env):
    lf, glue = boto3.client("lakeformation"), boto3.client("glue")
    everyone = [
        {
            "Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"},
            "Permissions": ["ALL"],
        }
    ]
    lf.put_data_lake_settings(
        DataLakeSettings={
            "DataLakeAdmins": [
                {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/old"}
            ],
            "CreateDatabaseDefaultPermissions": everyone,
            "CreateTableDefaultPermissions": everyone,
        }
    )
    glue.create_database(
        DatabaseInput={
            "Name": "lf_cleaned",
            "Description": "d",
            "CreateTableDefaultPermissions": everyone,
        }
    )
    glue.create_table(DatabaseName="lf_cleaned", TableInput={"Name": "order_items"})
    for resource in (
        {"Database": {"Name": "lf_cleaned"}},
        {"Table": {"DatabaseName": "lf_cleaned", "Name": "order_items"}},
    ):
        lf.grant_permissions(
            Principal=everyone[0]["Principal"], Resource=resource, Permissions=["ALL"]
        )
    ours = "arn:aws:iam::123456789012:role/deployer"
    done = lakeformation.apply([ours], ["lf_cleaned"], lf=lf, glue=glue)
    settings = lf.get_data_lake_settings()["DataLakeSettings"]
    assert [a["DataLakePrincipalIdentifier"] for a in settings["DataLakeAdmins"]] == [
        "arn:aws:iam::123456789012:role/old",
        ours,
    ]
    assert settings["CreateDatabaseDefaultPermissions"] == []
    assert settings["CreateTableDefaultPermissions"] == []
    assert len(done["revoked"]) == 2
    assert not glue.get_database(Name="lf_cleaned")["Database"].get("CreateTableDefaultPermissions")
    for resource in (
        {"Database": {"Name": "lf_cleaned"}},
        {"Table": {"DatabaseName": "lf_cleaned", "Name": "order_items"}},
    ):
        left = lf.list_permissions(Principal=everyone[0]["Principal"], Resource=resource)
        assert [
            p
            for p in left["PrincipalResourcePermissions"]
            if p["Principal"] == everyone[0]["Principal"]
        ] == []
    assert lakeformation.apply([ours], ["lf_cleaned"], lf=lf, glue=glue)["revoked"] == []
    lakeformation.remove([ours], lf=lf)
    settings = lf.get_data_lake_settings()["DataLakeSettings"]
    assert [a["DataLakePrincipalIdentifier"] for a in settings["DataLakeAdmins"]] == [
        "arn:aws:iam::123456789012:role/old"
    ]
