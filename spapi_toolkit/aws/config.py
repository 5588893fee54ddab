"""What a Lambda handler knows of its deployment: read from its environment and from SSM.

The CloudFormation template (``infra/template.yaml``) sets, on every function:

``SPAPI_LAKE``
    The lake, usually zoned: ``s3://RAW,cleaned=s3://CLEANED,aggregated=s3://AGGREGATED``
    (``storage.ZonedLake``): the same URI ``spapi ingest --lake`` takes.
``SPAPI_KMS_KEY_ID``
    The KMS key of every object written.
``SPAPI_SECRET_PREFIX``
    Secrets Manager names of the sellers' LWA credentials: ``<prefix><profile>``, one secret
    per seller profile, holding the JSON ``credentials.load_secret`` reads (``client_id``,
    ``client_secret``, ``refresh_token``, ``selling_partner_id``, ``region``).
``SPAPI_PARAMETER_PREFIX``
    SSM parameters (``<prefix>profiles``, ``marketplaces``, ``datasets``, ``lookback-days``):
    what a scheduled run ingests unless its input says otherwise.

Anything else ``SpApiClient.from_env`` reads (``SPAPI_ENDPOINT``, ``SPAPI_TIME_SCALE``, ...)
passes through, which is how the tests point the handlers at the local sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.errors import ConfigurationError
from spapi_toolkit.lake.storage import Lake

DEFAULT_PARAMETERS = {"datasets": "all", "lookback-days": "7"}


@dataclass(frozen=True)
class Deployment:
    """The settings of one deployment (see the module doc)."""

    lake_uri: str
    kms_key_id: str | None
    secret_prefix: str
    parameter_prefix: str
    env: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Deployment:
        """The deployment named by ``env`` (default ``os.environ``); missing settings are named."""
        env = dict(os.environ if env is None else env)
        missing = [n for n in ("SPAPI_LAKE", "SPAPI_SECRET_PREFIX") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"the function's environment lacks {', '.join(missing)}")
        return cls(
            lake_uri=env["SPAPI_LAKE"],
            kms_key_id=env.get("SPAPI_KMS_KEY_ID") or None,
            secret_prefix=env["SPAPI_SECRET_PREFIX"],
            parameter_prefix=env.get("SPAPI_PARAMETER_PREFIX", ""),
            env=env,
        )

    def lake(self) -> Lake:
        """The lake, every S3 write under the deployment's KMS key."""
        return Lake.from_uri(self.lake_uri, kms_key_id=self.kms_key_id)

    def secret_id(self, profile: str) -> str:
        """The Secrets Manager secret of a seller profile."""
        return f"{self.secret_prefix}{profile}"

    def client(self, profile: str) -> SpApiClient:
        """An SP-API client with the profile's credentials from Secrets Manager. Explicit
        credentials in the environment are ignored: the secret is the one source."""
        env = {k: v for k, v in self.env.items() if not k.startswith(_CREDENTIAL_VARIABLES)}
        env["SPAPI_SECRET_ID"] = self.secret_id(profile)
        return SpApiClient.from_env(env=env)

    def parameter(self, name: str) -> str:
        """An SSM parameter of the deployment (``<prefix><name>``), else its default."""
        if not self.parameter_prefix:
            return _default(name)
        ssm = _ssm()
        try:
            return str(ssm.get_parameter(Name=self.parameter_prefix + name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return _default(name)


_CREDENTIAL_VARIABLES = (
    "SPAPI_CLIENT_ID",
    "SPAPI_CLIENT_SECRET",
    "SPAPI_REFRESH_TOKEN",
    "SPAPI_SELLING_PARTNER_ID",
    "SPAPI_PROFILE",
)


def _default(name: str) -> str:
    if name not in DEFAULT_PARAMETERS:
        raise ConfigurationError(f"SSM parameter {name!r} is not set and has no default")
    return DEFAULT_PARAMETERS[name]


def _ssm() -> Any:
    import boto3

    return boto3.client("ssm")


def split(text: str) -> list[str]:
    """A comma-separated parameter value as a list, blanks dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]
