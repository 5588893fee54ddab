"""Landing benchmark: stream a 1 GB (uncompressed) report into the raw zone.

Run:  .venv/bin/python benchmarks/bench_landing.py [--size-mb 1024] [--regenerate]

1. A realistic all-orders-like flat file (tab-separated, ~320-byte rows with order ids, dates,
   SKUs, ASINs, prices and product names that are sometimes non-ASCII) of ``--size-mb`` MiB
   uncompressed is generated once, streaming (Python writes rows into a ``gzip -6`` process), and
   cached in the temp folder for later runs.
2. Baseline, what the machine can do with those bytes: ``gzip -dc FILE | sha256sum`` (and, for
   reference, ``curl -s URL | gzip -dc | sha256sum`` through the same loopback server).
3. Ours: a fresh Python process downloads the URL with ``requests`` (streaming, 1 MiB chunks,
   no content decoding) and feeds the chunks to ``spapi_toolkit.lake.landing.land`` into a local
   lake in a temp folder: the bytes are stored unchanged and hashed, and in the same pass
   decompressed,
   decoded strictly (utf-8 / iso-8859-1 candidates), its header and field counts checked
   against the orders dataset's shape, and counted. Its wall time covers the
   download through the manifest (interpreter start-up and imports excluded) and its peak RSS
   comes from ``os.wait4``'s rusage of that process.

Throughput is in MB/s (10^6 bytes) of *uncompressed* data for both. Targets (issue 4): ours at
least 0.8 of the baseline's speed, peak RSS under 200 MB whatever the size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024
CHUNK = MIB
HEADER = (
    "amazon-order-id\tmerchant-order-id\torder-item-id\tpurchase-date\tlast-updated-date\torder-status\t"
    "fulfillment-channel\tsales-channel\torder-channel\tship-service-level\tproduct-name\tsku\t"
    "asin\titem-status\tquantity\tcurrency\titem-price\titem-tax\tshipping-price\tshipping-tax\t"
    "gift-wrap-price\tgift-wrap-tax\titem-promotion-discount\tship-promotion-discount\t"
    "ship-city\tship-state\tship-postal-code\tship-country\tpromotion-ids\tis-business-order\t"
    "purchase-order-number\tprice-designation\n"
)
WORDS = [
    "Stainless",
    "Steel",
    "Water",
    "Bottle",
    "Insulated",
    "Kids",
    "Organic",
    "Cotton",
    "Bath",
    "Towel",
    "Set",
    "Wireless",
    "Earbuds",
    "Noise",
    "Cancelling",
    "Yoga",
    "Mat",
    "Non-Slip",
    "Ceramic",
    "Coffee",
    "Mug",
    "Travel",
    "Backpack",
    "Laptop",
    "Sleeve",
    "LED",
    "Desk",
    "Lamp",
    "Dimmable",
    "Phone",
    "Case",
    "Silicone",
    "Crème",
    "Brûlée",
    "Torch",
    "Café",
    "Espresso",
    "Grinder",
    "Pokémon",
    "Cards",
    "Protector",
    "Sleeves",
    "Garden",
    "Hose",
    "Expandable",
    "Dog",
    "Leash",
    "Reflective",
    "Bamboo",
    "Cutting",
    "Board",
]
DECORATIONS = ["", "", "", "", "™", "®", " – Pack of 2", " (2-Pack)", " – Größe M", " Naïve"]
CITIES = [
    ("SEATTLE", "WA", "98101"),
    ("NEW YORK", "NY", "10001"),
    ("AUSTIN", "TX", "73301"),
    ("SAN JOSÉ", "CA", "95101"),
    ("DENVER", "CO", "80201"),
    ("MIAMI", "FL", "33101"),
    ("CHICAGO", "IL", "60601"),
    ("PORTLAND", "OR", "97201"),
]
STATUSES = ["Shipped", "Shipped", "Shipped", "Pending", "Cancelled", "Shipping"]


def _products(rng: random.Random, count: int = 5000) -> list[tuple[str, str, str, float]]:
    """A catalogue of (sku, asin, product name, price) to draw order lines from."""
    products = []
    for index in range(count):
        name = " ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + rng.choice(DECORATIONS)
        asin = "B0" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=8))
        products.append((f"SKU-{index:06d}-{asin[-4:]}", asin, name, round(rng.uniform(3, 250), 2)))
    return products


def _rows(target_bytes: int, seed: int = 4) -> Iterator[bytes]:
    """Blocks of TSV lines (header first) until ``target_bytes`` of text have been produced."""
    rng = random.Random(seed)
    products = _products(rng)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    produced = 0
    header = HEADER.encode("utf-8")
    yield header
    produced += len(header)
    order = 0
    while produced < target_bytes:
        lines = []
        for _ in range(2000):
            order += 1
            lines.append(_row(rng, products, start, order).encode("utf-8"))
            produced += len(lines[-1])
            if produced >= target_bytes:  # whole lines only: a cut row is a bad document
                break
        yield b"".join(lines)


def _row(
    rng: random.Random, products: list[tuple[str, str, str, float]], start: datetime, n: int
) -> str:
    sku, asin, name, price = products[rng.randrange(len(products))]
    purchased = start + timedelta(seconds=n * 7 + rng.randrange(7))
    updated = purchased + timedelta(hours=rng.randrange(1, 96))
    quantity = rng.choice((1, 1, 1, 2, 3))
    city, state, postal = CITIES[rng.randrange(len(CITIES))]
    tax = round(price * quantity * 0.0825, 2)
    ship = rng.choice(("0.00", "4.99", "5.99"))
    return (
        f"{rng.randrange(100, 999)}-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}\t"
        f"\t{rng.randrange(10**13, 10**14)}\t"
        f"{purchased:%Y-%m-%dT%H:%M:%S+00:00}\t{updated:%Y-%m-%dT%H:%M:%S+00:00}\t"
        f"{rng.choice(STATUSES)}\tAmazon\tAmazon.com\t\tExpedited\t{name}\t{sku}\t{asin}\t"
        f"Shipped\t{quantity}\tUSD\t{price * quantity:.2f}\t{tax:.2f}\t{ship}\t0.00\t\t\t"
        f"{rng.choice(('0.00', '0.00', '-1.50'))}\t0.00\t{city}\t{state}\t{postal}\tUS\t\t"
        f"{rng.choice(('false', 'false', 'true'))}\t\t\n"
    )


def generate(path: Path, size_mb: int) -> None:
    """Write the gzip'd TSV of ``size_mb`` MiB uncompressed to ``path`` (constant memory)."""
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        gzip = subprocess.Popen(["gzip", "-6", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert gzip.stdin is not None
        for block in _rows(size_mb * MIB):
            gzip.stdin.write(block)
        gzip.stdin.close()
        if gzip.wait() != 0:
            raise SystemExit("gzip failed while generating the document")
    partial.replace(path)


class _FileHandler(BaseHTTPRequestHandler):
    """Serves one file for any GET, streamed with sendfile (no whole body in memory)."""

    protocol_version = "HTTP/1.1"
    path_to_serve: Path

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        size = self.path_to_serve.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        with self.path_to_serve.open("rb") as source:
            try:
                self.connection.sendfile(source)
            except OSError:
                shutil.copyfileobj(source, self.wfile, CHUNK)


def serve(path: Path) -> tuple[ThreadingHTTPServer, str]:
    """Start a loopback HTTP server for ``path``; returns it and the document's URL."""
    handler = type("Handler", (_FileHandler,), {"path_to_serve": path})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/document.gz"


def baseline(command: str) -> tuple[float, str]:
    """Wall seconds and output of a shell pipeline."""
    started = time.perf_counter()
    output = subprocess.run(command, shell=True, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, output.stdout.split()[0]


DATASET = "all_orders_by_order_date"
SELLER = "A1BENCHSELLER"
MARKETPLACE = "ATVPDKIKX0DER"
DOCUMENT_ID = "amzn1.spdoc.1.4.na.bench"


def land_url(url: str, lake_uri: str) -> None:
    """The landing process: download ``url`` and land it; prints seconds and the manifest."""
    import requests

    from spapi_toolkit.lake.checks import document_shape
    from spapi_toolkit.lake.landing import land
    from spapi_toolkit.lake.layout import raw_stem
    from spapi_toolkit.lake.registry import dataset
    from spapi_toolkit.lake.storage import Lake

    lake = Lake.from_uri(lake_uri)
    stem = raw_stem(DATASET, SELLER, MARKETPLACE, date(2025, 1, 1), DOCUMENT_ID)
    fields = {
        "dataset": DATASET,
        "seller_id": SELLER,
        "marketplace_ids": [MARKETPLACE],
        "request": {"report_type": "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"},
        "document_id": DOCUMENT_ID,
        "declared_compression": "GZIP",
    }
    started = time.perf_counter()
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        chunks = response.raw.stream(CHUNK, decode_content=False)
        manifest = land(
            lake, stem, chunks, fmt="tsv", encodings=["utf-8", "iso-8859-1"],
            manifest_fields=fields, shape=document_shape(dataset("orders_by_order_date")),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "manifest": json.loads(manifest.to_json())}))


def ours(url: str, lake: str, profile: str | None) -> tuple[float, int, dict[str, Any]]:
    """Land the URL in a fresh process: (seconds, peak RSS bytes, manifest)."""
    command = [sys.executable, __file__, "--land", url, "--lake", lake]
    if profile:
        command[1:1] = ["-m", "cProfile", "-o", profile]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"the landing process failed (status {status})")
    result = json.loads(output.strip().splitlines()[-1])
    return result["seconds"], usage.ru_maxrss * 1024, result["manifest"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="uncompressed MiB (1024)")
    parser.add_argument("--regenerate", action="store_true", help="ignore the cached document")
    parser.add_argument("--profile", help="write a cProfile of the landing process here")
    parser.add_argument("--land", help=argparse.SUPPRESS)  # the landing process: this URL
    parser.add_argument("--lake", help=argparse.SUPPRESS)  # ... into this lake
    args = parser.parse_args()
    if args.land:
        land_url(args.land, args.lake)
        return

    document = Path(tempfile.gettempdir()) / f"spapi-bench-landing-v2-{args.size_mb}MiB.tsv.gz"
    if args.regenerate or not document.exists():
        print(f"generating {document} ...", flush=True)
        started = time.perf_counter()
        generate(document, args.size_mb)
        print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    uncompressed = args.size_mb * MIB
    compressed = document.stat().st_size

    server, url = serve(document)
    try:
        base_seconds, _ = baseline(f"gzip -dc {document} | sha256sum")
        curl_seconds, _ = baseline(f"curl -s {url} | gzip -dc | sha256sum")
        with tempfile.TemporaryDirectory(prefix="spapi-bench-lake-") as lake:
            our_seconds, peak_rss, manifest = ours(url, lake, args.profile)
            stored = Path(lake) / manifest["key"]
            same = sha256_of(stored) == sha256_of(document) == manifest["sha256"]
    finally:
        server.shutdown()

    report(args.size_mb, compressed, uncompressed, base_seconds, curl_seconds, our_seconds)
    print(f"peak RSS of the landing process: {peak_rss / 1e6:.0f} MB (target < 200 MB)")
    print(
        f"manifest: rows={manifest['rows']} encoding={manifest['encoding']} "
        f"compression={manifest['compression']} bytes={manifest['bytes']}; "
        f"stored bytes identical to the document: {same}"
    )


def report(
    size_mb: int, compressed: int, uncompressed: int, base: float, curl: float, our: float
) -> None:
    """Print the figures side by side."""
    rate = uncompressed / 1e6
    print(
        f"\ndocument: {size_mb} MiB uncompressed ({uncompressed / 1e6:.0f} MB), "
        f"{compressed / 1e6:.0f} MB gzip"
    )
    print(f"{'':44} {'seconds':>8} {'MB/s':>8}")
    print(f"{'baseline: gzip -dc FILE | sha256sum':44} {base:8.2f} {rate / base:8.0f}")
    print(f"{'reference: curl URL | gzip -dc | sha256sum':44} {curl:8.2f} {rate / curl:8.0f}")
    print(f"{'ours: requests -> land() to a local lake':44} {our:8.2f} {rate / our:8.0f}")
    print(f"ratio ours / baseline: {base / our:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
