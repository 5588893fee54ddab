"""The AWS engine: Athena (engine 3, Trino) through awswrangler, on the Glue databases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spapi_toolkit.lake.query.sql import QueryError, for_athena

if TYPE_CHECKING:
    import boto3
    import pandas as pd


class AthenaEngine:
    """Runs the queries on Athena in one workgroup (its result location, encryption and
    bytes-scanned limit apply), the zones mapped to their Glue databases, the parameters sent
    as execution parameters (bound by Athena, never formatted into the text)."""

    name = "athena"

    def __init__(
        self,
        databases: Mapping[str, str],
        workgroup: str,
        boto3_session: boto3.Session | None = None,
    ) -> None:
        self.databases = dict(databases)
        self.workgroup = workgroup
        self.boto3_session = boto3_session

    def refresh(self) -> None:
        """Nothing to do: the Glue catalog is what ``spapi catalog register`` last wrote."""

    def run(self, text: str, params: Mapping[str, Any], where: str) -> pd.DataFrame:
        """The rows of the query ``text`` with ``params`` bound, as a DataFrame (results read
        from the workgroup's output location, no CTAS: nothing is written to the lake)."""
        import awswrangler as wr

        sql, values = for_athena(text, params, self.databases, where)
        try:
            return wr.athena.read_sql_query(
                sql,
                database=next(iter(self.databases.values())),
                workgroup=self.workgroup,
                params=values or None,
                paramstyle="qmark",
                ctas_approach=False,
                boto3_session=self.boto3_session,
            )
        except wr.exceptions.QueryFailed as exc:
            raise QueryError(f"{where} failed on Athena: {exc}") from None
