"""Query benchmark: every notebook query on a 2-year, 2,000-product, 3-marketplace lake, on
DuckDB (what the notebooks use locally) beside Spark SQL on the same files, in the same run.

Run:  .venv/bin/python benchmarks/bench_queries.py [--products 2000] [--days 730]
      [--marketplaces US,DE,JP] [--repeat 3] [--no-spark] [--lake-dir DIR]

1. A synthetic lake is written once with pyarrow (cached under the temp folder by its size):
   every table the queries read, with the contracts' columns and types, hive-partitioned by
   marketplace and day (a weekly or monthly mart by its period's first day) exactly as curation
   writes them: one row per product and partition for the per-ASIN/SKU tables (sales_daily,
   orders_daily, the snapshot marts, product_performance, ...), two per product for
   ``order_items``, and a fixed count for the others (ship-to states, search terms); values are
   random by type (the queries' speed depends on sizes and types, not on the figures).
2. Every query of ``spapi_toolkit/data/queries/`` runs with the notebooks' default scope (the
   last 30 days, every marketplace): on DuckDB through ``lake.query.connect`` (views, sqlglot
   transpilation, bound parameters), and on a local Spark session through Spark SQL (the same
   Trino text transpiled by sqlglot to Spark's dialect, parameters bound by ``spark.sql(args=)``)
   over the same files. Each is run ``--repeat`` times after one warm-up; the median is shown.

Target (issue 9): every query under 1 second on DuckDB (judged on the warm median; the first
run, shown beside it, also pays for listing the lake's files and reading Parquet footers).

Figures seen
------------
On a quiet 2-core VM (23 GB RAM), 2026-12-03, at commit c3cb4b4, 4 min 51 s in all (the lake
built in 201 s: 8.76 M order items, 4.38 M rows in each daily per-ASIN table, 2.6 GB)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_queries.py --lake-dir DIR

    query                     rows  duckdb 1st   duckdb  spark 1st    spark  spark/duckdb  target
    abc_classes             12,000      0.121s   0.034s     1.745s   0.376s         11.0x  ok
    asin_funnel              6,000      0.126s   0.088s     1.417s   0.643s          7.3x  ok
    asin_halves              6,000      0.103s   0.087s     1.076s   0.482s          5.6x  ok
    basket_pairs            29,971      0.107s   0.076s     0.644s   0.395s          5.2x  ok
    customer_weekly             15      0.073s   0.064s     0.369s   0.194s          3.0x  ok
    inventory_latest         6,000      0.163s   0.122s     1.091s   0.722s          5.9x  ok
    orders_against_sales        90      0.160s   0.137s     0.657s   0.414s          3.0x  ok
    orders_per_day              90      0.581s   0.296s     0.981s   0.534s          1.8x  ok
    price_position_daily        87      0.094s   0.072s     0.350s   0.251s          3.5x  ok
    price_position_latest    6,000      0.138s   0.113s     0.859s   0.694s          6.1x  ok
    refunds_by_asin          6,000      0.413s   0.248s     0.579s   0.334s          1.3x  ok
    repeat_purchase             15      0.097s   0.066s     0.194s   0.128s          1.9x  ok
    sales_by_day                90      0.115s   0.078s     0.316s   0.224s          2.9x  ok
    sales_rank_daily       174,000      0.508s   0.294s     1.452s   1.446s          4.9x  ok
    search_term_share        5,998      0.095s   0.079s     0.294s   0.174s          2.2x  ok
    ship_states                850      0.085s   0.062s     0.223s   0.134s          2.2x  ok
    top_asins                6,000      0.100s   0.080s     0.376s   0.287s          3.6x  ok
    target: every query under 1 s on DuckDB: met

The slowest warm query is orders_per_day at 0.296 s (first run 0.581 s); DuckDB is 1.3 to 11
times faster than Spark SQL on the same files.

Stop 32 (2026-12-07, commit 070aac5 and later, v4 lake: profit_daily added), same kind of VM,
whose DuckDB ran every query 2-3 times slower than on 2026-12-03 (the same queries, the same
lake size). Before the view change (070aac5), on this VM, an hour earlier, DuckDB only: 5
queries over 1 s (listing_health 3.62 s, asin_titles 1.31 s, orders_per_day 1.23 s,
returns_by_asin 1.08 s, sales_rank_daily 1.09 s; sales_by_day 0.34 s). The views now glob one
``*`` per partition level instead of ``**`` and read a table's files by the first file's schema
(``union_by_name`` only for a lake curated before its contract gained a column: it read every
file's footer on every scan, about 0.5 s on a 2,190-partition cleaned table); asin_titles reads
90 days of catalog snapshots instead of 365. The full run after it (lake reused)::

    query                     rows  duckdb 1st   duckdb  spark 1st    spark  spark/duckdb  target
    ---------------------------------------------------------------------------------------------
    abc_classes             12,000      2.175s   0.066s     4.388s   0.782s         11.8x  ok
    abc_period               6,000      0.211s   0.227s     4.217s   1.772s          7.8x  ok
    asin_funnel              6,000      0.222s   0.235s     2.421s   1.356s          5.8x  ok
    asin_halves              6,000      0.199s   0.194s     1.819s   1.110s          5.7x  ok
    asin_titles              6,000      0.331s   0.310s     2.852s   2.078s          6.7x  ok
    basket_pairs            29,972      0.345s   0.233s     1.714s   0.835s          3.6x  ok
    customer_weekly             15      0.199s   0.169s     0.702s   0.411s          2.4x  ok
    inventory_latest         6,000      0.368s   0.349s     2.945s   1.618s          4.6x  ok
    listing_health           5,999      0.858s   0.914s    21.918s  14.402s         15.8x  ok
    orders_against_sales        90      0.543s   0.356s     1.245s   0.889s          2.5x  ok
    orders_per_day              90      0.424s   0.262s     1.968s   0.977s          3.7x  ok
    period_totals                3      0.274s   0.205s     1.589s   0.765s          3.7x  ok
    price_position_daily        87      0.302s   0.195s     0.879s   0.607s          3.1x  ok
    price_position_latest    6,000      0.307s   0.343s     1.891s   1.117s          3.3x  ok
    profit_by_day               90      0.334s   0.193s     1.302s   0.802s          4.1x  ok
    profit_by_sku            6,000      0.414s   0.354s     4.845s   2.682s          7.6x  ok
    refunds_by_asin          6,000      0.311s   0.245s     1.016s   0.640s          2.6x  ok
    repeat_purchase             15      0.158s   0.145s     0.383s   0.271s          1.9x  ok
    reporting_currency           1      0.137s   0.120s     0.340s   0.214s          1.8x  ok
    return_reasons          15,253      0.240s   0.206s     1.621s   0.993s          4.8x  ok
    returns_by_asin          5,711      0.428s   0.398s     1.220s   0.843s          2.1x  ok
    sales_by_day                90      0.232s   0.220s     0.884s   0.443s          2.0x  ok
    sales_rank_daily       174,000      0.501s   0.426s     2.660s   2.800s          6.6x  ok
    search_term_share        5,996      0.223s   0.192s     0.756s   0.415s          2.2x  ok
    ship_states                860      0.218s   0.202s     0.538s   0.332s          1.6x  ok
    sku_asins                6,000      0.208s   0.183s     0.963s   0.649s          3.5x  ok
    top_asins                6,000      0.183s   0.229s     1.017s   0.621s          2.7x  ok
    target: every query under 1 s on DuckDB: met

05_profitability's queries (profit_by_sku, profit_by_day, sku_asins and asin_titles for its
labels) take 0.18-0.35 s warm, under issue 22's 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spapi_toolkit.lake.catalog import Contract, glue_columns, zone  # noqa: E402
from spapi_toolkit.lake.query import connect, load, names  # noqa: E402
from spapi_toolkit.lake.query.sql import parse  # noqa: E402
from spapi_toolkit.regions import marketplace  # noqa: E402

LAST_DAY = date(2026, 11, 27)  # fixed: the lake is the same whatever day the bench runs
TARGET_SECONDS = 1.0
LAKE_VERSION = "v4"  # in the cached lake's name: bumped when build_lake writes other rows (v2:
# Data Kiosk's one-day windows; v3: FBA returns; v4: profit_daily), so a lake cached by an older
# version is not reused


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {"string": pa.string(), "bigint": pa.int64(), "decimal(18,2)": pa.decimal128(18, 2),
            "double": pa.float64(), "timestamp": pa.timestamp("us"), "date": pa.date32(),
            "boolean": pa.bool_(), "map<string,string>": pa.map_(pa.string(), pa.string()),
            }[kind]  # fmt: skip


def _write(root: Path, contract: Contract, columns: dict[str, Any], rows: int) -> None:
    """``columns`` (numpy arrays or scalars; the contract's other columns null) as the table's
    hive partitions."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds

    data_types, partition_types = glue_columns(contract)
    every = {**data_types, **partition_types}
    arrays = {}
    for name, kind in every.items():
        value = columns.get(name)
        if value is None:
            arrays[name] = pa.nulls(rows, _arrow_type(kind))
        elif np.isscalar(value) or isinstance(value, str):
            arrays[name] = pa.array([value] * rows, _arrow_type(kind))
        elif kind.startswith("decimal"):  # money: floats rounded to cents, then decimal
            arrays[name] = pa.array(value, pa.float64()).cast(_arrow_type(kind), safe=False)
        else:
            arrays[name] = pa.array(value, _arrow_type(kind))
    frame = pa.table(arrays)
    partitioning = ds.partitioning(
        pa.schema([(p, pa.string()) for p in contract.partition_by]), flavor="hive"
    )
    frame = frame.set_column(frame.schema.get_field_index(contract.partition_by[1]),
                             contract.partition_by[1],
                             frame[contract.partition_by[1]].cast(pa.string()))  # fmt: skip
    ds.write_dataset(frame, root / zone(contract) / contract.name, format="parquet",
                     partitioning=partitioning, max_partitions=100_000,
                     existing_data_behavior="overwrite_or_ignore",
                     basename_template="part-{i}.snappy.parquet")  # fmt: skip


# Rows per partition of each table the queries read, beyond one per product: ``None`` means one
# row per product (ASIN or SKU); a number is that many rows (ship-to states, search terms, and
# returns: a tenth of 2,000 products returned a unit each day and marketplace).
ROWS = {"customer_behavior": 60, "search_terms_weekly": 400, "market_basket_pairs": None,
        "order_items": "items", "returns": 200}  # fmt: skip
# FBA return reasons: Amazon's codes, a handful per ASIN (not one of 50 made-up words).
REASONS = ["UNWANTED_ITEM", "DEFECTIVE", "NOT_AS_DESCRIBED", "QUALITY_UNACCEPTABLE",
           "ORDERED_WRONG_ITEM", "FOUND_BETTER_PRICE", "NO_REASON_GIVEN", "DAMAGED_BY_CARRIER",
           "MISSING_PARTS"]  # fmt: skip
# Tables of one-day windows: end_date is the partition's start_date (Data Kiosk is asked one day
# per query, as the registry says), not a random date.
ONE_DAY_WINDOWS = {"kiosk_sales_traffic"}
WORDS = ["dog", "leash", "lotion", "knife", "set", "men", "women", "best", "cheap", "large"]


def _queried() -> list[Contract]:
    """The cleaned tables and marts the package's queries read."""
    from sqlglot import exp

    from spapi_toolkit.lake.catalog import contracts
    from spapi_toolkit.lake.query.sql import parse

    read = set()
    for name in names():
        read |= {(t.db, t.name) for t in parse(load(name).text).find_all(exp.Table) if t.db}
    return [c for z in ("cleaned", "aggregated") for c in contracts(z) if (z, c.name) in read]


def _days(contract: Contract, days: int) -> list[date]:
    """The partition days of a table over the history: every day, or every period start."""
    from spapi_toolkit.lake.curate.aggregate import period_start

    every = [LAST_DAY - timedelta(days=d) for d in range(days)][::-1]
    period = getattr(contract, "period", "day")
    return sorted({period_start(d, period) for d in every})


def _values(name: str, kind: str, n: int, rng: Any, asins: Any, allowed: Any) -> Any:
    """``n`` plausible values of one column, from its name and contract type."""
    import numpy as np

    if allowed:
        return rng.choice(list(allowed), n)
    if kind == "string":
        if "asin" in name:
            return rng.choice(asins, n)
        if "sku" in name:
            return np.char.add("SKU-", rng.choice(asins, n))
        if name in ("search_term", "department_name", "title"):
            return np.char.add(rng.choice(WORDS, n), np.char.add(" ", rng.choice(WORDS, n)))
        if name == "buy_box_winner":
            return rng.choice(["us", "other", "none"], n)
        if name == "stock_out_risk":
            return rng.choice(["out_of_stock", "high", "medium", "low", "no_sales"], n)
        if name == "reason":
            return rng.choice(REASONS, n)
        if name == "abc_class":
            return rng.choice(["A", "B", "C"], n)
        return np.char.add(f"{name[:6]}-", rng.integers(0, 50, n).astype(str))
    if kind == "int":
        return rng.poisson(8, n)
    if kind == "decimal":
        return rng.uniform(1, 200, n).round(2)
    if kind in ("fraction", "double"):
        return rng.uniform(0, 1, n)
    if kind == "bool":
        return rng.random(n) < 0.5
    if kind == "timestamp":
        return np.full(n, np.datetime64(f"{LAST_DAY}T12:00:00"))
    if kind == "date":
        return np.full(n, np.datetime64(LAST_DAY))
    raise ValueError(f"no synthetic values for type {kind}")


def build_lake(root: Path, products: int, days: int, markets: list[str]) -> dict[str, int]:
    """A synthetic lake under ``root`` of every table the queries read (values by contract type,
    one row per product and partition where the table is per product); rows written per
    table."""
    import numpy as np

    rng = np.random.default_rng(7)
    asins = np.array([f"B{n:09d}" for n in range(products)])
    written = {}
    for contract in _queried():
        columns = contract.columns
        per = ROWS.get(contract.name)
        rows_each = 2 * products if per == "items" else (per or products)
        parts = _days(contract, days)
        total = 0
        for market in markets:
            currency = marketplace(market).currency
            n = rows_each * len(parts)
            data: dict[str, Any] = {
                "seller_id": "A2BENCHSELLER",
                "marketplace_id": market,
                contract.partition_by[1]: np.repeat(
                    np.array(parts, dtype="datetime64[D]"), rows_each
                ),
            }
            for column in columns:
                if column.name in data:
                    continue
                if contract.name in ONE_DAY_WINDOWS and column.name == "end_date":
                    data[column.name] = data["start_date"]
                    continue
                if column.name in ("currency", "reporting_currency"):
                    data[column.name] = currency if column.name == "currency" else "USD"
                    continue
                if per is None and column.name in ("asin", "child_asin"):
                    data[column.name] = np.tile(asins, len(parts))
                    continue
                if per == "items" and column.name == "amazon_order_id":
                    data[column.name] = np.char.add(
                        f"{market[:3]}-", (np.arange(n) // 3).astype(str)
                    )
                    continue
                allowed = getattr(column, "allowed", None)
                data[column.name] = _values(column.name, column.type, n, rng, asins, allowed)
            _write(root, contract, data, n)
            total += n
        written[contract.name] = total
    return written


def _timed(run: Any, repeat: int) -> tuple[float, float, int]:
    """(first run seconds, median of ``repeat`` further runs, rows)."""
    started = time.perf_counter()
    rows = run()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return first, statistics.median(times), rows


def spark_runner(root: Path) -> Any:
    """A function running a Trino query on Spark SQL over the lake's files."""
    import sqlglot
    from sqlglot import exp

    from spapi_toolkit.lake.catalog import contracts
    from spapi_toolkit.lake.curate.session import spark_session
    from spapi_toolkit.lake.query.sql import literal

    spark = spark_session("bench-queries", jvm_options=())  # warm medians: C2 (JVM_OPTIONS)
    spark.sparkContext.setLogLevel("ERROR")
    for zone_name in ("cleaned", "aggregated"):
        for contract in contracts(zone_name):
            folder = root / zone_name / contract.name
            if not folder.exists():
                continue
            data_types, partition_types = glue_columns(contract)
            schema = ", ".join(f"`{n}` {k}" for n, k in {**data_types, **partition_types}.items())
            frame = spark.read.schema(schema).option("basePath", str(folder)).parquet(str(folder))
            frame.createOrReplaceTempView(f"{zone_name}_{contract.name}")

    def run(text: str, params: dict[str, Any]) -> int:
        tree = parse(text)
        for source in tree.find_all(exp.Table):  # zone.table -> the temp view zone_table
            if source.db in ("cleaned", "aggregated"):
                source.set("this", exp.to_identifier(f"{source.db}_{source.name}"))
                source.set("db", None)
        # Spark 3.5 binds only scalar literals: an array parameter goes in as an ARRAY literal.
        for placeholder in list(tree.find_all(exp.Placeholder)):
            value = params[placeholder.name]
            if isinstance(value, list):
                placeholder.replace(sqlglot.parse_one(literal(value), read="trino"))
        scalars = {k: v for k, v in params.items() if not isinstance(v, list)}
        return len(spark.sql(tree.sql(dialect="spark"), args=scalars).collect())

    return run, spark


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--marketplaces", default="US,DE,JP")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-spark", action="store_true", help="DuckDB only")
    parser.add_argument("--lake-dir", type=Path, default=None)
    args = parser.parse_args()
    markets = [marketplace(m).marketplace_id for m in args.marketplaces.split(",")]
    root = args.lake_dir or Path(tempfile.gettempdir()) / (
        f"spapi-bench-queries-{LAKE_VERSION}-{args.products}x{args.days}x{len(markets)}"
    )
    if not (root / "aggregated" / "sales_daily").exists():
        started = time.perf_counter()
        written = build_lake(root, args.products, args.days, markets)
        print(f"built {root} in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{t} {n:,} rows" for t, n in written.items()))  # fmt: skip
    else:
        print(f"reusing {root}")
    params = {"start": LAST_DAY - timedelta(days=29), "end": LAST_DAY, "marketplaces": markets}
    started = time.perf_counter()
    con = connect(str(root))
    print(f"DuckDB views made in {time.perf_counter() - started:.2f} s; scope: the last 30 "
          f"days, {len(markets)} marketplaces; median of {args.repeat} runs after one")  # fmt: skip
    spark = None
    if not args.no_spark:
        run_spark, spark = spark_runner(root)
    header = f"{'query':<22} {'rows':>7} {'duckdb 1st':>11} {'duckdb':>8} {'spark 1st':>10} " \
             f"{'spark':>8} {'spark/duckdb':>13}  target"  # fmt: skip
    print(header)
    print("-" * len(header))
    slow = []
    for name in names():
        text = load(name).text
        first, median, rows = _timed(lambda text=text: len(con.sql(text, **params)), args.repeat)
        line = f"{name:<22} {rows:>7,} {first:>10.3f}s {median:>7.3f}s"
        if spark is not None:
            s_first, s_median, _ = _timed(lambda text=text: run_spark(text, params), args.repeat)
            line += f" {s_first:>9.3f}s {s_median:>7.3f}s {s_median / median:>12.1f}x"
        else:
            line += f" {'-':>10} {'-':>8} {'-':>13}"
        ok = median < TARGET_SECONDS  # warm: the first run also lists the lake's files
        slow += [] if ok else [name]
        print(line + ("  ok" if ok else "  SLOW"))
    if spark is not None:
        spark.stop()
    print(f"target: every query under {TARGET_SECONDS:.0f} s on DuckDB: "
          + ("met" if not slow else f"missed by {', '.join(slow)}"))  # fmt: skip
    return 0 if not slow else 1


if __name__ == "__main__":
    raise SystemExit(main())
