"""``make demo``: the pipeline end to end, offline, against the local SP-API sandbox.

Starts the sandbox (a simulated seller in the US, Germany and Japan) and points an unchanged
``SpApiClient`` at it through the same environment variables a deployment uses. Then it loads
the seller's competitor watchlist and ingests every dataset of the registry for the seller's
last 30 days into a local lake's raw zone (reports, Data Kiosk, listings and the other API
reads). The catalog, offers and competitor snapshots are taken as the daily schedule takes
them: on each of the seven mornings up to today, from a sandbox started at 06:00 UTC that
morning, so the competitors have a week of history and every snapshot stays on its day. It
checks what landed against the seller's ground truth, loads the sandbox's daily FX file
(``spapi reference load fx_rates``'s code), curates the raw zone into the cleaned tables and the
marts on a local Spark (the Glue jobs' code), checks the cleaned tables against the ground
truth too, and writes ``reports/demo/summary.md``. The main run's sandbox clock runs an hour per
real second, so Amazon's report quotas and processing times pass quickly. Run it twice: the
second run lands nothing new and curates nothing new.

Every batch is checked by its expectation suite before it is published. With ``--notebooks``
(``make demo``), the analysis notebooks then run against the lake to HTML under ``reports/``;
the seconds of every stage are printed and added to the summary.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.clock import SYSTEM_CLOCK
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import is_manifest, raw_partition, raw_prefix
from spapi_toolkit.lake.registry import registry
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.regions import marketplace

MARKETPLACES = ("US", "DE", "JP")
RESTATEMENT = timedelta(hours=72)
FX_LOOKBACK = timedelta(days=7)  # rates before the history, for its first days (the rate-date rule)
MORNINGS = 7  # today's and the six before: the competitors' history
SNAPSHOTS = ("catalog_search,watchlist_catalog,watchlist_offers,watchlist_competitive,"
             "item_offers,catalog_items,competitive_summary")  # fmt: skip
# Ten simulated minutes per real second: each morning's run stays on its day in every marketplace
# (the main run's hour per second would carry a snapshot's catalog and offers calls across a
# marketplace's midnight, and the demo's check could not say which day's truth to compare).
SNAPSHOT_SCALE = 600
# The demo's PII hashing key when SPAPI_PII_HASH_KEY is unset: fine for a simulated seller,
# never for real data (a deployment keeps its key in Secrets Manager).
DEMO_HASH_KEY = b"spapi-lake demo key - not a secret"
console = Console(width=150)


def landed_manifests(lake: Lake, seller_id: str) -> list[Manifest]:
    return [
        Manifest.from_json(lake.read_bytes(key))
        for key in lake.list(raw_prefix())
        if is_manifest(key) and raw_partition(key).get("seller_id") == seller_id
    ]


def _text(lake: Lake, manifest: Manifest) -> str:
    raw = lake.read_bytes(manifest.key)
    return (gzip.decompress(raw) if manifest.compression == "gzip" else raw).decode(
        manifest.encoding or "utf-8"
    )


def _settled(day: str, country: str, now: datetime) -> bool:
    zone = ZoneInfo(marketplace(country).timezone)
    return datetime.fromisoformat(day).replace(tzinfo=zone) + timedelta(days=1) + RESTATEMENT <= now


def curate(
    lake: Lake,
    truth: list[dict[str, Any]],
    now: datetime,
    returned: dict[Returned, list[Any]],
    costs: int,
    posted: dict[tuple[str, str, str, str], dict[str, Any]],
    seller: Any,
) -> tuple[list[Any], list[str], list[str]]:
    """Curate raw → cleaned → aggregated on a local Spark, each batch gated by its expectation
    suite; check the cleaned daily sales, order items and FBA returns (``returned``: the
    sandbox's, per marketplace and local day) against the ground truth on settled days, the
    unit costs against the ``costs`` rows loaded, the cleaned financial events against what the
    sandbox ``posted`` (``finances.fee_truth``), the sales_daily mart's units against its
    cleaned table's, the Sales & Traffic report's settled days against Data Kiosk's
    (``report_against_kiosk``: sales_daily takes either), and competitor_daily's watched
    rivals against what the ``seller``'s catalog and offers served. (table results, check
    lines, the suites' failure lines)"""
    from spapi_toolkit.lake.curate import jobs
    from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated
    from spapi_toolkit.lake.curate.marts import report_against_kiosk
    from spapi_toolkit.lake.curate.marts.daily_sales import one_day_windows
    from spapi_toolkit.lake.curate.session import spark_session
    from spapi_toolkit.lake.quality.gate import SIDE_BY_SIDE

    console.print("[bold]curation[/bold] raw → cleaned → aggregated on a local Spark (the Glue "
                  "jobs' code)")  # fmt: skip
    spark = spark_session("spapi-demo")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        results = jobs.raw_to_cleaned(
            spark, lake, hash_key=jobs.hash_key_from_env() or DEMO_HASH_KEY,
            progress=lambda r: console.print(
                f"  {r.table:<22} {r.documents} new documents, {r.rows_out} rows, "
                f"{r.quarantined} quarantined, {_quality(r)}, {r.seconds:.1f} s",
                highlight=False),
            concurrent=SIDE_BY_SIDE,
        )  # fmt: skip
        marts = cleaned_to_aggregated(spark, lake, progress=lambda m: console.print(
            f"  {m.mart:<22} {m.changed} changed cleaned partitions, {m.partitions} mart "
            f"partitions written, {m.unconverted} rows without an FX rate, {_quality(m)}, "
            f"{m.seconds:.1f} s", highlight=False), concurrent=SIDE_BY_SIDE)  # fmt: skip
        held = [line for r in results for line in r.failure_lines()]
        held += [line for m in marts for line in m.failure_lines()]
        daily = spark.read.parquet(lake.location("cleaned/sales_traffic_daily")).collect()
        items = spark.read.parquet(lake.location("cleaned/order_items")).collect()
        came_back = spark.read.parquet(lake.location("cleaned/returns")).collect()
        events = spark.read.parquet(lake.location("cleaned/financial_events")).collect()
        cost_rows = spark.read.parquet(lake.location("cleaned/unit_costs")).count()
        rivals = (
            spark.read.parquet(lake.location("aggregated/competitor_daily"))
            .where("NOT is_ours")
            .collect()
        )
        pulled = {(r.marketplace_id, r.snapshot_date, r.asin): r.offers_available_ts
                  for r in spark.read.parquet(lake.location("cleaned/item_offers")).where(
                      "watched").collect()}  # fmt: skip
        report_rows = spark.read.parquet(lake.location("cleaned/sales_traffic_by_asin"))
        kiosk_rows = spark.read.parquet(lake.location("cleaned/kiosk_sales_traffic"))
        through = (now - RESTATEMENT - timedelta(days=2)).date()  # settled in every marketplace
        sources_differ = report_against_kiosk(report_rows, kiosk_rows, through).collect()
        both_held = (
            report_rows.select("marketplace_id", "date").distinct()
            .intersect(one_day_windows(kiosk_rows).select("marketplace_id", "date").distinct())
            .where(f"date <= '{through}'")
            .count()
        )  # fmt: skip
        mart_units, cleaned_units = (
            spark.read.parquet(lake.location(folder)).agg({"units_ordered": "sum"}).collect()[0][0]
            for folder in ("aggregated/sales_daily", "cleaned/sales_traffic_by_asin")
        )
    finally:
        spark.stop()
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for row in truth:
        expected[(row["marketplace_id"], str(row["date"]))] += row["units_ordered"]
    ordered: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        ordered[(item.marketplace_id, str(item.purchase_date))] += item.quantity
    lines = []
    for country in MARKETPLACES:
        market = marketplace(country).marketplace_id
        days = sorted({str(r.date) for r in daily if r.marketplace_id == market})
        settled = [d for d in days if _settled(d, country, now)]
        from_report = {str(r.date): r.units_ordered for r in daily if r.marketplace_id == market}
        same = sum(from_report[d] == expected[(market, d)] == ordered[(market, d)] for d in settled)
        lines.append(
            f"{country}: cleaned sales_traffic_daily and order_items units both match the ground "
            f"truth on {same} of {len(settled)} settled days"
        )
    lines += _returns_lines(came_back, returned, now)
    lines += _fees_lines(events, posted, now)
    lines.append(f"unit_costs: {cost_rows} rows curated of the {costs} loaded: "
                 f"{'yes' if cost_rows == costs else 'NO'}")  # fmt: skip
    lines.append(f"sales_daily mart units {mart_units} = cleaned sales_traffic_by_asin units "
                 f"{cleaned_units}: {'yes' if mart_units == cleaned_units else 'NO'}")  # fmt: skip
    lines.append(f"sales_traffic_by_asin and kiosk_sales_traffic agree on the {both_held} settled "
                 f"marketplace-days both hold ({len(sources_differ)} ASIN-days differ): "
                 f"{'yes' if both_held and not sources_differ else 'NO'}")  # fmt: skip
    lines.append(_competitor_line(rivals, pulled, seller))
    return results, lines, held


COMPARED = ("sales_rank", "buy_box_seller_id", "buy_box_landed_price", "lowest_landed_price",
            "total_offer_count")  # fmt: skip


def _competitor_line(rows: list[Any], pulled: dict[tuple, Any], seller: Any) -> str:
    """On how many watched rival-days competitor_daily holds what the sandbox's catalog and
    offers served that marketplace-local day (the day of Amazon's OffersAvailableTime)."""
    from spapi_sandbox.seller import local_day

    truth: dict[tuple[str, date], dict[str, dict]] = {}
    same = 0
    for row in rows:
        moment = pulled.get((row.marketplace_id, row.date, row.asin))
        day = local_day(row.marketplace_id, moment.astimezone(UTC)) if moment else None
        if day is None:
            continue
        if (row.marketplace_id, day) not in truth:
            served = seller.competitor_truth(row.marketplace_id, day)
            truth[(row.marketplace_id, day)] = {t["asin"]: t for t in served}
        want = truth[(row.marketplace_id, day)].get(row.asin)
        same += want is not None and all(row[c] == want[c] for c in COMPARED)
    days = len({(r.marketplace_id, r.date) for r in rows})
    verdict = "yes" if rows and same == len(rows) else "NO"
    return (
        f"competitors: competitor_daily matches the sandbox's catalog and offers on {same} "
        f"of {len(rows)} watched rival-days ({days} marketplace-days): {verdict}"
    )


Returned = tuple[str, str]  # (marketplace id, local day)


def sandbox_returns(
    seller: Any, markets: list[str], first: date, last: date
) -> dict[Returned, list[Any]]:
    """The seller's FBA returns processed on the local days ``first`` to ``last``, as the rows
    the cleaned table should hold: (order id, SKU, units, reason, condition), by day."""
    from spapi_sandbox.returns import returns

    found: dict[Returned, list[Any]] = defaultdict(list)
    wide = (datetime.combine(first - timedelta(days=1), datetime.min.time()),
            datetime.combine(last + timedelta(days=2), datetime.min.time()))  # fmt: skip
    for market in markets:
        for r in returns(seller, market, *wide):
            if first <= r.local_date <= last:
                found[(market, str(r.local_date))].append(_compared(r))
    return found


def sandbox_fees(
    seller: Any, markets: list[str], first: date, last: date
) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """What the sandbox posted on the local days ``first`` to ``last`` (``fee_truth``)."""
    from spapi_sandbox.finances import fee_truth

    wide = (datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC),
            datetime.combine(last + timedelta(days=2), datetime.min.time(), UTC))  # fmt: skip
    return {key: parts for key, parts in fee_truth(seller, markets, *wide).items()
            if first.isoformat() <= key[1] <= last.isoformat()}  # fmt: skip


