"""The local SP-API sandbox over real HTTP on loopback: auth, routing, errors, limits, reports,
documents, Data Kiosk, notifications, faults, interop with python-amazon-sp-api, and the CLI.

Time runs fast (``scale``) so minutes of simulated processing take a fraction of a second.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from spapi_sandbox.faults import Faults
from spapi_sandbox.server import SandboxConfig, run_sandbox

from ..benchmarks import load
from ..support import END_DATE

REPORTS = "/reports/2021-06-30"
US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
WINDOW = {"dataStartTime": "2026-11-10T00:00:00Z", "dataEndTime": "2026-11-20T00:00:00Z"}
NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def token(sandbox, grant_type: str = "refresh_token", **extra: str) -> requests.Response:
    env = sandbox.env
    form = {
        "grant_type": grant_type,
        "client_id": env["SPAPI_CLIENT_ID"],
        "client_secret": env["SPAPI_CLIENT_SECRET"],
    }
    if grant_type == "refresh_token":
        form["refresh_token"] = env["SPAPI_REFRESH_TOKEN"]
    form.update(extra)
    return requests.post(sandbox.lwa_url, data=form, timeout=10)


def consent(sandbox, state: str) -> requests.Response:
    """The consent page's redirect back to the application (not followed)."""
    return requests.get(
        f"{sandbox.url}/apps/authorize/consent",
        params={
            "application_id": sandbox.app.config.application_id,
            "state": state,
            "redirect_uri": "https://example.com/cb",
        },
        allow_redirects=False,
    )


def headers(sandbox, grantless: bool = False) -> dict[str, str]:
    if grantless:
        answer = token(sandbox, "client_credentials", scope=NOTIFICATIONS_SCOPE)
    else:
        answer = token(sandbox)
    return {"x-amz-access-token": answer.json()["access_token"]}


