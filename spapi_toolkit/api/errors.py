"""The exceptions of the SP-API client and Login with Amazon.

Every SP-API failure is an ``SpApiError`` carrying what a person needs to act on it: HTTP
status, SP-API error code and message, the operation and Amazon's ``x-amzn-RequestId`` (quote it
to Amazon support). None of them ever carries a token or secret. The shared base classes are
re-exported so API code imports its errors from one place.
"""

from __future__ import annotations

from spapi_toolkit.errors import ConfigurationError, SpApiToolkitError

__all__ = [
    "ClientError",
    "ConfigurationError",
    "InvalidClient",
    "InvalidInputError",
    "LwaError",
    "NotFoundError",
    "ReauthorizationRequired",
    "RequestValidationError",
    "ServerError",
    "SpApiError",
    "SpApiToolkitError",
    "ThrottledError",
    "TransportError",
    "UnauthorizedError",
    "error_for_status",
]


class LwaError(SpApiToolkitError):
    """Login with Amazon refused to issue a token."""

    def __init__(self, message: str, error: str = "", status: int | None = None):
        super().__init__(message)
        self.error = error
        self.status = status


class ReauthorizationRequired(LwaError):
    """``invalid_grant``: the refresh token is unknown, revoked or older than 365 days."""


class InvalidClient(LwaError):
    """``invalid_client``: the LWA client id or secret is wrong (secrets rotate every 180 days)."""


class SpApiError(SpApiToolkitError):
    """An SP-API call failed for good (after any retries its policy allowed)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        operation: str = "",
        request_id: str = "",
        details: str = "",
        attempts: int = 1,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.operation = operation
        self.request_id = request_id
        self.details = details
        self.attempts = attempts
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"{self.operation or 'SP-API call'} failed"]
        if self.status is not None:
            parts.append(f"with HTTP {self.status}")
        if self.code:
            parts.append(f"{self.code}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.details:
            text += f" ({self.details})"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        if self.request_id:
            text += f" [x-amzn-RequestId {self.request_id}]"
        return text


class ClientError(SpApiError):
    """A 4xx answer other than throttling: the request itself is wrong; retrying will not help."""


class InvalidInputError(ClientError):
    """400: a parameter is missing or malformed."""


class NotFoundError(ClientError):
    """404: the resource (report, order, item...) does not exist."""


class UnauthorizedError(ClientError):
    """403: the token is not accepted (missing role, revoked authorization, or still expired)."""


class ThrottledError(SpApiError):
    """429: the rate limit was still exceeded when the retry budget ran out."""


class ServerError(SpApiError):
    """5xx: Amazon's side failed every attempt within the retry budget."""


class TransportError(SpApiError):
    """The connection failed (reset, refused, timed out) every attempt within the budget."""


class RequestValidationError(SpApiToolkitError, ValueError):
    """The parameters given to ``client.call`` do not fit the operation's model."""


def error_for_status(status: int) -> type[SpApiError]:
    """The exception class for a final answer with ``status``."""
    if status == 429:
        return ThrottledError
    if status >= 500:
        return ServerError
    return {400: InvalidInputError, 403: UnauthorizedError, 404: NotFoundError}.get(
        status, ClientError
    )
