"""The local engine: DuckDB over a local lake's Parquet files (``catalog.duckdb_views``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spapi_toolkit.lake.catalog import duckdb_views
from spapi_toolkit.lake.query.sql import QueryError, for_duckdb
from spapi_toolkit.lake.storage import Lake

if TYPE_CHECKING:
    import pandas as pd


class DuckDBEngine:
    """Runs Trino SQL on DuckDB, transpiled by sqlglot, over one view per table on disk.

    The views are made when the engine is and again by ``refresh`` (a table curated after that
    is not seen before it)."""

    name = "duckdb"

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.connection = duckdb_views(lake)

    def refresh(self) -> None:
        """Views again, for the tables curated since the engine was made."""
        duckdb_views(self.lake, self.connection)

    def run(self, text: str, params: Mapping[str, Any], where: str) -> pd.DataFrame:
        """The rows of the query ``text`` (Trino) with ``params`` bound, as a DataFrame."""
        import duckdb

        sql = for_duckdb(text, params, where)
        try:
            cursor = self.connection.execute(sql, dict(params))
            frame = cursor.df()
        except duckdb.Error as exc:
            raise QueryError(f"{where} failed on DuckDB: {exc}") from None
        # DuckDB sums integers into HUGEINT, which pandas gets as floats (units as 241.0):
        # counts stay integers, nulls included
        for name, kind, *_ in cursor.description or []:
            if str(kind) == "HUGEINT":
                frame[name] = frame[name].astype("Int64")
        return frame
