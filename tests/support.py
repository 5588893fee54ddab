"""Loopback servers the tests script: an LWA endpoint and an SP-API that misbehaves on cue."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from spapi_sandbox.http import LoopbackServer, Request, Response, route, sp_api_error
from spapi_sandbox.limits import QUOTA_EXCEEDED_MESSAGE, ServerLimits
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.credentials import Credentials

# The last day of every sandbox seller's history in the tests: pinned, so the suite does not
# depend on the day it runs (the sandbox's clients take its clock from ``sandbox.env``).
END_DATE = date(2026, 11, 27)

CLIENT_ID = "amzn1.application-oa2-client.test"
CLIENT_SECRET = "amzn1.oa2-cs.v1.TOPSECRET-client-secret"
REFRESH_TOKEN = "Atzr|TOPSECRET-refresh-token"
TOKEN_PATH = "/auth/o2/token"


@dataclass
class ScriptedSpApi:
    """An LWA token endpoint plus an SP-API whose answers a test scripts.

    Tokens are ``Atza|TOPSECRET-<n>`` and live ``token_lifetime`` seconds on this server's clock.
    ``script`` is a queue of canned answers (a Response, or a callable taking the Request) used
    before the default (200 ``{"ok": true, "operation": ...}``).
    """

    token_lifetime: float = 3600.0
    expires_in: float | None = None  # what LWA claims, if different from the real lifetime
    refresh_token: str = REFRESH_TOKEN
    client_secret: str = CLIENT_SECRET
    script: deque = field(default_factory=deque)
    default: Callable[[Request], Response] | None = None
    grants: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)  # tokens answered 403 "has expired"
    _tokens: dict[str, float] = field(default_factory=dict)
    _counter: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deaths(self, until: float) -> int:
        """How many tokens this server issued had died by ``until`` (``time.monotonic``)."""
        with self._lock:
            return sum(1 for expiry in self._tokens.values() if expiry <= until)

    def expire_all_tokens(self) -> None:
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    def _token(self, request: Request) -> Response:
        form = request.form()
        with self._lock:
            self.grants.append(form.get("grant_type", ""))
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            return Response.json(
                401, {"error": "invalid_client", "error_description": "bad client"}
            )
        grant = form.get("grant_type")
        if grant == "refresh_token" and form.get("refresh_token") != self.refresh_token:
            return Response.json(400, {"error": "invalid_grant", "error_description": "revoked"})
        token = f"Atza|TOPSECRET-{next(self._counter)}"
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
        answer = {"access_token": token, "token_type": "bearer",
                  "expires_in": int(self.expires_in or self.token_lifetime)}  # fmt: skip
        if grant == "authorization_code":
            answer["refresh_token"] = "Atzr|TOPSECRET-new-refresh-token"
        elif grant == "refresh_token":
            answer["refresh_token"] = self.refresh_token  # LWA repeats it
        return Response.json(200, answer)

    def __call__(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            return self._token(request)
        with self._lock:
            self.requests.append(request)
        if request.path.startswith("/doc/") and self.default is not None:
            return self.default(request)  # document downloads: pre-signed, no token
        token = request.headers.get("x-amz-access-token", "")
        expiry = self._tokens.get(token)
        if expiry is None:
            return sp_api_error(403, "Unauthorized", "Access to requested resource is denied.")
        if time.monotonic() >= expiry:
            with self._lock:
                self.expired.append(token)
            return sp_api_error(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired.",
            )
        with self._lock:
            canned = self.script.popleft() if self.script else None
        if canned is not None:
            return canned(request) if callable(canned) else canned
        if self.default is not None:
            return self.default(request)
        found = route(request.method, request.path)
        name = found[0].operation_id if found else "unknown"
        return Response.json(200, {"ok": True, "operation": name})


@dataclass
class TokenDeathRun:
    """What a run of ``run_with_dying_tokens`` cost."""

    seconds: float
    requests: int  # SP-API requests the server received
    accepted: int  # ... and answered 200
    wasted: int  # ... answered 403 because the token had died
    throttled: int  # ... answered 429
    deaths: int  # tokens that died before the run ended
    grants: int  # LWA grants
    errors: list[Exception]

    def summary(self) -> str:
        return (
            f"{self.seconds:.1f}s: {self.requests} requests, {self.accepted} ok, "
            f"{self.wasted} wasted (403) for {self.deaths} token deaths, "
            f"{self.throttled} throttled (429), {self.grants} LWA grants, {len(self.errors)} errors"
        )


def run_with_dying_tokens(
    credentials: Credentials, *, lifetime: float, seconds: float, threads: int = 4
) -> TokenDeathRun:
    """``threads`` threads share one client calling getCatalogItem (2 req/s, burst 2, enforced by
    the server) for ``seconds``, against an LWA whose tokens die after ``lifetime`` seconds while
    it claims they live an hour, so the client cannot refresh them ahead."""
    app = ScriptedSpApi(token_lifetime=lifetime, expires_in=3600)
    limits = ServerLimits()

    def enforce(request: Request) -> Response:
        found = route(request.method, request.path)
        assert found is not None
        operation = found[0].qualified_name
        if not limits.admit("seller", operation):
            return sp_api_error(429, "QuotaExceeded", QUOTA_EXCEEDED_MESSAGE)
        return Response.json(
            200, {"asin": "B0"}, {"x-amzn-RateLimit-Limit": limits.rate_header(operation)}
        )

    app.default = enforce
    errors: list[Exception] = []
    with LoopbackServer(app) as server:
        client = SpApiClient(credentials, endpoint=server.url, lwa_endpoint=server.url + TOKEN_PATH)
        started = time.monotonic()
        deadline = started + seconds

        def worker() -> None:
            while time.monotonic() < deadline:
                try:
                    client.call("getCatalogItem", asin="B0", marketplaceIds=["ATVPDKIKX0DER"])
                except Exception as exc:  # reported in the result
                    errors.append(exc)

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        ended = time.monotonic()
        client.close()
    return TokenDeathRun(
        seconds=ended - started,
        requests=len(app.requests),
        accepted=limits.accepted,
        wasted=len(app.expired),
        throttled=limits.refused,
        deaths=app.deaths(ended),
        grants=len(app.grants),
        errors=errors,
    )
