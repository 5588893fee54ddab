"""Run the notebooks top to bottom with parameters (papermill) and export each to HTML.

The executed notebooks and their HTML go to ``out``; the HTML has its charts embedded as
images, so a report opens offline. A notebook that raises (a query without rows, a chart
without data, a failed cell) is reported with its error and the run goes on to the next one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KERNEL = "spapi-lake"  # the kernel the notebooks name; `make install` registers it for JupyterLab


@dataclass
class NotebookRun:
    """One notebook's run: where its outputs went, how long it took, and its error if any."""

    name: str
    html: Path | None
    executed: Path | None
    seconds: float
    error: str | None = None
    figures: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def notebooks(folder: Path, names: Sequence[str] | None = None) -> list[Path]:
    """The notebooks of ``folder`` (sorted; those named ``names`` without ``.ipynb``), refusing
    a name that is not there."""
    found = {p.stem: p for p in sorted(folder.glob("*.ipynb"))}
    if names is None:
        return list(found.values())
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"no notebook {missing} in {folder}; it has {', '.join(found)}")
    return [found[n] for n in names]


def run(
    folder: Path,
    out: Path,
    parameters: Mapping[str, Any],
    *,
    names: Sequence[str] | None = None,
    kernel: str | None = None,
    progress: Callable[[NotebookRun], None] | None = None,
    no_input: bool = False,
) -> list[NotebookRun]:
    """Execute the notebooks of ``folder`` with ``parameters`` into ``out`` (``<name>.ipynb``
    and ``<name>.html``); a local ``lake`` is made absolute, as the notebooks run in their own
    folder. ``progress`` hears of each as it finishes. The kernel is this Python
    (the one with the toolkit installed) unless ``kernel`` names another. ``no_input``: the
    HTML shows the text, tables and charts without the code cells (for readers who do not
    read code; the executed ``.ipynb`` keeps them)."""
    out.mkdir(parents=True, exist_ok=True)
    lake = parameters.get("lake")
    if isinstance(lake, str) and "://" not in lake:  # the notebooks run in their own folder
        parameters = {**parameters, "lake": str(Path(lake).resolve())}
    results = []
    with _this_python_as_kernel():
        for path in notebooks(folder, names):
            result = _run_one(path, out, parameters, kernel or KERNEL, no_input)
            results.append(result)
            if progress is not None:
                progress(result)
    return results


@contextmanager
def _this_python_as_kernel() -> Iterator[None]:
    """A kernel spec named ``KERNEL`` that starts this interpreter, first on Jupyter's path
    while the notebooks run: whatever is registered in the user's Jupyter folders (another
    virtual environment's kernel of the same name, or none), the notebooks run here."""
    with tempfile.TemporaryDirectory(prefix="spapi-kernel-") as folder:
        spec = Path(folder, "kernels", KERNEL)
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                "--IPKernelApp.log_level=ERROR"]  # fmt: skip
        kernel = {"argv": argv, "display_name": "Python (spapi-lake)", "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (folder, before) if p)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = before


def _run_one(
    path: Path, out: Path, parameters: Mapping[str, Any], kernel: str | None, no_input: bool
) -> NotebookRun:
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    started = time.perf_counter()
    executed = out / path.name
    error = None
    try:
        papermill.execute_notebook(
            str(path), str(executed), parameters=dict(parameters), kernel_name=kernel,
            cwd=str(path.parent), progress_bar=False, log_output=False,
        )  # fmt: skip
    except papermill.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    if not executed.exists():
        return NotebookRun(path.stem, None, None, time.perf_counter() - started, error)
    notebook = nbformat.read(executed, as_version=4)
    figures = sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )
    body, _ = HTMLExporter(
        exclude_input_prompt=True, exclude_output_prompt=True, exclude_input=no_input
    ).from_notebook_node(notebook)
    html = out / f"{path.stem}.html"
    html.write_text(body, encoding="utf-8")
    return NotebookRun(path.stem, html, executed, time.perf_counter() - started, error, figures)
