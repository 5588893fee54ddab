"""What every part of the stack builds with: intrinsic functions, the lake's places in the buckets,
IAM roles and the statements their policies are made of."""

from __future__ import annotations

import re
from typing import Any

from spapi_toolkit.lake.layout import AGGREGATED, CLEANED

# The lake's root inside the raw bucket: every key that is not cleaned/ or aggregated/ lives under
# it (storage.ZonedLake), so the raw zone's documents are at lake/raw/..., the state at
# lake/_state/..., the quality results at lake/_quality/...
LAKE_ROOT = "lake"
# The two keys. RAW_KEY: what carries buyer data or credentials (raw documents, ledger, plans,
# seller secrets, the PII hash key, the functions' environments, the state machines); no
# analyst may use it. LAKE_KEY: the curated zones, the curation's state and quality results,
# logs, Athena results and alarms.
RAW_KEY, LAKE_KEY = "RawKey", "LakeKey"
# The bucket each zone of the lake lives in.
ZONE_BUCKETS = {CLEANED: "CleanedBucket", AGGREGATED: "AggregatedBucket"}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def logical(name: str) -> str:
    """``order_items`` -> ``OrderItems``: a CloudFormation logical id part."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part)


def lake_uri() -> dict[str, str]:
    """``SPAPI_LAKE`` of the deployment: the zoned lake over the three buckets."""
    zones = ",".join(f"{zone}=s3://${{{bucket}}}" for zone, bucket in ZONE_BUCKETS.items())
    return sub(f"s3://${{RawBucket}}/{LAKE_ROOT},{zones}")


def lake_path(key_prefix: str) -> str:
    """Where a lake key (prefix) is inside its bucket: ``_state/plans`` -> ``lake/_state/plans``."""
    zone = key_prefix.split("/", 1)[0]
    return key_prefix if zone in ZONE_BUCKETS else f"{LAKE_ROOT}/{key_prefix}"


def lake_bucket(key_prefix: str) -> str:
    """The logical id of the bucket a lake key (prefix) lives in."""
    return ZONE_BUCKETS.get(key_prefix.split("/", 1)[0], "RawBucket")


def lake_objects(key_prefix: str) -> dict[str, str]:
    """The object ARNs under a lake key prefix:
    ``_quality/`` -> ``${RawBucket.Arn}/lake/_quality/*``."""
    return sub("${%s.Arn}/%s*" % (lake_bucket(key_prefix), lake_path(key_prefix)))


def account_arn(service: str, resource: str) -> dict[str, str]:
    """An ARN of this stack's account and region: ``account_arn("glue", "catalog")``."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def tls_only(resources: list[Any], action: str) -> dict[str, Any]:
    """A resource policy refusing every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": action,
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def key_use(key: str, decrypt_only: bool = False) -> dict[str, Any]:
    """Use of one of the stack's KMS keys (``RAW_KEY`` or ``LAKE_KEY``)."""
    actions = ["kms:Decrypt"] if decrypt_only else ["kms:Decrypt", "kms:GenerateDataKey"]
    return {"Effect": "Allow", "Action": actions, "Resource": arn(key)}


def bucket_rw(bucket: str, path: str = "") -> list[dict[str, Any]]:
    """Read, write and delete the objects of ``bucket`` under ``path`` (a key prefix inside the
    bucket, '' for all), and list the bucket."""
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": arn(bucket),
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": sub("${%s.Arn}/%s*" % (bucket, path)),
        },
    ]


def bucket_read(bucket: str, path: str = "") -> list[dict[str, Any]]:
    """Read the objects of ``bucket`` under ``path`` and list the bucket."""
    return [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn(bucket)},
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": sub("${%s.Arn}/%s*" % (bucket, path)),
        },
    ]


def lake_rw(*key_prefixes: str) -> list[dict[str, Any]]:
    """Read, write and delete the lake's objects under each key prefix (``_state/``)."""
    return [s for prefix in key_prefixes for s in bucket_rw(lake_bucket(prefix), lake_path(prefix))]


def catalog_arns() -> list[dict[str, Any]]:
    """The Glue Data Catalog, the stack's databases and their tables."""
    return [
        account_arn("glue", "catalog"),
        account_arn("glue", "database/${DatabasePrefix}_*"),
        account_arn("glue", "table/${DatabasePrefix}_*/*"),
    ]


def role(name: str, service: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """An IAM role a service assumes, with one inline policy of ``statements``."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }
