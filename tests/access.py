"""Access replay: what the deployed parts touch, checked against what the template grants them.

tests/infra/test_access.py runs the real code end to end on a moto server and a local lake and
records every access each part makes; this module holds the recording, the translation of an
access into IAM terms (tables of data), a resolver of the generated template's roles and the
evaluation of one against the other (moto's policy evaluator, statement by statement).

Recorders:

``ApiRecorder``
    wraps ``botocore.client.BaseClient._make_api_call``: every AWS call of this process, with
    the part running when it was made (``part``). ``python -m tests.access glue OUT LAKE
    SCRIPT ARGS`` runs a Glue entry script under one and writes its calls to ``OUT``.
``FileWatch``
    inotify on a local lake folder: the files the Python code and the Spark JVM read, write,
    delete and the folders they list (``FILE_EVENTS``), mapped to the S3 key the same lake key
    has in the zoned S3 lake.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]

# ---- tables: AWS calls and file events in IAM terms -------------------------------------------

# S3 operation -> the IAM actions it needs, each on "object" (Bucket/Key), "source" (a copy's
# source), "objects" (DeleteObjects' keys) or "bucket" (the bucket, s3:prefix = Prefix).
S3_ACTIONS: dict[str, list[tuple[str, str]]] = {
    "GetObject": [("s3:GetObject", "object")],
    "HeadObject": [("s3:GetObject", "object")],
    "PutObject": [("s3:PutObject", "object")],
    "CreateMultipartUpload": [("s3:PutObject", "object")],
    "UploadPart": [("s3:PutObject", "object")],
    "CompleteMultipartUpload": [("s3:PutObject", "object")],
    "AbortMultipartUpload": [("s3:AbortMultipartUpload", "object")],
    "ListParts": [("s3:ListMultipartUploadParts", "object")],
    "CopyObject": [("s3:GetObject", "source"), ("s3:PutObject", "object")],
    "UploadPartCopy": [("s3:GetObject", "source"), ("s3:PutObject", "object")],
    "DeleteObject": [("s3:DeleteObject", "object")],
    "DeleteObjects": [("s3:DeleteObject", "objects")],
    "ListObjectsV2": [("s3:ListBucket", "bucket")],
    "ListObjects": [("s3:ListBucket", "bucket")],
    "HeadBucket": [("s3:ListBucket", "bucket")],
    "ListMultipartUploads": [("s3:ListBucketMultipartUploads", "bucket")],
    "GetBucketLocation": [("s3:GetBucketLocation", "bucket")],
}
# KMS a bucket's SSE-KMS default key implies, by the S3 action (reads decrypt, writes ask a data
# key; completing a KMS multipart upload decrypts the parts' data key).
S3_KMS: dict[str, list[str]] = {
    "GetObject": ["kms:Decrypt"],
    "PutObject": ["kms:GenerateDataKey"],
    "CreateMultipartUpload": ["kms:GenerateDataKey"],
    "UploadPart": ["kms:GenerateDataKey"],
    "CompleteMultipartUpload": ["kms:Decrypt"],
    "CopyObject": ["kms:Decrypt", "kms:GenerateDataKey"],
    "UploadPartCopy": ["kms:Decrypt", "kms:GenerateDataKey"],
}
# A local file event (inotify) -> the S3 operation the same access is on S3.
FILE_EVENTS: dict[str, str] = {
    "read": "GetObject",
    "write": "PutObject",
    "delete": "DeleteObject",
    "list": "ListObjectsV2",
}
# inotify flag (on a file) -> what it is. IN_OPEN also fires for an open to write, so a file's
# read is IN_ACCESS or IN_CLOSE_NOWRITE (opened without writing), not IN_OPEN alone; a folder's
# IN_OPEN is a listing (opendir) and is taken from the folder's own watch.
INOTIFY_KINDS: dict[str, str] = {
    "ACCESS": "read",
    "CLOSE_NOWRITE": "read",
    "CREATE": "write",
    "MODIFY": "write",
    "MOVED_TO": "write",
    "CLOSE_WRITE": "write",
    "DELETE": "delete",
    "MOVED_FROM": "delete",
}
# Service (botocore's name) -> IAM prefix, where they differ.
IAM_PREFIX: dict[str, str] = {"stepfunctions": "states", "monitoring": "cloudwatch"}
# ARN forms by resource kind ({...} from the call's parameters and the deployment's region,
# account and partition).
ARN_FORMS: dict[str, str] = {
    "secret": "{secret_arn}",
    "parameter": "arn:{partition}:ssm:{region}:{account}:parameter/{Name_noslash}",
    "state_machine": "{stateMachineArn}",
    "glue_catalog": "arn:{partition}:glue:{region}:{account}:catalog",
    "glue_database": "arn:{partition}:glue:{region}:{account}:database/{DatabaseName}",
    "glue_table": "arn:{partition}:glue:{region}:{account}:table/{DatabaseName}/{TableName}",
    "workgroup": "arn:{partition}:athena:{region}:{account}:workgroup/{WorkGroup}",
    "queue": "arn:{partition}:sqs:{region}:{account}:{queue_name}",
    "kms_key": "{key_arn}",
    "any": "*",
}
GLUE_TABLE_OPS = ("glue_catalog", "glue_database", "glue_table")
# (IAM prefix, operation) -> the resource kinds it needs permission on; operations that need no
# permission map to None. Unknown operations are checked on "*".
OPERATIONS: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("secretsmanager", "GetSecretValue"): ("secret",),
    ("secretsmanager", "DescribeSecret"): ("secret",),
    ("ssm", "GetParameter"): ("parameter",),
    ("states", "SendTaskSuccess"): ("any",),
    ("states", "SendTaskFailure"): ("any",),
    ("states", "SendTaskHeartbeat"): ("any",),
    ("states", "StartExecution"): ("state_machine",),
    ("glue", "GetDatabase"): ("glue_catalog", "glue_database"),
    ("glue", "UpdateDatabase"): ("glue_catalog", "glue_database"),
    ("glue", "CreateDatabase"): ("glue_catalog", "glue_database"),
    ("glue", "GetDatabases"): ("glue_catalog",),
    ("glue", "GetTable"): GLUE_TABLE_OPS,
    ("glue", "GetTables"): GLUE_TABLE_OPS,
    ("glue", "CreateTable"): GLUE_TABLE_OPS,
    ("glue", "UpdateTable"): GLUE_TABLE_OPS,
    ("glue", "DeleteTable"): GLUE_TABLE_OPS,
    ("glue", "GetPartition"): GLUE_TABLE_OPS,
    ("glue", "GetPartitions"): GLUE_TABLE_OPS,
    ("glue", "BatchCreatePartition"): GLUE_TABLE_OPS,
    ("glue", "BatchDeletePartition"): GLUE_TABLE_OPS,
    ("glue", "CreatePartition"): GLUE_TABLE_OPS,
    ("glue", "UpdatePartition"): GLUE_TABLE_OPS,
    ("athena", "StartQueryExecution"): ("workgroup",),
    ("athena", "GetQueryExecution"): ("workgroup",),
    ("athena", "GetQueryResults"): ("workgroup",),
    ("athena", "StopQueryExecution"): ("workgroup",),
    ("athena", "GetWorkGroup"): ("workgroup",),
    ("lakeformation", "GetDataAccess"): ("any",),
    ("sqs", "ReceiveMessage"): ("queue",),
    ("sqs", "DeleteMessage"): ("queue",),
    ("sqs", "DeleteMessageBatch"): ("queue",),
    ("sqs", "ChangeMessageVisibility"): ("queue",),
    ("sqs", "GetQueueAttributes"): ("queue",),
    ("cloudwatch", "PutMetricData"): ("any",),
    ("kms", "Decrypt"): ("kms_key",),
    ("kms", "GenerateDataKey"): ("kms_key",),
    ("sts", "GetCallerIdentity"): None,
}
# Conditions an operation's request carries: (prefix, operation) -> {condition key: parameter}.
OPERATION_CONDITIONS: dict[tuple[str, str], dict[str, str]] = {
    ("cloudwatch", "PutMetricData"): {"cloudwatch:namespace": "Namespace"},
}
# A secret's encryption key is used to read it (GetSecretValue decrypts with the secret's key).
SECRET_KMS: dict[str, list[str]] = {"GetSecretValue": ["kms:Decrypt"]}

# What a state machine's states need, by the Task resource (ASL) -> (action, resource form);
# the forms are filled from the state's Parameters (after the template's substitutions) and
# the deployment's names. ".sync" integrations add what Step Functions polls with.
ASL_TASKS: dict[str, list[tuple[str, str]]] = {
    "arn:aws:states:::lambda:invoke": [("lambda:InvokeFunction", "{FunctionName}")],
    "arn:aws:states:::lambda:invoke.waitForTaskToken": [
        ("lambda:InvokeFunction", "{FunctionName}")
    ],
    "arn:aws:states:::states:startExecution": [("states:StartExecution", "{StateMachineArn}")],
    "arn:aws:states:::states:startExecution.sync:2": [
        ("states:StartExecution", "{StateMachineArn}"),
        ("states:DescribeExecution", "{ExecutionArn}"),
        ("states:StopExecution", "{ExecutionArn}"),
        ("events:PutTargets", "{SyncRuleArn}"),
        ("events:PutRule", "{SyncRuleArn}"),
        ("events:DescribeRule", "{SyncRuleArn}"),
    ],
    "arn:aws:states:::glue:startJobRun": [("glue:StartJobRun", "{JobArn}")],
    "arn:aws:states:::glue:startJobRun.sync": [
        ("glue:StartJobRun", "{JobArn}"),
        ("glue:GetJobRun", "{JobArn}"),
        ("glue:GetJobRuns", "{JobArn}"),
        ("glue:BatchStopJobRun", "{JobArn}"),
    ],
}
# AWS SDK integrations (arn:aws:states:::aws-sdk:SERVICE:ACTION) -> (IAM action, resource form);
# one not listed is checked as SERVICE:Action on "*".
ASL_SDK: dict[str, tuple[str, str]] = {
    "sfn:describeMapRun": ("states:DescribeMapRun", "{MapRunArn}"),
}
# A Map state's S3 readers and writers (the S3 operations they make) and a distributed Map's
# child executions.
ASL_ITEM_READER = {"arn:aws:states:::s3:getObject": ["GetObject"]}
ASL_RESULT_WRITER = {
    "arn:aws:states:::s3:putObject": ["PutObject", "GetObject", "ListParts", "AbortMultipartUpload"]
}
ASL_DISTRIBUTED_MAP = [
    ("states:StartExecution", "{OwnArn}"),
    ("states:DescribeExecution", "{OwnMapRunExecutionArn}"),
    ("states:StopExecution", "{OwnMapRunExecutionArn}"),
]
# A state machine encrypted with a customer managed key: its executions' data.
STATE_MACHINE_KMS = ["kms:Decrypt", "kms:GenerateDataKey"]


# ---- the deployment's names: a resolver of the generated template ----------------------------


@dataclass
class Deployment:
    """The template with every intrinsic function resolvable to concrete names."""

    template: dict[str, Any]
    stack: str = "spapi-replay"
    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value, given

    def __post_init__(self) -> None:
        self.resources = expand_foreach(self.template, self)

    # -- intrinsic functions
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(x) for x in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                name, attr = value.split(".", 1) if isinstance(value, str) else value
                return self.get_att(name, attr)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::Join":
                sep, items = value
                resolved = self.resolve(items)
                return sep.join(
                    str(x) for x in (resolved if isinstance(resolved, list) else [resolved])
                )
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = value
                return str(self.resolve(text)).split(sep)
        return {k: self.resolve(v) for k, v in node.items()}

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        variables = variables or {}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                return str(self.get_att(logical, attr))
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack,
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.physical:
            return self.physical[name]
        params = self.template.get("Parameters", {})
        if name in params:
            spec = params[name]
            value = spec.get("Default", f"param-{name.lower()}")
            if spec.get("Type") == "CommaDelimitedList":
                return [x.strip() for x in str(value).split(",")] if value else []
            return str(value)
        resource = self.resources[name]
        kind, props = resource["Type"], resource.get("Properties", {})
        named = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Glue::Job": "Name",
            "AWS::Athena::WorkGroup": "Name",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::IAM::Role": "RoleName",
            "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::SSM::Parameter": "Name",
            "AWS::Events::Rule": "Name",
        }
        if kind == "AWS::Glue::Database":
            return self.resolve(props["DatabaseInput"]["Name"])
        if kind == "AWS::StepFunctions::StateMachine":
            return self.get_att(name, "Arn")
        if kind == "AWS::SecretsManager::Secret":
            secret = self.resolve(props.get("Name", name))
            arn = f"arn:{self.partition}:secretsmanager:{self.region}:{self.account}:secret"
            return f"{arn}:{secret}-AbCdEf"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self._queue(name)}"
        if kind == "AWS::KMS::Key":
            return f"key-{name.lower()}"
        field_name = named.get(kind)
        if field_name and field_name in props:
            return self.resolve(props[field_name])
        if kind in ("AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Glue::Job"):
            return f"{self.stack}-{name}"
        return name

    def _queue(self, name: str) -> str:
        props = self.resources[name].get("Properties", {})
        return self.resolve(props["QueueName"]) if "QueueName" in props else f"{self.stack}-{name}"

    def get_att(self, name: str, attr: str) -> Any:
        resource = self.resources[name]
        kind = resource["Type"]
        p, r, a = self.partition, self.region, self.account
        if attr != "Arn":
            return f"{name}.{attr}"
        if kind == "AWS::S3::Bucket":
            return f"arn:{p}:s3:::{self.ref(name)}"
        if kind == "AWS::KMS::Key":
            return f"arn:{p}:kms:{r}:{a}:key/{self.ref(name)}"
        if kind == "AWS::Lambda::Function":
            return f"arn:{p}:lambda:{r}:{a}:function:{self.ref(name)}"
        if kind == "AWS::IAM::Role":
            return f"arn:{p}:iam::{a}:role/{self.ref(name)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:{p}:sqs:{r}:{a}:{self._queue(name)}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:{p}:logs:{r}:{a}:log-group:{self.ref(name)}:*"
        if kind == "AWS::StepFunctions::StateMachine":
            props = resource.get("Properties", {})
            machine = self.resolve(props.get("StateMachineName", f"{self.stack}-{name}"))
            return f"arn:{p}:states:{r}:{a}:stateMachine:{machine}"
        if kind == "AWS::SecretsManager::Secret":
            return self.ref(name)
        return f"arn:{p}:cloudformation:{r}:{a}:{name}"

    # -- what the template says
    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: r for n, r in self.resources.items() if r.get("Type") == kind}

    def role_of(self, role_arn_node: Any) -> str:
        """The logical id of the role a resource's Role/RoleArn names."""
        if isinstance(role_arn_node, dict) and "Fn::GetAtt" in role_arn_node:
            value = role_arn_node["Fn::GetAtt"]
            return value.split(".")[0] if isinstance(value, str) else value[0]
        if isinstance(role_arn_node, dict) and "Ref" in role_arn_node:
            return role_arn_node["Ref"]
        raise ValueError(f"cannot tell the role of {role_arn_node!r}")

    def statements(self, role: str) -> list[Statement]:
        """Every statement of the role's policies (inline, RolePolicy/Policy, ManagedPolicy of
        this template), resolved."""
        found: list[Statement] = []
        props = self.resources[role].get("Properties", {})
        for policy in props.get("Policies", []):
            found += self._statements(
                role, f"{role}/{policy['PolicyName']}", policy["PolicyDocument"]
            )
        managed_refs = {
            x["Ref"]
            for x in props.get("ManagedPolicyArns", [])
            if isinstance(x, dict) and "Ref" in x
        }
        for name, resource in self.resources.items():
            kind, p = resource.get("Type"), resource.get("Properties", {})
            names = [p.get("RoleName"), *p.get("Roles", [])]
            attached = any(isinstance(x, dict) and x.get("Ref") == role for x in names)
            policy = kind in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy") and attached
            managed = kind == "AWS::IAM::ManagedPolicy" and (attached or name in managed_refs)
            if policy or managed:
                found += self._statements(role, name, p["PolicyDocument"])
        return found

    def _statements(self, role: str, where: str, document: Any) -> list[Statement]:
        raw = document.get("Statement", [])
        raw = raw if isinstance(raw, list) else [raw]
        return [Statement(role, where, i, self.resolve(s), s) for i, s in enumerate(raw)]

    def bucket_keys(self) -> dict[str, str]:
        """Bucket name -> the ARN of its SSE-KMS default key."""
        keys = {}
        for name, resource in self.of_type("AWS::S3::Bucket").items():
            rules = (
                resource.get("Properties", {})
                .get("BucketEncryption", {})
                .get("ServerSideEncryptionConfiguration", [])
            )
            for rule in rules:
                default = rule.get("ServerSideEncryptionByDefault", {})
                if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                    keys[self.ref(name)] = self._key_arn(self.resolve(default["KMSMasterKeyID"]))
        return keys

    def secret_keys(self) -> dict[str, str]:
        """Secret name -> the ARN of the key that encrypts it (customer managed keys only)."""
        keys = {}
        for resource in self.of_type("AWS::SecretsManager::Secret").values():
            props = resource.get("Properties", {})
            if props.get("KmsKeyId"):
                keys[self.resolve(props["Name"])] = self._key_arn(self.resolve(props["KmsKeyId"]))
        return keys

    def _key_arn(self, value: str) -> str:
        if value.startswith("arn:"):
            return value
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{value}"


