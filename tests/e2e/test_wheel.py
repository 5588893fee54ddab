"""The built wheel works on its own, as a Glue job or a Lambda function installs it: not an
editable install, not run from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from spapi_toolkit.lake.registry import registry

ROOT = Path(__file__).resolve().parents[2]

# Runs in the fresh environment, from a folder outside the source tree.
PROBE = """
import spapi_toolkit, sys
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.lake.registry import registry
from spapi_sandbox.server import run_sandbox
assert "site-packages" in spapi_toolkit.__file__, spapi_toolkit.__file__
print("datasets", len(registry()))
with run_sandbox(scale=600) as sandbox, SpApiClient.from_env(env=sandbox.env) as client:
    answer = client.call("getMarketplaceParticipations")
    print("participations", len(answer["payload"]))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        timeout=240,
    )
    [built] = out.glob("spapi_lake-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_every_data_file_of_the_package(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "spapi_toolkit" / "data"
    expected = {
        f"spapi_toolkit/data/{p.relative_to(source).as_posix()}"
        for p in source.rglob("*")
        if p.is_file()
    }
    assert expected - names == set()
    assert "spapi_toolkit/data/datasets.toml" in names


@pytest.mark.slow
def test_the_wheel_installed_alone_runs_the_cli_registry_and_sandbox(wheel: Path, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The dependencies come from the test run's own environment (a plain path, so its
    # editable install of this project is not picked up); the project only from the wheel.
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Nothing of the caller's PYTHONPATH (a source tree there would make pip think the project
    # is installed already, and skip it).
    alone = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True,
        timeout=240, env=alone,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = {"cwd": elsewhere, "capture_output": True, "text": True, "timeout": 120, "env": alone}
    help_text = subprocess.run([env_dir / "bin" / "spapi", "--help"], **run)
    assert help_text.returncode == 0, help_text.stderr
    assert "ingest" in help_text.stdout
    probe = subprocess.run([python, "-c", PROBE], **run)
    assert probe.returncode == 0, probe.stderr
    assert f"datasets {len(registry())}" in probe.stdout and "participations" in probe.stdout
