"""``spapi deploy``'s parts against a moto server. moto's CloudFormation cannot take the real
template (it has no ``Fn::ForEach`` / ``AWS::LanguageExtensions``), so the stack step runs a
small template through the same change-set code; the upload and the parameters are the real
ones."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import boto3
import pytest
import yaml

from spapi_toolkit.aws import deploy, glue_package

pytestmark = pytest.mark.aws
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dist(tmp_path):
    """What `make package` leaves: the Lambda zip, the wheel, the Glue dependencies' zip and
    the Glue entry scripts."""
    (tmp_path / "lambda").mkdir()
    with zipfile.ZipFile(tmp_path / "lambda" / deploy.LAMBDA_ZIP, "w") as archive:
        archive.writestr("spapi_toolkit/__init__.py", "")
    glue = tmp_path / "glue"
    glue.mkdir()
    (glue / "spapi_lake-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    (glue / deploy.GLUE_DEPS_ZIP).write_bytes(b"zip of wheels")
    (glue / glue_package.MANIFEST).write_text("# what the zip carries\n")
    for script in sorted((ROOT / "glue_jobs").glob("*.py")):
        (glue / script.name).write_bytes(script.read_bytes())
    return tmp_path


def test_artifacts_upload_once_under_content_keys(aws_env, dist):
    s3 = boto3.client("s3")
    deploy.ensure_bucket(s3, "deploy-artifacts", "us-east-1")
    assert s3.get_public_access_block(Bucket="deploy-artifacts")["PublicAccessBlockConfiguration"][
        "RestrictPublicBuckets"
    ]
    rule = s3.get_bucket_encryption(Bucket="deploy-artifacts")["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    policy = json.loads(s3.get_bucket_policy(Bucket="deploy-artifacts")["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # moto serves plain HTTP and enforces that policy: without it to upload here.
    s3.delete_bucket_policy(Bucket="deploy-artifacts")
    template = ROOT / "infra" / "template.yaml"
    first = deploy.upload_artifacts(s3, "deploy-artifacts", dist, template)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="deploy-artifacts")["Contents"]}
    assert first.lambda_key in keys and first.wheel_key in keys and first.glue_deps_key in keys
    assert first.glue_deps_key.startswith("glue/")
    assert first.glue_deps_key.endswith("/spapi-lake-glue-deps.gluewheels.zip")
    deps_bytes = s3.get_object(Bucket="deploy-artifacts", Key=first.glue_deps_key)["Body"].read()
    assert deps_bytes == b"zip of wheels"
    assert {
        first.scripts_prefix + "raw_to_cleaned.py",
        first.scripts_prefix + "cleaned_to_aggregated.py",
    } <= keys
    assert first.template_url.endswith(
        ".amazonaws.com/" + next(k for k in keys if k.startswith("templates/"))
    )
    again = deploy.upload_artifacts(s3, "deploy-artifacts", dist, template)
    assert again == first  # nothing changed: the same keys
    (dist / "glue" / "raw_to_cleaned.py").write_text("# changed\n")
    changed = deploy.upload_artifacts(s3, "deploy-artifacts", dist, template)
    assert changed.scripts_prefix != first.scripts_prefix
    assert changed.lambda_key == first.lambda_key
    # A new project wheel is a new key for it alone: the dependencies' zip keeps its key.
    (dist / "glue" / "spapi_lake-0.1.0-py3-none-any.whl").write_bytes(b"wheel, changed")
    rebuilt = deploy.upload_artifacts(s3, "deploy-artifacts", dist, template)
    assert rebuilt.wheel_key != changed.wheel_key
    assert rebuilt.glue_deps_key == first.glue_deps_key
    (dist / "glue" / deploy.GLUE_DEPS_ZIP).write_bytes(b"zip of other wheels")
    new_deps = deploy.upload_artifacts(s3, "deploy-artifacts", dist, template)
    assert new_deps.glue_deps_key != first.glue_deps_key
    assert new_deps.wheel_key == rebuilt.wheel_key


def test_the_glue_dependencies_zip_is_needed_and_named_as_glue_package_names_it(aws_env, dist):
    assert deploy.GLUE_DEPS_ZIP == glue_package.DEPS_ZIP
    # Glue takes a zip of wheels only by this suffix.
    assert deploy.GLUE_DEPS_ZIP.endswith(".gluewheels.zip")
    s3 = boto3.client("s3")
    deploy.ensure_bucket(s3, "deploy-nodeps", "us-east-1")
    (dist / "glue" / deploy.GLUE_DEPS_ZIP).unlink()
    with pytest.raises(deploy.DeployError, match=r"dependencies' zip.*make package"):
        deploy.upload_artifacts(s3, "deploy-nodeps", dist, ROOT / "infra" / "template.yaml")


def test_missing_builds_are_named(aws_env, tmp_path):
    s3 = boto3.client("s3")
    deploy.ensure_bucket(s3, "deploy-empty", "us-east-1")
    with pytest.raises(deploy.DeployError, match="make package"):
        deploy.upload_artifacts(s3, "deploy-empty", tmp_path, ROOT / "infra" / "template.yaml")


def test_parameters_name_every_required_template_parameter():
    template = yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())
    required = {k for k, v in template["Parameters"].items() if "Default" not in v}
    artifacts = deploy.Artifacts("b", "lambda/x.zip", "glue/w.whl", "glue/s/", "https://u",
                                 "glue/d/deps.gluewheels.zip")  # fmt: skip
    declared = set(template["Parameters"])
    given = deploy.stack_parameters(
        artifacts, ["arn:aws:iam::1:role/a"], {"Marketplaces": "DE"}, declared
    )
    names = {p["ParameterKey"] for p in given}
    assert required <= names and names <= declared
    assert {"ParameterKey": "Marketplaces", "ParameterValue": "DE"} in given


def test_the_glue_dependencies_key_goes_to_a_template_that_declares_it():
    artifacts = deploy.Artifacts("b", "lambda/x.zip", "glue/w.whl", "glue/s/", "https://u",
                                 "glue/d/deps.gluewheels.zip")  # fmt: skip
    admins = ["arn:aws:iam::1:role/a"]

    def values(declared):
        return {p["ParameterKey"]: p["ParameterValue"]
                for p in deploy.stack_parameters(artifacts, admins, {}, declared)}  # fmt: skip

    newer = values({"ArtifactBucket", "GlueWheelKey", "GlueDependenciesKey", "GlueScriptsPrefix"})
    assert newer == {"ArtifactBucket": "b", "GlueWheelKey": "glue/w.whl",
                     "GlueDependenciesKey": "glue/d/deps.gluewheels.zip",
                     "GlueScriptsPrefix": "glue/s/"}  # fmt: skip
    older = values({"ArtifactBucket", "GlueWheelKey", "GlueScriptsPrefix"})
    assert "GlueDependenciesKey" not in older and older["GlueWheelKey"] == "glue/w.whl"
    assert values(None)["GlueDependenciesKey"] == "glue/d/deps.gluewheels.zip"


def test_an_assumed_role_deploys_as_its_role():
    class Sts:
        def get_caller_identity(self):
            return {"Arn": "arn:aws:sts::123456789012:assumed-role/Deployer/session-1"}

    assert deploy.caller_principal(Sts()) == "arn:aws:iam::123456789012:role/Deployer"


def test_the_stack_step_creates_then_updates(aws_env):
    s3, cfn = boto3.client("s3"), boto3.client("cloudformation")
    s3.create_bucket(Bucket="deploy-templates")

    def url(value: str) -> str:
        body = {
            "Parameters": {"Marketplaces": {"Type": "String"}},
            "Resources": {
                "Setting": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {
                        "Name": "/deploy-test/marketplaces",
                        "Type": "String",
                        "Value": {"Ref": "Marketplaces"},
                    },
                }
            },
            "Outputs": {
                "AthenaWorkGroup": {"Value": value},
                "Marketplaces": {"Value": {"Ref": "Marketplaces"}},
            },
        }
        s3.put_object(Bucket="deploy-templates", Key=f"{value}.json", Body=json.dumps(body))
        return f"https://deploy-templates.s3.us-east-1.amazonaws.com/{value}.json"

    ssm = boto3.client("ssm")
    assert deploy.template_parameters(cfn, url("wg-0")) == {"Marketplaces"}
    deploy.deploy_stack(
        cfn,
        "spapi-test-stack",
        url("wg-1"),
        [{"ParameterKey": "Marketplaces", "ParameterValue": "US"}],
    )
    assert ssm.get_parameter(Name="/deploy-test/marketplaces")["Parameter"]["Value"] == "US"
    deploy.deploy_stack(
        cfn,
        "spapi-test-stack",
        url("wg-2"),
        [{"ParameterKey": "Marketplaces", "ParameterValue": "DE"}],
    )
    assert ssm.get_parameter(Name="/deploy-test/marketplaces")["Parameter"]["Value"] == "DE"
    (stack,) = cfn.describe_stacks(StackName="spapi-test-stack")["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    # (moto leaves a change set's stack without Outputs; the mapping to the environment:)
    values = {"AthenaWorkGroup": "wg-2", "LakeUri": "s3://r/lake,cleaned=s3://c", "Other": "x"}
    assert deploy.environment_lines(values) == [
        "export SPAPI_LAKE=s3://r/lake,cleaned=s3://c",
        "export SPAPI_ATHENA_WORKGROUP=wg-2",
    ]
