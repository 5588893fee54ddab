"""Token buckets, the official table and report quotas."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from spapi_sandbox.http import LoopbackServer, Response, route, sp_api_error
from spapi_sandbox.limits import QUOTA_EXCEEDED_MESSAGE, ServerLimits
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.ratelimit import (
    BucketState,
    FileTokenBucket,
    RateLimiter,
    RateLimitTimeout,
    TokenBucket,
    next_report_slot,
    official_limits,
    render_limits_table,
)
from spapi_toolkit.api.ratelimit.limits import OFFICIAL_LIMITS_PATH

from ..support import ScriptedSpApi


def test_shipped_table_is_generated_from_the_bundled_models():
    assert OFFICIAL_LIMITS_PATH.read_text(encoding="utf-8") == render_limits_table(), (
        "data/rate_limits.csv is stale: run scripts/generate_rate_limits.py"
    )
    limits = official_limits()
    assert len(limits) == 71
    report = limits["reports_2021-06-30.getReport"]
    assert (report.rate, report.burst) == (2.0, 15)
    assert (limits["orders_2026-01-01.searchOrders"].rate) == pytest.approx(0.0056)


def test_bucket_allows_burst_then_the_rate():
    state = BucketState(rate=2.0, burst=3, tokens=3, updated=0.0)
    assert [state.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # Reserved in order: the 4th waits for a refill (at 99% of the rate) that starts only when
    # the first request of the burst has had time (the 20 ms lead) to reach the server.
    assert state.reserve(0.0) == pytest.approx(0.02 + 0.5 / 0.99)
    assert state.reserve(0.0) == pytest.approx(0.02 + 1.0 / 0.99)
    assert state.reserve(10.0) == 0.0  # refilled (capped at burst) after idling


def test_delay_says_how_long_a_reservation_would_wait_and_takes_nothing():
    state = BucketState(rate=2.0, burst=2, tokens=2, updated=0.0)
    assert state.delay(0.0) == 0.0
    state.reserve(0.0), state.reserve(0.0)
    waits = [state.delay(0.0) for _ in range(3)]
    assert waits == [pytest.approx(0.02 + 0.5 / 0.99)] * 3  # asking took nothing
    assert state.reserve(0.0) == pytest.approx(waits[0])
    assert state.delay(5.0) == 0.0


def test_lead_follows_observed_latency():
    state = BucketState(rate=2.0, burst=2, tokens=2, updated=0.0)
    for _ in range(30):
        state.observe_latency(0.1)  # answers take 100 ms
    assert state.lead == pytest.approx(0.1, rel=0.01)
    state.reserve(0.0)
    state.reserve(0.0)
    assert state.reserve(0.0) == pytest.approx(state.lead + 1 / 1.98)
    state.observe_latency(0.0)
    assert state.lead >= 0.02


def test_bucket_refuses_to_reserve_beyond_max_wait():
    state = BucketState(rate=1.0, burst=1, tokens=0, updated=0.0)
    assert state.reserve(0.0, max_wait=0.5) is None
    assert state.tokens == 0  # nothing taken
    bucket = TokenBucket(rate=0.01, burst=1)
    bucket.acquire()
    with pytest.raises(RateLimitTimeout, match=r"no token within 0\.1s"):
        bucket.acquire(timeout=0.1)


def test_throttle_halves_and_recovery_is_gradual_up_to_the_told_rate():
    state = BucketState(rate=2.0, burst=2, tokens=2, updated=0.0)
    state.throttled(0.0)
    assert (state.rate, state.tokens) == (1.0, 0.0)
    for _ in range(4):
        state.succeeded()
    assert state.rate == pytest.approx(1.8)
    for _ in range(2):
        state.succeeded()
    assert state.rate == 2.0
    state.observe_rate(0.5)
    state.succeeded()
    assert state.rate == 0.5  # the service said so: no creeping above it


def test_threads_sharing_a_bucket_never_exceed_it():
    bucket = TokenBucket(rate=20.0, burst=5)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 tokens: 5 at once, 35 more at 20/s -> at least 1.75 s.
    assert time.monotonic() - start >= 1.7
    for taken, stamp in enumerate(sorted(stamps), start=1):
        assert taken <= 5 + (stamp - start) * 20.0 + 0.5  # never ahead of burst + rate * t


def _take_from_file_bucket(path: str, n: int) -> None:
    bucket = FileTokenBucket(__import__("pathlib").Path(path), rate=20.0, burst=5)
    for _ in range(n):
        bucket.acquire()


def test_file_bucket_is_shared_across_processes(tmp_path):
    path = str(tmp_path / "bucket.json")
    context = multiprocessing.get_context("spawn")
    started = time.monotonic()
    workers = [context.Process(target=_take_from_file_bucket, args=(path, 15)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    elapsed = time.monotonic() - started
    assert all(w.exitcode == 0 for w in workers)
    # 30 tokens from one shared bucket: 5 at once, 25 at 20/s -> >= 1.25 s (two private
    # buckets would need only 0.5 s).
    assert elapsed >= 1.2


def test_report_quota_schedules_sales_and_traffic():
    now = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    history = [now - timedelta(minutes=m) for m in (50, 40, 30)]
    assert next_report_slot("GET_SALES_AND_TRAFFIC_REPORT", history, now) == now
    history.append(now - timedelta(minutes=20))
    # The oldest of the four leaves the hour (counted 2% longer, for the request's way there).
    slot = next_report_slot("GET_SALES_AND_TRAFFIC_REPORT", history, now)
    assert slot == now - timedelta(minutes=50) + timedelta(hours=1) * 1.02
    day = [now - timedelta(minutes=14 * i + 61) for i in range(96)]  # 96 within 24 h
    slot = next_report_slot("GET_SALES_AND_TRAFFIC_REPORT", day, now)
    assert slot == min(day) + timedelta(days=1) * 1.02
    # A sandbox whose clock runs 3600 times faster: an hour's quota lasts a second, plus at
    # least a quarter of a second for the way there (2% of a second covers no busy machine).
    fast = [now - timedelta(seconds=s) for s in (0.9, 0.5, 0.3, 0.1)]
    slot = next_report_slot("GET_SALES_AND_TRAFFIC_REPORT", fast, now, time_scale=3600)
    assert slot == fast[0] + timedelta(seconds=1.25)
    assert next_report_slot("GET_MERCHANT_LISTINGS_ALL_DATA", day, now) == now


def test_limiter_counts_and_separates_sellers():
    limiter = RateLimiter()
    from spapi_toolkit.api.ratelimit import BucketKey

    a = BucketKey("app", "seller-a", "na", "catalogItems_2022-04-01.getCatalogItem")
    b = BucketKey("app", "seller-b", "na", "catalogItems_2022-04-01.getCatalogItem")
    assert limiter.bucket(a) is not limiter.bucket(b)
    limiter.acquire(a)
    limiter.acquire(a)
    started = time.monotonic()
    limiter.acquire(b)  # seller b has its own full bucket: no wait
    assert time.monotonic() - started < 0.1


def test_four_threads_sharing_one_client_see_no_429(credentials):
    """A server enforcing the official getCatalogItem bucket (2/s, burst 2): steady state."""
    limits = ServerLimits()
    app = ScriptedSpApi()

    def enforce(request):
        op, _ = route(request.method, request.path)
        if not limits.admit("seller", op.qualified_name):
            return sp_api_error(429, "QuotaExceeded", QUOTA_EXCEEDED_MESSAGE)
        return Response.json(200, {"asin": "B0"}, {"x-amzn-RateLimit-Limit": "2.0"})

    app.default = enforce
    with LoopbackServer(app) as server:
        client = SpApiClient(
            credentials, endpoint=server.url, lwa_endpoint=server.url + "/auth/o2/token"
        )
        errors: list[Exception] = []

        def worker():
            try:
                for _ in range(4):
                    client.call("getCatalogItem", asin="B0", marketplaceIds=["ATVPDKIKX0DER"])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    assert errors == []
    assert limits.refused == 0
    assert limits.accepted == 16
    assert client.stats()["catalogItems_2022-04-01.getCatalogItem"].throttled == 0
    assert elapsed >= (16 - 2) / 2.0 - 0.1  # paced at the rate, not faster
