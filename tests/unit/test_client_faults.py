"""The client against a misbehaving SP-API: every call ends in success or a clear error,
within its retry budget."""

from __future__ import annotations

import time

import pytest

from spapi_sandbox.http import Response, sp_api_error
from spapi_toolkit.api.errors import (
    InvalidInputError,
    NotFoundError,
    RequestValidationError,
    ServerError,
    ThrottledError,
    TransportError,
    UnauthorizedError,
)
from spapi_toolkit.api.ratelimit import RateLimiter, RetryPolicy, RetryQuota

GET_REPORT = "reports_2021-06-30.getReport"
THROTTLED = sp_api_error(
    429, "QuotaExceeded", "You exceeded your quota for the requested resource."
)


def test_call_places_parameters_as_the_model_says(scripted, make_client):
    app, server = scripted
    client = make_client(server)
    answer = client.call(
        "searchCatalogItems",
        marketplaceIds=["ATVPDKIKX0DER"],
        identifiers=["B0A", "B0B"],
        identifiersType="ASIN",
        includedData=["summaries", "salesRanks"],
    )
    assert answer == {"ok": True, "operation": "searchCatalogItems"}
    sent = app.requests[-1]
    assert sent.path == "/catalog/2022-04-01/items"
    assert sent.query["identifiers"] == ["B0A,B0B"]
    assert sent.query["includedData"] == ["summaries,salesRanks"]
    assert sent.headers["x-amz-access-token"].startswith("Atza|")
    assert "spapi-lake" in sent.headers["user-agent"]


def test_path_parameters_and_body_are_encoded(scripted, make_client):
    app, server = scripted
    client = make_client(server)
    client.call("getListingsItem", sellerId="S1", sku="MY SKU/1", marketplaceIds="ATVPDKIKX0DER")
    assert app.requests[-1].path == "/listings/2021-08-01/items/S1/MY%20SKU%2F1"
    client.call("createReport", body={"reportType": "GET_X", "marketplaceIds": ["A"]})
    assert app.requests[-1].json() == {"reportType": "GET_X", "marketplaceIds": ["A"]}


def test_bad_parameters_are_refused_before_sending(scripted, make_client):
    app, server = scripted
    client = make_client(server)
    with pytest.raises(RequestValidationError, match="takes no parameter 'reportid'"):
        client.call("getReport", reportid="1")
    with pytest.raises(RequestValidationError, match="needs 'reportId'"):
        client.call("getReport")
    assert app.requests == []


def test_pagination_follows_next_token_alone_for_get_reports(scripted, make_client):
    app, server = scripted
    pages = [
        Response.json(200, {"reports": [1], "nextToken": "tok/+=1"}),
        Response.json(200, {"reports": [2], "nextToken": "tok2"}),
        Response.json(200, {"reports": [3]}),
    ]
    app.script.extend(pages)
    client = make_client(server)
    got = list(client.paginate("getReports", reportTypes=["GET_X"], pageSize=10))
    assert [p["reports"] for p in got] == [[1], [2], [3]]
    assert app.requests[0].query == {"reportTypes": ["GET_X"], "pageSize": ["10"]}
    assert app.requests[1].query == {"nextToken": ["tok/+=1"]}  # decoded: it was URL-encoded
    assert app.requests[2].query == {"nextToken": ["tok2"]}


def test_pagination_keeps_parameters_where_the_api_wants_them(scripted, make_client):
    app, server = scripted
    app.script.extend([
        Response.json(200, {"orders": [1], "pagination": {"nextToken": "p2"}}),
        Response.json(200, {"orders": [2], "pagination": {}}),
    ])  # fmt: skip
    client = make_client(server)
    pages = list(client.paginate("searchOrders", createdAfter="2026-01-01T00:00:00Z"))
    assert len(pages) == 2
    assert app.requests[1].query == {
        "createdAfter": ["2026-01-01T00:00:00Z"], "paginationToken": ["p2"]
    }  # fmt: skip


def test_token_expired_mid_run_is_refreshed_once_and_the_call_retried(scripted, make_client):
    app, server = scripted
    client = make_client(server)
    client.call("getReport", reportId="1")
    app.expire_all_tokens()
    assert client.call("getReport", reportId="2")["ok"]
    assert app.grants == ["refresh_token", "refresh_token"]


def test_a_token_still_refused_after_refresh_is_an_error(scripted, make_client):
    app, server = scripted
    app.script.extend(
        [sp_api_error(403, "Unauthorized", "Access to requested resource is denied.")] * 2
    )
    client = make_client(server)
    with pytest.raises(UnauthorizedError, match="Unauthorized") as raised:
        client.call("getReport", reportId="1")
    assert "TOPSECRET" not in str(raised.value)
    assert len(app.requests) == 2


