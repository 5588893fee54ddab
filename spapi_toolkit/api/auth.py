"""Login with Amazon (LWA): access tokens for SP-API, built on requests-oauthlib.

``LwaAuth`` issues and caches the access tokens of one set of credentials:

* the refresh-token grant for a seller's operations;
* the ``client_credentials`` grant (scope ``sellingpartnerapi::notifications``) for grantless
  operations;
* the ``authorization_code`` grant that turns a website-authorization ``spapi_oauth_code`` into a
  refresh token (see ``consent.py``).

Tokens are cached per grant, refreshed ahead of expiry (computed from ``expires_in``), with one
refresh in flight at a time however many threads ask. ``invalidate`` drops a token SP-API
answered 403 ``Unauthorized`` for, so the next call fetches a new one, unless another thread has
already replaced it. ``invalid_grant`` and ``invalid_client`` are raised at once with what to
do; transient LWA failures are retried.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import (
    BackendApplicationClient,
    InvalidClientError,
    InvalidGrantError,
    OAuth2Error,
    WebApplicationClient,
)
from requests_oauthlib import OAuth2Session

from spapi_toolkit.api.credentials import Credentials
from spapi_toolkit.api.errors import (
    ConfigurationError,
    InvalidClient,
    LwaError,
    ReauthorizationRequired,
)
from spapi_toolkit.api.ratelimit import RetryPolicy, RetryQuota
from spapi_toolkit.regions import LWA_TOKEN_URL

log = logging.getLogger(__name__)


def _drop_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


# requests-oauthlib and oauthlib log token request bodies (client secret, refresh token) and
# answers (access tokens) at DEBUG. Logger filters are not inherited, so each module's logger
# gets one.
for _name in list(logging.root.manager.loggerDict):
    if _name.split(".")[0] in ("requests_oauthlib", "oauthlib"):
        logging.getLogger(_name).addFilter(_drop_debug)

NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"
REFRESH_TOKEN_LIFETIME = timedelta(days=365)
CLIENT_SECRET_LIFETIME = timedelta(days=180)
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _allow_loopback_http(token_url: str) -> None:
    """oauthlib refuses plain HTTP; the local sandbox serves LWA on loopback HTTP only."""
    parts = urlsplit(token_url)
    if parts.scheme == "http":
        if parts.hostname not in _LOOPBACK_HOSTS:
            raise ConfigurationError(
                f"the LWA endpoint must use https unless it is on loopback: {token_url}"
            )
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


@dataclass
class AccessToken:
    value: str
    expires_at: float  # on the auth object's clock
    refresh_at: float

    def __repr__(self) -> str:
        return f"AccessToken('****', expires_at={self.expires_at:.0f})"


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is replaced: a tenth of its life, at most five minutes."""
    return min(300.0, lifetime * 0.1)


