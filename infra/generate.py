"""Write ``infra/template.yaml`` and ``infra/statemachines/*.asl.json`` from the project's own
declarations, so the deployment cannot drift from them:

* the Glue tables (columns, Hive types, comments, partitions) come from the table contracts
  through ``lake.catalog`` (what ``spapi catalog register`` writes);
* the analyst role's Lake Formation grants exclude every personal-data column the contracts
  publish (``pii = "hash"`` or ``"restrict"``; ``drop`` columns never reach a table): the
  names are read from ``tables.toml``, never written here;
* the state machines are ``statemachines.py``.

Run ``python infra/generate.py`` after changing a contract; ``tests/infra`` fails while the
checked-in files differ from what this writes. Everything else of the template (buckets, KMS,
roles, functions, Glue jobs, Athena) is below, one function per concern.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the project, when run as a script from a checkout
sys.path.insert(0, str(HERE))

from statemachines import MACHINES  # noqa: E402

from spapi_toolkit.lake.catalog import contracts, table_columns  # noqa: E402
from spapi_toolkit.lake.layout import AGGREGATED, CLEANED  # noqa: E402
from spapi_toolkit.lake.tables import Table  # noqa: E402

TEMPLATE = HERE / "template.yaml"
ASL_DIR = HERE / "statemachines"
SPAPI_ACCOUNT = "437568002678"  # Amazon's SP-API account: sends notifications to the queue
# Personal-data actions whose columns reach a cleaned table and are kept from analysts.
ANALYST_EXCLUDED_PII = ("hash", "restrict")
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def logical(name: str) -> str:
    """``order_items`` -> ``OrderItems``: a CloudFormation logical id part."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part)


def pii_columns(table: Table) -> list[str]:
    """The cleaned table's personal-data columns analysts must not read (see the module doc)."""
    return [c.name for c in table.published if c.pii in ANALYST_EXCLUDED_PII]


# ---- parameters ---------------------------------------------------------------------------


def parameters() -> dict[str, Any]:
    return {
        "ArtifactBucket": {
            "Type": "String",
            "Description": "Bucket holding the uploaded code (spapi deploy creates and fills it)",
        },
        "LambdaCodeKey": {"Type": "String", "Description": "Key of the Lambda bundle (zip)"},
        "GlueWheelKey": {"Type": "String", "Description": "Key of the project wheel"},
        "GlueScriptsPrefix": {
            "Type": "String",
            "Description": "Prefix of the Glue entry scripts, ending in /",
        },
        "SellerProfiles": {
            "Type": "CommaDelimitedList",
            "Default": "main",
            "AllowedPattern": "^[A-Za-z0-9]+$",
            "Description": "Seller profiles; one LWA secret each (<stack>/seller/<profile>)",
        },
        "Marketplaces": {
            "Type": "String",
            "Default": "US",
            "Description": "Marketplaces to ingest (country codes or ids)",
        },
        "Datasets": {
            "Type": "String",
            "Default": "all",
            "Description": "Datasets to ingest: names, comma-separated, or all",
        },
        "LookbackDays": {"Type": "Number", "Default": 7, "MinValue": 1, "MaxValue": 730},
        "IngestSchedule": {"Type": "String", "Default": "cron(0 6 * * ? *)"},
        "CurationSchedule": {"Type": "String", "Default": "cron(0 12 * * ? *)"},
        "SellerConcurrency": {"Type": "Number", "Default": 10, "MinValue": 1},
        "ReportConcurrency": {
            "Type": "Number",
            "Default": 4,
            "MinValue": 1,
            "MaxValue": 20,
            "Description": "Parallel non-quota report jobs per seller",
        },
        "NotificationWaitSeconds": {"Type": "Number", "Default": 3600, "MinValue": 60},
        "RawColdAfterDays": {"Type": "Number", "Default": 90, "MinValue": 30},
        "RawColdStorageClass": {
            "Type": "String",
            "Default": "GLACIER_IR",
            "AllowedValues": ["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER"],
        },
        "GlueWorkerType": {
            "Type": "String",
            "Default": "G.1X",
            "AllowedValues": ["G.1X", "G.2X", "G.4X", "G.8X"],
        },
        "GlueNumberOfWorkers": {"Type": "Number", "Default": 2, "MinValue": 2},
        "AthenaBytesScannedCutoff": {
            "Type": "Number",
            "Default": 10737418240,
            "MinValue": 10000000,
            "Description": "Bytes one query may scan",
        },
        "DatabasePrefix": {"Type": "String", "Default": "spapi", "AllowedPattern": "^[a-z0-9_]+$"},
        "DataLakeAdminArns": {
            "Type": "CommaDelimitedList",
            "Description": "IAM principals that administer Lake Formation "
            "(at least the one deploying: CloudFormation grants as it)",
        },
    }


