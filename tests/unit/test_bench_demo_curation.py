"""The demo curation benchmark's own logic (benchmarks/bench_demo_curation.py): how it sorts the
JVM's threads and reads their CPU, and its refusal without a raw zone. Its curation runs are the
benchmark's to time (each starts two JVMs: too slow for the suite)."""

from __future__ import annotations

import os

from ..benchmarks import load

bench = load("bench_demo_curation")


def test_jvm_threads_are_sorted_by_what_they_do():
    kind = bench.thread_kind
    names = {  # as /proc/PID/task/TID/comm shows a JDK 17 JVM's threads: 15 characters
        "C2 CompilerThre": "compiler", "C1 CompilerThre": "compiler",
        "Sweeper thread": "compiler", "Executor task l": "executor", "GC Thread#0": "gc",
        "G1 Conc#0": "gc", "G1 Refine#0": "gc", "VM Thread": "gc", "Thread-3": "other",
        "dag-scheduler-e": "other", "main": "other",
    }  # fmt: skip
    assert {name: kind(name) for name in names} == names


def test_cpu_by_thread_kind_is_within_the_processs():
    seconds = bench.jvm_cpu(os.getpid())  # any process: this one's threads are "other"
    used = os.times()
    assert set(seconds) <= {"compiler", "executor", "gc", "other"}
    # Threads that ended are in the process's figure and no longer in /proc's list of threads.
    assert 0 < sum(seconds.values()) <= used.user + used.system + 0.05
    assert bench.jvm_cpu(2**22 + 1) == {}  # no such process


def test_without_a_raw_zone_it_says_to_run_the_demo(tmp_path, capsys):
    assert bench.main(["--lake", str(tmp_path)]) == 2
    assert "run `make demo` first" in capsys.readouterr().err