def _compared(row: Any) -> tuple[Any, ...]:
    """What the returns check compares of a return: a sandbox ``Return`` or a cleaned row, which
    name these fields alike."""
    return (row.order_id, row.sku, row.quantity, row.reason, row.detailed_disposition)


def _returns_lines(
    rows: list[Any], returned: dict[Returned, list[Any]], now: datetime
) -> list[str]:
    """Per marketplace: on how many settled days the cleaned returns are the sandbox's."""
    held: dict[Returned, list[Any]] = defaultdict(list)
    for r in rows:
        held[(r.marketplace_id, str(r.return_date))].append(_compared(r))
    lines = []
    for country in MARKETPLACES:
        market = marketplace(country).marketplace_id
        days = sorted({d for m, d in {*held, *returned} if m == market})
        settled = [d for d in days if _settled(d, country, now)]
        same = sum(sorted(held[(market, d)]) == sorted(returned[(market, d)]) for d in settled)
        units = sum(u for d in settled for _, _, u, _, _ in held[(market, d)])
        lines.append(f"{country}: cleaned FBA returns ({units} units) match the ground truth on "
                     f"{same} of {len(settled)} settled days with returns")  # fmt: skip
    return lines


# financial_events' money columns by the charge, fee or promotion type Amazon posts them under
FEE_COLUMNS = {"Principal": "principal", "Tax": "tax", "ShippingCharge": "shipping_charge",
               "ShippingTax": "shipping_tax", "Promotion": "promotion",
               "Commission": "referral_fee", "FBAPerUnitFulfillmentFee": "fba_fee",
               "RefundCommission": "refund_commission"}  # fmt: skip


