"""The Step Functions state machines of the deployment, written as ASL (``*.asl.json``).

``generate.py`` writes them into ``infra/statemachines/`` (checked in; ``tests/infra`` checks
they are up to date) and embeds them in the template with ``DefinitionSubstitutions`` for every
``${...}``. Two machines:

``ingest``
    Plan (one Lambda: every seller's requests, written to the lake), then a Map over the sellers
    that runs the ``seller`` machine for each (``startExecution.sync:2``, at most
    ``${SellerConcurrency}`` at once), then starts the curation Glue job.
``seller``
    One seller: its quota-limited report requests one at a time and its other jobs up to
    ``${ReportConcurrency}`` at once (two Distributed Maps reading the plan files, side by side),
    then its API snapshots one at a time (they are driven by the listings report just landed).

Numbers that are deployment parameters (concurrency, the notification wait) come from the plan's
``settings`` (the plan function's environment) through ``...Path`` fields: a
``DefinitionSubstitutions`` value is always substituted as a string.

Each job request runs the ``JOB`` item processor: request (waiting for a quota when told) ->
wait for REPORT_PROCESSING_FINISHED with a task token (Data Kiosk queries and a timeout fall
back to polling) -> check -> land. Every Task has a Retry (transient errors: ``TransientError``
from the handlers, Lambda's own) and a Catch.
"""

from __future__ import annotations

from typing import Any

# Where the Distributed Maps write their results, a lake key prefix (the template substitutes
# ``${MapResultsPrefix}``: its place in the raw bucket).
MAP_RESULTS_PREFIX = "_state/map-results"
LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
RETRY_STEP = [
    {
        "ErrorEquals": ["TransientError", *LAMBDA_ERRORS],
        "IntervalSeconds": 30,
        "MaxAttempts": 5,
        "BackoffRate": 2.0,
        "JitterStrategy": "FULL",
    }
]
CATCH_ITEM = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "ItemFailed"}]
STEP_RESULT = {
    "status.$": "$.Payload.status",
    "wait_seconds.$": "$.Payload.wait_seconds",
    "error.$": "$.Payload.error",
}


def _invoke(function: str, next_state: str, **extra: Any) -> dict[str, Any]:
    """A Lambda step of the job processor: the item in, the step's answer at ``$.step``."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "${%s}" % function,
            "Payload": {"profile.$": "$.profile", "request.$": "$.request"},
        },
        "ResultSelector": STEP_RESULT,
        "ResultPath": "$.step",
        "Retry": RETRY_STEP,
        "Catch": CATCH_ITEM,
        "Next": next_state,
        **extra,
    }


def _is(status: str, next_state: str) -> dict[str, Any]:
    return {"Variable": "$.step.status", "StringEquals": status, "Next": next_state}


def _wait(next_state: str) -> dict[str, Any]:
    return {"Type": "Wait", "SecondsPath": "$.step.wait_seconds", "Next": next_state}


JOB: dict[str, Any] = {
    "StartAt": "Request",
    "States": {
        "Request": _invoke("RequestFunctionArn", "AfterRequest"),
        "AfterRequest": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.step.status", "StringEquals": "requested"},
                        {"Variable": "$.request.source", "StringEquals": "report"},
                    ],
                    "Next": "AwaitNotification",
                },
                _is("requested", "WaitToPoll"),
                _is("done", "Land"),
                _is("landed", "Finished"),
                _is("no_data", "Finished"),
                _is("failed", "ItemFailed"),
            ],
            "Default": "WaitForQuota",  # new / requesting / fatal: a quota or a cool-down
        },
        "WaitForQuota": _wait("Request"),
        "AwaitNotification": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "${AwaitFunctionArn}",
                "Payload": {
                    "item": {"profile.$": "$.profile", "request.$": "$.request"},
                    "task_token.$": "$$.Task.Token",
                },
            },
            "TimeoutSecondsPath": "$.notification_wait_seconds",
            "ResultPath": None,
            "Retry": [{**RETRY_STEP[0], "ErrorEquals": LAMBDA_ERRORS}],
            "Catch": [
                # No notification in time: poll instead.
                {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Check"},
                *CATCH_ITEM,
            ],
            "Next": "Check",
        },
        "Check": _invoke("CheckFunctionArn", "AfterCheck"),
        "AfterCheck": {
            "Type": "Choice",
            "Choices": [
                _is("done", "Land"),
                _is("requested", "WaitToPoll"),
                _is("landed", "Finished"),
                _is("no_data", "Finished"),
                _is("failed", "ItemFailed"),
                _is("fatal", "WaitForQuota"),  # FATAL: asked again after the cool-down
            ],
            "Default": "WaitToPoll",
        },
        "WaitToPoll": _wait("Check"),
        "Land": _invoke("LandFunctionArn", "AfterLand"),
        "AfterLand": {
            "Type": "Choice",
            "Choices": [
                _is("landed", "Finished"),
                _is("failed", "ItemFailed"),
                _is("done", "WaitToLand"),  # the document call would wait for its token
            ],
            "Default": "ItemFailed",
        },
        "WaitToLand": _wait("Land"),
        "Finished": {"Type": "Succeed"},
        "ItemFailed": {
            "Type": "Fail",
            "Error": "IngestionFailed",
            "Cause": "the request failed: its ledger entry (or the execution's step) says why",
        },
    },
}

SNAPSHOT: dict[str, Any] = {
    "StartAt": "Snapshot",
    "States": {
        "Snapshot": {
            **_invoke("SnapshotFunctionArn", "AfterSnapshot"),
            # A snapshot of thousands of items can outlast Lambda's 15 minutes at Amazon's rates;
            # it lands batch by batch and a new invocation skips the batches already landed.
            "Retry": [
                *RETRY_STEP,
                {
                    "ErrorEquals": ["Sandbox.Timedout"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 20,
                    "BackoffRate": 1.0,
                },
            ],
            "ResultSelector": {"status.$": "$.Payload.status", "error.$": "$.Payload.error"},
        },
        "AfterSnapshot": {
            "Type": "Choice",
            "Choices": [_is("failed", "ItemFailed")],
            "Default": "Finished",
        },
        "Finished": {"Type": "Succeed"},
        "ItemFailed": JOB["States"]["ItemFailed"],
    },
}


def _distributed(plan: str, processor: dict[str, Any], concurrency: Any, nxt: str) -> dict:
    """A Distributed Map over one plan file (``$.seller.<plan>``: ``{Bucket, Key, count}``),
    its results written to the lake (a backfill's results exceed a state's payload limit); its
    output is the map run's ARN, which ``_count`` follows with the run's item counts.
    ``concurrency`` is a number or the path of one in the input (the plan's settings)."""
    limit = (
        {"MaxConcurrencyPath": concurrency}
        if isinstance(concurrency, str)
        else {"MaxConcurrency": concurrency}
    )
    return {
        "Type": "Map",
        "ItemSelector": {
            "profile.$": "$$.Map.Item.Value.profile",
            "request.$": "$$.Map.Item.Value.request",
            "notification_wait_seconds.$": "$.settings.notification_wait_seconds",
        },
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": f"$.seller.{plan}.Bucket", "Key.$": f"$.seller.{plan}.Key"},
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            **processor,
        },
        **limit,
        # One failed request must not stop the seller's others: every item runs, then the
        # run's failed items are counted (``_count``) and fail the seller (``Verdict``).
        "ToleratedFailurePercentage": 100,
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "${RawBucket}", "Prefix": "${MapResultsPrefix}"},
        },
        "ResultSelector": {"MapRunArn.$": "$.MapRunArn"},
        "ResultPath": f"$.runs.{plan}",
        "Retry": [
            {
                "ErrorEquals": ["States.ItemReaderFailed", "States.ResultWriterFailed"],
                "IntervalSeconds": 10,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "SellerFailed"}
        ],
        "Next": nxt,
    }


