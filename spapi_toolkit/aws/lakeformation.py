"""Lake Formation settings CloudFormation cannot make safely, as a custom resource.

Column-level grants (the analyst role's SELECT without the PII columns) only hold once Lake
Formation, not IAM, decides who reads a table. Two things stand in the way, and the stock
resource handles neither:

* ``IAMAllowedPrincipals``: a database or table created while the defaults say so grants
  ``ALL`` to it, i.e. any IAM principal with Glue and S3 permissions reads every column, and
  column exclusions do nothing. What matters for the stack's tables is its *databases'*
  ``CreateTableDefaultPermissions`` (Glue applies a database's own default to every table
  created in it; the account-wide ``CreateTableDefaultPermissions`` only seeds that of a new
  database, and the template creates its databases with an empty list): it is cleared on the
  stack's databases, and the grants already made on them and their tables are revoked. The
  account-wide defaults are never touched: they are the account's, and other databases rely on
  them.
* ``AWS::LakeFormation::DataLakeSettings`` ``Admins`` replace the account's data lake
  administrators: deploying would lock out whoever administered the lake before.

So the resource changes only what the stack owns, and records each change so it can undo
exactly that: the administrators it added (ones already administrators are not its own), the
``IAMAllowedPrincipals`` grants it revoked (resource, permissions, grantable ones) and the
database defaults it cleared. The record is a JSON SSM parameter of the stack,
``/<stack name>/lake-formation/<logical id>`` (``record_name``): a custom resource's answer
``Data`` is not given back on Update or Delete, and its ``PhysicalResourceId`` holds 1 KB.

* Create: ``apply``; the record is written even when a step fails, so the Delete CloudFormation
  sends after a failed Create undoes what was done.
* Update: ``apply`` again from the record: administrators the stack added and no longer lists
  are removed, new ones added (if not administrators already); databases no longer listed get
  back what was revoked on them (``restore``); the listed ones are governed as on Create.
* Delete: ``restore`` everything recorded (grants and defaults on databases and tables that still
  exist; the stack deletes its databases after this resource), remove the administrators it
  added (not one that was an administrator before), delete the record.

Every step is idempotent.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

IAM_ALLOWED_PRINCIPALS = {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}
_DATABASE_INPUT_KEYS = ("Name", "Description", "LocationUri", "Parameters", "TargetDatabase")
RECORD_FOLDER = "lake-formation"


@dataclass
class Changes:
    """What the stack changed in Lake Formation and Glue, to be undone on delete."""

    admins_added: list[str] = field(default_factory=list)
    # {"resource": <LF resource>, "permissions": [...], "grantable": [...]}
    revoked: list[dict[str, Any]] = field(default_factory=list)
    table_defaults: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # database ->

    def to_json(self) -> str:
        return json.dumps({"version": 1, **asdict(self)}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Changes:
        data = json.loads(text)
        return cls(list(data.get("admins_added") or []), list(data.get("revoked") or []),
                   dict(data.get("table_defaults") or {}))  # fmt: skip


def _clients(lf: Any, glue: Any) -> tuple[Any, Any]:
    if lf is None or glue is None:
        import boto3

        lf = lf or boto3.client("lakeformation")
        glue = glue or boto3.client("glue")
    return lf, glue


def apply(
    admins: Sequence[str],
    databases: Sequence[str],
    changes: Changes | None = None,
    *,
    lf: Any = None,
    glue: Any = None,
) -> Changes:
    """Make Lake Formation govern ``databases`` with ``admins`` among the administrators (see
    the module doc). ``changes``: what an earlier run recorded (updated in place, step by
    step, so a failure midway still says what was done); returns it."""
    lf, glue = _clients(lf, glue)
    changes = changes if changes is not None else Changes()
    _set_admins(lf, admins, changes)
    restore(changes, lf=lf, glue=glue, keep=databases)
    for name in databases:
        database = glue.get_database(Name=name)["Database"]
        defaults = database.get("CreateTableDefaultPermissions") or []
        if defaults:
            changes.table_defaults.setdefault(name, defaults)
            _set_table_defaults(glue, database, [])
        for resource in _resources(glue, name):
            revoked = _revoke_iam_allowed(lf, resource)
            if revoked is not None:
                changes.revoked.append(revoked)
    counts = {"revoked": len(changes.revoked), "admins_added": len(changes.admins_added)}
    log.info("lake formation governs %s", ", ".join(databases), extra=counts)
    return changes


def _set_admins(lf: Any, admins: Sequence[str], changes: Changes) -> None:
    """Add the ``admins`` that are not administrators yet (the stack's own from then on);
    remove the stack's own that ``admins`` no longer lists. Every other setting is kept."""
    settings = dict(lf.get_data_lake_settings()["DataLakeSettings"])
    current = list(settings.get("DataLakeAdmins") or [])
    known = {a["DataLakePrincipalIdentifier"] for a in current}
    dropped = {a for a in changes.admins_added if a not in admins}
    added = [a for a in dict.fromkeys(admins) if a not in known]
    kept = [a for a in current if a["DataLakePrincipalIdentifier"] not in dropped]
    changes.admins_added = [a for a in changes.admins_added if a not in dropped] + added
    if added or len(kept) != len(current):
        settings["DataLakeAdmins"] = kept + [{"DataLakePrincipalIdentifier": a} for a in added]
        lf.put_data_lake_settings(DataLakeSettings=settings)


def _resources(glue: Any, database: str) -> list[dict[str, Any]]:
    """The database and each of its tables, as Lake Formation resources."""
    resources: list[dict[str, Any]] = [{"Database": {"Name": database}}]
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        resources += [
            {"Table": {"DatabaseName": database, "Name": t["Name"]}} for t in page["TableList"]
        ]
    return resources


def _set_table_defaults(glue: Any, database: Mapping[str, Any], value: list[Any]) -> None:
    given = {k: database[k] for k in _DATABASE_INPUT_KEYS if k in database}
    glue.update_database(
        Name=database["Name"], DatabaseInput={**given, "CreateTableDefaultPermissions": value}
    )


def _revoke_iam_allowed(lf: Any, resource: Mapping[str, Any]) -> dict[str, Any] | None:
    """Revoke what IAMAllowedPrincipals holds on ``resource``; what it held (None: nothing)."""
    listed = lf.list_permissions(Principal=IAM_ALLOWED_PRINCIPALS, Resource=dict(resource))
    held = [
        p
        for p in listed.get("PrincipalResourcePermissions", [])
        if p.get("Principal") == IAM_ALLOWED_PRINCIPALS
    ]
    permissions = sorted({perm for p in held for perm in p.get("Permissions", [])})
    grantable = sorted({perm for p in held for perm in p.get("PermissionsWithGrantOption", [])})
    if not permissions and not grantable:
        return None
    lf.revoke_permissions(
        Principal=IAM_ALLOWED_PRINCIPALS,
        Resource=dict(resource),
        Permissions=permissions,
        PermissionsWithGrantOption=grantable,
    )
    return {"resource": dict(resource), "permissions": permissions, "grantable": grantable}


def _database_of(resource: Mapping[str, Any]) -> str:
    if "Database" in resource:
        return str(resource["Database"]["Name"])
    return str(resource["Table"]["DatabaseName"])


def restore(
    changes: Changes,
    *,
    lf: Any = None,
    glue: Any = None,
    keep: Iterable[str] = (),
) -> None:
    """Give back what ``changes`` records on every database but those in ``keep`` (the
    grants revoked from IAMAllowedPrincipals, the databases' default table permissions),
    where the database or table still exists; the record drops what was given back."""
    lf, glue = _clients(lf, glue)
    kept = set(keep)
    remaining = []
    for item in changes.revoked:
        resource = item["resource"]
        if _database_of(resource) in kept:
            remaining.append(item)
            continue
        if _exists(glue, resource):
            lf.grant_permissions(
                Principal=IAM_ALLOWED_PRINCIPALS,
                Resource=resource,
                Permissions=item["permissions"],
                PermissionsWithGrantOption=item.get("grantable") or [],
            )
    changes.revoked = remaining
    for name in [n for n in changes.table_defaults if n not in kept]:
        if _exists(glue, {"Database": {"Name": name}}):
            database = glue.get_database(Name=name)["Database"]
            _set_table_defaults(glue, database, changes.table_defaults[name])
        del changes.table_defaults[name]


def _exists(glue: Any, resource: Mapping[str, Any]) -> bool:
    try:
        if "Database" in resource:
            glue.get_database(Name=resource["Database"]["Name"])
        else:
            table = resource["Table"]
            glue.get_table(DatabaseName=table["DatabaseName"], Name=table["Name"])
    except glue.exceptions.EntityNotFoundException:
        return False
    return True


def remove_admins(changes: Changes, *, lf: Any = None) -> None:
    """Take the administrators the stack added out again, leaving every other one."""
    lf, _ = _clients(lf, object())
    _set_admins(lf, [], changes)


def record_name(event: Mapping[str, Any]) -> str:
    """The SSM parameter holding the resource's ``Changes``:
    ``/<stack name>/lake-formation/<logical resource id>``."""
    stack = str(event["StackId"]).split(":")[-1].split("/")[1]
    return f"/{stack}/{RECORD_FOLDER}/{event['LogicalResourceId']}"


def _load(ssm: Any, name: str) -> Changes | None:
    try:
        text = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return Changes.from_json(text)


def _save(ssm: Any, name: str, changes: Changes) -> None:
    ssm.put_parameter(
        Name=name,
        Value=changes.to_json(),
        Type="String",
        Overwrite=True,
        Tier="Intelligent-Tiering",  # Standard up to 4 KB, Advanced beyond (many tables)
        Description="What the stack's Lake Formation settings changed, undone on delete",
    )


def handle(
    event: Mapping[str, Any], *, lf: Any = None, glue: Any = None, ssm: Any = None
) -> dict[str, str]:
    """One CloudFormation request (module doc); the answer's ``Data``."""
    properties = event.get("ResourceProperties") or {}
    admins = list(properties.get("Admins") or [])
    databases = list(properties.get("Databases") or [])
    lf, glue = _clients(lf, glue)
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    name = record_name(event)
    recorded = _load(ssm, name)
    if event["RequestType"] == "Delete":
        if recorded is None:
            log.info("no record of changes at %s: nothing to undo", name)
            return {}
        try:
            restore(recorded, lf=lf, glue=glue)
            remove_admins(recorded, lf=lf)
        finally:
            _save(ssm, name, recorded)  # what is left to undo, if a step failed
        ssm.delete_parameter(Name=name)
        return {}
    if recorded is None and event["RequestType"] == "Update":
        log.warning("no record of changes at %s: the stack owns no administrator yet", name)
    changes = recorded or Changes()
    try:
        apply(admins, databases, changes, lf=lf, glue=glue)
    finally:
        _save(ssm, name, changes)
    return {"Record": name, "AdminsAdded": ",".join(changes.admins_added),
            "Revoked": str(len(changes.revoked))}  # fmt: skip


def custom_resource(
    event: Mapping[str, Any],
    context: Any,
    *,
    lf: Any = None,
    glue: Any = None,
    ssm: Any = None,
) -> None:
    """The ``Custom::LakeFormationSettings`` handler: properties ``Admins`` and ``Databases``
    (lists). Always answers CloudFormation (``ResponseURL``), failures included, so a stack
    never hangs on it."""
    physical = event.get("PhysicalResourceId") or f"lf-settings-{event['LogicalResourceId']}"
    status, reason, data = "SUCCESS", "", {}
    try:
        data = handle(event, lf=lf, glue=glue, ssm=ssm)
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
