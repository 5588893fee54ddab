"""The calling convention shared by every operation handler of the sandbox.

The server checks a request (route, token, rate limit, parameters) and hands the handler a
``Call``: the operation, its already-validated arguments, the caller's grant and the sandbox
time. Handlers answer with ``Response`` objects; ``invalid_input`` and ``not_found`` build the
two errors they need most, in SP-API's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..models import Operation
from .http import Response, sp_api_error
from .lwa import Grant


@dataclass
class Call:
    operation: Operation
    path: dict[str, str]
    query: dict[str, list[str]]  # array parameters already split on commas
    body: Any
    grant: Grant
    now: float  # sandbox clock, epoch seconds
    base_url: str  # how the caller reached us, for URLs we hand out
    seller: Any = None  # the SimulatedSeller the grant speaks for (None when grantless)
    extras: dict[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """One path or query value."""
        if name in self.path:
            return self.path[name]
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """Every value of an array query parameter (comma-separated or repeated)."""
        return list(self.query.get(name, []))


def invalid_input(message: str, details: str = "") -> Response:
    return sp_api_error(400, "InvalidInput", message, details)


def not_found(message: str) -> Response:
    return sp_api_error(404, "NotFound", message)


def iso(epoch: float, zulu: bool = True) -> str:
    """``2024-05-01T12:00:00Z`` (or ``+00:00`` as the Reports API writes it)."""
    text = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + ("Z" if zulu else "+00:00")


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime; ValueError if malformed."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