def test_throttling_storm_without_headers_is_ridden_out(scripted, make_client):
    app, server = scripted
    app.script.extend([THROTTLED] * 4)
    client = make_client(server, limiter=RateLimiter(overrides={GET_REPORT: (40.0, 15)}))
    assert client.call("getReport", reportId="1")["ok"]
    stats = client.stats()[GET_REPORT]
    assert (stats.requests, stats.throttled, stats.retried) == (5, 4, 4)
    # Each 429 halved the rate (40/s -> 2.5/s); the success won back a tenth of 40/s.
    bucket = next(iter(client.limiter._buckets.values()))
    assert bucket.rate == pytest.approx(2.5 + 4.0)


def test_throttling_beyond_the_budget_is_a_clear_error(scripted, make_client):
    app, server = scripted
    app.default = lambda request: THROTTLED
    client = make_client(
        server,
        retry=RetryPolicy(max_attempts=3, base_seconds=0.01),
        limiter=RateLimiter(overrides={"catalogItems_2022-04-01.getCatalogItem": (40.0, 2)}),
    )
    started = time.monotonic()
    with pytest.raises(ThrottledError, match=r"QuotaExceeded.*after 3 attempts") as raised:
        client.call("getCatalogItem", asin="B0A", marketplaceIds=["ATVPDKIKX0DER"])
    assert raised.value.request_id
    assert len(app.requests) == 3
    assert time.monotonic() - started < 2


def test_rate_header_sets_the_rate_and_keeps_the_burst(scripted, make_client):
    app, server = scripted
    app.default = lambda request: Response.json(200, {}, {"x-amzn-RateLimit-Limit": "5.0"})
    client = make_client(server)
    client.call("getReport", reportId="1")
    bucket = next(iter(client.limiter._buckets.values()))
    assert (bucket.rate, bucket.burst) == (5.0, 15)
    app.default = lambda request: Response.json(200, {})  # a missing header changes nothing
    client.call("getReport", reportId="1")
    assert bucket.rate == 5.0


@pytest.mark.parametrize("first", ["429", "reset"])
def test_a_faster_service_scales_the_limits_before_any_rate_header(scripted, make_client, first):
    """A sandbox running 3600 times faster allows 3600 times Amazon's rates. A bucket that has
    not heard the rate header yet (its first answer a 429 or lost) must not wait Amazon's time:
    getReportDocument (1 a minute, halved by a 429) once stalled a whole run for 120 s."""
    app, server = scripted
    app.script.append(THROTTLED if first == "429" else Response(fault="reset"))
    # rate_limit_timeout: a wait longer than a second is an error here, not a stall.
    client = make_client(server, time_scale=3600, rate_limit_timeout=1.0)
    started = time.monotonic()
    assert client.call("getReportDocument", reportDocumentId="D1")["ok"]
    # getCompetitiveSummary has a burst of 1 (one call per 30 s at Amazon's rate).
    uri = "/products/pricing/2022-05-01/items/competitiveSummary"
    body = {"requests": [{"asin": "B0A", "marketplaceId": "ATVPDKIKX0DER", "uri": uri,
                          "includedData": ["featuredBuyingOptions"], "method": "GET"}]}  # fmt: skip
    app.script.append(Response(fault="reset"))
    assert client.call("getCompetitiveSummary", body=body)["ok"]
    assert time.monotonic() - started < 2
    assert client.limiter.limit_for("reports_2021-06-30.getReportDocument") == (
        pytest.approx(0.0167 * 3600), 15)  # fmt: skip
    key = next(k for k in client.limiter._buckets if k.operation.endswith("getReportDocument"))
    document = client.limiter.bucket(key)
    assert document.rate >= 0.0167 * 3600 / 2  # halved at most once, from the scaled rate


def test_throttling_never_takes_a_scaled_rate_below_the_scaled_floor():
    limiter = RateLimiter(time_scale=3600)
    from spapi_toolkit.api.ratelimit import BucketKey

    bucket = limiter.bucket(BucketKey("app", "s", "na", "reports_2021-06-30.createReport"))
    for _ in range(60):
        bucket.throttled()
    assert bucket.rate == pytest.approx(0.001 * 3600)  # a 429 storm: one call per 0.28 s
    assert RateLimiter().limit_for("reports_2021-06-30.createReport") == (0.0167, 15)
    with pytest.raises(ValueError, match="time_scale"):
        RateLimiter(time_scale=0)


