"""Access replay (issue 18): every access the deployed parts make while the real code runs end
to end, checked against the IAM role the generated template gives that part.

One run, shared by the module's tests: the Lambda handlers chained as the state machines chain
them (one sandbox seller, one marketplace, two days: a quota report, a report and an API
snapshot, one report released by a notification) on a moto S3 zoned lake, Secrets Manager and
SSM named as the template names them; the state machines' own accesses derived from their ASL
and the real plan; the two Glue entry scripts on a local copy of the landed lake (inotify sees
the Python and the Spark JVM file accesses, mapped to the S3 keys they are on AWS); the
analyst's ``connect()``. Everything the template says (prefixes, names, roles) is read from
infra/template.yaml and infra/statemachines/ at run time: nothing here repeats it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from spapi_toolkit.lake.storage import Lake

from ..access import (
    STATE_MACHINE_KMS,
    Access,
    ApiCall,
    ApiRecorder,
    Deployment,
    FileWatch,
    Statement,
    Translator,
    allowed,
    asl_calls,
    copy_tree,
    file_calls,
    mutated,
    statement_applies,
)
from ..support import END_DATE

pytestmark = [pytest.mark.aws, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FIRST, LAST = date(2026, 11, 10), date(2026, 11, 11)
# A quota report (Sales & Traffic), a report whose cleaned table holds PII (order_items), and
# the Orders API snapshot (cleaned orders, PII columns too).
DATASETS = "sales_traffic_by_asin,orders_by_order_date,orders_api"
RUN_ID = "replay-1"
HANDLERS = (
    "plan", "request_job", "await_report", "check_job", "land_job", "snapshot",
    "consume_notifications",
)  # fmt: skip
GLUE_SCRIPTS = ("raw_to_cleaned", "cleaned_to_aggregated")
# The entry scripts' own arguments (glue_jobs/: entry.REQUIRED + entry.OPTIONAL); the rest of a
# job's DefaultArguments are Glue's.
from spapi_toolkit.lake.curate.entry import OPTIONAL, REQUIRED  # noqa: E402

ANALYST = "Analyst"


@dataclass
class Replay:
    deployment: Deployment
    physical: dict[str, str]
    roles: dict[str, str]  # part -> role (logical id)
    accesses: list[Access]
    calls: int
    raw_keys: list[str]  # S3 keys of the landed raw documents
    zone_keys: dict[str, str]  # bucket -> one object key in it (cleaned, aggregated)
    secret_arns: dict[str, str]
    raw_zone_keys: set[str]  # the KMS keys the raw documents were written with
    pii_secrets: set[str]  # what the Glue jobs' --pii_hash_key_secret_id names
    lake_uri: str
    seconds: float
    notes: list[str] = field(default_factory=list)


def load_template() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "template.yaml").read_text())


def read_plan(location: dict) -> list[dict]:
    import boto3

    body = boto3.client("s3").get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"]
    return json.loads(body.read())


@pytest.fixture(scope="module")
def replay(moto_server, tmp_path_factory, request):
    import boto3

    from spapi_sandbox.server import run_sandbox
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.aws import handlers
    from spapi_toolkit.ingest.ledger import Ledger
    from spapi_toolkit.ingest.planner import PlannedRequest
    from spapi_toolkit.lake.query import connect
    from spapi_toolkit.lake.query.sql import load as load_query

    started = time.monotonic()
    tmp = tmp_path_factory.mktemp("replay")
    template = load_template()
    notes: list[str] = []
    recorder = ApiRecorder().install()
    request.addfinalizer(recorder.uninstall)
    with pytest.MonkeyPatch.context() as mp, run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        for name in list(os.environ):
            if name.startswith("SPAPI_"):
                mp.delenv(name)
        for name, value in {
            "AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():  # fmt: skip
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        credentials = ("SPAPI_CLIENT_ID", "SPAPI_CLIENT_SECRET", "SPAPI_REFRESH_TOKEN",
                       "SPAPI_SELLING_PARTNER_ID")  # fmt: skip
        for name, value in sandbox.env.items():
            if name not in credentials:
                mp.setenv(name, value)

        # -- the stack, as the template names it, in moto (not recorded: CloudFormation's)
        kms = boto3.client("kms")
        physical = {
            name: kms.create_key(Description=name)["KeyMetadata"]["KeyId"]
            for name in Deployment(template).of_type("AWS::KMS::Key")
        }
        first = Deployment(template, physical=dict(physical))
        s3 = boto3.client("s3")
        for name in first.of_type("AWS::S3::Bucket"):
            s3.create_bucket(Bucket=first.ref(name))
        seller_secret = json.dumps({
            "client_id": sandbox.env["SPAPI_CLIENT_ID"],
            "client_secret": sandbox.env["SPAPI_CLIENT_SECRET"],
            "refresh_token": sandbox.env["SPAPI_REFRESH_TOKEN"],
            "selling_partner_id": sandbox.env["SPAPI_SELLING_PARTNER_ID"],
            "region": sandbox.env["SPAPI_REGION"],
        })  # fmt: skip
        secrets = boto3.client("secretsmanager")
        secret_arns: dict[str, str] = {}
        for name, resource in first.of_type("AWS::SecretsManager::Secret").items():
            secret = first.resolve(resource["Properties"]["Name"])
            value = seller_secret if "/seller/" in secret else "replay-pii-hash-key"
            arn = secrets.create_secret(Name=secret, SecretString=value)["ARN"]
            physical[name] = secret_arns[secret] = arn
        d = Deployment(template, physical=physical)
        overrides = {"datasets": DATASETS, "lookback-days": "2"}
        for resource in d.of_type("AWS::SSM::Parameter").values():
            props = resource["Properties"]
            name = d.resolve(props["Name"])
            value = overrides.get(name.rsplit("/", 1)[-1], d.resolve(props["Value"]))
            boto3.client("ssm").put_parameter(Name=name, Value=str(value), Type="String",
                                              Overwrite=True)  # fmt: skip
        for resource in d.of_type("AWS::Glue::Database").values():
            database = d.resolve(resource["Properties"]["DatabaseInput"])
            glue = boto3.client("glue")
            # The moto server is the session's: another module may have made it.
            with contextlib.suppress(glue.exceptions.EntityNotFoundException):
                glue.delete_database(Name=database["Name"])
            glue.create_database(DatabaseInput=database)
        for name, resource in d.of_type("AWS::Athena::WorkGroup").items():
            config = d.resolve(resource["Properties"].get("WorkGroupConfiguration", {}))
            output = config.get("ResultConfiguration", {}).get("OutputLocation")
            boto3.client("athena").create_work_group(
                Name=d.ref(name), Configuration={"ResultConfiguration": {"OutputLocation": output}}
            )

        # -- the parts and their roles, from the template
        roles: dict[str, str] = {}
        functions: dict[str, tuple[str, dict[str, str]]] = {}
        for name, resource in d.of_type("AWS::Lambda::Function").items():
            props = resource["Properties"]
            handler = props["Handler"].rsplit(".", 1)[-1]
            if handler in HANDLERS:
                env = d.resolve(props.get("Environment", {}).get("Variables", {}))
                functions[handler] = (name, {k: str(v) for k, v in env.items()})
                roles[name] = d.role_of(props["Role"])
        assert set(functions) == set(HANDLERS), f"functions of the template: {sorted(functions)}"

        def call(handler: str, event: dict) -> Any:
            name, env = functions[handler]
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                with recorder.as_part(name):
                    return getattr(handlers, handler)(event)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

        lake_uri = functions["plan"][1]["SPAPI_LAKE"]
        # The sellers' LWA secrets (made by `spapi auth exchange --store-secret`, not by the
        # stack unless it declares them): <the functions' SPAPI_SECRET_PREFIX><profile>.
        profiles = boto3.client("ssm").get_parameter(
            Name=functions["plan"][1]["SPAPI_PARAMETER_PREFIX"] + "profiles"
        )["Parameter"]["Value"]
        for profile in profiles.split(","):
            secret = functions["plan"][1]["SPAPI_SECRET_PREFIX"] + profile.strip()
            if secret not in secret_arns:
                arn = secrets.create_secret(Name=secret, SecretString=seller_secret)["ARN"]
                secret_arns[secret] = arn

        # -- the handlers, in the state machines' order
        planned = call("plan", {"run_id": RUN_ID, "input": {"from": str(FIRST), "to": str(LAST)}})
        sellers = planned["sellers"]
        assert len(sellers) == 1, sellers
        seller = sellers[0]
        quota_items, items = read_plan(seller["quota_jobs"]), read_plan(seller["jobs"])
        snapshots = read_plan(seller["snapshots"])
        assert quota_items and items and snapshots, (quota_items, items, snapshots)

        def drive(item: dict) -> str:
            answer = call("request_job", item)
            while answer["status"] in ("new", "requesting", "fatal"):
                time.sleep(min(answer["wait_seconds"], 0.2))
                answer = call("request_job", item)
            deadline = time.monotonic() + 60
            while answer["status"] == "requested":
                assert time.monotonic() < deadline, "the report never finished"
                time.sleep(0.1)
                answer = call("check_job", item)
            if answer["status"] == "done":
                answer = call("land_job", item)
            return answer["status"]

        # One report released by a notification: request, park the task, the SQS message.
        item = items[0]
        answer = call("request_job", item)
        while answer["status"] != "requested":
            time.sleep(min(answer.get("wait_seconds", 0.1), 0.2))
            answer = call("request_job", item)
        call("await_report", {"item": item, "task_token": "replay-token"})
        request = PlannedRequest.from_dict(item["request"])
        entry = Ledger(Lake.from_uri(lake_uri)).get(
            request.seller_id, request.dataset.name, request.request_id
        )
        client = SpApiClient.from_env(env=sandbox.env)
        report, deadline = None, time.monotonic() + 60
        while report is None or report["processingStatus"] != "DONE":
            assert time.monotonic() < deadline
            time.sleep(0.1)
            report = client.call("getReport", reportId=entry.report_id)
        body = {
            "notificationVersion": "2020-09-04", "notificationType": "REPORT_PROCESSING_FINISHED",
            "payloadVersion": "2020-09-04", "eventTime": "2026-11-28T06:00:00.000Z",
            "payload": {"reportProcessingFinishedNotification": {
                "sellerId": request.seller_id, "reportId": entry.report_id,
                "reportType": report["reportType"], "processingStatus": "DONE",
                "reportDocumentId": report["reportDocumentId"]}},
            "notificationMetadata": {"applicationId": "app", "subscriptionId": "sub",
                                     "publishTime": "2026-11-28T06:00:01.000Z",
                                     "notificationId": "n-1"},
        }  # fmt: skip
        consumed = call("consume_notifications",
                        {"Records": [{"messageId": "m-1", "body": json.dumps(body)}]})  # fmt: skip
        assert consumed == {"batchItemFailures": []}, consumed
        assert call("check_job", item)["status"] == "done"
        assert call("land_job", item)["status"] == "landed"
        for other in quota_items + items[1:]:
            assert drive(other) == "landed"
        for snapshot in snapshots:
            assert call("snapshot", snapshot)["status"] in ("landed", "no_data")

        # -- the state machines: what their ASL makes them touch, with this run's plan
        asl_accesses: list[Access] = []
        asl_s3: list[ApiCall] = []
        definitions = [
            json.loads(p.read_text()) for p in sorted((INFRA / "statemachines").glob("*.asl.json"))
        ]
        for name, resource in d.of_type("AWS::StepFunctions::StateMachine").items():
            props = resource["Properties"]
            comment = props.get("Definition", {}).get("Comment")
            (definition,) = [x for x in definitions if x.get("Comment") == comment]
            roles[name] = role = d.role_of(props["RoleArn"])
            substitutions = d.resolve(props.get("DefinitionSubstitutions", {}))
            execution_input = (
                {"seller": seller, "settings": planned["settings"]}
                if "ItemReader" in json.dumps(definition)
                else {"from": str(FIRST), "to": str(LAST)}
            )
            found, s3_calls = asl_calls(d, name, name, definition, substitutions, execution_input)
            asl_accesses += [Access(a.part, role, a.action, a.resource, a.conditions, a.origin)
                             for a in found]  # fmt: skip
            asl_s3 += s3_calls
            key = props.get("EncryptionConfiguration", {}).get("KmsKeyId")
            if key:
                for action in STATE_MACHINE_KMS:
                    asl_accesses.append(Access(name, role, action, d._key_arn(d.resolve(key)),
                                               (), f"{name} EncryptionConfiguration"))  # fmt: skip

        # -- the Glue jobs on a local copy of the landed lake
        local = tmp / "lake"
        local.mkdir()
        main_lake = Lake.from_uri(lake_uri)
        copied = copy_tree(main_lake, Lake.from_uri(str(local)))
        raw_keys = [f"{main_lake.main.prefix}/{k}" for k in main_lake.list("raw/")]  # type: ignore[attr-defined]
        assert raw_keys, "nothing was landed"
        glue_calls: list[ApiCall] = []
        pii_secrets: set[str] = set()
        jobs = d.of_type("AWS::Glue::Job")
        for script in GLUE_SCRIPTS:
            (name,) = [
                n for n, r in jobs.items()
                if d.resolve(r["Properties"]["Command"]["ScriptLocation"]).endswith(f"{script}.py")
            ]  # fmt: skip
            props = jobs[name]["Properties"]
            roles[name] = d.role_of(props["Role"])
            arguments = d.resolve(props.get("DefaultArguments", {}))
            own = {f"--{a}" for a in (*REQUIRED, *OPTIONAL)}
            s3_lake = arguments["--lake"]
            if "--pii_hash_key_secret_id" in arguments:
                pii_secrets.add(str(arguments["--pii_hash_key_secret_id"]))
            args = [
                x for k, v in arguments.items() if k in own and k != "--lake" for x in (k, str(v))
            ]
            out = tmp / f"{script}.calls.json"
            env = dict(
                os.environ,
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            )
            with FileWatch(local) as watch:
                ran = subprocess.run(
                    [sys.executable, "-m", "tests.access", "glue", str(out), s3_lake, script,
                     "--lake", str(local), *args],
                    cwd=tmp, env=env, capture_output=True, text=True, timeout=600,
                )  # fmt: skip
            assert ran.returncode == 0, f"{script}: {ran.stdout[-3000:]}\n{ran.stderr[-5000:]}"
            assert not watch.overflowed, "inotify's queue overflowed: file accesses were lost"
            for c in ApiRecorder.load(out):
                glue_calls.append(ApiCall(name, c.service, c.operation, c.params, c.answer, c.code))
            glue_calls += file_calls(name, sorted(watch.events), s3_lake)

        # -- the analyst: connect() on the S3 lake (tables, freshness, quality), one query
        copy_tree(Lake.from_uri(str(local)), Lake.from_uri(lake_uri))
        analyst_role = d.role_of(template["Outputs"]["AnalystRoleArn"]["Value"])
        roles[ANALYST] = analyst_role
        outputs = {k: d.resolve(v["Value"]) for k, v in template["Outputs"].items()}
        databases = {
            "cleaned": outputs["CleanedDatabase"],
            "aggregated": outputs["AggregatedDatabase"],
        }
        with recorder.as_part(ANALYST):
            lake = connect(
                outputs["LakeUri"], workgroup=outputs["AthenaWorkGroup"], databases=databases
            )
            lake.tables()
            lake.freshness()
            lake.quality()
            try:
                lake.query("sales_by_day", **_query_params(load_query("sales_by_day")))
            except Exception as exc:  # moto's Athena runs no SQL: the calls up to it count
                notes.append(f"analyst query on moto's Athena: {type(exc).__name__}")

        zone_keys: dict[str, str] = {}
        for zone in ("cleaned", "aggregated"):
            keys = list(main_lake.list(f"{zone}/"))
            assert keys, f"the Glue jobs wrote nothing to {zone}/"
            zone_keys[main_lake.zones[zone].bucket] = keys[0]  # type: ignore[attr-defined]
    recorder.uninstall()

    translator = Translator(d, secret_arns)
    accesses = translator.accesses([*recorder.calls, *asl_s3, *glue_calls], roles) + asl_accesses
    notes.append(f"{copied} objects copied down for the Glue jobs")
    main_bucket = _bucket_of(lake_uri)
    raw_zone_keys = {
        kms_key
        for (bucket, key), kms_key in translator.object_keys.items()
        if bucket == main_bucket and key in raw_keys
    }
    return Replay(
        deployment=d, physical=physical, roles=roles, accesses=accesses,
        calls=len(recorder.calls) + len(asl_s3) + len(glue_calls), raw_keys=raw_keys,
        zone_keys=zone_keys, secret_arns=secret_arns, raw_zone_keys=raw_zone_keys,
        lake_uri=lake_uri, pii_secrets=pii_secrets,
        seconds=time.monotonic() - started, notes=notes,
    )  # fmt: skip


def _query_params(query: Any) -> dict[str, Any]:
    names = re.findall(r"(?<!:):([a-z_]+)", query.text)
    values = {"start": FIRST, "end": LAST, "day": FIRST, "marketplace_id": "ATVPDKIKX0DER"}
    return {n: values.get(n, FIRST) for n in set(names)}


# ---- evaluation -------------------------------------------------------------------------------


def denied(deployment: Deployment, accesses: list[Access]) -> list[Access]:
    """The distinct accesses the part's role does not grant."""
    cache: dict[str, list[Statement]] = {}
    refused = []
    for access in sorted(set(accesses), key=lambda a: (a.part, a.action, a.resource, a.origin)):
        statements = cache.setdefault(access.role, deployment.statements(access.role))
        if not allowed(statements, access):
            refused.append(access)
    return refused