def wait_report(sandbox, h, report_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = requests.get(f"{sandbox.url}{REPORTS}/reports/{report_id}", headers=h).json()
        if report["processingStatus"] in ("DONE", "CANCELLED", "FATAL"):
            return report
        time.sleep(0.02)
    raise AssertionError(f"report {report_id} did not finish")


def create_report(sandbox, h, report_type: str, **spec) -> requests.Response:
    body = {"reportType": report_type, "marketplaceIds": [US], **WINDOW, **spec}
    return requests.post(f"{sandbox.url}{REPORTS}/reports", headers=h, json=body)


def report_document(sandbox, h, report_type: str = "GET_MERCHANT_LISTINGS_ALL_DATA") -> dict:
    """Create a report, wait until it finishes and return getReportDocument's answer."""
    report_id = create_report(sandbox, h, report_type).json()["reportId"]
    report = wait_report(sandbox, h, report_id)
    answer = requests.get(
        f"{sandbox.url}{REPORTS}/documents/{report['reportDocumentId']}", headers=h
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def document_url(sandbox, h, document_id: str) -> str:
    """A fresh pre-signed URL of a report document (they expire within a real second here)."""
    answer = requests.get(f"{sandbox.url}{REPORTS}/documents/{document_id}", headers=h)
    assert answer.status_code == 200, answer.text
    return answer.json()["url"]


def download(sandbox, h, document_id: str) -> tuple[dict, bytes]:
    doc = requests.get(f"{sandbox.url}{REPORTS}/documents/{document_id}", headers=h).json()
    raw = requests.get(doc["url"]).content
    return doc, gzip.decompress(raw) if doc.get("compressionAlgorithm") == "GZIP" else raw


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(end_date=END_DATE, scale=600, seed=3) as running:
        yield running


@pytest.fixture
def h(sandbox):
    return headers(sandbox)


# --------------------------------------------------------------------------------------------
# LWA
# --------------------------------------------------------------------------------------------


def test_refresh_token_grant(sandbox):
    answer = token(sandbox)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"] == sandbox.env["SPAPI_REFRESH_TOKEN"]  # as LWA: not rotated
    assert "x-amzn-RequestId" in answer.headers


def test_lwa_errors(sandbox):
    assert token(sandbox, client_secret="wrong").status_code == 401
    assert token(sandbox, client_secret="wrong").json()["error"] == "invalid_client"
    bad = token(sandbox, refresh_token="Atzr|unknown")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    assert token(sandbox, "client_credentials", scope="nonsense").status_code == 400


def test_revoked_refresh_token_is_invalid_grant():
    with run_sandbox(end_date=END_DATE, scale=600) as sb:
        assert token(sb).status_code == 200
        sb.app.lwa.revoke(sb.env["SPAPI_REFRESH_TOKEN"])
        assert token(sb).json()["error"] == "invalid_grant"


def test_consent_page_and_authorization_code(sandbox):
    redirect = consent(sandbox, "xyz")
    assert redirect.status_code == 302
    back = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert back["state"] == ["xyz"]
    assert back["selling_partner_id"] == [sandbox.app.config.seller_id]
    code = back["spapi_oauth_code"][0]
    answer = token(sandbox, "authorization_code", code=code, redirect_uri="https://example.com/cb")
    assert answer.status_code == 200
    refresh = answer.json()["refresh_token"]
    assert token(sandbox, refresh_token=refresh).status_code == 200
    # a code works once
    again = token(sandbox, "authorization_code", code=code)
    assert again.json()["error"] == "invalid_grant"


def test_authorization_code_expires():
    with run_sandbox(
        end_date=END_DATE, scale=600, code_lifetime=60
    ) as sb:  # 60 simulated s = 0.1 real s
        redirect = consent(sb, "s")
        code = parse_qs(urlsplit(redirect.headers["Location"]).query)["spapi_oauth_code"][0]
        time.sleep(0.3)
        assert token(sb, "authorization_code", code=code).json()["error"] == "invalid_grant"


# --------------------------------------------------------------------------------------------
# access tokens on SP-API calls
# --------------------------------------------------------------------------------------------


def test_missing_and_expired_tokens_are_403_unauthorized(sandbox):
    url = f"{sandbox.url}/sellers/v1/marketplaceParticipations"
    missing = requests.get(url)
    assert missing.status_code == 403
    assert missing.json()["errors"][0]["code"] == "Unauthorized"
    assert missing.json()["errors"][0]["message"] == "Access to requested resource is denied."
    with run_sandbox(end_date=END_DATE, scale=600, token_lifetime=60) as sb:
        h = headers(sb)
        time.sleep(0.3)
        expired = requests.get(f"{sb.url}/sellers/v1/marketplaceParticipations", headers=h)
        assert expired.status_code == 403
        [error] = expired.json()["errors"]
        assert error["code"] == "Unauthorized"
        assert error["message"] == "Access to requested resource is denied."
        assert error["details"] == "The access token you provided has expired."


def test_grantless_tokens(sandbox):
    grantless = headers(sandbox, grantless=True)
    assert requests.get(f"{sandbox.url}/notifications/v1/destinations", headers=grantless).ok
    denied = requests.get(f"{sandbox.url}/sellers/v1/marketplaceParticipations", headers=grantless)
    assert denied.status_code == 403


# --------------------------------------------------------------------------------------------
# routing and invalid requests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code", "mentions"),
    [
        ("/no/such/path", 404, "NotFound", "/no/such/path"),
        (f"{REPORTS}/reports/99999", 404, "NotFound", "99999"),
        ("/catalog/2022-04-01/items/B000000000", 400, "InvalidInput", "marketplaceIds"),
        (
            f"{REPORTS}/reports?reportTypes=X&processingStatuses=WRONG",
            400,
            "InvalidInput",
            "processingStatuses",
        ),
        (
            f"{REPORTS}/reports?reportTypes=X&createdSince=yesterday",
            400,
            "InvalidInput",
            "createdSince",
        ),
        (
            "/fba/inventory/v1/summaries?granularityType=Marketplace&marketplaceIds=" + US,
            400,
            "InvalidInput",
            "granularityId",
        ),
    ],
)
def test_invalid_requests_get_sp_api_errors(sandbox, h, path, status, code, mentions):
    answer = requests.get(sandbox.url + path, headers=h)
    assert answer.status_code == status
    error = answer.json()["errors"][0]
    assert error["code"] == code and mentions in error["message"]
    assert "Traceback" not in answer.text
    assert "x-amzn-RequestId" in answer.headers


def test_bad_bodies_are_invalid_input(sandbox, h):
    no_type = requests.post(
        f"{sandbox.url}{REPORTS}/reports", headers=h, json={"marketplaceIds": [US]}
    )
    assert no_type.status_code == 400 and "reportType" in no_type.json()["errors"][0]["message"]
    junk = requests.post(f"{sandbox.url}{REPORTS}/reports", headers=h, data=b"{not json")
    assert junk.status_code == 400
    unknown = create_report(sandbox, h, "GET_NO_SUCH_REPORT")
    assert unknown.status_code == 400
    bad_time = create_report(sandbox, h, "GET_MERCHANT_LISTINGS_ALL_DATA", dataStartTime="soon")
    assert bad_time.status_code == 400 and "dataStartTime" in bad_time.text


# --------------------------------------------------------------------------------------------
# rate limits and quotas
# --------------------------------------------------------------------------------------------


def test_real_limits_throttle_with_quota_exceeded():
    with run_sandbox(end_date=END_DATE, scale=600, limits="real") as sb:
        h = headers(sb)
        url = f"{sb.url}/sellers/v1/marketplaceParticipations"  # rate 0.016/s, burst 15
        answers = [requests.get(url, headers=h) for _ in range(16)]
        assert all(a.status_code == 200 for a in answers[:15])
        assert all(a.headers["x-amzn-RateLimit-Limit"] == "0.016" for a in answers[:15])
        throttled = answers[15]
        assert throttled.status_code == 429
        assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
        assert "x-amzn-RateLimit-Limit" not in throttled.headers
        assert "x-amzn-RequestId" in throttled.headers


def test_sales_and_traffic_quota_is_four_an_hour():
    with run_sandbox(end_date=END_DATE, scale=60) as sb:  # one simulated hour = one real minute
        h = headers(sb)
        statuses = [
            create_report(sb, h, "GET_SALES_AND_TRAFFIC_REPORT").status_code for _ in range(5)
        ]
        assert statuses == [202, 202, 202, 202, 429]
        # other report types are not metered by that quota
        assert create_report(sb, h, "GET_MERCHANT_LISTINGS_ALL_DATA").status_code == 202


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------


def test_report_lifecycle_and_gzip_document(sandbox, h):
    created = create_report(
        sandbox,
        h,
        "GET_SALES_AND_TRAFFIC_REPORT",
        reportOptions={"dateGranularity": "DAY", "asinGranularity": "CHILD"},
    )
    assert created.status_code == 202
    report_id = created.json()["reportId"]
    first = requests.get(f"{sandbox.url}{REPORTS}/reports/{report_id}", headers=h)
    assert first.json()["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS")
    assert "x-amzn-RateLimit-Limit" in first.headers
    report = wait_report(sandbox, h, report_id)
    assert report["processingStatus"] == "DONE"
    assert report["processingStartTime"] <= report["processingEndTime"]
    doc, content = download(sandbox, h, report["reportDocumentId"])
    assert doc["compressionAlgorithm"] == "GZIP"
    data = json.loads(content)
    assert data["reportSpecification"]["reportType"] == "GET_SALES_AND_TRAFFIC_REPORT"
    assert data["salesAndTrafficByDate"]


def test_flat_file_report_is_not_compressed_when_small(sandbox, h):
    report_id = create_report(sandbox, h, "GET_MERCHANT_LISTINGS_ALL_DATA").json()["reportId"]
    report = wait_report(sandbox, h, report_id)
    doc, content = download(sandbox, h, report["reportDocumentId"])
    assert "compressionAlgorithm" not in doc
    assert content.split(b"\n")[0].startswith(b"item-name\t")


def test_japanese_flat_file_is_cp932(sandbox, h):
    report_id = create_report(
        sandbox, h, "GET_MERCHANT_LISTINGS_ALL_DATA", marketplaceIds=[JP]
    ).json()["reportId"]
    _, content = download(sandbox, h, wait_report(sandbox, h, report_id)["reportDocumentId"])
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    assert "\t" in content.decode("cp932")


@pytest.mark.parametrize(
    ("marketplace", "charset", "codec"),
    [(US, "UTF-8", "utf-8"), (DE, "Cp1252", "cp1252"), (JP, "Windows-31J", "cp932")],
)
def test_flat_files_name_their_charset_like_amazon(sandbox, h, marketplace, charset, codec):
    report_id = create_report(
        sandbox, h, "GET_MERCHANT_LISTINGS_ALL_DATA", marketplaceIds=[marketplace]
    ).json()["reportId"]
    document_id = wait_report(sandbox, h, report_id)["reportDocumentId"]
    doc = requests.get(f"{sandbox.url}{REPORTS}/documents/{document_id}", headers=h).json()
    answer = requests.get(doc["url"])
    assert answer.headers["Content-Type"] == f"text/plain;charset={charset}"
    raw = gzip.decompress(answer.content) if doc.get("compressionAlgorithm") else answer.content
    text = raw.decode(codec)
    assert text.encode(codec) == raw and "\t" in text
    if marketplace != US:
        assert not raw.isascii()  # titles in the marketplace's language: the charset matters
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


def test_empty_window_is_cancelled(sandbox, h):
    old = {"dataStartTime": "2021-01-01T00:00:00Z", "dataEndTime": "2021-01-02T00:00:00Z"}
    report_id = create_report(
        sandbox, h, "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", **old
    ).json()["reportId"]
    report = wait_report(sandbox, h, report_id)
    assert report["processingStatus"] == "CANCELLED"
    assert "reportDocumentId" not in report


def test_fatal_reports_on_request():
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(fatal_report=1.0)) as sb:
        h = headers(sb)
        report_id = create_report(sb, h, "GET_MERCHANT_LISTINGS_ALL_DATA").json()["reportId"]
        report = wait_report(sb, h, report_id)
        assert report["processingStatus"] == "FATAL"
        _, content = download(sb, h, report["reportDocumentId"])
        assert "errorDetails" in json.loads(content)


