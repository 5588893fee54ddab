"""A local Spark session as a user's terminal sees it: Spark's start-up warnings in the log file,
not the output, and Python workers that run the session's own interpreter whatever PATH and
PYSPARK_PYTHON say."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from spapi_toolkit.lake.curate.session import spark_session
spark = spark_session("session-test", cores=1)
# A Python worker: it needs pyarrow, which the PATH's python3 here does not promise.
print(spark.range(3).mapInArrow(lambda batches: batches, "id long").count())
# The JIT settings of the JVM that really runs (a setting it never got would read its default).
jvm = spark.sparkContext._jvm
bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
    jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
for flag in ("TieredStopAtLevel", "ReservedCodeCacheSize"):
    print(flag, bean.getVMOption(flag).getValue())
spark.stop()
"""


def test_spark_warnings_go_to_the_log_and_workers_run_this_interpreter(tmp_path):
    log = tmp_path / "spark.log"
    env = {**os.environ, "SPAPI_SPARK_LOG": str(log), "PATH": "/usr/bin:/bin",
           "PYSPARK_PYTHON": "python3"}  # fmt: skip
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    count, *flags = run.stdout.strip().splitlines()
    assert count == "3"
    # C1 only, with tiered compilation's code cache (session.JVM_OPTIONS): not C1's 48 MB.
    assert flags == ["TieredStopAtLevel 1", f"ReservedCodeCacheSize {240 * 1024 * 1024}"]
    assert "WARN" not in run.stderr and "Setting default log level" not in run.stderr, run.stderr
    assert "NativeCodeLoader" in log.read_text()  # the start-up warning, kept in the log
