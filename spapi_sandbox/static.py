"""Amazon's static sandbox, replayed locally.

Each model carries ``x-amzn-api-sandbox`` static cases: "called with exactly these parameters,
the sandbox answers this". ``StaticSandbox`` serves exactly those cases (and a permissive LWA
token endpoint), like ``sandbox.sellingpartnerapi-*.amazon.com`` does. A request that matches no
case gets 400 ``InvalidInput`` saying which parameters it sent and what the cases expect, so a
client that serialises a parameter differently from Amazon's examples fails loudly.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from spapi_sandbox.http import Request, Response, route, sp_api_error
from spapi_toolkit.api.models import Operation, Parameter, SandboxCase, all_operations

TOKEN_PATH = "/auth/o2/token"
_SEPARATORS = {"ssv": " ", "tsv": "\t", "pipes": "|"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _normal(param: Parameter | None, value: Any) -> Any:
    """A parameter value in one comparable form, whether it came from a case or a request."""
    if param is None or param.location == "body":
        return value
    if param.is_array:
        if isinstance(value, str):
            value = value.split(_SEPARATORS.get(param.collection_format, ","))
        return [_text(v) for v in value]
    if isinstance(value, list):  # a scalar read from a query string
        return _text(value[-1])
    return _text(value)


def request_parameters(
    op: Operation, path_params: dict[str, str], request: Request
) -> dict[str, Any]:
    """What the request sent, per model parameter name."""
    sent: dict[str, Any] = {}
    for param in op.parameters:
        if param.location == "path" and param.name in path_params:
            sent[param.name] = _normal(param, path_params[param.name])
        elif param.location == "query" and param.name in request.query:
            values = request.query[param.name]
            raw = values if param.collection_format == "multi" else values[-1]
            sent[param.name] = _normal(param, raw)
        elif param.location == "header" and param.name.lower() in request.headers:
            sent[param.name] = _normal(param, request.headers[param.name.lower()])
        elif param.location == "body" and request.body:
            sent[param.name] = request.json()
    return sent


def case_parameters(case: SandboxCase) -> dict[str, Any]:
    """The case's parameters, keyed like ``request_parameters`` (cases call any body "body")."""
    op = case.operation
    body = op.body_parameter
    out = {}
    for name, value in case.parameters.items():
        if value is None:  # the case does not constrain this parameter
            continue
        if name == "body" and body is not None:
            name = body.name
        out[name] = _normal(op.parameter(name), value)
    return out


def best_case(cases: list[SandboxCase], sent: dict[str, Any]) -> SandboxCase | None:
    """The case whose parameters the request all sent with equal values, the most specific
    first (Amazon's sandbox ignores parameters a case does not name)."""
    matching = [
        case
        for case in cases
        if all(
            name in sent and sent[name] == value for name, value in case_parameters(case).items()
        )
    ]
    return max(matching, key=lambda case: len(case_parameters(case)), default=None)


class StaticSandbox:
    """A request handler serving every static case of the bundled models."""

    def __init__(self) -> None:
        self.cases: dict[str, list[SandboxCase]] = {}
        for op in all_operations():
            self.cases[op.qualified_name] = op.sandbox_cases()
        self.matched: list[SandboxCase] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return Response.json(
                200,
                {"access_token": f"Atza|{uuid.uuid4().hex}", "token_type": "bearer",
                 "expires_in": 3600},
            )  # fmt: skip
        if not request.headers.get("x-amz-access-token"):
            return sp_api_error(403, "Unauthorized", "Access to requested resource is denied.")
        found = route(request.method, request.path)
        if found is None:
            return sp_api_error(404, "NotFound", f"no operation at {request.method} {request.path}")
        op, path_params = found
        sent = request_parameters(op, path_params, request)
        case = best_case(self.cases[op.qualified_name], sent)
        if case is not None:
            with self._lock:
                self.matched.append(case)
            if case.response is None or case.status == 204:
                return Response(status=case.status)
            return Response.json(case.status, case.response)
        expected = [sorted(case.parameters) for case in self.cases[op.qualified_name]]
        return sp_api_error(
            400,
            "InvalidInput",
            f"no sandbox case of {op.operation_id} matches the request",
            f"sent {json.dumps(sent, sort_keys=True)[:500]}; cases take {expected}",
        )
