"""A sandbox playing several sellers: each has its own refresh token, data, rate-limit buckets,
report quotas and reports, and none can see another's.

Real HTTP on loopback, with the toolkit's own client per seller where a client fits.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from spapi_sandbox.cli import app as cli
from spapi_sandbox.cli import env_lines
from spapi_sandbox.server import RunningSandbox, SandboxConfig, run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.errors import NotFoundError
from spapi_toolkit.api.ratelimit import RetryPolicy
from spapi_toolkit.api.reports import Document, create_report, download_document, wait_for_report

from ..support import END_DATE

US = "ATVPDKIKX0DER"
LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"
SALES_AND_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
CREATE_REPORT = "/reports/2021-06-30/reports"


def client_for(sandbox: RunningSandbox, seller: int) -> SpApiClient:
    """The toolkit's client speaking for one seller, with quick retries."""
    return SpApiClient.from_env(
        env=sandbox.env_for(seller), retry=RetryPolicy(base_seconds=0.01, cap_seconds=0.05)
    )


def access_headers(sandbox: RunningSandbox, seller: int) -> dict[str, str]:
    """Headers with a fresh access token for one seller, straight from the token endpoint."""
    env = sandbox.env_for(seller)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": env["SPAPI_REFRESH_TOKEN"],
        "client_id": env["SPAPI_CLIENT_ID"],
        "client_secret": env["SPAPI_CLIENT_SECRET"],
    }
    answer = requests.post(sandbox.lwa_url, data=form, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"x-amz-access-token": answer.json()["access_token"]}


def raw_create(sandbox: RunningSandbox, headers: dict[str, str], report_type: str) -> int:
    """createReport over plain HTTP (no client-side pacing); returns the status code."""
    body = {"reportType": report_type, "marketplaceIds": [US]}
    return requests.post(sandbox.url + CREATE_REPORT, headers=headers, json=body).status_code


def finished_document(client: SpApiClient, report_id: str, path: Path) -> Document:
    """Wait for a report to be DONE and download its document to ``path``."""
    report = wait_for_report(client, report_id, poll_seconds=0.02, timeout_seconds=20)
    assert report["processingStatus"] == "DONE", report
    return download_document(client, report["reportDocumentId"], path)


def test_sellers_have_their_own_ids_tokens_and_data():
    config = SandboxConfig(end_date=END_DATE, sellers=3)
    assert config.seller_ids == ("A2SANDBOXSELLER1", "A2SANDBOXSELLER2", "A2SANDBOXSELLER3")
    tokens = [config.refresh_token_of(s) for s in config.seller_ids]
    assert tokens == [
        "Atzr|sandbox-refresh-token",
        "Atzr|sandbox-refresh-token-2",
        "Atzr|sandbox-refresh-token-3",
    ]
    seeds = {config.seller_config(s).seed for s in config.seller_ids}
    assert len(seeds) == 3 and config.seller_config().seed == config.seed
    assert config.seller_config("A2SANDBOXSELLER2") == SandboxConfig(
        end_date=END_DATE, sellers=2
    ).seller_config(
        "A2SANDBOXSELLER2"
    )  # a seller's data do not depend on how many others there are
    with pytest.raises(KeyError):
        config.seller_config("SOMEONEELSE")
    with pytest.raises(ValueError, match="sellers"):
        SandboxConfig(end_date=END_DATE, sellers=0)


