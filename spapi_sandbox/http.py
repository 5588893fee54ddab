"""The loopback HTTP plumbing every local SP-API server here is built on.

A server is a function from ``Request`` to ``Response`` served by a threading HTTP server on
127.0.0.1. ``LoopbackServer`` starts it on a free port in a background thread (a context manager
for tests and the demo) and ``route`` finds which model operation an incoming request is for, so
servers are written against operation ids, never against hand-copied paths.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from spapi_toolkit.api.models import Operation, all_operations


@dataclass
class Request:
    method: str
    path: str  # as sent, still percent-encoded, no query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client_address: str = ""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Special behaviours for fault injection: "reset" closes the socket without an answer,
    # "truncate" sends the headers and only part of the body.
    fault: str | None = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status=status,
            body=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json", **(headers or {})},
        )


def sp_api_error(status: int, code: str, message: str, details: str = "") -> Response:
    """An error answer in SP-API's shape: ``{"errors": [{"code", "message", "details"}]}``."""
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    return Response.json(status, {"errors": [error]})


Handler = Callable[[Request], Response]
log = logging.getLogger(__name__)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive answers otherwise wait ~40 ms on Nagle's algorithm and delayed ACKs.
    disable_nagle_algorithm = True
    handle_request: Handler  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and the demo print their own summaries

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_address=self.client_address[0],
        )
        try:
            response = type(self).handle_request(request)
        except Exception as exc:  # a bug in a server must still answer like SP-API does
            response = sp_api_error(500, "InternalFailure", f"{type(exc).__name__}: {exc}")
        response.headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        if response.fault == "reset":
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.fault == "truncate":
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (killed, timed out) is not the server's error."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("loopback server: error while serving %s", client_address)


class LoopbackServer:
    """Serve ``handler`` on 127.0.0.1 (a free port unless ``port`` is given) in a thread.

    >>> with LoopbackServer(handler) as server:
    ...     requests.get(server.url + "/...")
    """

    def __init__(self, handler: Handler, port: int = 0, host: str = "127.0.0.1"):
        handler_class = type(
            "Handler", (_RequestHandler,), {"handle_request": staticmethod(handler)}
        )
        self._server = _Server((host, port), handler_class)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's foreground mode)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@cache
def _route_table() -> list[tuple[str, re.Pattern[str], Operation]]:
    table = []
    for op in all_operations():
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(op.path))
        table.append((op.method, re.compile(f"^{pattern}$"), op))
    # Literal segments beat placeholders: /schedules before /{reportId}-like templates.
    table.sort(key=lambda row: row[2].path.count("{"))
    return table


def route(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The model operation for ``method`` and ``path``, with its path parameters; or None."""
    for op_method, pattern, op in _route_table():
        if op_method == method:
            match = pattern.match(path)
            if match:
                return op, {name: unquote(value) for name, value in match.groupdict().items()}
    return None