# ---- encryption and storage ---------------------------------------------------------------


def kms() -> dict[str, Any]:
    account_root = sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    return {
        "LakeKey": {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": sub("${AWS::StackName}: the SP-API lake's data, secrets, logs"),
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        # A key policy's Resource "*" is the key itself.
                        {
                            "Sid": "AccountAdministers",
                            "Effect": "Allow",
                            "Principal": {"AWS": account_root},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
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
                        },
                    ],
                },
            },
        },
        "LakeKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": sub("alias/${AWS::StackName}-lake"),
                "TargetKeyId": ref("LakeKey"),
            },
        },
    }


BUCKETS = {
    "RawBucket": "raw",
    "CleanedBucket": "cleaned",
    "AggregatedBucket": "aggregated",
    "AthenaResultsBucket": "athena-results",
}


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
                            "KMSMasterKeyID": arn("LakeKey"),
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
            rules += [
                {
                    "Id": "RawToColderStorage",
                    "Status": "Enabled",
                    "Prefix": "raw/",
                    "Transitions": [
                        {
                            "StorageClass": ref("RawColdStorageClass"),
                            "TransitionInDays": ref("RawColdAfterDays"),
                        }
                    ],
                },
                # Ledger and state objects are rewritten at every step: keep old versions briefly.
                {
                    "Id": "ExpireOldVersions",
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                },
            ]
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


# ---- configuration: secrets and parameters -----------------------------------------------


def configuration() -> dict[str, Any]:
    out: dict[str, Any] = {
        # One secret per seller profile (Fn::ForEach, AWS::LanguageExtensions). Created with a
        # placeholder; `spapi auth exchange --store-secret` or put-secret-value fills it, and
        # CloudFormation never touches the value again.
        "Fn::ForEach::SellerSecrets": [
            "Profile",
            ref("SellerProfiles"),
            {
                "SellerSecret${Profile}": {
                    "Type": "AWS::SecretsManager::Secret",
                    "DeletionPolicy": "Retain",
                    "UpdateReplacePolicy": "Retain",
                    "Properties": {
                        "Name": sub("${AWS::StackName}/seller/${Profile}"),
                        "Description": sub(
                            "LWA credentials of seller profile ${Profile} (JSON: "
                            "client_id, client_secret, refresh_token, "
                            "selling_partner_id, region)"
                        ),
                        "KmsKeyId": ref("LakeKey"),
                        "SecretString": '{"pending": "put the LWA credentials here"}',
                    },
                },
            },
        ],
        "PiiHashKeySecret": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": sub("${AWS::StackName}/pii-hash-key"),
                "Description": "HMAC key of the cleaned tables' hashed personal data",
                "KmsKeyId": ref("LakeKey"),
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            },
        },
    }
    values = {
        "profiles": {"Fn::Join": [",", ref("SellerProfiles")]},
        "marketplaces": ref("Marketplaces"),
        "datasets": ref("Datasets"),
        "lookback-days": ref("LookbackDays"),
        "ingest-schedule": ref("IngestSchedule"),
        "curation-schedule": ref("CurationSchedule"),
    }
    for name, value in values.items():
        out["Parameter" + logical(name)] = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": sub("/${AWS::StackName}/%s" % name),
                "Type": "String",
                "Value": value,
                "Description": f"spapi-lake: {name} of the scheduled runs",
            },
        }
    return out


# ---- notifications ------------------------------------------------------------------------


