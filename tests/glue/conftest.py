"""What the Glue tests share: one ``make package`` per session (test_package.py and
test_clean_install.py both read it; tests/conftest.py keeps the two on one worker)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import ROOT


@dataclass(frozen=True)
class Package:
    """``make package``'s ``dist/glue/`` and what the target printed."""

    out: Path
    stdout: str


@pytest.fixture(scope="session")
def glue_dist(tmp_path_factory) -> Package:
    """`make package` into a temp folder, with this test run's Python (``-o install``: the
    environment is the one running the tests, not a fresh .venv)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = tmp_path_factory.mktemp("glue")
    made = subprocess.run(
        ["make", "-o", "install", "package", f"BIN={Path(sys.executable).parent}",
         f"GLUE_DIST={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    return Package(out, made.stdout)
