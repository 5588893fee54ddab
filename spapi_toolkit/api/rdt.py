"""Restricted Data Tokens (Tokens API): the token that operations returning personal data need.

``RestrictedTokens`` asks ``createRestrictedDataToken`` for a token covering one method, path and
set of data elements, and reuses it until shortly before it expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from spapi_toolkit.api.auth import refresh_margin
from spapi_toolkit.api.client import prepare_call
from spapi_toolkit.api.models import find_operation

if TYPE_CHECKING:
    from spapi_toolkit.api.client import SpApiClient


class RestrictedTokens:
    """Cached Restricted Data Tokens for one client."""

    def __init__(self, client: SpApiClient, clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._clock = clock
        self._cache: dict[tuple[str, str, tuple[str, ...]], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, method: str, path: str, data_elements: Sequence[str] = ()) -> str:
        """An RDT for ``method`` ``path`` (a concrete path, e.g. /orders/v0/orders/123/address)."""
        key = (method.upper(), path, tuple(sorted(data_elements)))
        with self._lock:
            cached = self._cache.get(key)
            if cached and self._clock() < cached[1]:
                return cached[0]
            resource: dict[str, Any] = {"method": key[0], "path": path}
            if data_elements:
                resource["dataElements"] = list(key[2])
            started = self._clock()
            answer = self._client.call(
                "createRestrictedDataToken", body={"restrictedResources": [resource]}
            )
            lifetime = float(answer.get("expiresIn") or 3600)
            self._cache[key] = (
                answer["restrictedDataToken"],
                started + lifetime - refresh_margin(lifetime),
            )
            return answer["restrictedDataToken"]

    def call(self, operation: str, data_elements: Sequence[str] = (), /, **params: Any) -> Any:
        """Call a restricted ``operation`` with an RDT made for exactly this request's path."""
        prepared = prepare_call(find_operation(operation), params)
        token = self.token(prepared.operation.method, prepared.path, data_elements)
        return self._client.send(prepared, access_token=token)
