"""What a Glue 5.1 job installs for the entry scripts: ``make package``'s ``dist/glue/``.

``build(project, out)`` writes into ``out``:

``spapi_lake-<version>-py3-none-any.whl``
    The project wheel.
``spapi-lake-glue-deps.gluewheels.zip``
    A zip of wheels in the layout of AWS's "Appendix A: Creating a Zip of Wheels Artifact"
    (``wheels/requirements.txt`` and ``wheels/*.whl``): every distribution the two entry scripts
    need at run time that Glue 5.1 does not provide, for Glue's platform (CPython 3.11,
    manylinux x86_64), each at exactly the version installed in the environment running the
    build (the one the tests ran in). Given with ``--python-modules-installer-option
    --no-index``, Glue's pip installs from it alone: no PyPI, so a job in a private VPC works.
``glue-dependencies.md``
    The manifest: each carried distribution, its version and why (which import or requirement
    needs it), and what the job relies on Glue for.
``raw_to_cleaned.py``, ``cleaned_to_aggregated.py``
    The entry scripts (copies of ``glue_jobs/``).

What "needed" means: the closure, over the requirements in the installed distributions'
metadata (markers evaluated for Glue's platform), of

* the project wheel's own ``Requires-Dist`` (Glue's pip installs the wheel with them), and
* every third-party import reachable from the entry scripts: the scripts' imports and those of
  every project module they reach, at module level or inside functions (the curation imports
  Great Expectations, awswrangler and boto3 lazily), ``if TYPE_CHECKING:`` blocks aside.

A distribution Glue provides (``spapi_toolkit/data/glue_modules.toml``, AWS's list) is left out
and not followed further (Glue's copy brings its own dependencies) as long as Glue's version
satisfies every requirement on it; otherwise the environment's version is carried, overriding
Glue's, and the manifest says which requirement forced it.
"""

from __future__ import annotations

import ast
import email
import hashlib
import importlib.metadata as metadata
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from spapi_toolkit.aws.deploy import GLUE_DEPS_ZIP

PROJECT = "spapi-lake"
PACKAGE = "spapi_toolkit"
SCRIPTS = ("raw_to_cleaned.py", "cleaned_to_aggregated.py")
DEPS_ZIP = GLUE_DEPS_ZIP
MANIFEST = "glue-dependencies.md"
# A fixed date for every zip entry: the same wheels make the same zip (and the same S3 key).
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    """The Glue package cannot be built as asked; the message says what is missing."""


@dataclass(frozen=True)
class GlueRuntime:
    """What a Glue version provides (``spapi_toolkit/data/glue_modules.toml``)."""

    glue_version: str
    python_version: str
    platforms: tuple[str, ...]
    modules: Mapping[str, str]  # canonical name -> version
    outside_pip: frozenset[str]  # provided, but not visible to pip on Glue

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of a Glue job's Python (CPython on Linux x86_64)."""
        env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
        env.update(
            python_version=self.python_version,
            implementation_name="cpython",
            platform_python_implementation="CPython",
            os_name="posix",
            sys_platform="linux",
            platform_system="Linux",
            platform_machine="x86_64",
        )
        if not env["python_full_version"].startswith(self.python_version + "."):
            env["python_full_version"] = self.python_version + ".0"
        return env


def glue_runtime(path: Path | None = None) -> GlueRuntime:
    """The Glue runtime of ``path`` (default: the table shipped in ``spapi_toolkit/data``)."""
    if path is None:
        text = resources.files("spapi_toolkit.data").joinpath("glue_modules.toml").read_text()
    else:
        text = path.read_text()
    data = tomllib.loads(text)
    modules = {str(canonicalize_name(k)): str(v) for k, v in data["modules"].items()}
    outside = frozenset(str(canonicalize_name(n)) for n in data["outside_pip"])
    if not outside <= set(modules):
        raise PackageError(f"outside_pip names modules the table lacks: {outside - set(modules)}")
    return GlueRuntime(str(data["glue_version"]), str(data["python_version"]),
                       tuple(data["platforms"]), modules, outside)  # fmt: skip


# ---- what the entry scripts import -------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, but not under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


