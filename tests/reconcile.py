"""What a run landed in the raw zone, read back and set against the sandbox seller's truth.

Shared by the ingestion tests and the soak test: the landed manifests and documents, which
days are settled (numbers final) when the sandbox's clock starts, and the figures the
reconciliation compares, from the landed reports and from ``SimulatedSeller.truth()``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.storage import Lake

from .support import END_DATE

US, DE, JP = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"
ZONES = {US: "America/Los_Angeles", DE: "Europe/Berlin", JP: "Asia/Tokyo"}
# The sandbox's "now" when it starts: 06:00 UTC the morning after its pinned END_DATE.
SANDBOX_START = datetime.combine(END_DATE + timedelta(days=1), time(6), tzinfo=UTC)
RESTATEMENT = timedelta(hours=72)  # a day's numbers are final this long after it ended

UnitsByAsin = dict[tuple[str, str, str], int]  # (day, marketplace, ASIN) -> units ordered
UnitsByDay = dict[tuple[str, str], int]  # (day, marketplace) -> units ordered


def manifests(lake: Lake) -> dict[str, Manifest]:
    """Every manifest of the raw zone, by the key of the object it describes."""
    return {
        m.key: m
        for key in lake.list("raw/")
        if key.endswith(".manifest.json")
        for m in [Manifest.from_json(lake.read_bytes(key))]
    }


def document_text(lake: Lake, manifest: Manifest) -> str:
    raw = lake.read_bytes(manifest.key)
    data = gzip.decompress(raw) if manifest.compression == "gzip" else raw
    assert manifest.encoding is not None
    return data.decode(manifest.encoding)


def settled(day: date, market: str, now: datetime = SANDBOX_START) -> bool:
    """Whether ``market``'s local ``day`` had its final numbers at ``now``."""
    end_of_day = datetime.combine(day, datetime.max.time(), tzinfo=ZoneInfo(ZONES[market]))
    return now - end_of_day >= RESTATEMENT


def landed_units_by_asin(lake: Lake, landed: dict[str, Manifest]) -> UnitsByAsin:
    """Units ordered per day, marketplace and child ASIN in the landed Sales & Traffic by ASIN
    reports (one report a day and marketplace); rows without units are left out."""
    got: UnitsByAsin = {}
    for manifest in landed.values():
        if manifest.dataset != "sales_traffic_by_asin":
            continue
        report = json.loads(document_text(lake, manifest))
        day = manifest.request["dataStartTime"][:10]
        for row in report["salesAndTrafficByAsin"]:
            units = row["salesByAsin"]["unitsOrdered"]
            if units:
                got[(day, manifest.marketplace_ids[0], row["childAsin"])] = units
    return got


def true_units_by_asin(truth: list[dict]) -> UnitsByAsin:
    return {(str(r["date"]), r["marketplace_id"], r["asin"]): r["units_ordered"]
            for r in truth if r["units_ordered"]}  # fmt: skip


def landed_order_units(lake: Lake, landed: dict[str, Manifest]) -> tuple[UnitsByDay, Counter]:
    """From the landed all-orders reports (by order date): units per local purchase day and
    marketplace, and how many times each order item (order id, order item id) landed."""
    units: UnitsByDay = defaultdict(int)
    order_items: Counter[tuple[str, str]] = Counter()
    for manifest in landed.values():
        if manifest.dataset != "orders_by_order_date":
            continue
        market = manifest.marketplace_ids[0]
        zone = ZoneInfo(ZONES[market])
        for row in csv.DictReader(io.StringIO(document_text(lake, manifest)), delimiter="\t"):
            order_items[(row["amazon-order-id"], row["order-item-id"])] += 1
            local_day = datetime.fromisoformat(row["purchase-date"]).astimezone(zone).date()
            units[(str(local_day), market)] += int(row["quantity"] or 0)
    return units, order_items


def true_units_by_day(truth: list[dict]) -> UnitsByDay:
    expected: UnitsByDay = defaultdict(int)
    for row in truth:
        expected[(str(row["date"]), row["marketplace_id"])] += row["units_ordered"]
    return expected
