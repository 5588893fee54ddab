"""The local SP-API: one ``SandboxApp`` answering every request, and ``run_sandbox`` to start it.

A request goes through the same gates, in the same order, as at Amazon:

1. injected faults that happen before anything else (slow answer, dropped connection);
2. the non-SP-API paths: LWA's token endpoint, the consent page, document downloads, and the
   sandbox's own ``/_sandbox/truth``;
3. routing against the bundled models (unknown path: 404);
4. the access token (403 ``Unauthorized``: expired, unknown, or not the Restricted Data Token
   a restricted operation needs);
5. the usage plan (429 ``QuotaExceeded``) and injected 429/500/503;
6. parameters checked against the model (400 ``InvalidInput`` naming the parameter);
7. the operation's handler, found in one table keyed by ``"<model>.<operationId>"``.

Time runs on a ``SandboxClock``: ``scale`` simulated seconds per real second, from a start that
follows the simulated seller's data, so report processing, token lifetimes, document URLs and
report quotas can be minutes long and still take seconds in tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jsonschema

from spapi_sandbox import apis, notifications
from spapi_sandbox.calls import Call, invalid_input, not_found, parse_time
from spapi_sandbox.faults import Faults
from spapi_sandbox.http import LoopbackServer, Request, Response, route, sp_api_error
from spapi_sandbox.limits import QUOTA_EXCEEDED_MESSAGE, ServerLimits
from spapi_sandbox.lwa import AuthError, LoginWithAmazon
from spapi_sandbox.reports import DataKioskService, DocumentStore, ReportService
from spapi_sandbox.seller import SellerConfig, SimulatedSeller
from spapi_toolkit.api.models import Operation
from spapi_toolkit.clock import SYSTEM_CLOCK, Clock

TOKEN_PATH = "/auth/o2/token"
CONSENT_PATH = "/apps/authorize/consent"
TRUTH_PATH = "/_sandbox/truth"


@dataclass
class SandboxConfig:
    """Everything that shapes one sandbox; the defaults suit tests and the demo.

    The sandbox plays ``sellers`` sellers who all authorized the one application. The first is
    ``seller_id`` with ``refresh_token`` and the data of ``seed``; seller *n* (2, 3, ...) is
    ``seller_id``'s stem numbered *n* (``A2SANDBOXSELLER2``), with the refresh token
    ``<refresh_token>-<n>`` and a seed derived from ``seed`` and its id, so its data differ.
    """

    seed: int = 1
    sellers: int = 1
    scale: float = 60.0  # simulated seconds per real second
    products: int = 20
    days: int = 30
    limits: str = "scaled"  # "scaled": rates x scale; "real": Amazon's numbers
    faults: Faults = field(default_factory=Faults)
    region: str = "na"
    seller_id: str = "A2SANDBOXSELLER1"
    client_id: str = "amzn1.application-oa2-client.sandbox"
    client_secret: str = "sandbox-client-secret"
    refresh_token: str = "Atzr|sandbox-refresh-token"
    application_id: str = "amzn1.sp.solution.sandbox"
    token_lifetime: float = 3600.0  # simulated seconds
    code_lifetime: float = 300.0
    rdt_lifetime: float = 3600.0  # simulated seconds a Restricted Data Token lasts
    url_lifetime: float = 300.0
    queue_seconds: float = 30.0  # a report waits this long IN_QUEUE ...
    processing_seconds: float = 90.0  # ... then this long IN_PROGRESS
    # The last day of the history; None: yesterday (UTC) when the sandbox starts. Pinning it
    # makes the data independent of the day: same seed + same end date -> same bytes.
    end_date: date | None = None
    # Sandbox "now" at start; default: 06:00 UTC after a pinned end date, else the real now.
    start: datetime | None = None
    notifications_dir: str | None = None  # where local (file) destinations write
    tick_seconds: float = 0.05  # real seconds between background ticks

    def __post_init__(self) -> None:
        if self.sellers < 1:
            raise ValueError(f"sellers must be at least 1, not {self.sellers}")

    @property
    def _stem(self) -> str:
        return self.seller_id.rstrip("0123456789") or self.seller_id

    @property
    def seller_ids(self) -> tuple[str, ...]:
        """Every seller's id, ``seller_id`` first."""
        return tuple(self.seller_id_of(n) for n in range(1, self.sellers + 1))

    def seller_id_of(self, number: int) -> str:
        """The id of seller ``number`` (counted from 1)."""
        return self.seller_id if number == 1 else f"{self._stem}{number}"

    def seller_number(self, seller_id: str) -> int | None:
        """Which seller ``seller_id`` is (1, 2, ...), whatever ``sellers`` says; None if it
        is not one of this sandbox's family of ids."""
        if seller_id == self.seller_id:
            return 1
        digits = seller_id[len(self._stem) :]
        if seller_id.startswith(self._stem) and digits.isdigit() and int(digits) >= 2:
            return int(digits) if self.seller_id_of(int(digits)) == seller_id else None
        return None

    def refresh_token_of(self, seller_id: str) -> str:
        """The refresh token that speaks for ``seller_id`` (fixed, so printed envs stay valid)."""
        number = self.seller_number(seller_id)
        if number is None:
            raise KeyError(seller_id)
        return self.refresh_token if number == 1 else f"{self.refresh_token}-{number}"

    def seller_config(self, seller_id: str | None = None) -> SellerConfig:
        """The simulated seller ``seller_id`` (default: the first) of this configuration.

        The first seller's seed is ``seed`` itself, so one-seller sandboxes and ``spapi sandbox
        truth --seed`` agree; every other seller's is a hash of ``seed`` and its id.
        """
        seller_id = seller_id or self.seller_id
        if self.seller_number(seller_id) is None:
            raise KeyError(seller_id)
        seed = self.seed
        if seller_id != self.seller_id:
            digest = hashlib.sha256(f"{self.seed}:{seller_id}".encode()).digest()
            seed = int.from_bytes(digest[:4], "big")
        return SellerConfig(
            seed=seed,
            products=self.products,
            days=self.days,
            seller_id=seller_id,
            end_date=self.end_date or SYSTEM_CLOCK.today() - timedelta(days=1),
        )

    def pinned(self) -> SandboxConfig:
        """This configuration with its history's end and its starting "now" fixed.

        A pinned end date starts the clock at 06:00 UTC the morning after it. Without one the
        history ends yesterday and the clock starts at the real now (or at ``start``, whose
        previous day then ends the history), so a client's own clock agrees with it.
        """
        if self.end_date is not None:
            end = datetime.combine(self.end_date, datetime.min.time(), UTC)
            return dataclasses.replace(self, start=self.start or end + timedelta(days=1, hours=6))
        now = self.start or SYSTEM_CLOCK.now()
        return dataclasses.replace(self, start=now, end_date=now.date() - timedelta(days=1))