def queues() -> dict[str, Any]:
    return {
        "NotificationsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600},
        },
        "NotificationsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                # SQS-managed keys: SP-API's account cannot use this account's KMS key to send.
                "SqsManagedSseEnabled": True,
                "VisibilityTimeout": 720,  # six times the consumer's timeout
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn("NotificationsDeadLetterQueue"),
                    "maxReceiveCount": 5,
                },
            },
        },
        "NotificationsQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("NotificationsQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowSellingPartnerApiToSend",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": sub("arn:${AWS::Partition}:iam::%s:root" % SPAPI_ACCOUNT)
                            },
                            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                            "Resource": arn("NotificationsQueue"),
                        },
                        *tls_only([arn("NotificationsQueue")], "sqs:*")["Statement"],
                    ],
                },
            },
        },
        "NotificationsDeadLetterQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("NotificationsDeadLetterQueue")],
                "PolicyDocument": tls_only([arn("NotificationsDeadLetterQueue")], "sqs:*"),
            },
        },
    }


# ---- IAM ----------------------------------------------------------------------------------

RAW_OBJECTS = sub("${RawBucket.Arn}/*")
SELLER_SECRETS = sub(
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${AWS::StackName}/seller/*"
)


def key_use(decrypt_only: bool = False) -> dict[str, Any]:
    actions = ["kms:Decrypt"] if decrypt_only else ["kms:Decrypt", "kms:GenerateDataKey"]
    return {"Effect": "Allow", "Action": actions, "Resource": arn("LakeKey")}


def bucket_rw(bucket: str, prefix: str = "") -> list[dict[str, Any]]:
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
            "Resource": sub("${%s.Arn}/%s*" % (bucket, prefix)),
        },
    ]


def bucket_read(bucket: str, prefix: str = "") -> list[dict[str, Any]]:
    return [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn(bucket)},
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": sub("${%s.Arn}/%s*" % (bucket, prefix)),
        },
    ]


def catalog_arns() -> list[dict[str, Any]]:
    """The Glue Data Catalog, the stack's databases and their tables."""
    glue = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    return [
        sub(f"{glue}:catalog"),
        sub(f"{glue}:database/${{DatabasePrefix}}_*"),
        sub(f"{glue}:table/${{DatabasePrefix}}_*/*"),
    ]


