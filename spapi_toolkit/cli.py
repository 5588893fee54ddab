"""The ``spapi`` command line.

``spapi call <operationId> name=value ...`` calls any SP-API operation and prints the JSON answer
(like ``aws <service> <operation>``); ``spapi operations`` lists what is callable with its rate
limit; ``spapi auth url|exchange|check`` runs the website authorization workflow and checks
credentials; ``spapi curate`` curates the lake (gated by the expectation suites) and
``spapi quality`` runs the suites on what is published; ``spapi catalog register`` puts the
cleaned tables or the marts in the Glue Data Catalog; ``spapi reference load`` lands a reference
file (daily FX rates); ``spapi notebooks`` runs the analyses to HTML; ``spapi sandbox ...`` runs
the local SP-API.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from spapi_toolkit.clock import Clock
from spapi_toolkit.errors import SpApiToolkitError

app = typer.Typer(help="Amazon Selling Partner API toolkit.", no_args_is_help=True)
auth_app = typer.Typer(help="Authorize sellers and check credentials.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")
err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
    raise typer.Exit(1)


def parse_assignments(operation: str, assignments: list[str]) -> dict[str, Any]:
    """``name=value`` words as call parameters: JSON for ``[..]``/``{..}``, commas split arrays."""
    from spapi_toolkit.api.models import find_operation

    op = find_operation(operation)
    params: dict[str, Any] = {}
    for word in assignments:
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{word!r} is not name=value", param_hint="PARAMS")
        param = op.parameter(name) or (op.body_parameter if name == "body" else None)
        if value[:1] in "[{":
            try:
                params[name] = json.loads(value)
            except ValueError as exc:
                raise typer.BadParameter(f"{name}: not valid JSON ({exc})") from None
        elif param is not None and param.is_array:
            params[name] = value.split(",")
        else:
            params[name] = value
    return params


@app.command()
def call(
    operation: str = typer.Argument(..., help="operationId, or <model>.<operationId>"),
    params: list[str] = typer.Argument(None, help="name=value parameters"),
    profile: str = typer.Option(None, help="credentials profile"),
    paginate: bool = typer.Option(False, help="follow page tokens; print one JSON per page"),
) -> None:
    """Call one SP-API operation and print its JSON answer."""
    from spapi_toolkit.api.client import SpApiClient

    try:
        parsed = parse_assignments(operation, params or [])
        with SpApiClient.from_env(profile=profile) as client:
            if paginate:
                for page in client.paginate(operation, **parsed):
                    print(json.dumps(page, ensure_ascii=False))
            else:
                print(json.dumps(client.call(operation, **parsed), indent=2, ensure_ascii=False))
    except (SpApiToolkitError, LookupError) as exc:
        _fail(exc)


@app.command()
def operations(api: str = typer.Option(None, help="only this API, e.g. reports")) -> None:
    """List every callable operation with its default rate limit."""
    from spapi_toolkit.api.models import all_operations
    from spapi_toolkit.api.ratelimit import official_limits

    limits = official_limits()
    table = Table("operation", "model", "method", "path", "rate/s", "burst", "notes")
    for op in all_operations():
        if api and api.lower() not in (op.api.lower(), op.model.lower()):
            continue
        limit = limits[op.qualified_name]
        notes = ", ".join(
            n
            for n, on in (
                ("deprecated", op.deprecated),
                ("grantless", op.grantless),
                ("sandbox-only", op.sandbox_only),
                ("default limit", not limit.from_model),
            )
            if on
        )
        table.add_row(
            op.operation_id,
            op.model,
            op.method,
            op.path,
            f"{limit.rate:g}",
            str(limit.burst),
            notes,
        )
    Console(width=200).print(table)


@auth_app.command("url")
def auth_url(
    application_id: str = typer.Option(
        ..., envvar="SPAPI_APPLICATION_ID", help="amzn1.sp.solution…"
    ),
    redirect_uri: str = typer.Option(None, help="must be one of the app's registered URIs"),
    seller_central: str = typer.Option("https://sellercentral.amazon.com"),
    published: bool = typer.Option(False, help="the app is published (omit version=beta)"),
    profile: str = typer.Option(None),
) -> None:
    """Print the consent link a seller opens to authorize the application."""
    from spapi_toolkit.api.consent import consent_url, make_state
    from spapi_toolkit.api.credentials import resolve_credentials

    try:
        creds = resolve_credentials(profile=profile)
        state = make_state(creds.client_secret.reveal())
        print(
            consent_url(
                application_id,
                state,
                seller_central=seller_central,
                redirect_uri=redirect_uri,
                draft=not published,
            )
        )
    except SpApiToolkitError as exc:
        _fail(exc)


@auth_app.command("exchange")
def auth_exchange(
    code: str = typer.Option(..., help="the spapi_oauth_code Amazon redirected with"),
    state: str = typer.Option(..., help="the state Amazon redirected with"),
    selling_partner_id: str = typer.Option(None, help="the selling_partner_id redirected with"),
    profile: str = typer.Option(None, help="profile holding the app's client id and secret"),
    store_profile: str = typer.Option(None, help="save the refresh token in this profile"),
    store_secret: str = typer.Option(None, help="save it in this Secrets Manager secret"),
    kms_key_id: str = typer.Option(
        None,
        help="the KMS key a new --store-secret secret is made under "
        "(on AWS: the stack's alias/<stack>-raw)",
    ),
    redirect_uri: str = typer.Option(None),
) -> None:
    """Verify the state, trade the authorization code for a refresh token at once, store it."""
    from dataclasses import replace

    from spapi_toolkit.api.auth import LwaAuth
    from spapi_toolkit.api.consent import verify_state
    from spapi_toolkit.api.credentials import (
        resolve_credentials,
        save_profile,
        save_secret,
        with_refresh_token,
    )
    from spapi_toolkit.regions import LWA_TOKEN_URL

    try:
        creds = resolve_credentials(profile=profile)
        verify_state(state, creds.client_secret.reveal())
        auth = LwaAuth(creds, os.environ.get("SPAPI_LWA_ENDPOINT") or LWA_TOKEN_URL)
        token = auth.exchange_code(code, redirect_uri)
        stored = with_refresh_token(creds, token, Clock.from_env().today())
        if selling_partner_id:
            stored = replace(stored, selling_partner_id=selling_partner_id)
        if store_secret:
            save_secret(store_secret, stored, kms_key_id=kms_key_id)
            print(f"refresh token stored in Secrets Manager secret {store_secret}")
        else:
            path = save_profile(store_profile or profile or selling_partner_id or "default", stored)
            print(f"refresh token stored in {path}")
    except SpApiToolkitError as exc:
        _fail(exc)


@auth_app.command("check")
def auth_check(profile: str = typer.Option(None)) -> None:
    """Get an access token with the configured credentials and say how long they stay valid."""
    from spapi_toolkit.api.auth import credential_warnings
    from spapi_toolkit.api.client import SpApiClient

    try:
        client = SpApiClient.from_env(profile=profile)
        creds = client.credentials
        print(f"credentials: {creds.source}")
        print(f"client id:   {creds.client_id}")
        if creds.refresh_token:
            client.auth.access_token()
            print("LWA:         refresh-token grant OK")
        else:
            print("LWA:         no refresh token; grantless operations only")
        for warning in credential_warnings(creds, client.clock.today()):
            err.print(f"[yellow]warning:[/yellow] {warning}")
    except SpApiToolkitError as exc:
        _fail(exc)


def _parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a date like 2026-11-01, not {text!r}") from None


@app.command()
def ingest(
    datasets: str = typer.Argument(..., help="dataset names, comma-separated, or 'all'"),
    start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
    end: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD (included)"),
    marketplaces: str = typer.Option("US", help="marketplace ids or country codes, e.g. US,DE,JP"),
    profile: list[str] = typer.Option(None, help="a seller's credentials profile; repeatable"),
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE", help="folder or s3://bucket/prefix"),
    kms_key_id: str = typer.Option(None, envvar="SPAPI_KMS_KEY_ID", help="SSE-KMS key for S3"),
    plan_only: bool = typer.Option(False, "--plan", help="say what would be requested, and stop"),
    queue: str = typer.Option(
        None, help="SQS queue of `spapi notifications setup`: finished reports are taken from it"
    ),
    each_source: bool = typer.Option(
        False,
        "--each-source",
        help="ask every dataset named for every day, even where another "
        "gives the same figures sooner (by default each day is asked of one: same_figures_as)",
    ),
) -> None:
    """Land datasets in the lake's raw zone: planned, resumable, idempotent."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.ingest.ledger import Ledger, covered_days
    from spapi_toolkit.ingest.pipeline import SellerRun, run_sellers
    from spapi_toolkit.ingest.planner import PlanError, estimate, plan
    from spapi_toolkit.lake.registry import UnknownDatasetError, select
    from spapi_toolkit.lake.storage import Lake
    from spapi_toolkit.regions import marketplace

    try:
        chosen = select(datasets)
        markets = [marketplace(m).marketplace_id for m in marketplaces.split(",") if m.strip()]
        first, last = _parse_day(start, "--from"), _parse_day(end, "--to")
        runs = []
        names: list[str | None] = list(profile) if profile else [None]
        for name in names:
            client = SpApiClient.from_env(profile=name)
            seller = client.credentials.selling_partner_id
            if not seller:
                raise typer.BadParameter(
                    f"the credentials from {client.credentials.source} name no seller: set "
                    "SPAPI_SELLING_PARTNER_ID or selling_partner_id in the profile"
                )
            runs.append(SellerRun(seller, client))
        today = runs[0].client.clock.today()  # one "today" for every seller of the run
        target = Lake.from_uri(lake, kms_key_id=kms_key_id)
        ledger = Ledger(target)
        for run in runs:
            entries = ledger.entries(run.seller_id)
            planned = plan(chosen, run.seller_id, markets, first, last, today,
                           covered_days(entries), one_source=not each_source,
                           pulled=covered_days(entries, provisional=True))  # fmt: skip
            for note in planned.notes:
                err.print(f"[yellow]note:[/yellow] {note}")
            guess = estimate(planned.requests, time_scale=run.client.time_scale)
            err.print(f"{run.seller_id}: {guess.describe()}")
            counts = Counter(r.dataset.name for r in planned.requests).most_common()
            listed = ", ".join(f"{name} {count}" for name, count in counts)
            err.print(f"  requests by dataset: {listed}", highlight=False)
            for line in _watchlist_plan(target, run.seller_id, planned.requests, today):
                err.print(f"  watchlist {line}", highlight=False)
        if plan_only:
            return
        # Temp files (S3: multipart uploads) of writers killed mid-write: never keys, but
        # clutter; the ones whose writer is gone (or that are stale) go before the run starts.
        removed = target.remove_leftovers(runs[0].client.clock)
        if removed:
            err.print(f"removed {len(removed)} leftover(s) of interrupted writes in {target.uri}")
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=err) as bar:
            tasks: dict[tuple[str, str], Any] = {}

            def show(seller: str, stage: str, done: int, total: int, info: str) -> None:
                if (seller, stage) not in tasks:
                    tasks[(seller, stage)] = bar.add_task(f"{seller} {stage}", info="")
                bar.update(tasks[(seller, stage)], completed=done, total=total, info=info)

            with _report_listener(queue, target, runs) as notices:
                finished = run_sellers(
                    runs,
                    target,
                    chosen,
                    markets,
                    first,
                    last,
                    today,
                    show,
                    notices=notices,
                    one_source=not each_source,
                )
        failures = [(run.seller_id, line) for run in finished for line in run.failures]
        for seller, line in failures:
            err.print(f"[red]failed[/red] {seller}: {line}")
        if failures:
            raise typer.Exit(1)
    except (SpApiToolkitError, UnknownDatasetError, PlanError, ValueError) as exc:
        if isinstance(exc, typer.BadParameter):
            raise
        _fail(exc)


