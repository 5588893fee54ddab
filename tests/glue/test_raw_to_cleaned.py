"""The Glue entry scripts (glue_jobs/) and what they share (spapi_toolkit.lake.curate.entry):
arguments, Glue-or-local, the PII key, exit status, and a local run of each."""

from __future__ import annotations

import textwrap

import boto3
import pytest

from spapi_toolkit.lake.curate import entry as job

from .support import run_script


def argv(*args: str) -> list[str]:
    return ["raw_to_cleaned.py", *args]


# --- arguments ---------------------------------------------------------------------------------


def test_only_the_lake_is_required_and_the_optional_arguments_default():
    args = job.parse_args(argv("--lake", "s3://bucket/lake"))
    assert args.lake == "s3://bucket/lake"
    assert args.tables is None
    assert args.full_refresh is False
    assert args.pii_hash_key_secret_id is None
    assert args.job_name is None


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_the_optional_arguments_are_read_when_given(form):
    given = {
        "lake": "/tmp/lake",
        "tables": " orders, order_items ,",
        "full_refresh": "TRUE",
        "pii_hash_key_secret_id": "spapi/pii-hash-key",
    }
    if form == "separate":
        args = job.parse_args(argv(*(x for k, v in given.items() for x in (f"--{k}", v))))
    else:
        args = job.parse_args(argv(*(f"--{k}={v}" for k, v in given.items())))
    assert args.tables == ["orders", "order_items"]
    assert args.full_refresh is True
    assert args.pii_hash_key_secret_id == "spapi/pii-hash-key"
    assert job.parse_args(argv("--lake", "x", "--full_refresh", "false")).full_refresh is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--lake"),
        (("--lake",), "--lake"),
        (("--lake", "x", "--tables", " , "), "--tables"),
        (("--lake", "x", "--full_refresh", "yes"), "--full_refresh must be true or false"),
        (("--lake", "x", "--full_refresh"), "--full_refresh"),
        (("--lake", "x", "--pii_hash_key_secret_id", " "), "--pii_hash_key_secret_id"),
        (("--lake", "x", "--table", "orders"), "unknown argument(s) --table"),
    ],
)
def test_unusable_arguments_are_refused_with_the_reason(args, message):
    with pytest.raises(job.UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        job.parse_args(argv(*args))


def test_on_glue_its_own_arguments_are_let_through_and_the_job_name_is_kept():
    args = job.parse_args(
        argv(
            "--JOB_NAME", "spapi-raw-to-cleaned", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1",
            "--job-bookmark-option", "job-bookmark-disable", "--TempDir", "s3://tmp/",
            "--enable-metrics", "true", "--lake", "s3://bucket/lake", "--tables", "orders",
        )
    )  # fmt: skip
    assert args.job_name == "spapi-raw-to-cleaned"
    assert args.tables == ["orders"]
    # What Glue's Job.init is given: the resolved arguments, the job's own among them.
    assert args.resolved["JOB_NAME"] == "spapi-raw-to-cleaned"
    assert args.resolved["JOB_RUN_ID"] == "jr_1"
    assert args.resolved["lake"] == "s3://bucket/lake"


def test_the_script_exits_2_with_the_usage_on_bad_arguments(tmp_path):
    missing = run_script("raw_to_cleaned", cwd=tmp_path)
    assert missing.returncode == 2
    assert "--lake" in missing.stderr and "usage:" in missing.stderr
    bad = run_script(
        "raw_to_cleaned", "--lake", str(tmp_path), "--full_refresh", "maybe", cwd=tmp_path
    )
    assert bad.returncode == 2
    assert "--full_refresh must be true or false, not 'maybe'" in bad.stderr


def test_a_failing_job_exits_1_naming_the_error(tmp_path):
    # The lake is opened before Spark starts, so a bad one fails at once.
    failed = run_script("raw_to_cleaned", "--lake", "ftp://host/lake", cwd=tmp_path)
    assert failed.returncode == 1
    assert "raw_to_cleaned: failed: LakeError" in failed.stderr
    assert "unsupported scheme 'ftp'" in failed.stderr


# --- the PII hash key --------------------------------------------------------------------------


def test_without_a_secret_the_key_is_the_environments_or_none():
    args = job.parse_args(argv("--lake", "x"))
    assert job.pii_hash_key(args, {"SPAPI_PII_HASH_KEY": "local-key"}) == b"local-key"
    assert job.pii_hash_key(args, {}) is None


@pytest.mark.aws
def test_the_secret_named_by_the_arguments_is_the_key_and_an_arn_names_its_region(aws_env):
    # The environment's region is us-east-1; the secret lives in us-west-2, found by its ARN.
    client = boto3.client("secretsmanager", region_name="us-west-2")
    arn = client.create_secret(Name="spapi/pii-hash-key", SecretString="s3cr3t-ключ")["ARN"]
    args = job.parse_args(argv("--lake", "x", "--pii_hash_key_secret_id", arn))
    env = {"SPAPI_PII_HASH_KEY": "not this one"}
    assert job.pii_hash_key(args, env) == "s3cr3t-ключ".encode()

    boto3.client("secretsmanager").create_secret(Name="by-name", SecretBinary=b"\x00\x01key")
    by_name = job.parse_args(argv("--lake", "x", "--pii_hash_key_secret_id", "by-name"))
    assert job.pii_hash_key(by_name, env) == b"\x00\x01key"

    missing = job.parse_args(argv("--lake", "x", "--pii_hash_key_secret_id", "no-such-secret"))
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        job.pii_hash_key(missing, env)


# --- Glue or local -----------------------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    from pyspark import SparkConf, SparkContext
    from spapi_toolkit.lake.curate import entry as job
    sc = SparkContext(conf=SparkConf().setMaster("local[1]").setAppName("probe"))
    print("glue", job.glue_classes_loadable(sc))
    print("spark", job.glue_classes_loadable(sc, "org.apache.spark.SparkContext"))
    sc.stop()
    """
)


@pytest.mark.spark
def test_here_the_glue_classes_are_not_loadable_though_a_present_class_is(tmp_path):
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert "glue False" in probe.stdout
    assert "spark True" in probe.stdout


@pytest.mark.spark
def test_a_job_name_without_glue_stops_with_2_instead_of_running_locally(tmp_path):
    ran = run_script(
        "raw_to_cleaned", "--JOB_NAME", "spapi-raw-to-cleaned", "--lake", str(tmp_path),
        "--job-bookmark-option", "job-bookmark-disable", cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert "cannot load Glue's com.amazonaws.services.glue.GlueContext" in ran.stderr
    assert "Leave --JOB_NAME out to run locally" in ran.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was curated


@pytest.mark.spark
def test_a_local_spark_without_hadoop_aws_stops_with_2_saying_what_s3_needs(tmp_path, monkeypatch):
    # PySpark from PyPI has no s3:// file system: said before any table starts, not as a Java
    # stack trace from the first write (the test machine has no AWS; no call reaches S3).
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    lake = "s3://spapi-raw/lake,cleaned=s3://spapi-cleaned"
    ran = run_script("raw_to_cleaned", "--lake", lake, cwd=tmp_path, timeout=180)
    assert ran.returncode == 2, ran.stderr
    assert "raw_to_cleaned: this Spark cannot reach s3://spapi-raw/lake/raw" in ran.stderr
    assert 'No FileSystem for scheme "s3"' in ran.stderr
    assert "org.apache.hadoop:hadoop-aws:3.3.4" in ran.stderr and "AWS Glue" in ran.stderr
    assert "Traceback" not in ran.stderr and "done," not in ran.stdout


# --- each script, end to end ------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "options"),
    [
        ("raw_to_cleaned", ()),
        ("raw_to_cleaned", ("--tables", "order_items", "--full_refresh", "true")),
        ("cleaned_to_aggregated", ("--tables", "sales_daily")),
    ],
)
def test_a_local_run_on_an_empty_lake_succeeds(tmp_path, script, options):
    lake = tmp_path / "lake"
    lake.mkdir()
    ran = run_script(script, "--lake", str(lake), *options, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "on local Spark" in ran.stdout
    assert f"{script}: done," in ran.stdout


def test_each_script_names_its_own_job_in_its_usage(tmp_path):
    jobs = (("raw_to_cleaned", "cleaned tables"), ("cleaned_to_aggregated", "marts"))
    for script, tables in jobs:
        missing = run_script(script, cwd=tmp_path)
        assert missing.returncode == 2
        assert f"usage: {script}.py" in missing.stderr and tables in missing.stderr


def test_a_failed_suite_makes_the_job_exit_1_listing_table_partition_and_expectation(
    tmp_path, monkeypatch, capsys
):
    # The job ran (Spark stubbed: the gate itself is tests/curate/test_quality.py's); its
    # result says a partition was held back, so the job must fail, saying what and where.
    from spapi_toolkit.lake.curate import session
    from spapi_toolkit.lake.curate.jobs import TableResult
    from spapi_toolkit.lake.quality.gate import Failure

    held = "marketplace_id=A1PA6795UKMFR9/purchase_date=2026-11-12"
    failure = Failure("expect_column_values_to_be_between", "range",
                      "item_price >= 0 (money is never negative unless the contract says signed)",
                      ["item_price"], 1, {held: 1})  # fmt: skip
    result = TableResult("order_items", documents=2, partitions=1, blocked=[held],
                         failures=[failure])  # fmt: skip
    monkeypatch.setattr(session, "spark_session", lambda *args, **kwargs: object())
    monkeypatch.setattr(session, "reach", lambda spark, lake: None)
    gated = job.GlueJob("raw_to_cleaned", "cleaned tables", lambda *args: [result])
    assert job.main(gated, argv("--lake", str(tmp_path))) == 1
    err = capsys.readouterr().err
    assert "raw_to_cleaned: quality gate failed:" in err
    assert f"cleaned.order_items: blocked 1 partition(s): {held}" in err
    assert "expect_column_values_to_be_between failed — item_price >= 0" in err
    assert f"1 row(s) in {held}: 1 row(s)" in err
    passed = job.GlueJob("raw_to_cleaned", "cleaned tables", lambda *args: [TableResult("t")])
    assert job.main(passed, argv("--lake", str(tmp_path))) == 0


def test_the_catalog_database_argument_is_read_and_checked():
    assert (
        job.parse_args(argv("--lake", "s3://b/l", "--catalog_database", "db")).catalog_database
        == "db"
    )
    assert job.parse_args(argv("--lake", "s3://b/l")).catalog_database is None
    with pytest.raises(job.UsageError, match="--catalog_database is empty"):
        job.parse_args(argv("--lake", "s3://b/l", "--catalog_database", " "))


@pytest.mark.spark
@pytest.mark.aws
def test_a_job_registers_its_zones_tables_in_the_catalog_database(aws_env, capsys, monkeypatch):
    from spapi_toolkit.lake.curate import session

    # A local Spark has no s3:// file system (session.reach stops the job); the lake is empty,
    # so Spark never reads it and the run gets to the catalog step, which boto3 does.
    monkeypatch.setattr(session, "reach", lambda spark, lake: None)
    boto3.client("s3").create_bucket(Bucket="glue-lake")
    code = job.main(job.CLEANED_TO_AGGREGATED, ["cleaned_to_aggregated.py", "--lake",
                                                "s3://glue-lake/prod", "--catalog_database",
                                                "spapi_aggregated"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    glue = boto3.client("glue")
    listed = {t["Name"] for t in glue.get_tables(DatabaseName="spapi_aggregated")["TableList"]}
    from spapi_toolkit.lake.marts import marts

    assert listed == set(marts())  # the marts, each in its own zone's database
    assert "catalog spapi_aggregated.sales_daily: 0 partitions" in capsys.readouterr().out


# --- the metrics an alarm watches ----------------------------------------------------------------


@pytest.mark.aws
def test_the_job_publishes_held_back_partitions_and_quarantined_rows(
    aws_env, tmp_path, monkeypatch
):
    """The stack alarms on each metric per job name: a run that held two partitions back,
    quarantined three rows and refused a document publishes 2, 3 and 1, and a clean one 0 (so
    the alarm sees data, not silence)."""
    from spapi_toolkit.lake.curate import session
    from spapi_toolkit.lake.curate.jobs import TableResult
    from spapi_toolkit.lake.quality.gate import Failure

    monkeypatch.setattr(session, "spark_session", lambda *args, **kwargs: object())
    monkeypatch.setattr(session, "reach", lambda spark, lake: None)
    failure = Failure("expect_column_values_to_not_be_null", "required", "id is set", ["id"], 1,
                      {"m=A/d=1": 1})  # fmt: skip
    held = TableResult("orders", quarantined=3, blocked=["m=A/d=1", "m=A/d=2"], failures=[failure],
                       refused={"raw/a": "its bytes are not its manifest's"})  # fmt: skip
    failing = job.GlueJob("raw_to_cleaned", "cleaned tables", lambda *args: [held])
    args = ("--lake", str(tmp_path), "--metrics_namespace", "SpapiLakeTest")
    assert job.main(failing, argv(*args)) == 1
    clean = job.GlueJob("raw_to_cleaned", "cleaned tables", lambda *a: [TableResult("orders")])
    assert job.main(clean, argv(*args)) == 0
    listed = boto3.client("cloudwatch").list_metrics(Namespace="SpapiLakeTest")["Metrics"]
    assert sorted((m["MetricName"], m["Dimensions"][0]["Value"]) for m in listed) == [
        ("DocumentsRefused", "raw_to_cleaned"),
        ("PartitionsHeldBack", "raw_to_cleaned"),
        ("RowsQuarantined", "raw_to_cleaned"),
    ]
    # The values, as the real client sent them (moto keeps them, but a query by time needs
    # today's date).
    sent = []

    class Recording:
        def put_metric_data(self, **kwargs):
            sent.append(kwargs)
            boto3.client("cloudwatch").put_metric_data(**kwargs)

    assert job.publish_metrics("SpapiLakeTest", "spapi-raw-to-cleaned", [held], Recording()) == {
        "PartitionsHeldBack": 2,
        "RowsQuarantined": 3,
        "DocumentsRefused": 1,
    }
    (call,) = sent
    assert {d["MetricName"]: d["Value"] for d in call["MetricData"]} == {
        "PartitionsHeldBack": 2,
        "RowsQuarantined": 3,
        "DocumentsRefused": 1,
    }
    assert call["MetricData"][0]["Dimensions"] == [
        {"Name": "JobName", "Value": "spapi-raw-to-cleaned"}
    ]


def test_a_metric_that_cannot_be_published_fails_nothing(capsys):
    from spapi_toolkit.lake.curate.jobs import TableResult

    class Down:
        def put_metric_data(self, **kwargs):
            raise ConnectionError("no route to monitoring")

    values = job.publish_metrics("N", "job-x", [TableResult("t", blocked=["p"])], Down())
    assert values == {"PartitionsHeldBack": 1, "RowsQuarantined": 0, "DocumentsRefused": 0}
    assert "job-x: metrics not published to N: ConnectionError" in capsys.readouterr().err
