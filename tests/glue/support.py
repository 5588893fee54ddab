"""What the Glue tests share: the entry scripts, loaded or run as Glue would run them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "glue_jobs"


def load_script(name: str) -> ModuleType:
    """A glue_jobs/ script as a module (glue_jobs is not a package; Glue runs the file)."""
    spec = importlib.util.spec_from_file_location(f"glue_jobs_{name}", SCRIPTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


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
