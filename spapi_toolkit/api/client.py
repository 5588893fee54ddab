"""``SpApiClient``: one object owns the HTTP connection, LWA auth, rate limits and retries.

It is model-driven: ``client.call("getReport", reportId="...")`` calls any operation of the
bundled Amazon models by its ``operationId``, placing each parameter in the path, query, header
or body as the model says and serialising arrays as the model's ``collectionFormat`` asks.
``client.paginate`` follows ``nextToken``/``paginationToken``/``pageToken``. Failures are
``spapi_toolkit.errors.SpApiError`` subclasses carrying status, SP-API code, operation and
``x-amzn-RequestId``; tokens never appear in them.

The client knows nothing about the lake: ingestion code builds on it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from spapi_toolkit import __version__
from spapi_toolkit.api.auth import NOTIFICATIONS_SCOPE, LwaAuth
from spapi_toolkit.api.credentials import Credentials, resolve_credentials
from spapi_toolkit.api.errors import (
    RequestValidationError,
    SpApiError,
    TransportError,
    error_for_status,
)
from spapi_toolkit.api.models import Operation, find_operation
from spapi_toolkit.api.ratelimit import (
    BucketKey,
    OperationStats,
    RateLimiter,
    RetryPolicy,
    RetryQuota,
)
from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.regions import LWA_TOKEN_URL, region

log = logging.getLogger(__name__)

USER_AGENT = f"spapi-lake/{__version__} (Language=Python/{platform.python_version()})"
PAGE_TOKEN_PARAMETERS = ("nextToken", "NextToken", "paginationToken", "pageToken")
# Operations that reject every other parameter next to the page token.
TOKEN_ALONE = frozenset({"reports_2021-06-30.getReports"})
# The LWA scope of each API's grantless operations.
GRANTLESS_SCOPES = {"notifications": NOTIFICATIONS_SCOPE}
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass
class PreparedCall:
    """An operation call turned into HTTP: what ``SpApiClient`` sends."""

    operation: Operation
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def url_path(self) -> str:
        if not self.query:
            return self.path
        # Values are percent-encoded fully (page tokens hold '/', '+' and '='), but for the
        # commas that join array items.
        pairs = (f"{quote(k, safe='')}={quote(v, safe=',')}" for k, v in self.query)
        return f"{self.path}?{'&'.join(pairs)}"


def _text(value: Any) -> str:
    """One parameter value as SP-API expects it in a path, query or header."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RequestValidationError(
                f"datetime {value.isoformat()} has no time zone; SP-API needs an aware datetime"
            )
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return _text(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def prepare_call(operation: Operation, params: Mapping[str, Any]) -> PreparedCall:
    """Place ``params`` where ``operation``'s model says; reject unknown or missing ones.

    The body parameter may always be given as ``body``, whatever the model calls it.
    """
    known = {p.name: p for p in operation.parameters}
    body = operation.body_parameter
    if body is not None and "body" in params and body.name != "body":
        params = {body.name if k == "body" else k: v for k, v in params.items()}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise RequestValidationError(
            f"{operation.operation_id} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(known)) or 'none'}"
        )
    missing = [p.name for p in operation.parameters if p.required and params.get(p.name) is None]
    if missing:
        raise RequestValidationError(
            f"{operation.operation_id} needs {', '.join(map(repr, missing))}"
        )
    call = PreparedCall(operation, operation.path)
    for name, value in params.items():
        if value is None:
            continue
        param = known[name]
        if param.location == "body":
            call.body = _jsonable(value)
            continue
        if param.is_array:
            items = [value] if isinstance(value, (str, bytes)) else list(value)
            texts = [_text(v) for v in items]
        elif isinstance(value, (list, tuple, set)):
            raise RequestValidationError(
                f"{operation.operation_id} parameter {name!r} takes one value, not a list"
            )
        else:
            texts = [_text(value)]
        if param.location == "path":
            if not texts[0]:
                raise RequestValidationError(
                    f"{operation.operation_id} path parameter {name!r} is empty"
                )
            call.path = call.path.replace("{" + name + "}", quote(texts[0], safe=""))
        elif param.location == "header":
            call.headers[name] = texts[0]
        elif param.is_array and param.collection_format == "multi":
            call.query.extend((name, t) for t in texts)
        else:
            separator = {"ssv": " ", "tsv": "\t", "pipes": "|"}.get(param.collection_format, ",")
            call.query.append((name, separator.join(texts)))
    return call


def next_page_token(page: Any) -> str | None:
    """The token for the next page, wherever this API puts it (top level, payload, pagination)."""
    if not isinstance(page, dict):
        return None
    for holder in (page, page.get("payload"), page.get("pagination")):
        if isinstance(holder, dict):
            for key in ("nextToken", "NextToken"):
                if holder.get(key):
                    return str(holder[key])
    return None


def next_page_params(
    op: Operation, params: Mapping[str, Any], page: Any
) -> Mapping[str, Any] | None:
    """The parameters that ask ``op`` for the page after ``page`` (sent with ``params``), or
    None when ``page`` was the last."""
    token_name = next((n for n in PAGE_TOKEN_PARAMETERS if op.parameter(n)), None)
    token = next_page_token(page)
    if token_name is None or not token:
        return None
    if op.qualified_name in TOKEN_ALONE:
        return {token_name: token}
    return {**params, token_name: token}


def _error_fields(response: requests.Response) -> tuple[str, str, str]:
    """(code, message, details) from an SP-API error body, or from whatever else came back."""
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        return "", f"a non-JSON answer ({kind}, {len(response.content)} bytes)", ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return (
            str(first.get("code", "")),
            str(first.get("message", "")),
            str(first.get("details", "")),
        )
    return "", json.dumps(body)[:300], ""


class SpApiClient:
    """A client for every operation of the bundled SP-API models.

    Thread-safe: share one client between worker threads; they wait on the same rate-limit
    buckets. ``endpoint``/``lwa_endpoint`` override the region's hosts (the local sandbox);
    ``sandbox=True`` uses Amazon's sandbox hosts.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        region_name: str = "na",
        endpoint: str | None = None,
        lwa_endpoint: str | None = None,
        sandbox: bool = False,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        retry_quota: RetryQuota | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        rate_limit_timeout: float | None = None,
        time_scale: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ):
        the_region = region(region_name)
        self.region = the_region.name
        self.endpoint = (
            endpoint or (the_region.sandbox_endpoint if sandbox else the_region.endpoint)
        ).rstrip("/")
        self.credentials = credentials
        self.session = session or requests.Session()
        # How many times faster than ours the service's clock runs (1 for Amazon; the local
        # sandbox may run faster): token lifetimes, report quotas and rate limits are scaled by it.
        self.time_scale = time_scale
        # The time as this client's service sees it: what ingestion reads for "now" and
        # "today" (set ahead or behind for a sandbox whose history is pinned to a date).
        self.clock = clock
        # One retry budget for every thread and every kind of call of this client.
        self.retry_quota = retry_quota or RetryQuota()
        self.auth = LwaAuth(
            credentials,
            lwa_endpoint or LWA_TOKEN_URL,
            session=self.session,
            time_scale=time_scale,
            retry_quota=self.retry_quota,
        )
        # Limits are scaled like the rest: a given limiter is taken as it is (see RateLimiter).
        self.limiter = limiter or RateLimiter(time_scale=time_scale)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.rate_limit_timeout = rate_limit_timeout

    def __repr__(self) -> str:
        return (
            f"SpApiClient(endpoint={self.endpoint!r}, client_id={self.credentials.client_id!r}, "
            f"selling_partner={self.credentials.partner_key!r})"
        )

    @classmethod
    def from_env(
        cls, *, profile: str | None = None, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> SpApiClient:
        """A client configured from the environment (see ``credentials.resolve_credentials``):
        ``SPAPI_REGION`` (na, eu, fe), ``SPAPI_ENDPOINT`` and ``SPAPI_LWA_ENDPOINT`` (overrides,
        for sandboxes), ``SPAPI_SANDBOX=1`` for Amazon's sandbox hosts, and
        ``SPAPI_RATELIMIT_DIR`` to share rate-limit buckets with other processes on this host, and
        ``SPAPI_TIME_SCALE`` for a service whose clock runs faster and ``SPAPI_CLOCK_OFFSET`` for
        one whose clock is set elsewhere (both printed by the local sandbox)."""
        env = os.environ if env is None else env
        credentials = resolve_credentials(profile=profile, env=env)
        sandbox = env.get("SPAPI_SANDBOX", "").lower() in ("1", "true", "yes")
        if env.get("SPAPI_TIME_SCALE") and "time_scale" not in kwargs:
            kwargs["time_scale"] = float(env["SPAPI_TIME_SCALE"])
        kwargs.setdefault("clock", Clock.from_env(env))
        if env.get("SPAPI_RATELIMIT_DIR") and "limiter" not in kwargs:
            kwargs["limiter"] = RateLimiter(
                state_dir=Path(env["SPAPI_RATELIMIT_DIR"]),
                time_scale=float(kwargs.get("time_scale", 1.0)),
            )
        return cls(
            credentials,
            region_name=env.get("SPAPI_REGION") or credentials.region or "na",
            endpoint=env.get("SPAPI_ENDPOINT") or None,
            lwa_endpoint=env.get("SPAPI_LWA_ENDPOINT") or None,
            sandbox=sandbox,
            **kwargs,
        )

    def __enter__(self) -> SpApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def stats(self) -> dict[str, OperationStats]:
        """Counters per operation: requests, throttled, retried, waited seconds."""
        return self.limiter.stats()

    # ----------------------------------------------------------------------------------------

    def call(self, operation: str, /, **params: Any) -> Any:
        """Call ``operation`` (an operationId, or ``"<model>.<operationId>"``) and return the
        parsed JSON answer (None for an empty body)."""
        return self.send(prepare_call(find_operation(operation), params))

    def paginate(self, operation: str, /, **params: Any) -> Iterator[Any]:
        """Yield every page of ``operation``, following its page token until there is none."""
        op = find_operation(operation)
        following: Mapping[str, Any] | None = params
        while following is not None:
            page = self.send(prepare_call(op, following))
            yield page
            following = next_page_params(op, following, page)

    def _bucket_key(self, op: Operation) -> BucketKey:
        credentials = self.credentials
        return BucketKey(credentials.client_id, credentials.partner_key, self.region,
                         op.qualified_name)  # fmt: skip

    def rate_limit_delay(self, operation: str) -> float:
        """Seconds a call of ``operation`` would now wait for its rate-limit token (0: none).
        Nothing is taken: a caller with other work can do that first instead of blocking."""
        return self.limiter.delay(self._bucket_key(find_operation(operation)))

    def send(
        self,
        call: PreparedCall,
        *,
        access_token: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Send a prepared call under the rate limits, retrying as the policy allows.

        ``access_token`` replaces the LWA token (a Restricted Data Token, for example);
        ``retry`` replaces the client's retry policy for this call.
        """
        policy = retry or self.retry
        op = call.operation
        name = op.qualified_name
        key = self._bucket_key(op)
        scope = GRANTLESS_SCOPES.get(op.api) if op.grantless else None
        url = self.endpoint + call.url_path
        attempts, backoff_spent, token_refreshed, quota_spent = 0, 0.0, False, 0
        while True:
            attempts += 1
            if access_token is None:
                # Refresh ahead of the slot when due: an LWA round trip between taking a
                # rate-limit token and sending would put the request behind the server's bucket.
                self.auth.access_token(scope)
            self.limiter.acquire(key, self.rate_limit_timeout)
            # The token sent is read after the wait (from the cache): one read before it could
            # have died, or been replaced after another thread's 403, while this thread queued.
            token = access_token or self.auth.access_token(scope)
            headers = {
                "x-amz-access-token": token,
                "x-amz-date": self.clock.now().strftime("%Y%m%dT%H%M%SZ"),
                "user-agent": USER_AGENT,
                "accept": "application/json",
                **call.headers,
            }
            self.limiter.record(name, requests=1)
            status: int | None = None
            response: requests.Response | None = None
            failure = ""
            sent_at = time.monotonic()
            try:
                response = self.session.request(
                    op.method,
                    url,
                    headers=headers,
                    json=call.body if call.body is not None else None,
                    timeout=self.timeout,
                )
                status = response.status_code
                self.limiter.observe(
                    key,
                    status,
                    response.headers.get("x-amzn-RateLimit-Limit"),
                    latency=time.monotonic() - sent_at,
                )
            except _TRANSPORT_ERRORS as exc:
                failure = type(exc).__name__
            if response is not None and status is not None and status < 300:
                self.retry_quota.release(quota_spent)
                return response.json() if response.content.strip() else None
            if status == 403 and not token_refreshed and access_token is None:
                assert response is not None
                if _error_fields(response)[0] == "Unauthorized":
                    # Most often the token expired on Amazon's clock before ours: retry once with
                    # the current token, fetching a new one unless another thread already has.
                    token_refreshed = True
                    if not self.auth.invalidate(token):
                        log.debug("%s: 403 for a token already replaced; retrying", name)
                    continue
            if status == 429:
                self.limiter.record(name, throttled=1)
            wait = policy.backoff(attempts)
            if (
                policy.retryable(status)
                and attempts < policy.max_attempts
                and backoff_spent + wait <= policy.budget_seconds
            ):
                cost = self.retry_quota.acquire(status)
                if cost is None:
                    log.warning(
                        "%s: %s and the client's retry budget is spent", name, status or failure
                    )
                    raise self._final_error(op, response, attempts, None if response else failure)
                quota_spent += cost
                log.info("%s: %s, retry %d in %.2fs", name, status or failure, attempts, wait)
                self.limiter.record(name, retried=1, waited_seconds=wait)
                time.sleep(wait)
                backoff_spent += wait
                continue
            raise self._final_error(op, response, attempts, None if response else failure)

    @staticmethod
    def _final_error(
        op: Operation, response: requests.Response | None, attempts: int, failure: str | None
    ) -> SpApiError:
        if response is None:
            return TransportError(
                f"no answer: {failure}", operation=op.operation_id, attempts=attempts
            )
        code, message, details = _error_fields(response)
        return error_for_status(response.status_code)(
            message,
            status=response.status_code,
            code=code,
            operation=op.operation_id,
            request_id=response.headers.get("x-amzn-RequestId", ""),
            details=details,
            attempts=attempts,
        )