def _watchlist_plan(lake: Any, seller_id: str, requests: list[Any], today: date) -> list[str]:
    """What the planned watchlist snapshots will ask for, per marketplace (``--plan``)."""
    from spapi_toolkit.ingest import watchlist
    from spapi_toolkit.ingest.snapshots import SnapshotError, known_items

    markets = sorted({r.marketplace_ids[0] for r in requests
                      if r.dataset.driven_by in ("watchlist", "searches")})  # fmt: skip
    lines = []
    for market in markets:
        try:
            own = known_items(lake, seller_id, market)[0]
        except SnapshotError:
            own = []  # the run lands the merchant listings first
        lines.append(watchlist.estimate(lake, seller_id, market, today, own).describe())
    if markets:  # entries for marketplaces the run leaves out are not watched: say so
        for market, count in sorted(watchlist.marketplaces(lake, seller_id).items()):
            if market not in markets:
                lines.append(f"{market}: {count} entries not watched: this run does not cover "
                             "the marketplace (--marketplaces)")  # fmt: skip
    return lines


@contextmanager
def _report_listener(queue: str | None, lake: Any, runs: list[Any]) -> Iterator[Any]:
    """While ingesting, a thread consumes ``queue`` and tells each seller's run which of its
    reports finished; polling stays the fallback. No queue, no thread."""
    if not queue:
        yield None
        return
    from spapi_toolkit.ingest.notifications import LakeDedup, dispatch, ensure_queue
    from spapi_toolkit.ingest.notifications import listen as consume
    from spapi_toolkit.ingest.pipeline import ReportNotices

    notices = ReportNotices(lake, {run.seller_id: run.client for run in runs})
    url = ensure_queue(_sqs(), queue).url
    stop = threading.Event()
    handler = dispatch({"REPORT_PROCESSING_FINISHED": notices})
    thread = threading.Thread(
        target=consume,
        args=(_sqs(), url, handler),
        kwargs={"dedup": LakeDedup(lake, clock=runs[0].client.clock), "stop": stop},
        name="notifications",
        daemon=True,
    )
    thread.start()
    try:
        yield notices
    finally:
        stop.set()
        thread.join(timeout=30)


