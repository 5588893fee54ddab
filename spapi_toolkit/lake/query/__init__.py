"""The query layer: one SQL (Athena's Trino dialect) over the lake, on DuckDB locally or Athena.

``connect()`` gives a ``LakeConnection`` (``sql``, named ``query``, ``tables``, ``columns``,
``freshness``, ``quality``); ``sql.py`` parses, transpiles and binds; ``local.py`` and
``athena.py`` are the two engines.
"""

from spapi_toolkit.lake.query.connect import LakeConnection, connect
from spapi_toolkit.lake.query.sql import Query, QueryError, load, names

__all__ = ["LakeConnection", "Query", "QueryError", "connect", "load", "names"]
