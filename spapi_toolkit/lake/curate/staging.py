"""Staging: a table's raw strings into typed, checked, protected and deduplicated rows.

Pure DataFrame-to-DataFrame functions driven by the table's contract (``tables.toml``); they
run the same on Glue and locally. The order matters and is ``stage``'s:

1. ``typed``: every column cast to its contract type. A value that does not fit (``"12,3"`` as a
   decimal, a timestamp without its offset) and a required value that is missing become a
   ``_reason`` (``REASON``); nothing is silently null.
2. ``split``: rows with a reason go to quarantine, the rest on.
3. ``protect``: personal data per the contract: ``drop`` removed, ``hash`` replaced by a keyed
   HMAC-SHA256 (hex), ``restrict`` kept (Lake Formation keeps analysts from it).
4. ``newest``: one row per seller and key: the greatest ``newest`` column wins, then the latest
   pull, then the raw key, then the row's content hash: a total order even when two rows tie
   on every business column, so the same inputs publish the same row whatever the run order.

A row ``sources`` could not read (``sources.MALFORMED``: a flat-file row whose fields do not
match its header, a JSON line that does not parse) is quarantined in step 1 with that reason,
never padded with nulls.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from spapi_toolkit.lake.curate.sources import MALFORMED, ROW
from spapi_toolkit.lake.tables import EXTRA, LINEAGE, MONEY, Column, Table
from spapi_toolkit.regions import marketplaces

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ssXXX"
EXACT = "decimal(38,18)"  # a decimal's text as written, to tell whether MONEY would round it
# Why a row is quarantined ("reason" in the quarantine's files). Like every column curation adds,
# it starts with an underscore, which no contract column can (they are snake_case).
REASON = "_reason"
HASH_KEY_SETTING = "SPAPI_PII_HASH_KEY"


class StagingError(ValueError):
    """The contract asks for something the run cannot do (names the table and the setting)."""


def stage(rows: DataFrame, table: Table, hash_key: bytes | None) -> tuple[DataFrame, DataFrame]:
    """``rows`` (from ``sources.read``) as (clean rows, quarantined rows with a ``REASON``)."""
    typed_rows = typed(rows, table)
    good, bad = split(typed_rows)
    return newest(protect(good, table, hash_key), table), bad


def typed(rows: DataFrame, table: Table) -> DataFrame:
    """Every contract column cast to its type, derived columns added, and ``REASON`` set on
    rows that break a hard rule (a value that does not fit its type, a required value missing).
    A quarantined row keeps the raw text of its typed columns as ``_raw_<name>`` (null on the
    rows that pass; a string column's value is its text)."""
    from pyspark.sql import functions as F

    sourced = [c for c in table.columns if c.source is not None]
    kept = [c for c in sourced if c.type != "string"]
    out = rows.withColumnsRenamed({c.name: _raw(c) for c in kept})
    out = out.withColumns({c.name: _cast(F.col(_raw(c)), c) for c in sourced})
    local = any(c.name == "marketplace_id" for c in table.columns)
    dates = {c.name: _local_date(c.local_date_of, local) for c in table.columns if c.local_date_of}
    out = out.withColumns(dates)
    problems = [_problem(column, table) for column in sourced]
    reasons = F.array_compact(F.array(*problems)) if problems else F.array()
    reason = F.when(F.size(reasons) > 0, F.concat_ws("; ", reasons))
    if MALFORMED in rows.columns:  # a row that could not be read: that is its reason, alone
        reason = F.coalesce(F.col(MALFORMED), reason)
    out = out.withColumn(REASON, reason)
    # Only the quarantine reads the raw text: the rows that pass do not carry it, and a string
    # column's text is its value, so the persisted batch is half as wide (its cache was a third
    # of the read's time).
    passed = F.col(REASON).isNull()
    out = out.withColumns({_raw(c): F.when(~passed, F.col(_raw(c))) for c in kept})
    if MALFORMED in rows.columns:
        out = out.drop(MALFORMED)
    out = out.withColumn("ingested_at", F.to_timestamp("ingested_at", TIMESTAMP_FORMAT))
    return out


def _raw(column: Column) -> str:
    """Where ``typed`` keeps a column's text: its own name for strings (the value is the
    text), ``_raw_<name>`` for the others."""
    return column.name if column.type == "string" else f"_raw_{column.name}"


def _cast(raw: SparkColumn, column: Column) -> SparkColumn:
    from pyspark.sql import functions as F

    text = _blank_as_null(F.trim(raw))
    kind = column.type
    if kind == "string":
        return _blank_as_null(raw)
    if kind == "int":
        return F.when(text.rlike(r"^[+-]?\d+$"), text.cast("bigint"))
    if kind == "decimal":  # money: a value with more decimal places than it holds is no money
        number = F.when(text.rlike(r"^[+-]?(\d+\.?\d*|\.\d+)$"), text.cast(MONEY))
        return F.when(number == text.cast(EXACT), number)
    if kind in ("double", "fraction"):
        number = F.when(text.rlike(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"), text.cast("double"))
        return number / 100 if kind == "fraction" else number
    if kind == "timestamp":
        return F.to_timestamp(text, TIMESTAMP_FORMAT)
    if kind == "date":
        return F.to_date(text, "yyyy-MM-dd")
    if kind == "bool":
        lowered = F.lower(text)
        return F.when(lowered.isin("true", "false"), lowered == F.lit("true"))
    raise StagingError(f"column {column.name}: no cast for type {kind!r}")


def _blank_as_null(text: SparkColumn) -> SparkColumn:
    from pyspark.sql import functions as F

    return F.when(text != F.lit(""), text)


def _problem(column: Column, table: Table) -> SparkColumn:
    """A reason when the column's value breaks a rule, else null."""
    from pyspark.sql import functions as F

    raw = _blank_as_null(F.trim(F.col(_raw(column))))
    value = F.col(column.name)
    unfit = raw.isNotNull() & value.isNull()
    what = F.lit(f" is not a {column.type}")
    if column.type == "decimal":
        rounded = raw.cast(MONEY).isNotNull() & (raw.cast(MONEY) != raw.cast(EXACT))
        places = MONEY.rstrip(")").rsplit(",", 1)[-1]
        what = F.when(rounded, F.lit(f" has more than {places} decimal places")).otherwise(what)
    message = F.concat(F.lit(f"{column.name}: "), F.substring(raw, 1, 40), what)
    if column.name in table.required:
        missing = raw.isNull()
        return F.when(missing, F.lit(f"{column.name} is missing")).when(unfit, message)
    return F.when(unfit, message)


def _local_date(timestamp_column: str, local: bool = True) -> SparkColumn:
    """The marketplace-local calendar date of a UTC timestamp (the marketplace's time zone);
    the UTC date in a table of no marketplace (``local`` False)."""
    from pyspark.sql import functions as F

    if not local:
        return F.to_date(F.col(timestamp_column))
    zones = F.create_map(
        *[x for m in marketplaces().values() for x in (F.lit(m.marketplace_id), F.lit(m.timezone))]
    )
    zone = F.coalesce(zones[F.col("marketplace_id")], F.lit("UTC"))
    return F.to_date(F.from_utc_timestamp(F.col(timestamp_column), zone))


def split(rows: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows without a reason, rows with one)."""
    from pyspark.sql import functions as F

    return rows.where(F.col(REASON).isNull()), rows.where(F.col(REASON).isNotNull())


def protect(rows: DataFrame, table: Table, hash_key: bytes | None) -> DataFrame:
    """Apply the contract's PII actions and keep only the published columns, in order."""
    from pyspark.sql import functions as F

    hashed = _hashed(table, hash_key)
    out = rows
    for name in hashed:
        assert hash_key is not None
        out = out.withColumn(name, hmac_sha256(F.col(name), hash_key))
    extra = [EXTRA] if EXTRA in rows.columns else []
    keep = ["seller_id", *(c.name for c in table.published), *LINEAGE, *extra]
    return out.select(*keep)


def _hashed(table: Table, hash_key: bytes | None) -> list[str]:
    """The table's ``hash`` columns; an error naming the setting when there is no key."""
    hashed = [c.name for c in table.columns if c.pii == "hash"]
    if hashed and not hash_key:
        raise StagingError(
            f"table {table.name} hashes {', '.join(hashed)}: set {HASH_KEY_SETTING} (locally) "
            "or the job's --pii_hash_key_secret_id (on Glue) to the HMAC key"
        )
    return hashed


def hmac_sha256(value: SparkColumn, key: bytes) -> SparkColumn:
    """HMAC-SHA256 (RFC 2104) of a string column, hex, in Spark's own functions: the key is
    padded and XORed on the driver, so no Python runs per row and the key is no column."""
    from pyspark.sql import functions as F

    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(block, b"\0")
    inner_pad = bytes(b ^ 0x36 for b in padded)
    outer_pad = bytes(b ^ 0x5C for b in padded)
    message = F.encode(value, "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.when(value.isNotNull(), F.sha2(F.concat(F.lit(outer_pad), inner), 256))


def newest(rows: DataFrame, table: Table) -> DataFrame:
    """One row per seller and key: the newest by the contract's rule (module doc, step 4)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import MapType

    order = [F.col(table.newest).desc_nulls_last()] if table.newest else []
    order += [F.col("ingested_at").desc_nulls_last(), F.col("raw_key").desc()]
    # Last, the row's content: rows tying on all of the above still have one winner. (xxhash64
    # is cheap; Spark hashes no maps, so a map column is hashed as its JSON.)
    maps = {f.name for f in rows.schema.fields if isinstance(f.dataType, MapType)}
    content = F.xxhash64(
        *[F.to_json(F.col(c)) if c in maps else F.col(c) for c in sorted(rows.columns)]
    )
    order.append(content.desc())
    window = Window.partitionBy("seller_id", *table.key).orderBy(*order)
    ranked = rows.withColumn("_rank", F.row_number().over(window))
    return ranked.where(F.col("_rank") == 1).drop("_rank")


def quarantine_rows(bad: DataFrame, table: Table, hash_key: bytes | None) -> DataFrame:
    """Quarantined rows as they were read (raw text per column), with the reason and the
    lineage to find the document and the row in it (``row_number``: its line, or its position
    in a JSON document's rows). Personal data is treated as in the cleaned table: ``drop``
    columns are left out, ``hash`` columns hold the keyed hash of their raw text, never the
    text (the quarantine is in the lake too)."""
    from pyspark.sql import functions as F

    hashed = set(_hashed(table, hash_key))

    def text(contract: Column) -> SparkColumn:
        column = F.col(_raw(contract))
        return hmac_sha256(column, hash_key) if contract.name in hashed and hash_key else column

    raw = [
        x
        for c in table.columns
        if c.source is not None and c.pii != "drop"
        for x in (F.lit(c.name), text(c))
    ]
    number = F.col(ROW) if ROW in bad.columns else F.lit(None).cast("bigint")
    return bad.select(
        F.lit(table.name).alias("table"),
        "seller_id",
        F.col(REASON).alias("reason"),
        F.create_map(*raw).alias("row"),
        "raw_key",
        number.alias("row_number"),
        "document_id",
        "ingested_at",
    )
