"""`make package`: what a Glue job is given (the entry scripts, the project wheel, the zip of the
wheels the jobs need besides Glue's own, and its manifest). The install itself, into an
environment of only Glue's modules, is test_clean_install.py's."""

from __future__ import annotations

import email
import hashlib
import importlib.metadata as metadata
import re
import zipfile

import pytest
from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from spapi_toolkit.aws import glue_package

from .support import SCRIPTS

pytestmark = pytest.mark.slow


def manifest_rows(text: str) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """The manifest's two tables: carried and left to Glue, name -> (version, why)."""
    tables: list[dict[str, tuple[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("| package |"):
            tables.append({})
        elif line.startswith("| ") and tables and not line.startswith("|---"):
            name, version, why = (cell.strip() for cell in line.strip("|").split(" | "))
            tables[-1][name] = (version, why)
    carried, from_glue = tables
    return carried, from_glue


def glue_tags() -> set[tags.Tag]:
    """Every wheel tag CPython 3.11 on Glue 5.1 installs (AWS's Appendix B: manylinux up to
    glibc 2.34, x86_64), worked out here rather than by pip."""
    runtime = glue_package.glue_runtime()
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(34, 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    version = tuple(int(p) for p in runtime.python_version.split("."))
    return set(tags.cpython_tags(version, ["cp311", "abi3", "none"], platforms)) | set(
        tags.compatible_tags(version, "cp311", platforms)
    )


def test_the_package_is_the_scripts_the_wheel_the_zip_of_wheels_and_its_manifest(glue_dist):
    out = glue_dist.out
    [wheel] = out.glob("*.whl")
    assert wheel.name.startswith("spapi_lake-")
    scripts = sorted(p.name for p in SCRIPTS.glob("*.py"))
    assert scripts == ["cleaned_to_aggregated.py", "raw_to_cleaned.py"]
    expected = [wheel.name, *scripts, glue_package.DEPS_ZIP, glue_package.MANIFEST]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name in scripts:
        assert (out / name).read_bytes() == (SCRIPTS / name).read_bytes()
    # What to upload and the job arguments, as the target prints them: the zip acts as the
    # only index of Glue's pip (no PyPI), and the wheel is installed from it.
    prefix = "s3://BUCKET/PREFIX/"
    assert (f"--additional-python-modules {prefix}{glue_package.DEPS_ZIP},{prefix}{wheel.name}"
            in glue_dist.stdout)  # fmt: skip
    assert "--python-modules-installer-option --no-index" in glue_dist.stdout


def test_the_wheel_carries_the_contracts_and_leaves_glues_own_library_to_glue(glue_dist):
    [wheel] = glue_dist.out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = email.message_from_bytes(archive.read(metadata_name)).get_all("Requires-Dist")
    for data in ("tables.toml", "datasets.toml", "datasets.schema.json", "glue_modules.toml"):
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


def test_the_zip_is_glues_layout_one_wheel_per_pin_at_the_tested_versions(glue_dist):
    with zipfile.ZipFile(glue_dist.out / glue_package.DEPS_ZIP) as archive:
        names = archive.namelist()
        pins = archive.read("wheels/requirements.txt").decode().splitlines()
    # AWS's Appendix A: wheels/requirements.txt and the wheels beside it, nothing else.
    assert all(n.startswith("wheels/") for n in names)
    wheels = {parse_wheel_filename(n.removeprefix("wheels/")) for n in names if n.endswith(".whl")}
    assert len(wheels) == len(names) - 1
    by_name = {canonicalize_name(w[0]): w for w in wheels}
    assert len(by_name) == len(wheels)  # one wheel per distribution
    assert len(pins) > 10 and pins == sorted(pins, key=lambda p: p.partition("==")[0])
    supported = glue_tags()
    for pin in pins:
        pinned, _, version = pin.partition("==")
        assert pinned == canonicalize_name(pinned) and version, pin
        _, wheel_version, _, wheel_tags = by_name.pop(pinned)
        # exactly what the tests ran with
        assert str(wheel_version) == version == metadata.version(pinned), pin
        assert wheel_tags & supported, f"{pin}: {wheel_tags} do not install on Glue 5.1"
    assert by_name == {}  # no wheel the pins do not name


def test_the_zip_carries_what_the_jobs_import_and_leaves_glue_its_own(glue_dist):
    with zipfile.ZipFile(glue_dist.out / glue_package.DEPS_ZIP) as archive:
        pins = archive.read("wheels/requirements.txt").decode().splitlines()
    carried = {p.partition("==")[0] for p in pins}
    # the quality gate, the catalog, the document checks and the wheel's own dependencies
    assert {"great-expectations", "awswrangler", "ijson", "requests-oauthlib", "typer"} <= carried
    runtime = glue_package.glue_runtime()
    assert {"pyspark", "py4j", "awsgluedataplanepython", "boto3", "pandas", "numpy",
            "pyarrow"} & carried == set()  # fmt: skip
    carried_rows, from_glue = manifest_rows((glue_dist.out / glue_package.MANIFEST).read_text())
    # What Glue has is carried only where Glue's version fails a requirement, and the manifest
    # says which one.
    for name in carried & set(runtime.modules):
        why = carried_rows[name][1]
        assert f"overrides Glue's: Glue 5.1 has {runtime.modules[name]}, but " in why, why
    assert {"pyspark", "boto3", "pandas", "numpy", "awsgluedataplanepython"} <= set(from_glue)
    for name, (version, _) in from_glue.items():
        assert runtime.modules[name] == version


def test_the_manifest_names_each_carried_package_its_version_and_why(glue_dist):
    deps = glue_dist.out / glue_package.DEPS_ZIP
    text = (glue_dist.out / glue_package.MANIFEST).read_text()
    with zipfile.ZipFile(deps) as archive:
        pins = archive.read("wheels/requirements.txt").decode().splitlines()
    carried, _ = manifest_rows(text)
    assert [f"{name}=={version}" for name, (version, _) in sorted(carried.items())] == pins
    assert carried["great-expectations"][1].startswith(
        "`import great_expectations` in spapi_toolkit.lake.quality."
    )
    assert all(why for _, why in carried.values())
    assert hashlib.sha256(deps.read_bytes()).hexdigest() in text
