"""Ingestion: the run's settings, the notification queue, the Lambda functions (one role each,
next to the function), the two state machines and the schedule that starts them.

The sellers' LWA credentials are not resources of the stack: one Secrets Manager secret per
seller profile, ``<stack>/seller/<profile>``, created by ``spapi auth exchange --store-secret``
under the raw key (``RawKeyAlias``); the functions may read exactly those names. (Generating a
secret per profile needs a loop over a parameter, which only the ``AWS::LanguageExtensions``
transform offers; the stack uses no transform, so it deploys wherever CloudFormation's core
does.)
"""

from __future__ import annotations

import json
from typing import Any

from statemachines import MACHINES, MAP_RESULTS_PREFIX

from spapi_toolkit.aws.ingest import PLANS_PREFIX

from .common import (
    LAKE_KEY,
    RAW_KEY,
    account_arn,
    arn,
    key_use,
    lake_objects,
    lake_path,
    lake_rw,
    lake_uri,
    logical,
    ref,
    role,
    sub,
    tls_only,
)

SPAPI_ACCOUNT = "437568002678"  # Amazon's SP-API account: sends notifications to the queue
SELLER_SECRETS = account_arn("secretsmanager", "secret:${AWS::StackName}/seller/*")
# Step Functions delivers its logs through CloudWatch Logs' vended-log API, whose actions take
# no resource ("*" only).
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
# The lake's key prefixes the functions read and write: the raw zone and the ingestion state
# (ledger, plans, task tokens, notification markers).
INGESTION_PREFIXES = ("raw/", "_state/")


def parameters() -> dict[str, Any]:
    return {
        "LambdaCodeKey": {"Type": "String", "Description": "Key of the Lambda bundle (zip)"},
        "SellerProfiles": {
            "Type": "CommaDelimitedList",
            "Default": "main",
            "AllowedPattern": "^[A-Za-z0-9]+$",
            "Description": "Seller profiles; one LWA secret each (<stack>/seller/<profile>, "
            "made by spapi auth exchange --store-secret)",
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
        "SellerConcurrency": {"Type": "Number", "Default": 10, "MinValue": 1},
        "ReportConcurrency": {
            "Type": "Number",
            "Default": 4,
            "MinValue": 1,
            "MaxValue": 20,
            "Description": "Parallel non-quota report jobs per seller",
        },
        "NotificationWaitSeconds": {"Type": "Number", "Default": 3600, "MinValue": 60},
    }


def settings() -> dict[str, Any]:
    """The SSM parameters a scheduled run reads (``aws.config.Deployment.parameter``)."""
    values = {
        "profiles": {"Fn::Join": [",", ref("SellerProfiles")]},
        "marketplaces": ref("Marketplaces"),
        "datasets": ref("Datasets"),
        "lookback-days": ref("LookbackDays"),
        "ingest-schedule": ref("IngestSchedule"),
        "curation-schedule": ref("CurationSchedule"),
    }
    return {
        "Parameter" + logical(name): {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": sub("/${AWS::StackName}/%s" % name),
                "Type": "String",
                "Value": value,
                "Description": f"spapi-lake: {name} of the scheduled runs",
            },
        }
        for name, value in values.items()
    }


def queue(name: str, policy: list[dict[str, Any]], **properties: Any) -> dict[str, Any]:
    """An SQS queue (SQS-managed encryption: SP-API's account and EventBridge cannot use this
    account's KMS keys to send) with a TLS-only policy plus ``policy``."""
    return {
        name: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"SqsManagedSseEnabled": True, **properties},
        },
        f"{name}Policy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref(name)],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [*policy, *tls_only([arn(name)], "sqs:*")["Statement"]],
                },
            },
        },
    }


def queues() -> dict[str, Any]:
    send = {
        "Sid": "AllowSellingPartnerApiToSend",
        "Effect": "Allow",
        "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::%s:root" % SPAPI_ACCOUNT)},
        "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
        "Resource": arn("NotificationsQueue"),
    }
    return {
        **queue("NotificationsDeadLetterQueue", [], MessageRetentionPeriod=1209600),
        **queue(
            "NotificationsQueue",
            [send],
            VisibilityTimeout=720,  # six times the consumer's timeout
            RedrivePolicy={
                "deadLetterTargetArn": arn("NotificationsDeadLetterQueue"),
                "maxReceiveCount": 5,
            },
        ),
    }


