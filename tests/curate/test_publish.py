"""Publishing's swap: the folders it expects are the ones Spark writes."""

from __future__ import annotations

from datetime import date

from spapi_toolkit.lake.curate.publish import partition_files, partition_folder
from spapi_toolkit.lake.storage import Lake


def test_partition_folders_are_named_as_spark_names_them(spark, tmp_path):
    """The gate names held-back partitions by value; the swap finds their staged folders by
    name, so each value must give the folder Spark wrote, odd characters and null included."""
    values = [("A1/B", date(2026, 1, 2)), ("x:y=z%", date(2026, 1, 3)), (None, date(2026, 1, 4)),
              ("plain", None), ("é ü#?{[]}^*'\"\\", date(2026, 12, 31)),
              ("tab\there", None)]  # fmt: skip
    schema = "seller_id string, day date, n int"
    frame = spark.createDataFrame([(s, d, 1) for s, d in values], schema)
    frame.write.partitionBy("seller_id", "day").parquet(str(tmp_path / "t"))
    written = set(partition_files(Lake.from_uri(str(tmp_path)), "t", 2))
    assert written == {partition_folder(("seller_id", "day"), v) for v in values}
