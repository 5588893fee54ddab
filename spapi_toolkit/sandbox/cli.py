"""``spapi sandbox ...``: serve the local SP-API in the foreground, or print the seller's truth.

``serve`` prints the environment variables that point the toolkit at the sandbox, then serves
until interrupted. ``truth`` prints what the simulated seller really sold (per day, marketplace
and ASIN) as CSV or JSON, so a lake built from the sandbox can be reconciled with it.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date

import typer

from .faults import Faults
from .server import SandboxConfig, make_seller, start_sandbox, truth_rows

app = typer.Typer(help="The local SP-API sandbox.", no_args_is_help=True)


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
    )
    running, stop = start_sandbox(config, port=port)
    for name, value in running.env.items():
        typer.echo(f"export {name}='{value}'")
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
) -> None:
    """Print what the simulated seller really sold, per day, marketplace and ASIN."""
    seller = make_seller(SandboxConfig(seed=seed, products=products, days=days))
    rows = truth_rows(
        seller,
        date.fromisoformat(start) if start else None,
        date.fromisoformat(end) if end else None,
    )
    if output_format == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    if output_format != "csv":
        raise typer.BadParameter("format must be csv or json")
    if rows:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