notifications_app = typer.Typer(help="SQS notifications.", no_args_is_help=True)
app.add_typer(notifications_app, name="notifications")


def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


@notifications_app.command("setup")
def notifications_setup(
    queue: str = typer.Option("spapi-lake-notifications", help="SQS queue name"),
    profile: str = typer.Option(None),
) -> None:
    """Create the SQS queue (with a dead-letter queue), the destination and the subscriptions;
    whatever exists already is reused."""
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.ingest.notifications import ensure_queue, setup

    try:
        made = ensure_queue(_sqs(), queue)
        result = setup(SpApiClient.from_env(profile=profile), made.arn)
        print(f"queue {made.url} (dead letters: {made.dlq_url})")
        print(
            f"destination {result.destination_id}"
            + (" (new)" if result.destination_created else "")
        )
        for sub in result.subscriptions:
            print(f"subscribed {sub.notification_type}" + (" (new)" if sub.created else ""))
    except SpApiToolkitError as exc:
        _fail(exc)


@app.command()
def listen(
    queue: str = typer.Option("spapi-lake-notifications", help="SQS queue name"),
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE"),
    profile: list[str] = typer.Option(None, help="sellers whose finished reports to land"),
    max_messages: int = typer.Option(None, help="stop after this many notifications"),
    idle_seconds: float = typer.Option(None, help="stop after this long without messages"),
) -> None:
    """Consume the notification queue: finished reports are fetched and landed, listings and
    offer changes land as events; duplicates are dropped, failures left for the DLQ."""
    from spapi_toolkit.api.client import SpApiClient
    from spapi_toolkit.ingest.notifications import EventSink, LakeDedup, dispatch, ensure_queue
    from spapi_toolkit.ingest.notifications import listen as consume
    from spapi_toolkit.ingest.pipeline import ReportNotices
    from spapi_toolkit.lake.storage import Lake

    try:
        target = Lake.from_uri(lake)
        clients = {}
        for name in list(profile) if profile else [None]:
            client = SpApiClient.from_env(profile=name)
            if client.credentials.selling_partner_id:
                clients[client.credentials.selling_partner_id] = client
        clock = Clock.from_env()
        sink = EventSink(target, clock=clock)
        handler = dispatch({
            "REPORT_PROCESSING_FINISHED": ReportNotices(target, clients),
            "LISTINGS_ITEM_STATUS_CHANGE": sink,
            "ANY_OFFER_CHANGED": sink,
        })  # fmt: skip
        url = ensure_queue(_sqs(), queue).url
        stats = consume(_sqs(), url, handler, dedup=LakeDedup(target, clock=clock),
                        max_messages=max_messages, idle_seconds=idle_seconds)  # fmt: skip
        print(
            f"received {stats.received}, handled {stats.handled}, duplicates {stats.duplicates}, "
            f"failed {stats.failed}, malformed {stats.malformed}"
        )
    except SpApiToolkitError as exc:
        _fail(exc)


