"""Curation: the PII hash key, the Glue databases and tables (from the table contracts, through
``lake.catalog``: what ``spapi catalog register`` writes), the two Glue jobs with their role and
the triggers that run them."""

from __future__ import annotations

from typing import Any

from spapi_toolkit.aws.glue_package import job_arguments
from spapi_toolkit.lake.catalog import contracts, database_description, table_columns
from spapi_toolkit.lake.curate.aggregate import STATE as AGGREGATE_STATE
from spapi_toolkit.lake.curate.jobs import STATE as CURATE_STATE
from spapi_toolkit.lake.curate.publish import STAGING
from spapi_toolkit.lake.layout import AGGREGATED, CLEANED, QUARANTINE, RAW
from spapi_toolkit.lake.quality.gate import QUALITY

from .common import (
    LAKE_KEY,
    RAW_KEY,
    ZONE_BUCKETS,
    account_arn,
    arn,
    catalog_arns,
    key_use,
    lake_objects,
    lake_rw,
    lake_uri,
    logical,
    ref,
    role,
    sub,
)

PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
DATABASES = {CLEANED: "CleanedDatabase", AGGREGATED: "AggregatedDatabase"}
# The namespace of the metrics the jobs publish (``--metrics_namespace``): partitions the
# quality gate held back, rows quarantined and documents refused, per job (monitoring alarms
# on each).
METRICS_NAMESPACE = "SpapiLake"
# What the jobs read of the lake, and what they write: the curated zones, their scratch space
# (publish.STAGING), the curation's state, quality results and quarantine.
READS = (f"{RAW}/",)
WRITES = (
    f"{CLEANED}/",
    f"{AGGREGATED}/",
    f"{STAGING}/",
    f"{CURATE_STATE}/",
    f"{AGGREGATE_STATE}/",
    f"{QUARANTINE}/",
    f"{QUALITY}/",
)
JOBS = {"RawToCleanedJob": "raw_to_cleaned", "CleanedToAggregatedJob": "cleaned_to_aggregated"}


def parameters() -> dict[str, Any]:
    return {
        "GlueWheelKey": {"Type": "String", "Description": "Key of the project wheel"},
        "GlueDependenciesKey": {
            "Type": "String",
            "Description": "Key of the zip of the wheels the jobs import that Glue 5.1 lacks "
            "(spapi-lake-glue-deps.gluewheels.zip, make package)",
        },
        "GlueScriptsPrefix": {
            "Type": "String",
            "Description": "Prefix of the Glue entry scripts, ending in /",
        },
        "CurationSchedule": {"Type": "String", "Default": "cron(0 12 * * ? *)"},
        "GlueWorkerType": {
            "Type": "String",
            "Default": "G.1X",
            "AllowedValues": ["G.1X", "G.2X", "G.4X", "G.8X"],
        },
        "GlueNumberOfWorkers": {"Type": "Number", "Default": 2, "MinValue": 2},
        "DatabasePrefix": {"Type": "String", "Default": "spapi", "AllowedPattern": "^[a-z0-9_]+$"},
    }


def pii_hash_key() -> dict[str, Any]:
    return {
        "PiiHashKeySecret": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": sub("${AWS::StackName}/pii-hash-key"),
                "Description": "HMAC key of the cleaned tables' hashed personal data",
                "KmsKeyId": ref(RAW_KEY),
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            },
        }
    }


def tables() -> dict[str, Any]:
    """The two databases and every contract's table."""
    out: dict[str, Any] = {}
    for zone, name in DATABASES.items():
        out[name] = {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": sub("${DatabasePrefix}_%s" % zone),
                    "Description": database_description(zone),
                    "CreateTableDefaultPermissions": [],
                },
            },
        }
    for zone in DATABASES:
        for table in contracts(zone):
            columns = table_columns(table)
            partitions = set(table.partition_by)
            described = [{"Name": n, "Type": t, "Comment": c} for n, t, c in columns]
            out[table_id(zone, table.name)] = {
                "Type": "AWS::Glue::Table",
                "Properties": {
                    "CatalogId": ref("AWS::AccountId"),
                    "DatabaseName": ref(DATABASES[zone]),
                    "TableInput": {
                        "Name": table.name,
                        "Description": table.description,
                        "TableType": "EXTERNAL_TABLE",
                        "Parameters": {
                            "classification": "parquet",
                            "spapi_zone": zone,
                            "spapi_key": ",".join(table.key),
                        },
                        "PartitionKeys": [c for c in described if c["Name"] in partitions],
                        "StorageDescriptor": {
                            "Columns": [c for c in described if c["Name"] not in partitions],
                            "Location": sub(
                                "s3://${%s}/%s/%s/" % (ZONE_BUCKETS[zone], zone, table.name)
                            ),
                            "Compressed": True,
                            **PARQUET,
                        },
                    },
                },
            }
    return out


def table_id(zone: str, name: str) -> str:
    """The logical id of a zone's table (``CleanedTableOrderItems``)."""
    return f"{logical(zone)}Table{logical(name)}"


