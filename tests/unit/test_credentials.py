"""Credential sources: arguments, environment, profile file, Secrets Manager (moto server)."""

from __future__ import annotations

import json
import os
import stat
from datetime import date

import boto3
import pytest

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.credentials import (
    Credentials,
    Secret,
    load_secret,
    resolve_credentials,
    save_profile,
    save_secret,
    with_refresh_token,
)
from spapi_toolkit.errors import ConfigurationError

ENV = {"SPAPI_CLIENT_ID": "env-id", "SPAPI_CLIENT_SECRET": "env-secret", "SPAPI_REFRESH_TOKEN": "r"}


def test_arguments_win(tmp_path):
    creds = resolve_credentials(client_id="a", client_secret="b", refresh_token="c", env=ENV)
    assert (creds.client_id, creds.source) == ("a", "the arguments")


def test_environment(tmp_path):
    creds = resolve_credentials(env=ENV)
    assert creds.client_id == "env-id"
    assert creds.client_secret.reveal() == "env-secret"


def test_profiles_several_sellers(tmp_path):
    path = tmp_path / "credentials"
    env = {"SPAPI_CREDENTIALS_FILE": str(path)}
    for seller in ("seller-a", "seller-b"):
        save_profile(seller, Credentials("app", Secret("s"), Secret(f"rt-{seller}"),
                                         selling_partner_id=seller), path)  # fmt: skip
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    b = resolve_credentials(profile="seller-b", env=env)
    assert (b.refresh_token.reveal(), b.selling_partner_id) == ("rt-seller-b", "seller-b")
    assert resolve_credentials(env={**env, "SPAPI_PROFILE": "seller-a"}).selling_partner_id == (
        "seller-a"
    )
    with pytest.raises(ConfigurationError, match=r"no profile \[seller-c\].*seller-a, seller-b"):
        resolve_credentials(profile="seller-c", env=env)


def test_malformed_profile_says_where(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\nclient_id = x\nrefresh_token_stored_at = soon\nclient_secret = y\n")
    with pytest.raises(ConfigurationError, match=r"profile \[default\] in .*must be a date"):
        resolve_credentials(env={"SPAPI_CREDENTIALS_FILE": str(path)})


def test_nothing_found_says_what_was_tried(tmp_path):
    with pytest.raises(ConfigurationError, match=r"SPAPI_CLIENT_ID.*SPAPI_SECRET_ID"):
        resolve_credentials(env={"SPAPI_CREDENTIALS_FILE": str(tmp_path / "none")})


@pytest.mark.aws
def test_secrets_manager_round_trip(aws_env):
    creds = with_refresh_token(
        Credentials("app", Secret("TOPSECRET-s"), None, selling_partner_id="A1"),
        "Atzr|TOPSECRET-r",
        date(2026, 11, 28),
    )
    save_secret("spapi/seller-a", creds)
    save_secret("spapi/seller-a", creds)  # an update, not a second secret
    loaded = resolve_credentials(env={"SPAPI_SECRET_ID": "spapi/seller-a"})
    assert loaded.refresh_token.reveal() == "Atzr|TOPSECRET-r"
    assert loaded.refresh_token_stored_at == date(2026, 11, 28)
    assert loaded.source == "Secrets Manager secret spapi/seller-a"
    stored = boto3.client("secretsmanager").get_secret_value(SecretId="spapi/seller-a")
    assert json.loads(stored["SecretString"])["selling_partner_id"] == "A1"


@pytest.mark.aws
def test_a_new_secret_is_made_under_the_key_named(aws_env):
    """On AWS the sellers' secrets are under the stack's raw key, which analysts cannot use."""
    key = boto3.client("kms").create_key(Description="raw")["KeyMetadata"]["Arn"]
    creds = Credentials("app", Secret("TOPSECRET-s"), Secret("Atzr|r"), selling_partner_id="A1")
    save_secret("spapi/seller-k", creds, kms_key_id=key)
    save_secret("spapi/seller-k", creds, kms_key_id=key)  # an update keeps the secret and key
    described = boto3.client("secretsmanager").describe_secret(SecretId="spapi/seller-k")
    assert described["KmsKeyId"] == key


@pytest.mark.aws
def test_secrets_manager_errors_are_clear_and_secret_free(aws_env):
    with pytest.raises(ConfigurationError, match=r"cannot read .*missing: ResourceNotFound"):
        load_secret("spapi/missing")
    boto3.client("secretsmanager").create_secret(Name="spapi/bad", SecretString="TOPSECRET[")
    with pytest.raises(ConfigurationError, match="not a JSON object") as raised:
        load_secret("spapi/bad")
    assert "TOPSECRET" not in str(raised.value)


def test_from_env_reads_endpoints_and_region(scripted, tmp_path):
    _, server = scripted
    env = {
        **ENV,
        "SPAPI_REGION": "eu",
        "SPAPI_ENDPOINT": server.url,
        "SPAPI_LWA_ENDPOINT": server.url + "/auth/o2/token",
    }
    client = SpApiClient.from_env(env=env)
    assert (client.region, client.endpoint) == ("eu", server.url)
    sandbox = SpApiClient.from_env(env={**ENV, "SPAPI_SANDBOX": "1", "SPAPI_REGION": "fe"})
    assert sandbox.endpoint == "https://sandbox.sellingpartnerapi-fe.amazon.com"
    shared = SpApiClient.from_env(env={**env, "SPAPI_RATELIMIT_DIR": str(tmp_path / "buckets")})
    key = next(iter(shared.limiter.stats()), None)
    assert key is None and shared.limiter._state_dir == tmp_path / "buckets"
    with pytest.raises(ValueError, match="unknown SP-API region 'mars'"):
        SpApiClient.from_env(env={**ENV, "SPAPI_REGION": "mars"})