@app.command()
def status(
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE"),
    failures: bool = typer.Option(True, help="list failed requests and why"),
) -> None:
    """What the ledger says (landed, pending, no data and failed requests per seller and dataset),
    what landing quarantined and what curation refused in its last run, each with its reason."""
    from collections import Counter

    from spapi_toolkit.ingest.ledger import Ledger
    from spapi_toolkit.lake.curate.jobs import refused_documents
    from spapi_toolkit.lake.landing import quarantined
    from spapi_toolkit.lake.layout import raw_partition
    from spapi_toolkit.lake.storage import Lake

    the_lake = Lake.from_uri(lake)
    leftovers = the_lake.leftovers(Clock.from_env())
    if leftovers:
        err.print(
            f"{len(leftovers)} leftover(s) of interrupted writes in {the_lake.uri}: "
            "the next `spapi ingest` removes them"
        )
    entries = Ledger(the_lake).entries()
    bad = list(quarantined(the_lake))
    refused = refused_documents(the_lake)
    if not entries and not bad and not refused:
        err.print(f"the ledger of {lake} is empty: nothing has been ingested there yet")
        return
    states = ("landed", "no_data", "pending", "failed", "quarantined", "refused")
    counts: Counter[tuple[str, str, str]] = Counter()
    for entry in entries:
        state = entry.status if entry.status in states else "pending"
        counts[(entry.seller_id, entry.dataset, state)] += 1
    for record in bad:
        fields = record.get("manifest_fields", {})
        counts[(fields.get("seller_id", "?"), fields.get("dataset", "?"), "quarantined")] += 1
    for key in {key for documents in refused.values() for key in documents}:
        part = raw_partition(key)
        counts[(part.get("seller_id", "?"), part.get("dataset", "?"), "refused")] += 1
    table = Table("seller", "dataset", "landed", "no data", "pending", "failed", "quarantined",
                  "refused by curation")  # fmt: skip
    for seller, dataset in sorted({(s, d) for s, d, _ in counts}):
        row = [counts[(seller, dataset, state)] for state in states]
        table.add_row(seller, dataset, *map(str, row))
    Console(width=160).print(table)
    if failures:
        for entry in entries:
            if entry.status == "failed":
                print(f"failed {entry.seller_id} {entry.dataset} {entry.dt}: {entry.error}")
        for record in bad:
            print(f"quarantined {record['key']}: {record['reason']}")
        for name, documents in sorted(refused.items()):
            for key, why in sorted(documents.items()):
                print(f"refused by curation ({name}) {key}: {why}")