def distinct(accesses: list[Access]) -> list[Access]:
    """One access per (part, action, resource, conditions): the first origin kept."""
    seen: dict[tuple, Access] = {}
    for a in accesses:
        seen.setdefault((a.part, a.role, a.action, a.resource, a.conditions), a)
    return list(seen.values())


def must_be_denied(r: Replay) -> list[Access]:
    """What the template must not grant: the analyst on raw documents, the sellers' and the PII
    key's secrets and the keys only they and the raw zone use; the functions on the cleaned and
    aggregated buckets."""
    d = r.deployment
    checks: list[Access] = []
    role = r.roles[ANALYST]
    main_bucket = _bucket_of(r.lake_uri)
    for key in r.raw_keys:
        checks.append(Access(ANALYST, role, "s3:GetObject", f"arn:aws:s3:::{main_bucket}/{key}",
                             (), "a landed raw document"))  # fmt: skip
    raw_prefix = r.raw_keys[0].rsplit("/raw/", 1)[0] + "/raw/"
    checks.append(Access(ANALYST, role, "s3:ListBucket", f"arn:aws:s3:::{main_bucket}",
                         (("s3:prefix", raw_prefix),), "listing the raw zone"))  # fmt: skip
    for name, arn in r.secret_arns.items():
        checks.append(
            Access(ANALYST, role, "secretsmanager:GetSecretValue", arn, (), f"secret {name}")
        )
    bucket_keys = d.bucket_keys()
    analyst_keys = {k for b, k in bucket_keys.items() if b != main_bucket}
    private = (r.raw_zone_keys | set(d.secret_keys().values())) - analyst_keys
    for key in sorted(private):
        checks.append(
            Access(ANALYST, role, "kms:Decrypt", key, (), "the raw zone's / secrets' key")
        )
    for part, part_role in r.roles.items():
        if not part.endswith("Function"):
            continue
        for bucket, key in r.zone_keys.items():
            for action in ("s3:GetObject", "s3:PutObject"):
                checks.append(Access(part, part_role, action, f"arn:aws:s3:::{bucket}/{key}",
                                     (), "a curated object"))  # fmt: skip
            checks.append(Access(part, part_role, "s3:ListBucket", f"arn:aws:s3:::{bucket}",
                                 (("s3:prefix", ""),), "listing a curated bucket"))  # fmt: skip
    cache: dict[str, list[Statement]] = {}
    return [a for a in checks if allowed(cache.setdefault(a.role, d.statements(a.role)), a)]


