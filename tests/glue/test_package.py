"""`make package`: what a Glue job is given (the entry scripts and the one project wheel)."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .support import ROOT, SCRIPTS


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[Path, str]:
    """`make package` into a temp folder, with this test run's Python (``-o install``: the
    environment is the one running the tests, not a fresh .venv)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = tmp_path_factory.mktemp("glue")
    made = subprocess.run(
        ["make", "-o", "install", "package", f"BIN={Path(sys.executable).parent}",
         f"GLUE_DIST={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    return out, made.stdout


@pytest.mark.slow
def test_the_package_is_the_scripts_and_one_wheel_of_the_project(package):
    out, stdout = package
    [wheel] = out.glob("*.whl")
    assert wheel.name.startswith("spapi_lake-")
    scripts = sorted(p.name for p in SCRIPTS.glob("*.py"))
    assert scripts == ["cleaned_to_aggregated.py", "raw_to_cleaned.py"]
    assert sorted(p.name for p in out.iterdir()) == sorted([wheel.name, *scripts])
    for name in scripts:
        assert (out / name).read_bytes() == (SCRIPTS / name).read_bytes()
    # What to upload and the job argument naming the wheel, as the target prints them.
    assert f"--additional-python-modules s3://BUCKET/PREFIX/{wheel.name}" in stdout


@pytest.mark.slow
def test_the_wheel_carries_the_contracts_and_leaves_glues_own_library_to_glue(package):
    out, _ = package
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = email.message_from_bytes(archive.read(metadata)).get_all("Requires-Dist")
    for data in ("tables.toml", "datasets.toml", "datasets.schema.json"):
        assert f"spapi_toolkit/data/{data}" in names
    assert "spapi_toolkit/lake/storage.py" in names
    assert not [n for n in names if n.startswith(("awsglue/", "tests/", "glue_jobs/"))]
    # Glue installs the wheel with its plain dependencies: awsglue's local copy must only come
    # with the glue extra, or pip on Glue would put it over Glue's own awsglue.
    glue_lib = [r for r in requires if r.lower().startswith("awsgluedataplanepython")]
    assert glue_lib and all('extra == "glue"' in r for r in glue_lib)
    # Nor may it pull what Glue 5.1 has (its own Spark, pandas, pyarrow, numpy) over Glue's.
    name = re.compile(r"[A-Za-z0-9_.-]+")
    base = {name.match(r).group().lower() for r in requires if "extra ==" not in r}
    assert base & {"pyspark", "pandas", "pyarrow", "numpy", "awswrangler"} == set()
    assert "boto3" in base  # Glue's boto3 satisfies it; named because the lake uses it