def _need_spark(what: str) -> None:
    """Stop with a clear message when Java or PySpark, which ``what`` runs on, is missing."""
    import importlib.util
    import shutil

    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):  # the java Spark starts, as spark-class picks it
        _fail(SpApiToolkitError(f"{what} runs on Spark, which needs Java 17 (JAVA_HOME or PATH)"))
    if importlib.util.find_spec("pyspark") is None:
        _fail(SpApiToolkitError("PySpark is missing: pip install 'spapi-lake[glue]'"))


@app.command()
def curate(
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE"),
    tables: str = typer.Option(
        None, help="cleaned tables, comma-separated (default: every table with a contract)"
    ),
    full_refresh: bool = typer.Option(False, help="rebuild the tables from every document"),
    marts: bool = typer.Option(
        True, help="then rebuild the aggregated marts where their cleaned partitions changed"
    ),
    allow_quarantine: bool = typer.Option(
        False,
        help="exit 0 even when rows were quarantined or documents refused (for schedules that "
        "alert on the counts instead of failing)",
    ),
) -> None:
    """Curate the raw zone into the cleaned tables, then the cleaned tables into the aggregated
    marts, locally (the Glue jobs' code, on Spark): only documents that are new or changed since
    the last run, and only mart partitions whose cleaned partitions changed, unless
    --full-refresh. Exits 1 when a quality gate held partitions back, and when this run
    quarantined rows or refused documents (their good rows are published all the same) unless
    --allow-quarantine. Spark's own warnings go to $SPAPI_SPARK_LOG (default
    ~/.cache/spapi-lake/spark.log), its errors to the terminal."""
    from spapi_toolkit.lake.storage import Lake

    _need_spark("curation")
    from spapi_toolkit.lake.curate import jobs
    from spapi_toolkit.lake.curate.session import StorageUnreachable, reach, spark_session
    from spapi_toolkit.lake.quality.gate import SIDE_BY_SIDE

    names = [n.strip() for n in tables.split(",") if n.strip()] if tables else None
    try:
        chosen = jobs.curatable(names)
    except (jobs.CurationError, ValueError) as exc:
        _fail(exc)
    table = Table("table", "documents", "refused", "rows in", "out", "quarantined",
                  "older versions", "partitions", "seconds")  # fmt: skip
    results = []

    def show(result: jobs.TableResult) -> None:
        results.append(result)
        rebuilt = " (its contract changed: rebuilt from raw)" if result.reshaped else ""
        refused = f", {len(result.refused)} document(s) refused" if result.refused else ""
        err.print(f"{result.table}: {result.documents} new document(s), {result.rows_out} rows "
                  f"out, {result.quarantined} quarantined{refused} ({result.seconds:.1f} s)"
                  f"{rebuilt}")  # fmt: skip

    the_lake = Lake.from_uri(lake)
    mart_results: list[Any] = []
    with err.status("starting Spark ..."):
        spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        reach(spark, the_lake)
        jobs.raw_to_cleaned(spark, the_lake, [t.name for t in chosen],
                            full_refresh=full_refresh, hash_key=jobs.hash_key_from_env(),
                            progress=show, concurrent=SIDE_BY_SIDE)  # fmt: skip
        if marts:
            from spapi_toolkit.lake.curate.aggregate import cleaned_to_aggregated

            mart_results = cleaned_to_aggregated(spark, the_lake, full_refresh=full_refresh,
                                  progress=lambda m: err.print(
                                      f"{m.mart}: {m.changed} changed cleaned partition(s), "
                                      f"{m.partitions} mart partition(s) written, {m.removed} "
                                      f"removed, {m.unconverted} row(s) without an FX rate "
                                      f"({m.seconds:.1f} s)"),
                                  concurrent=SIDE_BY_SIDE)  # fmt: skip
    except (jobs.CurationError, StorageUnreachable, ValueError) as exc:
        _fail(exc)
    finally:
        spark.stop()
    for r in results:
        table.add_row(r.table, str(r.documents), str(len(r.refused)), str(r.rows_in),
                      str(r.rows_out), str(r.quarantined), str(r.superseded), str(r.partitions),
                      f"{r.seconds:.1f}")  # fmt: skip
    Console(width=160).print(table)
    refused = [(r.table, key, why) for r in results for key, why in r.refused.items()]
    quarantined = [r for r in results if r.quarantined]
    for r in quarantined:
        print(f"quarantined {r.quarantined} row(s) of {r.table}: {r.quarantine_key}")
    for name, key, why in refused:
        print(f"refused {key} ({name}): {why}")
    failed = [line for r in [*results, *mart_results] for line in r.failure_lines()]
    if failed:
        print(
            "quality gate failed: these partitions were not published (the published ones "
            "are unchanged); see _quality/latest/ and _quality/docs/index.html in the lake"
        )
        for line in failed:
            print(f"  {line}")
    if failed:
        raise typer.Exit(1)
    if (refused or quarantined) and not allow_quarantine:
        print(
            f"{sum(r.quarantined for r in results)} row(s) quarantined, {len(refused)} "
            "document(s) refused (the good rows are published): exit 1; --allow-quarantine "
            "exits 0"
        )
        raise typer.Exit(1)


