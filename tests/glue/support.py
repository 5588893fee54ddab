"""What the Glue tests share: the entry scripts, run as Glue would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "glue_jobs"


def run_script(
    name: str, *args: str, cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python glue_jobs/<name>.py ARGS`` from ``cwd``, with this source tree importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
