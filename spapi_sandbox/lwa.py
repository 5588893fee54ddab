"""Login with Amazon as the sandbox plays it: the token endpoint, the consent page, token checks.

Amazon's LWA (``POST https://api.amazon.com/auth/o2/token``) swaps a refresh token, client
credentials or an authorization code for an access token that lives an hour; SP-API then reads
it from the ``x-amz-access-token`` header. The answers here copy LWA's and SP-API's: OAuth error
bodies (``invalid_grant``, ``invalid_client``) on the token endpoint, and 403 ``Unauthorized``
(not 401) for expired or unknown tokens on SP-API calls, whose message is always "Access to
requested resource is denied." (an expired token says so in ``details``). Lifetimes are
counted on the sandbox clock, so a time scale of 60 makes a token expire after one real minute.

Restricted Data Tokens (from the Tokens API) are access tokens too, but each opens only the
method and paths it was made for; restricted operations (the ones returning personal data)
accept nothing else.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode

from spapi_sandbox.http import Request, Response, sp_api_error

NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"
GRANTLESS_SCOPES = frozenset({NOTIFICATIONS_SCOPE, "sellingpartnerapi::client_credential:rotation"})
EXPIRED_MESSAGE = "The access token you provided has expired."
DENIED_MESSAGE = "Access to requested resource is denied."
RDT_SCOPE = "rdt"  # the scope the sandbox records for Restricted Data Tokens


def _segments(path: str) -> list[str]:
    return unquote(path).strip("/").split("/")


def path_covers(resource: str, path: str) -> bool:
    """Whether an RDT's resource path covers a request path: equal segments, where a
    ``{placeholder}`` segment (a generic path, e.g. ``/mfn/v0/shipments/{shipmentId}``)
    stands for any one segment."""
    wanted, actual = _segments(resource), _segments(path)
    if len(wanted) != len(actual):
        return False
    placeholder = [w.startswith("{") and w.endswith("}") for w in wanted]
    return all(w == a or p for w, a, p in zip(wanted, actual, placeholder, strict=True))


@dataclass(frozen=True)
class Grant:
    """Who an access token speaks for: an application, and a seller unless it is grantless."""

    client_id: str
    seller_id: str | None  # None for client_credentials (grantless) tokens
    scope: str | None
    expires_at: float  # sandbox clock, epoch seconds
    resources: tuple[tuple[str, str], ...] = ()  # a Restricted Data Token's (method, path)s

    @property
    def caller(self) -> str:
        """The key rate limits are metered on: application and selling partner."""
        return f"{self.client_id}/{self.seller_id or 'grantless'}"

    @property
    def restricted_data_token(self) -> bool:
        return self.scope == RDT_SCOPE

    def covers(self, method: str, path: str) -> bool:
        """Whether this Restricted Data Token was made for ``method`` ``path``."""
        return any(m == method and path_covers(p, path) for m, p in self.resources)


class AuthError(Exception):
    """A request's token is refused; ``response`` is the SP-API answer to send."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