def test_cancel_report_only_in_queue():
    with run_sandbox(
        end_date=END_DATE, scale=1
    ) as sb:  # real time: the report stays IN_QUEUE for 30 s
        h = headers(sb)
        report_id = create_report(sb, h, "GET_MERCHANT_LISTINGS_ALL_DATA").json()["reportId"]
        url = f"{sb.url}{REPORTS}/reports/{report_id}"
        assert requests.delete(url, headers=h).status_code == 200
        assert requests.get(url, headers=h).json()["processingStatus"] == "CANCELLED"
        assert requests.delete(url, headers=h).status_code == 400
        assert requests.delete(f"{sb.url}{REPORTS}/reports/123", headers=h).status_code == 404


def test_get_reports_pages_and_next_token_rules(sandbox, h):
    for _ in range(3):
        create_report(sandbox, h, "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA")
    url = f"{sandbox.url}{REPORTS}/reports"
    page = requests.get(
        url,
        headers=h,
        params={"reportTypes": "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA", "pageSize": 2},
    ).json()
    assert len(page["reports"]) == 2 and page["nextToken"]
    rest = requests.get(url, headers=h, params={"nextToken": page["nextToken"]}).json()
    assert len(rest["reports"]) >= 1
    ids = {r["reportId"] for r in page["reports"]} | {r["reportId"] for r in rest["reports"]}
    assert len(ids) == len(page["reports"]) + len(rest["reports"])
    mixed = requests.get(url, headers=h, params={"nextToken": page["nextToken"], "pageSize": 2})
    assert mixed.status_code == 400 and mixed.json()["errors"][0]["code"] == "InvalidInput"
    assert requests.get(url, headers=h).status_code == 400  # neither reportTypes nor nextToken