def _fees_lines(
    rows: list[Any], posted: dict[tuple[str, str, str, str], dict[str, Any]], now: datetime
) -> list[str]:
    """Per marketplace: on how many settled days every charge, promotion and fee of the cleaned
    financial events, summed per SKU and kind of event, is what the sandbox posted."""
    held: dict[tuple[str, str], dict[tuple[str, str, str], Any]] = defaultdict(dict)
    for r in rows:
        sums = held[(r.marketplace_id, str(r.posted_date))]
        for name, column in FEE_COLUMNS.items():
            if getattr(r, column):
                key = (r.sku, r.event_list, name)
                sums[key] = sums.get(key, 0) + getattr(r, column)
    truth: dict[tuple[str, str], dict[tuple[str, str, str], Any]] = defaultdict(dict)
    for (market, day, sku, kind), parts in posted.items():
        truth[(market, day)] |= {(sku, kind, n): v for n, v in parts.items() if v}
    lines = []
    for country in MARKETPLACES:
        market = marketplace(country).marketplace_id
        days = sorted({d for m, d in {*held, *truth} if m == market})
        settled = [d for d in days if _settled(d, country, now)]
        same = sum(held[(market, d)] == truth[(market, d)] for d in settled)
        lines.append(f"{country}: cleaned financial events match the sandbox's posted charges "
                     f"and fees on {same} of {len(settled)} settled days")  # fmt: skip
    return lines