class LoginWithAmazon:
    """The sandbox's LWA: one application (client id/secret) and the sellers that authorized it."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        application_id: str,
        refresh_tokens: dict[str, str],  # refresh token -> seller id
        now: Callable[[], float],
        token_lifetime: float = 3600.0,
        code_lifetime: float = 300.0,
        secret: bytes = b"sandbox",
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.application_id = application_id
        self.token_lifetime = token_lifetime
        self.code_lifetime = code_lifetime
        self._now = now
        self._secret = secret
        self._refresh_tokens = dict(refresh_tokens)
        self._revoked: set[str] = set()
        self._codes: dict[str, tuple[str, float]] = {}  # code -> (seller id, expires at)
        self._access: dict[str, Grant] = {}
        self._counter = 0
        self._lock = threading.Lock()
        self.issued = 0

    # ---- administration (tests, CLI) ------------------------------------------------------

    def revoke(self, refresh_token: str) -> None:
        """The seller removed the app: the refresh token now gets ``invalid_grant``."""
        self._revoked.add(refresh_token)

    def expire_all(self) -> None:
        """Make every issued access token expired now (to test refreshing)."""
        with self._lock:
            self._access = {
                token: dataclasses.replace(g, expires_at=self._now() - 1)
                for token, g in self._access.items()
            }

    # ---- the token endpoint -----------------------------------------------------------------

    def _new_secret(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            digest = hashlib.sha256(self._secret + f"{prefix}{self._counter}".encode()).digest()
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _client_credentials(self, request: Request, form: dict[str, str]) -> tuple[str, str]:
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode("utf-8", "replace")
            client_id, _, client_secret = decoded.partition(":")
            return client_id, client_secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def token(self, request: Request) -> Response:
        """``POST /auth/o2/token``: form-encoded, as LWA expects (a JSON body is tolerated)."""
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", "The token endpoint accepts POST only.")
        content_type = request.headers.get("content-type", "")
        try:
            form = (
                {k: str(v) for k, v in (request.json() or {}).items()}
                if "json" in content_type
                else {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
            )
        except (ValueError, AttributeError):
            return _oauth_error(400, "invalid_request", "The request body could not be parsed.")
        grant_type = form.get("grant_type", "")
        client_id, client_secret = self._client_credentials(request, form)
        if not grant_type:
            return _oauth_error(400, "invalid_request", "The request is missing grant_type.")
        if client_id != self.client_id or client_secret != self.client_secret:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        if grant_type == "refresh_token":
            refresh_token = form.get("refresh_token", "")
            seller_id = self._refresh_tokens.get(refresh_token)
            if seller_id is None or refresh_token in self._revoked:
                return _oauth_error(
                    400,
                    "invalid_grant",
                    "The request has an invalid grant parameter : refresh_token",
                )
            # LWA's refresh answer repeats the refresh token (it does not rotate it).
            return self._issue(seller_id, scope=None, refresh_token=refresh_token)
        if grant_type == "client_credentials":
            scope = form.get("scope", "")
            if scope not in GRANTLESS_SCOPES:
                return _oauth_error(400, "invalid_scope", "An unknown scope was requested")
            return self._issue(None, scope=scope)
        if grant_type == "authorization_code":
            code = form.get("code", "")
            with self._lock:
                seller_id, expires_at = self._codes.pop(code, ("", 0.0))
            if not seller_id or expires_at <= self._now():
                return _oauth_error(
                    400, "invalid_grant", "The request has an invalid grant parameter : code"
                )
            refresh_token = self._new_secret("Atzr|")
            self._refresh_tokens[refresh_token] = seller_id
            return self._issue(seller_id, scope=None, refresh_token=refresh_token)
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type}")

    def _issue(self, seller_id: str | None, scope: str | None, refresh_token: str = "") -> Response:
        token = self._new_secret("Atza|")
        grant = Grant(self.client_id, seller_id, scope, self._now() + self.token_lifetime)
        with self._lock:
            self._access[token] = grant
            self.issued += 1
        body: dict[str, object] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(self.token_lifetime),
        }
        if refresh_token:
            body["refresh_token"] = refresh_token
        return Response.json(200, body)

    def issue_restricted(
        self, grant: Grant, lifetime: float, resources: Iterable[tuple[str, str]]
    ) -> str:
        """A Restricted Data Token for the same seller, good for ``resources`` (method, path)
        only, for ``lifetime`` sandbox seconds."""
        token = self._new_secret("Atz.sprdt|")
        with self._lock:
            self._access[token] = Grant(
                grant.client_id,
                grant.seller_id,
                RDT_SCOPE,
                self._now() + lifetime,
                tuple((method.upper(), path) for method, path in resources),
            )
        return token

    # ---- the website authorization workflow -------------------------------------------------

    def consent(self, request: Request) -> Response:
        """``GET /apps/authorize/consent``: the seller clicks "Confirm" at once.

        Redirects to ``redirect_uri`` with ``spapi_oauth_code``, ``state`` and
        ``selling_partner_id``; the code is good for ``code_lifetime`` sandbox seconds.
        """
        query = {k: v[-1] for k, v in request.query.items()}
        missing = [n for n in ("application_id", "state", "redirect_uri") if not query.get(n)]
        if missing:
            return Response(400, f"Missing parameter(s): {', '.join(missing)}".encode())
        if query["application_id"] != self.application_id:
            return Response(400, b"Unknown application_id")
        seller_id = next(iter(self._refresh_tokens.values()))
        code = self._new_secret("ANsp")[:24]
        with self._lock:
            self._codes[code] = (seller_id, self._now() + self.code_lifetime)
        params = urlencode(
            {"spapi_oauth_code": code, "state": query["state"], "selling_partner_id": seller_id}
        )
        separator = "&" if "?" in query["redirect_uri"] else "?"
        return Response(302, b"", {"Location": f"{query['redirect_uri']}{separator}{params}"})

    # ---- checking SP-API calls ----------------------------------------------------------------

    def authorize(
        self,
        request: Request,
        grantless: bool,
        force_expired: bool = False,
        restricted: bool = False,
    ) -> Grant:
        """The grant behind the request's ``x-amz-access-token``; raises ``AuthError`` if none.

        Grantless operations take client-credentials tokens (and seller tokens, as Amazon
        does); every other operation needs a token derived from a seller's refresh token.
        A Restricted Data Token opens only the method and paths it was made for, and a
        ``restricted`` operation opens to nothing else.
        """
        token = request.headers.get("x-amz-access-token", "")
        with self._lock:
            grant = self._access.get(token)
        if grant is None:
            raise AuthError(sp_api_error(403, "Unauthorized", DENIED_MESSAGE))
        if force_expired or grant.expires_at <= self._now():
            # SP-API's message stays the generic one; the reason is in ``details``.
            raise AuthError(sp_api_error(403, "Unauthorized", DENIED_MESSAGE, EXPIRED_MESSAGE))
        if grant.seller_id is None and not grantless:
            raise AuthError(sp_api_error(403, "Unauthorized", DENIED_MESSAGE))
        if grant.restricted_data_token:
            allowed = grant.covers(request.method, request.path)
        else:
            allowed = not restricted
        if not allowed:
            raise AuthError(sp_api_error(403, "Unauthorized", DENIED_MESSAGE))
        return grant