def _bucket_of(lake_uri: str) -> str:
    return lake_uri.split(",")[0].removeprefix("s3://").split("/")[0]


def family(resource: str) -> str:
    """An S3 object ARN cut after its fourth key segment (Spark's many part files and
    staging folders under one table are one finding); other resources as they are."""
    head, sep, key = resource.partition(":::")
    bucket, _, path = key.partition("/")
    segments = path.split("/")
    if not sep or len(segments) <= 4:
        return resource
    return f"{head}:::{bucket}/{'/'.join(segments[:4])}/…"


def grouped(accesses: list[Access]) -> list[tuple[Access, int, str]]:
    """(an example, how many, the resource family) per part, role, action, family."""
    groups: dict[tuple, list[Access]] = {}
    for a in accesses:
        key = (a.part, a.role, a.action, family(a.resource), a.conditions)
        groups.setdefault(key, []).append(a)
    return [(found[0], len(found), key[3]) for key, found in sorted(groups.items())]


def report(refused: list[Access]) -> str:
    """One line per part, action and resource (S3 keys grouped by ``family``)."""
    lines = [f"{len(refused)} access(es) the template does not grant (part, action, resource):"]
    for example, count, where in grouped(refused):
        more = f" ({count} keys, e.g. {example.resource})" if count > 1 else ""
        cond = "".join(f" [{k}={v!r}]" for k, v in example.conditions)
        lines.append(
            f"  - {example.part} ({example.role}): {example.action} on {where}{cond}{more}"
            f"  <- {example.origin}"
        )
    return "\n".join(lines)


