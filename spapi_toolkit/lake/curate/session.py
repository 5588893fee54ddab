"""The Spark session curation runs in: the same settings on Glue and on a laptop."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from spapi_toolkit.lake.layout import AGGREGATED, CLEANED, RAW

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spapi_toolkit.lake.storage import Lake

S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"
LOG4J2 = "data/log4j2.properties"  # in the package: a local session's Spark logging
SPARK_LOG_SETTING = "SPAPI_SPARK_LOG"
HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.3.4"  # the Hadoop of PySpark 3.5's jars

# What curation relies on, whoever made the session: UTC everywhere (timestamps are stored in
# UTC and local dates are derived explicitly), and a partitioned write replaces only the
# partitions it writes, so a rerun of some days leaves the others alone. No constraint
# propagation: staging casts dozens of columns in one projection, and the optimizer's inferred
# constraints over those aliases grow combinatorially (a 20-row frame ran the 2 GB heap out
# after minutes); it only adds inferred filters, which these plans do not need.
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.constraintPropagation.enabled": "false",
}
# A local session's JVM compiles with C1 only: a local run (``spapi curate``, the demo, a Glue
# job run locally) is one short curation of many small, different queries, and in such a run C2
# took half the JVM's CPU optimising code that then ran a few times: in a cold curation of the
# demo's lake the compiler threads used 72.7 of the JVM's 135.6 CPU seconds. The cold pass with
# C1 alone: 109-114 s against 126-156 s, and over a cold and a warm pass the JVM's CPU 133-165 s
# against 231-287 s (benchmarks/bench_demo_curation.py). A JVM that goes on curating (a second
# pass on the same session, the tests' long session, a full refresh) is as fast or faster with
# C2 (warm passes: C1 87-107 s, C2 79-97 s; bench_curate's 30-day full refresh: C1 64.9 s, C2
# 58.5 s): those pass ``jvm_options=()``. C1 alone gets a 48 MB code cache, which Spark's
# generated code fills ("CodeCache is full. Compiler has been disabled"), hence tiered
# compilation's default size. Glue's sessions are Glue's own.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m")


def configure(spark: SparkSession) -> SparkSession:
    """Apply ``SETTINGS`` to a session someone else built (Glue's); returns it."""
    for name, value in SETTINGS.items():
        spark.conf.set(name, value)
    return spark


def spark_log() -> Path:
    """Where a local session's Spark log goes: ``SPAPI_SPARK_LOG``, else
    ``$XDG_CACHE_HOME/spapi-lake/spark.log`` (``~/.cache/...``)."""
    named = os.environ.get(SPARK_LOG_SETTING)
    if named:
        return Path(named)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "spapi-lake" / "spark.log"


def spark_session(
    app_name: str = "spapi-curate", cores: int = 2, jvm_options: Sequence[str] = JVM_OPTIONS
) -> SparkSession:
    """A local session for the laptop, the tests and ``spapi curate``: small shuffles, no UI,
    Spark's warnings in ``spark_log()`` and only its errors on the terminal. ``jvm_options``:
    the JVM's flags beside the logging ones (``()`` for the JVM's defaults, as
    ``benchmarks/bench_demo_curation.py`` compares them)."""
    from pyspark.sql import SparkSession

    log = spark_log()
    log.parent.mkdir(parents=True, exist_ok=True)
    logging = resources.files("spapi_toolkit").joinpath(LOG4J2)

    # Spark's Python workers (curation reads documents in them) run this interpreter, not
    # whatever python3 is first on PATH (PySpark's default): another version, or one without
    # pyarrow, fails. PySpark reads the variable when the session starts.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions",
            " ".join(
                (f"-Dlog4j2.configurationFile={logging}", f"-Dspapi.spark.log={log}", *jvm_options)
            ),
        )
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(cores * 2, 2)))
        .config("spark.driver.memory", "2g")
        .config("spark.sql.adaptive.enabled", "true")
        # Local folders get no .crc checksum files and no _SUCCESS markers beside the data.
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config(
            "spark.sql.parquet.output.committer.class",
            "org.apache.parquet.hadoop.ParquetOutputCommitter",
        )
    )
    for name, value in SETTINGS.items():
        builder = builder.config(name, value)
    return configure(builder.getOrCreate())


class StorageUnreachable(RuntimeError):
    """This Spark has no file system for a lake location (the message says what to add)."""


def reach(spark: SparkSession, lake: Lake) -> None:
    """Make sure a local Spark can read and write every root of ``lake`` before a job starts,
    so a missing piece is one clear error instead of a Java stack trace halfway through a table.

    PySpark from PyPI has no S3 file system: ``s3://`` works only with hadoop-aws (S3A) on the
    classpath, and then it is mapped to S3A here. Not for Glue's session, whose ``s3://`` is
    its own (EMRFS)."""
    context = spark.sparkContext
    jvm, conf = context._jvm, context._jsc.hadoopConfiguration()
    assert jvm is not None
    locations = dict.fromkeys(lake.location(zone) for zone in (RAW, CLEANED, AGGREGATED))
    for location in locations:
        scheme = urlsplit(location).scheme
        if len(scheme) <= 1 or scheme == "file":  # a local path (or a Windows drive letter)
            continue
        if scheme == "s3" and conf.get("fs.s3.impl") is None and loadable(jvm, S3A):
            conf.set("fs.s3.impl", S3A)
        try:
            jvm.org.apache.hadoop.fs.Path(location).getFileSystem(conf)
        except Exception as exc:  # py4j's Py4JJavaError: "No FileSystem for scheme ..."
            java = getattr(exc, "java_exception", None)
            why = java.getMessage() if java is not None else str(exc)
            hint = (
                f" PySpark from PyPI ships without hadoop-aws: run the job on AWS Glue, or give "
                f"the local Spark {HADOOP_AWS} and its AWS SDK bundle (for example "
                f"PYSPARK_SUBMIT_ARGS='--packages {HADOOP_AWS} pyspark-shell'), or curate a "
                "local copy of the lake."
                if scheme == "s3"
                else ""
            )
            raise StorageUnreachable(f"this Spark cannot reach {location}: {why}.{hint}") from None


def loadable(jvm: object, class_name: str) -> bool:
    """Whether the JVM ``jvm`` (a py4j view) can load ``class_name``: py4j gives a JavaClass
    for a class it finds, a JavaPackage for any name it does not."""
    from py4j.java_gateway import JavaClass

    target = jvm
    for part in class_name.split("."):
        target = getattr(target, part)
    return isinstance(target, JavaClass)
