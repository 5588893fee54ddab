"""The dataset registry: one source of truth for every SP-API dataset the lake holds.

The registry is data (``data/datasets.toml``); this module loads it into ``Dataset`` objects and
checks it once, so a mistake in the file (a report type with no window, an unknown operation, a
key column that is not a column) fails loudly at import instead of half-way through a backfill.
Ingestion, the Glue cleaning, the expectation suites and the catalog registration all read it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SOURCES = ("report", "api", "data_kiosk", "file")
FORMATS = ("json", "tsv", "jsonl", "csv")
WINDOWS = ("day", "range", "week", "snapshot", "none")
DRIVERS = ("asins", "skus", "watchlist", "searches", "none")
REPORT_SCHEMAS = "data/spapi-models/schemas/reports"


class RegistryError(ValueError):
    """``data/datasets.toml`` declares something inconsistent; the message names the dataset."""


class UnknownDatasetError(LookupError):
    """No dataset of that name; the message lists the names there are."""


@dataclass(frozen=True)
class Dataset:
    """One dataset, as declared in the registry (see the field notes at the top of the file)."""

    name: str
    description: str
    source: str
    format: str
    window: str
    cleaned_table: str
    report_type: str | None = None
    report_options: dict[str, str] = field(default_factory=dict)
    operation: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1
    driven_by: str = "none"
    schema: str | None = None
    json_schema: str | None = None
    window_clock: str = "date"
    max_days: int | None = None
    history_days: int | None = None
    restatement_days: int = 0
    per_marketplace: bool = True
    # Another day-window dataset whose days hold this one's figures (and maybe more): the
    # planner asks each day of one of them only (``ingest/planner.py``, ``one_source_per_day``)
    same_figures_as: str | None = None

    @property
    def extension(self) -> str:
        """The raw object's file extension, before any ``.gz``."""
        return self.format


def _check(dataset: Dataset) -> None:
    problems = []
    if dataset.source not in SOURCES:
        problems.append(f"source {dataset.source!r} is not one of {SOURCES}")
    if dataset.format not in FORMATS:
        problems.append(f"format {dataset.format!r} is not one of {FORMATS}")
    if dataset.window not in WINDOWS:
        problems.append(f"window {dataset.window!r} is not one of {WINDOWS}")
    if dataset.window_clock not in ("date", "local"):
        problems.append(f"window_clock {dataset.window_clock!r} is not date or local")
    if dataset.window == "range" and not dataset.max_days:
        problems.append("a range window needs max_days")
    if (dataset.source == "file") != (dataset.window == "none"):
        problems.append('a file dataset (loaded by hand, never requested) has window "none"')
    if dataset.source == "report" and not dataset.report_type:
        problems.append("a report dataset needs report_type")
    if dataset.source == "api":
        # That the operation exists in the API models is checked by a test: the lake core
        # knows nothing of the API.
        if not dataset.operation:
            problems.append("an api dataset needs operation")
        if dataset.driven_by not in DRIVERS:
            problems.append(f"driven_by {dataset.driven_by!r} is not one of {DRIVERS}")
    if dataset.json_schema:
        path = resources.files("spapi_toolkit").joinpath(f"{REPORT_SCHEMAS}/{dataset.json_schema}")
        if dataset.format != "json" or not path.is_file():
            problems.append(f"json_schema {dataset.json_schema!r} is not a report schema we have")
    if problems:
        raise RegistryError(f"dataset {dataset.name!r} in datasets.toml: " + "; ".join(problems))


def _load(text: str) -> dict[str, Dataset]:
    raw = tomllib.loads(text).get("datasets", {})
    registry = {}
    for name, spec in raw.items():
        spec = dict(spec)
        try:
            dataset = Dataset(name=name, **spec)
        except TypeError as exc:
            raise RegistryError(f"dataset {name!r} in datasets.toml: {exc}") from None
        _check(dataset)
        registry[name] = dataset
    for dataset in registry.values():
        if dataset.same_figures_as is None:
            continue
        other = registry.get(dataset.same_figures_as)
        if other is None or other is dataset:
            raise RegistryError(f"dataset {dataset.name!r} in datasets.toml: same_figures_as "
                                f"{dataset.same_figures_as!r} is not another dataset")  # fmt: skip
        if (dataset.window, other.window) != ("day", "day") or not (
            dataset.per_marketplace and other.per_marketplace
        ):
            raise RegistryError(f"dataset {dataset.name!r} in datasets.toml: same_figures_as "
                                "needs two datasets asked one day per marketplace")  # fmt: skip
    return registry


@cache
def registry() -> dict[str, Dataset]:
    """Every dataset, by name, in the order of the registry file."""
    text = resources.files("spapi_toolkit").joinpath("data/datasets.toml").read_text("utf-8")
    return _load(text)


def dataset(name: str) -> Dataset:
    """The dataset called ``name``; UnknownDatasetError lists the valid names otherwise."""
    try:
        return registry()[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; the registry has: {', '.join(registry())}"
        ) from None


def select(names: str) -> list[Dataset]:
    """Datasets named in a comma-separated list; ``all`` means every one."""
    if names.strip() == "all":
        return list(registry().values())
    return [dataset(n.strip()) for n in names.split(",") if n.strip()]