class SandboxClock:
    """Simulated epoch seconds: ``start`` plus real time elapsed times ``scale``."""

    def __init__(self, start: float, scale: float, real: Callable[[], float] = time.monotonic):
        self.start, self.scale, self._real = start, scale, real
        self._origin = real()

    def now(self) -> float:
        return self.start + (self._real() - self._origin) * self.scale

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)


# --------------------------------------------------------------------------------------------
# Parameters, checked against the model
# --------------------------------------------------------------------------------------------


_SPECS: dict[str, tuple[dict[str, Any], ...]] = {}


def _parameter_specs(operation: Operation) -> tuple[dict[str, Any], ...]:
    """The raw model parameters of ``operation``, path-level ones included (memoised)."""
    specs = _SPECS.get(operation.qualified_name)
    if specs is None:
        base = (operation.document.get("basePath") or "").rstrip("/")
        item = operation.document.get("paths", {}).get(operation.path[len(base) :], {})
        own = operation.raw.get("parameters", [])
        names = {p["name"] for p in own}
        inherited = [p for p in item.get("parameters", []) if p["name"] not in names]
        specs = _SPECS[operation.qualified_name] = tuple(inherited + own)
    return specs


# Ranges some models state only in words: "Value must be 1 - 100", "between 1 and 100",
# "Minimum value is 30. Maximum value is 100."
_RANGE_IN_WORDS = re.compile(r"(?:must be|between)\s+(\d+)\s*(?:-|to|and)\s*(\d+)", re.I)
_MINIMUM_IN_WORDS = re.compile(r"Minimum value is (\d+)", re.I)
_MAXIMUM_IN_WORDS = re.compile(r"Maximum value is (\d+)", re.I)
_PAGE_SIZES = ("pageSize", "maxResultsPerPage", "MaxResultsPerPage")


