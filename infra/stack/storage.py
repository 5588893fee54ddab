"""The KMS keys and the buckets.

Raw documents of datasets that carry buyer data expire after ``RawPersonalDataRetentionDays``
(Amazon's Data Protection Policy: keep personal data no longer than needed, 30 days after
delivery by default); which datasets those are is read from the table contracts (a dataset
feeding a table with a ``pii`` column), so a new one is covered at the next generation. Every
lifecycle prefix is built from the lake's own layout (``lake.layout``), never typed here.
"""

from __future__ import annotations

from typing import Any

from spapi_toolkit.lake.layout import raw_prefix
from spapi_toolkit.lake.tables import tables

from .common import LAKE_KEY, RAW_KEY, arn, lake_path, ref, sub, tls_only

BUCKETS = {
    "RawBucket": "raw",
    "CleanedBucket": "cleaned",
    "AggregatedBucket": "aggregated",
    "AthenaResultsBucket": "athena-results",
}


def personal_data_datasets() -> list[str]:
    """The registry datasets whose raw documents carry buyer data: those feeding a table with a
    personal-data column (any ``pii`` action: even ``drop`` columns are in the raw document)."""
    found = {
        dataset
        for table in tables().values()
        if any(column.pii for column in table.columns)
        for dataset in table.datasets
    }
    return sorted(found)


def parameters() -> dict[str, Any]:
    return {
        "RawColdAfterDays": {"Type": "Number", "Default": 90, "MinValue": 30},
        "RawColdStorageClass": {
            "Type": "String",
            "Default": "GLACIER_IR",
            "AllowedValues": ["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER"],
        },
        "RawPersonalDataRetentionDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 1,
            "Description": "Days raw documents with buyer data are kept (Amazon's Data "
            "Protection Policy); their cleaned rows keep only hashed or restricted columns",
        },
    }


def _key(description: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    account_root = sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    return {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": sub("${AWS::StackName}: %s" % description),
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    # A key policy's Resource "*" is the key itself. The account administers
                    # it; who may use it is each role's own policy.
                    {
                        "Sid": "AccountAdministers",
                        "Effect": "Allow",
                        "Principal": {"AWS": account_root},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    *statements,
                ],
            },
        },
    }


def keys() -> dict[str, Any]:
    services_publish = {
        # CloudWatch alarms and EventBridge rules publish to the alarm topic, encrypted with it.
        "Sid": "AlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
    }
    logs = {
        "Sid": "CloudWatchLogsEncrypt",
        "Effect": "Allow",
        "Principal": {"Service": sub("logs.${AWS::Region}.amazonaws.com")},
        "Action": [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
                )
            }
        },
    }
    return {
        RAW_KEY: _key("raw SP-API documents, ingestion state and credentials (never analysts)", []),
        "RawKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": sub("alias/${AWS::StackName}-raw"),
                "TargetKeyId": ref(RAW_KEY),
            },
        },
        LAKE_KEY: _key(
            "the curated lake, its logs, query results and alarms", [logs, services_publish]
        ),
        "LakeKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": sub("alias/${AWS::StackName}-lake"),
                "TargetKeyId": ref(LAKE_KEY),
            },
        },
    }


def raw_rules() -> list[dict[str, Any]]:
    """The raw bucket's lifecycle: raw documents to colder storage, those with buyer data
    expired, old versions of everything (the ledger and state are rewritten at every step)
    expired after 30 days and those of buyer data at once."""
    rules: list[dict[str, Any]] = [
        {
            "Id": "RawToColderStorage",
            "Status": "Enabled",
            "Prefix": lake_path(raw_prefix()),
            "Transitions": [
                {
                    "StorageClass": ref("RawColdStorageClass"),
                    "TransitionInDays": ref("RawColdAfterDays"),
                }
            ],
        },
        {
            "Id": "ExpireOldVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        },
    ]
    for dataset in personal_data_datasets():
        rules.append(
            {
                "Id": f"ExpirePersonalData-{dataset}",
                "Status": "Enabled",
                "Prefix": lake_path(raw_prefix(dataset)),
                "ExpirationInDays": ref("RawPersonalDataRetentionDays"),
                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            }
        )
    return rules


def buckets() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, purpose in BUCKETS.items():
        rules: list[dict[str, Any]] = [
            # SIGKILLed landings leave multipart uploads behind: stored and billed until aborted.
            {
                "Id": "AbortIncompleteUploads",
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
        ]
        properties: dict[str, Any] = {
            "BucketName": sub("${AWS::StackName}-%s-${AWS::AccountId}-${AWS::Region}" % purpose),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            # Every bucket's default is the lake key, the raw one's too:
                            # what curation writes beside the raw zone (its state, quality
                            # results, quarantine) is read by analysts' notebooks. The raw
                            # documents, ledger and plans are written with the raw key named
                            # explicitly (the functions' SPAPI_KMS_KEY_ID).
                            "KMSMasterKeyID": arn(LAKE_KEY),
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        }
        if name == "RawBucket":
            properties["VersioningConfiguration"] = {"Status": "Enabled"}
            rules += raw_rules()
        if name == "AthenaResultsBucket":
            rules.append({"Id": "ExpireResults", "Status": "Enabled", "ExpirationInDays": 30})
        properties["LifecycleConfiguration"] = {"Rules": rules}
        out[name] = {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
        out[name + "Policy"] = {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref(name),
                "PolicyDocument": tls_only([arn(name), sub("${%s.Arn}/*" % name)], "s3:*"),
            },
        }
    return out


def resources() -> dict[str, Any]:
    return {**keys(), **buckets()}