@app.command()
def quality(
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE"),
    tables: str = typer.Option(
        None, help="cleaned tables or marts, comma-separated (default: every one published)"
    ),
    write_suites: str = typer.Option(
        None, help="only write the generated suites as JSON into this folder (expectations/)"
    ),
) -> None:
    """Run the expectation suites on the published cleaned tables and marts, print a table of
    the results, and write the latest results and the Data Docs into the lake's _quality/;
    exits 1 when a suite fails. --write-suites FOLDER writes the suites' JSON and stops."""
    if write_suites:
        from spapi_toolkit.lake.quality.suites import write_suites as write

        for path in write(write_suites):
            print(path)
        return
    _need_spark("the quality check")
    from spapi_toolkit.lake.curate.session import spark_session
    from spapi_toolkit.lake.quality.published import check_published
    from spapi_toolkit.lake.storage import Lake

    names = [n.strip() for n in tables.split(",") if n.strip()] if tables else None
    the_lake = Lake.from_uri(lake)
    with err.status("starting Spark ..."):
        spark = spark_session("spapi-quality")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        outcomes = check_published(spark, the_lake, names, clock=Clock.from_env(),
                                   progress=lambda o: err.print(
                                       f"{o.zone}.{o.table}: {o.evaluated} expectation(s), "
                                       f"{len(o.failures)} failed"))  # fmt: skip
    except ValueError as exc:
        _fail(exc)
    finally:
        spark.stop()
    table = Table("zone", "table", "expectations", "failed", "rows", "status")
    for o in outcomes:
        status = "passed" if not o.failures else f"FAILED ({len(o.blocked)} partition(s))"
        table.add_row(o.zone, o.table, str(o.evaluated), str(len(o.failures)), str(o.rows),
                      status)  # fmt: skip
    Console(width=160).print(table)
    if not outcomes:
        print("nothing published yet: run spapi curate first")
    for o in outcomes:
        for line in o.lines():
            print(line)
    print("latest results: _quality/latest/, Data Docs: _quality/docs/index.html in the lake")
    if any(o.failures for o in outcomes):
        raise typer.Exit(1)


reference_app = typer.Typer(
    help="Reference files (daily FX rates; a seller's unit costs and competitor watchlist).",
    no_args_is_help=True,
)
app.add_typer(reference_app, name="reference")


