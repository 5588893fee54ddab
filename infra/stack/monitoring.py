"""Failures are loud: every alarm publishes to one SNS topic (``AlarmEmail`` subscribes to it).

What alarms, and what an operator does on each, is in docs/deploy.md ("Alarms"):

* a run of either state machine failed or timed out (``ExecutionsFailed`` / ``TimedOut``);
* a Glue job run failed, timed out or stopped (an EventBridge rule on Glue's job state changes);
* a message waits in a dead-letter queue (notifications, the schedule's undelivered starts);
* the quality gate held partitions back, rows were quarantined or documents refused
  (``JOB_METRICS``, published by the jobs).
"""

from __future__ import annotations

from typing import Any

from .common import LAKE_KEY, ref, sub
from .curation import JOBS, METRICS_NAMESPACE

STATE_MACHINES = ("IngestStateMachine", "SellerStateMachine")
# What each curation job publishes (lake/curate/entry.py) and the alarm's description.
JOB_METRICS = {
    "PartitionsHeldBack": "its quality gate held partitions back: they were not published (the "
    "job's log lists the failed expectations",
    "RowsQuarantined": "it quarantined rows: the good rows were published, the others are under "
    "quarantine/ with their reasons (the job's log names the folder",
    "DocumentsRefused": "it refused documents whose bytes are not their manifests' or that "
    "cannot feed their table: none of their rows were read (`spapi status` names them",
}
DEAD_LETTER_QUEUES = ("NotificationsDeadLetterQueue", "IngestScheduleDeadLetterQueue")


def parameters() -> dict[str, Any]:
    return {
        "AlarmEmail": {
            "Type": "String",
            "Default": "",
            "Description": "E-mail address the alarms go to (empty: subscribe to the "
            "AlarmTopic output yourself)",
        }
    }


def conditions() -> dict[str, Any]:
    return {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}}


def topic() -> dict[str, Any]:
    return {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub("${AWS::StackName}-alarms"),
                "KmsMasterKeyId": ref(LAKE_KEY),
            },
        },
        "AlarmTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [ref("AlarmTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AlarmsAndRulesPublish",
                            "Effect": "Allow",
                            "Principal": {
                                "Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
                            },
                            "Action": "sns:Publish",
                            "Resource": ref("AlarmTopic"),
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}
                            },
                        },
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Publish",
                            "Resource": ref("AlarmTopic"),
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": ref("AlarmTopic"),
                "Protocol": "email",
                "Endpoint": ref("AlarmEmail"),
            },
        },
    }


def alarm(
    description: str, namespace: str, metric: str, dimensions: dict[str, Any], statistic: str
) -> dict[str, Any]:
    """An alarm on one metric reaching 1 in a 5-minute period (no data: nothing happened)."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Statistic": statistic,
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref("AlarmTopic")],
        },
    }


def alarms() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for machine in STATE_MACHINES:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            out[f"{machine}{metric}Alarm"] = alarm(
                f"A run of the {machine} {metric[len('Executions') :].lower()}: its execution "
                "history says which state and why (docs/deploy.md, Alarms)",
                "AWS/States",
                metric,
                {"StateMachineArn": ref(machine)},
                "Sum",
            )
    for queue in DEAD_LETTER_QUEUES:
        out[f"{queue}Alarm"] = alarm(
            f"Messages wait in {queue}: undelivered work (docs/deploy.md, Alarms)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}},
            "Maximum",
        )
    for job in JOBS:
        for metric, what in JOB_METRICS.items():
            out[f"{job}{metric}Alarm"] = alarm(
                f"A run of {job}: {what}; docs/deploy.md, Alarms)",
                METRICS_NAMESPACE,
                metric,
                {"JobName": ref(job)},
                "Sum",
            )
    out["GlueJobFailedRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Description": "A curation job run that did not succeed",
            "State": "ENABLED",
            "EventPattern": {
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {
                    "jobName": [ref(job) for job in JOBS],
                    "state": ["FAILED", "TIMEOUT", "ERROR", "STOPPED"],
                },
            },
            "Targets": [{"Id": "alarms", "Arn": ref("AlarmTopic")}],
        },
    }
    return out


def resources() -> dict[str, Any]:
    return {**topic(), **alarms()}


def outputs() -> dict[str, Any]:
    return {"AlarmTopicArn": {"Value": ref("AlarmTopic"), "Description": "Where alarms go"}}