def _quality(result: Any) -> str:
    """The suite's verdict on a table's or mart's batch, in a few words."""
    if result.passed:
        return "suite passed"
    return f"suite FAILED, {len(result.blocked)} partition(s) held back"


def load_fx(lake: Lake, out: Path, first: date, last: date, seed: int) -> str:
    """Write the sandbox's FX file for ``first``..``last`` beside the summary and load it as
    ``spapi reference load fx_rates`` does (the same file again lands nothing)."""
    from spapi_sandbox.fx import fx_rates_csv
    from spapi_toolkit.lake.reference import load_reference

    path = out / "fx_rates.csv"
    path.write_bytes(fx_rates_csv(first, last, seed))
    manifest, checked = load_reference(lake, "fx_rates", path)
    into = checked.details["reporting_currency"]
    return (f"fx_rates: {checked.rows} daily rates {checked.first} to {checked.last} into {into} "
            f"loaded from {path} ({manifest.key})")  # fmt: skip


def load_watchlist(lake: Lake, out: Path, seller: Any) -> str:
    """Write the seller's competitor watchlist beside the summary and load it as ``spapi
    reference load watchlist --seller`` does; the summary line."""
    from spapi_sandbox.watchlist import watchlist_csv
    from spapi_toolkit.lake.reference import load_reference

    path = out / "watchlist.csv"
    path.write_bytes(watchlist_csv(seller))
    seller_id = seller.config.seller_id
    manifest, checked = load_reference(lake, "watchlist", path, seller=seller_id)
    return (f"watchlist: {checked.details['searches']} keyword searches and "
            f"{checked.details['asins']} ASINs to watch ({seller_id}) loaded from {path} "
            f"({manifest.key})")  # fmt: skip