def job_statements() -> list[dict[str, Any]]:
    return [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn("RawBucket")},
        *(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": lake_objects(p)}
            for p in READS
        ),
        *lake_rw(*WRITES),
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": sub("arn:${AWS::Partition}:s3:::${ArtifactBucket}/*"),
        },
        # Raw documents are under the raw key; what the jobs write, under the lake key.
        key_use(RAW_KEY, decrypt_only=True),
        key_use(LAKE_KEY),
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": ref("PiiHashKeySecret"),
        },
        {
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:BatchDeletePartition",
                "glue:UpdateTable",
                "glue:CreateTable",
            ],
            "Resource": catalog_arns(),
        },
        # Lake Formation vends the data's credentials; GetDataAccess has no resource type.
        {"Effect": "Allow", "Action": "lakeformation:GetDataAccess", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:AssociateKmsKey",
            ],
            "Resource": account_arn("logs", "log-group:/aws-glue/*"),
        },
        # Glue's own job metrics, and the jobs' held-back partitions (monitoring alarms on it).
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": ["Glue", METRICS_NAMESPACE]}},
        },
    ]


def jobs() -> dict[str, Any]:
    out: dict[str, Any] = {"GlueJobRole": role("GlueJobs", "glue.amazonaws.com", job_statements())}
    out["GlueSecurityConfiguration"] = {
        "Type": "AWS::Glue::SecurityConfiguration",
        "Properties": {
            "Name": sub("${AWS::StackName}-glue"),
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": arn(LAKE_KEY)}],
                "CloudWatchEncryption": {
                    "CloudWatchEncryptionMode": "SSE-KMS",
                    "KmsKeyArn": arn(LAKE_KEY),
                },
                "JobBookmarksEncryption": {
                    "JobBookmarksEncryptionMode": "CSE-KMS",
                    "KmsKeyArn": arn(LAKE_KEY),
                },
            },
        },
    }
    for job, script in JOBS.items():
        zone = CLEANED if script == "raw_to_cleaned" else AGGREGATED
        arguments = {
            "--lake": lake_uri(),
            **python_modules(),
            "--enable-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--job-language": "python",
            "--metrics_namespace": METRICS_NAMESPACE,
            # the job registers its zone's new partitions, so Athena sees them at once
            "--catalog_database": ref(DATABASES[zone]),
        }
        if script == "raw_to_cleaned":
            arguments["--pii_hash_key_secret_id"] = ref("PiiHashKeySecret")
        out[job] = {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": sub("${AWS::StackName}-%s" % script.replace("_", "-")),
                "Role": arn("GlueJobRole"),
                "GlueVersion": "5.1",
                "Command": {
                    "Name": "glueetl",
                    "PythonVersion": "3",
                    "ScriptLocation": sub(
                        "s3://${ArtifactBucket}/${GlueScriptsPrefix}%s.py" % script
                    ),
                },
                "WorkerType": ref("GlueWorkerType"),
                "NumberOfWorkers": ref("GlueNumberOfWorkers"),
                "MaxRetries": 0,
                "Timeout": 480,
                "ExecutionProperty": {"MaxConcurrentRuns": 1},
                "SecurityConfiguration": ref("GlueSecurityConfiguration"),
                "DefaultArguments": arguments,
            },
        }
    out["CurationScheduleTrigger"] = {
        "Type": "AWS::Glue::Trigger",
        "Properties": {
            "Type": "SCHEDULED",
            "Schedule": ref("CurationSchedule"),
            "StartOnCreation": True,
            "Description": "Curation on a schedule, besides after each ingestion",
            "Actions": [{"JobName": ref("RawToCleanedJob")}],
        },
    }
    out["AggregateAfterCleaningTrigger"] = {
        "Type": "AWS::Glue::Trigger",
        "Properties": {
            "Type": "CONDITIONAL",
            "StartOnCreation": True,
            "Description": "The marts after every successful raw-to-cleaned run",
            "Predicate": {
                "Conditions": [
                    {
                        "LogicalOperator": "EQUALS",
                        "JobName": ref("RawToCleanedJob"),
                        "State": "SUCCEEDED",
                    }
                ]
            },
            "Actions": [{"JobName": ref("CleanedToAggregatedJob")}],
        },
    }
    return out


def python_modules() -> dict[str, Any]:
    """The job arguments that install the project for the jobs (``make package``,
    ``aws.glue_package``): the zip of every wheel the jobs import that Glue 5.1 does not
    provide, and the project wheel, installed without an index (no PyPI at run time, so a job
    in a private VPC needs only an S3 endpoint)."""
    arguments = job_arguments(
        "s3://${ArtifactBucket}/${GlueDependenciesKey}", "s3://${ArtifactBucket}/${GlueWheelKey}"
    )
    return {name: sub(value) if "${" in value else value for name, value in arguments.items()}


def resources() -> dict[str, Any]:
    return {**pii_hash_key(), **tables(), **jobs()}


def outputs() -> dict[str, Any]:
    return {
        "CleanedDatabase": {"Value": ref("CleanedDatabase"), "Description": "SPAPI_GLUE_DATABASE"},
        "AggregatedDatabase": {
            "Value": ref("AggregatedDatabase"),
            "Description": "SPAPI_GLUE_AGGREGATED_DATABASE",
        },
        "RawToCleanedJob": {
            "Value": ref("RawToCleanedJob"),
            "Description": "The curation Glue job",
        },
    }
