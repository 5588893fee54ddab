"""What the Glue entry scripts share: arguments, Glue or local Spark, the PII key, exit status.

``glue_jobs/raw_to_cleaned.py`` and ``glue_jobs/cleaned_to_aggregated.py`` are one line each on
top of this module (it ships in the project wheel, which Glue installs with
``--additional-python-modules``; a helper beside the scripts would not be importable there).

Arguments, ``--name value`` as Glue passes job arguments, read with awsglue's
``getResolvedOptions`` in both places (``awsgluedataplanepython`` provides it locally):

``--lake``
    The lake root: ``s3://bucket/prefix`` or a local folder. Required.
``--tables``
    Comma-separated names (cleaned tables, or marts); default every one with a contract.
``--full_refresh``
    ``true`` or ``false`` (default): rebuild the chosen tables from all of their inputs.
``--pii_hash_key_secret_id``
    The Secrets Manager secret (name or ARN) holding the key that hashes PII columns (its
    SecretString, UTF-8). Without it the key is ``SPAPI_PII_HASH_KEY`` from the environment
    (local runs); without both, none is passed and the curation decides.
``--catalog_database``
    A Glue database: after curating, the job registers its zone's tables and their partitions
    there (``catalog.register``: the cleaned tables for raw_to_cleaned, the marts for
    cleaned_to_aggregated), so Athena sees the new partitions at once. Only for an S3 lake.
``--metrics_namespace``
    A CloudWatch namespace: after curating, the job publishes ``PartitionsHeldBack`` (what the
    quality gate kept from publishing), ``RowsQuarantined`` and ``DocumentsRefused`` (documents
    whose bytes are not their manifest's, or that cannot feed their table), with the dimension
    ``JobName`` (the Glue job's name, or the script's locally), so the stack's alarms watch
    them. A metric that cannot be published is reported on stderr and fails nothing: a
    held-back partition fails the run anyway, quarantined rows and refused documents alarm.

``getResolvedOptions`` knows only required arguments, so an optional one is resolved only when
its flag is in ``argv`` (the recipe of the AWS docs). Locally an unknown ``--flag`` is refused,
so a typo cannot silently run every table; on Glue it is ignored, as Glue adds its own.

Glue or local. Glue starts every job run with ``--JOB_NAME`` (which its ``Job`` needs); a local
run has none. So: with ``--JOB_NAME`` the job runs as a Glue job — ``GlueContext`` on
``SparkContext.getOrCreate()``, ``Job.init(JOB_NAME, args)``, the curation's Spark settings
applied to Glue's session, ``job.commit()`` once it succeeded — after checking that the Spark
JVM can load Glue's ``com.amazonaws.services.glue.GlueContext`` class (a plain PySpark cannot,
where awsglue would fail with a py4j "'JavaPackage' object is not callable"). If it cannot, the
job stops (status 2) saying so, rather than quietly run as a local job. Without ``--JOB_NAME``
it runs locally on ``spark_session()`` (local Spark, UTC).

Exit status: 0 done; 1 the job failed (the error on stderr; on Glue the exception is raised
again so that the run is marked FAILED with it), or an expectation suite failed: the partitions
it held back were not published, and each failed expectation is listed on stderr with its
table, partitions and row counts (on Glue a ``QualityError`` with the same lines marks the run
FAILED, after the rest was published and the job committed); 2 bad arguments,
``--JOB_NAME`` without Glue's classes, or a local Spark that cannot reach the lake (``s3://``
needs hadoop-aws, which PySpark from PyPI lacks; ``session.reach`` says so).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spapi_toolkit.lake.storage import Lake

REQUIRED = ("lake",)
OPTIONAL = (
    "tables",
    "full_refresh",
    "pii_hash_key_secret_id",
    "catalog_database",
    "metrics_namespace",
)
GLUE_CONTEXT_CLASS = "com.amazonaws.services.glue.GlueContext"
HASH_KEY_ENV = "SPAPI_PII_HASH_KEY"


@dataclass(frozen=True)
class GlueJob:
    """One job: its name (the script's), what its --tables names, and what it runs."""

    name: str
    tables_are: str  # "cleaned tables" or "marts", for the usage line
    curate: Callable[[Any, Lake, list[str] | None, bool, bytes | None], list[Any]]
    zone: str = "cleaned"  # whose tables --catalog_database registers

    @property
    def usage(self) -> str:
        return (
            f"usage: {self.name}.py --lake S3_URI_OR_FOLDER [--tables T1,T2 ({self.tables_are})]"
            " [--full_refresh true|false] [--pii_hash_key_secret_id NAME_OR_ARN]"
            " [--catalog_database GLUE_DATABASE] [--metrics_namespace CLOUDWATCH_NAMESPACE]"
        )


def _raw_to_cleaned(spark: Any, lake: Lake, names: list[str] | None, full_refresh: bool,
                    hash_key: bytes | None) -> list[Any]:  # fmt: skip
    from spapi_toolkit.lake.curate.jobs import raw_to_cleaned
    from spapi_toolkit.lake.quality.gate import SIDE_BY_SIDE

    return raw_to_cleaned(spark, lake, names, full_refresh=full_refresh, hash_key=hash_key,
                          concurrent=SIDE_BY_SIDE)  # fmt: skip


def _cleaned_to_aggregated(spark: Any, lake: Lake, names: list[str] | None, full_refresh: bool,
                           hash_key: bytes | None) -> list[Any]:  # fmt: skip
    from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated
    from spapi_toolkit.lake.quality.gate import SIDE_BY_SIDE

    return cleaned_to_aggregated(spark, lake, names, full_refresh=full_refresh,
                                 concurrent=SIDE_BY_SIDE)  # fmt: skip


RAW_TO_CLEANED = GlueJob("raw_to_cleaned", "cleaned tables", _raw_to_cleaned)
CLEANED_TO_AGGREGATED = GlueJob(
    "cleaned_to_aggregated", "marts", _cleaned_to_aggregated, zone="aggregated"
)


class QualityError(RuntimeError):
    """A suite failed: some partitions were held back (the message lists what failed)."""


class UsageError(Exception):
    """The arguments cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Arguments:
    lake: str
    tables: list[str] | None
    full_refresh: bool
    pii_hash_key_secret_id: str | None
    job_name: str | None  # set: run as a Glue job
    resolved: dict[str, Any]  # everything getResolvedOptions returned, for Glue's Job.init
    catalog_database: str | None = None
    metrics_namespace: str | None = None


def _given(argv: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv[1:])


def _resolve(argv: Sequence[str], names: list[str]) -> dict[str, Any]:
    from awsglue.utils import GlueArgumentError, getResolvedOptions

    try:
        return getResolvedOptions(list(argv), names)
    except GlueArgumentError as exc:
        raise UsageError(str(exc)) from exc


def parse_args(argv: Sequence[str]) -> Arguments:
    """The job's arguments from ``argv`` (``sys.argv``: the script's name first)."""
    on_glue = _given(argv, "JOB_NAME")
    if not on_glue:
        known = {f"--{name}" for name in (*REQUIRED, *OPTIONAL)}
        unknown = [a for a in argv[1:] if a.startswith("--") and a.split("=", 1)[0] not in known]
        if unknown:
            raise UsageError(f"unknown argument(s) {', '.join(unknown)}")
    wanted = [*REQUIRED, *(name for name in OPTIONAL if _given(argv, name))]
    resolved = _resolve(argv, ["JOB_NAME", *wanted] if on_glue else wanted)

    lake = resolved["lake"].strip()
    if not lake:
        raise UsageError("--lake is empty")
    tables = None
    if "tables" in resolved:
        tables = [name.strip() for name in resolved["tables"].split(",") if name.strip()]
        if not tables:
            raise UsageError("--tables names no table (give T1,T2 or leave it out for all)")
    full_refresh = False
    if "full_refresh" in resolved:
        value = resolved["full_refresh"].strip().lower()
        if value not in {"true", "false"}:
            raise UsageError(
                f"--full_refresh must be true or false, not {resolved['full_refresh']!r}"
            )
        full_refresh = value == "true"
    secret_id = resolved.get("pii_hash_key_secret_id")
    if secret_id is not None and not secret_id.strip():
        raise UsageError("--pii_hash_key_secret_id is empty")
    database = resolved.get("catalog_database")
    if database is not None and not database.strip():
        raise UsageError("--catalog_database is empty")
    namespace = resolved.get("metrics_namespace")
    if namespace is not None and not namespace.strip():
        raise UsageError("--metrics_namespace is empty")
    return Arguments(
        catalog_database=database.strip() if database else None,
        metrics_namespace=namespace.strip() if namespace else None,
        lake=lake,
        tables=tables,
        full_refresh=full_refresh,
        pii_hash_key_secret_id=secret_id.strip() if secret_id else None,
        job_name=resolved.get("JOB_NAME") if on_glue else None,
        resolved=resolved,
    )


def glue_classes_loadable(spark_context: Any, class_name: str = GLUE_CONTEXT_CLASS) -> bool:
    """Whether the Spark JVM behind ``spark_context`` can load ``class_name`` (py4j gives a
    JavaClass for a class it finds, a JavaPackage for any name it does not)."""
    from spapi_toolkit.lake.curate.session import loadable

    return loadable(spark_context._jvm, class_name)


def pii_hash_key(args: Arguments, environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The PII hash key: the Secrets Manager secret named by the arguments, else the
    environment's ``SPAPI_PII_HASH_KEY``, else None."""
    if args.pii_hash_key_secret_id:
        import boto3

        secret_id = args.pii_hash_key_secret_id
        # An ARN names its region; a plain name uses boto3's (on Glue, the job's region).
        region = secret_id.split(":")[3] if secret_id.startswith("arn:") else None
        client = boto3.client("secretsmanager", region_name=region)
        answer = client.get_secret_value(SecretId=secret_id)
        if "SecretString" in answer:
            key = answer["SecretString"].encode("utf-8")
        else:
            key = bytes(answer["SecretBinary"])
        if not key:
            raise ValueError(f"secret {secret_id!r} is empty")
        return key
    value = environ.get(HASH_KEY_ENV)
    return value.encode("utf-8") if value else None


