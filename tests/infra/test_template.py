"""The CloudFormation template and the state machines: generated from the project's declarations
and up to date, cfn-lint clean, and holding the security properties the deployment promises
(each checker is also shown to catch a template that breaks it)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from spapi_toolkit.lake.catalog import has_extra
from spapi_toolkit.lake.curate.entry import publish_metrics
from spapi_toolkit.lake.layout import raw_prefix
from spapi_toolkit.lake.tables import tables

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
sys.path.insert(0, str(INFRA))

import generate  # noqa: E402
from stack.common import LAKE_ROOT  # noqa: E402
from stack.ingestion import LOG_DELIVERY_ACTIONS  # noqa: E402
from stack.storage import personal_data_datasets  # noqa: E402


class _Silent:
    """A CloudWatch client that accepts and keeps nothing."""

    def put_metric_data(self, **kwargs: Any) -> None:
        pass


TEMPLATE = yaml.safe_load((INFRA / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
# Actions IAM offers no resource type for: "*" is the only resource they take.
NO_RESOURCE_TYPE = {
    "lakeformation:GetDataAccess",
    "lakeformation:GetDataLakeSettings",
    "lakeformation:PutDataLakeSettings",
    "lakeformation:ListPermissions",
    "lakeformation:RevokePermissions",
    "lakeformation:GrantPermissions",
    "states:SendTaskSuccess",
    *LOG_DELIVERY_ACTIONS,
    "cloudwatch:PutMetricData",
}


def of_type(template: dict, kind: str) -> dict[str, dict]:
    found = {}
    for name, resource in template["Resources"].items():
        if name.startswith("Fn::ForEach::"):  # [identifier, collection, {id: resource}]
            found.update(resource[2])
        else:
            found[name] = resource
    return {n: r for n, r in found.items() if r.get("Type") == kind}


def of_every_type(template: dict) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for name, resource in template["Resources"].items():
        found.update(resource[2] if name.startswith("Fn::ForEach::") else {name: resource})
    return found


def statements(document: dict) -> list[dict]:
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policies(template: dict) -> Iterator[tuple[str, dict, str]]:
    """Every policy document of the template: (resource, document, kind)."""
    for name, resource in of_every_type(template).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield name, policy["PolicyDocument"], "identity"
        elif kind == "AWS::IAM::RolePolicy":
            yield name, props["PolicyDocument"], "identity"
        elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            yield name, props["PolicyDocument"], "resource"
        elif kind == "AWS::KMS::Key":
            yield name, props["KeyPolicy"], "key"


# ---- the checkers -------------------------------------------------------------------------


def encryption_problems(template: dict) -> list[str]:
    problems = []
    resources = template["Resources"]
    for name, bucket in of_type(template, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        default = rules[0]["ServerSideEncryptionByDefault"] if rules else {}
        if default.get("SSEAlgorithm") != "aws:kms" or not default.get("KMSMasterKeyID"):
            problems.append(f"{name}: not SSE-KMS by default")
        block = props.get("PublicAccessBlockConfiguration", {})
        if sorted(block) != sorted(
            ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"]
        ) or not all(block.values()):
            problems.append(f"{name}: public access not fully blocked")
        lifecycle = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(
            r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
            and r.get("Status") == "Enabled"
            and "Prefix" not in r
            for r in lifecycle
        ):
            problems.append(f"{name}: incomplete multipart uploads not aborted after a day")
        bucket_policies = [
            p
            for p in of_type(template, "AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": name}
        ]
        tls = [
            s
            for p in bucket_policies
            for s in statements(p["Properties"]["PolicyDocument"])
            if s["Effect"] == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        covered = [r for s in tls for r in as_list(s["Resource"])]
        if {"Fn::GetAtt": [name, "Arn"]} not in covered or {
            "Fn::Sub": "${%s.Arn}/*" % name
        } not in covered:
            problems.append(f"{name}: no TLS-only bucket policy for the bucket and its objects")
    raw = resources["RawBucket"]["Properties"]
    if raw.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        problems.append("RawBucket: versioning off")
    if not any(r.get("Transitions") for r in raw["LifecycleConfiguration"]["Rules"]):
        problems.append("RawBucket: no transition to a colder class")
    for name, key in of_type(template, "AWS::KMS::Key").items():
        if key["Properties"].get("EnableKeyRotation") is not True:
            problems.append(f"{name}: key rotation off")
    for name, queue in of_type(template, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        if not (props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId")):
            problems.append(f"{name}: not encrypted")
    for kind, field in (
        ("AWS::SecretsManager::Secret", "KmsKeyId"),
        ("AWS::Logs::LogGroup", "KmsKeyId"),
        ("AWS::Lambda::Function", "KmsKeyArn"),
        ("AWS::Glue::Job", "SecurityConfiguration"),
        ("AWS::StepFunctions::StateMachine", "EncryptionConfiguration"),
    ):
        for name, resource in of_type(template, kind).items():
            if not resource["Properties"].get(field):
                problems.append(f"{name}: no {field}")
    for name, group in of_type(template, "AWS::Athena::WorkGroup").items():
        config = group["Properties"]["WorkGroupConfiguration"]
        encryption = config["ResultConfiguration"].get("EncryptionConfiguration", {})
        if encryption.get("EncryptionOption") not in ("SSE_KMS", "CSE_KMS"):
            problems.append(f"{name}: results not encrypted with KMS")
        if config.get("EnforceWorkGroupConfiguration") is not True:
            problems.append(f"{name}: settings not enforced")
        if not config.get("BytesScannedCutoffPerQuery"):
            problems.append(f"{name}: no bytes-scanned limit")
    return problems


def privilege_problems(template: dict) -> list[str]:
    problems = []
    for name, document, kind in policies(template):
        for statement in statements(document):
            actions = as_list(statement.get("Action", []))
            principal = statement.get("Principal")
            if statement["Effect"] != "Allow":
                continue
            if kind == "key" and statement.get("Sid") == "AccountAdministers":
                # A key policy must let the account administer the key, or it is unmanageable.
                if principal != {
                    "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
                }:
                    problems.append(f"{name}: the key's administrator is not this account")
                continue
            if principal == "*" or (
                isinstance(principal, dict) and "*" in as_list(principal.get("AWS", []))
            ):
                problems.append(f"{name}: allows any principal")
            for action in actions:
                if action == "*" or action.endswith(":*"):
                    problems.append(f"{name}: allows every action ({action})")
            if "*" in as_list(statement.get("Resource", [])) and kind != "key":
                # (In a key policy "*" is the key itself: a key policy cannot name its key.)
                broad = [a for a in actions if a not in NO_RESOURCE_TYPE]
                if broad or kind == "resource":
                    problems.append(f"{name}: {broad} on every resource")
    queue_policy = template["Resources"]["NotificationsQueuePolicy"]["Properties"]
    senders = [s for s in statements(queue_policy["PolicyDocument"]) if s["Effect"] == "Allow"]
    if [s["Principal"] for s in senders] != [
        {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::437568002678:root"}}
    ]:
        problems.append("the queue is not open to SP-API's account (437568002678) alone")
    return problems


def analyst_problems(template: dict) -> list[str]:
    """Every personal-data column a cleaned table publishes is excluded from the analysts."""
    problems = []
    grants = [
        r["Properties"]
        for r in of_type(template, "AWS::LakeFormation::PrincipalPermissions").values()
        if r["Properties"]["Principal"]["DataLakePrincipalIdentifier"]
        == {"Fn::GetAtt": ["AnalystRole", "Arn"]}
    ]
    cleaned = {"Ref": "CleanedDatabase"}
    by_table: dict[str, list[dict]] = {}
    for grant in grants:
        resource = grant["Resource"]
        inner = resource.get("Table") or resource.get("TableWithColumns")
        if inner is None or inner.get("DatabaseName") != cleaned:
            continue
        if "TableWildcard" in inner or "Table" in resource:
            problems.append(f"analysts hold {grant['Permissions']} on whole cleaned tables")
            continue
        by_table.setdefault(inner["Name"], []).append(inner)
    for table in tables().values():
        if not table.has_contract:
            continue
        personal = {c.name for c in table.columns if c.pii in ("hash", "restrict")}
        held = by_table.get(table.name, [])
        if not held:
            problems.append(f"analysts have no grant on cleaned.{table.name}")
        for inner in held:
            if "ColumnNames" in inner:
                shown = set(inner["ColumnNames"])
            else:
                shown = None
                excluded = set(inner["ColumnWildcard"].get("ExcludedColumnNames", []))
                if personal - excluded:
                    problems.append(f"cleaned.{table.name}: analysts read {personal - excluded}")
            if shown is not None and shown & personal:
                problems.append(f"cleaned.{table.name}: analysts read {shown & personal}")
            # An unknown raw column of a table with buyer data lands in `extra`.
            if shown is None and personal and has_extra(table) and "extra" not in excluded:
                problems.append(f"cleaned.{table.name}: analysts read extra")
    return problems


def role_statements(template: dict, role_name: str) -> list[dict]:
    found = []
    for name, document, kind in policies(template):
        if kind != "identity":
            continue
        resource = template["Resources"][name]
        attached = resource["Properties"].get("RoleName") == {"Ref": role_name}
        if name == role_name or attached:
            found += statements(document)
    return found


def personal_data_problems(template: dict) -> list[str]:
    """Raw documents with buyer data expire, every lifecycle rule of the raw bucket matches real
    keys, and analysts cannot use the raw key (raw documents, secrets)."""
    problems = []
    rules = template["Resources"]["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for rule in rules:
        if "Prefix" in rule and not rule["Prefix"].startswith(f"{LAKE_ROOT}/{raw_prefix()}"):
            problems.append(f"lifecycle rule {rule['Id']}: {rule['Prefix']} matches no raw key")
    expiring = {
        r["Prefix"]
        for r in rules
        if r.get("ExpirationInDays") == {"Ref": "RawPersonalDataRetentionDays"}
    }
    datasets = personal_data_datasets()
    if not datasets:
        problems.append("no dataset carries buyer data: the contracts lost their pii columns")
    for dataset in datasets:
        if f"{LAKE_ROOT}/{raw_prefix(dataset)}" not in expiring:
            problems.append(f"raw documents of {dataset} (buyer data) never expire")
    for statement in role_statements(template, "AnalystRole"):
        if {"Fn::GetAtt": ["RawKey", "Arn"]} in as_list(statement.get("Resource")):
            problems.append(f"the analyst role may use the raw key ({statement['Action']})")
    for name, secret in of_type(template, "AWS::SecretsManager::Secret").items():
        if secret["Properties"].get("KmsKeyId") != {"Ref": "RawKey"}:
            problems.append(f"{name}: not under the raw key")
    return problems


def loudness_problems(template: dict) -> list[str]:
    """Failures reach an operator: curation is awaited, every map's failed items are counted,
    the machines log, the schedule retries into a dead-letter queue, and alarms exist."""
    problems = []
    resources = template["Resources"]
    ingest = resources["IngestStateMachine"]["Properties"]["Definition"]
    if not ingest["States"]["Curate"]["Resource"].endswith(".sync"):
        problems.append("the ingest run does not wait for the curation")
    for name, machine in of_type(template, "AWS::StepFunctions::StateMachine").items():
        props = machine["Properties"]
        if not props.get("LoggingConfiguration", {}).get("Destinations"):
            problems.append(f"{name}: no execution logs")
        for where, scope in scopes(props["Definition"]):
            for state_name, state in scope["States"].items():
                mode = state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode")
                if mode == "DISTRIBUTED" and "describeMapRun" not in json.dumps(
                    scope["States"].get(state.get("Next", ""), {})
                ):
                    problems.append(f"{name}{where}/{state_name}: failed items never counted")
        alarmed = {
            a["Properties"]["MetricName"]
            for a in of_type(template, "AWS::CloudWatch::Alarm").values()
            if a["Properties"]["Dimensions"][0]["Value"] == {"Ref": name}
        }
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            if metric not in alarmed:
                problems.append(f"{name}: no alarm on {metric}")
    target = resources["IngestScheduleRule"]["Properties"]["Targets"][0]
    if not (target.get("DeadLetterConfig") and target.get("RetryPolicy")):
        problems.append("the schedule's target has no dead-letter queue or retry policy")
    queues = {
        json.dumps(a["Properties"]["Dimensions"][0]["Value"])
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    for name in of_type(template, "AWS::SQS::Queue"):
        is_dlq = any(
            q["Properties"].get("RedrivePolicy", {}).get("deadLetterTargetArn")
            == {"Fn::GetAtt": [name, "Arn"]}
            for q in of_type(template, "AWS::SQS::Queue").values()
        ) or any(
            t.get("DeadLetterConfig", {}).get("Arn") == {"Fn::GetAtt": [name, "Arn"]}
            for r in of_type(template, "AWS::Events::Rule").values()
            for t in r["Properties"].get("Targets", [])
        )
        if is_dlq and json.dumps({"Fn::GetAtt": [name, "QueueName"]}) not in queues:
            problems.append(f"{name}: a dead-letter queue without an alarm")
    for name in of_type(template, "AWS::Glue::Job"):
        for metric in publish_metrics("N", "j", [], _Silent()):  # what the job publishes
            watched = [
                a
                for a in of_type(template, "AWS::CloudWatch::Alarm").values()
                if a["Properties"]["MetricName"] == metric
                and a["Properties"]["Dimensions"][0]["Value"] == {"Ref": name}
            ]
            if not watched:
                problems.append(f"{name}: no alarm on {metric}, which the job publishes")
        failed = [
            r
            for r in of_type(template, "AWS::Events::Rule").values()
            if {"Ref": name}
            in r["Properties"].get("EventPattern", {}).get("detail", {}).get("jobName", [])
        ]
        if not failed:
            problems.append(f"{name}: a failed run alarms nobody")
    return problems


def lake_formation_problems(template: dict) -> list[str]:
    problems = []
    resources = template["Resources"]
    if of_type(template, "AWS::LakeFormation::DataLakeSettings"):
        problems.append("DataLakeSettings replaces the account's admins; use the custom resource")
    settings = resources.get("LakeFormationSettings", {})
    databases = settings.get("Properties", {}).get("Databases", [])
    if sorted(map(json.dumps, databases)) != sorted(
        map(json.dumps, [{"Ref": "CleanedDatabase"}, {"Ref": "AggregatedDatabase"}])
    ):
        problems.append("the IAMAllowedPrincipals grants of the databases are not revoked")
    tables_made = set(of_type(template, "AWS::Glue::Table"))
    if not tables_made <= set(settings.get("DependsOn", [])):
        problems.append("IAMAllowedPrincipals is revoked before every table exists")
    for name, grant in of_type(template, "AWS::LakeFormation::PrincipalPermissions").items():
        if "LakeFormationSettings" not in grant.get("DependsOn", []):
            problems.append(f"{name} may be granted before Lake Formation governs the tables")
    locations = {
        json.dumps(r["Properties"]["ResourceArn"])
        for r in of_type(template, "AWS::LakeFormation::Resource").values()
    }
    for bucket in ("CleanedBucket", "AggregatedBucket"):
        if json.dumps({"Fn::GetAtt": [bucket, "Arn"]}) not in locations:
            problems.append(f"{bucket} is not registered with Lake Formation")
    return problems


CHECKERS = [
    encryption_problems,
    privilege_problems,
    analyst_problems,
    lake_formation_problems,
    personal_data_problems,
    loudness_problems,
]


# ---- the tests ----------------------------------------------------------------------------


def test_the_generated_files_are_up_to_date():
    for path, text in generate.render().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is stale: run python infra/generate.py"
        )


# cfn-lint's Lambda runtime rules compare the runtime's deprecation dates with today's date, so
# they pass or fail by the day the suite runs (python3.11: deprecated 2027-06-30 in its table).
# The runtime follows the project's Python (Glue 5.1's 3.11); docs/deploy.md says when it ends.
DATED_RULES = ("E2531", "E2533", "W2531")


def test_cfn_lint_finds_nothing():
    files = [str(INFRA / "template.yaml")]
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    done = subprocess.run([cfn_lint, "--ignore-checks", *DATED_RULES, "--", *files],
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_the_template_holds(checker):
    assert checker(TEMPLATE) == []


def _tamper(change) -> dict:
    broken = copy.deepcopy(TEMPLATE)
    change(broken["Resources"])
    return broken


@pytest.mark.parametrize(
    ("checker", "change", "expected"),
    [
        (
            encryption_problems,
            lambda r: r["CleanedBucket"]["Properties"].pop("BucketEncryption"),
            "SSE-KMS",
        ),
        (
            encryption_problems,
            lambda r: r["AggregatedBucketPolicy"]["Properties"]["PolicyDocument"][
                "Statement"
            ].clear(),
            "TLS-only",
        ),
        (
            encryption_problems,
            lambda r: r["NotificationsQueue"]["Properties"].pop("SqsManagedSseEnabled"),
            "encrypted",
        ),
        (
            privilege_problems,
            lambda r: r["PlanFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"
            ].append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            "every resource",
        ),
        (
            privilege_problems,
            lambda r: r["LandFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"
            ].append({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::x"}),
            "every action",
        ),
        (
            analyst_problems,
            lambda r: r["AnalystCleanedOrderItems"]["Properties"]["Resource"]["TableWithColumns"][
                "ColumnWildcard"
            ]["ExcludedColumnNames"].remove("ship_city"),
            "ship_city",
        ),
        (analyst_problems, lambda r: r.pop("AnalystCleanedOrderItems"), "no grant"),
        (
            lake_formation_problems,
            lambda r: r["LakeFormationSettings"]["Properties"]["Databases"].pop(),
            "not revoked",
        ),
        (
            analyst_problems,
            lambda r: r["AnalystCleanedOrderItems"]["Properties"]["Resource"]["TableWithColumns"][
                "ColumnWildcard"
            ]["ExcludedColumnNames"].remove("extra"),
            "analysts read extra",
        ),
        (
            personal_data_problems,
            lambda r: r["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"].pop(),
            "never expire",
        ),
        (
            personal_data_problems,
            lambda r: r["AnalystRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"
            ].append(
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": {"Fn::GetAtt": ["RawKey", "Arn"]},
                }
            ),
            "raw key",
        ),
        (
            loudness_problems,
            lambda r: r["IngestStateMachine"]["Properties"]["Definition"]["States"][
                "Curate"
            ].update(Resource="arn:aws:states:::glue:startJobRun"),
            "does not wait",
        ),
        (
            loudness_problems,
            lambda r: r.pop("IngestScheduleDeadLetterQueueAlarm"),
            "without an alarm",
        ),
        (
            loudness_problems,
            lambda r: r["IngestScheduleRule"]["Properties"]["Targets"][0].pop("RetryPolicy"),
            "retry policy",
        ),
    ],
    ids=[
        "sse",
        "tls",
        "queue",
        "star-resource",
        "star-action",
        "pii-column",
        "no-grant",
        "iam-allowed",
        "pii-extra",
        "pii-retention",
        "analyst-raw-key",
        "curation-not-awaited",
        "dlq-alarm",
        "schedule-retry",
    ],
)
def test_each_checker_catches_a_broken_template(checker, change, expected):
    problems = checker(_tamper(change))
    assert any(expected in p for p in problems), problems


def test_every_personal_data_column_of_the_contracts_is_excluded_by_name():
    declared = {
        (t.name, c.name)
        for t in tables().values()
        for c in t.columns
        if c.pii in ("hash", "restrict")
    }
    assert declared, "the contracts declare personal data"
    excluded = set()
    for grant in of_type(TEMPLATE, "AWS::LakeFormation::PrincipalPermissions").values():
        inner = grant["Properties"]["Resource"].get("TableWithColumns")
        if inner:
            excluded |= {(inner["Name"], c) for c in inner["ColumnWildcard"]["ExcludedColumnNames"]}
    assert {(t, c) for t, c in excluded if c != "extra"} == declared
    # A dropped column never reaches a table definition.
    dropped = {c.name for t in tables().values() for c in t.columns if c.pii == "drop"}
    for table in of_type(TEMPLATE, "AWS::Glue::Table").values():
        names = {
            c["Name"] for c in table["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
        }
        assert not names & dropped


# ---- the state machines -------------------------------------------------------------------


def scopes(definition: dict, where: str = "") -> Iterator[tuple[str, dict]]:
    """Every (path, {StartAt, States}) scope: the machine, Parallel branches, Map processors."""
    yield where or "machine", definition
    for name, state in definition["States"].items():
        for number, branch in enumerate(state.get("Branches", [])):
            yield from scopes(branch, f"{where}/{name}[{number}]")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from scopes(processor, f"{where}/{name}")


def asl_problems(definition: dict, substitutions: dict, resources: dict) -> list[str]:
    problems = []
    for where, scope in scopes(definition):
        states = scope["States"]
        if scope["StartAt"] not in states:
            problems.append(f"{where}: StartAt {scope['StartAt']} does not exist")
        reached = {scope["StartAt"]}
        for name, state in states.items():
            targets = [
                state.get("Next"),
                state.get("Default"),
                *(c.get("Next") for c in state.get("Choices", [])),
                *(c.get("Next") for c in state.get("Catch", [])),
            ]
            for target in filter(None, targets):
                reached.add(target)
                if target not in states:
                    problems.append(f"{where}/{name}: {target} does not exist")
            terminal = state["Type"] in ("Succeed", "Fail", "Choice") or state.get("End")
            if not terminal and not state.get("Next"):
                problems.append(f"{where}/{name}: neither Next nor End")
            if state["Type"] == "Task" and not (state.get("Retry") and state.get("Catch")):
                problems.append(f"{where}/{name}: a Task without Retry and Catch")
        for name in set(states) - reached:
            problems.append(f"{where}/{name}: unreachable")
    for placeholder in set(re.findall(r"\$\{(\w+)\}", json.dumps(definition))):
        value = substitutions.get(placeholder)
        if value is None:
            problems.append(f"${{{placeholder}}} has no DefinitionSubstitutions value")
            continue
        if isinstance(value, str):  # a literal (a key prefix)
            continue
        target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
        if target not in resources:
            problems.append(f"${{{placeholder}}} resolves to no resource of the template")
    return problems


@pytest.mark.parametrize("name", ["ingest", "seller"])
def test_each_state_machine_is_sound(name):
    definition = json.loads((INFRA / "statemachines" / f"{name}.asl.json").read_text())
    machine = RESOURCES[f"{name.capitalize()}StateMachine"]["Properties"]
    assert machine["Definition"] == definition  # the template embeds the file
    assert asl_problems(definition, machine["DefinitionSubstitutions"], RESOURCES) == []
    tasks = [
        s
        for _, scope in scopes(definition)
        for s in scope["States"].values()
        if s["Type"] == "Task"
    ]
    assert tasks


def test_the_asl_checker_catches_a_broken_machine():
    definition = json.loads((INFRA / "statemachines" / "seller.asl.json").read_text())
    substitutions = RESOURCES["SellerStateMachine"]["Properties"]["DefinitionSubstitutions"]
    broken = copy.deepcopy(definition)
    job = broken["States"]["Jobs"]["Branches"][0]["States"]["QuotaLimitedReports"]["ItemProcessor"][
        "States"
    ]
    job["Check"].pop("Retry")
    job["AfterLand"]["Default"] = "Nowhere"
    problems = asl_problems(
        broken, {**substitutions, "LandFunctionArn": {"Ref": "Gone"}}, RESOURCES
    )
    assert any("Check: a Task without Retry" in p for p in problems)
    assert any("Nowhere does not exist" in p for p in problems)
    assert any("LandFunctionArn" in p for p in problems)
