"""The whole generated stack (``infra/template.yaml``) created in moto's CloudFormation to
CREATE_COMPLETE, its resources read back as the template says, and the Lambda handlers run
in-process, each with the environment moto holds for its function, against the stack's own
bucket, key and parameters (and the local SP-API sandbox).

What moto 5.2.6's CloudFormation cannot do, and what this test does about it:

* It skips, with a warning, every resource of a type it does not implement (the stack still
  completes; the resource has no physical id). Of the template's types: ``AWS::S3::BucketPolicy``,
  ``AWS::SQS::QueuePolicy``, ``AWS::SNS::TopicPolicy``, ``AWS::SNS::Subscription``,
  ``AWS::CloudWatch::Alarm``, ``AWS::SecretsManager::Secret``, ``AWS::Glue::Database``,
  ``AWS::Glue::Table``, ``AWS::Glue::Job``, ``AWS::Glue::Trigger``,
  ``AWS::Glue::SecurityConfiguration``, ``AWS::LakeFormation::Resource``,
  ``AWS::LakeFormation::PrincipalPermissions`` and ``AWS::Athena::WorkGroup`` (and
  ``AWS::IAM::RolePolicy``): ``UNSUPPORTED``, which a test holds to moto's own list. Their
  properties are checked statically by tests/infra/test_template.py. What the handlers need of
  them is made here from the template's own properties, as CloudFormation would: the Glue
  databases and tables (the Lake Formation custom resource governs them) and the secrets.
  The sellers' secrets are not the stack's (``spapi auth exchange --store-secret`` makes them):
  the test stores the sandbox seller's as that does.
* A custom resource (``Custom::LakeFormationSettings``) is sent to its Lambda function, which
  moto runs only in Docker, which the tests do not have: the invocation fails in moto's thread
  and the stack waits (CREATE_IN_PROGRESS) for the answer. The test plays Lambda: it calls the
  function's handler (``handlers.lake_formation_settings``, in-process, with the function's
  environment) with the CloudFormation event, whose ``ResponseURL`` is moto's own
  ``cfnresponse`` endpoint; the handler's answer completes the stack.
* It does not enforce IAM: the roles are checked as written, not as evaluated.
"""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.aws import handlers

from ..support import END_DATE

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
STACK = "spapi-stack"
ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's account; conftest's region
ARTIFACTS = f"{STACK}-artifacts-{ACCOUNT}-{REGION}"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/deployer"
DATASETS = "sales_traffic_by_asin,orders_by_order_date"
FIRST, LAST = date(2026, 11, 10), date(2026, 11, 11)

# Resource types moto's CloudFormation skips (see the module doc): the template's are all here.
UNSUPPORTED = {
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::RolePolicy",
    "AWS::SecretsManager::Secret",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Glue::Job",
    "AWS::Glue::Trigger",
    "AWS::Glue::SecurityConfiguration",
    "AWS::LakeFormation::Resource",
    "AWS::LakeFormation::PrincipalPermissions",
    "AWS::Athena::WorkGroup",
}


