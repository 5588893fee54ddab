"""Build, upload and deploy: what ``make package`` and ``spapi deploy --stack NAME`` run.

``build_lambda_bundle`` makes ``dist/lambda/spapi-lake-lambda.zip``: the project wheel and its
dependencies installed for Lambda's platform (manylinux x86_64, CPython 3.11; ijson's C
backend included). ``make package`` also builds ``dist/glue/`` (``glue_package``: the Glue entry
scripts, the wheel, and the zip of the wheels the jobs need besides Glue's own). ``deploy`` then:

1. creates the artifact bucket if needed (SSE-KMS with the account's S3 key, public access
   blocked, TLS only) and uploads the bundle, the scripts, the wheel, the Glue dependencies' zip
   and the template under content-addressed keys (``<sha256 prefix>/<name>``), so a changed
   file is a new key and CloudFormation updates the functions and jobs that use it, and an
   unchanged one is not uploaded again;
2. creates or updates the stack through a change set (``CAPABILITY_NAMED_IAM`` for the roles;
   the template uses no transform), with the artifact keys (each only
   if the template declares its parameter), the caller as a Lake Formation administrator, and
   the user's ``--parameter`` values;
3. returns the stack's outputs, which ``spapi deploy`` prints as the environment the
   notebooks and ``lake.query.connect`` read (``SPAPI_LAKE``, ``SPAPI_ATHENA_WORKGROUP``, ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LAMBDA_ZIP = "spapi-lake-lambda.zip"
# The zip of wheels glue_package builds into dist/glue/ (AWS's suffix: .gluewheels.zip).
GLUE_DEPS_ZIP = "spapi-lake-glue-deps.gluewheels.zip"
LAMBDA_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp",
                   "--python-version", "3.11", "--only-binary=:all:"]  # fmt: skip
# Stack outputs -> the environment variables that name them (README "Configuration").
ENVIRONMENT = {
    "LakeUri": "SPAPI_LAKE",
    "KmsKeyArn": "SPAPI_KMS_KEY_ID",
    "AthenaWorkGroup": "SPAPI_ATHENA_WORKGROUP",
    "CleanedDatabase": "SPAPI_GLUE_DATABASE",
    "AggregatedDatabase": "SPAPI_GLUE_AGGREGATED_DATABASE",
}


class DeployError(RuntimeError):
    """The deployment stopped; the message says where and why."""


@dataclass(frozen=True)
class Artifacts:
    """Where the uploaded files are in the artifact bucket."""

    bucket: str
    lambda_key: str
    wheel_key: str
    scripts_prefix: str
    template_url: str
    glue_deps_key: str = ""  # the zip of wheels the Glue jobs install with the project wheel


def build_lambda_bundle(project: Path, dist: Path) -> Path:
    """The Lambda deployment zip of ``project`` (a checkout), built under ``dist/lambda``."""
    work = dist / "lambda"
    shutil.rmtree(work, ignore_errors=True)
    wheels, target = work / "wheel", work / "package"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", str(project), "-w", str(wheels)],
                   check=True)  # fmt: skip
    (wheel,) = wheels.glob("spapi_lake-*.whl")
    subprocess.run([*pip, "install", "--quiet", "--target", str(target), *LAMBDA_PLATFORM,
                    str(wheel)], check=True)  # fmt: skip
    bundle = work / LAMBDA_ZIP
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(target.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                # A fixed date: the same files make the same zip (and the same S3 key).
                info = zipfile.ZipInfo(path.relative_to(target).as_posix(), (2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return bundle


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create the artifact bucket if it does not exist: encrypted, private, TLS only."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    config = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}  # fmt: skip
    s3.create_bucket(Bucket=bucket, **config)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})  # fmt: skip
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
         "BucketKeyEnabled": True}]})  # fmt: skip
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                       "Action": "s3:*",
                       "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))  # fmt: skip


def _upload(s3: Any, bucket: str, path: Path, key: str) -> str:
    """Upload ``path`` to ``key`` unless an object is there already (keys are content hashes)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        log.info("already uploaded: s3://%s/%s", bucket, key)
    except s3.exceptions.ClientError:
        s3.upload_file(str(path), bucket, key)
        log.info("uploaded s3://%s/%s", bucket, key)
    return key


def upload_artifacts(
    s3: Any, bucket: str, dist: Path, template: Path, region: str = "us-east-1"
) -> Artifacts:
    """Upload what ``make package`` built (``dist/lambda``, ``dist/glue``) and the template."""
    bundle = dist / "lambda" / LAMBDA_ZIP
    glue = dist / "glue"
    wheels = sorted(glue.glob("spapi_lake-*.whl"))
    scripts = sorted(glue.glob("*.py"))
    deps = glue / GLUE_DEPS_ZIP
    missing = [str(p) for p in (bundle, template) if not p.is_file()]
    if not wheels or not scripts or not deps.is_file():
        missing.append(f"{glue}/ (the wheel, the dependencies' zip and the entry scripts)")
    if missing:
        raise DeployError(f"not built: {', '.join(missing)}; run `make package` first")
    lambda_key = _upload(s3, bucket, bundle, f"lambda/{_digest(bundle)}/{LAMBDA_ZIP}")
    wheel = wheels[-1]
    wheel_key = _upload(s3, bucket, wheel, f"glue/{_digest(wheel)}/{wheel.name}")
    # Its own key: it changes only with the dependencies, not with every change of the project.
    deps_key = _upload(s3, bucket, deps, f"glue/{_digest(deps)}/{deps.name}")
    # The scripts go together under one prefix named by all of them (the jobs take a prefix).
    together = hashlib.sha256(b"".join(p.read_bytes() for p in scripts)).hexdigest()[:16]
    prefix = f"glue/scripts-{together}/"
    for script in scripts:
        _upload(s3, bucket, script, prefix + script.name)
    template_key = _upload(s3, bucket, template, f"templates/{_digest(template)}/{template.name}")
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"
    return Artifacts(bucket, lambda_key, wheel_key, prefix, url, deps_key)