def _bounds(name: str, spec: dict[str, Any]) -> tuple[int | None, int | None]:
    """An integer parameter's (minimum, maximum): the schema's, else the description's; a page
    size is at least 1 even where the model gives a maximum only (Amazon refuses 0)."""
    low, high = spec.get("minimum"), spec.get("maximum")
    words = spec.get("description", "")
    found = _RANGE_IN_WORDS.search(words)
    if found:
        low = int(found.group(1)) if low is None else low
        high = int(found.group(2)) if high is None else high
    found = _MINIMUM_IN_WORDS.search(words)
    if found and low is None:
        low = int(found.group(1))
    found = _MAXIMUM_IN_WORDS.search(words)
    if found and high is None:
        high = int(found.group(1))
    if name in _PAGE_SIZES and low is None:
        low = 1
    return low, high


def _is_date(spec: dict[str, Any]) -> bool:
    """A date or date-time parameter: by format, or (Orders v0) by a description in words."""
    if spec.get("format") in ("date-time", "date"):
        return True
    return spec.get("type") == "string" and "ISO 8601" in spec.get("description", "")


def _check_value(name: str, spec: dict[str, Any], value: str) -> str | None:
    """Why ``value`` is not acceptable for parameter ``name``; None when it is."""
    kind = spec.get("type")
    if "enum" in spec and value not in spec["enum"]:
        return f"Invalid {name}: {value!r} is not one of {', '.join(map(str, spec['enum']))}."
    if kind == "integer":
        try:
            number = int(value)
        except ValueError:
            return f"Invalid {name}: {value!r} is not an integer."
        low, high = _bounds(name, spec)
        if low is not None and number < low:
            return f"Invalid {name}: {number} is below the minimum {low}."
        if high is not None and number > high:
            return f"Invalid {name}: {number} is above the maximum {high}."
    if kind == "boolean" and value.lower() not in ("true", "false"):
        return f"Invalid {name}: {value!r} is not a boolean."
    if _is_date(spec):
        try:
            parse_time(value)
        except ValueError:
            return f"Invalid {name}: {value!r} is not an ISO 8601 date-time."
    if kind == "string" and "maxLength" in spec and len(value) > spec["maxLength"]:
        return f"Invalid {name}: longer than {spec['maxLength']} characters."
    return None


