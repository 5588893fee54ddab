"""Who reads what: Lake Formation (the curated buckets registered, the stack's settings, the Glue
jobs' and the analysts' grants), the analyst role and the Athena workgroup.

Analysts never read personal data: every cleaned column with ``pii = "hash"`` or ``"restrict"``
(``drop`` columns never reach a table) is excluded from their grant by name, read from
``tables.toml``; and a table with such columns is granted without ``extra``, the map of the
raw columns its contract does not know (an unknown buyer column would land there).
"""

from __future__ import annotations

from typing import Any

from spapi_toolkit.lake.catalog import contracts, has_extra
from spapi_toolkit.lake.curate.aggregate import STATE as AGGREGATE_STATE
from spapi_toolkit.lake.curate.jobs import STATE as CURATE_STATE
from spapi_toolkit.lake.layout import AGGREGATED, CLEANED
from spapi_toolkit.lake.quality.gate import QUALITY
from spapi_toolkit.lake.tables import Table

from .common import (
    LAKE_KEY,
    account_arn,
    arn,
    bucket_rw,
    catalog_arns,
    key_use,
    lake_objects,
    lake_path,
    logical,
    ref,
    role,
    sub,
)
from .curation import DATABASES, table_id

# Personal-data actions whose columns reach a cleaned table and are kept from analysts.
ANALYST_EXCLUDED_PII = ("hash", "restrict")
# What the analysts' notebooks read beside the tables (lake.query.connect): the quality results
# and the curation's state (when each table and mart was last built).
ANALYST_READS = (f"{QUALITY}/", f"{CURATE_STATE}/", f"{AGGREGATE_STATE}/")


def pii_columns(table: Table) -> list[str]:
    """The cleaned table's personal-data columns analysts must not read (see the module doc)."""
    return [c.name for c in table.published if c.pii in ANALYST_EXCLUDED_PII]


def analyst_excluded(table: Table) -> list[str]:
    """Every column of a cleaned table kept from analysts: its personal-data columns and, when
    it has any, ``extra``."""
    excluded = pii_columns(table)
    if any(c.pii for c in table.columns) and has_extra(table):
        excluded.append("extra")
    return excluded


def parameters() -> dict[str, Any]:
    return {
        "AthenaBytesScannedCutoff": {
            "Type": "Number",
            "Default": 10737418240,
            "MinValue": 10000000,
            "Description": "Bytes one query may scan",
        },
        "DataLakeAdminArns": {
            "Type": "CommaDelimitedList",
            "Description": "IAM principals that administer Lake Formation "
            "(at least the one deploying: CloudFormation grants as it)",
        },
    }


def lake_formation_settings_grants() -> list[dict[str, Any]]:
    """What the Lake Formation settings function (``aws.lakeformation``) does."""
    return [
        # Lake Formation's settings and grants have no resource types: "*" only.
        {
            "Effect": "Allow",
            "Action": [
                "lakeformation:GetDataLakeSettings",
                "lakeformation:PutDataLakeSettings",
                "lakeformation:ListPermissions",
                "lakeformation:RevokePermissions",
                "lakeformation:GrantPermissions",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:UpdateDatabase",
                "glue:GetTable",
                "glue:GetTables",
            ],
            "Resource": catalog_arns(),
        },
        # What it changed, to restore exactly that when the stack is deleted.
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
            "Resource": account_arn("ssm", "parameter/${AWS::StackName}/lake-formation/*"),
        },
    ]


