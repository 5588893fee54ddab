"""A run's profile (``lake/curate/profile.py``): what ``bench_curate`` prints to say where the
time went. Each phase counts the Spark jobs it ran and no other's (a phase inside another counts
in the inner one only, and a thread beside it keeps its own), and its seconds exclude an inner
phase's; what lies outside every phase is the fixed cost."""

from __future__ import annotations

import threading
import time

from spapi_toolkit.lake.curate.profile import FIXED, Profile


def test_phases_count_their_own_jobs_and_seconds_and_restore_the_job_group(spark):
    context = spark.sparkContext
    context.setJobGroup("caller", "the caller's group")
    profile = Profile.of(spark)
    started = time.perf_counter()
    # One job each: a collect of a range has no shuffle (a count has, and AQE runs it as two).
    with profile.phase("outer"):
        spark.range(10).collect()
        with profile.phase("inner"):
            time.sleep(0.3)
            spark.range(10).collect()
            spark.range(5).collect()
        spark.range(3).collect()
    with profile.phase("outer"):  # a phase met again adds up
        spark.range(3).collect()
    elapsed = time.perf_counter() - started
    assert context.getLocalProperty("spark.jobGroup.id") == "caller"  # restored
    assert profile.jobs == {"outer": 3, "inner": 2}
    assert profile.seconds["inner"] >= 0.3
    # The inner's seconds are not the outer's too: together they are the time that passed.
    assert abs(profile.seconds["outer"] + profile.seconds["inner"] - elapsed) < 0.1
    profile.finish(profile.seconds["outer"] + profile.seconds["inner"] + 1.0)
    assert abs(profile.seconds[FIXED] - 1.0) < 1e-6
    assert profile.total_jobs == 5
    assert "inner" in profile.line() and "/2 jobs" in profile.line()
    context.setLocalProperty("spark.jobGroup.id", None)


def test_a_thread_beside_a_phase_keeps_its_jobs_out_of_it(spark):
    profile = Profile.of(spark)
    started, done = threading.Event(), threading.Event()

    def other() -> None:
        started.wait()
        for _ in range(3):
            spark.range(7).collect()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with profile.phase("mine"):
        started.set()
        spark.range(4).collect()
        done.wait(60)
    thread.join()
    assert profile.jobs == {"mine": 1}
