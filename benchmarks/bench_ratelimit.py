"""Rate-limit benchmark: spapi-lake's ``SpApiClient`` against python-amazon-sp-api.

Run:  .venv/bin/python benchmarks/bench_ratelimit.py [--seconds 60] [--workers 4]
(``make bench`` runs it with the defaults: 4 windows of 60 s, about 4 minutes.)

Each run gets a fresh loopback server (same code for both clients) enforcing Amazon's official
usage plan of one operation with ``spapi_sandbox.limits.ServerLimits``: ``getCatalogItem``
(2 req/s, burst 2) and ``getReport`` (2 req/s, burst 15). W worker threads call the operation in a
loop for N seconds. The server is the judge: it counts the requests it accepted and the 429s it
answered inside the window. A call counts as completed only if its successful answer arrived
before the deadline. The ceiling is ``burst + rate * seconds``, the most any client could get; no
warm-up is excluded (the LWA token fetch happens inside the window for both clients).

* spapi-lake: ONE ``SpApiClient`` shared by the W threads (it is thread-safe and its threads wait
  on the same rate-limit buckets).
* python-amazon-sp-api: the library has no rate limiting of its own; what its users do is wrap
  calls in its documented ``sp_api.util.throttle_retry`` decorator (defaults tries=10, delay=5,
  rate=1.3). Each worker thread has its own decorated function (the decorator's retry counter is
  shared per decorated function) and its own client instance (each instance owns an httpx
  client; one instance per thread avoids relying on undocumented thread safety). The library's
  process-wide LWA token cache is cleared before each run. Its waited seconds are the time its
  decorator spent sleeping between a throttled attempt and the next one, measured around the
  decorated function (the library itself is not patched).

Once the window ends no worker starts another request (a python-amazon-sp-api worker asleep in
the decorator makes no further request when it wakes; it is not waited for).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spapi_sandbox.http import (
    LoopbackServer,
    Request,
    Response,
    route,
    sp_api_error,
)
from spapi_sandbox.limits import QUOTA_EXCEEDED_MESSAGE, ServerLimits
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.credentials import Credentials, Secret

CLIENT_ID = "amzn1.application-oa2-client.bench"
CLIENT_SECRET = "amzn1.oa2-cs.v1.bench-client-secret"
REFRESH_TOKEN = "Atzr|bench-refresh-token"
TOKEN_PATH = "/auth/o2/token"
MARKETPLACE = "ATVPDKIKX0DER"
ASIN = "B0BENCH001"
REPORT_ID = "50012345678"

# operationId -> qualified name (the ServerLimits / client.stats() key)
OPERATIONS = {
    "getCatalogItem": "catalogItems_2022-04-01.getCatalogItem",
    "getReport": "reports_2021-06-30.getReport",
}
TARGET = "target: >= 0.97 of ceiling, 0 429s in steady state"


# ------------------------------------------------------------------------------------------------
# The server: LWA token endpoint + the two operations, under the official usage plans
# ------------------------------------------------------------------------------------------------


@dataclass
class BenchServer:
    """One run's server state: fresh limits, issued tokens and in-window counters."""

    limits: ServerLimits = field(default_factory=ServerLimits)
    deadline: float = float("inf")  # monotonic; counters below stop at the deadline
    started: float = 0.0  # monotonic start of the window
    refused_at: list[float] = field(default_factory=list)  # in-window 429s, s since the start
    accepted_in_window: int = 0
    refused_in_window: int = 0
    accepted_total: int = 0
    refused_total: int = 0
    token_grants: int = 0
    _tokens: dict[str, str] = field(default_factory=dict)  # access token -> client id (caller)
    _counter: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Response.json(401, {"error": "invalid_client", "error_description": "bad"})
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH_TOKEN:
            return Response.json(400, {"error": "invalid_grant", "error_description": "bad"})
        with self._lock:
            token = f"Atza|bench-{next(self._counter)}"
            self._tokens[token] = CLIENT_ID
            self.token_grants += 1
        return Response.json(
            200, {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        )

    def __call__(self, request: Request) -> Response:
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        found = route(request.method, request.path)
        if found is None or found[0].operation_id not in OPERATIONS:
            return sp_api_error(404, "NotFound", f"No operation at {request.method} {request.path}")
        op, path_params = found
        caller = self._tokens.get(request.headers.get("x-amz-access-token", ""))
        if caller is None:
            return sp_api_error(403, "Unauthorized", "Access to requested resource is denied.")
        admitted = self.limits.admit(caller, op.qualified_name)
        in_window = time.monotonic() <= self.deadline
        with self._lock:
            if admitted:
                self.accepted_total += 1
                self.accepted_in_window += in_window
            else:
                self.refused_total += 1
                self.refused_in_window += in_window
                if in_window:
                    self.refused_at.append(time.monotonic() - self.started)
        if not admitted:  # as Amazon: no rate header on a 429
            return sp_api_error(429, "QuotaExceeded", QUOTA_EXCEEDED_MESSAGE)
        headers = {"x-amzn-RateLimit-Limit": self.limits.rate_header(op.qualified_name)}
        if op.operation_id == "getCatalogItem":
            return Response.json(200, {"asin": path_params["asin"]}, headers)
        return Response.json(
            200,
            {
                "reportId": path_params["reportId"],
                "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
                "processingStatus": "DONE",
                "createdTime": "2026-11-01T00:00:00Z",
                "marketplaceIds": [MARKETPLACE],
            },
            headers,
        )


# ------------------------------------------------------------------------------------------------
# Workers
# ------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    client: str
    operation: str
    seconds: float
    rate: float
    burst: float
    completed: int = 0
    client_errors: int = 0
    server_accepted: int = 0
    server_429s: int = 0
    refused_at: list[float] = field(default_factory=list)
    waited_seconds: float = 0.0
    still_sleeping: int = 0  # python-amazon-sp-api workers asleep in throttle_retry at the end
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def ceiling(self) -> float:
        return self.burst + self.rate * self.seconds

    @property
    def ratio(self) -> float:
        return self.completed / self.ceiling


class Tally:
    """Thread-safe per-run counters kept by the workers."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.completed = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.waited = 0.0
        self._lock = threading.Lock()

    def success(self) -> None:
        finished = time.monotonic()
        with self._lock:
            if finished <= self.deadline:
                self.completed += 1

    def error(self, exc: BaseException) -> None:
        with self._lock:
            if time.monotonic() <= self.deadline:
                self.errors += 1
                kind = type(exc).__name__
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def add_wait(self, seconds: float) -> None:
        with self._lock:
            self.waited += seconds


def run_workers(
    workers: int, deadline: float, make_call: Callable[[int], Callable[[], object]], tally: Tally
) -> list[threading.Thread]:
    """Start ``workers`` threads calling ``make_call(i)()`` until the deadline."""

    def loop(index: int) -> None:
        call = make_call(index)
        while time.monotonic() < deadline:
            try:
                result = call()
            except Exception as exc:  # a failed call: counted, then the worker carries on
                tally.error(exc)
                continue
            if result is not _STOPPED:
                tally.success()

    threads = [
        threading.Thread(target=loop, args=(i,), name=f"bench-worker-{i}", daemon=True)
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    return threads


_STOPPED = object()  # returned by a python-amazon-sp-api attempt that starts after the deadline


def call_args(operation: str) -> dict[str, object]:
    if operation == "getCatalogItem":
        return {"asin": ASIN, "marketplaceIds": [MARKETPLACE]}
    return {"reportId": REPORT_ID}


def bench_spapi_lake(server: BenchServer, url: str, operation: str, workers: int,
                     seconds: float, result: RunResult) -> None:  # fmt: skip
    client = SpApiClient(
        Credentials(CLIENT_ID, Secret(CLIENT_SECRET), Secret(REFRESH_TOKEN)),
        endpoint=url,
        lwa_endpoint=url + TOKEN_PATH,
    )
    args = call_args(operation)
    deadline = time.monotonic() + seconds
    server.started, server.deadline = deadline - seconds, deadline
    tally = Tally(deadline)
    threads = run_workers(workers, deadline, lambda _i: lambda: client.call(operation, **args),
                          tally)  # fmt: skip
    for thread in threads:  # a limiter wait is at most one token interval past the deadline
        thread.join(timeout=seconds + 30)
    stats = client.stats().get(OPERATIONS[operation])
    result.waited_seconds = stats.waited_seconds if stats else 0.0
    client.close()
    _finish(result, server, tally)


def bench_pasp(server: BenchServer, url: str, operation: str, workers: int,
               seconds: float, result: RunResult) -> None:  # fmt: skip
    from pasp_adapter import make_client, reset_token_cache
    from sp_api.api import CatalogItems, ReportsV2
    from sp_api.util import throttle_retry

    reset_token_cache()  # fresh server, fresh token: no token from an earlier run
    api_class = CatalogItems if operation == "getCatalogItem" else ReportsV2
    clients = [
        make_client(
            api_class,
            endpoint=url,
            lwa_endpoint=url + TOKEN_PATH,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH_TOKEN,
            marketplace_id=MARKETPLACE,
        )
        for _ in range(workers)
    ]
    deadline = time.monotonic() + seconds
    server.started, server.deadline = deadline - seconds, deadline
    tally = Tally(deadline)

    pending: dict[int, float] = {}  # thread index -> when its last attempt was throttled
    lock = threading.Lock()

    def make_call(index: int) -> Callable[[], object]:
        api = clients[index]

        @throttle_retry()  # as the library documents it: one decorated function per thread
        def fetch() -> object:
            now = time.monotonic()
            with lock:  # were we asleep in the decorator since a throttled attempt?
                started = pending.pop(index, None)
            if started is not None:
                tally.add_wait(min(now, deadline) - started)
            if now >= deadline:
                return _STOPPED
            try:
                if operation == "getCatalogItem":
                    return api.get_catalog_item(ASIN, marketplaceIds=[MARKETPLACE])
                return api.get_report(REPORT_ID)
            except Exception as exc:
                if getattr(exc, "code", None) == 429:
                    with lock:
                        pending[index] = time.monotonic()
                raise

        return fetch

    threads = run_workers(workers, deadline, make_call, tally)
    # Do not wait out decorator sleeps (5 s, 6.5 s, ...) past the window: a worker waking up
    # after the deadline makes no request, and the next run has its own server.
    grace = deadline + 2.0
    for thread in threads:
        thread.join(timeout=max(0.0, grace - time.monotonic()))
    with lock:  # sleeps still in progress count up to the deadline
        for started in pending.values():
            tally.add_wait(max(0.0, deadline - started))
        pending.clear()
    result.still_sleeping = sum(thread.is_alive() for thread in threads)
    _finish(result, server, tally)
    for api in clients:  # a worker still asleep makes no request when it wakes
        api.close()


def _finish(result: RunResult, server: BenchServer, tally: Tally) -> None:
    result.completed = tally.completed
    result.client_errors = tally.errors
    result.error_kinds = dict(tally.error_kinds)
    result.waited_seconds = result.waited_seconds or tally.waited
    result.server_accepted = server.accepted_in_window
    result.server_429s = server.refused_in_window
    result.refused_at = list(server.refused_at)


def run_one(client_name: str, operation: str, workers: int, seconds: float) -> RunResult:
    server = BenchServer(limits=ServerLimits())  # fresh server state per run
    rate, burst = server.limits.limit(OPERATIONS[operation])
    result = RunResult(client_name, operation, seconds, rate, burst)
    with LoopbackServer(server) as loopback:
        bench = bench_spapi_lake if client_name == "spapi-lake" else bench_pasp
        bench(server, loopback.url, operation, workers, seconds, result)
    return result


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------

COLUMNS = ("client", "operation", "completed", "ceiling", "ratio", "req/s",
           "429s (server)", "client errors", "waited s")  # fmt: skip


def _row(r: RunResult) -> tuple[str, ...]:
    return (
        r.client,
        r.operation,
        str(r.completed),
        f"{r.ceiling:g}",
        f"{r.ratio:.3f}",
        f"{r.completed / r.seconds:.2f}",
        str(r.server_429s),
        str(r.client_errors),
        f"{r.waited_seconds:.1f}",
    )


def print_table(results: list[RunResult], seconds: float, workers: int) -> None:
    title = f"Rate-limit benchmark: {seconds:g} s per operation, {workers} worker threads"
    rows = [_row(r) for r in results]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
        print(title)
        print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    else:
        table = Table(title=title)
        for i, column in enumerate(COLUMNS):
            table.add_column(column, justify="left" if i < 2 else "right")
        for row in rows:
            table.add_row(*row)
        Console(width=132).print(table)
    print(TARGET)
    print("ceiling = burst + rate x seconds (server's official usage plan); completed = successful")
    print("answers received before the deadline; 429s counted by the server inside the window;")
    print("waited s = time the client's threads spent waiting (spapi-lake: rate-limiter waits;")
    print("python-amazon-sp-api: throttle_retry sleeps up to the deadline), summed over threads.")
    for r in results:
        notes = []
        if r.server_accepted != r.completed:
            notes.append(f"server accepted {r.server_accepted} in window")
        if r.error_kinds:
            notes.append("errors: " + ", ".join(f"{k} x{v}" for k, v in r.error_kinds.items()))
        if r.refused_at:
            times = ", ".join(f"{t:.2f}" for t in r.refused_at[:6])
            more = f", ... (last {r.refused_at[-1]:.2f})" if len(r.refused_at) > 6 else ""
            notes.append(f"429s at t = {times}{more} s into the window")
        if r.still_sleeping:
            notes.append(f"{r.still_sleeping} worker(s) still asleep in throttle_retry at the end")
        if notes:
            print(f"  {r.client} {r.operation}: " + "; ".join(notes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="window per run (60)")
    parser.add_argument("--workers", type=int, default=4, help="worker threads (4)")
    args = parser.parse_args(argv)
    results = []
    for client_name in ("spapi-lake", "python-amazon-sp-api"):
        for operation in OPERATIONS:
            print(f"running {client_name} {operation} for {args.seconds:g} s ...", flush=True)
            results.append(run_one(client_name, operation, args.workers, args.seconds))
    print()
    print_table(results, args.seconds, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
