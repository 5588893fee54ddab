"""The Reports API workflow on top of ``SpApiClient``: create, wait, fetch the document.

``createReport`` → ``getReport`` until ``processingStatus`` is final → ``getReportDocument`` →
download the pre-signed URL (valid about five minutes) without the SP-API token. A document
may be GZIP-compressed, and its HTTP answer may also carry ``Content-Encoding: gzip``; the
download is streamed to a file as received, and gzip is detected from the first bytes of what
arrived, so nothing is decompressed twice. These are plain functions: the ingestion ledger
(which records every request before it is sent) builds on them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import urllib3

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.errors import SpApiToolkitError

FINAL_STATUSES = frozenset({"DONE", "CANCELLED", "FATAL"})
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20


class ReportFailed(SpApiToolkitError):
    """Amazon finished the report with FATAL (retry only after a cool-down)."""


class DownloadError(SpApiToolkitError):
    """The document download failed or arrived incomplete."""


@dataclass(frozen=True)
class Document:
    """A downloaded report document, as received (still compressed if it was)."""

    path: Path
    report_document_id: str
    compression: str | None  # what getReportDocument said
    gzip: bool  # what the first bytes say
    size: int
    sha256: str


def create_report(
    client: SpApiClient,
    report_type: str,
    marketplace_ids: Sequence[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    options: Mapping[str, str] | None = None,
) -> str:
    """Request a report; returns its ``reportId``."""
    body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": list(marketplace_ids)}
    if start is not None:
        body["dataStartTime"] = start
    if end is not None:
        body["dataEndTime"] = end
    if options:
        body["reportOptions"] = dict(options)
    return str(client.call("createReport", body=body)["reportId"])


def wait_for_report(
    client: SpApiClient,
    report_id: str,
    *,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 3600.0,
    on_status: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll ``getReport`` until the report is DONE, CANCELLED or FATAL; return the report.

    Polling shares getReport's rate limit with every other caller of the client.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        report = client.call("getReport", reportId=report_id)
        if on_status is not None:
            on_status(report)
        if report.get("processingStatus") in FINAL_STATUSES:
            return dict(report)
        if time.monotonic() + poll_seconds > deadline:
            raise SpApiToolkitError(
                f"report {report_id} still {report.get('processingStatus')} after "
                f"{timeout_seconds:.0f}s"
            )
        time.sleep(poll_seconds)


def open_document(
    client: SpApiClient, report_document_id: str, *, timeout: float = 300.0
) -> tuple[dict[str, Any], Iterator[bytes]]:
    """A document's ``getReportDocument`` answer, and its bytes exactly as they arrive.

    The pre-signed URL gets no SP-API token. The bytes are the raw ones, even when the answer
    says ``Content-Encoding: gzip``. A non-200 answer, a connection closed early or fewer bytes
    than ``Content-Length`` raise DownloadError when they are noticed, so a consumer never takes
    a cut document for a whole one.
    """
    meta = client.call("getReportDocument", reportDocumentId=report_document_id)
    return dict(meta), document_chunks(client, report_document_id, meta["url"], timeout)


def document_chunks(
    client: SpApiClient, report_document_id: str, url: str, timeout: float = 300.0
) -> Iterator[bytes]:
    """The bytes at a document's pre-signed ``url``, checked as ``open_document`` says."""
    with client.session.get(url, stream=True, timeout=(10, timeout)) as response:
        if response.status_code != 200:
            raise DownloadError(
                f"downloading document {report_document_id} failed with HTTP "
                f"{response.status_code} (the URL is valid for about five minutes)"
            )
        expected = response.headers.get("Content-Length")
        size = 0
        try:
            for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                size += len(chunk)
                yield chunk
        except urllib3.exceptions.ProtocolError:
            raise DownloadError(
                f"document {report_document_id} arrived truncated: the connection closed after "
                f"{size} of {expected or 'unknown'} bytes"
            ) from None
        if expected is not None and int(expected) != size:
            raise DownloadError(
                f"document {report_document_id} arrived truncated: {size} of {expected} bytes"
            )


def download_document(
    client: SpApiClient, report_document_id: str, destination: Path, *, timeout: float = 300.0
) -> Document:
    """Fetch a document's URL and stream the bytes, as received, to ``destination``.

    Writes to a temporary name first and renames on success, so a failed or truncated
    download never leaves a file that looks complete.
    """
    digest = hashlib.sha256()
    size = 0
    head = b""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    try:
        meta, chunks = open_document(client, report_document_id, timeout=timeout)
        with partial.open("wb") as out:
            for chunk in chunks:
                if len(head) < 2:
                    head += chunk[:2]
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"downloading document {report_document_id} failed: {type(exc).__name__}"
        ) from None
    except DownloadError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(destination)
    return Document(
        path=destination,
        report_document_id=report_document_id,
        compression=meta.get("compressionAlgorithm"),
        gzip=head[:2] == GZIP_MAGIC,
        size=size,
        sha256=digest.hexdigest(),
    )
