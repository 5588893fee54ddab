"""Hand-made cleaned rows for the marts' tests: a frame with a cleaned table's full published
schema (seller_id first), so a transform meets the columns and types curation writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spapi_toolkit.lake.tables import STORED_TYPES, tables


def cleaned(spark, table: str, rows: Iterable[Mapping[str, Any]]):
    """A DataFrame of ``table``'s cleaned rows; a column a row does not name is null."""
    columns = [("seller_id", "string")] + [
        (c.name, STORED_TYPES[c.type]) for c in tables()[table].published
    ]
    names = {name for name, _ in columns}
    data = []
    for row in rows:
        unknown = set(row) - names
        assert not unknown, f"{table} has no columns {unknown}"
        data.append(tuple(row.get(name) for name, _ in columns))
    return spark.createDataFrame(data, ", ".join(f"{n} {t}" for n, t in columns))