def expand_foreach(template: dict[str, Any], deployment: Deployment) -> dict[str, dict]:
    """The template's resources with ``Fn::ForEach`` (AWS::LanguageExtensions) expanded."""
    found: dict[str, dict] = {}
    for name, resource in template["Resources"].items():
        if not name.startswith("Fn::ForEach::"):
            found[name] = resource
            continue
        identifier, collection, body = resource
        values = collection if isinstance(collection, list) else None
        if values is None:  # a Ref to a list parameter (resolved without the resources)
            spec = template["Parameters"][collection["Ref"]]
            values = [x.strip() for x in str(spec.get("Default", "")).split(",") if x.strip()]
        for value in values:
            for key, inner in body.items():
                placeholder = "${" + identifier + "}"
                text = json.dumps(inner).replace(placeholder, value)
                text = text.replace(json.dumps({"Ref": identifier}), json.dumps(value))
                found[key.replace(placeholder, value)] = json.loads(text)
    return found


# ---- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One IAM request a part makes: action on resource (with condition values)."""

    part: str
    role: str
    action: str
    resource: str
    conditions: tuple[tuple[str, str], ...] = ()
    origin: str = ""  # what made it (operation and key, file event, ASL state)

    def describe(self) -> str:
        cond = "".join(f" [{k}={v!r}]" for k, v in self.conditions)
        return (
            f"{self.part} ({self.role}): {self.action} on {self.resource}{cond}  <- {self.origin}"
        )