def _parse_arguments(
    operation: Operation, request: Request, path: dict[str, str]
) -> tuple[dict[str, list[str]], Any] | Response:
    """The query values (arrays split) and JSON body, or a 400 ``InvalidInput`` answer."""
    query: dict[str, list[str]] = {}
    body: Any = None
    for spec in _parameter_specs(operation):
        name, where = spec["name"], spec["in"]
        if where == "body":
            if request.body:
                try:
                    body = json.loads(request.body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    return invalid_input("The request body is not valid JSON.")
            if body is None and spec.get("required"):
                return invalid_input("Missing required request body.")
            if body is not None:
                schema = {**spec["schema"], "definitions": operation.document.get("definitions")}
                error = jsonschema.exceptions.best_match(
                    jsonschema.Draft4Validator(schema).iter_errors(body)
                )
                if error is not None:
                    where_in = "/".join(str(p) for p in error.absolute_path) or "body"
                    return invalid_input(f"Invalid request body at {where_in}: {error.message}")
            continue
        if where == "header":
            continue
        if where == "path":
            values = [path[name]] if name in path else []
        else:
            raw = request.query.get(name, [])
            if spec.get("type") == "array":
                values = [v for item in raw for v in item.split(",") if v != ""]
            else:
                values = raw[-1:]
        if not values:
            if spec.get("required"):
                return invalid_input(f"Missing required parameter: {name}.")
            continue
        if spec.get("type") == "array":
            if "maxItems" in spec and len(values) > spec["maxItems"]:
                return invalid_input(f"Invalid {name}: at most {spec['maxItems']} values.")
            item_spec = spec.get("items", {})
        else:
            item_spec = spec
        for value in values:
            problem = _check_value(name, item_spec, value)
            if problem:
                return invalid_input(problem)
        if where == "query":
            query[name] = values
    return query, body


# --------------------------------------------------------------------------------------------
# The simulated seller
# --------------------------------------------------------------------------------------------


def make_seller(config: SandboxConfig, seller_id: str | None = None) -> SimulatedSeller:
    """The simulated seller ``seller_id`` (default: the first) of a sandbox configuration."""
    return SimulatedSeller(config.seller_config(seller_id))


# --------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------


class SandboxApp:
    """The request handler of the local SP-API (``__call__(Request) -> Response``)."""

    def __init__(self, config: SandboxConfig | None = None, seller: SimulatedSeller | None = None):
        config = config or SandboxConfig()
        if seller is not None and config.end_date is None:
            config = dataclasses.replace(config, end_date=seller.config.end_date)
        self.config = config = config.pinned()
        assert config.start is not None
        self.faults = config.faults
        self.seller = seller if seller is not None else make_seller(config)
        self.sellers = {config.seller_id: self.seller} | {
            seller_id: make_seller(config, seller_id) for seller_id in config.seller_ids[1:]
        }
        self.clock = SandboxClock(config.start.timestamp(), config.scale)
        # A client's clock: the sandbox's starting "now", running on at real speed (slower
        # than the sandbox's own), so what the client thinks recent the sandbox does too.
        self.client_clock = Clock.starting_at(config.start)
        real_limits = config.limits == "real"
        self.limits = ServerLimits(scale=1.0 if real_limits else config.scale)
        secret = f"sandbox-{config.seed}".encode()
        self.lwa = LoginWithAmazon(
            client_id=config.client_id,
            client_secret=config.client_secret,
            application_id=config.application_id,
            refresh_tokens={config.refresh_token_of(s): s for s in config.seller_ids},
            now=self.clock.now,
            token_lifetime=config.token_lifetime,
            code_lifetime=config.code_lifetime,
            secret=secret,
        )
        self.documents = DocumentStore(secret, self.clock.now, config.url_lifetime)
        self.notifier = notifications.Notifier(
            application_id=config.application_id,
            faults=self.faults,
            local_dir=config.notifications_dir,
            seed=config.seed,
            now=self.clock.now,
            test_payload=lambda kind, seller_id, now: apis.sample_notification_payload(
                self.sellers[seller_id], kind, now
            ),
        )
        self.reports = ReportService(
            self.documents,
            sellers=self.sellers,
            faults=self.faults,
            queue_seconds=config.queue_seconds,
            processing_seconds=config.processing_seconds,
            quota_now=time.monotonic if real_limits else self.clock.now,
            quota_scale=1.0,
            notify=self.notifier.publish,
        )
        self.kiosk = DataKioskService(
            self.documents,
            sellers=self.sellers,
            faults=self.faults,
            queue_seconds=config.queue_seconds,
            processing_seconds=config.processing_seconds,
            notify=self.notifier.publish,
        )
        self.market = apis.MarketEvents(self.sellers, self.notifier)
        self.handlers: dict[str, Callable[[Call], Response]] = {
            **self.reports.handlers(),
            **self.kiosk.handlers(),
            **apis.HANDLERS,
            **self.notifier.handlers(),
        }
        self.base_url = ""
        self.calls: dict[str, int] = {}  # operation -> answered count (for tests and stats)
        self._tick_lock = threading.Lock()

    def served_operations(self) -> list[str]:
        """Qualified names of every operation the sandbox answers."""
        return sorted(self.handlers)

    # ---- time ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Let simulated time act: scheduled reports, finished jobs, market changes."""
        if not self._tick_lock.acquire(blocking=False):
            return  # another thread is already ticking
        try:
            now = self.clock.now()
            self.reports.tick(now)
            self.kiosk.tick(now)
            self.market.tick(now)
        finally:
            self._tick_lock.release()

    # ---- requests -----------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if self.faults.roll("slow"):
            time.sleep(self.faults.slow_seconds)
        if self.faults.roll("reset"):
            return Response(fault="reset")
        self.tick()
        path = request.path
        if path == TOKEN_PATH:
            return self.lwa.token(request)
        if path == CONSENT_PATH:
            return self.lwa.consent(request)
        if path.startswith(DocumentStore.PATH) and request.method == "GET":
            return self.documents.download(
                request,
                truncate=self.faults.roll("truncate"),
                gzip_header=self.faults.roll("content_encoding_gzip"),
            )
        if path == TRUTH_PATH:
            return self._truth(request)
        return self._sp_api(request)

    def _sp_api(self, request: Request) -> Response:
        found = route(request.method, request.path)
        if found is None:
            return sp_api_error(
                404, "NotFound", f"Resource {request.method} {request.path} is not found."
            )
        operation, path = found
        name = operation.qualified_name
        handler = self.handlers.get(name)
        try:
            grant = self.lwa.authorize(
                request,
                operation.grantless,
                force_expired=self.faults.roll("expired_token"),
                restricted=name in apis.RESTRICTED,
            )
        except AuthError as refused:
            return refused.response
        if not self.limits.admit(grant.caller, name) or self.faults.roll("throttle"):
            return sp_api_error(429, "QuotaExceeded", QUOTA_EXCEEDED_MESSAGE)
        if self.faults.roll("error_500"):
            return sp_api_error(500, "InternalFailure", "We encountered an internal error.")
        if self.faults.roll("error_503"):
            return sp_api_error(503, "ServiceUnavailable", "Service temporarily unavailable.")
        if handler is None:
            return sp_api_error(
                404, "NotFound", f"{operation.operation_id} is not served by the local sandbox."
            )
        parsed = _parse_arguments(operation, request, path)
        if isinstance(parsed, Response):
            return parsed
        query, body = parsed
        call = Call(
            operation=operation,
            path=path,
            query=query,
            body=body,
            grant=grant,
            now=self.clock.now(),
            base_url=self.base_url,
            selling_partner=self.sellers.get(grant.seller_id or ""),
            extras={"app": self},
        )
        response = handler(call)
        self.calls[name] = self.calls.get(name, 0) + 1
        if 200 <= response.status < 300:
            response.headers["x-amzn-RateLimit-Limit"] = self.limits.rate_header(name)
        return response

    def _truth(self, request: Request) -> Response:
        """``GET /_sandbox/truth?from=YYYY-MM-DD&to=YYYY-MM-DD&seller=ID``: what a seller (by
        default the first) really sold."""
        query = {k: v[-1] for k, v in request.query.items()}
        try:
            start = date.fromisoformat(query["from"]) if "from" in query else None
            end = date.fromisoformat(query["to"]) if "to" in query else None
        except ValueError:
            return invalid_input("from and to must be YYYY-MM-DD dates.")
        seller = self.sellers.get(query.get("seller") or self.config.seller_id)
        if seller is None:
            return not_found(f"Seller {query['seller']} is not played by this sandbox.")
        rows = truth_rows(seller, start, end)
        return Response.json(200, {"rows": rows})


def truth_rows(
    seller: SimulatedSeller, start: date | None, end: date | None
) -> list[dict[str, Any]]:
    """The seller's ground truth as JSON-ready rows (dates and decimals as strings)."""
    return [
        {k: v if isinstance(v, int | float | str) else str(v) for k, v in row.items()}
        for row in seller.truth(start, end)
    ]


# --------------------------------------------------------------------------------------------
# Starting it
# --------------------------------------------------------------------------------------------


@dataclass
class RunningSandbox:
    """A started sandbox: where it listens and the environment that points the toolkit at it."""

    url: str
    app: SandboxApp
    server: LoopbackServer

    @property
    def lwa_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def seller_ids(self) -> tuple[str, ...]:
        """The sellers the sandbox plays, the first one first."""
        return self.app.config.seller_ids

    @property
    def env(self) -> dict[str, str]:
        """The environment that points the toolkit at the sandbox as the first seller."""
        return self.env_for(0)

    def env_for(self, seller: int | str) -> dict[str, str]:
        """The environment for one seller: its index (0 is the first) or its id."""
        config = self.app.config
        seller_id = self.seller_ids[seller] if isinstance(seller, int) else seller
        if seller_id not in self.seller_ids:
            raise KeyError(f"the sandbox plays {', '.join(self.seller_ids)}, not {seller_id}")
        return {
            "SPAPI_ENDPOINT": self.url,
            "SPAPI_LWA_ENDPOINT": self.lwa_url,
            "SPAPI_CLIENT_ID": config.client_id,
            "SPAPI_CLIENT_SECRET": config.client_secret,
            "SPAPI_REFRESH_TOKEN": config.refresh_token_of(seller_id),
            "SPAPI_SELLING_PARTNER_ID": seller_id,
            "SPAPI_REGION": config.region,
            # The sandbox's clocks run this many times faster: ingestion paces quotas by it.
            "SPAPI_TIME_SCALE": f"{config.scale:g}" if config.limits != "real" else "1",
            **self.app.client_clock.env(),
        }


class _Ticker(threading.Thread):
    """Advances simulated time in the background, so reports finish without being polled."""

    def __init__(self, app: SandboxApp):
        super().__init__(daemon=True, name="sandbox-ticker")
        self.app = app
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.app.config.tick_seconds):
            try:
                self.app.tick()
            except Exception:  # keep ticking; the next request reports the problem
                time.sleep(self.app.config.tick_seconds)