def _count(plan: str, result_path: str | None, nxt: str | None) -> dict[str, Any]:
    """How many items of a plan's map run failed: ``{"failed", "total"}`` at ``result_path``
    (``None``: the state's whole output)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sfn:describeMapRun",
        "Parameters": {"MapRunArn.$": f"$.runs.{plan}.MapRunArn"},
        "ResultSelector": {"failed.$": "$.ItemCounts.Failed", "total.$": "$.ItemCounts.Total"},
        "Retry": [
            {
                "ErrorEquals": ["Sfn.SfnException", "States.TaskFailed"],
                "IntervalSeconds": 5,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "SellerFailed"}
        ],
    }
    if result_path:
        state["ResultPath"] = result_path
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


def _branch(name: str, plan: str, concurrency: Any) -> dict[str, Any]:
    """One branch of the seller's jobs: its map, then its counts (the branch's output)."""
    failed = {"Type": "Fail", "Error": "SellerFailed", "Cause": f"the {plan} map failed"}
    return {
        "StartAt": name,
        "States": {
            name: _distributed(plan, JOB, concurrency, f"Count{name}"),
            f"Count{name}": _count(plan, None, None),
            "SellerFailed": failed,
        },
    }


def _any_failed(*paths: str) -> dict[str, Any]:
    return {"Or": [{"Variable": path, "NumericGreaterThan": 0} for path in paths]}


SELLER: dict[str, Any] = {
    "Comment": "One seller's planned requests: quota-limited reports one at a time, other jobs "
    "side by side, then API snapshots; the seller fails when any request failed (after all "
    "ran). Input: {seller, settings}.",
    "StartAt": "Jobs",
    "States": {
        "Jobs": {
            "Type": "Parallel",
            "Branches": [
                _branch("QuotaLimitedReports", "quota_jobs", 1),
                _branch("OtherJobs", "jobs", "$.settings.report_concurrency"),
            ],
            "ResultPath": "$.jobs",  # [{failed, total} of the quota jobs, of the others]
            "Retry": [{"ErrorEquals": ["States.BranchFailed"], "MaxAttempts": 0}],
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "SellerFailed"}
            ],
            "Next": "Snapshots",
        },
        "Snapshots": _distributed("snapshots", SNAPSHOT, 1, "CountSnapshots"),
        "CountSnapshots": _count("snapshots", "$.snapshot_counts", "Verdict"),
        "Verdict": {
            "Type": "Choice",
            "Choices": [
                {
                    **_any_failed(
                        "$.jobs[0].failed", "$.jobs[1].failed", "$.snapshot_counts.failed"
                    ),
                    "Next": "RequestsFailed",
                }
            ],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
        "RequestsFailed": {
            "Type": "Fail",
            "Error": "RequestsFailed",
            "Cause": "some of the seller's requests failed after every request ran: the map "
            "runs' failed items, and each request's ledger entry, say which and why",
        },
        "SellerFailed": {
            "Type": "Fail",
            "Error": "SellerFailed",
            "Cause": "a map of the seller's requests could not run",
        },
    },
}

INGEST: dict[str, Any] = {
    "Comment": "A scheduled (or manual) ingestion run: plan, every seller, then curation, "
    "awaited; the run fails when planning, a seller or the curation failed. "
    "Input (all optional): profiles, datasets, marketplaces, from, to.",
    "StartAt": "Plan",
    "States": {
        "Plan": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": "${PlanFunctionArn}",
                "Payload": {"run_id.$": "$$.Execution.Name", "input.$": "$"},
            },
            "ResultSelector": {
                "run_id.$": "$.Payload.run_id",
                "sellers.$": "$.Payload.sellers",
                "settings.$": "$.Payload.settings",
            },
            "ResultPath": "$.plan",
            "Retry": RETRY_STEP,
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RunFailed"}
            ],
            "Next": "Sellers",
        },
        "Sellers": {
            "Type": "Map",
            "ItemsPath": "$.plan.sellers",
            "ItemSelector": {"seller.$": "$$.Map.Item.Value", "settings.$": "$.plan.settings"},
            "MaxConcurrencyPath": "$.plan.settings.seller_concurrency",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Seller",
                "States": {
                    "Seller": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::states:startExecution.sync:2",
                        "Parameters": {
                            "StateMachineArn": "${SellerStateMachineArn}",
                            "Input": {
                                "seller.$": "$.seller",
                                "settings.$": "$.settings",
                                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                            },
                        },
                        "ResultPath": None,
                        "Retry": [
                            {
                                "ErrorEquals": [
                                    "StepFunctions.ExecutionLimitExceeded",
                                    "StepFunctions.SdkClientException",
                                ],
                                "IntervalSeconds": 60,
                                "MaxAttempts": 3,
                                "BackoffRate": 2.0,
                            }
                        ],
                        # One seller's failure (its execution shows why) leaves the others be;
                        # the run fails at the end (Verdict).
                        "Catch": [
                            {
                                "ErrorEquals": ["States.ALL"],
                                "ResultPath": "$.failure",
                                "Next": "SellerFailed",
                            }
                        ],
                        "Next": "SellerSucceeded",
                    },
                    "SellerSucceeded": {"Type": "Pass", "Result": False, "End": True},
                    "SellerFailed": {"Type": "Pass", "Result": True, "End": True},
                },
            },
            "ResultPath": "$.seller_failed",  # one boolean per seller
            "Next": "Curate",
        },
        # What landed is curated even when a seller failed; the run waits for the job's end.
        "Curate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {"JobName": "${RawToCleanedJobName}"},
            "ResultPath": None,
            "Retry": [
                {
                    "ErrorEquals": [
                        "Glue.InternalServiceException",
                        "Glue.OperationTimeoutException",
                    ],
                    "IntervalSeconds": 60,
                    "MaxAttempts": 3,
                    "BackoffRate": 2.0,
                }
            ],
            "Catch": [
                # A curation already running (the schedule's) takes the new documents too.
                {
                    "ErrorEquals": ["Glue.ConcurrentRunsExceededException"],
                    "ResultPath": None,
                    "Next": "Verdict",
                },
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.failure",
                    "Next": "CurationFailed",
                },
            ],
            "Next": "Verdict",
        },
        "Verdict": {
            "Type": "Pass",
            "Parameters": {"any.$": "States.ArrayContains($.seller_failed, true)"},
            "ResultPath": "$.sellers_failed",
            "Next": "AnySellerFailed",
        },
        "AnySellerFailed": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.sellers_failed.any", "BooleanEquals": True, "Next": "SellersFailed"}
            ],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
        "SellersFailed": {
            "Type": "Fail",
            "Error": "SellersFailed",
            "Cause": "one or more sellers failed (their seller executions say why); what "
            "landed was curated",
        },
        "CurationFailed": {
            "Type": "Fail",
            "Error": "CurationFailed",
            "Cause": "the curation job failed or held partitions back (its run says why)",
        },
        "RunFailed": {"Type": "Fail", "Error": "RunFailed", "Cause": "planning failed"},
    },
}

MACHINES = {"ingest": INGEST, "seller": SELLER}