def test_document_url_expires_like_s3():
    with run_sandbox(
        end_date=END_DATE, scale=600, url_lifetime=60
    ) as sb:  # 60 simulated s = 0.1 real s
        h = headers(sb)
        doc = report_document(sb, h)
        assert requests.get(doc["url"]).status_code == 200
        time.sleep(0.3)
        expired = requests.get(doc["url"])
        assert expired.status_code == 403 and b"Request has expired" in expired.content
        tampered = requests.get(doc["url"].replace("sig=", "sig=0"))
        assert tampered.status_code == 403


def test_document_urls_name_the_bound_address_not_the_host_header(sandbox, h):
    spoofed = {**h, "Host": "attacker.example:8443"}
    report_id = create_report(sandbox, h, "GET_MERCHANT_LISTINGS_ALL_DATA").json()["reportId"]
    document_id = wait_report(sandbox, h, report_id)["reportDocumentId"]
    doc = requests.get(f"{sandbox.url}{REPORTS}/documents/{document_id}", headers=spoofed)
    assert doc.status_code == 200, doc.text
    assert doc.json()["url"].startswith(sandbox.url + "/")
    assert requests.get(doc.json()["url"]).status_code == 200
    kiosk = f"{sandbox.url}/dataKiosk/2023-11-15"
    query_id = requests.post(f"{kiosk}/queries", headers=h, json={"query": KIOSK_QUERY}).json()[
        "queryId"
    ]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        query = requests.get(f"{kiosk}/queries/{query_id}", headers=h).json()
        if query["processingStatus"] == "DONE":
            break
        time.sleep(0.02)
    answer = requests.get(f"{kiosk}/documents/{query['dataDocumentId']}", headers=spoofed)
    assert answer.json()["documentUrl"].startswith(sandbox.url + "/")


def test_content_encoding_url_header_on_request(sandbox, h):
    report_id = create_report(
        sandbox, h, "GET_SALES_AND_TRAFFIC_REPORT", reportOptions={"asinGranularity": "CHILD"}
    ).json()["reportId"]
    document_id = wait_report(sandbox, h, report_id)["reportDocumentId"]
    documents = f"{sandbox.url}{REPORTS}/documents/{document_id}"
    plain = requests.get(documents, headers=h).json()
    assert plain["compressionAlgorithm"] == "GZIP"
    raw = requests.get(plain["url"])
    assert "Content-Encoding" not in raw.headers
    expected = gzip.decompress(raw.content)
    flagged = requests.get(documents, headers=h, params={"enableContentEncodingUrlHeader": "true"})
    assert flagged.json()["compressionAlgorithm"] == "GZIP"
    answer = requests.get(flagged.json()["url"])
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.content == expected  # requests decompressed it on the fly
    unsigned = flagged.json()["url"].replace("&response-content-encoding=gzip", "")
    assert requests.get(unsigned).status_code == 403  # the header is part of the signature


def test_report_schedules(sandbox, h):
    url = f"{sandbox.url}{REPORTS}/schedules"
    body = {
        "reportType": "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA",
        "marketplaceIds": [US],
        "period": "PT1H",
    }
    created = requests.post(url, headers=h, json=body)
    assert created.status_code == 201
    schedule_id = created.json()["reportScheduleId"]
    one = requests.get(f"{url}/{schedule_id}", headers=h).json()
    assert one["period"] == "PT1H"
    listed = requests.get(url, headers=h, params={"reportTypes": body["reportType"]}).json()
    assert [s["reportScheduleId"] for s in listed["reportSchedules"]] == [schedule_id]
    time.sleep(0.2)  # the schedule creates its first report at once
    made = requests.get(
        f"{sandbox.url}{REPORTS}/reports", headers=h, params={"reportTypes": body["reportType"]}
    ).json()["reports"]
    assert any(r.get("reportScheduleId") == schedule_id for r in made)
    assert requests.delete(f"{url}/{schedule_id}", headers=h).status_code == 200
    assert requests.get(f"{url}/{schedule_id}", headers=h).status_code == 404


def test_same_seed_gives_byte_identical_documents():
    digests = []
    for _ in range(2):
        with run_sandbox(end_date=END_DATE, scale=600, seed=11) as sb:
            h = headers(sb)
            found = []
            for report_type in (
                "GET_SALES_AND_TRAFFIC_REPORT",
                "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL",
            ):
                doc = report_document(sb, h, report_type)
                found.append(hashlib.sha256(requests.get(doc["url"]).content).hexdigest())
            digests.append(found)
    assert digests[0] == digests[1]


# --------------------------------------------------------------------------------------------
# Data Kiosk
# --------------------------------------------------------------------------------------------