@reference_app.command("load")
def reference_load(
    name: str = typer.Argument(..., help="the reference dataset, e.g. fx_rates"),
    file: Path = typer.Argument(..., help="the file to load (a CSV, see the README)"),
    seller: str = typer.Option(
        None, help="whose data it is (unit_costs, watchlist: the seller's id; fx_rates: none)"
    ),
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE"),
) -> None:
    """Check a reference file whole and land it in the raw zone with its manifest; `spapi
    curate` then curates it into its cleaned table. A malformed file is refused with every
    problem's line and column, and nothing is written."""
    from spapi_toolkit.lake.reference import ReferenceFileError, load_reference
    from spapi_toolkit.lake.storage import Lake

    try:
        manifest, checked = load_reference(
            Lake.from_uri(lake), name, file, seller=seller, clock=Clock.from_env()
        )
    except (ReferenceFileError, SpApiToolkitError, LookupError) as exc:
        _fail(exc)
    details = ", ".join(f"{k} {v}" for k, v in checked.details.items())
    days = f", {checked.first} to {checked.last}" if checked.first else ""
    err.print(f"{name}: {checked.rows} rows{days} ({details}) landed at {manifest.key}",
              highlight=False)  # fmt: skip


catalog_app = typer.Typer(
    help="The Glue Data Catalog of the cleaned tables and the marts.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("register")
def catalog_register(
    lake: str = typer.Option(..., envvar="SPAPI_LAKE", help="the lake, s3://bucket/prefix"),
    database: str = typer.Option(..., help="Glue database (created if missing)"),
    tables: str = typer.Option(
        None, help="tables of the zone, comma-separated (default: every one with a contract)"
    ),
    zone: str = typer.Option(
        "cleaned", help="cleaned (the cleaned tables) or aggregated (the marts): a database each"
    ),
) -> None:
    """Register one zone's tables and their partitions in the Glue Data Catalog; a rerun
    changes only what changed in the contracts or the lake."""
    from spapi_toolkit.lake.catalog import register

    names = [n.strip() for n in tables.split(",") if n.strip()] if tables else None
    try:
        results = register(lake, database, names, zone=zone)
    except SpApiToolkitError as exc:
        _fail(exc)
    table = Table("table", "partitions", "added", "removed", "definition", "location")
    for r in results:
        table.add_row(r.table, str(r.partitions), str(r.added), str(r.removed),
                      "written" if r.redefined else "unchanged", r.location)  # fmt: skip
    Console(width=200).print(table)


@app.command()
def forget(
    seller: str = typer.Option(..., "--seller", help="the selling partner id to forget"),
    lake: str = typer.Option(
        ..., envvar="SPAPI_LAKE", help="folder, s3://bucket/prefix or the zoned AWS lake URI"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would go; change nothing"),
    yes: bool = typer.Option(False, "--yes", help="do not ask before deleting"),
    # Not SPAPI_KMS_KEY_ID: on AWS that is the raw key (what ingestion writes), and the files
    # forget rewrites (curated rows, curation state, quarantined rows) are under each bucket's
    # default, the lake key, which Lake Formation and the analysts read with.
    kms_key_id: str = typer.Option(
        None, help="SSE-KMS key of rewritten S3 objects (default: each bucket's own)"
    ),
    catalog_database: list[str] = typer.Option(
        None,
        help="ZONE=DATABASE (cleaned=..., aggregated=...): drop the Glue partitions the seller's "
        "rows alone filled; repeatable",
    ),
    keep_versions: bool = typer.Option(
        False, help="on S3, leave older object versions to the bucket's lifecycle"
    ),
) -> None:
    """Remove one seller's data from every zone of the lake and from its state: raw documents
    and manifests, quarantine, the cleaned tables' and the marts' rows, curation state, ledger,
    plans and task tokens. Stop the seller's ingestion first."""
    from spapi_toolkit.lake.forget import drop_catalog_partitions, forget_seller
    from spapi_toolkit.lake.storage import Lake

    databases: dict[str, str] = {}
    for item in catalog_database or []:
        zone, sep, name = item.partition("=")
        if not sep or zone not in ("cleaned", "aggregated") or not name:
            raise typer.BadParameter(f"--catalog-database {item!r} is not cleaned=NAME or "
                                     "aggregated=NAME")  # fmt: skip
        databases[zone] = name
    clock = Clock.from_env()
    try:
        the_lake = Lake.from_uri(lake, kms_key_id=kms_key_id)
        planned = forget_seller(the_lake, seller, dry_run=True, purge_versions=not keep_versions,
                                clock=clock)  # fmt: skip
        if dry_run:
            for key in planned.deleted:
                print(f"delete  {key}")
            for key, rows in planned.rewritten.items():
                print(f"rewrite {key} (-{rows})")
            for line in planned.lines():
                err.print(line, highlight=False, markup=False)
            return
        for line in planned.lines():
            err.print(line, highlight=False, markup=False)
        if not yes and not typer.confirm(f"Delete seller {seller}'s data for good?"):
            raise typer.Exit(1)
        done = forget_seller(the_lake, seller, purge_versions=not keep_versions, clock=clock)
        if databases:
            drop_catalog_partitions(done, databases)
    except SpApiToolkitError as exc:  # ForgetError too
        _fail(exc)
    for line in done.lines():
        print(line)


@app.command("notebooks")
def run_notebooks(
    lake: str = typer.Option("./lake", envvar="SPAPI_LAKE", help="the lake the notebooks read"),
    folder: str = typer.Option("notebooks", "--notebooks", help="the notebooks' folder"),
    out: str = typer.Option("reports", help="where the executed notebooks and HTML go"),
    names: str = typer.Option(None, help="notebooks to run, comma-separated (default: all)"),
    marketplaces: str = typer.Option(None, help="e.g. US,DE (default: all in the lake)"),
    start: str = typer.Option(None, "--from", help="first day (default: 30 days before --to)"),
    end: str = typer.Option(None, "--to", help="last day (default: the lake's last day)"),
    reporting_currency: str = typer.Option("USD", help="money in one currency besides local"),
    no_input: bool = typer.Option(
        False, "--no-input", help="HTML without the code cells, for readers of results"
    ),
) -> None:
    """Run the analysis notebooks top to bottom against a lake and export each to HTML (charts
    embedded: the reports open offline); exits 1 if any notebook fails."""
    from pathlib import Path

    from spapi_toolkit.analysis import run as runner

    parameters = {"lake": lake,
                  "marketplaces": marketplaces.split(",") if marketplaces else None,
                  "start": start, "end": end, "reporting_currency": reporting_currency}  # fmt: skip
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else None
    table = Table("notebook", "seconds", "figures", "result", "report")

    def show(done: runner.NotebookRun) -> None:
        err.print(f"{done.name}: {'ok' if done.ok else 'FAILED'} in {done.seconds:.1f} s"
                  + (f" ({done.error})" if done.error else ""))  # fmt: skip
        verdict = "ok" if done.ok else f"FAILED: {done.error}"
        table.add_row(done.name, f"{done.seconds:.1f}", str(done.figures), verdict,
                      str(done.html or "-"))  # fmt: skip

    try:
        results = runner.run(Path(folder), Path(out), parameters, names=chosen, progress=show,
                             no_input=no_input)  # fmt: skip
    except FileNotFoundError as exc:
        _fail(exc)
    Console(width=200).print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def deploy(
    stack: str = typer.Option(..., help="the CloudFormation stack to create or update"),
    bucket: str = typer.Option(
        None, help="artifact bucket (default <stack>-artifacts-<account>-<region>, created)"
    ),
    parameter: list[str] = typer.Option(
        None, help="a template parameter, NAME=VALUE (e.g. SellerProfiles=main,eu); repeatable"
    ),
    admin: list[str] = typer.Option(
        None, help="a Lake Formation administrator's ARN (default: the caller); repeatable"
    ),
    dist: str = typer.Option("dist", help="what `make package` built"),
    template: str = typer.Option("infra/template.yaml", help="the template (from a checkout)"),
) -> None:
    """Upload what `make package` built and create or update the AWS stack; prints the
    environment the notebooks and `lake.query.connect` read."""
    from pathlib import Path

    from spapi_toolkit.aws.deploy import DeployError, deploy, environment_lines

    given = {}
    for item in parameter or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--parameter {item!r} is not NAME=VALUE")
        given[name] = value
    try:
        values = deploy(stack, dist=Path(dist), template=Path(template), bucket=bucket,
                        parameters=given, admins=list(admin or []) or None)  # fmt: skip
    except DeployError as exc:
        _fail(exc)
    for key, value in sorted(values.items()):
        err.print(f"{key}: {value}")
    for line in environment_lines(values):
        print(line)


def _mount_plugins() -> None:
    """Add the subcommands other installed packages offer under the ``spapi.commands`` group.

    The local SP-API sandbox (``spapi sandbox``) arrives this way: the toolkit never imports it,
    so an installation without it (a Glue job, a Lambda) has one command fewer and nothing else.
    """
    from importlib.metadata import entry_points

    for plugin in entry_points(group="spapi.commands"):
        app.add_typer(plugin.load(), name=plugin.name)


_mount_plugins()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
