"""spapi_toolkit.aws.glue_package without building anything: which imports the entry scripts
reach, and which distributions the zip of wheels carries or leaves to Glue (over this
environment's installed metadata). The build itself is tests/glue/test_package.py's."""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from spapi_toolkit.aws import glue_package
from spapi_toolkit.aws.glue_package import GlueRuntime, PackageError, reachable_imports, resolve

ROOT = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_imports_are_followed_through_the_package_at_any_depth_but_not_type_checking(tmp_path):
    write(tmp_path, {
        "job.py": "import sys\nfrom pkg.entry import main\n",
        "pkg/__init__.py": "import yaml\n",
        "pkg/entry.py": """
            from __future__ import annotations
            import json
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import typing_only
            else:
                import not_type_checking
            def main():
                from . import lazy
                from .sub import deep
                import great_expectations.core as gx
        """,
        "pkg/lazy.py": "def f():\n    import awswrangler as wr\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from ..lazy import f\nfrom pyspark.sql import functions as F\n",
        "pkg/unreached.py": "import duckdb\n",
    })  # fmt: skip
    found = reachable_imports(tmp_path, [tmp_path / "job.py"], package="pkg")
    assert found == {
        "yaml": {"pkg"},
        "not_type_checking": {"pkg.entry"},
        "great_expectations": {"pkg.entry"},
        "awswrangler": {"pkg.lazy"},
        "pyspark": {"pkg.sub.deep"},
    }


def test_the_jobs_reach_the_gate_the_catalog_and_glues_own_library():
    scripts = [ROOT / "glue_jobs" / name for name in glue_package.SCRIPTS]
    found = reachable_imports(ROOT, scripts)
    assert "spapi_toolkit.lake.quality.gate" in found["great_expectations"]
    assert "spapi_toolkit.lake.catalog" in found["awswrangler"]
    assert "spapi_toolkit.lake.curate.entry" in found["awsglue"]
    # the CLI, the API client and the sandbox are not the jobs'
    assert not {"typer", "requests", "spapi_sandbox"} & set(found)


def runtime(modules: dict[str, str], outside: tuple[str, ...] = ()) -> GlueRuntime:
    return GlueRuntime("5.1", "3.11", ("manylinux2014_x86_64",), modules, frozenset(outside))


def test_a_provided_module_that_satisfies_is_left_to_glue_and_not_followed():
    # rich requires markdown-it-py and pygments; Glue "has" rich, so neither is needed.
    plan = resolve([(Requirement("rich>=13"), "the test")], runtime({"rich": "13.7.0"}))
    assert [n.name for n in plan.from_glue] == ["rich"] and plan.carried == []
    assert plan.requirements() == ""


def test_a_provided_module_that_fails_a_requirement_is_carried_saying_which():
    # typer requires rich>=13.8 (this environment's typer); Glue "has" an older rich.
    provided = runtime({"rich": "10.0.0", "pygments": "2.19.2"})
    plan = resolve([(Requirement("typer"), "`import typer` in the test")], provided)
    carried = {n.name: n for n in plan.carried}
    assert {"typer", "rich", "markdown-it-py", "mdurl"} <= set(carried)
    assert "Glue 5.1 has 10.0.0, but typer " in carried["rich"].note
    assert "requires rich" in carried["rich"].note
    assert [n.name for n in plan.from_glue] == ["pygments"]  # Glue's still satisfies
    assert "rich==" in plan.requirements() and "typer==" in plan.requirements()


def test_markers_are_those_of_a_glue_job_on_linux():
    # tqdm requires colorama only on Windows: not on Glue (colorama need not even be installed).
    plan = resolve([(Requirement("tqdm"), "the test")], runtime({}))
    assert "colorama" not in plan.needs and "tqdm" in plan.needs


def test_a_carried_module_may_not_need_what_glue_has_outside_pip():
    # GX requires jinja2; were jinja2 on Glue's PYTHONPATH only, pip on Glue would not see it.
    provided = runtime({"jinja2": "3.1.6"}, outside=("jinja2",))
    with pytest.raises(PackageError, match=r"great-expectations.*jinja2.*outside pip"):
        resolve([(Requirement("great_expectations"), "the test")], provided)


def test_a_module_not_installed_here_cannot_be_pinned():
    with pytest.raises(PackageError, match=r"no-such-dist-xyz is needed .* not installed"):
        resolve([(Requirement("no-such-dist-xyz"), "the test")], runtime({}))


def test_glues_table_names_its_source_and_glues_spark():
    table = glue_package.glue_runtime()
    text = (ROOT / "spapi_toolkit" / "data" / "glue_modules.toml").read_text()
    assert "docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-python-libraries.html" in text
    assert table.glue_version == "5.1" and table.python_version == "3.11"
    assert table.modules["pyspark"] == "3.5.6"  # Spark 3.5.6, as pyproject.toml pins it
    assert {"pyspark", "py4j", "awsgluedataplanepython"} == table.outside_pip
    assert "great-expectations" not in table.modules and "boto3" in table.modules


def test_the_zip_is_the_same_bytes_for_the_same_wheels(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "requirements.txt").write_text("a==1\n")
    (wheels / "a-1-py3-none-any.whl").write_bytes(b"not really a wheel")
    first = glue_package.write_zip(wheels, tmp_path / "one.gluewheels.zip").read_bytes()
    (wheels / "a-1-py3-none-any.whl").touch()  # a newer mtime changes nothing
    second = glue_package.write_zip(wheels, tmp_path / "two.gluewheels.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "one.gluewheels.zip") as archive:
        assert archive.namelist() == ["wheels/a-1-py3-none-any.whl", "wheels/requirements.txt"]