KIOSK_QUERY = (
    "query MyQuery{analytics_salesAndTraffic_2024_04_24{salesAndTrafficByDate("
    'startDate:"2026-11-10" endDate:"2026-11-12" aggregateBy:DAY marketplaceIds:["ATVPDKIKX0DER"])'
    "{startDate endDate marketplaceId sales{unitsOrdered} traffic{pageViews}}}}"
)


def test_data_kiosk_query_to_document(sandbox, h):
    base = f"{sandbox.url}/dataKiosk/2023-11-15"
    created = requests.post(f"{base}/queries", headers=h, json={"query": KIOSK_QUERY})
    assert created.status_code == 202
    query_id = created.json()["queryId"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        query = requests.get(f"{base}/queries/{query_id}", headers=h).json()
        if query["processingStatus"] == "DONE":
            break
        time.sleep(0.02)
    assert query["processingStatus"] == "DONE"
    doc = requests.get(f"{base}/documents/{query['dataDocumentId']}", headers=h).json()
    lines = requests.get(doc["documentUrl"]).content.decode().splitlines()
    assert lines and "unitsOrdered" in lines[0]
    bad = requests.post(f"{base}/queries", headers=h, json={"query": "SELECT 1"})
    assert bad.status_code == 400


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("error_500", 500, "InternalFailure"),
        ("error_503", 503, "ServiceUnavailable"),
        ("throttle", 429, "QuotaExceeded"),
    ],
)
def test_injected_errors(fault, status, code):
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(**{fault: 1.0})) as sb:
        answer = requests.get(f"{sb.url}/sellers/v1/marketplaceParticipations", headers=headers(sb))
        assert answer.status_code == status and answer.json()["errors"][0]["code"] == code


def test_injected_reset_and_truncation():
    with (
        run_sandbox(end_date=END_DATE, scale=600, faults=Faults(reset=1.0)) as sb,
        pytest.raises(requests.exceptions.ConnectionError),
    ):
        requests.post(sb.lwa_url, data={"grant_type": "refresh_token"})
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(truncate=1.0)) as sb:
        h = headers(sb)
        doc = report_document(sb, h)
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(doc["url"]).content  # noqa: B018


def test_content_encoding_gzip_on_a_gzip_document(tmp_path: Path):
    """Amazon has at times also sent ``Content-Encoding: gzip`` with an already-GZIP document:
    the bytes on the wire are the same either way, and the toolkit keeps them as received."""
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.api.reports import download_document

    with (
        run_sandbox(end_date=END_DATE, scale=600) as sb,
        SpApiClient.from_env(env=sb.env) as client,
    ):
        h = headers(sb)
        gzipped = report_document(sb, h, "GET_SALES_AND_TRAFFIC_REPORT")["reportDocumentId"]
        plain = report_document(sb, h)["reportDocumentId"]
        seen = {}
        for rate in (0.0, 1.0):
            sb.app.faults.content_encoding_gzip = rate
            with requests.get(document_url(sb, h, gzipped), stream=True) as answer:
                raw = answer.raw.read(decode_content=False)
                encoding = answer.headers.get("Content-Encoding")
            saved = download_document(client, gzipped, tmp_path / f"doc-{rate}")
            seen[rate] = (encoding, raw, saved.sha256, saved.gzip)
        # a client that lets its HTTP library decode gets the document already decompressed
        decoded = requests.get(document_url(sb, h, gzipped)).content
        # only GZIP documents ever carry the header
        plain_answer = requests.get(document_url(sb, h, plain))
    (no_header, raw_before, sha_before, gzip_before) = seen[0.0]
    (header, raw_after, sha_after, gzip_after) = seen[1.0]
    assert no_header is None and header == "gzip"
    assert raw_before == raw_after and raw_before[:2] == b"\x1f\x8b"
    assert sha_before == sha_after == hashlib.sha256(raw_before).hexdigest()
    assert gzip_before and gzip_after
    assert decoded == gzip.decompress(raw_before)
    assert plain_answer.ok and "Content-Encoding" not in plain_answer.headers
    assert Faults.parse("gzip_header=0.5").content_encoding_gzip == 0.5


def _first_rolls(faults: Faults, kind: str, count: int) -> list[bool]:
    return [faults.roll(kind) for _ in range(count)]


def test_slow_fault_delays_answers_and_the_client_retries():
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.api.ratelimit import RetryPolicy

    url_path = "/sellers/v1/marketplaceParticipations"
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(slow=1.0, slow_seconds=0.3)) as sb:
        h = headers(sb)
        started = time.monotonic()
        assert requests.get(sb.url + url_path, headers=h).ok
        assert time.monotonic() - started >= 0.3
    # The dice are seeded: pick a seed whose first draws are token fast, call slow, retry fast.
    seed = next(
        n
        for n in range(1000)
        if _first_rolls(Faults(slow=0.5, seed=n), "slow", 3) == [False, True, False]
    )
    faults = Faults(slow=0.5, slow_seconds=1.0, seed=seed)
    with (
        run_sandbox(end_date=END_DATE, scale=600, faults=faults) as sb,
        SpApiClient.from_env(
            env=sb.env,
            timeout=(5.0, 0.3),
            retry=RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        ) as client,
    ):
        started = time.monotonic()
        payload = client.call("getMarketplaceParticipations")["payload"]
        elapsed = time.monotonic() - started
    assert {p["marketplace"]["id"] for p in payload} == {US, DE, JP}
    assert sum(stats.retried for stats in client.stats().values()) == 1
    assert 0.3 <= elapsed < 1.0  # one read timeout, then a quick answer; never the full delay