def unused_grants(d: Deployment, roles: set[str], accesses: list[Access]) -> list[str]:
    """(role, statement, action) grants no recorded access of that role used."""
    unused = []
    for role in sorted(roles):
        mine = [a for a in accesses if a.role == role]
        for statement in d.statements(role):
            if statement.doc.get("Effect") != "Allow":
                continue
            for action in (
                statement.doc.get("Action", [])
                if isinstance(statement.doc.get("Action"), list)
                else [statement.doc.get("Action")]
            ):
                one = Statement(
                    role,
                    statement.where,
                    statement.index,
                    {**statement.doc, "Action": action},
                    statement.source,
                )
                if not any(statement_applies(one, a) for a in mine):
                    where = f"{statement.where} statement {statement.index}"
                    unused.append(f"{where}: {action} on {statement.doc.get('Resource')}")
    return unused


# ---- tests --------------------------------------------------------------------------------------


def test_every_access_of_every_part_is_granted_by_its_role(replay):
    d = replay.deployment
    unique = distinct(replay.accesses)
    refused = denied(d, unique)
    over = must_be_denied(replay)
    roles = sorted(set(replay.roles.values()))
    print(f"\naccess replay: {replay.calls} calls -> {len(replay.accesses)} accesses "
          f"({len(unique)} distinct) of {len(replay.roles)} parts checked against "
          f"{len(roles)} roles ({', '.join(roles)}); {len(refused)} not granted; "
          f"run {replay.seconds:.0f}s; {'; '.join(replay.notes)}")  # fmt: skip
    dump = os.environ.get("ACCESS_REPLAY_DUMP")  # a file: every distinct access, one a line
    if dump:
        Path(dump).write_text("\n".join(sorted(a.describe() for a in unique)) + "\n")
    per_part = Counter(a.part for a in unique)
    print(
        "distinct accesses per part: " + ", ".join(f"{p} {n}" for p, n in sorted(per_part.items()))
    )
    unused = unused_grants(d, set(roles), unique)
    if unused:
        warnings.warn(
            f"{len(unused)} grant(s) no recorded access used (some serve what the replay does "
            "not run: logs, Step Functions' log delivery, other datasets, retries):\n"
            + "\n".join(f"  {line}" for line in unused),
            stacklevel=1,
        )
    problems = []
    if refused:
        problems.append(report(refused))
    if over:
        problems.append(f"{len(over)} access(es) that must be denied are granted:\n"
                        + "\n".join(f"  - {a.describe()}" for a in over))  # fmt: skip
    assert not problems, "\n".join(problems)


