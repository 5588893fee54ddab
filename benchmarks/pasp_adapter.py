"""Adapter that points python-amazon-sp-api (import name ``sp_api``) at a local server.

Mechanism (no monkeypatching of the library, only its public constructor hooks):

* SP-API endpoint: ``Client.__init__(marketplace=...)`` only reads
  ``.endpoint`` / ``.marketplace_id`` / ``.region`` from the object it is given
  (sp_api/base/client.py:49-51), so a duck-typed object works and the Marketplaces
  enum is never validated.  URLs are built as ``endpoint + path``
  (sp_api/base/_core.py:74), so ``http://127.0.0.1:PORT`` is fine.
  We also re-assign the three attributes after construction because
  ``SP_API_DEFAULT_MARKETPLACE`` in the environment silently replaces the
  ``marketplace`` argument (client.py:41-42).
* LWA token URL: ``AccessTokenClient`` builds ``self.scheme + self.host + self.path``
  from class attributes (sp_api/auth/access_token_client.py:26-28,58), and
  ``Client`` accepts ``auth_token_client_class=`` (client.py:39,53), so we pass a
  subclass with scheme/host/path taken from ``lwa_endpoint``.
* Credentials: ``credentials=dict(...)`` together with
  ``credential_providers=(FromCodeCredentialProvider,)`` so nothing is read from
  env vars, ~/.config/python-sp-api/credentials.yml or AWS Secrets Manager.
* Host header: the library hard-codes ``"host": self.endpoint[8:]``
  (client.py:72), which assumes ``https://``; for ``http://127.0.0.1:PORT`` that
  yields ``27.0.0.1:PORT``.  With ``fix_host_header=True`` (default) the instance
  is switched to a tiny subclass whose ``headers`` property sets the real netloc.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sp_api.auth import AccessTokenClient
from sp_api.auth import access_token_client as _atc
from sp_api.base.client import Client
from sp_api.base.credential_provider import FromCodeCredentialProvider

__all__ = ["LocalMarketplace", "make_client", "reset_token_cache"]


class LocalMarketplace:
    """Duck-typed stand-in for a ``sp_api.base.Marketplaces`` member."""

    def __init__(self, endpoint: str, marketplace_id: str, region: str = "us-east-1"):
        self.endpoint = endpoint.rstrip("/")
        self.marketplace_id = marketplace_id
        self.region = region
        self.name = "LOCAL"

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"LocalMarketplace({self.endpoint!r}, {self.marketplace_id!r})"


_lwa_classes: dict[str, type] = {}
_host_fixed_classes: dict[type, type] = {}


def _lwa_client_class(lwa_endpoint: str) -> type:
    cls = _lwa_classes.get(lwa_endpoint)
    if cls is None:
        parts = urlsplit(lwa_endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"lwa_endpoint must be an absolute http(s) URL: {lwa_endpoint!r}")
        cls = type(
            "LocalAccessTokenClient",
            (AccessTokenClient,),
            {
                "scheme": parts.scheme + "://",
                "host": parts.netloc,
                "path": parts.path or "/auth/o2/token",
            },
        )
        _lwa_classes[lwa_endpoint] = cls
    return cls


def _with_real_host_header(cls: type) -> type:
    fixed = _host_fixed_classes.get(cls)
    if fixed is None:

        def headers(self):
            h = Client.headers.fget(self)
            h["host"] = urlsplit(self.endpoint).netloc
            return h

        fixed = type(cls.__name__, (cls,), {"headers": property(headers)})
        _host_fixed_classes[cls] = fixed
    return fixed


def reset_token_cache() -> None:
    """Clear the library's process-global LWA token caches.

    sp_api caches tokens in a module-level ``TTLCache`` keyed only by
    md5(refresh_token) (access_token_client.py:19-20,54-60), shared by *all*
    clients regardless of LWA endpoint, TTL 3200 s.  Call this between benchmark
    runs if each run should fetch its own token.
    """
    _atc.cache.clear()
    _atc.grantless_cache.clear()


def make_client(
    api_class,
    *,
    endpoint: str,
    lwa_endpoint: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    marketplace_id: str = "ATVPDKIKX0DER",
    fix_host_header: bool = True,
    **kwargs,
):
    """Return an instance of python-amazon-sp-api `api_class` (e.g. sp_api.api.CatalogItems,
    sp_api.api.ReportsV2) whose SP-API calls go to `endpoint` and whose LWA token requests
    go to `lwa_endpoint` (a full URL like http://127.0.0.1:1234/auth/o2/token).

    Extra ``kwargs`` are forwarded to the constructor (``timeout``, ``version``, ...).
    For the version-dispatching ``sp_api.api.CatalogItems`` front class the default
    version is 2020-12-01; we default it to ``"2022-04-01"`` unless ``version`` is given.
    """
    from sp_api.api import CatalogItems  # local import: sp_api.api is large

    if api_class is CatalogItems:
        kwargs.setdefault("version", "2022-04-01")

    marketplace = LocalMarketplace(endpoint, marketplace_id)
    client = api_class(
        marketplace,
        refresh_token=refresh_token,
        credentials={
            "refresh_token": refresh_token,
            "lwa_app_id": client_id,
            "lwa_client_secret": client_secret,
        },
        credential_providers=(FromCodeCredentialProvider,),
        auth_token_client_class=_lwa_client_class(lwa_endpoint),
        **kwargs,
    )
    # SP_API_DEFAULT_MARKETPLACE (env) overrides the marketplace argument; undo that.
    client.endpoint = marketplace.endpoint
    client.marketplace_id = marketplace.marketplace_id
    client.region = marketplace.region
    if fix_host_header:
        client.__class__ = _with_real_host_header(type(client))
    return client