def test_expired_token_fault_and_fault_parsing():
    faults = Faults.parse("429=0.1,500=0.05,expired=1", seed=4)
    assert (faults.throttle, faults.error_500, faults.expired_token) == (0.1, 0.05, 1.0)
    with pytest.raises(ValueError, match="bad fault"):
        Faults.parse("bogus=1")
    with run_sandbox(end_date=END_DATE, scale=600, faults=Faults(expired_token=1.0)) as sb:
        answer = requests.get(f"{sb.url}/sellers/v1/marketplaceParticipations", headers=headers(sb))
        assert answer.status_code == 403 and "expired" in answer.json()["errors"][0]["details"]


def test_fault_dice_is_deterministic():
    rolls = [[Faults(throttle=0.5, seed=9).roll("throttle") for _ in range(1)] for _ in range(2)]
    a, b = Faults(throttle=0.5, seed=9), Faults(throttle=0.5, seed=9)
    assert [a.roll("throttle") for _ in range(50)] == [b.roll("throttle") for _ in range(50)]
    assert rolls[0] == rolls[1]


def test_faults_count_what_fired():
    faults = Faults(throttle=0.5, reset=0.0, seed=9)
    throttled = sum(faults.roll("throttle") for _ in range(200))
    assert faults.roll("reset") is False
    assert 0 < throttled < 200 and faults.fired == {"throttle": throttled}


def test_orders_by_last_update_come_whole_and_in_one_window_only():
    """Amazon lists an order under the window of its newest change, with every item: an item
    that changed earlier is not left behind in an earlier window's version."""
    from spapi_toolkit.api.client import SpApiClient

    # One-day windows: the few orders whose items change on different days straddle them.
    windows = [f"2026-11-{day:02}T00:00:00Z" for day in range(1, 27)]
    with (
        run_sandbox(end_date=END_DATE, scale=600) as sb,
        SpApiClient.from_env(env=sb.env) as client,
    ):
        seen: dict[str, set[str]] = {}
        for after, before in itertools.pairwise(windows):
            window = {"lastUpdatedAfter": after, "lastUpdatedBefore": before}
            for page in client.paginate("searchOrders", maxResultsPerPage=100, **window):
                for order in page["orders"]:
                    assert after <= order["lastUpdatedTime"] <= before, order["orderId"]
                    assert order["orderId"] not in seen, f"{order['orderId']} listed twice"
                    seen[order["orderId"]] = {i["orderItemId"] for i in order["orderItems"]}
        assert len(seen) > 50
        several = [order_id for order_id, items in seen.items() if len(items) > 1]
        assert several, "no order with more than one item to check"
        for order_id in several[:20]:
            whole = client.call("getOrder", orderId=order_id)["order"]["orderItems"]
            assert seen[order_id] == {i["orderItemId"] for i in whole}, order_id


# --------------------------------------------------------------------------------------------
# restricted data: Restricted Data Tokens for personal data
# --------------------------------------------------------------------------------------------

RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"


def shipped_order_ids(client, count: int = 2) -> list[str]:
    """Ids of orders the sandbox seller really has, shipped (so they have an address)."""
    orders = client.call(
        "searchOrders",
        createdAfter="2026-11-20T00:00:00Z",
        maxResultsPerPage=50,
        includedData=["FULFILLMENT"],
    )["orders"]
    shipped = [o["orderId"] for o in orders if o["fulfillment"]["fulfillmentStatus"] == "SHIPPED"]
    assert len(shipped) >= count
    return shipped[:count]


def test_restricted_operations_take_only_a_matching_rdt():
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.api.errors import UnauthorizedError
    from spapi_toolkit.api.rdt import RestrictedTokens

    with (
        run_sandbox(end_date=END_DATE, scale=600) as sb,
        SpApiClient.from_env(env=sb.env) as client,
    ):
        order_id, other_id = shipped_order_ids(client)
        rdt = RestrictedTokens(client)
        address = rdt.call("ordersV0.getOrderAddress", (), orderId=order_id)["payload"]
        assert address["AmazonOrderId"] == order_id
        ship_to = address["ShippingAddress"]
        assert set(ship_to) == {"City", "StateOrRegion", "PostalCode", "CountryCode", "AddressType"}
        buyer = rdt.call("ordersV0.getOrderBuyerInfo", (), orderId=order_id)["payload"]
        assert buyer["BuyerEmail"].endswith("@marketplace.amazon.com")
        with pytest.raises(UnauthorizedError, match="Access to requested resource is denied"):
            client.call("ordersV0.getOrderAddress", orderId=order_id)
        # an RDT opens exactly the method and path it was made for
        token = rdt.token("GET", f"/orders/v0/orders/{order_id}/address")
        for path in (
            f"/orders/v0/orders/{other_id}/address",
            f"/orders/v0/orders/{order_id}/buyerInfo",
            "/sellers/v1/marketplaceParticipations",
        ):
            answer = requests.get(sb.url + path, headers={"x-amz-access-token": token})
            assert answer.status_code == 403, path
            assert (
                answer.json()["errors"][0]["message"] == "Access to requested resource is denied."
            )
        generic = rdt.token("GET", "/orders/v0/orders/{orderId}/address")
        answer = requests.get(
            f"{sb.url}/orders/v0/orders/{other_id}/address",
            headers={"x-amz-access-token": generic},
        )
        assert answer.status_code == 200  # a generic path covers every order
        bad = requests.post(
            sb.url + RDT_PATH,
            headers=headers(sb),
            json={"restrictedResources": [{"method": "GET", "path": "/no/such/api"}]},
        )
        assert bad.status_code == 400