def morning_snapshots(
    lake: Lake, seed: int, end_date: date, seller_id: str, markets: list[str], today: date
) -> str:
    """The ``SNAPSHOTS`` of the ``MORNINGS`` mornings up to ``today``, each taken from a sandbox
    started at 06:00 UTC that day, as the daily schedule takes them; the summary line."""
    from spapi_sandbox.server import run_sandbox
    from spapi_toolkit.lake.registry import select

    console.print(f"[bold]snapshots[/bold] of the {MORNINGS} mornings up to {today} "
                  "(catalog, offers, competitors)")  # fmt: skip
    calls = items = 0
    for back in range(MORNINGS - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6)
        with run_sandbox(seed=seed, scale=SNAPSHOT_SCALE, end_date=end_date,
                         start=start) as sandbox:  # fmt: skip
            client = SpApiClient.from_env(env=sandbox.env)
            run = run_seller(SellerRun(seller_id, client), lake, select(SNAPSHOTS), markets,
                             day - timedelta(days=1), day - timedelta(days=1), day)  # fmt: skip
        if run.failures:
            raise RuntimeError(f"the snapshots of {day} failed: {run.failures}")
        stats = run.snapshots
        calls, items = calls + (stats.calls if stats else 0), items + (stats.items if stats else 0)
        console.print(f"  {day}  calls {stats.calls if stats else 0} · items "
                      f"{stats.items if stats else 0}", highlight=False)  # fmt: skip
    return (
        f"snapshots: the {MORNINGS} mornings up to {today}, each from a sandbox started at 06:00 "
        f"UTC ({calls} calls, {items} items)"
    )


def load_unit_costs(lake: Lake, out: Path, seller: Any) -> tuple[str, int]:
    """Write the seller's unit costs beside the summary and load them as ``spapi reference load
    unit_costs --seller`` does; (the summary line, the rows loaded)."""
    from spapi_sandbox.unit_costs import unit_costs_csv
    from spapi_toolkit.lake.reference import load_reference

    path = out / "unit_costs.csv"
    path.write_bytes(unit_costs_csv(seller))
    seller_id = seller.config.seller_id
    manifest, checked = load_reference(lake, "unit_costs", path, seller=seller_id)
    return (f"unit_costs: {checked.rows} costs of {checked.details['skus']} SKUs ({seller_id}) "
            f"loaded from {path} ({manifest.key})"), checked.rows  # fmt: skip


