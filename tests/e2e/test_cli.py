"""The ``spapi`` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spapi_sandbox.http import LoopbackServer
from spapi_sandbox.static import StaticSandbox

SPAPI = str(Path(sys.executable).parent / "spapi")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPAPI_")}
    return subprocess.run(
        [SPAPI, *args], capture_output=True, text=True, env={**clean, **(env or {})}, timeout=60
    )


@pytest.fixture(scope="module")
def sandbox_env():
    with LoopbackServer(StaticSandbox()) as server:
        yield {
            "SPAPI_ENDPOINT": server.url,
            "SPAPI_LWA_ENDPOINT": server.url + "/auth/o2/token",
            "SPAPI_CLIENT_ID": "amzn1.application-oa2-client.cli",
            "SPAPI_CLIENT_SECRET": "TOPSECRET-cli",
            "SPAPI_REFRESH_TOKEN": "Atzr|TOPSECRET-cli",
        }


def test_operations_lists_every_operation_with_its_limit():
    result = run("operations", "--api", "reports")
    assert result.returncode == 0, result.stderr
    assert "getReportDocument" in result.stdout and "0.0167" in result.stdout
    assert "getCatalogItem" not in result.stdout


def test_call_prints_the_json_answer(sandbox_env):
    result = run("call", "getReport", "reportId=ID323", env=sandbox_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reportId"] == "ReportId1"  # Amazon's canned answer
    body = json.dumps({
        "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA",
        "dataStartTime": "2024-03-10T20:11:24.000Z",
        "marketplaceIds": ["A1PA6795UKMFR9", "ATVPDKIKX0DER"],
    })  # fmt: skip
    result = run("call", "createReport", f"body={body}", env=sandbox_env)
    assert json.loads(result.stdout) == {"reportId": "ID323"}
    result = run(
        "call", "getReports", "reportTypes=FEE_DISCOUNTS_REPORT,GET_AFN_INVENTORY_DATA",
        "processingStatuses=IN_QUEUE,IN_PROGRESS", env=sandbox_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "reports" in json.loads(result.stdout)


def test_call_errors_are_one_clear_line(sandbox_env):
    result = run("call", "getReprot", "reportId=1", env=sandbox_env)
    assert result.returncode == 1
    assert "no operation 'getReprot'" in result.stderr and "Traceback" not in result.stderr
    result = run("call", "getReport", "reportId=TEST_CASE_400", env=sandbox_env)
    assert result.returncode == 1
    assert "getReport failed with HTTP 400" in result.stderr
    assert "TOPSECRET" not in result.stderr + result.stdout
    result = run("call", "getReport", "reportId=1")
    assert result.returncode == 1 and "no SP-API credentials found" in result.stderr


def test_auth_url_and_check(sandbox_env):
    result = run("auth", "url", "--application-id", "amzn1.sp.solution.x", env=sandbox_env)
    assert result.returncode == 0, result.stderr
    assert "version=beta" in result.stdout and "state=" in result.stdout
    result = run("auth", "check", env=sandbox_env)
    assert result.returncode == 0, result.stderr
    assert "refresh-token grant OK" in result.stdout
    assert "TOPSECRET" not in result.stdout + result.stderr


def test_auth_exchange_verifies_state_and_stores_the_refresh_token(scripted, tmp_path):
    from spapi_toolkit.api.consent import make_state
    from spapi_toolkit.api.credentials import load_profile

    from ..support import CLIENT_ID, CLIENT_SECRET

    app, server = scripted
    path = tmp_path / "credentials"
    env = {
        "SPAPI_CLIENT_ID": CLIENT_ID,
        "SPAPI_CLIENT_SECRET": CLIENT_SECRET,
        "SPAPI_LWA_ENDPOINT": server.url + "/auth/o2/token",
        "SPAPI_CREDENTIALS_FILE": str(path),
    }
    forged = run("auth", "exchange", "--code", "ANx", "--state", make_state("not-our-key"), env=env)
    assert forged.returncode == 1 and "signature does not match" in forged.stderr
    assert app.grants == []  # a forged state never reaches LWA
    good = run(
        "auth", "exchange", "--code", "ANx", "--state", make_state(CLIENT_SECRET),
        "--selling-partner-id", "A1SELLER", "--store-profile", "shop", env=env,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    stored = load_profile("shop", path)
    assert stored.refresh_token.reveal() == "Atzr|TOPSECRET-new-refresh-token"
    assert stored.selling_partner_id == "A1SELLER"
    assert stored.refresh_token_stored_at is not None
    assert "TOPSECRET" not in good.stdout + good.stderr