def test_rdts_expire_and_addresses_are_deterministic():
    from spapi_toolkit.api.client import SpApiClient

    with run_sandbox(
        end_date=END_DATE, scale=600, rdt_lifetime=60
    ) as sb:  # 60 simulated s = 0.1 real s
        with SpApiClient.from_env(env=sb.env) as client:
            (order_id,) = shipped_order_ids(client, 1)
        path = f"/orders/v0/orders/{order_id}/address"
        made = requests.post(
            sb.url + RDT_PATH,
            headers=headers(sb),
            json={"restrictedResources": [{"method": "GET", "path": path}]},
        ).json()
        assert made["expiresIn"] == 60
        rdt = {"x-amz-access-token": made["restrictedDataToken"]}
        first = requests.get(sb.url + path, headers=rdt)
        assert first.status_code == 200
        time.sleep(0.3)
        expired = requests.get(sb.url + path, headers=rdt)
        assert expired.status_code == 403
        [error] = expired.json()["errors"]
        assert error["code"] == "Unauthorized"
        assert error["message"] == "Access to requested resource is denied."
        assert error["details"] == "The access token you provided has expired."
    with run_sandbox(end_date=END_DATE, scale=600) as again:  # same seed, same orders, same address
        made = requests.post(
            again.url + RDT_PATH,
            headers=headers(again),
            json={"restrictedResources": [{"method": "GET", "path": path}]},
        ).json()
        rdt = {"x-amz-access-token": made["restrictedDataToken"]}
        assert requests.get(again.url + path, headers=rdt).json() == first.json()


# --------------------------------------------------------------------------------------------
# notifications
# --------------------------------------------------------------------------------------------


def _subscribe(sb, arn: str, notification_type: str) -> None:
    grantless = headers(sb, grantless=True)
    destination = requests.post(
        f"{sb.url}/notifications/v1/destinations",
        headers=grantless,
        json={"name": "lake", "resourceSpecification": {"sqs": {"arn": arn}}},
    )
    assert destination.status_code == 200, destination.text
    destination_id = destination.json()["payload"]["destinationId"]
    subscription = requests.post(
        f"{sb.url}/notifications/v1/subscriptions/{notification_type}",
        headers=headers(sb),
        json={"payloadVersion": "1.0", "destinationId": destination_id},
    )
    assert subscription.status_code == 200, subscription.text