def test_the_replay_covers_every_part(replay):
    parts = {a.part for a in replay.accesses}
    assert set(replay.roles) <= parts, sorted(set(replay.roles) - parts)
    # The PII paths ran: the curation read the hash key its job's arguments name.
    assert replay.pii_secrets, "no Glue job is given a PII hash key secret"
    read = {a.resource for a in replay.accesses if a.action == "secretsmanager:GetSecretValue"}
    assert replay.pii_secrets <= read, (replay.pii_secrets, read)


def test_analysts_are_granted_every_table_the_queries_read_and_no_personal_data():
    from spapi_toolkit.lake.catalog import contracts, table_columns

    template = load_template()
    d = Deployment(template)
    analyst = d.role_of(template["Outputs"]["AnalystRoleArn"]["Value"])
    databases = {d.ref(n): n for n in d.of_type("AWS::Glue::Database")}
    zone_of_db = {}
    for zone in ("cleaned", "aggregated"):
        for name, db in databases.items():
            if name.endswith(f"_{zone}"):
                zone_of_db[db] = zone
    granted: dict[tuple[str, str], list[str] | None] = {}  # (zone, table) -> excluded columns
    for resource in d.of_type("AWS::LakeFormation::PrincipalPermissions").values():
        props = resource["Properties"]
        principal = props["Principal"]["DataLakePrincipalIdentifier"]
        if d.role_of(principal) != analyst or "SELECT" not in props["Permissions"]:
            continue
        table = props["Resource"].get("TableWithColumns") or props["Resource"].get("Table")
        if not table:
            continue
        zone = zone_of_db[table["DatabaseName"]["Ref"]]
        wildcard = table.get("ColumnWildcard")
        granted[(zone, table.get("Name", "*"))] = (
            list(wildcard.get("ExcludedColumnNames", [])) if wildcard is not None
            else ["<only>", *table.get("ColumnNames", [])]
        )  # fmt: skip
    texts = [p.read_text() for p in (ROOT / "spapi_toolkit/data/queries").glob("*.sql")]
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        texts += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    read = {m for t in texts for m in re.findall(r"\b(cleaned|aggregated)\.([a-z_]+)\b", t)}
    known = {(z, c.name) for z in ("cleaned", "aggregated") for c in contracts(z)}
    read &= known
    assert read, "no table found in the queries"
    problems = [f"the analysts read {z}.{t} (a query or notebook) but have no Lake Formation "
                f"grant on it" for z, t in sorted(read)
                if (z, t) not in granted and (z, "*") not in granted]  # fmt: skip
    for contract in contracts("cleaned"):
        excluded = granted.get(("cleaned", contract.name))
        if excluded is None:
            continue
        columns = {c.name: c for c in contract.columns}
        names = [n for n, _, _ in table_columns(contract)]
        pii = [n for n in names if n in columns and columns[n].pii]
        only = excluded[:1] == ["<only>"]
        given = set(excluded[1:]) if only else set(names) - set(excluded)
        for name in sorted(given & set(pii)):
            problems.append(f"analysts are granted cleaned.{contract.name}.{name}: "
                            f"personal data (pii = {columns[name].pii})")  # fmt: skip
        if pii and "extra" in given:
            problems.append(
                f"analysts are granted cleaned.{contract.name}.extra, the unknown columns of a "
                f"table with personal data ({', '.join(pii)})"
            )
    print(f"\nanalyst grants: {len(read)} tables read by the queries, {len(granted)} granted")
    assert not problems, "\n".join(problems)


