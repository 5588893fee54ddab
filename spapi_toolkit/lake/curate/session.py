"""The Spark session curation runs in: the same settings on Glue and on a laptop."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# What curation relies on, whoever made the session: UTC everywhere (timestamps are stored in
# UTC and local dates are derived explicitly), and a partitioned write replaces only the
# partitions it writes, so a rerun of some days leaves the others alone.
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
}


def configure(spark: SparkSession) -> SparkSession:
    """Apply ``SETTINGS`` to a session someone else built (Glue's); returns it."""
    for name, value in SETTINGS.items():
        spark.conf.set(name, value)
    return spark


def spark_session(app_name: str = "spapi-curate", cores: int = 2) -> SparkSession:
    """A local session for the laptop, the tests and ``spapi curate``: small shuffles, no UI."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
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
