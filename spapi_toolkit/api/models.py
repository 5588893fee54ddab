"""Amazon's published SP-API models, bundled with the package, as Python objects.

The Swagger 2.0 files under ``data/spapi-models/models`` (Apache-2.0, copied unchanged from
``amzn/selling-partner-api-models``) are the source of truth for what every operation takes and
returns: the client places parameters from them, the rate-limit table is generated from their
usage-plan tables, the contract tests replay their ``x-amzn-api-sandbox`` cases and the sandbox
validates its answers against their response schemas.

An operation is named by its ``operationId`` (``getReport``). Where two models share an id
(``getOrder`` is in Orders v0 and Orders 2026-01-01) the unqualified name means the one that is
not deprecated, and ``"<model>.<operationId>"`` (``"ordersV0.getOrder"``) names either exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

MODELS_DIR = "data/spapi-models/models"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

_USAGE_PLAN = re.compile(
    r"\|\s*Rate \(requests per second\)\s*\|\s*Burst\s*\|\s*\n\s*\|[-\s|]+\|\s*\n"
    r"\s*\|\s*([0-9.]+)\s*\|\s*([0-9]+)\s*\|"
)
_DATED_STEM = re.compile(r"^(?P<api>.+?)_(?P<version>\d{4}-\d{2}-\d{2})$")
_VERSIONED_STEM = re.compile(r"^(?P<api>.+?)(?P<version>V\d+)$")


class UnknownOperationError(LookupError):
    """The operation name matches no operation, or more than one, in the bundled models."""


@dataclass(frozen=True)
class Parameter:
    """One parameter of an operation, as the model declares it."""

    name: str
    location: str  # "path", "query", "body" or "header"
    required: bool
    type: str | None = None
    collection_format: str = "csv"
    schema: dict[str, Any] | None = None  # body parameters only
    example: Any = None  # the model's x-example, else the first enum value

    @property
    def is_array(self) -> bool:
        return self.type == "array"


@dataclass(frozen=True)
class SandboxCase:
    """One ``x-amzn-api-sandbox`` static case: request parameters and the canned answer."""

    operation: Operation
    status: int
    parameters: dict[str, Any]
    response: Any  # None where the case has no body


@dataclass(frozen=True)
class Operation:
    """One SP-API operation of one model."""

    operation_id: str
    model: str  # the model file's stem, e.g. "reports_2021-06-30" or "ordersV0"
    api: str  # e.g. "reports", "orders"
    version: str  # e.g. "2021-06-30", "v0"
    method: str  # upper case
    path: str
    parameters: tuple[Parameter, ...]
    description: str
    deprecated: bool
    sandbox_only: bool
    consumes: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)
    document: dict[str, Any] = field(repr=False, compare=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.model}.{self.operation_id}"

    @property
    def grantless(self) -> bool:
        """True where the model says the operation needs no seller authorization."""
        return bool(re.search(r"\bis grantless\b|\bAPI is grantless\b", self.description))

    @property
    def usage_plan(self) -> tuple[float, int] | None:
        """The default (rate per second, burst) from the model's usage-plan table, if any."""
        match = _USAGE_PLAN.search(self.description)
        if not match:
            return None
        return float(match.group(1)), int(match.group(2))

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def body_parameter(self) -> Parameter | None:
        return next((p for p in self.parameters if p.location == "body"), None)

    def sandbox_cases(self) -> list[SandboxCase]:
        """The static sandbox cases of every response code, in model order."""
        cases = []
        for code, response in self.raw.get("responses", {}).items():
            for case in response.get("x-amzn-api-sandbox", {}).get("static", []):
                params = {
                    name: spec.get("value")
                    for name, spec in case.get("request", {}).get("parameters", {}).items()
                }
                cases.append(SandboxCase(self, int(code), params, case.get("response")))
        return cases

    def response_schema(self, status: int) -> dict[str, Any] | None:
        """A JSON Schema (with the model's definitions) for the body of a ``status`` answer."""
        response = self.raw.get("responses", {}).get(str(status))
        if not response or "schema" not in response:
            return None
        return {**response["schema"], "definitions": self.document.get("definitions", {})}


def _split_stem(stem: str, info_version: str) -> tuple[str, str]:
    for pattern in (_DATED_STEM, _VERSIONED_STEM):
        match = pattern.match(stem)
        if match:
            return match.group("api"), match.group("version").lower()
    return stem, info_version


def _parse_parameter(raw: dict[str, Any]) -> Parameter:
    enum = raw.get("enum") or raw.get("items", {}).get("enum") or [None]
    example = raw.get("x-example", enum[0])
    if raw.get("type") == "array" and example is not None and not isinstance(example, list):
        example = [example]
    return Parameter(
        name=raw["name"],
        location=raw["in"],
        required=bool(raw.get("required", False)),
        type=raw.get("type"),
        collection_format=raw.get("collectionFormat", "csv"),
        schema=raw.get("schema"),
        example=example,
    )


def _operations_of(stem: str, document: dict[str, Any]) -> Iterator[Operation]:
    api, version = _split_stem(stem, document.get("info", {}).get("version", ""))
    base = (document.get("basePath") or "").rstrip("/")
    for path, item in document.get("paths", {}).items():
        shared = [_parse_parameter(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            own = [_parse_parameter(p) for p in raw.get("parameters", [])]
            own_names = {p.name for p in own}
            yield Operation(
                operation_id=raw["operationId"],
                model=stem,
                api=api,
                version=version,
                method=method.upper(),
                path=base + path,
                parameters=tuple([p for p in shared if p.name not in own_names] + own),
                description=raw.get("description", ""),
                deprecated=bool(raw.get("deprecated", False)),
                sandbox_only=bool(
                    raw.get("x-amzn-api-sandbox-only") or item.get("x-amzn-api-sandbox-only")
                ),
                consumes=tuple(raw.get("consumes") or document.get("consumes") or ()),
                raw=raw,
                document=document,
            )


def models_root() -> Path:
    """The folder holding the bundled model files."""
    return Path(str(resources.files("spapi_toolkit").joinpath(MODELS_DIR)))


@cache
def all_operations() -> tuple[Operation, ...]:
    """Every operation of every bundled model, sorted by model file then path."""
    operations: list[Operation] = []
    for model_file in sorted(models_root().glob("*/*.json")):
        document = json.loads(model_file.read_text(encoding="utf-8"))
        operations.extend(_operations_of(model_file.stem, document))
    return tuple(operations)


def find_operation(name: str) -> Operation:
    """Look an operation up by ``operationId`` or ``"<model>.<operationId>"``.

    Raises ``UnknownOperationError`` naming close matches when nothing fits, or the qualified
    names to choose from when the name is ambiguous.
    """
    model, _, op_id = name.rpartition(".")
    candidates = [
        op
        for op in all_operations()
        if op.operation_id == op_id and (not model or op.model == model)
    ]
    if len(candidates) > 1:
        current = [op for op in candidates if not op.deprecated]
        if len(current) == 1:
            return current[0]
        names = ", ".join(op.qualified_name for op in candidates)
        raise UnknownOperationError(f"operation {name!r} is ambiguous: use one of {names}")
    if not candidates:
        lowered = op_id.lower()
        close = sorted(
            {op.qualified_name for op in all_operations() if lowered in op.operation_id.lower()}
        )
        hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
        raise UnknownOperationError(
            f"no operation {name!r} in the bundled SP-API models{hint} "
            "(`spapi operations` lists them all)"
        )
    return candidates[0]