# function -> (handler, timeout seconds, memory MB, what it may touch beyond its log group)
FUNCTIONS: dict[str, tuple[str, int, int, list[str]]] = {
    "Plan": ("plan", 300, 512, ["lake", "secrets", "ssm"]),
    "Request": ("request_job", 120, 256, ["lake", "secrets"]),
    "Await": ("await_report", 30, 256, ["lake", "task_tokens"]),
    "Check": ("check_job", 60, 256, ["lake", "secrets"]),
    "Land": ("land_job", 900, 1024, ["lake", "secrets"]),
    "Snapshot": ("snapshot", 900, 1024, ["lake", "secrets"]),
    "Notifications": ("consume_notifications", 120, 512, ["lake", "task_tokens", "queue"]),
    "LakeFormationSettings": ("lake_formation_settings", 300, 256, ["lakeformation"]),
}
# The functions the state machines call.
STEP_FUNCTIONS = [
    name for name in FUNCTIONS if name not in ("Notifications", "LakeFormationSettings")
]


def grants(what: str) -> list[dict[str, Any]]:
    """The statements of one capability of a function's role."""
    if what == "lake":
        return [*lake_rw(*INGESTION_PREFIXES), key_use(RAW_KEY)]
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
                "Resource": account_arn("ssm", "parameter/${AWS::StackName}/*"),
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
        from .governance import lake_formation_settings_grants

        return lake_formation_settings_grants()
    raise ValueError(what)


def lambdas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (handler, timeout, memory, needs) in FUNCTIONS.items():
        function, role_name, group = f"{name}Function", f"{name}FunctionRole", f"{name}LogGroup"
        statements = [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": sub("${%s.Arn}:*" % group),
            },
            # The function's environment is encrypted with the raw key.
            key_use(RAW_KEY, decrypt_only=True),
        ]
        for need in needs:
            statements += grants(need)
        out[role_name] = role(f"{name}Function", "lambda.amazonaws.com", statements)
        out[group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/lambda/${AWS::StackName}-%s" % name),
                "RetentionInDays": 90,
                "KmsKeyId": arn(LAKE_KEY),
            },
        }
        environment = {
            "SPAPI_LAKE": lake_uri(),
            # What the functions write (raw documents, ledger, plans) is under the raw key.
            "SPAPI_KMS_KEY_ID": arn(RAW_KEY),
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
                "KmsKeyArn": arn(RAW_KEY),
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


def state_machine_statements() -> list[dict[str, Any]]:
    """What the two state machines do besides invoking the functions (see statemachines.py)."""
    seller = "${AWS::StackName}-seller"
    return [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [
                *(sub("${%sFunction.Arn}" % name) for name in STEP_FUNCTIONS),
                *(sub("${%sFunction.Arn}:*" % name) for name in STEP_FUNCTIONS),
            ],
        },
        # ingest starts the seller machine; a seller's Distributed Maps start child executions
        # of the seller machine itself.
        {
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": account_arn("states", f"stateMachine:{seller}"),
        },
        {
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            # The seller executions, and the child executions of their Distributed Maps
            # (execution:<machine>/<map run>:<name>).
            "Resource": [
                account_arn("states", f"execution:{seller}:*"),
                account_arn("states", f"execution:{seller}/*"),
            ],
        },
        # After each Distributed Map the seller machine counts the map run's failed items.
        {
            "Effect": "Allow",
            "Action": "states:DescribeMapRun",
            "Resource": account_arn("states", f"mapRun:{seller}/*"),
        },
        # startExecution.sync and Distributed Map follow child executions through this rule.
        {
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": account_arn("events", "rule/StepFunctions*"),
        },
        # startJobRun.sync: start the curation and follow it to its end.
        {
            "Effect": "Allow",
            "Action": [
                "glue:StartJobRun",
                "glue:GetJobRun",
                "glue:GetJobRuns",
                "glue:BatchStopJobRun",
            ],
            "Resource": account_arn("glue", "job/${RawToCleanedJob}"),
        },
        # The Distributed Maps read the plan files and write their results.
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": lake_objects(PLANS_PREFIX + "/"),
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:PutObject",
                "s3:GetObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": lake_objects(MAP_RESULTS_PREFIX + "/"),
        },
        # The plans are under the raw key, the map results under the bucket's default (lake) key,
        # and the machines' own data under the raw key.
        key_use(RAW_KEY),
        key_use(LAKE_KEY),
        # Execution logs (errors only): Step Functions delivers them through CloudWatch Logs'
        # vended-log API, whose actions take no resource.
        {"Effect": "Allow", "Action": list(LOG_DELIVERY_ACTIONS), "Resource": "*"},
    ]


