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
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from spapi_toolkit.lake.catalog import ZONES, contracts, partitions, table_columns, zone
from spapi_toolkit.lake.layout import AGGREGATED, CLEANED, RAW
from spapi_toolkit.lake.query.sql import QueryError, load
from spapi_toolkit.lake.storage import Lake, LocalLake, ObjectNotFound, S3Lake, ZonedLake
from spapi_toolkit.regions import marketplace

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
        self._held: list[str] | None = None  # the lake's marketplaces, once asked

    def __repr__(self) -> str:
        where = self.lake.uri if self.lake is not None else "no lake listing"
        return f"LakeConnection({self.engine.name}, {where})"

    def sql(self, text: str, **params: Any) -> pd.DataFrame:
        """Run ``text`` (Athena/Trino SQL; tables as ``cleaned.<t>`` or ``aggregated.<mart>``;
        parameters as ``:name``, bound from ``params``) and return the rows. The parameters
        ``start``, ``end`` and ``marketplaces`` are checked as ``query`` checks them."""
        return self.engine.run(text, self._checked(params, "the query"), "the query")

    def query(self, name: str, **params: Any) -> pd.DataFrame:
        """Run the package's named query ``name`` (``spapi_toolkit/data/queries/<name>.sql``).

        ``start`` must not be after ``end``; ``marketplaces`` is a list of marketplace ids or
        country codes (``US``, ``DE``), each one the lake holds (when the connection can list
        the lake): a period or a marketplace that cannot match is an error, not an empty
        result."""
        where = f"query {name!r}"
        return self.engine.run(load(name).text, self._checked(params, where), where)

    def refresh(self) -> None:
        """See tables curated since the connection was made (local views are made again)."""
        self._held = None
        self.engine.refresh()

    def marketplaces(self) -> list[str]:
        """The marketplace ids the lake's cleaned tables and marts hold, sorted; empty without
        a lake listing (on Athena without ``lake``)."""
        if self.lake is None:
            return []
        if self._held is None:
            self._held = sorted(set(self.freshness().marketplace_id.dropna()))
        return list(self._held)

    def _checked(self, params: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``params`` with ``marketplaces`` as ids; an error for what cannot match."""
        checked = dict(params)
        start, end = params.get("start"), params.get("end")
        if isinstance(start, date) and isinstance(end, date) and _day(start) > _day(end):
            raise QueryError(f"{where}: start {start} is after end {end}: no day is in between")
        if "marketplaces" in params:
            checked["marketplaces"] = self.marketplace_ids(params["marketplaces"], where)
        return checked

    def marketplace_ids(self, given: Any, where: str = "marketplaces") -> list[str]:
        """``given`` (marketplace ids or country codes) as ids; an error naming ``where`` for a
        value that is no marketplace, or one the lake holds no data for (when it is listed)."""
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise QueryError(
                f"{where}: marketplaces is a list of ids or country codes, e.g. ['US'], not "
                f"{given!r}"
            )
        ids = []
        for value in given:
            try:
                ids.append(marketplace(str(value)).marketplace_id)
            except ValueError as exc:
                raise QueryError(f"{where}: {exc}") from None
        held = self.marketplaces()
        missing = [m for m in ids if m not in held]
        if held and missing:
            raise QueryError(
                f"{where}: the lake holds no data for {_named(missing)}; it holds {_named(held)}"
            )
        return ids

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
        partitions, and when curation last changed the table (UTC). A table not kept per
        marketplace (``fx_rates``) has one row, its marketplace null."""
        import pandas as pd

        lake = self._lake("freshness")
        rows = []
        for name in ZONES:
            for contract in contracts(name):
                found = partitions(lake, contract)
                if not found:
                    continue
                curated_at = self._updated_at(lake, name, contract.name)
                days: dict[str | None, list[str]] = {}
                per_marketplace = contract.partition_by[0] == "marketplace_id"  # not fx_rates
                for values in found:
                    days.setdefault(values[0] if per_marketplace else None, []).append(values[-1])
                for marketplace_id, dates in sorted(days.items(), key=lambda d: d[0] or ""):
                    rows.append({"zone": name, "table": contract.name,
                                 "marketplace_id": marketplace_id, "first_day": min(dates),
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


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _named(ids: Sequence[str]) -> str:
    """Marketplaces for a message: ``US (ATVPDKIKX0DER), DE (A1PA6795UKMFR9)``."""
    return ", ".join(f"{marketplace(m).country_code} ({m})" for m in ids)


def _describe(failure: Any) -> str:
    if isinstance(failure, Mapping):
        what = failure.get("description") or failure.get("expectation") or failure
        count = failure.get("unexpected")
        return f"{what} ({count} rows)" if count else str(what)
    return str(failure)


def _a_lake(lake: LocalLake) -> None:
    """An error unless ``lake``'s folder holds a lake (one of its zones' folders)."""
    if not lake.root.is_dir():
        raise QueryError(f"no lake at {lake.uri}: the folder does not exist")
    zones = (RAW, CLEANED, AGGREGATED)
    if not any((lake.root / name).is_dir() for name in zones):
        raise QueryError(
            f"{lake.uri} holds no lake: none of {', '.join(z + '/' for z in zones)} is in it "
            "(make demo builds one; spapi ingest and spapi curate fill one)"
        )


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
        if isinstance(local, LocalLake):
            _a_lake(local)
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