def lambda_bundle() -> bytes:
    """The project's package as the Lambda zip holds it (``make package`` adds the dependencies
    for Lambda's platform, from the registry; moto only stores the code, never runs it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "spapi_toolkit").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(path.relative_to(ROOT).as_posix(), (2020, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class Resolver:
    """The template's intrinsic functions with the stack's values (what CloudFormation did)."""

    def __init__(
        self, refs: dict[str, Any], arn: Callable[[str], str], ref: Callable[[str], Any]
    ) -> None:
        self.refs, self.arn, self.ref = refs, arn, ref
        self.sub_ref = ref

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.refs[arg] if arg in self.refs else self.ref(arg)
            if key == "Fn::GetAtt":
                assert arg[1] == "Arn", arg
                return self.arn(arg[0])
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self(arg[1]))
            if key == "Fn::Split":
                return self(arg[1]).split(arg[0])
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._name(m[1], extra), text)
        return {k: self(v) for k, v in value.items()}

    def _name(self, name: str, extra: dict[str, Any]) -> str:
        if name in extra:
            return str(extra[name])
        if name.endswith(".Arn"):
            return self.arn(name[: -len(".Arn")])
        value = self.refs[name] if name in self.refs else self.sub_ref(name)
        return ",".join(value) if isinstance(value, list) else str(value)


def without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def wait_for(status: Callable[[], str], until: set[str], seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while (now := status()) not in until:
        assert time.monotonic() < deadline, f"still {now}"
        time.sleep(0.2)
    return now


class Stack:
    """The created stack: its template (as moto got it), resources and resolver."""

    def __init__(self, endpoint: str, template: dict[str, Any], parameters: dict[str, str]):
        self.endpoint, self.template, self.parameters = endpoint, template, parameters
        cloudformation = boto3.client("cloudformation")
        self.stack_id = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
        summaries = [
            s
            for page in cloudformation.get_paginator("list_stack_resources").paginate(
                StackName=STACK
            )
            for s in page["StackResourceSummaries"]
        ]
        self.physical = {
            s["LogicalResourceId"]: s["PhysicalResourceId"]
            for s in summaries
            if s.get("PhysicalResourceId")
        }
        self.types = {s["LogicalResourceId"]: s["ResourceType"] for s in summaries}
        # moto lists a skipped resource with no logical id, so count them
        self.skipped = sum(1 for s in summaries if not s["LogicalResourceId"])
        declared = template["Parameters"]
        refs: dict[str, Any] = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": "amazonaws.com",
        }
        for name, spec in declared.items():
            value = str(parameters.get(name, spec.get("Default", "")))
            refs[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        refs.update(self.physical)
        self.resolve = Resolver(refs, self.arn, self.skipped_ref)
        # What the stack has: a resource under a false Condition is not made.
        conditions = template.get("Conditions", {})
        self.resources: dict[str, dict[str, Any]] = {
            n: r
            for n, r in template["Resources"].items()
            if "Condition" not in r or self.condition(conditions, conditions[r["Condition"]])
        }

    def condition(self, conditions: dict[str, Any], value: Any) -> Any:
        """A condition's value (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)."""
        if not isinstance(value, dict):
            return value
        ((key, arg),) = value.items()
        if key == "Condition":
            return self.condition(conditions, conditions[arg])
        if key == "Fn::Equals":
            first, second = (self.resolve(self.condition(conditions, a)) for a in arg)
            return first == second
        if key == "Fn::Not":
            return not self.condition(conditions, arg[0])
        if key == "Fn::And":
            return all(self.condition(conditions, a) for a in arg)
        if key == "Fn::Or":
            return any(self.condition(conditions, a) for a in arg)
        return self.resolve(value)

    def skipped_ref(self, name: str) -> str:
        """The Ref of a resource moto skipped, as AWS gives it: its name (the Glue database,
        job, ...); a secret's Ref (its ARN) is known once the test made it."""
        props = self.resolve(self.resources[name]["Properties"])
        return props["DatabaseInput"]["Name"] if "DatabaseInput" in props else props["Name"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}

    def properties(self, name: str) -> dict[str, Any]:
        return self.resolve(self.resources[name].get("Properties", {}))

    def arn(self, name: str) -> str:
        kind, physical = self.resources[name]["Type"], self.physical.get(name)
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::IAM::Role":
            return boto3.client("iam").get_role(RoleName=physical)["Role"]["Arn"]
        if kind == "AWS::Lambda::Function":
            client = boto3.client("lambda")
            return client.get_function_configuration(FunctionName=physical)["FunctionArn"]
        if kind == "AWS::KMS::Key":
            # (moto's DescribeKey fails on a key its CloudFormation made: it keeps the
            # KeyPolicy as an object, then parses it as text.)
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{physical}"
        if kind == "AWS::SQS::Queue":
            attributes = boto3.client("sqs").get_queue_attributes(
                QueueUrl=physical, AttributeNames=["QueueArn"]
            )
            return attributes["Attributes"]["QueueArn"]
        if kind == "AWS::Logs::LogGroup":
            # What moto's GetAtt gives: the group's ARN (AWS's ends in ":*" besides).
            (group,) = boto3.client("logs").describe_log_groups(logGroupNamePrefix=physical)[
                "logGroups"
            ]
            return str(group["arn"]).removesuffix(":*")
        if kind in ("AWS::StepFunctions::StateMachine", "AWS::SNS::Topic"):
            return physical  # their Ref is their ARN
        raise AssertionError(f"no ARN for {name} ({kind}) in this test")

    def status(self) -> str:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
        return stacks[0]["StackStatus"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with run_sandbox(end_date=END_DATE, scale=3600) as running:
        yield running


@pytest.fixture(scope="module")
def created(moto_server) -> Iterator[Stack]:
    """The stack, created as `spapi deploy` does (artifacts first, template by URL), left in
    moto's CREATE_IN_PROGRESS: waiting for its custom resource (see the module doc)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        bundle = lambda_bundle()
        code_key = f"lambda/{hashlib.sha256(bundle).hexdigest()[:16]}/spapi-lake-lambda.zip"
        parameters = {
            "ArtifactBucket": ARTIFACTS,
            "LambdaCodeKey": code_key,
            "GlueWheelKey": "glue/0123456789abcdef/spapi_lake-0.1.0-py3-none-any.whl",
            "GlueDependenciesKey": "glue/0123456789abcdef/spapi-lake-glue-deps.gluewheels.zip",
            "GlueScriptsPrefix": "glue/scripts-0123456789abcdef/",
            "DataLakeAdminArns": ADMIN,
            "SellerProfiles": "main",
            "Marketplaces": "US",
            "Datasets": DATASETS,
            "LookbackDays": "2",
            # Databases of its own: the moto server is the session's, and other modules make
            # the default prefix's databases.
            "DatabasePrefix": "stacktest",
        }
        template = yaml.safe_load(TEMPLATE.read_text())
        required = {n for n, p in template["Parameters"].items() if "Default" not in p}
        assert required <= set(parameters), f"give the new parameters: {required - set(parameters)}"
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS)
        s3.put_object(Bucket=ARTIFACTS, Key=code_key, Body=bundle)
        body = json.dumps(template)
        template_key = f"templates/{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"
        s3.put_object(Bucket=ARTIFACTS, Key=template_key, Body=body.encode())
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateURL=f"https://{ARTIFACTS}.s3.amazonaws.com/{template_key}",
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        stack = Stack(moto_server, template, parameters)
        stack.bundle = bundle  # type: ignore[attr-defined]
        yield stack


@pytest.fixture(scope="module")
def stack(created: Stack) -> Stack:
    """The stack at CREATE_COMPLETE: what moto skipped and the handlers need made from the
    template, then the custom resource answered by its handler."""
    glue = boto3.client("glue")
    for name in created.of_type("AWS::Glue::Database"):
        props = created.properties(name)
        glue.create_database(CatalogId=props["CatalogId"], DatabaseInput=props["DatabaseInput"])
    for name in created.of_type("AWS::Glue::Table"):
        props = created.properties(name)
        glue.create_table(
            CatalogId=props["CatalogId"],
            DatabaseName=props["DatabaseName"],
            TableInput=props["TableInput"],
        )
    for name in created.of_type("AWS::SecretsManager::Secret"):
        props = created.properties(name)
        made = boto3.client("secretsmanager").create_secret(
            Name=props["Name"],
            Description=props["Description"],
            KmsKeyId=props["KmsKeyId"],
            SecretString=props.get("SecretString") or "x" * 64,  # GenerateSecretString
        )
        created.resolve.refs[name] = made["ARN"]  # a secret's Ref

    assert created.status() == "CREATE_IN_PROGRESS"  # waiting for the custom resource
    (name,) = created.of_type("Custom::LakeFormationSettings")
    properties = created.properties(name)
    function = properties["ServiceToken"]
    event = {
        "RequestType": "Create",
        "ServiceToken": function,
        "ResponseURL": f"{created.endpoint}/cloudformation_{REGION}/cfnresponse?stack="
        f"{created.stack_id}",
        "StackId": created.stack_id,
        "RequestId": "create-1",
        "LogicalResourceId": name,
        "ResourceType": "Custom::LakeFormationSettings",
        "ResourceProperties": properties,
    }
    with function_environment(function):
        handlers.lake_formation_settings(copy.deepcopy(event), None)
    assert wait_for(created.status, {"CREATE_COMPLETE", "CREATE_FAILED"}) == "CREATE_COMPLETE"
    return created


class function_environment:
    """The process environment a stack function runs with (read back from moto), plus
    ``extra``; restored after."""

    def __init__(self, function: str, extra: dict[str, str] | None = None) -> None:
        configuration = boto3.client("lambda").get_function_configuration(FunctionName=function)
        given = {**configuration["Environment"]["Variables"], **(extra or {})}
        self.variables = {k: str(v) for k, v in given.items()}
        self.patch = pytest.MonkeyPatch()

    def __enter__(self) -> dict[str, str]:
        for name, value in self.variables.items():
            self.patch.setenv(name, value)
        return self.variables

    def __exit__(self, *exc: object) -> None:
        self.patch.undo()


# ---- what moto does and does not make ---------------------------------------------------


def test_moto_skips_exactly_the_unsupported_types(stack):
    from moto.cloudformation.parsing import get_model_map

    kinds = {r["Type"] for r in stack.resources.values() if not r["Type"].startswith("Custom::")}
    missing = {k for k in kinds if k not in get_model_map()}
    assert missing - UNSUPPORTED == set(), "moto skips these too: add them (and to the doc)"
    assert (kinds & UNSUPPORTED) - missing == set(), "moto makes these now: test them"
    made = {n for n, r in stack.resources.items() if r["Type"] not in UNSUPPORTED}
    assert set(stack.physical) == made
    assert stack.skipped == len(stack.template["Resources"]) - len(made)


# ---- the resources as the template says ---------------------------------------------------


def test_buckets_are_named_encrypted_private_and_kept_clean(stack):
    s3 = boto3.client("s3")
    buckets = stack.of_type("AWS::S3::Bucket")
    assert len(buckets) == 4
    for name in buckets:
        props = stack.properties(name)
        bucket = stack.physical[name]
        assert bucket == props["BucketName"] and bucket.endswith(f"-{ACCOUNT}-{REGION}")
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": default["ServerSideEncryptionByDefault"]["KMSMasterKeyID"],
        }
        assert default["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] in (
            stack.arn(n) for n in stack.of_type("AWS::KMS::Key")
        )
        # (moto drops the public access block, lifecycle, versioning and ownership settings.)


def test_roles_hold_exactly_the_template_policies(stack):
    iam = boto3.client("iam")
    roles = stack.of_type("AWS::IAM::Role")
    assert roles
    for name in roles:
        # As moto resolved them: a Sub naming a resource it skipped keeps its "${Name}", a Ref
        # to one is None, and moto leaves out a field whose value is None.
        moto = Resolver(stack.resolve.refs, stack.arn, lambda skipped: None)
        moto.sub_ref = lambda skipped: "${%s}" % skipped
        props = without_none(moto(stack.resources[name]["Properties"]))
        role = iam.get_role(RoleName=stack.physical[name])["Role"]
        assert role["AssumeRolePolicyDocument"] == props["AssumeRolePolicyDocument"], name
        held = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
        assert sorted(held) == sorted(p["PolicyName"] for p in props["Policies"]), name
        for policy in props["Policies"]:
            text = json.dumps(stack.resources[name]["Properties"]["Policies"])
            skipped = [n for n in stack.template["Resources"] if n not in stack.physical]
            if any(re.search(r'"(Ref": "|\$\{)%s[}"]' % n, text) for n in skipped):
                continue  # names a resource moto skipped: moto's text of it is not AWS's
            document = iam.get_role_policy(
                RoleName=role["RoleName"], PolicyName=policy["PolicyName"]
            )["PolicyDocument"]
            if isinstance(document, str):  # moto keeps a stack role's policy as Python text
                document = ast.literal_eval(document)
            assert document == policy["PolicyDocument"], (name, policy["PolicyName"])


def test_functions_run_the_bundle_with_the_template_settings(stack):
    client = boto3.client("lambda")
    functions = stack.of_type("AWS::Lambda::Function")
    assert functions
    digest = hashlib.sha256(stack.bundle).digest()
    for name in functions:
        props = stack.properties(name)
        config = client.get_function_configuration(FunctionName=stack.physical[name])
        assert config["FunctionName"] == props["FunctionName"]
        assert config["Runtime"] == props["Runtime"] and config["Handler"] == props["Handler"]
        assert config["Timeout"] == props["Timeout"]
        assert config["MemorySize"] == props["MemorySize"]
        assert config["Role"] == props["Role"]
        # (moto keeps the template's numbers as numbers; Lambda gives strings.)
        assert {k: str(v) for k, v in config["Environment"]["Variables"].items()} == {
            k: str(v) for k, v in props["Environment"]["Variables"].items()
        }
        assert config["CodeSha256"] in (digest.hex(), base64.b64encode(digest).decode())
        # The handler is a function of the bundled handlers module.
        module, _, attribute = props["Handler"].rpartition(".")
        assert module == "spapi_toolkit.aws.handlers" and callable(getattr(handlers, attribute))
        with zipfile.ZipFile(io.BytesIO(stack.bundle)) as archive:
            assert module.replace(".", "/") + ".py" in archive.namelist()


def test_state_machines_hold_the_generated_definitions(stack):
    sfn = boto3.client("stepfunctions")
    machines = stack.of_type("AWS::StepFunctions::StateMachine")
    assert len(machines) == 2
    for name in machines:
        props = stack.properties(name)
        described = sfn.describe_state_machine(stateMachineArn=stack.physical[name])
        assert described["name"] == props["StateMachineName"]
        assert described["roleArn"] == props["RoleArn"]
        # moto reads DefinitionString only, so its machine has no definition: the template's,
        # with the substitutions the stack gives, must name the stack's own functions.
        text = json.dumps(props["Definition"])
        for key, value in props["DefinitionSubstitutions"].items():
            text = text.replace("${%s}" % key, str(value))
        assert "${" not in text
        functions = {stack.arn(n) for n in stack.of_type("AWS::Lambda::Function")}
        named = set(re.findall(r"arn:aws:lambda:[^\"]+", text))
        assert named and named <= functions, name


def test_parameters_queues_logs_key_and_schedule(stack):
    ssm = boto3.client("ssm")
    for name in stack.of_type("AWS::SSM::Parameter"):
        props = stack.properties(name)
        value = ssm.get_parameter(Name=props["Name"])["Parameter"]["Value"]
        assert value == str(props["Value"]), name
    assert ssm.get_parameter(Name=f"/{STACK}/datasets")["Parameter"]["Value"] == DATASETS

    sqs = boto3.client("sqs")
    for name in stack.of_type("AWS::SQS::Queue"):
        props = stack.properties(name)
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.physical[name], AttributeNames=["All"]
        )["Attributes"]
        assert attributes.get("SqsManagedSseEnabled") == "true", name
        if "RedrivePolicy" in props:
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": stack.arn("NotificationsDeadLetterQueue"),
                "maxReceiveCount": 5,
            }
            assert attributes["VisibilityTimeout"] == str(props["VisibilityTimeout"])

    logs = boto3.client("logs")
    for name in stack.of_type("AWS::Logs::LogGroup"):
        props = stack.properties(name)
        (group,) = logs.describe_log_groups(logGroupNamePrefix=props["LogGroupName"])["logGroups"]
        assert group["retentionInDays"] == props["RetentionInDays"], name  # (moto drops KmsKeyId)

    kms = boto3.client("kms")
    for name in stack.of_type("AWS::KMS::Key"):
        assert kms.get_key_rotation_status(KeyId=stack.physical[name])["KeyRotationEnabled"]
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    for name in stack.of_type("AWS::KMS::Alias"):
        props = stack.properties(name)
        assert aliases[props["AliasName"]] == props["TargetKeyId"]

    events = boto3.client("events")
    for name in stack.of_type("AWS::Events::Rule"):
        props = stack.properties(name)
        rule = events.describe_rule(Name=stack.physical[name].split("/")[-1])
        # (Not EventPattern: it names the Glue jobs, which moto skipped, so its holds None.)
        for field in ("ScheduleExpression", "State"):
            if field in props:
                assert rule[field] == props[field], (name, field)
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert sorted(t["Arn"] for t in targets) == sorted(t["Arn"] for t in props["Targets"])

    (name,) = stack.of_type("AWS::Lambda::EventSourceMapping")
    (mapping,) = boto3.client("lambda").list_event_source_mappings(
        FunctionName=stack.physical["NotificationsFunction"]
    )["EventSourceMappings"]
    assert mapping["EventSourceArn"] == stack.arn("NotificationsQueue")
    assert mapping["BatchSize"] == 10


def test_the_custom_resource_made_lake_formation_govern(stack):
    settings = boto3.client("lakeformation").get_data_lake_settings()["DataLakeSettings"]
    admins = {a["DataLakePrincipalIdentifier"] for a in settings["DataLakeAdmins"]}
    assert {ADMIN, stack.arn("LakeFormationSettingsFunctionRole")} <= admins
    glue = boto3.client("glue")
    for name in stack.of_type("AWS::Glue::Database"):
        database = glue.get_database(Name=stack.skipped_ref(name))["Database"]
        assert database.get("CreateTableDefaultPermissions", []) == []


# ---- the handlers against the stack -----------------------------------------------------


def test_the_handlers_plan_and_land_into_the_stack(stack, sandbox):
    env = sandbox.env
    plan_env = boto3.client("lambda").get_function_configuration(
        FunctionName=stack.physical["PlanFunction"]
    )["Environment"]["Variables"]
    # The seller's secret, as `spapi auth exchange --store-secret` makes it.
    boto3.client("secretsmanager").create_secret(
        Name=plan_env["SPAPI_SECRET_PREFIX"] + "main",
        SecretString=json.dumps(
            {
                "client_id": env["SPAPI_CLIENT_ID"],
                "client_secret": env["SPAPI_CLIENT_SECRET"],
                "refresh_token": env["SPAPI_REFRESH_TOKEN"],
                "selling_partner_id": env["SPAPI_SELLING_PARTNER_ID"],
                "region": env["SPAPI_REGION"],
            }
        ),
    )
    # Where the sandbox is (what an SP-API endpoint would be); no credentials: the secret has them.
    endpoint = {
        k: v
        for k, v in env.items()
        if k
        not in ("SPAPI_CLIENT_ID", "SPAPI_CLIENT_SECRET", "SPAPI_REFRESH_TOKEN",
                "SPAPI_SELLING_PARTNER_ID")
    }  # fmt: skip
    raw = stack.physical["RawBucket"]
    s3 = boto3.client("s3")

    with function_environment(stack.physical["PlanFunction"], endpoint):
        planned = handlers.plan({"run_id": "stack-run", "from": str(FIRST), "to": str(LAST)})
    assert planned["settings"] == {
        "seller_concurrency": 10,
        "report_concurrency": 4,
        "notification_wait_seconds": 3600,
    }
    (seller,) = planned["sellers"]
    assert seller["profile"] == "main" and seller["seller_id"] == sandbox.seller_ids[0]
    for part in ("quota_jobs", "jobs", "snapshots"):
        assert seller[part]["Bucket"] == raw
        head = s3.head_object(Bucket=raw, Key=seller[part]["Key"])
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == plan_env["SPAPI_KMS_KEY_ID"]
    jobs = json.loads(s3.get_object(Bucket=raw, Key=seller["jobs"]["Key"])["Body"].read())
    assert {j["request"]["dataset"] for j in jobs} == {"orders_by_order_date"}

    item = jobs[0]
    with function_environment(stack.physical["RequestFunction"], endpoint):
        answer = handlers.request_job(item)
        while answer["status"] in ("new", "requesting"):
            time.sleep(min(answer["wait_seconds"], 0.2))
            answer = handlers.request_job(item)
    assert answer["status"] == "requested"
    with function_environment(stack.physical["CheckFunction"], endpoint):
        deadline = time.monotonic() + 60
        while answer["status"] == "requested":
            assert time.monotonic() < deadline, "the report never finished"
            time.sleep(0.1)
            answer = handlers.check_job(item)
    assert answer["status"] == "done"
    with function_environment(stack.physical["LandFunction"], endpoint):
        assert handlers.land_job(item)["status"] == "landed"
    landed = [
        o["Key"] for o in s3.list_objects_v2(Bucket=raw, Prefix="lake/raw/").get("Contents", [])
    ]
    assert landed, "nothing landed under lake/raw/ of the stack's raw bucket"
    for key in landed:
        assert s3.head_object(Bucket=raw, Key=key)["SSEKMSKeyId"] == plan_env["SPAPI_KMS_KEY_ID"]
    for bucket in ("CleanedBucket", "AggregatedBucket"):
        assert "Contents" not in s3.list_objects_v2(Bucket=stack.physical[bucket])