def test_report_finished_notification_to_sqs_on_moto(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
        queue_url = sqs.create_queue(QueueName="spapi-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        with run_sandbox(end_date=END_DATE, scale=600) as sb:
            _subscribe(sb, arn, "REPORT_PROCESSING_FINISHED")
            h = headers(sb)
            report_id = create_report(sb, h, "GET_MERCHANT_LISTINGS_ALL_DATA").json()["reportId"]
            wait_report(sb, h, report_id)
            messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get(
                "Messages", []
            )
        assert messages, sb.app.notifier.failures
        body = json.loads(messages[0]["Body"])
        assert body["notificationType"] == "REPORT_PROCESSING_FINISHED"
        inner = body["payload"]["reportProcessingFinishedNotification"]
        assert inner["reportId"] == report_id and inner["processingStatus"] == "DONE"
    finally:
        server.stop()


def test_market_notifications_to_a_local_file_with_duplicates(tmp_path: Path):
    config = SandboxConfig(
        end_date=END_DATE,
        scale=36000,
        notifications_dir=str(tmp_path),
        faults=Faults(duplicate_notification=1.0),
    )
    with run_sandbox(config) as sb:
        _subscribe(sb, "arn:aws:sqs:local:000000000000:events", "ANY_OFFER_CHANGED")
        _subscribe_again = headers(sb)
        destination_id = next(iter(sb.app.notifier.destinations))
        requests.post(
            f"{sb.url}/notifications/v1/subscriptions/LISTINGS_ITEM_STATUS_CHANGE",
            headers=_subscribe_again,
            json={"payloadVersion": "1.0", "destinationId": destination_id},
        )
        deadline = time.monotonic() + 30  # generous: the suite may load the machine
        while time.monotonic() < deadline:
            kinds = {d.get("NotificationType") for d in sb.app.notifier.delivered}
            if {"ANY_OFFER_CHANGED", "LISTINGS_ITEM_STATUS_CHANGE"} <= kinds:
                break
            time.sleep(0.1)
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = {line["NotificationType"] for line in lines}
    assert {"ANY_OFFER_CHANGED", "LISTINGS_ITEM_STATUS_CHANGE"} <= kinds
    ids = [line["NotificationMetadata"]["NotificationId"] for line in lines]
    assert len(ids) == 2 * len(set(ids))  # every delivery came twice


def test_subscriptions_list_and_test_notification(tmp_path: Path):
    with run_sandbox(end_date=END_DATE, scale=600, notifications_dir=str(tmp_path)) as sb:
        grantless = headers(sb, grantless=True)
        base = f"{sb.url}/notifications/v1/subscriptions"
        test_url = f"{base}/REPORT_PROCESSING_FINISHED/testNotification"
        body = {"testNotification": {"payloadVersion": "1.0"}}
        nothing_subscribed = requests.post(test_url, headers=grantless, json=body)
        assert nothing_subscribed.status_code == 404
        _subscribe(sb, "arn:aws:sqs:local:000000000000:tests", "REPORT_PROCESSING_FINISHED")
        params = {"notificationTypes": "REPORT_PROCESSING_FINISHED"}
        listed = requests.get(base, headers=headers(sb), params=params).json()["payload"]
        assert len(listed["subscriptions"]) == 1 and "nextToken" not in listed
        other = requests.get(base, headers=headers(sb), params={"notificationTypes": "X"}).json()
        assert other["payload"]["subscriptions"] == []
        assert requests.post(test_url, headers=grantless, json=body).status_code == 200
        unknown_type = requests.post(
            f"{base}/NO_SUCH_TYPE/testNotification", headers=grantless, json=body
        )
        assert unknown_type.status_code == 400
    lines = [json.loads(line) for line in (tmp_path / "tests.jsonl").read_text().splitlines()]
    assert len(lines) == 1
    inner = lines[0]["payload"]["reportProcessingFinishedNotification"]
    assert inner["sellerId"] == sb.app.config.seller_id and inner["reportId"] == "TEST_NOTIFICATION"
    subscription_id = listed["subscriptions"][0]["subscriptionId"]
    assert lines[0]["notificationMetadata"]["subscriptionId"] == subscription_id


# --------------------------------------------------------------------------------------------
# python-amazon-sp-api against the sandbox
# --------------------------------------------------------------------------------------------


def test_python_amazon_sp_api_reports_round_trip(sandbox, monkeypatch):
    from sp_api.api import ReportsV2

    adapter = load("pasp_adapter")
    adapter.reset_token_cache()
    env = sandbox.env
    client = adapter.make_client(
        ReportsV2,
        endpoint=env["SPAPI_ENDPOINT"],
        lwa_endpoint=env["SPAPI_LWA_ENDPOINT"],
        client_id=env["SPAPI_CLIENT_ID"],
        client_secret=env["SPAPI_CLIENT_SECRET"],
        refresh_token=env["SPAPI_REFRESH_TOKEN"],
        marketplace_id=US,
    )
    created = client.create_report(
        reportType="GET_MERCHANT_LISTINGS_ALL_DATA", marketplaceIds=[US], **WINDOW
    )
    report_id = created.payload["reportId"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        report = client.get_report(report_id).payload
        if report["processingStatus"] == "DONE":
            break
        time.sleep(0.05)
    assert report["processingStatus"] == "DONE"
    document = client.get_report_document(report["reportDocumentId"], download=True)
    assert document.payload["document"].startswith("item-name\t")
    adapter.reset_token_cache()


# --------------------------------------------------------------------------------------------
# ground truth and the CLI
# --------------------------------------------------------------------------------------------


def test_truth_endpoint_and_cli(sandbox):
    from typer.testing import CliRunner

    from spapi_sandbox.cli import app

    rows = requests.get(
        f"{sandbox.url}/_sandbox/truth", params={"from": "2026-11-20", "to": "2026-11-20"}
    ).json()["rows"]
    assert rows and all(r["date"] == "2026-11-20" for r in rows)
    day = ["truth", "--seed", "3", "--end-date", str(END_DATE), "--from", "2026-11-20"]
    day += ["--to", "2026-11-20"]
    result = CliRunner().invoke(app, [*day, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == rows
    csv_out = CliRunner().invoke(app, day)
    assert csv_out.output.splitlines()[0].startswith("date,marketplace_id,asin")


def test_toolkit_client_round_trip_without_throttling(monkeypatch):
    from spapi_toolkit.api.client import SpApiClient

    with run_sandbox(end_date=END_DATE, scale=60) as sb:  # the sandbox's (scaled) limits are on
        for name, value in sb.env.items():
            monkeypatch.setenv(name, value)
        with SpApiClient.from_env() as client:
            body = {"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]}
            report_id = client.call("createReport", body=body)["reportId"]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                report = client.call("getReport", reportId=report_id)
                if report["processingStatus"] == "DONE":
                    break
            document = client.call("getReportDocument", reportDocumentId=report["reportDocumentId"])
            assert requests.get(document["url"]).content.startswith(b"item-name\t")
        assert sb.app.limits.refused == 0
