"""Where LWA credentials come from, and where refreshed ones are stored.

Sources, first match wins:

1. explicit arguments (``client_id``, ``client_secret``, ``refresh_token``);
2. an explicitly named profile or Secrets Manager secret;
3. the environment: ``SPAPI_CLIENT_ID``, ``SPAPI_CLIENT_SECRET``, ``SPAPI_REFRESH_TOKEN``;
4. the profile file (``~/.config/spapi/credentials``, or ``SPAPI_CREDENTIALS_FILE``), profile
   ``SPAPI_PROFILE`` or ``default``: one INI section per seller, like ``~/.aws/credentials``;
5. AWS Secrets Manager, secret ``SPAPI_SECRET_ID`` (a JSON object with the same keys).

Secrets are wrapped in ``Secret`` so that no repr, log line or exception can show them.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

from spapi_toolkit.errors import ConfigurationError

DEFAULT_PROFILE = "default"
_SECRET_FIELDS = ("client_secret", "refresh_token")
_DATE_FIELDS = ("refresh_token_stored_at", "client_secret_stored_at")


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` print ``'****'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def fingerprint(self) -> str:
        """A short, non-reversible id of the secret, for cache and bucket keys."""
        return hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:12]

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Credentials:
    """One application's LWA credentials, optionally with one seller's refresh token."""

    client_id: str
    client_secret: Secret
    refresh_token: Secret | None = None
    selling_partner_id: str | None = None
    application_id: str | None = None  # amzn1.sp.solution..., for the consent URL
    region: str | None = None
    refresh_token_stored_at: date | None = None
    client_secret_stored_at: date | None = None
    source: str = "arguments"

    @property
    def partner_key(self) -> str:
        """Who the rate limits are metered for: the seller id, else the refresh token's id."""
        if self.selling_partner_id:
            return self.selling_partner_id
        return self.refresh_token.fingerprint() if self.refresh_token else "grantless"

    def to_mapping(self) -> dict[str, str]:
        """The plain key/value form stored in a profile section or a secret (reveals secrets)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "source" or value is None:
                continue
            out[f.name] = value.reveal() if isinstance(value, Secret) else str(value)
        return out

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str) -> Credentials:
        """Build from a profile section, a secret or the environment; errors name ``source``."""
        missing = [k for k in ("client_id", "client_secret") if not values.get(k)]
        if missing:
            raise ConfigurationError(f"{source} has no {' or '.join(missing)}")
        kwargs: dict[str, Any] = {"source": source}
        known = {f.name for f in fields(cls)}
        for key, value in values.items():
            if key not in known or key == "source" or value in (None, ""):
                continue
            if key in _SECRET_FIELDS:
                kwargs[key] = Secret(str(value))
            elif key in _DATE_FIELDS:
                try:
                    kwargs[key] = date.fromisoformat(str(value))
                except ValueError:
                    raise ConfigurationError(
                        f"{source}: {key} must be a date like 2026-01-31, not {value!r}"
                    ) from None
            else:
                kwargs[key] = str(value)
        return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# The profile file
# --------------------------------------------------------------------------------------------


def profile_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("SPAPI_CREDENTIALS_FILE"):
        return Path(env["SPAPI_CREDENTIALS_FILE"]).expanduser()
    return Path("~/.config/spapi/credentials").expanduser()


def _read_profiles(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigurationError(f"cannot parse the profile file {path}: {exc}") from None
    return parser


def load_profile(name: str, path: Path | None = None) -> Credentials:
    path = path or profile_file()
    parser = _read_profiles(path)
    if not parser.has_section(name):
        known = ", ".join(parser.sections()) or "none"
        raise ConfigurationError(f"no profile [{name}] in {path} (profiles there: {known})")
    return Credentials.from_mapping(dict(parser[name]), f"profile [{name}] in {path}")


def save_profile(name: str, credentials: Credentials, path: Path | None = None) -> Path:
    """Write (or replace) one profile, keeping the others; the file is readable by you only."""
    path = path or profile_file()
    parser = _read_profiles(path)
    parser[name] = credentials.to_mapping()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        parser.write(handle)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# AWS Secrets Manager
# --------------------------------------------------------------------------------------------


def _secrets_client(region: str | None = None) -> Any:
    import boto3

    return boto3.client("secretsmanager", region_name=region or os.environ.get("AWS_REGION"))


def load_secret(secret_id: str, region: str | None = None) -> Credentials:
    """Credentials stored as a JSON object in Secrets Manager (``AWS_ENDPOINT_URL`` is honoured)."""
    from botocore.exceptions import BotoCoreError, ClientError

    source = f"Secrets Manager secret {secret_id}"
    try:
        value = _secrets_client(region).get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise ConfigurationError(f"cannot read {source}: {code}") from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"cannot read {source}: {type(exc).__name__}") from None
    try:
        values = json.loads(value)
    except ValueError:
        raise ConfigurationError(f"{source} is not a JSON object") from None
    if not isinstance(values, dict):
        raise ConfigurationError(f"{source} is not a JSON object")
    return Credentials.from_mapping(values, source)


def save_secret(
    secret_id: str,
    credentials: Credentials,
    region: str | None = None,
    kms_key_id: str | None = None,
) -> None:
    """Store credentials in Secrets Manager, creating the secret if it does not exist yet.

    ``kms_key_id`` (an id, ARN or ``alias/...``) encrypts a secret this call creates; on AWS
    the stack's raw key (``alias/<stack>-raw``), which its functions may use and analysts may
    not. Without it a new secret is under the account's ``aws/secretsmanager`` key, which any
    principal allowed to read the secret can use. An existing secret keeps its key.
    """
    client = _secrets_client(region)
    payload = json.dumps(credentials.to_mapping(), sort_keys=True)
    try:
        client.put_secret_value(SecretId=secret_id, SecretString=payload)
    except client.exceptions.ResourceNotFoundException:
        extra = {"KmsKeyId": kms_key_id} if kms_key_id else {}
        client.create_secret(Name=secret_id, SecretString=payload, **extra)


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def resolve_credentials(
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    profile: str | None = None,
    secret_id: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Find credentials in the order the module docstring gives, or say what was tried."""
    env = os.environ if env is None else env
    if client_id or client_secret:
        return Credentials.from_mapping(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "refresh_token": refresh_token,
            },
            "the arguments",
        )
    if profile:
        return load_profile(profile, profile_file(env))
    if secret_id:
        return load_secret(secret_id)
    if env.get("SPAPI_CLIENT_ID") or env.get("SPAPI_CLIENT_SECRET"):
        creds = Credentials.from_mapping(
            {
                "client_id": env.get("SPAPI_CLIENT_ID"),
                "client_secret": env.get("SPAPI_CLIENT_SECRET"),
                "refresh_token": env.get("SPAPI_REFRESH_TOKEN"),
                "selling_partner_id": env.get("SPAPI_SELLING_PARTNER_ID"),
            },
            "the environment (SPAPI_CLIENT_ID, SPAPI_CLIENT_SECRET)",
        )
        return creds
    path = profile_file(env)
    name = env.get("SPAPI_PROFILE") or DEFAULT_PROFILE
    if env.get("SPAPI_PROFILE") or _read_profiles(path).has_section(name):
        return load_profile(name, path)
    if env.get("SPAPI_SECRET_ID"):
        return load_secret(env["SPAPI_SECRET_ID"])
    raise ConfigurationError(
        "no SP-API credentials found. Tried: arguments; SPAPI_CLIENT_ID/SPAPI_CLIENT_SECRET "
        f"(and SPAPI_REFRESH_TOKEN); profile [{name}] in {path}; SPAPI_SECRET_ID. "
        "Set one of them, or run `spapi auth url` to authorize a seller."
    )


def with_refresh_token(credentials: Credentials, refresh_token: str, today: date) -> Credentials:
    """A copy holding a newly issued refresh token, dated so its 365-day expiry can be tracked."""
    return replace(
        credentials,
        refresh_token=Secret(refresh_token),
        refresh_token_stored_at=today,
        client_secret_stored_at=credentials.client_secret_stored_at or today,
    )
