"""``spapi sandbox ...``: serve the local SP-API in the foreground, or print the seller's truth.

``serve`` prints the environment variables that point the toolkit at the sandbox (as its first
seller) and every seller's refresh token, then serves until interrupted. ``truth`` prints what a
simulated seller really sold (per day, marketplace and ASIN) as CSV or JSON, so a lake built
from the sandbox can be reconciled with it.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date

import typer

from spapi_sandbox.faults import Faults
from spapi_sandbox.seller import SimulatedSeller
from spapi_sandbox.server import (
    RunningSandbox,
    SandboxConfig,
    make_seller,
    start_sandbox,
    truth_rows,
)

app = typer.Typer(help="The local SP-API sandbox.", no_args_is_help=True)


def env_lines(running: RunningSandbox) -> list[str]:
    """Shell lines exporting the first seller's environment, then one comment per seller
    naming the refresh token that speaks for it (swap it into SPAPI_REFRESH_TOKEN)."""
    lines = [f"export {name}='{value}'" for name, value in running.env.items()]
    for seller_id in running.seller_ids:
        token = running.env_for(seller_id)["SPAPI_REFRESH_TOKEN"]
        lines.append(f"# seller {seller_id}: SPAPI_REFRESH_TOKEN='{token}'")
    return lines


def _seller(config: SandboxConfig, seller_id: str) -> SimulatedSeller:
    """The sandbox's seller ``seller_id`` (the first when empty), or a usage error naming
    the ids it has."""
    try:
        return make_seller(config, seller_id or None)
    except KeyError:
        raise typer.BadParameter(
            f"{seller_id} is not a sandbox seller id (they are {config.seller_id_of(1)}, "
            f"{config.seller_id_of(2)}, ...)",
            param_hint="--seller",
        ) from None


def _date_option(text: str, name: str) -> date | None:
    """A YYYY-MM-DD option's date; None when it is empty."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


@app.command()
def serve(
    port: int = typer.Option(0, help="Port on 127.0.0.1 (0: a free one)."),
    seed: int = typer.Option(1, help="Seed of the simulated seller and the fault dice."),
    scale: float = typer.Option(60.0, help="Simulated seconds per real second."),
    products: int = typer.Option(20, help="Number of products."),
    days: int = typer.Option(30, help="Days of history."),
    limits: str = typer.Option("scaled", help="'scaled' (rates x scale) or 'real' (Amazon's)."),
    faults: str = typer.Option("", help="Fault rates, e.g. 429=0.1,500=0.05,slow=0.01."),
    notifications_dir: str = typer.Option("", help="Folder for local (file) destinations."),
    sellers: int = typer.Option(1, min=1, help="How many sellers authorized the app."),
    end_date: str = typer.Option(
        "", help="Last day of the history, YYYY-MM-DD (default: yesterday, UTC)."
    ),
) -> None:
    """Serve the sandbox in the foreground and print the environment that points at it."""
    if limits not in ("scaled", "real"):
        raise typer.BadParameter("limits must be 'scaled' or 'real'")
    config = SandboxConfig(
        seed=seed,
        scale=scale,
        products=products,
        days=days,
        limits=limits,
        faults=Faults.parse(faults, seed=seed),
        notifications_dir=notifications_dir or None,
        sellers=sellers,
        end_date=_date_option(end_date, "--end-date"),
    )
    running, stop = start_sandbox(config, port=port)
    for line in env_lines(running):
        typer.echo(line)
    typer.echo(f"# SP-API sandbox at {running.url} (Ctrl-C stops it)", err=True)
    try:
        import time

        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()


@app.command()
def truth(
    seed: int = typer.Option(1, help="Seed of the simulated seller."),
    products: int = typer.Option(20, help="Number of products."),
    days: int = typer.Option(30, help="Days of history."),
    start: str = typer.Option("", "--from", help="First day, YYYY-MM-DD (default: all)."),
    end: str = typer.Option("", "--to", help="Last day, YYYY-MM-DD (default: all)."),
    output_format: str = typer.Option("csv", "--format", help="csv or json."),
    seller_id: str = typer.Option("", "--seller", help="Seller id (default: the first)."),
    end_date: str = typer.Option(
        "", help="Last day of the history, YYYY-MM-DD (default: yesterday, UTC)."
    ),
) -> None:
    """Print what a simulated seller really sold, per day, marketplace and ASIN."""
    config = SandboxConfig(
        seed=seed, products=products, days=days, end_date=_date_option(end_date, "--end-date")
    )
    seller = _seller(config, seller_id)
    rows = truth_rows(seller, _date_option(start, "--from"), _date_option(end, "--to"))
    if output_format == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    if output_format != "csv":
        raise typer.BadParameter("format must be csv or json")
    if rows:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@app.command("unit-costs")
def unit_costs_command(
    seed: int = typer.Option(1, help="Seed of the simulated seller."),
    products: int = typer.Option(20, help="Number of products."),
    days: int = typer.Option(30, help="Days of history."),
    seller_id: str = typer.Option("", "--seller", help="Seller id (default: the first)."),
    end_date: str = typer.Option(
        "", help="Last day of the history, YYYY-MM-DD (default: yesterday, UTC)."
    ),
) -> None:
    """Print a simulated seller's unit costs as the CSV ``spapi reference load unit_costs FILE
    --seller ID`` loads."""
    from spapi_sandbox.unit_costs import unit_costs_csv

    config = SandboxConfig(
        seed=seed, products=products, days=days, end_date=_date_option(end_date, "--end-date")
    )
    sys.stdout.write(unit_costs_csv(_seller(config, seller_id)).decode("utf-8"))


@app.command("fx-rates")
def fx_rates_command(
    start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD."),
    seed: int = typer.Option(42, help="Seed of the rates' random walk."),
) -> None:
    """Print the sandbox's daily FX file (EUR and JPY into USD, business days) as the CSV
    ``spapi reference load fx_rates FILE`` loads."""
    from spapi_sandbox.fx import fx_rates_csv

    first, last = _date_option(start, "--from"), _date_option(end, "--to")
    assert first is not None and last is not None  # required options
    sys.stdout.write(fx_rates_csv(first, last, seed).decode("utf-8"))