def start_sandbox(
    config: SandboxConfig | None = None, port: int = 0, **settings: Any
) -> tuple[RunningSandbox, Callable[[], None]]:
    """Start a sandbox (config fields may be given as keywords); returns it and a stop function."""
    config = dataclasses.replace(config or SandboxConfig(), **settings)
    app = SandboxApp(config)
    server = LoopbackServer(app, port=port)
    # URLs handed out (report documents) name the address the server is bound to, never the
    # request's Host header, which a client or proxy may set to anything.
    app.base_url = server.url
    server.start()
    ticker = _Ticker(app)
    ticker.start()

    def stop() -> None:
        ticker.stopped.set()
        # A tick under way finishes first: it may be delivering notifications (a duplicate
        # right after its original), and what it leaves is read as soon as we return.
        ticker.join(timeout=60)
        server.stop()
        app.notifier.close()

    return RunningSandbox(server.url, app, server), stop


@contextmanager
def run_sandbox(
    config: SandboxConfig | None = None, port: int = 0, **settings: Any
) -> Iterator[RunningSandbox]:
    """Serve a sandbox on 127.0.0.1 (a free port by default) for the duration of the block.

    >>> with run_sandbox(scale=600, seed=7) as sandbox:
    ...     os.environ.update(sandbox.env)
    """
    running, stop = start_sandbox(config, port=port, **settings)
    try:
        yield running
    finally:
        stop()
