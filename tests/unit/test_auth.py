"""LWA grants, the token cache and the website authorization workflow."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

import pytest

from spapi_toolkit.api.auth import LwaAuth, credential_warnings, refresh_margin
from spapi_toolkit.api.consent import consent_url, make_state, verify_state
from spapi_toolkit.api.credentials import Credentials, Secret
from spapi_toolkit.api.errors import ConfigurationError, InvalidClient, ReauthorizationRequired

from ..support import CLIENT_ID, TOKEN_PATH, run_with_dying_tokens


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refresh_grant_is_cached_and_refreshed_ahead_of_expires_in(scripted, credentials):
    app, server = scripted
    app.expires_in = 600
    clock = FakeClock()
    auth = LwaAuth(credentials, server.url + TOKEN_PATH, clock=clock)
    first = auth.access_token()
    assert auth.access_token() == first
    clock.now += 600 - refresh_margin(600) - 1  # just before the refresh point (60 s early)
    assert auth.access_token() == first
    clock.now += 2
    assert auth.access_token() != first
    assert app.grants == ["refresh_token", "refresh_token"]


def test_one_refresh_in_flight_for_many_threads(scripted, credentials):
    app, server = scripted
    auth = LwaAuth(credentials, server.url + TOKEN_PATH)
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(auth.access_token())) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1
    assert app.grants == ["refresh_token"]


def test_threads_reporting_one_dead_token_cause_one_refresh(scripted, credentials):
    app, server = scripted
    auth = LwaAuth(credentials, server.url + TOKEN_PATH)
    dead = auth.access_token()
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def report() -> None:
        barrier.wait()
        auth.invalidate(dead)
        tokens.append(auth.access_token())

    threads = [threading.Thread(target=report) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and tokens[0] != dead
    assert app.grants == ["refresh_token"] * 2
    # A late report of the dead token leaves its successor alone.
    assert auth.invalidate(dead) is False
    assert auth.access_token() == tokens[0]
    assert auth.invalidate(tokens[0]) is True
    assert auth.access_token() != tokens[0]
    assert len(app.grants) == 3


def test_invalid_grant_fails_at_once_with_what_to_do(scripted):
    app, server = scripted
    creds = Credentials(CLIENT_ID, Secret(app.client_secret), Secret("Atzr|TOPSECRET-revoked"))
    auth = LwaAuth(creds, server.url + TOKEN_PATH)
    with pytest.raises(ReauthorizationRequired, match="authorize the application again"):
        auth.access_token()
    assert app.grants == ["refresh_token"]  # no retry loop


def test_invalid_client_fails_at_once_with_what_to_do(scripted):
    app, server = scripted
    creds = Credentials(CLIENT_ID, Secret("TOPSECRET-old-secret"), Secret(app.refresh_token))
    with pytest.raises(InvalidClient, match="180 days"):
        LwaAuth(creds, server.url + TOKEN_PATH).access_token()
    assert len(app.grants) == 1


def test_authorization_code_exchange(scripted, credentials):
    app, server = scripted
    token = LwaAuth(credentials, server.url + TOKEN_PATH).exchange_code("ANcode", "https://x/cb")
    assert token == "Atzr|TOPSECRET-new-refresh-token"
    assert app.grants == ["authorization_code"]


def test_plain_http_only_on_loopback(credentials):
    with pytest.raises(ConfigurationError, match="must use https"):
        LwaAuth(credentials, "http://lwa.example.com/auth/o2/token")


def test_no_secret_reaches_logs_exceptions_or_reprs(scripted, make_client, caplog):
    app, server = scripted
    caplog.set_level(logging.DEBUG)
    client = make_client(server)
    client.call("getReport", reportId="1")
    app.expire_all_tokens()
    client.call("getReport", reportId="2")
    texts = [repr(client), repr(client.credentials), repr(client.auth), str(client.credentials)]
    texts += [repr(t) for t in client.auth._tokens.values()]
    for bad in (
        Credentials(CLIENT_ID, Secret("TOPSECRET-x"), Secret("Atzr|TOPSECRET-bad")),
        Credentials(CLIENT_ID, Secret(app.client_secret), Secret("Atzr|TOPSECRET-bad")),
    ):
        with pytest.raises(Exception) as raised:
            LwaAuth(bad, server.url + TOKEN_PATH).access_token()
        texts += [str(raised.value), repr(raised.value)]
    texts += [record.getMessage() for record in caplog.records]
    leaked = [t for t in texts if "TOPSECRET" in t]
    assert leaked == []
    assert caplog.records  # the run did log (retries, grants), just never a secret


def test_credential_age_warnings():
    creds = Credentials(
        CLIENT_ID,
        Secret("s"),
        Secret("r"),
        refresh_token_stored_at=date(2025, 12, 10),
        client_secret_stored_at=date(2026, 5, 1),
    )
    warnings = credential_warnings(creds, date(2026, 11, 28))
    assert warnings[0].startswith("the refresh token expires on 2026-12-10 (in 12 days)")
    assert warnings[1].startswith("the LWA client secret expired on 2026-10-28 (31 days ago)")
    assert credential_warnings(creds, date(2026, 1, 1)) == []


def test_consent_url_and_state():
    state = make_state("key", now=1_000_000)
    url = consent_url("amzn1.sp.solution.abc", state, redirect_uri="https://me/cb")
    assert url.startswith("https://sellercentral.amazon.com/apps/authorize/consent?")
    assert "application_id=amzn1.sp.solution.abc" in url and "version=beta" in url
    verify_state(state, "key", now=1_000_100)
    with pytest.raises(ConfigurationError, match="signature"):
        verify_state(state, "other-key", now=1_000_100)
    with pytest.raises(ConfigurationError, match="old"):
        verify_state(state, "key", now=1_000_000 + timedelta(hours=1).total_seconds())
    with pytest.raises(ConfigurationError, match="malformed"):
        verify_state("garbage", "key")
    assert "version=beta" not in consent_url("amzn1.sp.solution.abc", state, draft=False)


def test_restricted_data_tokens_are_made_per_path_and_cached(scripted, make_client):
    import time as _time

    from spapi_sandbox.http import Response
    from spapi_toolkit.api.rdt import RestrictedTokens

    app, server = scripted

    def issue_rdt(request):
        token = f"Atz.sprdt|TOPSECRET-{len(app.requests)}"
        app._tokens[token] = _time.monotonic() + 3600
        return Response.json(200, {"restrictedDataToken": token, "expiresIn": 3600})

    app.script.append(issue_rdt)
    client = make_client(server)
    rdt = RestrictedTokens(client)
    rdt.call("ordersV0.getOrderAddress", (), orderId="902-1")
    rdt.call("ordersV0.getOrderAddress", (), orderId="902-1")
    create, first, second = app.requests
    assert create.json() == {
        "restrictedResources": [{"method": "GET", "path": "/orders/v0/orders/902-1/address"}]
    }
    assert first.headers["x-amz-access-token"].startswith("Atz.sprdt|")
    assert second.headers["x-amz-access-token"] == first.headers["x-amz-access-token"]


@pytest.mark.slow
def test_threads_sharing_a_client_waste_one_request_per_token_death(credentials):
    """Tokens die after 4 s though LWA says an hour: each death may cost one 403, not one per
    thread, and one LWA grant (benchmarks/bench_token_freshness.py runs it longer)."""
    run = run_with_dying_tokens(credentials, lifetime=4.0, seconds=11.0)
    print(run.summary())
    assert run.errors == []
    assert run.deaths >= 2  # the scenario did happen
    assert 1 <= run.wasted <= run.deaths
    assert run.grants <= run.deaths + 1