class _Modules:
    """The project's modules under ``root`` by dotted name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def file(self, name: str) -> Path | None:
        base = self.root.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None


def reachable_imports(
    root: Path, scripts: Sequence[Path], package: str = PACKAGE
) -> dict[str, set[str]]:
    """Third-party top-level import names reachable from ``scripts`` through ``package`` (a
    package under ``root``), each with the modules (or scripts) importing it."""
    modules = _Modules(root)
    found: dict[str, set[str]] = {}
    seen: set[str] = set()
    todo: list[tuple[str, Path, bool]] = [(s.name, s, False) for s in scripts]

    def reach(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            dotted = ".".join(parts[:i])
            path = modules.file(dotted)
            if path is not None and dotted not in seen:
                seen.add(dotted)
                todo.append((dotted, path, path.name == "__init__.py"))

    while todo:
        importer, path, is_package = todo.pop()
        tree = ast.parse(path.read_bytes(), str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the importer's package
                    anchor = importer.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from a import b`` imports a, and a.b when that is a module
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                top = target.split(".")[0]
                if top == package:
                    reach(target)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(importer)
    return found


# ---- which distributions, at which versions ---------------------------------------------------


@dataclass
class Need:
    """One distribution the jobs need: whether the zip carries it, its version and why."""

    name: str
    version: str
    carried: bool
    reasons: list[str] = field(default_factory=list)  # what imports or requires it
    note: str = ""  # why a provided module is carried anyway


@dataclass(frozen=True)
class Plan:
    """The needed distributions by canonical name."""

    needs: Mapping[str, Need]

    @property
    def carried(self) -> list[Need]:
        return sorted((n for n in self.needs.values() if n.carried), key=lambda n: n.name)

    @property
    def from_glue(self) -> list[Need]:
        return sorted((n for n in self.needs.values() if not n.carried), key=lambda n: n.name)

    def requirements(self) -> str:
        """``name==version`` of every carried distribution, one a line, sorted."""
        return "".join(f"{n.name}=={n.version}\n" for n in self.carried)


def _installed_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise PackageError(
            f"{name} is needed by the Glue jobs but not installed in {sys.prefix} (the build "
            "takes every version from the environment the tests ran in: `make install`)"
        ) from None


def _requires(name: str) -> list[Requirement]:
    return [Requirement(r) for r in metadata.distribution(name).requires or []]


def resolve(roots: Iterable[tuple[Requirement, str]], runtime: GlueRuntime) -> Plan:
    """The closure of ``roots`` (requirement, why) over the installed metadata: each
    distribution carried at the installed version, or left to Glue when Glue provides one that
    satisfies every requirement on it (see the module doc)."""
    roots = list(roots)
    env = runtime.marker_environment()
    overridden: dict[str, str] = {}  # provided but unsatisfying: name -> the requirement
    while True:
        needs: dict[str, Need] = {}
        specs: dict[str, list[tuple[Requirement, str]]] = {}
        parents: dict[str, set[str]] = {}  # name -> the distributions requiring it
        todo: list[tuple[Requirement, str, str | None]] = [(r, why, None) for r, why in roots]
        expanded: set[tuple[str, frozenset[str]]] = set()
        while todo:
            req, why, parent = todo.pop()
            name = str(canonicalize_name(req.name))
            specs.setdefault(name, []).append((req, why))
            parents.setdefault(name, set()).update([parent] if parent else [])
            provided = name in runtime.modules and name not in overridden
            if name not in needs:
                version = runtime.modules[name] if provided else _installed_version(name)
                needs[name] = Need(name, version, carried=not provided,
                                   note=overridden.get(name, ""))  # fmt: skip
            if why not in needs[name].reasons:
                needs[name].reasons.append(why)
            key = (name, frozenset(req.extras))
            if provided or key in expanded:
                continue  # Glue's copy brings its own dependencies
            expanded.add(key)
            for child in _requires(name):
                extras = req.extras or {""}
                if child.marker is None or any(
                    child.marker.evaluate({**env, "extra": e}) for e in extras
                ):
                    label = f"{needs[name].name} {needs[name].version} requires {child}"
                    todo.append((child, label, name))
        unsatisfied = {}
        for name, need in needs.items():
            for req, by in specs[name]:
                if not req.specifier.contains(Version(need.version), prereleases=True):
                    if need.carried:
                        raise PackageError(
                            f"the installed {name} {need.version} does not satisfy {req} "
                            f"(from {by}): reinstall the environment (`make install`)"
                        )
                    unsatisfied[name] = f"Glue {runtime.glue_version} has {need.version}, but {by}"
        if not unsatisfied:
            break
        overridden.update(unsatisfied)
    for name in runtime.outside_pip & set(needs):
        if needs[name].carried:
            raise PackageError(
                f"{name} would be carried ({needs[name].note}), but Glue has it outside pip: "
                "the job would get two of it"
            )
        carriers = sorted(p for p in parents[name] if needs[p].carried)
        if carriers:
            raise PackageError(
                f"{', '.join(carriers)} (carried) require {name}, which Glue has outside pip: "
                "pip on Glue would try to install it"
            )
    return Plan(needs)


def wheel_requirements(wheel: Path, runtime: GlueRuntime) -> list[Requirement]:
    """The ``Requires-Dist`` of ``wheel`` without extras: what pip on Glue installs with it."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = email.message_from_bytes(archive.read(name))
    requirements = [Requirement(r) for r in message.get_all("Requires-Dist") or []]
    env = {**runtime.marker_environment(), "extra": ""}
    return [r for r in requirements if r.marker is None or r.marker.evaluate(env)]


