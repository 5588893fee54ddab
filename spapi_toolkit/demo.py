"""``make demo``: the toolkit against the local SP-API sandbox, end to end, offline.

Starts the sandbox (a simulated seller in the US, Germany and Japan), points an unchanged
``SpApiClient`` at it through the same environment variables a real deployment uses, and for
each marketplace requests Sales & Traffic, all-orders and merchant-listings reports, waits for
them under the sandbox's rate limits, downloads the documents as received and checks the Sales &
Traffic numbers against the seller's ground truth. Everything lands in ``reports/demo/`` with a
``summary.md`` to read.

Ingestion into the lake, the Glue jobs and the notebooks join this demo as their issues land.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from .client import SpApiClient
from .regions import marketplace
from .reports import Document, create_report, download_document, wait_for_report

MARKETPLACES = ("US", "DE", "JP")
RESTATEMENT = timedelta(hours=72)
console = Console(width=150)


def _text(document: Document, encoding: str) -> str:
    raw = document.path.read_bytes()
    return (gzip.decompress(raw) if document.gzip else raw).decode(encoding)


def _units_by_day(report: dict[str, Any]) -> dict[str, int]:
    return {
        row["date"]: row["salesByDate"]["unitsOrdered"]
        for row in report.get("salesAndTrafficByDate", [])
    }


def run(out: Path, seed: int, scale: float) -> int:
    from .sandbox.server import run_sandbox  # the sandbox is only needed here, not by the client

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    summary: list[tuple[str, str, str, str, str]] = []
    checks: list[str] = []
    with run_sandbox(seed=seed, scale=scale) as sandbox:
        console.print(f"[bold]sandbox[/bold] serving a simulated seller at {sandbox.url}")
        seller = sandbox.app.seller
        data_end = datetime.combine(seller.config.end_date, datetime.min.time(), tzinfo=UTC)
        start = data_end - timedelta(days=13)  # two weeks, the last days still restating
        end = data_end + timedelta(days=1) - timedelta(seconds=1)
        client = SpApiClient.from_env(env=sandbox.env)
        plans = (
            (
                "GET_SALES_AND_TRAFFIC_REPORT",
                {"dateGranularity": "DAY", "asinGranularity": "CHILD"},
            ),
            ("GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", None),
            ("GET_MERCHANT_LISTINGS_ALL_DATA", None),
        )
        for country in MARKETPLACES:
            market = marketplace(country)
            for report_type, options in plans:
                report_id = create_report(
                    client, report_type, [market.marketplace_id], start=start, end=end,
                    options=options,
                )  # fmt: skip
                report = wait_for_report(client, report_id, poll_seconds=0.2, timeout_seconds=120)
                status = report["processingStatus"]
                if status != "DONE":
                    summary.append((country, report_type, status, "-", "-"))
                    continue
                suffix = "json" if "SALES_AND_TRAFFIC" in report_type else "tsv"
                target = out / country / f"{report_type}.{suffix}"
                document = download_document(client, report["reportDocumentId"], target)
                encoding = "utf-8" if suffix == "json" else market.flat_file_encoding
                text = _text(document, encoding)
                rows = len(text.splitlines()) - 1 if suffix == "tsv" else "json"
                summary.append((country, report_type, status, f"{document.size:,}", str(rows)))
                if suffix == "json":
                    requested = datetime.fromisoformat(report["createdTime"].replace("Z", "+00:00"))
                    checks.append(_check_against_truth(seller, market, json.loads(text), requested))
        stats = client.stats()
    elapsed = time.monotonic() - started
    _write_summary(out, summary, checks, stats, elapsed)
    return 0


def _check_against_truth(seller: Any, market: Any, report: dict[str, Any], as_of: datetime) -> str:
    """Compare the report's daily units with what the simulated seller really sold, on the days
    that had settled (ended 72 hours or more before the report was requested)."""
    truth: dict[str, int] = defaultdict(int)
    for row in seller.truth():
        if row["marketplace_id"] == market.marketplace_id:
            truth[str(row["date"])] += row["units_ordered"]
    reported = _units_by_day(report)
    zone = ZoneInfo(market.timezone)
    final_days = [
        d
        for d in reported
        if datetime.fromisoformat(d).replace(tzinfo=zone) + timedelta(days=1) + RESTATEMENT <= as_of
    ]
    matching = sum(1 for d in final_days if reported[d] == truth.get(d, 0))
    restated = len(reported) - len(final_days)
    return (
        f"{market.country_code}: Sales & Traffic units match the seller's ground truth on "
        f"{matching} of {len(final_days)} settled days ({restated} recent days are still within "
        "Amazon's 72-hour restatement window)"
    )


def _write_summary(
    out: Path,
    rows: list[tuple[str, str, str, str, str]],
    checks: list[str],
    stats: dict[str, Any],
    elapsed: float,
) -> None:
    table = Table("marketplace", "report", "status", "bytes received", "rows")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in checks:
        console.print(f"[green]check[/green] {line}")
    calls = Table("operation", "requests", "throttled (429)", "retried", "waited s")
    for name, s in sorted(stats.items()):
        calls.add_row(name, str(s.requests), str(s.throttled), str(s.retried),
                      f"{s.waited_seconds:.1f}")  # fmt: skip
    console.print(calls)
    lines = [
        "# spapi-lake demo",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.1f} s against the local "
        "SP-API sandbox (a simulated seller; nothing left this machine).",
        "",
        "| marketplace | report | status | bytes received | rows |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
        *[f"- {line}" for line in checks],
        "",
        "| operation | requests | throttled (429) | retried | waited s |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {s.requests} | {s.throttled} | {s.retried} | {s.waited_seconds:.1f} |"
            for name, s in sorted(stats.items())
        ],
        "",
        "The documents are in the folders beside this file, exactly as received.",
        "",
    ]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    console.print(f"[bold]wrote[/bold] {out / 'summary.md'} and the documents beside it")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/demo"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=600.0, help="sandbox clock speed-up")
    args = parser.parse_args()
    return run(args.out, args.seed, args.scale)


if __name__ == "__main__":
    raise SystemExit(main())