def role(name: str, service: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
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


# ---- Lambda -------------------------------------------------------------------------------

# function -> (handler, timeout seconds, memory MB, what it may touch beyond its log group)
FUNCTIONS: dict[str, tuple[str, int, int, list[str]]] = {
    "Plan": ("plan", 300, 512, ["raw", "secrets", "ssm"]),
    "Request": ("request_job", 120, 256, ["raw", "secrets"]),
    "Await": ("await_report", 30, 256, ["raw", "task_tokens"]),
    "Check": ("check_job", 60, 256, ["raw", "secrets"]),
    "Land": ("land_job", 900, 1024, ["raw", "secrets"]),
    "Snapshot": ("snapshot", 900, 1024, ["raw", "secrets"]),
    "Notifications": ("consume_notifications", 120, 512, ["raw", "task_tokens", "queue"]),
    "LakeFormationSettings": ("lake_formation_settings", 300, 256, ["lakeformation"]),
}


def grants(what: str) -> list[dict[str, Any]]:
    """The statements of one capability of a function's role."""
    if what == "raw":
        return [*bucket_rw("RawBucket"), key_use()]
    if what == "secrets":
        return [
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": SELLER_SECRETS,
            }
        ]
    if what == "ssm":
        return [
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": sub(
                    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"
                    "${AWS::StackName}/*"
                ),
            }
        ]
    if what == "task_tokens":
        # SendTaskSuccess has no resource type: IAM takes only "*" for it.
        return [{"Effect": "Allow", "Action": ["states:SendTaskSuccess"], "Resource": "*"}]
    if what == "queue":
        return [
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": arn("NotificationsQueue"),
            }
        ]
    if what == "lakeformation":
        glue_resources = [
            sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
            sub(
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/"
                "${DatabasePrefix}_*"
            ),
            sub(
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/"
                "${DatabasePrefix}_*/*"
            ),
        ]
        return [
            # Lake Formation's settings and grants have no resource types: "*" only.
            {
                "Effect": "Allow",
                "Action": [
                    "lakeformation:GetDataLakeSettings",
                    "lakeformation:PutDataLakeSettings",
                    "lakeformation:ListPermissions",
                    "lakeformation:RevokePermissions",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["glue:GetDatabase", "glue:UpdateDatabase", "glue:GetTables"],
                "Resource": glue_resources,
            },
        ]
    raise ValueError(what)


def lambdas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    lake_uri = sub(
        "s3://${RawBucket}/lake,cleaned=s3://${CleanedBucket},aggregated=s3://${AggregatedBucket}"
    )
    for name, (handler, timeout, memory, needs) in FUNCTIONS.items():
        function, role_name, group = f"{name}Function", f"{name}FunctionRole", f"{name}LogGroup"
        statements = [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": sub("${%s.Arn}:*" % group),
            }
        ]
        for need in needs:
            statements += grants(need)
        out[role_name] = role(f"{name}Function", "lambda.amazonaws.com", statements)
        out[group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/lambda/${AWS::StackName}-%s" % name),
                "RetentionInDays": 90,
                "KmsKeyId": arn("LakeKey"),
            },
        }
        environment = {
            "SPAPI_LAKE": lake_uri,
            "SPAPI_KMS_KEY_ID": arn("LakeKey"),
            "SPAPI_SECRET_PREFIX": sub("${AWS::StackName}/seller/"),
            "SPAPI_PARAMETER_PREFIX": sub("/${AWS::StackName}/"),
        }
        if name == "Plan":
            environment.update(
                SPAPI_SELLER_CONCURRENCY=ref("SellerConcurrency"),
                SPAPI_REPORT_CONCURRENCY=ref("ReportConcurrency"),
                SPAPI_NOTIFICATION_WAIT_SECONDS=ref("NotificationWaitSeconds"),
            )
        out[function] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": sub("${AWS::StackName}-%s" % name),
                "Runtime": "python3.11",
                "Handler": f"spapi_toolkit.aws.handlers.{handler}",
                "Code": {"S3Bucket": ref("ArtifactBucket"), "S3Key": ref("LambdaCodeKey")},
                "Role": arn(role_name),
                "Timeout": timeout,
                "MemorySize": memory,
                "KmsKeyArn": arn("LakeKey"),
                "LoggingConfig": {"LogGroup": ref(group), "LogFormat": "Text"},
                "Environment": {"Variables": environment},
            },
        }
    out["NotificationsEventSource"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": arn("NotificationsQueue"),
            "FunctionName": ref("NotificationsFunction"),
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    }
    return out


# ---- Step Functions and schedules ---------------------------------------------------------


def state_machines() -> dict[str, Any]:
    invoke = [
        sub("${%sFunction.Arn}" % name)
        for name in FUNCTIONS
        if name not in ("Notifications", "LakeFormationSettings")
    ]
    invoke += [
        sub("${%sFunction.Arn}:*" % name)
        for name in FUNCTIONS
        if name not in ("Notifications", "LakeFormationSettings")
    ]
    seller_arn = sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
        "stateMachine:${AWS::StackName}-seller"
    )
    seller_executions = sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
        "execution:${AWS::StackName}-seller:*"
    )
    statements = [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": invoke},
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": seller_arn},
        {
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            # The seller executions, and the child executions of their Distributed Maps
            # (execution:<machine>/<map run>:<name>).
            "Resource": [
                seller_executions,
                sub(
                    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
                    "execution:${AWS::StackName}-seller/*"
                ),
            ],
        },
        # startExecution.sync and Distributed Map follow child executions through this rule.
        {
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": sub(
                "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctions*"
            ),
        },
        {
            "Effect": "Allow",
            "Action": "glue:StartJobRun",
            "Resource": sub(
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/${RawToCleanedJob}"
            ),
        },
        *bucket_rw("RawBucket", "_state/"),
        key_use(),
    ]
    out: dict[str, Any] = {
        "StateMachineRole": role("StateMachines", "states.amazonaws.com", statements)
    }
    substitutions = {
        "PlanFunctionArn": arn("PlanFunction"),
        "RequestFunctionArn": arn("RequestFunction"),
        "AwaitFunctionArn": arn("AwaitFunction"),
        "CheckFunctionArn": arn("CheckFunction"),
        "LandFunctionArn": arn("LandFunction"),
        "SnapshotFunctionArn": arn("SnapshotFunction"),
        "SellerStateMachineArn": ref("SellerStateMachine"),
        "RawToCleanedJobName": ref("RawToCleanedJob"),
        "RawBucket": ref("RawBucket"),
    }
    for machine, definition in MACHINES.items():
        text = json.dumps(definition)
        used = {k: v for k, v in substitutions.items() if "${%s}" % k in text}
        out[f"{logical(machine)}StateMachine"] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": sub("${AWS::StackName}-%s" % machine),
                "StateMachineType": "STANDARD",
                "RoleArn": arn("StateMachineRole"),
                "Definition": definition,
                "DefinitionSubstitutions": used,
                "EncryptionConfiguration": {
                    "Type": "CUSTOMER_MANAGED_KMS_KEY",
                    "KmsKeyId": arn("LakeKey"),
                    "KmsDataKeyReusePeriodSeconds": 300,
                },
            },
        }
    out["StateMachineRolePolicyKms"] = {
        "Type": "AWS::IAM::RolePolicy",
        "Properties": {
            "RoleName": ref("StateMachineRole"),
            "PolicyName": "StateMachineKey",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [key_use()]},
        },
    }
    out["SchedulerRole"] = role(
        "StartIngestion",
        "events.amazonaws.com",
        [
            {
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": ref("IngestStateMachine"),
            }
        ],
    )
    out["IngestScheduleRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Description": "The scheduled ingestion run (sellers and datasets: SSM parameters)",
            "ScheduleExpression": ref("IngestSchedule"),
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": "ingest",
                    "Arn": ref("IngestStateMachine"),
                    "RoleArn": arn("SchedulerRole"),
                    "Input": "{}",
                }
            ],
        },
    }
    return out