def caller_principal(sts: Any) -> str:
    """The IAM principal deploying, as Lake Formation names an administrator: an assumed
    role's session ARN becomes its role's ARN."""
    identity = str(sts.get_caller_identity()["Arn"])
    if ":assumed-role/" in identity:
        partition_account, rest = identity.split(":assumed-role/", 1)
        role = rest.split("/", 1)[0]
        return partition_account.replace(":sts::", ":iam::") + f":role/{role}"
    return identity


def stack_parameters(
    artifacts: Artifacts,
    admins: list[str],
    given: Mapping[str, str],
    declared: Collection[str] | None = None,
) -> list[dict[str, str]]:
    """The stack's parameters: the artifacts' keys, the administrators, then ``given``.

    ``declared`` (the template's parameters, when known) drops those of ours the template does
    not declare, as CloudFormation refuses an unknown parameter: a template from before
    ``GlueDependenciesKey`` still deploys. ``given`` is passed as it is."""
    ours = {
        "ArtifactBucket": artifacts.bucket,
        "LambdaCodeKey": artifacts.lambda_key,
        "GlueWheelKey": artifacts.wheel_key,
        "GlueDependenciesKey": artifacts.glue_deps_key,
        "GlueScriptsPrefix": artifacts.scripts_prefix,
        "DataLakeAdminArns": ",".join(admins),
    }
    values = {
        **{k: v for k, v in ours.items() if declared is None or k in declared},
        **given,
    }
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in values.items()]


def template_parameters(cloudformation: Any, template_url: str) -> set[str]:
    """The parameter names the template at ``template_url`` declares."""
    summary = cloudformation.get_template_summary(TemplateURL=template_url)
    return {p["ParameterKey"] for p in summary.get("Parameters", [])}


def deploy_stack(
    cloudformation: Any, stack: str, template_url: str, parameters: list[dict[str, str]]
) -> dict[str, str]:
    """Create or update ``stack`` through a change set and wait; its outputs by key.

    A change set with no changes is not an error: the stack is as asked."""
    try:
        cloudformation.describe_stacks(StackName=stack)
        kind = "UPDATE"
    except cloudformation.exceptions.ClientError:
        kind = "CREATE"
    name = f"spapi-deploy-{hashlib.sha256(json.dumps(parameters).encode()).hexdigest()[:10]}"
    cloudformation.create_change_set(
        StackName=stack, ChangeSetName=name, ChangeSetType=kind, TemplateURL=template_url,
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )  # fmt: skip
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except Exception:
        described = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = str(described.get("StatusReason", ""))
        if "didn't contain changes" in reason or "No updates" in reason:
            cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
            return outputs(cloudformation, stack)
        raise DeployError(f"change set {name} of {stack} failed: {reason}") from None
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    cloudformation.get_waiter(waiter).wait(
        StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240}
    )
    return outputs(cloudformation, stack)


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's outputs by key."""
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def environment_lines(values: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` for every output the toolkit reads from the environment."""
    return [f"export {ENVIRONMENT[k]}={values[k]}" for k in ENVIRONMENT if k in values]


def deploy(
    stack: str,
    *,
    dist: Path,
    template: Path,
    bucket: str | None = None,
    parameters: Mapping[str, str] | None = None,
    admins: list[str] | None = None,
    session: Any = None,
) -> dict[str, str]:
    """Upload what ``make package`` built and deploy ``stack``; its outputs (module doc)."""
    if session is None:
        import boto3

        session = boto3.Session()
    region = session.region_name or "us-east-1"
    sts = session.client("sts")
    account = sts.get_caller_identity()["Account"]
    bucket = bucket or f"{stack}-artifacts-{account}-{region}"
    s3 = session.client("s3")
    ensure_bucket(s3, bucket, region)
    artifacts = upload_artifacts(s3, bucket, dist, template, region)
    chosen = admins or [caller_principal(sts)]
    cloudformation = session.client("cloudformation")
    declared = template_parameters(cloudformation, artifacts.template_url)
    values = stack_parameters(artifacts, chosen, parameters or {}, declared)
    return deploy_stack(cloudformation, stack, artifacts.template_url, values)


def main(argv: list[str] | None = None) -> int:
    """``python -m spapi_toolkit.aws.deploy package [PROJECT] [DIST]``: the Lambda bundle."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "package":
        print(main.__doc__, file=sys.stderr)
        return 2
    project = Path(args[1] if len(args) > 1 else ".").resolve()
    dist = Path(args[2] if len(args) > 2 else "dist").resolve()
    bundle = build_lambda_bundle(project, dist)
    print(f"built {bundle} ({bundle.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