def test_throttling_reports_and_documents_are_per_seller(tmp_path: Path):
    with run_sandbox(end_date=END_DATE, scale=600, limits="real", sellers=2) as sandbox:
        assert sandbox.env == sandbox.env_for(0) == sandbox.env_for("A2SANDBOXSELLER1")
        assert sandbox.env_for(1)["SPAPI_REFRESH_TOKEN"] == "Atzr|sandbox-refresh-token-2"
        a_drained = threading.Event()

        def seller_a() -> tuple[list[int], str, Document]:
            """Empty A's createReport bucket (burst 15) with plain HTTP, then finish a report."""
            h = access_headers(sandbox, 0)
            body = {"reportType": LISTINGS, "marketplaceIds": [US]}
            first = requests.post(sandbox.url + CREATE_REPORT, headers=h, json=body)
            statuses = [first.status_code] + [raw_create(sandbox, h, LISTINGS) for _ in range(15)]
            a_drained.set()
            report_id = first.json()["reportId"]
            with client_for(sandbox, 0) as client:
                return statuses, report_id, finished_document(client, report_id, tmp_path / "a")

        def seller_b() -> tuple[str, Document, dict[str, Any]]:
            """Once A is throttled, B creates, waits for and downloads a report of its own."""
            assert a_drained.wait(10)
            with client_for(sandbox, 1) as client:
                report_id = create_report(client, LISTINGS, [US])
                document = finished_document(client, report_id, tmp_path / "b")
                return report_id, document, client.stats()

        with ThreadPoolExecutor(max_workers=2) as pool:
            a_future, b_future = pool.submit(seller_a), pool.submit(seller_b)
            a_statuses, a_report, a_document = a_future.result(timeout=60)
            b_report, b_document, b_stats = b_future.result(timeout=60)

        assert a_statuses == [202] * 15 + [429]
        assert all(stats.throttled == 0 for stats in b_stats.values())
        assert sandbox.app.limits.refused == 1  # only A's 16th createReport
        assert a_document.sha256 != b_document.sha256  # different sellers, different listings

        with client_for(sandbox, 1) as b:
            with pytest.raises(NotFoundError):
                b.call("getReport", reportId=a_report)
            with pytest.raises(NotFoundError):
                b.call("getReportDocument", reportDocumentId=a_document.report_document_id)
            listed = b.call("getReports", reportTypes=[LISTINGS])["reports"]
            assert [r["reportId"] for r in listed] == [b_report]
        with client_for(sandbox, 0) as a:
            assert a.call("getReport", reportId=a_report)["processingStatus"] == "DONE"


def test_sales_and_traffic_quota_is_per_seller():
    with run_sandbox(
        end_date=END_DATE, scale=60, sellers=2
    ) as sandbox:  # one simulated hour = one real minute
        a, b = access_headers(sandbox, 0), access_headers(sandbox, 1)
        a_statuses = [raw_create(sandbox, a, SALES_AND_TRAFFIC) for _ in range(5)]
        b_statuses = [raw_create(sandbox, b, SALES_AND_TRAFFIC) for _ in range(4)]
        assert a_statuses == [202, 202, 202, 202, 429]
        assert b_statuses == [202, 202, 202, 202]


def test_truth_per_seller_over_http_and_cli():
    with run_sandbox(end_date=END_DATE, scale=600, seed=5, sellers=2) as sandbox:
        day = {"from": "2026-11-20", "to": "2026-11-20"}
        first = requests.get(f"{sandbox.url}/_sandbox/truth", params=day).json()["rows"]
        second = requests.get(
            f"{sandbox.url}/_sandbox/truth", params={**day, "seller": "A2SANDBOXSELLER2"}
        ).json()["rows"]
        unknown = requests.get(f"{sandbox.url}/_sandbox/truth", params={"seller": "NOBODY"})
        assert unknown.status_code == 404
        lines = env_lines(sandbox)
    assert first and second and first != second
    args = ["truth", "--seed", "5", "--end-date", str(END_DATE), "--from", "2026-11-20"]
    args += ["--to", "2026-11-20", "--format"]
    result = CliRunner().invoke(cli, [*args, "json", "--seller", "A2SANDBOXSELLER2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == second
    bogus = CliRunner().invoke(cli, [*args, "json", "--seller", "NOBODY"])
    assert bogus.exit_code != 0 and "not a sandbox seller id" in bogus.output
    assert f"export SPAPI_REFRESH_TOKEN='{sandbox.env['SPAPI_REFRESH_TOKEN']}'" in lines
    assert "# seller A2SANDBOXSELLER1: SPAPI_REFRESH_TOKEN='Atzr|sandbox-refresh-token'" in lines
    assert "# seller A2SANDBOXSELLER2: SPAPI_REFRESH_TOKEN='Atzr|sandbox-refresh-token-2'" in lines
