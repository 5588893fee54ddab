"""Lake Formation settings CloudFormation cannot make safely, as a custom resource.

Column-level grants (the analyst role's SELECT without the PII columns) only hold once Lake
Formation, not IAM, decides who reads a table. Two things stand in the way, and the stock
resource handles neither:

* ``IAMAllowedPrincipals``: by default every new database and table grants ``ALL`` to it, i.e.
  any IAM principal with Glue and S3 permissions reads every column, and column exclusions do
  nothing. The defaults must be emptied *and* the grants already made on the deployment's
  databases and tables revoked. ``AWS::LakeFormation::DataLakeSettings`` with empty
  ``CreateDatabaseDefaultPermissions`` / ``CreateTableDefaultPermissions`` arrays does not clear
  values set earlier (CloudFormation leaves an empty list unsent).
* its ``Admins`` replace the account's data lake administrators (``MutationType: REPLACE``, the
  default): deploying would lock out whoever administered the lake before.

``apply`` reads the account's settings, adds the deployment's administrators to the existing
ones, empties both default-permission lists, keeps every other setting, then clears the
default table permissions of the named databases and revokes whatever ``IAMAllowedPrincipals``
holds on them and on their tables. ``remove`` (stack deletion) takes out only the
administrators it added. Both are idempotent.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

IAM_ALLOWED_PRINCIPALS = {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}
_DATABASE_INPUT_KEYS = ("Name", "Description", "LocationUri", "Parameters", "TargetDatabase")


def _clients(lf: Any, glue: Any) -> tuple[Any, Any]:
    if lf is None or glue is None:
        import boto3

        lf = lf or boto3.client("lakeformation")
        glue = glue or boto3.client("glue")
    return lf, glue


def apply(
    admins: Sequence[str], databases: Sequence[str], *, lf: Any = None, glue: Any = None
) -> dict[str, Any]:
    """Make Lake Formation govern ``databases`` (see the module doc). Returns what it did:
    ``{"admins": [...all admins...], "revoked": [<resource descriptions>]}``."""
    lf, glue = _clients(lf, glue)
    settings = dict(lf.get_data_lake_settings()["DataLakeSettings"])
    current = list(settings.get("DataLakeAdmins") or [])
    known = {a["DataLakePrincipalIdentifier"] for a in current}
    merged = current + [{"DataLakePrincipalIdentifier": a} for a in admins if a not in known]
    settings.update(
        DataLakeAdmins=merged, CreateDatabaseDefaultPermissions=[], CreateTableDefaultPermissions=[]
    )
    lf.put_data_lake_settings(DataLakeSettings=settings)
    revoked: list[str] = []
    for name in databases:
        database = glue.get_database(Name=name)["Database"]
        if database.get("CreateTableDefaultPermissions"):
            given = {k: database[k] for k in _DATABASE_INPUT_KEYS if k in database}
            glue.update_database(
                Name=name, DatabaseInput={**given, "CreateTableDefaultPermissions": []}
            )
        resources: list[dict[str, Any]] = [{"Database": {"Name": name}}]
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=name):
            resources += [
                {"Table": {"DatabaseName": name, "Name": t["Name"]}} for t in page["TableList"]
            ]
        for resource in resources:
            if _revoke_iam_allowed(lf, resource):
                revoked.append(json.dumps(resource, sort_keys=True))
    log.info("lake formation governs %s", ", ".join(databases), extra={"revoked": len(revoked)})
    return {"admins": [a["DataLakePrincipalIdentifier"] for a in merged], "revoked": revoked}


def _revoke_iam_allowed(lf: Any, resource: Mapping[str, Any]) -> bool:
    """Revoke what IAMAllowedPrincipals holds on ``resource``; whether it held anything."""
    listed = lf.list_permissions(Principal=IAM_ALLOWED_PRINCIPALS, Resource=dict(resource))
    held = [
        p
        for p in listed.get("PrincipalResourcePermissions", [])
        if p.get("Principal") == IAM_ALLOWED_PRINCIPALS
    ]
    permissions = sorted({perm for p in held for perm in p.get("Permissions", [])})
    if not permissions:
        return False
    lf.revoke_permissions(
        Principal=IAM_ALLOWED_PRINCIPALS, Resource=dict(resource), Permissions=permissions
    )
    return True


def remove(admins: Sequence[str], *, lf: Any = None) -> None:
    """Take the deployment's ``admins`` out of the data lake administrators, leaving the rest
    (and the emptied defaults: restoring IAMAllowedPrincipals would open every table)."""
    lf, _ = _clients(lf, object())
    settings = dict(lf.get_data_lake_settings()["DataLakeSettings"])
    every = settings.get("DataLakeAdmins") or []
    kept = [a for a in every if a["DataLakePrincipalIdentifier"] not in admins]
    settings["DataLakeAdmins"] = kept
    lf.put_data_lake_settings(DataLakeSettings=settings)


def custom_resource(
    event: Mapping[str, Any], context: Any, *, lf: Any = None, glue: Any = None
) -> None:
    """The ``Custom::LakeFormationSettings`` handler: properties ``Admins`` and ``Databases``
    (lists). Always answers CloudFormation (``ResponseURL``), failures included, so a stack
    never hangs on it."""
    properties = event.get("ResourceProperties") or {}
    admins = list(properties.get("Admins") or [])
    databases = list(properties.get("Databases") or [])
    physical = event.get("PhysicalResourceId") or f"lf-settings-{event['LogicalResourceId']}"
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] == "Delete":
            remove(admins, lf=lf)
        else:
            done = apply(admins, databases, lf=lf, glue=glue)
            data = {"Admins": ",".join(done["admins"]), "Revoked": str(len(done["revoked"]))}
    except Exception as exc:
        log.exception("lake formation settings failed")
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:1000]
    answer = {
        "Status": status,
        "Reason": reason or "see the function's log",
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    body = json.dumps(answer).encode("utf-8")
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # CloudFormation's pre-signed URL
        response.read()
