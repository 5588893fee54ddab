"""``dist/glue/`` installed the way a Glue 5.1 job installs it, into an environment that holds
only Glue 5.1's own modules (``spapi_toolkit/data/glue_modules.toml``, at AWS's versions) and
with no package index: the zip of wheels must bring everything else. The entry scripts, run from
``dist/glue/`` with that environment's Python (not the source tree, not the test run's
packages), then curate and gate a small lake."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.aws import glue_package
from spapi_toolkit.ingest.jobs import IngestSettings, ReportIngestor
from spapi_toolkit.ingest.planner import plan
from spapi_toolkit.lake.registry import select
from spapi_toolkit.lake.storage import Lake

from ..curate.week import SELLER, TODAY
from ..reconcile import US
from ..support import END_DATE
from .test_package import manifest_rows

# The environment is built once a session and the scripts start Spark twice: minutes, not the
# default 300 s, when the machine is busy.
pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(900)]

DAY = date(2026, 11, 12)  # settled in the sandbox's pinned history
DATASETS = "orders_by_order_date,sales_traffic_by_asin"
CLEANED = ("order_items", "sales_traffic_by_asin")
MARTS = ("sales_daily", "orders_daily")


def _without_pip_settings(env: dict[str, str]) -> dict[str, str]:
    """``env`` with no pip setting of this machine (its extra indexes and find-links would be a
    way around ``--no-index``) and no PYTHONPATH (the source tree must not be importable)."""
    clean = {k: v for k, v in env.items() if not k.startswith(("PIP_", "SPAPI_"))}
    clean.pop("PYTHONPATH", None)
    clean["PIP_CONFIG_FILE"] = os.devnull  # nor any pip.conf
    return clean


def _run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="session")
def glue_python(tmp_path_factory) -> Path:
    """A fresh virtual environment (no system site packages, no pip of its own but the one of
    Glue's list) holding exactly Glue 5.1's modules; its Python. Built once a session, in a
    folder named by the list, from the package registry (pip's cache makes it fast)."""
    runtime = glue_package.glue_runtime()
    listed = "".join(f"{name}=={version}\n" for name, version in sorted(runtime.modules.items()))
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{listed}".encode()).hexdigest()[:12]
    home = tmp_path_factory.getbasetemp() / f"glue-{runtime.glue_version}-{key}"
    python = home / "bin" / "python"
    if not (home / "ready").is_file():
        made = _run(sys.executable, "-m", "venv", "--without-pip", home)
        assert made.returncode == 0, made.stderr
        (home / "glue-modules.txt").write_text(listed)
        # Exactly the list, nothing pip would add: Glue's environment is what AWS lists.
        got = _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                   "--no-compile", "--no-deps", "-r", home / "glue-modules.txt")  # fmt: skip
        assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
        (home / "ready").touch()
    return python


@dataclass(frozen=True)
class Installed:
    python: Path
    before: dict[str, str | None]  # distribution -> version, before dist/glue/ was installed
    after: dict[str, str]
    pip: subprocess.CompletedProcess[str]
    check: subprocess.CompletedProcess[str]


VERSIONS = """
import importlib.metadata as m, json
from packaging.utils import canonicalize_name
print(json.dumps({canonicalize_name(d.metadata["Name"]): d.version for d in m.distributions()}))
"""


@pytest.fixture(scope="module")
def installed(glue_dist, glue_python, tmp_path_factory) -> Installed:
    """dist/glue/ installed into ``glue_python`` by its pip (Glue's 24.0), with the zip of wheels
    as the only source of packages: ``--no-index``, as the job's
    ``--python-modules-installer-option`` says, and no pip setting of this machine."""
    env = _without_pip_settings(dict(os.environ))
    # From a folder outside the source tree, whose spapi_lake.egg-info `python -c` would see.
    cwd = tmp_path_factory.mktemp("elsewhere")
    before = json.loads(_run(glue_python, "-c", VERSIONS, env=env, cwd=cwd).stdout)
    unpacked = tmp_path_factory.mktemp("gluewheels")
    with zipfile.ZipFile(glue_dist.out / glue_package.DEPS_ZIP) as archive:
        archive.extractall(unpacked)
    wheels = unpacked / "wheels"
    [wheel] = glue_dist.out.glob("spapi_lake-*.whl")
    pip = _run(glue_python, "-m", "pip", "install", "--no-index", "--no-compile",
               "--find-links", wheels, "-r", wheels / "requirements.txt", wheel,
               env=env, cwd=cwd)  # fmt: skip
    check = _run(glue_python, "-m", "pip", "check", env=env, cwd=cwd)
    after = json.loads(_run(glue_python, "-c", VERSIONS, env=env, cwd=cwd).stdout)
    return Installed(glue_python, before, after, pip, check)


def _small_lake(root: Path) -> Lake:
    """One settled day of one marketplace's orders report and Sales and Traffic report, landed
    from the sandbox as ingestion lands them (the seller and "today" of tests/curate/week.py)."""
    lake = Lake.from_uri(str(root))
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        requests = plan(select(DATASETS), SELLER, (US,), DAY, DAY, TODAY).requests
        with SpApiClient.from_env(env=sandbox.env) as client:
            settings = IngestSettings(time_scale=client.time_scale, poll_seconds=0.5)
            stats = ReportIngestor(client, lake, SELLER, settings).run(requests)
    assert stats.failed == 0, stats.errors
    return lake


@dataclass(frozen=True)
class Runs:
    lake: Path
    raw_to_cleaned: subprocess.CompletedProcess[str]
    cleaned_to_aggregated: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def runs(installed, glue_dist, tmp_path_factory) -> Runs:
    """Both entry scripts, from dist/glue/, with the clean environment's Python, one after the
    other on a small lake (from a folder outside the source tree)."""
    root = tmp_path_factory.mktemp("lake")
    _small_lake(root)
    cwd = tmp_path_factory.mktemp("elsewhere")
    env = _without_pip_settings(dict(os.environ))
    env["SPAPI_PII_HASH_KEY"] = "clean-install-key"
    # Spark's Python workers too (else `python3` of PATH): on Glue every node has the modules.
    env["PYSPARK_PYTHON"] = str(installed.python)

    def job(script: str, tables: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return _run(installed.python, glue_dist.out / f"{script}.py", "--lake", root,
                    "--tables", ",".join(tables), env=env, cwd=cwd)  # fmt: skip

    cleaned = job("raw_to_cleaned", CLEANED)
    aggregated = job("cleaned_to_aggregated", MARTS) if cleaned.returncode == 0 else cleaned
    return Runs(root, cleaned, aggregated)


def test_the_environment_was_glues_alone_before_the_package(installed):
    runtime = glue_package.glue_runtime()
    # Glue's modules at AWS's versions (pip 24.0 among them) and nothing else: no Great
    # Expectations, no project, nothing of the test run's environment.
    assert installed.before == runtime.modules


def test_glues_pip_installs_the_package_from_the_zip_and_keeps_glues_modules(installed, glue_dist):
    assert installed.pip.returncode == 0, installed.pip.stdout[-3000:] + installed.pip.stderr
    assert installed.check.returncode == 0, installed.check.stdout + installed.check.stderr
    with zipfile.ZipFile(glue_dist.out / glue_package.DEPS_ZIP) as archive:
        listed = archive.read("wheels/requirements.txt").decode().splitlines()
    pins = dict(line.split("==") for line in listed)
    [wheel] = glue_dist.out.glob("spapi_lake-*.whl")
    assert installed.after["spapi-lake"] == wheel.name.split("-")[1]
    assert {n: installed.after.get(n) for n in pins} == pins
    # Glue's own modules stay as Glue has them, but for those the zip overrides (where Glue's
    # version fails a requirement; the manifest says which).
    runtime = glue_package.glue_runtime()
    changed = {n for n, v in runtime.modules.items() if installed.after.get(n) != v}
    assert changed == set(pins) & set(runtime.modules)
    carried, _ = manifest_rows((glue_dist.out / glue_package.MANIFEST).read_text())
    assert all("overrides Glue's" in carried[n][1] for n in changed)


def test_the_jobs_import_the_installed_package_on_glues_numpy_pandas_and_pyarrow(
    installed, tmp_path
):
    probe = _run(
        installed.python, "-c", PROBE, env=_without_pip_settings(dict(os.environ)), cwd=tmp_path
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    site = str(Path(installed.python).parents[1])
    assert all(path.startswith(site) for path in seen["files"].values()), seen["files"]
    runtime = glue_package.glue_runtime()
    for name in ("numpy", "pandas", "pyarrow", "pyspark", "boto3"):
        assert seen["versions"][name] == runtime.modules[name], name


PROBE = """
import json, sys
import awsglue.utils, awswrangler, boto3, great_expectations, numpy, pandas, pyarrow, pyspark
import spapi_toolkit.lake.curate.entry, spapi_toolkit.lake.quality.gate, spapi_toolkit.lake.catalog
modules = [awsglue, awswrangler, great_expectations, numpy, pandas, pyarrow, pyspark,
           spapi_toolkit]
print(json.dumps({
    "files": {m.__name__: m.__file__ for m in modules},
    "versions": {m.__name__: m.__version__ for m in (numpy, pandas, pyarrow, pyspark, boto3)},
}))
"""


def _rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.rglob("*.parquet"))


def _latest(lake: Path, zone: str, table: str) -> dict:
    return json.loads((lake / "_quality" / "latest" / zone / f"{table}.json").read_text())


def test_raw_to_cleaned_curates_and_gates_with_the_installed_package(runs):
    ran = runs.raw_to_cleaned
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-5000:]
    assert "raw_to_cleaned: lake" in ran.stdout and "on local Spark" in ran.stdout
    assert f"raw_to_cleaned: done, {len(CLEANED)} table(s)" in ran.stdout
    for table in CLEANED:
        rows = _rows(runs.lake / "cleaned" / table)
        assert rows > 0, table
        latest = _latest(runs.lake, "cleaned", table)
        # the suite ran on the batch that was published, and passed
        assert latest["success"] is True and latest["failed"] == 0, latest
        assert latest["evaluated"] > 0 and latest["rows"] == rows, latest
    assert (runs.lake / "_quality" / "docs" / "index.html").is_file()


def test_cleaned_to_aggregated_builds_and_gates_the_marts_with_the_installed_package(runs):
    ran = runs.cleaned_to_aggregated
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-5000:]
    assert f"cleaned_to_aggregated: done, {len(MARTS)} table(s)" in ran.stdout
    for mart in MARTS:
        rows = _rows(runs.lake / "aggregated" / mart)
        assert rows > 0, mart
        latest = _latest(runs.lake, "aggregated", mart)
        assert latest["success"] is True and latest["failed"] == 0, latest
        assert latest["evaluated"] > 0 and latest["rows"] == rows, latest