def state_machines() -> dict[str, Any]:
    out: dict[str, Any] = {
        "StateMachineRole": role(
            "StateMachines", "states.amazonaws.com", state_machine_statements()
        )
    }
    substitutions = {
        **{f"{name}FunctionArn": arn(f"{name}Function") for name in STEP_FUNCTIONS},
        "SellerStateMachineArn": ref("SellerStateMachine"),
        "RawToCleanedJobName": ref("RawToCleanedJob"),
        "RawBucket": ref("RawBucket"),
        "MapResultsPrefix": lake_path(MAP_RESULTS_PREFIX),
    }
    for machine, definition in MACHINES.items():
        text = json.dumps(definition)
        used = {k: v for k, v in substitutions.items() if "${%s}" % k in text}
        name = logical(machine)
        out[f"{name}StateMachineLogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/vendedlogs/states/${AWS::StackName}-%s" % machine),
                "RetentionInDays": 90,
                "KmsKeyId": arn(LAKE_KEY),
            },
        }
        out[f"{name}StateMachine"] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": sub("${AWS::StackName}-%s" % machine),
                "StateMachineType": "STANDARD",
                "RoleArn": arn("StateMachineRole"),
                "Definition": definition,
                "DefinitionSubstitutions": used,
                "EncryptionConfiguration": {
                    "Type": "CUSTOMER_MANAGED_KMS_KEY",
                    "KmsKeyId": arn(RAW_KEY),
                    "KmsDataKeyReusePeriodSeconds": 300,
                },
                # Errors only, without the execution's data (it names sellers and requests).
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": False,
                    "Destinations": [
                        {
                            "CloudWatchLogsLogGroup": {
                                "LogGroupArn": arn(f"{name}StateMachineLogGroup")
                            }
                        }
                    ],
                },
            },
        }
    return out


def schedule() -> dict[str, Any]:
    """The scheduled run: EventBridge starts the ingest machine, retrying for an hour; an event
    it could not deliver goes to a dead-letter queue (which alarms)."""
    rule_arn = account_arn("events", "rule/${AWS::StackName}-ingest-schedule")
    send = {
        "Sid": "AllowTheScheduleToDeadLetter",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn("IngestScheduleDeadLetterQueue"),
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    return {
        **queue("IngestScheduleDeadLetterQueue", [send], MessageRetentionPeriod=1209600),
        "SchedulerRole": role(
            "StartIngestion",
            "events.amazonaws.com",
            [
                {
                    "Effect": "Allow",
                    "Action": "states:StartExecution",
                    "Resource": ref("IngestStateMachine"),
                },
                # The state machine is encrypted with the raw key: starting it encrypts the input.
                {
                    **key_use(RAW_KEY),
                    "Condition": {
                        "StringEquals": {
                            "kms:EncryptionContext:aws:states:stateMachineArn": ref(
                                "IngestStateMachine"
                            )
                        }
                    },
                },
            ],
        ),
        "IngestScheduleRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": sub("${AWS::StackName}-ingest-schedule"),
                "Description": "The scheduled ingestion run (sellers and datasets: SSM parameters)",
                "ScheduleExpression": ref("IngestSchedule"),
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "ingest",
                        "Arn": ref("IngestStateMachine"),
                        "RoleArn": arn("SchedulerRole"),
                        "Input": "{}",
                        "RetryPolicy": {
                            "MaximumRetryAttempts": 5,
                            "MaximumEventAgeInSeconds": 3600,
                        },
                        "DeadLetterConfig": {"Arn": arn("IngestScheduleDeadLetterQueue")},
                    }
                ],
            },
        },
    }


def resources() -> dict[str, Any]:
    return {**settings(), **queues(), **lambdas(), **state_machines(), **schedule()}


def outputs() -> dict[str, Any]:
    return {
        "NotificationsQueueArn": {
            "Value": arn("NotificationsQueue"),
            "Description": "spapi notifications setup --queue-arn",
        },
        "NotificationsQueueUrl": {
            "Value": ref("NotificationsQueue"),
            "Description": "The notification queue",
        },
        "IngestStateMachineArn": {
            "Value": ref("IngestStateMachine"),
            "Description": "Start a run (backfill) here",
        },
        "SellerSecretPrefix": {
            "Value": sub("${AWS::StackName}/seller/"),
            "Description": "Secrets Manager names of the sellers' LWA credentials",
        },
        "RawKeyAlias": {
            "Value": sub("alias/${AWS::StackName}-raw"),
            "Description": "spapi auth exchange --store-secret NAME --kms-key-id (the sellers' "
            "secrets)",
        },
    }