def test_from_env_scales_a_shared_limiter_too(tmp_path, credentials):
    from spapi_toolkit.api.client import SpApiClient

    env = {"SPAPI_CLIENT_ID": credentials.client_id,
           "SPAPI_CLIENT_SECRET": credentials.client_secret.reveal(),
           "SPAPI_REFRESH_TOKEN": credentials.refresh_token.reveal(),
           "SPAPI_TIME_SCALE": "600", "SPAPI_RATELIMIT_DIR": str(tmp_path)}  # fmt: skip
    for given in (env, {k: v for k, v in env.items() if k != "SPAPI_RATELIMIT_DIR"}):
        client = SpApiClient.from_env(env=given)
        assert client.limiter.time_scale == 600
        assert client.limiter.limit_for("reports_2021-06-30.getReport") == (1200.0, 15)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(scripted, make_client, status):
    app, server = scripted
    app.script.extend([sp_api_error(status, "InternalFailure", "boom")] * 2)
    client = make_client(server)
    assert client.call("getReport", reportId="1")["ok"]
    assert client.stats()[GET_REPORT].retried == 2


def test_persistent_server_errors_end_in_server_error(scripted, make_client):
    app, server = scripted
    app.default = lambda request: Response(503, b"<html>Service Unavailable</html>",
                                           {"Content-Type": "text/html"})  # fmt: skip
    client = make_client(server, retry=RetryPolicy(max_attempts=2, base_seconds=0.01))
    with pytest.raises(ServerError, match="HTTP 503 a non-JSON answer"):
        client.call("getReport", reportId="1")


def test_connection_resets_are_retried_then_reported(scripted, make_client):
    app, server = scripted
    app.script.extend([Response(fault="reset")] * 2)
    client = make_client(server)
    assert client.call("getReport", reportId="1")["ok"]
    app.default = lambda request: Response(fault="reset")
    client = make_client(server, retry=RetryPolicy(max_attempts=3, base_seconds=0.01))
    with pytest.raises(TransportError, match=r"no answer.*after 3 attempts"):
        client.call("getReport", reportId="1")


def test_slow_responses_time_out_and_are_retried(scripted, make_client):
    app, server = scripted

    def slow(request):
        time.sleep(1.0)
        return Response.json(200, {"late": True})

    app.script.append(slow)
    client = make_client(server, timeout=(1.0, 0.3))
    assert client.call("getReport", reportId="1")["ok"]
    assert client.stats()[GET_REPORT].retried == 1


@pytest.mark.parametrize(
    ("status", "error"), [(400, InvalidInputError), (404, NotFoundError), (409, Exception)]
)
def test_other_client_errors_are_not_retried(scripted, make_client, status, error):
    app, server = scripted
    app.script.append(sp_api_error(status, "InvalidInput", "reportId is malformed", "id: x"))
    client = make_client(server)
    with pytest.raises(error) as raised:
        client.call("getReport", reportId="x")
    assert len(app.requests) == 1
    assert raised.value.status == status
    assert "getReport failed with HTTP" in str(raised.value)


def test_grantless_operations_use_the_client_credentials_grant(scripted, make_client):
    app, server = scripted
    client = make_client(server)
    client.call("getDestinations")
    assert app.grants == ["client_credentials"]


def test_retry_quota_is_spent_by_failures_paid_back_by_successes_and_spares_throttling():
    quota = RetryQuota(capacity=20, retry_cost=5, timeout_cost=10)
    assert quota.acquire(429) == 0 and quota.available == 20  # the limiter handles throttling
    assert quota.acquire(503) == 5 and quota.acquire(None) == 10
    assert quota.acquire(None) is None and quota.available == 5  # spent: no retry
    quota.release(15)  # a call that needed those retries succeeded
    assert quota.available == 20
    quota.release(0)
    assert quota.available == 20  # never above capacity


def test_an_outage_makes_threads_give_up_together_not_each_for_its_own_budget(
    scripted, make_client
):
    # Every answer is a 503. Each call alone would try 8 times; the shared budget of 6 retries
    # (30 / 5) stops the four threads long before 4 x 8 requests.
    import threading

    app, server = scripted
    app.default = lambda request: sp_api_error(503, "ServiceUnavailable", "down")
    client = make_client(
        server,
        retry=RetryPolicy(max_attempts=8, base_seconds=0.001, cap_seconds=0.01),
        retry_quota=RetryQuota(capacity=30, retry_cost=5),
    )
    failures: list[Exception] = []

    def worker() -> None:
        try:
            client.call("getReport", reportId="1")
        except ServerError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 4
    assert len([r for r in app.requests if "/reports/" in r.path]) == 4 + 6
    assert client.retry_quota.available < 5