@dataclass
class Statement:
    role: str
    where: str  # the policy resource or inline policy
    index: int
    doc: dict[str, Any]  # resolved
    source: dict[str, Any]  # as written in the template

    def label(self) -> str:
        actions = self.doc.get("Action", self.doc.get("NotAction"))
        return f"{self.where} statement {self.index} ({self.doc.get('Effect')} {actions})"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


# Condition operators this module evaluates itself (moto's evaluator knows StringEquals only,
# ignores the rest, and turns an Allow whose condition fails into a Deny).
CONDITION_OPERATORS = {
    "StringEquals": lambda want, have: have in want,
    "StringLike": lambda want, have: any(_like(w, have) for w in want),
    "StringNotEquals": lambda want, have: have not in want,
    "StringNotLike": lambda want, have: not any(_like(w, have) for w in want),
    "ArnEquals": lambda want, have: have in want,
    "ArnLike": lambda want, have: any(_like(w, have) for w in want),
    "Bool": lambda want, have: have.lower() in [str(w).lower() for w in want],
}


def conditions_hold(condition: Mapping[str, Any], given: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        if_exists = operator.endswith("IfExists")
        check = CONDITION_OPERATORS.get(operator.removesuffix("IfExists"))
        if check is None:
            raise ValueError(f"condition operator {operator} is not evaluated here")
        for key, want in tests.items():
            if key not in given:
                if if_exists:
                    continue
                return False  # a request without the key does not match
            if not check([str(w) for w in _as_list(want)], given[key]):
                return False
    return True


def statement_applies(statement: Statement, access: Access) -> bool:
    """Whether the statement covers the access (action, resource, condition), whatever its
    effect. Action and resource matching is moto's (IAMPolicy), the condition is ours."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    doc = dict(statement.doc)
    condition = doc.pop("Condition", None)
    if "NotResource" in doc:  # moto ignores NotResource: matched here, Resource made "*"
        if any(_like(p, access.resource) for p in _as_list(doc.pop("NotResource"))):
            return False
        doc["Resource"] = "*"
    doc["Effect"] = "Allow"
    policy = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [doc]}))
    if policy.is_action_permitted(access.action, access.resource) != PermissionResult.PERMITTED:
        return False
    return condition is None or conditions_hold(condition, dict(access.conditions))


def allowed(statements: list[Statement], access: Access) -> bool:
    """Some statement allows the access and none denies it."""
    applying = [s for s in statements if statement_applies(s, access)]
    if any(s.doc.get("Effect") == "Deny" for s in applying):
        return False
    return any(s.doc.get("Effect") == "Allow" for s in applying)


# ---- recording AWS calls -------------------------------------------------------------------


@dataclass
class ApiCall:
    part: str
    service: str  # IAM prefix
    operation: str
    params: dict[str, Any]
    answer: dict[str, Any] = field(default_factory=dict)  # the little kept of the answer
    code: str = ""  # the project's innermost frame that made it (file:line function)


# Frames not worth naming as where a call comes from (the storage layer under everything).
GENERIC_FRAMES = ("spapi_toolkit/lake/storage.py",)


def calling_code() -> str:
    """The innermost frame of the project's code (spapi_toolkit/, glue_jobs/) on the stack,
    skipping the storage layer when something above it is the project's too."""
    frame = sys._getframe(2)
    fallback = ""
    while frame is not None:
        name = frame.f_code.co_filename
        for top in ("spapi_toolkit/", "glue_jobs/"):
            if f"/{top}" in name:
                where = (
                    f"{top}{name.split(f'/{top}', 1)[1]}:{frame.f_lineno} {frame.f_code.co_name}"
                )
                if not name.endswith(GENERIC_FRAMES):
                    return where
                fallback = fallback or where
        frame = frame.f_back  # type: ignore[assignment]
    return fallback


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """The call's parameters without bodies (large, and no one's business here)."""
    kept = {}
    for key, value in params.items():
        if key in ("Body", "SecretString", "SecretBinary", "Payload", "Entries"):
            continue
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        kept[key] = value
    return kept


class ApiRecorder:
    """Records every botocore call of the process (all clients), with the current part."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.part: str | None = None
        self._paused = 0
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> ApiRecorder:
        from botocore.client import BaseClient

        self._original = original = BaseClient._make_api_call
        recorder = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict) -> Any:
            answer = original(client, operation_name, api_params)
            if recorder.part is not None and not recorder._paused:
                model = client.meta.service_model
                name = model.service_name
                service = IAM_PREFIX.get(name, IAM_PREFIX.get(model.endpoint_prefix, name))
                kept = {}
                if operation_name == "StartQueryExecution":
                    kept = {"QueryExecutionId": answer.get("QueryExecutionId")}
                with recorder._lock:
                    recorder.calls.append(
                        ApiCall(recorder.part, service, operation_name, _jsonable(api_params),
                                kept, calling_code())
                    )  # fmt: skip
            return answer

        BaseClient._make_api_call = _make_api_call
        return self

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            BaseClient._make_api_call = self._original

    @contextmanager
    def as_part(self, part: str) -> Iterator[None]:
        before, self.part = self.part, part
        try:
            yield
        finally:
            self.part = before

    @contextmanager
    def paused(self) -> Iterator[None]:
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps([vars(c) for c in self.calls]))

    @staticmethod
    def load(path: Path) -> list[ApiCall]:
        return [ApiCall(**c) for c in json.loads(path.read_text())]


# ---- recording local file accesses ---------------------------------------------------------


class FileWatch:
    """inotify on every folder under ``root`` (new folders are watched, then rescanned, so a
    file made in one before its watch is still seen as written). ``events`` counts (kind,
    relative path) with kind read/write/delete for files and list for folders."""

    def __init__(self, root: Path) -> None:
        from inotify_simple import INotify, flags

        self.root = Path(root)
        self.flags = flags
        self.inotify = INotify()
        self.mask = (
            flags.OPEN | flags.ACCESS | flags.CLOSE_NOWRITE | flags.CLOSE_WRITE | flags.CREATE
            | flags.MODIFY | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE
        )  # fmt: skip
        self.watches: dict[int, Path] = {}
        self.events: Counter[tuple[str, str]] = Counter()
        self.overflowed = False
        self._own_opens: Counter[Path] = Counter()  # folder opens of our own scans
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FileWatch:
        self._watch(self.root, record=False)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.inotify.close()

    def _rel(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        return "" if rel == "." else rel

    def _watch(self, folder: Path, record: bool) -> None:
        try:
            wd = self.inotify.add_watch(folder, self.mask | self.flags.ONLYDIR)
        except OSError:
            return  # gone already
        self.watches[wd] = folder
        self._own_opens[folder] += 1
        try:
            entries = list(os.scandir(folder))
        except OSError:
            self._own_opens[folder] -= 1
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._watch(Path(entry.path), record)
            elif record:
                self.events[("write", self._rel(Path(entry.path)))] += 1

    def _run(self) -> None:
        quiet = 0
        while True:
            events = self.inotify.read(timeout=100)
            if not events:
                if self._stop.is_set():
                    quiet += 1
                    if quiet >= 3:
                        return
                continue
            quiet = 0
            for event in events:
                self._handle(event)

    def _handle(self, event: Any) -> None:
        flags = self.flags
        if event.mask & flags.Q_OVERFLOW:
            self.overflowed = True
            return
        folder = self.watches.get(event.wd)
        if folder is None or event.mask & flags.IGNORED:
            return
        if event.mask & flags.ISDIR:
            if event.name and event.mask & (flags.CREATE | flags.MOVED_TO):
                self._watch(folder / event.name, record=True)
            elif not event.name and event.mask & flags.OPEN:
                if self._own_opens[folder] > 0:
                    self._own_opens[folder] -= 1
                else:
                    self.events[("list", self._rel(folder))] += 1
            return
        path = folder / event.name
        for flag_name, kind in INOTIFY_KINDS.items():
            if event.mask & getattr(flags, flag_name):
                self.events[(kind, self._rel(path))] += 1


_TEMP = re.compile(r"^\.tmp-\d+-[0-9a-f]{8}-(.+)\.[^.]+$")


def lake_key(relative: str) -> str | None:
    """The lake key a local file is (a LocalLake temp file is its key's write); None for what
    has no S3 counterpart (Hadoop's local .crc checksums, the lake's clock probe)."""
    if not relative:
        return ""
    *folders, name = relative.split("/")
    if name.startswith(".") and name.endswith(".crc"):
        return None
    if name.startswith(".tmp-"):
        temp = _TEMP.match(name)
        if temp is None or temp.group(1).startswith("clock-"):
            return None
        name = temp.group(1)
    return "/".join([*folders, name])


def s3_location(lake_uri: str, key: str) -> tuple[str, str]:
    """(bucket, S3 key) of a lake key in the zoned S3 lake ``lake_uri`` (storage's routing)."""
    from spapi_toolkit.lake.storage import Lake, S3Lake, ZonedLake

    lake = Lake.from_uri(lake_uri, s3_client=object())
    target = (lake._route(key) if key else lake.main) if isinstance(lake, ZonedLake) else lake
    assert isinstance(target, S3Lake)
    s3_key = f"{target.prefix}/{key}" if target.prefix else key
    return target.bucket, s3_key.strip("/") if not key else s3_key


def file_calls(part: str, events: Iterable[tuple[str, str]], lake_uri: str) -> list[ApiCall]:
    """The file events of a local lake as the S3 calls they are on the S3 lake."""
    calls = []
    for kind, relative in events:
        key = lake_key(relative)
        if key is None:
            continue
        if relative.rsplit("/", 1)[-1].startswith(".tmp-") and kind != "write":
            continue  # a temp file's open, rename or removal is part of the key's one PutObject
        bucket, s3_key = s3_location(lake_uri, key)
        operation = FILE_EVENTS[kind]
        if operation == "ListObjectsV2":
            params = {"Bucket": bucket, "Prefix": f"{s3_key}/" if s3_key else ""}
        else:
            params = {"Bucket": bucket, "Key": s3_key}
        params["_origin"] = f"file {kind} {relative or '.'}"
        calls.append(ApiCall(part, "s3", operation, params))
    return calls


# ---- calls -> IAM requests -------------------------------------------------------------------


@dataclass
class Translator:
    """Turns recorded calls into ``Access``es in IAM terms for one deployment."""

    deployment: Deployment
    secret_arns: dict[str, str]  # secret name -> ARN (the secrets moto holds)
    queue_arns: dict[str, str] = field(default_factory=dict)  # queue URL -> ARN
    workgroups: dict[str, str] = field(default_factory=dict)  # query id -> workgroup
    # (bucket, key) -> the KMS key an object was written with (SSEKMSKeyId, else the bucket's
    # default key): the key a later read decrypts with.
    object_keys: dict[tuple[str, str], str] = field(default_factory=dict)

    def accesses(self, calls: Iterable[ApiCall], roles: Mapping[str, str]) -> list[Access]:
        bucket_keys = self.deployment.bucket_keys()
        secret_keys = self.deployment.secret_keys()
        found: list[Access] = []
        for call in calls:
            if call.operation == "StartQueryExecution":
                self.workgroups[call.answer.get("QueryExecutionId") or ""] = call.params.get(
                    "WorkGroup", "primary"
                )
        for call in calls:
            role = roles[call.part]
            if call.service == "s3":
                found += self._s3(call, role, bucket_keys)
                continue
            kinds = OPERATIONS.get((call.service, call.operation), ("any",))
            if kinds is None:
                continue
            origin = f"{call.service}:{call.operation} {_short(call.params)}{_at(call)}"
            condition_params = OPERATION_CONDITIONS.get((call.service, call.operation), {})
            conditions = tuple(
                (key, str(call.params[param]))
                for key, param in condition_params.items()
                if param in call.params
            )
            action = f"{call.service}:{call.operation}"
            for kind in kinds:
                resource = self._arn(kind, call)
                found.append(Access(call.part, role, action, resource, conditions, origin))
            if call.service == "secretsmanager":
                name = self._secret_name(call.params.get("SecretId", ""))
                for kms_action in SECRET_KMS.get(call.operation, []):
                    if name in secret_keys:
                        found.append(
                            Access(call.part, role, kms_action, secret_keys[name], (), origin)
                        )
        return found

    def _secret_name(self, secret_id: str) -> str:
        for name, arn in self.secret_arns.items():
            if secret_id in (name, arn):
                return name
        return secret_id

    def _arn(self, kind: str, call: ApiCall) -> str:
        d = self.deployment
        values: dict[str, Any] = {
            "partition": d.partition,
            "region": d.region,
            "account": d.account,
            "TableName": "*",
            "DatabaseName": "*",
            "WorkGroup": "primary",
            **call.params,
        }
        if call.service == "glue" and call.operation.endswith("Database"):
            values["DatabaseName"] = call.params.get("Name", "*")
        if "TableInput" in call.params:
            values["TableName"] = call.params["TableInput"].get("Name", "*")
        if "Name" in call.params and isinstance(call.params["Name"], str):
            values["Name_noslash"] = call.params["Name"].lstrip("/")
        if kind == "secret":
            secret_id = call.params.get("SecretId", "")
            values["secret_arn"] = self.secret_arns.get(secret_id, secret_id)
        if kind == "queue":
            url = call.params.get("QueueUrl", "")
            values["queue_name"] = url.rstrip("/").rsplit("/", 1)[-1]
        if kind == "workgroup" and "WorkGroup" not in call.params:
            values["WorkGroup"] = self.workgroups.get(
                call.params.get("QueryExecutionId", ""), "primary"
            )
        if kind == "kms_key":
            values["key_arn"] = d._key_arn(call.params.get("KeyId", "*"))
        return ARN_FORMS[kind].format(**values)

    def _s3(self, call: ApiCall, role: str, bucket_keys: Mapping[str, str]) -> list[Access]:
        p = call.params
        origin = (
            p.get("_origin")
            or f"s3:{call.operation} s3://{p.get('Bucket')}/{p.get('Key', p.get('Prefix', ''))}"
        ) + _at(call)
        found = []
        for action, what in S3_ACTIONS.get(call.operation, [(f"s3:{call.operation}", "bucket")]):
            bucket, conditions = p["Bucket"], ()
            if what == "object":
                resources = [f"arn:aws:s3:::{bucket}/{p['Key']}"]
            elif what == "objects":
                resources = [f"arn:aws:s3:::{bucket}/{o['Key']}" for o in p["Delete"]["Objects"]]
            elif what == "source":
                source = p["CopySource"]
                if isinstance(source, str):
                    bucket, _, key = unquote(source).lstrip("/").partition("/")
                else:
                    bucket, key = source["Bucket"], source["Key"]
                resources = [f"arn:aws:s3:::{bucket}/{key}"]
            else:
                resources = [f"arn:aws:s3:::{bucket}"]
                if call.operation in ("ListObjectsV2", "ListObjects"):
                    conditions = (("s3:prefix", p.get("Prefix", "")),)
            for resource in resources:
                found.append(Access(call.part, role, action, resource, conditions, origin))
            if what not in ("object", "source"):
                continue
            key = p["Key"] if what == "object" else resources[0].split("/", 1)[1]
            kms = S3_KMS.get(call.operation, [])
            if what == "source":
                kms = ["kms:Decrypt"]
            elif call.operation in ("CopyObject", "UploadPartCopy"):
                kms = ["kms:GenerateDataKey"]
            written_with = p.get("SSEKMSKeyId")
            if "kms:GenerateDataKey" in kms:
                chosen = (
                    self.deployment._key_arn(written_with) if written_with
                    else bucket_keys.get(bucket)
                )  # fmt: skip
                if chosen:
                    self.object_keys[(bucket, key)] = chosen
            kms_key = self.object_keys.get((bucket, key), bucket_keys.get(bucket))
            if kms_key is None:
                continue
            for kms_action in kms:
                found.append(Access(call.part, role, kms_action, kms_key, (), origin))
        return found


def _at(call: ApiCall) -> str:
    return f" (at {call.code})" if call.code else ""


def _short(params: Mapping[str, Any]) -> str:
    keep = (
        "SecretId",
        "Name",
        "DatabaseName",
        "TableName",
        "WorkGroup",
        "QueueUrl",
        "stateMachineArn",
    )
    shown = {k: params[k] for k in keep if k in params}
    if "TableInput" in params:
        shown["TableName"] = params["TableInput"].get("Name")
    return json.dumps(shown)


# ---- the state machines' own accesses, from their ASL --------------------------------------


def _path(document: Any, path: str) -> Any:
    """A JSONPath of the simple form ``$.a.b`` in ``document``."""
    node = document
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            node = node[part]
    return node


def _states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _states(processor["States"])


def asl_calls(
    deployment: Deployment,
    part: str,
    machine: str,
    definition: Mapping[str, Any],
    substitutions: Mapping[str, str],
    execution_input: Mapping[str, Any],
) -> tuple[list[Access], list[ApiCall]]:
    """What one state machine's states need: the non-S3 accesses (``Access``) and its S3
    reads and writes as calls (translated with the S3 tables). S3 locations given by paths
    (``Bucket.$``) are read from ``execution_input`` (the input the execution is given)."""
    d = deployment
    text = json.dumps(definition)
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", str(value))
    asl = json.loads(text)
    own_arn = d.get_att(machine, "Arn")
    own_name = own_arn.rsplit(":", 1)[-1]
    accesses: list[Access] = []
    calls: list[ApiCall] = []
    prefix = f"arn:{d.partition}:states:{d.region}:{d.account}"
    glue = f"arn:{d.partition}:glue:{d.region}:{d.account}"
    map_labels = {  # a distributed Map's result path -> its label (its map runs' names)
        str(state.get("ResultPath")): state.get("Label", name)
        for name, state in _states(asl["States"])
        if state.get("Type") == "Map"
        and state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    }
    for name, state in _states(asl["States"]):
        origin = f"ASL {own_name} state {name}"
        params = state.get("Parameters", {})
        resource = state.get("Resource")
        if state.get("Type") == "Task" and resource:
            forms = ASL_TASKS.get(resource)
            sdk = resource.removeprefix("arn:aws:states:::aws-sdk:")
            if forms is None and sdk != resource:
                service, action = sdk.split(":", 1)
                forms = [ASL_SDK.get(sdk, (f"{IAM_PREFIX.get(service, service)}:"
                                           f"{action[:1].upper()}{action[1:]}", "*"))]  # fmt: skip
            if forms is None:
                raise ValueError(f"{origin}: no access table for Task resource {resource}")
            map_path = str(params.get("MapRunArn.$", "")).removesuffix(".MapRunArn")
            label = map_labels.get(map_path, next(iter(map_labels.values()), "map"))
            target = params.get("StateMachineArn", "")
            values = {
                **{k: v for k, v in params.items() if isinstance(v, str)},
                "ExecutionArn": f"{prefix}:execution:{target.rsplit(':', 1)[-1]}:replay",
                "SyncRuleArn": f"arn:{d.partition}:events:{d.region}:{d.account}:rule/"
                "StepFunctionsGetEventsForStepFunctionsExecutionRule",
                "JobArn": f"{glue}:job/{params.get('JobName')}",
                "MapRunArn": f"{prefix}:mapRun:{own_name}/{label}:replay",
            }
            for action, form in forms:
                accesses.append(
                    Access(part, "", action, form.format(**values), (), f"{origin} ({resource})")
                )
        if state.get("Type") == "Map":
            mode = state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode")
            if mode == "DISTRIBUTED":
                values = {
                    "OwnArn": own_arn,
                    "OwnMapRunExecutionArn": (
                        f"{prefix}:execution:{own_name}/{state.get('Label', name)}:replay"
                    ),
                }
                for action, form in ASL_DISTRIBUTED_MAP:
                    accesses.append(
                        Access(
                            part,
                            "",
                            action,
                            form.format(**values),
                            (),
                            f"{origin} (distributed Map)",
                        )
                    )
            reader = state.get("ItemReader")
            if reader:
                rp = reader.get("Parameters", {})
                bucket = rp.get("Bucket") or _path(execution_input, rp["Bucket.$"])
                key = rp.get("Key") or _path(execution_input, rp["Key.$"])
                for operation in ASL_ITEM_READER[reader["Resource"]]:
                    where = f"{origin} ItemReader s3://{bucket}/{key}"
                    params = {"Bucket": bucket, "Key": key, "_origin": where}
                    calls.append(ApiCall(part, "s3", operation, params))
            writer = state.get("ResultWriter")
            if writer:
                wp = writer.get("Parameters", {})
                bucket = wp.get("Bucket") or _path(execution_input, wp["Bucket.$"])
                key_prefix = wp.get("Prefix") or _path(
                    execution_input, wp.get("Prefix.$", "$.none")
                )
                for leaf in ("manifest.json", "SUCCEEDED_0.json"):
                    key = f"{key_prefix.rstrip('/')}/replay-map-run/{leaf}"
                    for operation in ASL_RESULT_WRITER[writer["Resource"]]:
                        where = f"{origin} ResultWriter s3://{bucket}/{key}"
                        params = {"Bucket": bucket, "Key": key, "_origin": where}
                        calls.append(ApiCall(part, "s3", operation, params))
    return accesses, calls


# ---- a Glue entry script under the recorder (a child process) -------------------------------


def _run_glue(out: Path, s3_lake: str, script: str, args: list[str]) -> int:
    """Run ``glue_jobs/<script>.py ARGS`` as its entry script, recording its AWS calls to
    ``out``. The job's lake is local (Spark has no s3a here), so its catalog step registers
    the S3 lake ``s3_lake`` instead, after copying the zone up unrecorded: the calls it then
    makes (S3 listings of the zone, Glue) are what it makes on AWS."""
    import runpy

    recorder = ApiRecorder().install()
    from spapi_toolkit.lake import catalog

    original = catalog.register

    def register(lake: Any, database: str, *, zone: str = "cleaned", **kwargs: Any) -> Any:
        from spapi_toolkit.lake.storage import Lake

        local, remote = (
            Lake.from_uri(str(lake.uri if hasattr(lake, "uri") else lake)),
            Lake.from_uri(s3_lake),
        )
        with recorder.paused():
            for key in local.list(f"{zone}/"):
                remote.write_bytes(key, local.read_bytes(key))
        return original(remote, database, zone=zone, **kwargs)

    catalog.register = register  # type: ignore[assignment]
    sys.argv = [str(ROOT / "glue_jobs" / f"{script}.py"), *args]
    status = 0
    with recorder.as_part(script):
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
        except SystemExit as exc:
            status = int(exc.code or 0)
        finally:
            recorder.dump(out)
    return status


def copy_tree(source: Any, target: Any, prefix: str = "") -> int:
    """Copy every key under ``prefix`` from one lake to another; how many."""
    count = 0
    for key in source.list(prefix):
        target.write_bytes(key, source.read_bytes(key))
        count += 1
    return count


def s3_uri_parts(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")


def mutated(template: dict[str, Any], statement: Statement) -> dict[str, Any]:
    """A copy of the template without ``statement`` (found by where it is written)."""
    changed = copy.deepcopy(template)
    resources = changed["Resources"]
    role = resources.get(statement.role, {})
    for policy in role.get("Properties", {}).get("Policies", []):
        if f"{statement.role}/{policy['PolicyName']}" == statement.where:
            del policy["PolicyDocument"]["Statement"][statement.index]
            return changed
    holder = resources[statement.where]["Properties"]["PolicyDocument"]
    del holder["Statement"][statement.index]
    return changed


if __name__ == "__main__":  # python -m tests.access glue OUT S3_LAKE SCRIPT ARGS...
    if sys.argv[1] != "glue":
        raise SystemExit(
            f"usage: python -m tests.access glue OUT S3_LAKE SCRIPT ARGS (not {sys.argv[1]})"
        )
    raise SystemExit(_run_glue(Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]))
