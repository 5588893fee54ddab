"""Token freshness under concurrency: what dying access tokens cost threads sharing a client.

Run:  .venv/bin/python benchmarks/bench_token_freshness.py [--seconds 30] [--lifetime 8]

W threads (4) share one ``SpApiClient`` calling getCatalogItem (2 req/s, burst 2, enforced by a
loopback server) for N seconds. The server's LWA claims tokens live 3600 s but they die after
``--lifetime`` seconds, so the client learns of each death only from a 403 ``Unauthorized``.
Printed: requests, 403s wasted on dead tokens, token deaths, 429s and LWA grants.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spapi_toolkit.api.credentials import Credentials, Secret
from tests.support import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, run_with_dying_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--lifetime", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    credentials = Credentials(CLIENT_ID, Secret(CLIENT_SECRET), Secret(REFRESH_TOKEN))
    run = run_with_dying_tokens(
        credentials, lifetime=args.lifetime, seconds=args.seconds, threads=args.workers
    )
    print(f"{args.workers} threads, tokens die after {args.lifetime:g}s: {run.summary()}")
    if run.deaths:
        print(f"wasted requests per token death: {run.wasted / run.deaths:.2f}")


if __name__ == "__main__":
    main()
