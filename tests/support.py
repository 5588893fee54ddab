"""Loopback servers the tests script: an LWA endpoint and an SP-API that misbehaves on cue."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from spapi_sandbox.http import Request, Response, route, sp_api_error

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
    _tokens: dict[str, float] = field(default_factory=dict)
    _counter: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