def test_removing_the_grant_an_access_needs_makes_the_check_name_it(replay):
    d = replay.deployment
    unique = distinct(replay.accesses)
    granted = [a for a in unique if allowed(d.statements(a.role), a) and a.action.startswith("s3:")]

    def rank(a: Access) -> tuple:
        glue = a.part.endswith("Job")
        return (
            "/_quality/" not in a.resource or not glue,
            "/_state/" not in a.resource,
            a.action != "s3:PutObject",
            a.part,
            a.resource,
        )

    target = sorted(granted, key=rank)[0]
    covering = [s for s in d.statements(target.role)
                if s.doc.get("Effect") == "Allow" and statement_applies(s, target)]  # fmt: skip
    assert covering
    template = d.template
    for statement in sorted(covering, key=lambda s: (s.where, -s.index)):
        template = mutated(template, statement)
    broken = Deployment(template, stack=d.stack, physical=replay.physical)
    refused = denied(broken, unique)
    message = report(refused)
    print(f"\nmutation: removed {[s.label() for s in covering]} for {target.describe()}\n"
          f"{message[:3000]}")  # fmt: skip
    key = target.resource.split(":::", 1)[-1]
    assert any(
        a.part == target.part and a.action == target.action and a.resource == target.resource
        for a in refused
    )
    assert target.part in message and target.action in message and key in message


