"""`make test` runs on two workers with ``--dist loadgroup``: each test module stays on one
worker (tests/conftest.py), or its module fixtures are built twice at once. pytest 9.2 broke
this silently with pytest-xdist 3.8; a run here shows every test carrying its group."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["tests/unit/test_clock.py", "tests/ingest/test_job_kinds.py"]


def test_every_test_runs_in_its_modules_group():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
         "-p", "no:cacheprovider", *MODULES],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ran = re.findall(r"^\[(gw\d)\] .*?PASSED (\S+)", run.stdout, re.MULTILINE)
    assert len(ran) >= 10, run.stdout[-3000:]
    workers: dict[str, set[str]] = {}
    for worker, node in ran:
        path, _, group = node.partition("@")
        module = path.split("::")[0]
        assert group == module.removeprefix("tests/"), f"{node} is not in its module's group"
        workers.setdefault(module, set()).add(worker)
    assert all(len(w) == 1 for w in workers.values()), workers
