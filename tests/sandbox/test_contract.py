"""Contract tests: every x-amzn-api-sandbox static case of the bundled models, replayed through
``client.call`` against a local server that serves exactly those cases.

A case passes when the server matched the request to that very case (so the client placed and
serialised every parameter as Amazon's example does) and the client returned the case's body, or
raised an SpApiError with the case's status. Required parameters a case leaves out (Amazon's
sandbox ignores them) are filled with the model's x-example or a placeholder.
"""

from __future__ import annotations

from typing import Any

import pytest

from spapi_sandbox.http import LoopbackServer
from spapi_sandbox.static import StaticSandbox, case_parameters
from spapi_toolkit.api.errors import RequestValidationError, SpApiError
from spapi_toolkit.api.models import SandboxCase, all_operations
from spapi_toolkit.api.ratelimit import RateLimiter, RetryPolicy

PLACEHOLDERS = {"array": ["SANDBOX"], "integer": 1, "number": 1, "boolean": True}
ALL_CASES = [case for op in all_operations() for case in op.sandbox_cases()]


def _shadowed(case: SandboxCase) -> bool:
    """An earlier case of the operation has the very same parameters, so this one is unreachable."""
    twins = [
        c for c in case.operation.sandbox_cases() if case_parameters(c) == case_parameters(case)
    ]
    return twins[0] != case


def _empty_path_parameter(case: SandboxCase) -> bool:
    return any(
        p.location == "path" and case.parameters.get(p.name) == ""
        for p in case.operation.parameters
    )


def call_parameters(case: SandboxCase) -> dict[str, Any]:
    params = {k: v for k, v in case.parameters.items() if v is not None}
    body = case.operation.body_parameter
    for param in case.operation.parameters:
        given = param.name in params or (param is body and "body" in params)
        if param.required and not given:
            if param.location == "body":
                params[param.name] = {}
            else:
                fallback = PLACEHOLDERS.get(param.type or "", "SANDBOX")
                params[param.name] = param.example if param.example is not None else fallback
    return params


@pytest.fixture(scope="module")
def sandbox():
    app = StaticSandbox()
    with LoopbackServer(app) as server:
        yield app, server


@pytest.fixture(scope="module")
def client(sandbox):
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.api.credentials import Credentials, Secret

    _, server = sandbox
    # Contract tests check shapes, not pacing: lift the limits, and never retry a canned 5xx.
    unlimited = {op.qualified_name: (1000.0, 1000) for op in all_operations()}
    with SpApiClient(
        Credentials("client", Secret("secret"), Secret("refresh")),
        endpoint=server.url,
        lwa_endpoint=server.url + "/auth/o2/token",
        limiter=RateLimiter(overrides=unlimited),
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        yield client


def _case_id(case: SandboxCase) -> str:
    index = case.operation.sandbox_cases().index(case)
    return f"{case.operation.qualified_name}-{case.status}-{index}"


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_sandbox_case(case: SandboxCase, sandbox, client) -> None:
    if _shadowed(case):
        pytest.skip("an earlier case has identical parameters; Amazon's sandbox cannot reach it")
    app, _ = sandbox
    before = len(app.matched)
    if _empty_path_parameter(case):
        # Amazon's example of a malformed request: the client refuses it before sending.
        with pytest.raises(RequestValidationError, match="is empty"):
            client.call(case.operation.qualified_name, **call_parameters(case))
        assert app.matched[before:] == []
        return
    expected_body = None if case.status == 204 else case.response
    if case.status < 300:
        assert client.call(case.operation.qualified_name, **call_parameters(case)) == expected_body
    else:
        with pytest.raises(SpApiError) as raised:
            client.call(case.operation.qualified_name, **call_parameters(case))
        assert raised.value.status == case.status
        assert raised.value.request_id
    assert app.matched[before:] == [case], "the server matched a different case"


def test_case_inventory() -> None:
    """Every bundled operation's cases are in the run; report the count."""
    shadowed = [c for c in ALL_CASES if _shadowed(c)]
    print(f"\n{len(ALL_CASES)} static sandbox cases, {len(shadowed)} unreachable twins")
    assert len(ALL_CASES) == 153
    assert len(shadowed) <= 3
