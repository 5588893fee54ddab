"""The Lambda entry points (``Handler: spapi_toolkit.aws.handlers.<name>`` in the template).

Each one reads the deployment from the environment, turns the event into the arguments of
one plain function of ``ingest``, ``notifications`` or ``lakeformation`` and returns its
answer; logs are redacted JSON lines (``logs``). Errors propagate: Step Functions' Retry and
Catch (or SQS redelivery) decide what happens next, and the error's message is redacted too
(``SafeError``), since Step Functions shows it in the execution history.
"""

from __future__ import annotations

import logging
import os
from datetime import date
from typing import Any

from spapi_toolkit.aws import ingest, lakeformation, notifications
from spapi_toolkit.aws.config import Deployment
from spapi_toolkit.aws.logs import configure, redact_text
from spapi_toolkit.ingest.jobs import TransientStepError

configure(logging.INFO)
log = logging.getLogger("spapi_toolkit.aws")


class SafeError(Exception):
    """An error whose message was redacted; its name says what failed (Retry matches it)."""


class TransientError(SafeError):
    """A step failed for a reason that may pass (5xx, connection, token): retry it."""


def _safely(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except TransientStepError as exc:
        raise TransientError(redact_text(str(exc))) from None
    except Exception as exc:
        log.exception("step failed")
        raise SafeError(f"{type(exc).__name__}: {redact_text(str(exc))}") from None


def _day(text: Any) -> date | None:
    return date.fromisoformat(str(text)) if text else None


# The state machines' numbers that are deployment parameters: the function's environment.
SETTINGS = {
    "seller_concurrency": ("SPAPI_SELLER_CONCURRENCY", 10),
    "report_concurrency": ("SPAPI_REPORT_CONCURRENCY", 4),
    "notification_wait_seconds": ("SPAPI_NOTIFICATION_WAIT_SECONDS", 3600),
}


def plan(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``{"run_id", "input": {"profiles"?, "datasets"?, "marketplaces"?, "from"?, "to"?}}``
    (the fields may also be at the top) -> the plan (``ingest.plan_run``) and ``settings``:
    the numbers the state machines read through ``...Path`` fields."""
    given = {**(event.get("input") or {}), **{k: v for k, v in event.items() if k != "input"}}
    planned = _safely(
        ingest.plan_run,
        Deployment.from_env(),
        str(given["run_id"]),
        profiles=given.get("profiles") or None,
        datasets=given.get("datasets") or None,
        marketplaces=given.get("marketplaces") or None,
        start=_day(given.get("from")),
        end=_day(given.get("to")),
    )
    planned["settings"] = {
        name: int(os.environ.get(variable) or default)
        for name, (variable, default) in SETTINGS.items()
    }
    return planned


def request_job(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One plan item -> ``ingest.request_job``."""
    return _safely(ingest.request_job, Deployment.from_env(), event)


def check_job(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One plan item -> ``ingest.check_job``."""
    return _safely(ingest.check_job, Deployment.from_env(), event)


def land_job(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One plan item -> ``ingest.land_job``."""
    return _safely(ingest.land_job, Deployment.from_env(), event)


def await_report(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``{"item", "task_token"}`` (``lambda:invoke.waitForTaskToken``) -> ``await_report``."""
    return _safely(ingest.await_report, Deployment.from_env(), event["item"], event["task_token"])


def snapshot(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One snapshot plan item -> ``ingest.snapshot``."""
    return _safely(ingest.snapshot, Deployment.from_env(), event)


def consume_notifications(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """An SQS batch -> ``notifications.consume`` (partial batch response)."""
    return _safely(notifications.consume, Deployment.from_env(), event.get("Records") or [])


def lake_formation_settings(event: dict[str, Any], context: Any = None) -> None:
    """The CloudFormation custom resource of ``lakeformation`` (answers CloudFormation itself)."""
    lakeformation.custom_resource(event, context)