def check_sales_and_traffic(
    lake: Lake, manifests: list[Manifest], truth: list[dict[str, Any]], now: datetime
) -> list[str]:
    """Per marketplace: do the landed Sales & Traffic daily units equal what the seller sold,
    on every day Amazon no longer restates?"""
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for row in truth:
        expected[(row["marketplace_id"], str(row["date"]))] += row["units_ordered"]
    reported: dict[tuple[str, str], int] = {}
    for manifest in manifests:
        if manifest.dataset == "sales_traffic_by_date":
            for row in json.loads(_text(lake, manifest))["salesAndTrafficByDate"]:
                key = (manifest.marketplace_ids[0], row["date"])
                reported[key] = row["salesByDate"]["unitsOrdered"]
    lines = []
    for country in MARKETPLACES:
        market = marketplace(country)
        days = sorted(d for m, d in reported if m == market.marketplace_id)
        settled = [d for d in days if _settled(d, country, now)]
        matching = sum(
            reported[(market.marketplace_id, d)] == expected[(market.marketplace_id, d)]
            for d in settled
        )
        lines.append(
            f"{country}: Sales & Traffic units match the seller's ground truth on {matching} of "
            f"{len(settled)} settled days ({len(days) - len(settled)} recent days are still "
            "within Amazon's 72-hour restatement window)"
        )
    return lines


def run(
    lake_uri: str,
    out: Path,
    seed: int,
    scale: float,
    *,
    notebooks: Path | None = None,
    reports: Path | None = None,
    end_date: date | None = None,
) -> int:
    """The demo (see the module doc); with ``notebooks``, the notebooks of that folder then run
    against the lake into ``reports`` (HTML). Every stage's seconds are printed at the end and
    added to the summary. 0 when everything landed, reconciled, passed its suites and ran.
    ``end_date`` pins the seller's last day (default yesterday, UTC), and with it every byte
    the sandbox serves."""
    from spapi_sandbox.server import run_sandbox  # only the demo needs the sandbox

    out.mkdir(parents=True, exist_ok=True)
    lake = Lake.from_uri(lake_uri)
    started = time.monotonic()
    stages: dict[str, float] = {}
    with run_sandbox(seed=seed, scale=scale, end_date=end_date) as sandbox:
        console.print(f"[bold]sandbox[/bold] serving a simulated seller at {sandbox.url}")
        client = SpApiClient.from_env(env=sandbox.env)
        seller_id = sandbox.env["SPAPI_SELLING_PARTNER_ID"]
        seller = sandbox.app.seller
        today = seller.config.end_date + timedelta(days=1)  # the sandbox's "today"
        markets = [marketplace(c).marketplace_id for c in MARKETPLACES]

        shown: dict[str, int] = {}

        def progress(seller: str, stage: str, done: int, total: int, line: str) -> None:
            if shown.get(stage) != done:  # a line when something finished, not every step
                shown[stage] = done
                console.print(f"  {stage:<10} {done}/{total}  {line}", highlight=False)

        # Days settled when the run starts are settled in every report it gets; the sandbox's
        # clock runs an hour per second, so by the end of the run a few more have settled.
        settled_as_of = sandbox.app.clock.datetime()
        watch_line = load_watchlist(lake, out, seller)

        snapshots = set(SNAPSHOTS.split(","))
        result = run_seller(
            SellerRun(seller_id, client), lake,
            [d for name, d in registry().items() if name not in snapshots], markets,
            today - timedelta(days=30), today - timedelta(days=1), today, progress,
        )  # fmt: skip
        truth = seller.truth()
        returned = sandbox_returns(seller, markets, today - timedelta(days=30),
                                   today - timedelta(days=1))  # fmt: skip
        posted = sandbox_fees(seller, markets, today - timedelta(days=30),
                              today - timedelta(days=1))  # fmt: skip
        stats = client.stats()
        fx_first, fx_last = seller.config.start_date - FX_LOOKBACK, seller.config.end_date
    mornings = morning_snapshots(lake, seed, end_date or seller.config.end_date, seller_id,
                               markets, today)  # fmt: skip
    stages["ingest: sandbox → raw"] = time.monotonic() - started
    mark = time.monotonic()
    fx_line = load_fx(lake, out, fx_first, fx_last, seed)
    costs_line, costs = load_unit_costs(lake, out, seller)
    manifests = landed_manifests(lake, seller_id)
    checks = [fx_line, costs_line, watch_line, mornings,
              *check_sales_and_traffic(lake, manifests, truth, settled_as_of)]  # fmt: skip
    curated, curation_checks, held = curate(lake, truth, settled_as_of, returned, costs, posted,
                                            seller)  # fmt: skip
    stages["curate: raw → cleaned → marts, suites"] = time.monotonic() - mark
    _write_summary(out, lake_uri, result, manifests, checks + curation_checks, stats,
                   time.monotonic() - started, curated)  # fmt: skip
    for line in held:  # partitions a suite held back (expectations/README.md)
        console.print(f"[red]quality[/red] {line}", highlight=False)
    refused = [r for r in curated if r.refused or not r.reconciles]
    failed = bool(result.failures or refused or held)
    if notebooks is not None:
        mark = time.monotonic()
        failed |= not run_notebooks(lake_uri, notebooks, reports or out.parent)
        failed |= not check_claims(lake_uri, out)
        stages["notebooks → HTML"] = time.monotonic() - mark
    _report_stages(out, stages)
    return 1 if failed else 0


