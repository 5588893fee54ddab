"""The report workflow of spapi_toolkit.api.reports against the local sandbox: create, wait,
download as received; bad downloads never leave a file that looks complete."""

from __future__ import annotations

import gzip
import hashlib
import time
from datetime import UTC, datetime

import pytest

from spapi_sandbox.faults import Faults
from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.ratelimit import RetryPolicy
from spapi_toolkit.api.reports import (
    DownloadError,
    create_report,
    download_document,
    wait_for_report,
)

from ..support import END_DATE

US = "ATVPDKIKX0DER"
WINDOW = {"start": datetime(2026, 11, 1, tzinfo=UTC), "end": datetime(2026, 11, 14, tzinfo=UTC)}


def _done_report(client: SpApiClient, report_type: str, **kwargs) -> dict:
    report_id = create_report(client, report_type, [US], **{**WINDOW, **kwargs})
    report = wait_for_report(client, report_id, poll_seconds=0.05, timeout_seconds=30)
    assert report["processingStatus"] == "DONE"
    return report


def test_report_round_trip_keeps_the_bytes_as_received(tmp_path):
    with run_sandbox(end_date=END_DATE, scale=600) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env)
        statuses: list[str] = []
        report_id = create_report(
            client, "GET_SALES_AND_TRAFFIC_REPORT", [US], **WINDOW,
            options={"dateGranularity": "DAY", "asinGranularity": "CHILD"},
        )  # fmt: skip
        report = wait_for_report(
            client, report_id, poll_seconds=0.05, on_status=lambda r: statuses.append(
                r["processingStatus"])
        )  # fmt: skip
        document = download_document(client, report["reportDocumentId"], tmp_path / "st.json.gz")
    assert statuses[-1] == "DONE" and "IN_QUEUE" in statuses
    raw = document.path.read_bytes()
    assert document.gzip and document.compression == "GZIP"  # stored compressed, as received
    assert document.sha256 == hashlib.sha256(raw).hexdigest() and document.size == len(raw)
    assert b"salesAndTrafficByDate" in gzip.decompress(raw)
    assert client.stats()["reports_2021-06-30.getReport"].throttled == 0


def test_truncated_download_is_an_error_and_leaves_no_file(tmp_path):
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(truncate=1.0)) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env)
        report = _done_report(client, "GET_MERCHANT_LISTINGS_ALL_DATA")
        target = tmp_path / "listings.tsv"
        with pytest.raises(
            DownloadError, match=r"arrived truncated: the connection closed after \d+ of \d+ bytes"
        ):
            download_document(client, report["reportDocumentId"], target)
    assert list(tmp_path.iterdir()) == []


def test_expired_document_url_is_reported(tmp_path):
    with run_sandbox(
        end_date=END_DATE, scale=600, url_lifetime=30
    ) as sandbox:  # 30 simulated s = 0.05 real s
        client = SpApiClient.from_env(env=sandbox.env, retry=RetryPolicy(max_attempts=1))
        report = _done_report(client, "GET_MERCHANT_LISTINGS_ALL_DATA")
        meta = client.call("getReportDocument", reportDocumentId=report["reportDocumentId"])
        time.sleep(0.2)
        response = client.session.get(meta["url"])
        assert response.status_code == 403 and b"Request has expired" in response.content
        # download_document fetches a fresh URL each time, so it still succeeds:
        document = download_document(client, report["reportDocumentId"], tmp_path / "l.tsv")
    assert document.size > 0 and not document.gzip


def test_download_of_an_already_expired_url_says_so(tmp_path):
    with run_sandbox(
        end_date=END_DATE, scale=600, url_lifetime=0.01
    ) as sandbox:  # expires before it is fetched
        client = SpApiClient.from_env(env=sandbox.env)
        report = _done_report(client, "GET_MERCHANT_LISTINGS_ALL_DATA")
        with pytest.raises(DownloadError, match=r"HTTP 403 .*five minutes"):
            download_document(client, report["reportDocumentId"], tmp_path / "l.tsv")
    assert list(tmp_path.iterdir()) == []