def _glue_spark(args: Arguments):
    """Glue's Spark session and an initialised Job, or None when Glue's classes are missing."""
    from pyspark import SparkContext

    spark_context = SparkContext.getOrCreate()
    if not glue_classes_loadable(spark_context):
        spark_context.stop()
        return None, None
    from awsglue.context import GlueContext
    from awsglue.job import Job

    from spapi_toolkit.lake.curate.session import configure

    glue_context = GlueContext(spark_context)
    job = Job(glue_context)
    job.init(args.job_name, args.resolved)
    return configure(glue_context.spark_session), job


def main(job: GlueJob, argv: Sequence[str] | None = None) -> int:
    """Run ``job`` with ``argv`` (default ``sys.argv``); the exit status (module doc)."""
    argv = list(sys.argv if argv is None else argv)
    name = job.name
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"{name}: {exc}\n{job.usage}", file=sys.stderr)
        return 2
    on_glue = args.job_name is not None
    where = f"Glue job {args.job_name}" if on_glue else "local Spark"
    try:
        lake = Lake.from_uri(args.lake)
        hash_key = pii_hash_key(args)
        if on_glue:
            spark, glue_job = _glue_spark(args)
            if spark is None:
                print(
                    f"{name}: --JOB_NAME was given, but this Spark cannot load Glue's "
                    f"{GLUE_CONTEXT_CLASS}: not an AWS Glue job run. Leave --JOB_NAME out to run "
                    "locally.",
                    file=sys.stderr,
                )
                return 2
        else:
            from spapi_toolkit.lake.curate.session import (
                StorageUnreachable,
                reach,
                spark_session,
            )

            spark, glue_job = spark_session(f"spapi-{name}"), None
            try:
                reach(spark, lake)
            except StorageUnreachable as exc:
                spark.stop()
                print(f"{name}: {exc}", file=sys.stderr)
                return 2
        print(f"{name}: lake {args.lake} on {where}", flush=True)
        results = job.curate(spark, lake, args.tables, args.full_refresh, hash_key)
        if args.catalog_database:
            from spapi_toolkit.lake.catalog import register

            for done in register(lake, args.catalog_database, zone=job.zone):
                print(f"{name}: catalog {args.catalog_database}.{done.table}: "
                      f"{done.partitions} partitions ({done.added} added, {done.removed} "
                      "removed)", flush=True)  # fmt: skip
    except Exception as exc:
        traceback.print_exc()
        print(f"{name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if on_glue:
            raise  # Glue marks the run FAILED with this error
        return 1
    if args.metrics_namespace:
        publish_metrics(args.metrics_namespace, args.job_name or name, results)
    failed: list[str] = []
    for result in results:
        lines = result.failure_lines() if hasattr(result, "failure_lines") else []
        failed += lines
        print(f"{name}: {result.__class__.__name__}({_summary(result)})")
    print(f"{name}: done, {len(results)} table(s)")
    if glue_job is not None:
        glue_job.commit()
    if failed:
        message = "\n".join([f"{name}: quality gate failed:", *failed])
        print(message, file=sys.stderr)
        if on_glue:
            raise QualityError(message)
        return 1
    return 0


def publish_metrics(
    namespace: str, job_name: str, results: Sequence[Any], cloudwatch: Any = None
) -> dict[str, int]:
    """Publish what the run held back and quarantined to CloudWatch (module doc); returns the
    values published."""
    values = {
        "PartitionsHeldBack": sum(len(getattr(r, "blocked", [])) for r in results),
        "RowsQuarantined": sum(getattr(r, "quarantined", 0) for r in results),
        "DocumentsRefused": sum(len(getattr(r, "refused", {})) for r in results),
    }
    try:
        if cloudwatch is None:
            import boto3

            cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "JobName", "Value": job_name}],
                    "Value": value,
                    "Unit": "Count",
                }
                for metric, value in values.items()
            ],
        )
    except Exception as exc:  # the run's own outcome matters more than its metrics
        print(f"{job_name}: metrics not published to {namespace}: {type(exc).__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
    return values


def _summary(result: Any) -> str:
    """A result's fields without the failures' detail (they are listed apart)."""
    fields = dict(vars(result))
    fields["failures"] = len(fields.get("failures", []))
    return ", ".join(f"{key}={value!r}" for key, value in fields.items())
