"""Tables and marts curated side by side (``quality.gate.gated_run``): results come back in the
order asked, progress hears each as it finishes, and a step that fails stops the run (no further
step starts, the running ones finish) with its own error."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from spapi_toolkit.clock import ManualClock
from spapi_toolkit.lake.quality.gate import gated_run
from spapi_toolkit.lake.storage import Lake

CLOCK = ManualClock(datetime(2026, 1, 5, 7, tzinfo=UTC))


def test_steps_run_side_by_side_and_results_keep_their_order(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    inside, most = 0, 0
    lock = threading.Lock()
    heard: list[str] = []

    def step(name: str, _validator: object) -> str:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep({"a": 0.4, "b": 0.1, "c": 0.2, "d": 0.1}[name])
        with lock:
            inside -= 1
        return name.upper()

    results = gated_run(lake, CLOCK, "abcd", step, heard.append, concurrent=3)
    assert results == ["A", "B", "C", "D"]
    assert sorted(heard) == results and heard[-1] == "A"  # heard as they finished
    assert most == 3


def test_one_at_a_time_when_asked(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    threads = set()

    def step(name: str, _validator: object) -> str:
        threads.add(threading.current_thread().name)
        return name

    assert gated_run(lake, CLOCK, "xyz", step, concurrent=1) == ["x", "y", "z"]
    assert threads == {threading.current_thread().name}


def test_a_failing_step_stops_the_run_with_its_error(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    started: list[str] = []

    def step(name: str, _validator: object) -> str:
        started.append(name)
        if name == "b":
            raise ValueError("table b: its contract cannot be read")
        time.sleep(0.3)
        return name

    with pytest.raises(ValueError, match="table b"):
        gated_run(lake, CLOCK, "abcdefgh", step, concurrent=2)
    assert "h" not in started  # the steps not yet started never start