# ---- Glue ---------------------------------------------------------------------------------


def glue() -> dict[str, Any]:
    out: dict[str, Any] = {}
    databases = {CLEANED: "CleanedDatabase", AGGREGATED: "AggregatedDatabase"}
    for zone, name in databases.items():
        out[name] = {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": sub("${DatabasePrefix}_%s" % zone),
                    "Description": f"SP-API lake: the {zone} tables",
                    "CreateTableDefaultPermissions": [],
                },
            },
        }
    bucket = {CLEANED: "CleanedBucket", AGGREGATED: "AggregatedBucket"}
    for zone in databases:
        for table in contracts(zone):
            columns = table_columns(table)
            partitions = set(table.partition_by)
            described = [{"Name": n, "Type": t, "Comment": c} for n, t, c in columns]
            out[f"{logical(zone)}Table{logical(table.name)}"] = {
                "Type": "AWS::Glue::Table",
                "Properties": {
                    "CatalogId": ref("AWS::AccountId"),
                    "DatabaseName": ref(databases[zone]),
                    "TableInput": {
                        "Name": table.name,
                        "Description": table.description,
                        "TableType": "EXTERNAL_TABLE",
                        "Parameters": {
                            "classification": "parquet",
                            "spapi_zone": zone,
                            "spapi_key": ",".join(table.key),
                        },
                        "PartitionKeys": [c for c in described if c["Name"] in partitions],
                        "StorageDescriptor": {
                            "Columns": [c for c in described if c["Name"] not in partitions],
                            "Location": sub("s3://${%s}/%s/%s/" % (bucket[zone], zone, table.name)),
                            "Compressed": True,
                            **PARQUET,
                        },
                    },
                },
            }
    lake_uri = sub(
        "s3://${RawBucket}/lake,cleaned=s3://${CleanedBucket},aggregated=s3://${AggregatedBucket}"
    )
    glue_statements = [
        *bucket_read("RawBucket"),
        *bucket_rw("RawBucket", "lake/_state/"),
        *bucket_rw("RawBucket", "lake/quarantine/"),
        *bucket_rw("CleanedBucket"),
        *bucket_rw("AggregatedBucket"),
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": sub("arn:${AWS::Partition}:s3:::${ArtifactBucket}/*"),
        },
        key_use(),
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": ref("PiiHashKeySecret"),
        },
        {
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:BatchDeletePartition",
                "glue:UpdateTable",
                "glue:CreateTable",
            ],
            "Resource": catalog_arns(),
        },
        # Lake Formation vends the data's credentials; GetDataAccess has no resource type.
        {"Effect": "Allow", "Action": "lakeformation:GetDataAccess", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:AssociateKmsKey",
            ],
            "Resource": sub(
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*"
            ),
        },
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "Glue"}},
        },
    ]
    out["GlueJobRole"] = role("GlueJobs", "glue.amazonaws.com", glue_statements)
    out["GlueSecurityConfiguration"] = {
        "Type": "AWS::Glue::SecurityConfiguration",
        "Properties": {
            "Name": sub("${AWS::StackName}-glue"),
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": arn("LakeKey")}],
                "CloudWatchEncryption": {
                    "CloudWatchEncryptionMode": "SSE-KMS",
                    "KmsKeyArn": arn("LakeKey"),
                },
                "JobBookmarksEncryption": {
                    "JobBookmarksEncryptionMode": "CSE-KMS",
                    "KmsKeyArn": arn("LakeKey"),
                },
            },
        },
    }
    for job, script in (
        ("RawToCleanedJob", "raw_to_cleaned"),
        ("CleanedToAggregatedJob", "cleaned_to_aggregated"),
    ):
        arguments = {
            "--lake": lake_uri,
            "--additional-python-modules": sub("s3://${ArtifactBucket}/${GlueWheelKey}"),
            "--enable-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--job-language": "python",
        }
        if script == "raw_to_cleaned":
            arguments["--pii_hash_key_secret_id"] = ref("PiiHashKeySecret")
        # the job registers its zone's new partitions, so Athena sees them at once
        arguments["--catalog_database"] = ref(
            "CleanedDatabase" if script == "raw_to_cleaned" else "AggregatedDatabase"
        )
        out[job] = {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": sub("${AWS::StackName}-%s" % script.replace("_", "-")),
                "Role": arn("GlueJobRole"),
                "GlueVersion": "5.1",
                "Command": {
                    "Name": "glueetl",
                    "PythonVersion": "3",
                    "ScriptLocation": sub(
                        "s3://${ArtifactBucket}/${GlueScriptsPrefix}%s.py" % script
                    ),
                },
                "WorkerType": ref("GlueWorkerType"),
                "NumberOfWorkers": ref("GlueNumberOfWorkers"),
                "MaxRetries": 0,
                "Timeout": 480,
                "ExecutionProperty": {"MaxConcurrentRuns": 1},
                "SecurityConfiguration": ref("GlueSecurityConfiguration"),
                "DefaultArguments": arguments,
            },
        }
    out["CurationScheduleTrigger"] = {
        "Type": "AWS::Glue::Trigger",
        "Properties": {
            "Type": "SCHEDULED",
            "Schedule": ref("CurationSchedule"),
            "StartOnCreation": True,
            "Description": "Curation on a schedule, besides after each ingestion",
            "Actions": [{"JobName": ref("RawToCleanedJob")}],
        },
    }
    out["AggregateAfterCleaningTrigger"] = {
        "Type": "AWS::Glue::Trigger",
        "Properties": {
            "Type": "CONDITIONAL",
            "StartOnCreation": True,
            "Description": "The marts after every successful raw-to-cleaned run",
            "Predicate": {
                "Conditions": [
                    {
                        "LogicalOperator": "EQUALS",
                        "JobName": ref("RawToCleanedJob"),
                        "State": "SUCCEEDED",
                    }
                ]
            },
            "Actions": [{"JobName": ref("CleanedToAggregatedJob")}],
        },
    }
    return out


# ---- Lake Formation -----------------------------------------------------------------------


def lake_formation() -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["LakeFormationDataAccessRole"] = role(
        "LakeFormationDataAccess",
        "lakeformation.amazonaws.com",
        [*bucket_rw("CleanedBucket"), *bucket_rw("AggregatedBucket"), key_use()],
    )
    for bucket in ("CleanedBucket", "AggregatedBucket"):
        out[f"{bucket}Location"] = {
            "Type": "AWS::LakeFormation::Resource",
            "Properties": {
                "ResourceArn": arn(bucket),
                "UseServiceLinkedRole": False,
                "RoleArn": arn("LakeFormationDataAccessRole"),
            },
        }
    tables = [name for name, body in glue().items() if body["Type"] == "AWS::Glue::Table"]
    out["LakeFormationSettings"] = {
        "Type": "Custom::LakeFormationSettings",
        "DependsOn": tables,
        "Properties": {
            "ServiceToken": arn("LakeFormationSettingsFunction"),
            # The account's existing admins are kept (no REPLACE); these are added.
            "Admins": {
                "Fn::Split": [
                    ",",
                    {
                        "Fn::Join": [
                            ",",
                            [
                                {"Fn::Join": [",", ref("DataLakeAdminArns")]},
                                arn("LakeFormationSettingsFunctionRole"),
                            ],
                        ]
                    },
                ]
            },
            "Databases": [ref("CleanedDatabase"), ref("AggregatedDatabase")],
        },
    }
    catalog = ref("AWS::AccountId")

    def grant(
        name: str,
        principal: str,
        resource: dict[str, Any],
        permissions: list[str],
        extra_depends: list[str] | None = None,
    ) -> None:
        out[name] = {
            "Type": "AWS::LakeFormation::PrincipalPermissions",
            "DependsOn": ["LakeFormationSettings", *(extra_depends or [])],
            "Properties": {
                "Catalog": catalog,
                "Principal": {"DataLakePrincipalIdentifier": arn(principal)},
                "Resource": resource,
                "Permissions": permissions,
                "PermissionsWithGrantOption": [],
            },
        }

    for bucket in ("CleanedBucket", "AggregatedBucket"):
        grant(
            f"GlueJob{bucket}DataLocation",
            "GlueJobRole",
            {"DataLocation": {"CatalogId": catalog, "ResourceArn": arn(bucket)}},
            ["DATA_LOCATION_ACCESS"],
            [f"{bucket}Location"],
        )
    for database in ("CleanedDatabase", "AggregatedDatabase"):
        grant(
            f"GlueJob{database}",
            "GlueJobRole",
            {"Database": {"CatalogId": catalog, "Name": ref(database)}},
            ["CREATE_TABLE", "ALTER", "DESCRIBE"],
        )
        grant(
            f"GlueJob{database}Tables",
            "GlueJobRole",
            {"Table": {"CatalogId": catalog, "DatabaseName": ref(database), "TableWildcard": {}}},
            ["SELECT", "INSERT", "DELETE", "DESCRIBE", "ALTER"],
        )
        grant(
            f"Analyst{database}",
            "AnalystRole",
            {"Database": {"CatalogId": catalog, "Name": ref(database)}},
            ["DESCRIBE"],
        )
    grant(
        "AnalystAggregatedTables",
        "AnalystRole",
        {
            "Table": {
                "CatalogId": catalog,
                "DatabaseName": ref("AggregatedDatabase"),
                "TableWildcard": {},
            }
        },
        ["SELECT", "DESCRIBE"],
    )
    for table in contracts(CLEANED):
        assert isinstance(table, Table)
        grant(
            f"AnalystCleaned{logical(table.name)}",
            "AnalystRole",
            {
                "TableWithColumns": {
                    "CatalogId": catalog,
                    "DatabaseName": ref("CleanedDatabase"),
                    "Name": table.name,
                    "ColumnWildcard": {"ExcludedColumnNames": pii_columns(table)},
                }
            },
            ["SELECT"],
            [f"CleanedTable{logical(table.name)}"],
        )
    return out


# ---- analysts and Athena ------------------------------------------------------------------


def analysts() -> dict[str, Any]:
    workgroup = sub(
        "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/${AthenaWorkGroup}"
    )
    statements = [
        {
            "Effect": "Allow",
            "Action": [
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
                "athena:GetWorkGroup",
            ],
            "Resource": workgroup,
        },
        {
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:GetDatabases",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartition",
                "glue:GetPartitions",
            ],
            "Resource": catalog_arns(),
        },
        {"Effect": "Allow", "Action": "lakeformation:GetDataAccess", "Resource": "*"},
        *bucket_rw("AthenaResultsBucket"),
        key_use(),
        # The notebooks' freshness and check results (lake.query.connect): partition listings
        # of the curated buckets (names only: the rows stay behind Lake Formation), and the
        # curation state and quality results beside the raw zone.
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": [arn("CleanedBucket"), arn("AggregatedBucket")],
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn("RawBucket"),
            "Condition": {"StringLike": {"s3:prefix": ["lake/_quality/*", "lake/_state/*"]}},
        },
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                sub("${RawBucket.Arn}/lake/_quality/*"),
                sub("${RawBucket.Arn}/lake/_state/curate/*"),
                sub("${RawBucket.Arn}/lake/_state/aggregate/*"),
            ],
        },
    ]
    analyst = role("Analyst", "athena.amazonaws.com", statements)
    # Assumed by people of this account (their own IAM policies say who), not by a service.
    analyst["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {
        "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    }
    return {
        "AnalystRole": analyst,
        "AthenaWorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": sub("${AWS::StackName}-analysts"),
                "Description": "SP-API lake queries: results encrypted, limits enforced",
                "State": "ENABLED",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "BytesScannedCutoffPerQuery": ref("AthenaBytesScannedCutoff"),
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": sub("s3://${AthenaResultsBucket}/results/"),
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": arn("LakeKey"),
                        },
                    },
                },
            },
        },
    }


def outputs() -> dict[str, Any]:
    def out(value: Any, description: str) -> dict[str, Any]:
        return {"Value": value, "Description": description}

    return {
        "LakeUri": out(
            sub(
                "s3://${RawBucket}/lake,cleaned=s3://${CleanedBucket},"
                "aggregated=s3://${AggregatedBucket}"
            ),
            "SPAPI_LAKE: the lake (raw, cleaned and aggregated buckets)",
        ),
        "KmsKeyArn": out(arn("LakeKey"), "SPAPI_KMS_KEY_ID"),
        "AthenaWorkGroup": out(ref("AthenaWorkGroup"), "SPAPI_ATHENA_WORKGROUP"),
        "CleanedDatabase": out(ref("CleanedDatabase"), "SPAPI_GLUE_DATABASE"),
        "AggregatedDatabase": out(ref("AggregatedDatabase"), "SPAPI_GLUE_AGGREGATED_DATABASE"),
        "AnalystRoleArn": out(arn("AnalystRole"), "The role analysts assume for Athena"),
        "NotificationsQueueArn": out(
            arn("NotificationsQueue"), "spapi notifications setup --queue-arn"
        ),
        "NotificationsQueueUrl": out(ref("NotificationsQueue"), "The notification queue"),
        "IngestStateMachineArn": out(ref("IngestStateMachine"), "Start a run (backfill) here"),
        "SellerSecretPrefix": out(
            sub("${AWS::StackName}/seller/"),
            "Secrets Manager names of the sellers' LWA credentials",
        ),
        "RawToCleanedJob": out(ref("RawToCleanedJob"), "The curation Glue job"),
    }


def template() -> dict[str, Any]:
    """The whole template, as a dict."""
    resources: dict[str, Any] = {}
    for part in (
        kms,
        buckets,
        configuration,
        queues,
        lambdas,
        state_machines,
        glue,
        lake_formation,
        analysts,
    ):
        resources.update(part())
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::LanguageExtensions",
        "Description": "spapi-lake: the SP-API data lake on AWS (generated by infra/generate.py;"
        " do not edit by hand)",
        "Parameters": parameters(),
        "Resources": resources,
        "Outputs": outputs(),
    }


def render() -> dict[Path, str]:
    """Every generated file and its text."""
    files = {
        TEMPLATE: "# Generated by infra/generate.py from the table contracts and "
        "infra/statemachines.py: do not edit.\n"
        # Through JSON: shared sub-dicts would otherwise become YAML aliases CloudFormation rejects.
        + yaml.safe_dump(
            json.loads(json.dumps(template())), sort_keys=False, width=100, allow_unicode=True
        )
    }
    for name, definition in MACHINES.items():
        files[ASL_DIR / f"{name}.asl.json"] = json.dumps(definition, indent=2) + "\n"
    return files


def main() -> None:
    """Write the files that changed, each whole (a temp file renamed over it): `make package`
    runs this while tests may be reading them."""
    ASL_DIR.mkdir(exist_ok=True)
    for path, text in render().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            print(f"unchanged {path.relative_to(HERE.parent)}")
            continue
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