def run_notebooks(lake_uri: str, folder: Path, reports: Path) -> bool:
    """Run the notebooks of ``folder`` against the lake into ``reports`` as ``spapi notebooks``
    does; whether every one ran."""
    try:
        from spapi_toolkit.analysis import run as runner
    except ImportError as exc:  # the notebook extra is not installed
        console.print(f"[red]notebooks[/red] skipped: {exc} (pip install '.[notebook]')")
        return False
    console.print(f"[bold]notebooks[/bold] {folder}/ → {reports}/ (HTML, charts embedded)")

    def show(done: Any) -> None:
        verdict = "ok" if done.ok else f"[red]FAILED[/red]: {done.error}"
        console.print(f"  {done.name:<26} {verdict}, {done.figures} charts, {done.seconds:.1f} s"
                      f"  {done.html or ''}", highlight=False)  # fmt: skip

    results = runner.run(folder, reports, {"lake": lake_uri}, progress=show)
    return all(r.ok for r in results)


def check_claims(lake_uri: str, out: Path) -> bool:
    """The reports' headline claims checked against the lake (``analysis.claims``), printed
    and added to the summary; whether every one holds."""
    from spapi_toolkit.analysis import scope
    from spapi_toolkit.analysis.claims import check

    claims = check(scope(lake_uri))
    lines = ["", "## The reports' claims, checked against the lake", "",
             *(claim.line() for claim in claims)]  # fmt: skip
    for claim in claims:
        verdict = "[green]ok[/green]" if claim.holds else "[red]FAILED[/red]"
        console.print(f"  {verdict} {claim.report}: {claim.claim} ({claim.detail})",
                      highlight=False)  # fmt: skip
    with (out / "summary.md").open("a", encoding="utf-8") as summary:
        summary.write("\n".join(lines) + "\n")
    return all(claim.holds for claim in claims)


def _report_stages(out: Path, stages: dict[str, float]) -> None:
    """Each stage's seconds, printed and added to the summary (the budget: issue 9)."""
    table = Table("stage", "seconds")
    lines = ["", "| stage | seconds |", "|---|---|"]
    for stage, seconds in [*stages.items(), ("total", sum(stages.values()))]:
        table.add_row(stage, f"{seconds:.0f}")
        lines.append(f"| {stage} | {seconds:.0f} |")
    console.print(table)
    with (out / "summary.md").open("a", encoding="utf-8") as summary:
        summary.write("\n".join(lines) + "\n")


