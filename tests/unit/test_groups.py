"""`make test` runs on two workers with ``--dist loadgroup``: each test module stays on one
worker (tests/conftest.py), or its module fixtures are built twice at once. pytest 9.2 broke
this silently with pytest-xdist 3.8; a run here shows every test carrying its group."""

from __future__ import annotations

import json
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


RECORD_GROUPS = """
import json, sys, pytest

class Record:
    groups = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            marks = {m.args[0] for m in item.iter_markers("xdist_group")}
            self.groups.setdefault(item.nodeid.split("::")[0], set()).update(marks)

code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]],
                   plugins=[Record()])
print(json.dumps({module: sorted(g) for module, g in Record.groups.items()}))
sys.exit(code)
"""


def test_the_modules_that_build_the_project_wheel_share_one_group():
    # Both build in the source tree's build/ folder; on two workers at once one build fails.
    # The Glue clean install shares test_package.py's `make package` (a session fixture).
    modules = ["tests/e2e/test_wheel.py", "tests/glue/test_clean_install.py",
               "tests/glue/test_package.py"]  # fmt: skip
    run = subprocess.run([sys.executable, "-c", RECORD_GROUPS, *modules], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    groups = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(groups) == modules
    assert all(groups[m] == ["project-wheel"] for m in modules), groups
