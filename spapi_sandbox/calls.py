"""The calling convention shared by every operation handler of the sandbox.

The server checks a request (route, token, rate limit, parameters) and hands the handler a
``Call``: the operation, its already-validated arguments, the caller's grant and the sandbox
time. Handlers answer with ``Response`` objects; ``invalid_input`` and ``not_found`` build the
two errors they need most, in SP-API's shape. ``state_token`` and ``read_state`` carry a
paginated listing's query from one page to the next in its opaque next-page token.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from spapi_sandbox.http import Response, sp_api_error
from spapi_sandbox.lwa import Grant
from spapi_sandbox.seller import SimulatedSeller
from spapi_toolkit.api.models import Operation

T = TypeVar("T")


@dataclass
class Call:
    operation: Operation
    path: dict[str, str]
    query: dict[str, list[str]]  # array parameters already split on commas
    body: Any
    grant: Grant
    now: float  # sandbox clock, epoch seconds
    base_url: str  # the server's own bound address, for URLs we hand out
    selling_partner: SimulatedSeller | None = None  # whom the grant speaks for; None: grantless
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def seller(self) -> SimulatedSeller:
        """The seller the grant speaks for (asked only by operations that are not grantless)."""
        if self.selling_partner is None:
            raise LookupError(f"{self.operation.qualified_name} was called without a seller")
        return self.selling_partner

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


def state_token(state: dict[str, Any]) -> str:
    """An opaque next-page token that carries a listing's query ``state``."""
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()


def read_state(token: str) -> dict[str, Any] | None:
    """The state ``state_token`` put in ``token``; None for a token it did not make."""
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        return None
    return state if isinstance(state, dict) else None


def page_of(items: list[T], state: dict[str, Any]) -> tuple[list[T], str | None]:
    """The page of ``items`` a listing's ``state`` (its ``offset`` and ``size``) points at, and
    the token of the next page (None on the last)."""
    offset, size = state["offset"], state["size"]
    if offset + size < len(items):
        return items[offset : offset + size], state_token({**state, "offset": offset + size})
    return items[offset : offset + size], None
