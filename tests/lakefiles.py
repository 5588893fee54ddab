"""Tables of a lake written with pyarrow the way curation's Spark writes them (hive folders
without the partition columns, timestamps as INT96, decimal(18,2), a map for ``extra``), so the
catalog and query tests need neither Java nor Spark."""

from __future__ import annotations

import io
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spapi_toolkit.lake.catalog import Contract, glue_columns, zone
from spapi_toolkit.lake.storage import Lake

ARROW = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "decimal(18,2)": pa.decimal128(18, 2),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "map<string,string>": pa.map_(pa.string(), pa.string()),
}


def write_rows(lake: Lake, contract: Contract, rows: Iterable[Mapping[str, Any]]) -> None:
    """``rows`` (dicts of column values, the partition columns included; a column left out is
    null) written into ``contract``'s table, one file per partition."""
    columns, partitions = glue_columns(contract)
    schema = pa.schema([(c, ARROW[kind]) for c, kind in columns.items()])
    grouped: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[p] for p in partitions)].append(row)
    for values, members in grouped.items():
        data = {c: [row.get(c) for row in members] for c in columns}
        buffer = io.BytesIO()
        pq.write_table(pa.table(data, schema=schema), buffer, use_deprecated_int96_timestamps=True)
        folder = "/".join(f"{p}={v}" for p, v in zip(partitions, values, strict=True))
        name = f"part-00000-{uuid.uuid4()}.c000.snappy.parquet"
        lake.write_bytes(f"{zone(contract)}/{contract.name}/{folder}/{name}", buffer.getvalue())