class LwaAuth:
    """Access tokens for one set of credentials, cached and shared by every thread."""

    def __init__(
        self,
        credentials: Credentials,
        token_url: str = LWA_TOKEN_URL,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        retry_quota: RetryQuota | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        time_scale: float = 1.0,
    ):
        _allow_loopback_http(token_url)
        self._time_scale = time_scale  # a sandbox whose clock runs faster: lifetimes shrink
        self.credentials = credentials
        self.token_url = token_url
        self._session = session or requests.Session()
        self._retry = retry or RetryPolicy(max_attempts=5, budget_seconds=60)
        self._retry_quota = retry_quota or RetryQuota()
        self._timeout = timeout
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.grants_issued = 0

    def __repr__(self) -> str:
        return f"LwaAuth(client_id={self.credentials.client_id!r}, token_url={self.token_url!r})"

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def access_token(self, scope: str | None = None) -> str:
        """A valid access token: the seller's, or a grantless one when ``scope`` is given."""
        key = scope or "refresh_token"
        cached = self._tokens.get(key)
        if cached and self._clock() < cached.refresh_at:
            return cached.value
        with self._lock_for(key):
            cached = self._tokens.get(key)  # another thread may have refreshed meanwhile
            if cached and self._clock() < cached.refresh_at:
                return cached.value
            token = self._fetch(scope)
            self._tokens[key] = token
            return token.value

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` (SP-API said it expired) if it is still the one cached; the next
        call fetches a new one. True if it was dropped.

        Checked under the grant's refresh lock: when several threads report the same dead token,
        the first drops it and the others find its successor (or wait for the refresh in flight)
        and leave it alone, so one death costs one grant however many threads saw it.
        """
        dropped = False
        for key in list(self._tokens):
            with self._lock_for(key):
                cached = self._tokens.get(key)
                if cached is not None and cached.value == token:
                    del self._tokens[key]
                    dropped = True
        return dropped

    def _fetch(self, scope: str | None) -> AccessToken:
        if scope is None and not self.credentials.refresh_token:
            raise ConfigurationError(
                f"credentials from {self.credentials.source} have no refresh token; "
                "authorize a seller (`spapi auth url`) or use grantless operations only"
            )
        started = self._clock()
        payload = self._with_retries(lambda: self._grant(scope))
        lifetime = float(payload.get("expires_in") or 3600) / self._time_scale
        self.grants_issued += 1
        log.debug("LWA issued a %s token valid for %.0fs", scope or "seller", lifetime)
        return AccessToken(
            value=payload["access_token"],
            expires_at=started + lifetime,
            refresh_at=started + lifetime - refresh_margin(lifetime),
        )

    def _grant(self, scope: str | None) -> dict[str, Any]:
        creds = self.credentials
        secret = creds.client_secret.reveal()
        if scope is not None:
            oauth = OAuth2Session(client=BackendApplicationClient(client_id=creds.client_id))
            oauth.mount("http://", self._session.get_adapter("http://"))
            oauth.mount("https://", self._session.get_adapter("https://"))
            return dict(
                oauth.fetch_token(
                    self.token_url,
                    client_secret=secret,
                    include_client_id=True,
                    scope=scope,
                    timeout=self._timeout,
                )
            )
        assert creds.refresh_token is not None
        oauth = OAuth2Session(creds.client_id, token={"token_type": "bearer", "access_token": ""})
        oauth.mount("http://", self._session.get_adapter("http://"))
        oauth.mount("https://", self._session.get_adapter("https://"))
        return dict(
            oauth.refresh_token(
                self.token_url,
                refresh_token=creds.refresh_token.reveal(),
                client_id=creds.client_id,
                client_secret=secret,
                timeout=self._timeout,
            )
        )

    def exchange_code(self, code: str, redirect_uri: str | None = None) -> str:
        """Trade a website-authorization ``spapi_oauth_code`` for a refresh token (do it at once:
        the code expires after about five minutes)."""
        creds = self.credentials
        oauth = OAuth2Session(
            client=WebApplicationClient(creds.client_id), redirect_uri=redirect_uri
        )
        payload = self._with_retries(
            lambda: dict(
                oauth.fetch_token(
                    self.token_url,
                    code=code,
                    client_secret=creds.client_secret.reveal(),
                    include_client_id=True,
                    timeout=self._timeout,
                )
            )
        )
        refresh = payload.get("refresh_token")
        if not refresh:
            raise LwaError("LWA answered the authorization code without a refresh token")
        return str(refresh)

    def _with_retries(self, grant: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run one grant; retry transport errors and 5xx/429, never a refused grant."""
        spent, quota_spent = 0.0, 0
        for attempt in range(1, self._retry.max_attempts + 1):
            status: int | None = None
            try:
                answer = grant()
                self._retry_quota.release(quota_spent)
                return answer
            except InvalidGrantError:
                raise ReauthorizationRequired(
                    f"LWA refused the refresh token from {self.credentials.source} "
                    "(invalid_grant): it was revoked, mistyped or is older than 365 days. "
                    "Have the seller authorize the application again (`spapi auth url`).",
                    error="invalid_grant",
                    status=400,
                ) from None
            except InvalidClientError:
                raise InvalidClient(
                    f"LWA refused client id {self.credentials.client_id!r} from "
                    f"{self.credentials.source} (invalid_client): the client secret is wrong or "
                    "was rotated (LWA secrets rotate every 180 days). Put the current secret in "
                    "your credentials.",
                    error="invalid_client",
                    status=401,
                ) from None
            except OAuth2Error as exc:
                status = getattr(exc, "status_code", None)
                if status is not None and status < 500 and status != 429:
                    raise LwaError(
                        f"LWA refused the token request: {exc.error}",
                        error=exc.error,
                        status=status,
                    ) from None
                failure = f"LWA answered {exc.error}"
                status = status or 500
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure = f"cannot reach LWA at {self.token_url}: {type(exc).__name__}"
            except ValueError as exc:  # a body that is not a token answer (e.g. an HTML 5xx page)
                failure = f"LWA answered something that is not a token: {type(exc).__name__}"
                status = 500
            wait = self._retry.backoff(attempt)
            if attempt == self._retry.max_attempts or spent + wait > self._retry.budget_seconds:
                raise LwaError(f"{failure}; gave up after {attempt} attempts")
            cost = self._retry_quota.acquire(status)
            if cost is None:
                raise LwaError(f"{failure}; the client's retry budget is spent")
            quota_spent += cost
            log.warning("%s; retrying in %.1fs", failure, wait)
            time.sleep(wait)
            spent += wait
        raise AssertionError("unreachable")


def credential_warnings(
    credentials: Credentials, today: date, warn_within: timedelta = timedelta(days=30)
) -> list[str]:
    """Say when the refresh token nears its 365-day re-authorization or the client secret its
    180-day rotation (from the dates recorded when they were stored)."""
    warnings = []
    checks = (
        (credentials.refresh_token_stored_at, REFRESH_TOKEN_LIFETIME, "refresh token",
         "have the seller re-authorize the application (`spapi auth url`)"),
        (credentials.client_secret_stored_at, CLIENT_SECRET_LIFETIME, "LWA client secret",
         "rotate it in Seller Central / the Developer Console and store the new one"),
    )  # fmt: skip
    for stored_at, lifetime, what, action in checks:
        if stored_at is None:
            continue
        due = stored_at + lifetime
        left = (due - today).days
        if left < 0:
            warnings.append(f"the {what} expired on {due} ({-left} days ago): {action}")
        elif left <= warn_within.days:
            warnings.append(f"the {what} expires on {due} (in {left} days): {action}")
    return warnings