def lake_formation() -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["LakeFormationDataAccessRole"] = role(
        "LakeFormationDataAccess",
        "lakeformation.amazonaws.com",
        [*bucket_rw("CleanedBucket"), *bucket_rw("AggregatedBucket"), key_use(LAKE_KEY)],
    )
    for bucket in ("CleanedBucket", "AggregatedBucket"):
        out[f"{bucket}Location"] = {
            "Type": "AWS::LakeFormation::Resource",
            "Properties": {
                "ResourceArn": arn(bucket),
                "UseServiceLinkedRole": False,
                "RoleArn": arn("LakeFormationDataAccessRole"),
            },
        }
    tables = [table_id(zone, t.name) for zone in DATABASES for t in contracts(zone)]
    out["LakeFormationSettings"] = {
        "Type": "Custom::LakeFormationSettings",
        "DependsOn": tables,
        "Properties": {
            "ServiceToken": arn("LakeFormationSettingsFunction"),
            # Added to the account's administrators (none replaced); removed on delete.
            "Admins": {
                "Fn::Split": [
                    ",",
                    {
                        "Fn::Join": [
                            ",",
                            [
                                {"Fn::Join": [",", ref("DataLakeAdminArns")]},
                                arn("LakeFormationSettingsFunctionRole"),
                            ],
                        ]
                    },
                ]
            },
            "Databases": [ref(name) for name in DATABASES.values()],
        },
    }
    catalog = ref("AWS::AccountId")

    def grant(
        name: str,
        principal: str,
        resource: dict[str, Any],
        permissions: list[str],
        extra_depends: list[str] | None = None,
    ) -> None:
        out[name] = {
            "Type": "AWS::LakeFormation::PrincipalPermissions",
            "DependsOn": ["LakeFormationSettings", *(extra_depends or [])],
            "Properties": {
                "Catalog": catalog,
                "Principal": {"DataLakePrincipalIdentifier": arn(principal)},
                "Resource": resource,
                "Permissions": permissions,
                "PermissionsWithGrantOption": [],
            },
        }

    for bucket in ("CleanedBucket", "AggregatedBucket"):
        grant(
            f"GlueJob{bucket}DataLocation",
            "GlueJobRole",
            {"DataLocation": {"CatalogId": catalog, "ResourceArn": arn(bucket)}},
            ["DATA_LOCATION_ACCESS"],
            [f"{bucket}Location"],
        )
    for database in DATABASES.values():
        grant(
            f"GlueJob{database}",
            "GlueJobRole",
            {"Database": {"CatalogId": catalog, "Name": ref(database)}},
            ["CREATE_TABLE", "ALTER", "DESCRIBE"],
        )
        grant(
            f"GlueJob{database}Tables",
            "GlueJobRole",
            {"Table": {"CatalogId": catalog, "DatabaseName": ref(database), "TableWildcard": {}}},
            ["SELECT", "INSERT", "DELETE", "DESCRIBE", "ALTER"],
        )
        grant(
            f"Analyst{database}",
            "AnalystRole",
            {"Database": {"CatalogId": catalog, "Name": ref(database)}},
            ["DESCRIBE"],
        )
    grant(
        "AnalystAggregatedTables",
        "AnalystRole",
        {
            "Table": {
                "CatalogId": catalog,
                "DatabaseName": ref(DATABASES[AGGREGATED]),
                "TableWildcard": {},
            }
        },
        ["SELECT", "DESCRIBE"],
    )
    for table in contracts(CLEANED):
        assert isinstance(table, Table)
        grant(
            f"AnalystCleaned{logical(table.name)}",
            "AnalystRole",
            {
                "TableWithColumns": {
                    "CatalogId": catalog,
                    "DatabaseName": ref(DATABASES[CLEANED]),
                    "Name": table.name,
                    "ColumnWildcard": {"ExcludedColumnNames": analyst_excluded(table)},
                }
            },
            ["SELECT"],
            [table_id(CLEANED, table.name)],
        )
    return out


def analysts() -> dict[str, Any]:
    workgroup = account_arn("athena", "workgroup/${AthenaWorkGroup}")
    statements = [
        {
            "Effect": "Allow",
            "Action": [
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
                "athena:GetWorkGroup",
            ],
            "Resource": workgroup,
        },
        {
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:GetDatabases",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartition",
                "glue:GetPartitions",
            ],
            "Resource": catalog_arns(),
        },
        {"Effect": "Allow", "Action": "lakeformation:GetDataAccess", "Resource": "*"},
        *bucket_rw("AthenaResultsBucket"),
        # Only the lake key: raw documents, ledger and secrets are under the raw key.
        key_use(LAKE_KEY),
        # The notebooks' freshness and check results (lake.query.connect): partition listings
        # of the curated buckets (names only: the rows stay behind Lake Formation), and the
        # curation state and quality results beside the raw zone.
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": [arn("CleanedBucket"), arn("AggregatedBucket")],
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn("RawBucket"),
            "Condition": {"StringLike": {"s3:prefix": [f"{lake_path(p)}*" for p in ANALYST_READS]}},
        },
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [lake_objects(p) for p in ANALYST_READS],
        },
    ]
    analyst = role("Analyst", "athena.amazonaws.com", statements)
    # Assumed by people of this account (their own IAM policies say who), not by a service.
    analyst["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {
        "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    }
    return {
        "AnalystRole": analyst,
        "AthenaWorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": sub("${AWS::StackName}-analysts"),
                "Description": "SP-API lake queries: results encrypted, limits enforced",
                "State": "ENABLED",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "BytesScannedCutoffPerQuery": ref("AthenaBytesScannedCutoff"),
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": sub("s3://${AthenaResultsBucket}/results/"),
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": arn(LAKE_KEY),
                        },
                    },
                },
            },
        },
    }


def resources() -> dict[str, Any]:
    return {**lake_formation(), **analysts()}


def outputs() -> dict[str, Any]:
    return {
        "AthenaWorkGroup": {
            "Value": ref("AthenaWorkGroup"),
            "Description": "SPAPI_ATHENA_WORKGROUP",
        },
        "AnalystRoleArn": {
            "Value": arn("AnalystRole"),
            "Description": "The role analysts assume for Athena",
        },
    }