def test_the_evaluator_reads_conditions_as_iam_does():
    # moto's IAMPolicy knows StringEquals only: it ignores StringLike (so the analyst's
    # "list only lake/_quality/*" would allow any prefix) and turns an Allow whose condition
    # fails into a Deny. ``allowed`` asks moto for action and resource, and reads the
    # condition itself.
    from moto.iam.access_control import IAMPolicy, PermissionResult

    listing = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::raw",
        "Condition": {"StringLike": {"s3:prefix": ["lake/_quality/*"]}},
    }
    reads = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::raw/lake/*"}
    raw = (("s3:prefix", "lake/raw/"),)
    moto_says = IAMPolicy(json.dumps({"Statement": [listing]})).is_action_permitted(
        "s3:ListBucket", "arn:aws:s3:::raw", incoming_condition_values=dict(raw)
    )
    assert moto_says == PermissionResult.PERMITTED  # what this module must not rely on
    statements = [Statement("R", "R/p", i, s, s) for i, s in enumerate([listing, reads])]
    assert not allowed(statements, Access("p", "R", "s3:ListBucket", "arn:aws:s3:::raw", raw))
    quality = (("s3:prefix", "lake/_quality/latest/"),)
    assert allowed(statements, Access("p", "R", "s3:ListBucket", "arn:aws:s3:::raw", quality))
    assert not allowed(statements, Access("p", "R", "s3:ListBucket", "arn:aws:s3:::raw", ()))
    # An Allow whose condition fails does not deny what another statement allows.
    assert allowed(statements, Access("p", "R", "s3:GetObject", "arn:aws:s3:::raw/lake/x"))
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::raw/lake/raw/*"}
    statements.append(Statement("R", "R/p", 2, deny, deny))
    assert not allowed(statements, Access("p", "R", "s3:GetObject", "arn:aws:s3:::raw/lake/raw/x"))


def test_the_file_watch_sees_a_file_made_in_a_new_folder_before_its_watch(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "kept.json").write_text("{}")
    with FileWatch(tmp_path) as watch:
        deep = tmp_path / "cleaned" / "t" / "marketplace_id=A" / "date=2026-11-10"
        deep.mkdir(parents=True)  # made and filled faster than the watcher adds its watches
        (deep / "part-0.parquet").write_bytes(b"x")
        (tmp_path / "old" / "kept.json").read_text()
        os.listdir(tmp_path / "old")
        (tmp_path / "old" / "kept.json").unlink()
        time.sleep(0.3)
    events = set(watch.events)
    assert ("write", "cleaned/t/marketplace_id=A/date=2026-11-10/part-0.parquet") in events
    assert {("read", "old/kept.json"), ("list", "old"), ("delete", "old/kept.json")} <= events
    assert not any(kind == "list" and path == "" for kind, path in events)  # our own scans