def plan_for(project: Path, wheel: Path, runtime: GlueRuntime) -> Plan:
    """What the Glue jobs need besides the project wheel (module doc)."""
    roots: list[tuple[Requirement, str]] = [
        (r, f"{PROJECT} (the wheel) requires {r}") for r in wheel_requirements(wheel, runtime)
    ]
    scripts = [project / "glue_jobs" / s for s in SCRIPTS]
    top_names = metadata.packages_distributions()
    for top, importers in sorted(reachable_imports(project, scripts).items()):
        dists = top_names.get(top)
        if not dists:
            raise PackageError(
                f"`import {top}` ({', '.join(sorted(importers))}) is no installed distribution's"
            )
        for dist in dists:
            why = f"`import {top}` in {', '.join(sorted(importers))}"
            roots.append((Requirement(dist), why))
    return resolve(roots, runtime)


# ---- building ---------------------------------------------------------------------------------


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def download(plan: Plan, runtime: GlueRuntime, wheels: Path) -> list[Path]:
    """The wheels of ``plan``'s carried distributions for Glue's platform, into ``wheels``
    (binary only: Glue cannot compile); one wheel per distribution, at the planned version."""
    wheels.mkdir(parents=True, exist_ok=True)
    requirements = wheels / "requirements.txt"
    requirements.write_text(plan.requirements())
    platforms = [arg for p in runtime.platforms for arg in ("--platform", p)]
    _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", *platforms,
         "--python-version", runtime.python_version, "--implementation", "cp",
         "-r", str(requirements), "-d", str(wheels))  # fmt: skip
    got: dict[str, Path] = {}
    for path in sorted(wheels.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(path.name)
        got[canonicalize_name(name)] = path
        expected = plan.needs.get(canonicalize_name(name))
        if expected is None or Version(expected.version) != version:
            raise PackageError(f"pip downloaded {path.name}, which the plan does not name")
    missing = [n.name for n in plan.carried if n.name not in got]
    if missing:
        raise PackageError(f"no wheel for Glue's platform downloaded for {missing}")
    return [got[n.name] for n in plan.carried]


def write_zip(wheels: Path, target: Path) -> Path:
    """``wheels/`` (its requirements.txt and wheels) as a deterministic zip at ``target``."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(wheels.iterdir()):
            info = zipfile.ZipInfo(f"wheels/{path.name}", ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())  # wheels are zips: storing is enough
    return target


def manifest(plan: Plan, runtime: GlueRuntime, wheel: str, deps_zip: Path) -> str:
    """The Markdown manifest of ``deps_zip`` (module doc)."""
    digest = hashlib.sha256(deps_zip.read_bytes()).hexdigest()
    lines = [
        f"# What `{deps_zip.name}` carries for the Glue {runtime.glue_version} jobs",
        "",
        f"Built by `make package` (`spapi_toolkit/aws/glue_package.py`) beside `{wheel}`, for "
        f"CPython {runtime.python_version} on {', '.join(runtime.platforms)}; each version is "
        "the one installed where the tests ran. sha256 of the zip: "
        f"`{digest}`.",
        "",
        "| package | version | why |",
        "|---|---|---|",
    ]
    for need in plan.carried:
        why = "; ".join(need.reasons)
        if need.note:
            why += f" (overrides Glue's: {need.note})"
        lines.append(f"| {need.name} | {need.version} | {why} |")
    lines += [
        "",
        f"Left to Glue {runtime.glue_version} (its provided modules; "
        "`spapi_toolkit/data/glue_modules.toml`):",
        "",
        "| package | Glue's version | needed by |",
        "|---|---|---|",
    ]
    for need in plan.from_glue:
        lines.append(f"| {need.name} | {need.version} | {'; '.join(need.reasons)} |")
    return "\n".join(lines) + "\n"


def job_arguments(deps_zip: str, wheel: str) -> dict[str, str]:
    """The Glue job arguments that install the dependencies' zip and the project wheel at
    these S3 URIs, with no index (the zip is pip's only source). The template's jobs get them
    too (``infra/stack/curation.py``)."""
    return {
        "--additional-python-modules": f"{deps_zip},{wheel}",
        "--python-modules-installer-option": "--no-index",
    }


@dataclass(frozen=True)
class Built:
    """What ``build`` wrote."""

    wheel: Path
    deps_zip: Path
    manifest: Path
    scripts: list[Path]
    plan: Plan


def build(project: Path, out: Path, runtime: GlueRuntime | None = None) -> Built:
    """``dist/glue/`` (module doc) of ``project`` (a checkout) into ``out``, emptied first."""
    runtime = runtime or glue_runtime()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    _pip("wheel", "--quiet", "--no-deps", str(project), "-w", str(out))
    [wheel] = out.glob("spapi_lake-*.whl")
    scripts = []
    for name in SCRIPTS:
        scripts.append(Path(shutil.copy2(project / "glue_jobs" / name, out / name)))
    plan = plan_for(project, wheel, runtime)
    staging = out / "wheels"
    try:
        download(plan, runtime, staging)
        deps_zip = write_zip(staging, out / DEPS_ZIP)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = out / MANIFEST
    written.write_text(manifest(plan, runtime, wheel.name, deps_zip))
    return Built(wheel, deps_zip, written, scripts, plan)


def main(argv: list[str] | None = None) -> int:
    """``python -m spapi_toolkit.aws.glue_package [PROJECT] [OUT]``: build ``OUT`` (default
    ``dist/glue``) and print what to upload and the job arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 2 or any(a.startswith("-") for a in args):
        print(main.__doc__, file=sys.stderr)
        return 2
    project = Path(args[0] if args else ".").resolve()
    out = Path(args[1] if len(args) > 1 else "dist/glue")
    try:
        built = build(project, out)
    except PackageError as exc:
        print(f"glue package: {exc}", file=sys.stderr)
        return 1
    size = built.deps_zip.stat().st_size / 1e6
    print(f"built {out}/: {' '.join(sorted(p.name for p in out.iterdir()))}")
    print(f"  {built.deps_zip.name}: {len(built.plan.carried)} wheels, {size:.1f} MB "
          f"({built.manifest.name} says what and why)")  # fmt: skip
    print(f"upload it:  aws s3 cp {out}/ s3://BUCKET/PREFIX/ --recursive")
    print("job script: s3://BUCKET/PREFIX/raw_to_cleaned.py (or cleaned_to_aggregated.py)")
    prefix = "s3://BUCKET/PREFIX/"
    for key, value in job_arguments(prefix + DEPS_ZIP, prefix + built.wheel.name).items():
        print(f"job arg:    {key} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
