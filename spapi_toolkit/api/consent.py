"""The website authorization workflow: a seller authorizes the application in Seller Central.

1. ``consent_url`` builds the Seller Central consent link with a signed, expiring ``state``
   (``version=beta`` while the application is a draft).
2. Amazon redirects back with ``spapi_oauth_code``, ``state`` and ``selling_partner_id``;
   ``verify_state`` checks the state was ours and is fresh (against cross-site request forgery).
3. ``LwaAuth.exchange_code`` trades the code for a refresh token at once (codes live ~5 minutes),
   and the caller stores it (``credentials.save_profile`` or ``save_secret``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from spapi_toolkit.clock import SYSTEM_CLOCK
from spapi_toolkit.errors import ConfigurationError

DEFAULT_SELLER_CENTRAL = "https://sellercentral.amazon.com"
STATE_MAX_AGE_SECONDS = 600


def _sign(payload: str, key: str) -> str:
    digest = hmac.new(key.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def make_state(key: str, now: float | None = None) -> str:
    """A random, timestamped state value signed with ``key`` (keep the key server-side)."""
    issued = int(now if now is not None else SYSTEM_CLOCK.now().timestamp())
    payload = f"{issued}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_sign(payload, key)}"


def verify_state(
    state: str, key: str, *, max_age: float = STATE_MAX_AGE_SECONDS, now: float | None = None
) -> None:
    """Raise ConfigurationError unless ``state`` was signed with ``key`` within ``max_age``."""
    try:
        issued, nonce, signature = state.split(".")
        issued_at = int(issued)
    except ValueError:
        raise ConfigurationError(
            "the state parameter is malformed: not one this tool issued"
        ) from None
    if not hmac.compare_digest(signature, _sign(f"{issued}.{nonce}", key)):
        raise ConfigurationError("the state parameter's signature does not match: refusing it")
    age = (now if now is not None else SYSTEM_CLOCK.now().timestamp()) - issued_at
    if age > max_age or age < -60:
        raise ConfigurationError(
            f"the state parameter is {age:.0f}s old (limit {max_age:.0f}s): start again with "
            "`spapi auth url`"
        )


def consent_url(
    application_id: str,
    state: str,
    *,
    seller_central: str = DEFAULT_SELLER_CENTRAL,
    redirect_uri: str | None = None,
    draft: bool = True,
) -> str:
    """The Seller Central link that asks a seller to authorize ``application_id``."""
    if not application_id.startswith("amzn1."):
        raise ConfigurationError(
            f"{application_id!r} is not an SP-API application id (amzn1.sp.solution.…)"
        )
    query = {"application_id": application_id, "state": state}
    if draft:
        query["version"] = "beta"
    if redirect_uri:
        query["redirect_uri"] = redirect_uri
    return f"{seller_central.rstrip('/')}/apps/authorize/consent?{urlencode(query)}"