def _write_summary(
    out: Path,
    lake_uri: str,
    result: SellerRun,
    manifests: list[Manifest],
    checks: list[str],
    stats: dict[str, Any],
    elapsed: float,
    curated: list[Any],
) -> None:
    objects: Counter[str] = Counter(m.dataset for m in manifests)
    size: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for m in manifests:
        size[m.dataset] += m.bytes
        rows[m.dataset] += m.rows or 0  # None for JSON documents
    table = Table("dataset", "objects in raw/", "bytes", "rows (flat files, JSON lines)")
    lines = [
        "# spapi-lake demo",
        "",
        f"Run on {SYSTEM_CLOCK.now():%Y-%m-%d %H:%M} UTC in {elapsed:.1f} s against the local "
        f"SP-API sandbox (a simulated seller; nothing left this machine). Lake: `{lake_uri}`.",
        "",
        "| dataset | objects in raw/ | bytes | rows |",
        "|---|---|---|---|",
    ]
    for name in registry():
        row_count = f"{rows[name]:,}" if registry()[name].format != "json" else "-"
        cells = (name, str(objects[name]), f"{size[name]:,}", row_count)
        table.add_row(*cells)
        lines.append(f"| {' | '.join(cells)} |")
    console.print(table)
    cleaned = Table("cleaned table", "documents", "rows in", "rows out", "quarantined",
                    "older versions", "partitions")  # fmt: skip
    lines += ["", "| cleaned table | documents | rows in | rows out | quarantined | older versions "
              "| partitions |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in curated:
        curated_cells = (r.table, str(r.documents), f"{r.rows_in:,}", f"{r.rows_out:,}",
                         str(r.quarantined), f"{r.superseded:,}", str(r.partitions))  # fmt: skip
        cleaned.add_row(*curated_cells)
        lines.append(f"| {' | '.join(curated_cells)} |")
    console.print(cleaned)
    lines.append("")
    for line in checks:
        console.print(f"[green]check[/green] {line}")
        lines.append(f"- {line}")
    for line in result.failures:
        console.print(f"[red]failed[/red] {line}")
        lines.append(f"- FAILED: {line}")
    runs = [("reports", result.reports), ("data kiosk", result.kiosk)]
    for stage, run_stats in runs:
        if run_stats is not None:
            line = (
                f"{stage}: {run_stats.requested} requested, {run_stats.landed} landed, "
                f"{run_stats.already_landed} already landed by an earlier run, "
                f"{run_stats.no_data} without data, {run_stats.failed} failed"
            )
            console.print(line)
            lines.append(f"- {line}")
    calls = Table("operation", "requests", "throttled (429)", "retried", "waited s")
    lines += ["", "| operation | requests | throttled (429) | retried | waited s |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, s in sorted(stats.items()):
        counts = [
            name,
            str(s.requests),
            str(s.throttled),
            str(s.retried),
            f"{s.waited_seconds:.1f}",
        ]
        calls.add_row(*counts)
        lines.append(f"| {' | '.join(counts)} |")
    console.print(calls)
    lines += [
        "",
        "Each object in the lake's raw/ zone is the bytes as received, with a `.manifest.json` "
        "beside it; `spapi status --lake` shows the ledger. The cleaned tables are Parquet under "
        "cleaned/<table>/ (contracts in tables.toml); `spapi curate --lake` brings them up to "
        "date.",
        "",
    ]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    console.print(f"[bold]wrote[/bold] {out / 'summary.md'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lake", default="lake", help="lake folder or s3:// URI")
    parser.add_argument("--out", type=Path, default=Path("reports/demo"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=3600.0, help="sandbox clock speed-up")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="then run these notebooks on the lake")  # fmt: skip
    parser.add_argument("--reports", type=Path, default=Path("reports"),
                        help="where the notebooks' HTML goes")  # fmt: skip
    parser.add_argument("--end-date", type=date.fromisoformat, default=None,
                        help="the seller's last day, YYYY-MM-DD (default: yesterday)")  # fmt: skip
    args = parser.parse_args()
    return run(args.lake, args.out, args.seed, args.scale, notebooks=args.notebooks,
               reports=args.reports, end_date=args.end_date)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
