"""``connect()``: one object for a notebook to ask the lake questions, locally or on AWS.

The same calls and the same SQL work on a local lake (DuckDB) and on AWS (Athena): a notebook
changes only its parameters. Besides ``sql`` and the named queries, the connection says what is
in the lake (``tables``, ``columns``, from the contracts), how fresh it is (``freshness``, from
the lake's partitions and the curation state) and whether it passed its checks (``quality``,
the latest Great Expectations result per table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from spapi_toolkit.lake.catalog import ZONES, contracts, partitions, table_columns, zone
from spapi_toolkit.lake.layout import AGGREGATED, CLEANED
from spapi_toolkit.lake.query.sql import QueryError, load
from spapi_toolkit.lake.storage import Lake, ObjectNotFound, S3Lake, ZonedLake

if TYPE_CHECKING:
    import boto3
    import pandas as pd

QUALITY = "_quality/latest"
STATES = {CLEANED: "_state/curate", AGGREGATED: "_state/aggregate"}
ENV = {
    "lake": "SPAPI_LAKE",
    "workgroup": "SPAPI_ATHENA_WORKGROUP",
    CLEANED: "SPAPI_GLUE_DATABASE",
    AGGREGATED: "SPAPI_GLUE_AGGREGATED_DATABASE",
}


class Engine(Protocol):
    """What runs the SQL: ``local.DuckDBEngine`` or ``athena.AthenaEngine``."""

    name: str

    def run(self, text: str, params: Mapping[str, Any], where: str) -> pd.DataFrame: ...

    def refresh(self) -> None: ...


class LakeConnection:
    """Questions to one lake: SQL, named queries, what is in it, how fresh and how good."""

    def __init__(self, engine: Engine, lake: Lake | None) -> None:
        self.engine = engine
        self.lake = lake

    def __repr__(self) -> str:
        where = self.lake.uri if self.lake is not None else "no lake listing"
        return f"LakeConnection({self.engine.name}, {where})"

    def sql(self, text: str, **params: Any) -> pd.DataFrame:
        """Run ``text`` (Athena/Trino SQL; tables as ``cleaned.<t>`` or ``aggregated.<mart>``;
        parameters as ``:name``, bound from ``params``) and return the rows."""
        return self.engine.run(text, params, "the query")

    def query(self, name: str, **params: Any) -> pd.DataFrame:
        """Run the package's named query ``name`` (``spapi_toolkit/data/queries/<name>.sql``)."""
        return self.engine.run(load(name).text, params, f"query {name!r}")

    def refresh(self) -> None:
        """See tables curated since the connection was made (local views are made again)."""
        self.engine.refresh()

    def tables(self) -> pd.DataFrame:
        """One row per table with a contract: zone, table, description, key, partition_by,
        columns; and, with a lake, whether it holds data (``published``)."""
        import pandas as pd

        rows = []
        for name in ZONES:
            for contract in contracts(name):
                rows.append({
                    "zone": name,
                    "table": contract.name,
                    "description": contract.description,
                    "key": ", ".join(contract.key),
                    "partition_by": ", ".join(contract.partition_by),
                    "columns": len(table_columns(contract)),
                    "published": self._published(contract) if self.lake else None,
                })  # fmt: skip
        return pd.DataFrame(rows)

    def columns(self, table: str | None = None) -> pd.DataFrame:
        """One row per column (of ``table``, or of every table): zone, table, column, type,
        description (the contract's doc, PII handling noted), partition."""
        import pandas as pd

        rows = []
        for name in ZONES:
            for contract in contracts(name):
                if table is not None and contract.name != table:
                    continue
                for column, kind, doc in table_columns(contract):
                    rows.append({"zone": name, "table": contract.name, "column": column,
                                 "type": kind, "description": doc,
                                 "partition": column in contract.partition_by})  # fmt: skip
        if table is not None and not rows:
            raise QueryError(f"no table {table!r}; see tables()")
        return pd.DataFrame(rows)

    def freshness(self) -> pd.DataFrame:
        """Per published table and marketplace: its first and last partition day, how many
        partitions, and when curation last changed the table (UTC)."""
        import pandas as pd

        lake = self._lake("freshness")
        rows = []
        for name in ZONES:
            for contract in contracts(name):
                found = partitions(lake, contract)
                if not found:
                    continue
                curated_at = self._updated_at(lake, name, contract.name)
                days: dict[str, list[str]] = {}
                for values in found:
                    days.setdefault(values[0], []).append(values[-1])
                for marketplace, dates in sorted(days.items()):
                    rows.append({"zone": name, "table": contract.name,
                                 "marketplace_id": marketplace, "first_day": min(dates),
                                 "last_day": max(dates), "partitions": len(dates),
                                 "curated_at": curated_at})  # fmt: skip
        return pd.DataFrame(rows, columns=["zone", "table", "marketplace_id", "first_day",
                                           "last_day", "partitions", "curated_at"])  # fmt: skip

    def quality(self) -> pd.DataFrame:
        """The latest Great Expectations result of each table checked (``_quality/latest/``,
        written by ``quality.gate``): zone, table, success, how many expectations were evaluated
        and failed, when, how many partitions were held back, and the failed ones'
        descriptions."""
        import pandas as pd

        lake = self._lake("quality results")
        rows = []
        for key in sorted(lake.list(QUALITY + "/")):
            if not key.endswith(".json"):
                continue
            result = json.loads(lake.read_bytes(key))  # gate.Outcome.latest()
            failures = result.get("failures", [])
            rows.append({
                "zone": result.get("zone", key.split("/")[-2]),
                "table": result.get("table", key.rsplit("/", 1)[-1].removesuffix(".json")),
                "success": bool(result.get("success")),
                "evaluated": result.get("evaluated"),
                "failed": result.get("failed", len(failures)),
                "checked_at": result.get("at"),
                "blocked": len(result.get("blocked", [])),
                "failures": "; ".join(_describe(f) for f in failures),
            })  # fmt: skip
        return pd.DataFrame(rows, columns=["zone", "table", "success", "evaluated", "failed",
                                           "checked_at", "blocked", "failures"])  # fmt: skip

    def _published(self, contract: Any) -> bool:
        assert self.lake is not None
        prefix = f"{zone(contract)}/{contract.name}/"
        return any(key.endswith(".parquet") for key in self.lake.list(prefix))

    def _lake(self, what: str) -> Lake:
        if self.lake is None:
            raise QueryError(f"{what} need the lake: connect(lake=...) or set {ENV['lake']}")
        return self.lake

    @staticmethod
    def _updated_at(lake: Lake, name: str, table: str) -> str | None:
        try:
            state = json.loads(lake.read_bytes(f"{STATES[name]}/{table}.json"))
        except ObjectNotFound:
            return None
        updated: str | None = state.get("updated_at")
        return updated


def _describe(failure: Any) -> str:
    if isinstance(failure, Mapping):
        what = failure.get("description") or failure.get("expectation") or failure
        count = failure.get("unexpected")
        return f"{what} ({count} rows)" if count else str(what)
    return str(failure)


def connect(
    lake: str | Lake | None = None,
    *,
    workgroup: str | None = None,
    databases: Mapping[str, str] | None = None,
    boto3_session: boto3.Session | None = None,
    env: Mapping[str, str] | None = None,
) -> LakeConnection:
    """A connection to a lake: DuckDB over a local lake, or Athena when a workgroup is given.

    Parameters
    ----------
    lake
        The lake: a local folder, or ``s3://bucket/prefix`` (on AWS, used to read freshness and
        quality results; the queries go through Athena). Default ``$SPAPI_LAKE``.
    workgroup
        The Athena workgroup; given (or ``$SPAPI_ATHENA_WORKGROUP`` set), queries run on Athena.
    databases
        Zone -> Glue database, e.g. ``{"cleaned": "spapi_cleaned", "aggregated":
        "spapi_aggregated"}``; default ``$SPAPI_GLUE_DATABASE`` and
        ``$SPAPI_GLUE_AGGREGATED_DATABASE``.
    boto3_session
        For Athena and S3; default boto3's.
    env
        Where the defaults are read from; default ``os.environ``.

    Examples
    --------
    >>> lake = connect("./lake")  # doctest: +SKIP
    >>> lake.sql("select count(*) from aggregated.sales_daily where date >= :day",
    ...          day=date(2026, 11, 1))  # doctest: +SKIP
    """
    environ = os.environ if env is None else env
    chosen = lake if lake is not None else environ.get(ENV["lake"]) or None
    group = workgroup or environ.get(ENV["workgroup"]) or None
    if group is None:
        if chosen is None:
            raise QueryError(f"no lake to query: connect('./lake') or set {ENV['lake']}")
        from spapi_toolkit.lake.query.local import DuckDBEngine

        local = chosen if isinstance(chosen, Lake) else Lake.from_uri(chosen)
        if isinstance(local, S3Lake | ZonedLake):
            raise QueryError(
                f"{local.uri} is on S3: query it through Athena (connect(..., workgroup=...) or "
                f"{ENV['workgroup']})"
            )
        return LakeConnection(DuckDBEngine(local), local)
    from spapi_toolkit.lake.query.athena import AthenaEngine

    names = dict(databases) if databases is not None else {
        zone_name: environ[ENV[zone_name]] for zone_name in ZONES if environ.get(ENV[zone_name])
    }  # fmt: skip
    if not names:
        raise QueryError(
            f"Athena needs the Glue databases: connect(databases={{'cleaned': ..., "
            f"'aggregated': ...}}) or set {ENV[CLEANED]} and {ENV[AGGREGATED]}"
        )
    client = boto3_session.client("s3") if boto3_session is not None else None
    remote = (
        chosen if isinstance(chosen, Lake) or chosen is None
        else Lake.from_uri(chosen, s3_client=client)
    )  # fmt: skip
    return LakeConnection(AthenaEngine(names, group, boto3_session), remote)
