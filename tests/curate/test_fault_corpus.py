"""A corpus of post-landing faults (issue 19, item 6): documents that landed well and were then
cut, flipped, emptied, re-encoded, edited or deleted, or whose manifest lies about them, each
named with the outcome curation must give it: the whole document **refused** (its reason), its
faulted rows **quarantined** (their reason and row number), or the fault **handled** (every row
published as if nothing had happened). And the proof that no good row is lost or changed: of
the faulted documents themselves (every row but the faulted ones is published as the document
had it) and of every other document (the same rows, column for column, as a run without faults).

Real landed documents (the ``curated`` fixture's raw zone, and one Orders API JSON-lines
document landed here from the sandbox) are copied into two lakes of our own (the fixtures'
lakes are shared and never touched): the clean lake holds the real seller's documents plus one
untouched copy of each base document under a control seller (``CONTROL-<base>``); the faulted
lake holds the same plus each fault: a copy of a base document under a seller of its own
(``FAULTnn``, in the key and the manifest, so its rows are apart from every other document's)
with the fault applied. Where the fault is "the object changed and its manifest was updated as
if it had landed so", the manifest's sha256 and size describe the new bytes; where the object
changed after landing, or the manifest lies, they do not. Both lakes are curated from scratch.

With ``-s`` the corpus is printed as a markdown table (fault | format | outcome | reason); it is
also written to the file ``$FAULT_TABLE`` names, if set. A fault whose outcome is not the one
expected is marked there with what was expected.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.ingest.pipeline import SellerRun, run_seller
from spapi_toolkit.lake.curate import jobs, publish, sources
from spapi_toolkit.lake.landing import Manifest
from spapi_toolkit.lake.layout import is_manifest, manifest_key, raw_partition, raw_prefix
from spapi_toolkit.lake.registry import dataset, select
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import LINEAGE, table

from ..reconcile import DE, JP, US
from ..support import END_DATE
from .week import CLOCK, KEY, SELLER, TODAY

# Landing one document from the sandbox and two curations of four tables (about two minutes
# alone, after the ``curated`` fixture): above pyproject's default on a loaded two-core machine.
pytestmark = pytest.mark.timeout(900)

TABLES = ["order_items", "listings", "sales_traffic_by_asin", "orders"]
DAY = "2026-11-12"  # the day of the Sales & Traffic and Orders API documents
REFUSED, QUARANTINED, HANDLED = "refused", "quarantined", "handled"
ALL = "all"  # every row of the base document is lost

# The real seller's documents copied into both lakes: (dataset, marketplace, dt or None: its
# only document there). Both order reports overlap (the newest version of an item wins).
REAL = [
    *((name, mp, None) for name in ("orders_by_order_date", "orders_by_last_update")
      for mp in (US, DE)),
    *(("merchant_listings", mp, None) for mp in (US, DE, JP)),
    *(("sales_traffic_by_asin", mp, DAY) for mp in (US, DE, JP)),
    ("orders_api", US, DAY),
]  # fmt: skip

# The documents the faults start from: name -> (dataset, marketplace, dt).
BASES = {
    "orders_de": ("orders_by_order_date", DE, None),  # tsv, cp1252, 87 rows
    "orders_us": ("orders_by_order_date", US, None),  # tsv.gz, utf-8, 251 rows
    "listings_de": ("merchant_listings", DE, None),  # tsv, cp1252, 20 rows
    "listings_us": ("merchant_listings", US, None),  # tsv, utf-8, 20 rows
    "traffic_us": ("sales_traffic_by_asin", US, DAY),  # json.gz (a report), 20 rows
    "orders_api_us": ("orders_api", US, DAY),  # jsonl.gz (API snapshots), 30 lines
}
CONTROL = "CONTROL-"  # + the base's name: the seller of its untouched copy


# ---- documents and faults ----------------------------------------------------------------------


@dataclass
class Doc:
    """One landed document as a fault sees it: its key, bytes (None: deleted) and manifest;
    ``states``: the key its manifest names, when that is not its own."""

    key: str
    data: bytes | None
    manifest: dict[str, Any]
    states: str | None = None

    @property
    def text(self) -> str:
        assert self.data is not None
        data = gzip.decompress(self.data) if self.data[:2] == b"\x1f\x8b" else self.data
        return data.decode(self.manifest["encoding"] or "utf-8")

    def for_seller(self, seller: str) -> Doc:
        key = self.key.replace(f"/seller_id={SELLER}/", f"/seller_id={seller}/")
        assert key != self.key
        return Doc(key, self.data, {**self.manifest, "key": key, "seller_id": seller})

    def write(self, lake: Lake) -> None:
        if self.data is not None:
            lake.write_bytes(self.key, self.data)
        manifest = Manifest(**{**self.manifest, "key": self.states or self.key})
        lake.write_bytes(manifest_key(self.key), manifest.to_json())


Change = Callable[[Doc], "list[Doc] | None"]  # edits the document; may add documents


@dataclass(frozen=True)
class Fault:
    """One fault: what is done to a copy of a base document, and what curation must make of it.

    ``reason``: a regex every refusal or quarantine reason of the fault matches; ``rows``: the
    row numbers quarantined (None: the whole document, as one row); ``lost``: the base
    document's rows (by number) not published (ALL: every one); ``extra``: what every published
    row gains in ``extra``; ``raw``: values the quarantined rows show (``row``); ``refused``:
    which of the fault's documents are refused (default: all, when the outcome is REFUSED)."""

    name: str
    base: str
    change: Change
    outcome: str
    reason: str = ""
    rows: tuple[int | None, ...] = ()
    lost: tuple[int, ...] | str = ()
    extra: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    refused: tuple[int, ...] | None = None

    @property
    def format(self) -> str:
        return dataset(BASES[self.base][0]).format

    @property
    def table(self) -> str:
        return dataset(BASES[self.base][0]).cleaned_table


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relanded(doc: Doc) -> None:
    """The manifest made to describe the bytes as they are now (as if they had landed so)."""
    assert doc.data is not None
    doc.manifest.update(sha256=sha256(doc.data), bytes=len(doc.data))


def edited(edit: Callable[[str], str], *, encoding: str | None = None) -> Change:
    """The document's text edited and stored plain (a gzip one decompressed), in ``encoding``
    (default: its own), the manifest updated to match."""

    def change(doc: Doc) -> None:
        text = edit(doc.text)
        codec = encoding or doc.manifest["encoding"]
        doc.data = text.encode(codec, "surrogateescape")  # "\udcff": the byte 0xff
        if doc.key.endswith(".gz"):
            doc.key = doc.key.removesuffix(".gz")
            doc.manifest["compression"] = None
        doc.manifest["encoding"] = codec
        relanded(doc)

    return change


def lines_edited(edit: Callable[[list[str]], list[str]]) -> Change:
    """``edited`` on the text's lines (the last is "" when the text ends with a newline)."""
    return edited(lambda text: "\n".join(edit(text.split("\n"))))


def line_edited(number: int, edit: Callable[[str], str]) -> Change:
    """Physical line ``number`` (1: a flat file's header, or the first JSON line) edited."""

    def edit_lines(lines: list[str]) -> list[str]:
        lines[number - 1] = edit(lines[number - 1])
        return lines

    return lines_edited(edit_lines)


def inserted(after: int, *new: str) -> Change:
    """Lines inserted after physical line ``after``."""
    return lines_edited(lambda lines: [*lines[:after], *new, *lines[after:]])


def field_set(number: int, column: str, value: str) -> Change:
    """A flat file's field ``column`` of line ``number`` set to ``value``."""

    def edit_lines(lines: list[str]) -> list[str]:
        position = lines[0].split("\t").index(column)
        fields = lines[number - 1].split("\t")
        fields[position] = value
        lines[number - 1] = "\t".join(fields)
        return lines

    return lines_edited(edit_lines)


def fields_cut(number: int, keep: int) -> Change:
    """Line ``number`` cut after its first ``keep`` fields."""
    return line_edited(number, lambda line: "\t".join(line.split("\t")[:keep]))


def file_cut_in_last_row(doc: Doc) -> None:
    """The file ends inside its last row: its first five fields and part of the sixth."""

    def edit_lines(lines: list[str]) -> list[str]:
        last = len(lines) - 2  # lines[-1] is "" (the text ends with a newline)
        fields = lines[last].split("\t")
        return [*lines[:last], "\t".join(fields[:5]) + "\t" + fields[5][:4]]

    lines_edited(edit_lines)(doc)


def column_dropped(column: str) -> Change:
    def edit_lines(lines: list[str]) -> list[str]:
        position = lines[0].split("\t").index(column)
        return ["\t".join(f for i, f in enumerate(line.split("\t")) if i != position) if line
                else line for line in lines]  # fmt: skip

    return lines_edited(edit_lines)


def column_added(name: str, value: str) -> Change:
    return lines_edited(
        lambda lines: (
            [lines[0] + "\t" + name] + [line + "\t" + value if line else line for line in lines[1:]]
        )
    )


def fields_swapped(a: str, b: str, *, header: bool) -> Change:
    """Columns ``a`` and ``b`` swapped in every row, and in the header too if ``header``."""

    def edit_lines(lines: list[str]) -> list[str]:
        names = lines[0].split("\t")
        i, j = names.index(a), names.index(b)
        out = []
        for number, line in enumerate(lines):
            fields = line.split("\t")
            if line and (number > 0 or header):
                fields[i], fields[j] = fields[j], fields[i]
            out.append("\t".join(fields))
        return out

    return lines_edited(edit_lines)


def json_edited(edit: Callable[[dict], Any]) -> Change:
    """A JSON report parsed, edited and written back (compact, as Amazon writes it)."""

    def text_edit(text: str) -> str:
        document = json.loads(text)
        edit(document)
        return json.dumps(document, separators=(",", ":"))

    return edited(text_edit)


def element_set(position: int, path: str, value: Any) -> Change:
    """In the Sales and Traffic report's ``salesAndTrafficByAsin`` element ``position``
    (1-based), the dotted ``path`` set to ``value``."""
    return json_edited(lambda d: set_path(d["salesAndTrafficByAsin"][position - 1], path, value))


def set_path(node: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node[name]
    node[last] = value


def json_line_edited(number: int, edit: Callable[[dict], Any]) -> Change:
    """JSON line ``number`` parsed, edited (``edit`` returns the new value, or None: edited in
    place) and written back."""

    def line_edit(line: str) -> str:
        item = json.loads(line)
        new = edit(item)
        return json.dumps(item if new is None else new, separators=(",", ":"))

    return line_edited(number, line_edit)


def bytes_changed(edit: Callable[[bytes], bytes], *, manifest_updated: bool) -> Change:
    def change(doc: Doc) -> None:
        assert doc.data is not None
        doc.data = edit(doc.data)
        if manifest_updated:
            relanded(doc)

    return change


def bit_flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]


def zeroed_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(32) + data[middle + 32 :]


def manifest_says(**values: Any) -> Change:
    return lambda doc: doc.manifest.update(values)


def deleted(doc: Doc) -> None:
    doc.data = None


def landed_twice(doc: Doc) -> list[Doc]:
    """The same bytes landed again under a second key, a pull later."""
    stem, dot, extension = doc.key.partition(".")
    key = f"{stem}-again{dot}{extension}"
    again = {**doc.manifest, "key": key, "retrieved_at": "2026-11-28T06:30:00Z"}
    return [Doc(key, doc.data, again)]


def manifest_names_another_object(doc: Doc) -> list[Doc]:
    """A second object beside its own manifest, which names the first object's key (a manifest
    copied from its neighbour): the first document is good; the second's manifest lies."""
    stem, dot, extension = doc.key.partition(".")
    key = f"{stem}-neighbour{dot}{extension}"
    return [Doc(key, doc.data, dict(doc.manifest), states=doc.key)]


def utf8_declared_cp1252(doc: Doc) -> None:
    """The text re-encoded as UTF-8 and the manifest updated to the new bytes, but it still
    says cp1252 (which decodes any byte)."""
    doc.data = doc.text.encode("utf-8")
    relanded(doc)


TIMESTAMP_WITHOUT_OFFSET = r"2026-\d\d-\d\dT\d\d:\d\d:\d\d is not a timestamp"
NOT_JSON = "is not one JSON value of the shape the contract reads"
MISSING = ""  # a row that cannot be read has that reason alone, not the values it lost too
SIZE = r"^its bytes are not its manifest's: \d+ bytes, the manifest \d+$"
DIGEST = (
    r"^its bytes are not its manifest's: sha256 [0-9a-f]{12}\.\.\., the manifest [0-9a-f]{12}"
    r"\.\.\. \(the document or its manifest changed after landing\)$"
)
UNDECODABLE = r"^it does not decode as utf-8, its manifest's encoding \(byte \d+\)$"

FAULTS = [
    # ---- flat files: rows that do not fit their header ----
    Fault("tsv: the file ends inside its last row (manifest updated)", "orders_de",
          file_cut_in_last_row, QUARANTINED, f"^row 91 has 6 fields, its header 34{MISSING}$",
          (91,), (91,)),
    Fault("tsv: a row cut short mid-file", "orders_de", fields_cut(10, 8), QUARANTINED,
          f"^row 10 has 8 fields, its header 34{MISSING}$", (10,), (10,)),
    Fault("tsv: a row with one field too many", "orders_de",
          line_edited(20, lambda line: line + "\tsurplus"), QUARANTINED,
          r"^row 20 has 35 fields, its header 34$", (20,), (20,)),
    Fault("tsv: a blank line between rows", "orders_de", inserted(30, ""), QUARANTINED,
          f"^row 31 is blank{MISSING}$", (31,), ()),
    Fault("tsv: blank lines at the end", "orders_de", edited(lambda text: text + "\n\n"),
          HANDLED),
    Fault("tsv: CRLF line endings", "orders_de",
          edited(lambda text: text.replace("\n", "\r\n")), HANDLED),
    Fault("tsv: UTF-8 with a BOM, manifest utf-8-sig", "orders_us",
          edited(lambda text: text, encoding="utf-8-sig"), HANDLED),
    Fault("tsv: UTF-8 with a BOM, manifest utf-8", "listings_us",
          edited(lambda text: "\ufeff" + text), HANDLED),
    # ---- bytes that are not the manifest's, or do not decode ----
    Fault("tsv: cut short after landing (manifest not updated)", "orders_de",
          bytes_changed(lambda data: data[:-100], manifest_updated=False), REFUSED, SIZE),
    Fault("tsv.gz: one bit flipped after landing (same size)", "orders_us",
          bytes_changed(bit_flipped, manifest_updated=False), REFUSED, DIGEST),
    Fault("tsv: zero bytes, manifest updated", "orders_de",
          bytes_changed(lambda data: b"", manifest_updated=True), REFUSED,
          r"^empty document \(0 bytes\)$"),
    Fault("tsv: zero bytes after landing (manifest not updated)", "listings_de",
          bytes_changed(lambda data: b"", manifest_updated=False), REFUSED,
          r"^its bytes are not its manifest's: 0 bytes, the manifest \d+$"),
    Fault("jsonl.gz: the manifest's sha256 is wrong", "orders_api_us",
          manifest_says(sha256=sha256(b"another document")), REFUSED, DIGEST),
    Fault("json.gz: the manifest's size is wrong", "traffic_us",
          lambda doc: doc.manifest.update(bytes=doc.manifest["bytes"] + 1), REFUSED, SIZE),
    Fault("tsv: cp1252 bytes, the manifest says utf-8", "listings_de",
          manifest_says(encoding="utf-8"), REFUSED, UNDECODABLE),
    Fault("tsv: UTF-8 bytes, the manifest says cp1252 (manifest updated otherwise)",
          "listings_de", utf8_declared_cp1252, REFUSED,
          r"^its bytes are UTF-8, which landing tries first, yet its manifest says cp1252$"),
    Fault("tsv.gz: gzip stream cut short (manifest updated)", "orders_us",
          bytes_changed(lambda data: data[: len(data) // 2], manifest_updated=True), REFUSED,
          r"^its gzip stream is cut short$"),
    Fault("tsv.gz: gzip stream corrupt (manifest updated)", "orders_us",
          bytes_changed(zeroed_middle, manifest_updated=True), REFUSED,
          r"^its gzip stream is corrupt \(.+\)$"),
    Fault("jsonl.gz: object deleted, manifest left", "orders_api_us", deleted, REFUSED,
          "^" + re.escape(sources.GONE) + "$"),
    Fault("tsv: a manifest that names its neighbour's object", "listings_us",
          manifest_names_another_object, REFUSED, r"^its manifest describes another object, raw/",
          refused=(1,)),
    # ---- headers ----
    Fault("tsv: the header lacks a required column (sku)", "orders_de", column_dropped("sku"),
          REFUSED, r"^the header lacks sku, which the table requires$"),
    Fault("tsv: the header lacks the key column (seller-sku)", "listings_de",
          column_dropped("seller-sku"), REFUSED,
          r"^the header lacks seller-sku, which the table requires$"),
    Fault("tsv: the header names a column twice (quantity)", "orders_de",
          column_added("quantity", "99"), REFUSED, r"^the header names quantity more than once$"),
    Fault("tsv: lines ending in CR only (an old Mac's)", "orders_de",
          edited(lambda text: text.replace("\n", "\r")), REFUSED,
          r"^its header holds a carriage return: lines end with CR, not LF$"),
    Fault("tsv: an unknown extra column", "orders_de", column_added("gift-message", "Alles Gute"),
          HANDLED, extra={"gift-message": "Alles Gute"}),
    Fault("tsv: two columns swapped with their header", "orders_de",
          fields_swapped("quantity", "item-price", header=True), HANDLED),
    Fault("tsv: two columns' values swapped, the header not", "orders_de",
          fields_swapped("quantity", "item-price", header=False), QUARANTINED,
          r"^quantity(: \d+\.\d\d is not a int| is missing)$", tuple(range(2, 92)), ALL),
    # ---- values ----
    Fault("tsv: a value of the wrong type (quantity zwei)", "orders_de",
          field_set(15, "quantity", "zwei"), QUARANTINED, r"^quantity: zwei is not a int$",
          (15,), (15,), raw={"quantity": "zwei"}),
    Fault("tsv: money with three decimals (1.999)", "orders_de",
          field_set(19, "item-price", "1.999"), QUARANTINED,
          r"^item_price: 1\.999 has more than 2 decimal places$", (19,), (19,)),
    Fault("tsv: a timestamp without its offset", "orders_de",
          line_edited(40, lambda line: line.replace("+00:00", "", 1)), QUARANTINED,
          f"^purchase_ts: {TIMESTAMP_WITHOUT_OFFSET}$", (40,), (40,)),
    Fault("tsv: a required value blanked (sku)", "orders_de", field_set(25, "sku", ""),
          QUARANTINED, r"^sku is missing$", (25,), (25,)),
    Fault("tsv: a price with a decimal comma (12,50)", "listings_de",
          field_set(7, "price", "12,50"), QUARANTINED, r"^price: 12,50 is not a decimal$", (7,),
          (7,), raw={"price": "12,50"}),
    Fault("tsv: a key value blanked (seller-sku)", "listings_de", field_set(5, "seller-sku", ""),
          QUARANTINED, r"^seller_sku is missing$", (5,), (5,)),
    Fault("tsv: the same document landed under two keys", "orders_de", landed_twice, HANDLED),
    # ---- JSON reports ----
    Fault("json: the report cut short (manifest updated)", "traffic_us",
          edited(lambda text: text[: len(text) // 2]), QUARANTINED,
          f"^the document {NOT_JSON}{MISSING}$", (None,), ALL),
    Fault("json: the report followed by other bytes (manifest updated)", "traffic_us",
          edited(lambda text: text + "\n<html>Service Unavailable</html>\n"), QUARANTINED,
          f"^the document {NOT_JSON}{MISSING}$", (None,), ALL),
    Fault("json: the rows array missing", "traffic_us",
          json_edited(lambda d: d.pop("salesAndTrafficByAsin")), QUARANTINED,
          f"^the document has no salesAndTrafficByAsin array{MISSING}$", (None,), ALL),
    Fault("json: a wrong-typed value in one element", "traffic_us",
          element_set(3, "trafficByAsin.pageViews", "many"), QUARANTINED,
          r"^page_views: many is not a int$", (3,), (3,), raw={"page_views": "many"}),
    Fault("json: a key value missing in one element", "traffic_us",
          element_set(5, "childAsin", None), QUARANTINED, r"^child_asin is missing$", (5,), (5,)),
    Fault("json: one element of the wrong shape (an array for an object)", "traffic_us",
          element_set(2, "salesByAsin", [1, 2]), QUARANTINED,
          r"^row 2 of salesAndTrafficByAsin is not of the shape the contract reads$", (2,), (2,)),
    Fault("json.gz: bytes changed after landing", "traffic_us",
          bytes_changed(bit_flipped, manifest_updated=False), REFUSED, DIGEST),
    # ---- JSON lines ----
    Fault("jsonl: a line cut short", "orders_api_us",
          line_edited(7, lambda line: line[: len(line) // 2]), QUARANTINED,
          f"^line 7 {NOT_JSON}{MISSING}$", (7,), (7,)),
    Fault("jsonl: a line of the wrong shape (orderItems an object)", "orders_api_us",
          json_line_edited(9, lambda item: set_path(item, "orderItems", {"orderItemId": "1"})),
          QUARANTINED, f"^line 9 {NOT_JSON}{MISSING}$", (9,), (9,)),
    Fault("jsonl: a line that is an array", "orders_api_us",
          json_line_edited(11, lambda item: [item]), QUARANTINED,
          f"^line 11 {NOT_JSON}{MISSING}$", (11,), (11,)),
    Fault("jsonl: a line that is null", "orders_api_us", line_edited(21, lambda line: "null"),
          QUARANTINED, f"^line 21 {NOT_JSON}{MISSING}$", (21,), (21,)),
    Fault("jsonl: two lines joined (a newline lost)", "orders_api_us",
          lines_edited(lambda lines: [*lines[:24], lines[24] + lines[25], *lines[26:]]),
          QUARANTINED, f"^line 25 {NOT_JSON}{MISSING}$", (25,), (25, 26)),
    Fault("jsonl: invalid UTF-8 (manifest updated)", "orders_api_us",
          line_edited(13, lambda line: line.replace('"title":"', '"title":"\udcff', 1)),
          REFUSED, UNDECODABLE),
    Fault("jsonl: blank lines between lines", "orders_api_us", inserted(5, "", "   ", ""),
          HANDLED),
    Fault("jsonl: a timestamp without its offset", "orders_api_us",
          json_line_edited(15, lambda item: set_path(item, "createdTime",
                                                     item["createdTime"].removesuffix("Z"))),
          QUARANTINED, f"^purchase_ts: {TIMESTAMP_WITHOUT_OFFSET}$", (15,), (15,)),
    Fault("jsonl: a required value blanked", "orders_api_us",
          json_line_edited(17, lambda item: set_path(item, "salesChannel.channelName", "")),
          QUARANTINED, r"^sales_channel is missing$", (17,), (17,)),
    Fault("jsonl: a wrong-typed value inside an array", "orders_api_us",
          json_line_edited(19, lambda item: set_path(item, "orderItems.0.quantityOrdered",
                                                     "nine")),
          QUARANTINED, r"^units_ordered: nine is not a int$", (19,), (19,),
          raw={"units_ordered": "nine"}),
]  # fmt: skip


# ---- the lakes ---------------------------------------------------------------------------------


def _document(lake: Lake, name: str, marketplace_id: str, dt: str | None) -> Doc:
    """The one landed document of dataset ``name`` in ``marketplace_id`` (on ``dt``)."""
    found = []
    for key in lake.list(raw_prefix(name, SELLER, marketplace_id)):
        if is_manifest(key) and (dt is None or raw_partition(key)["dt"] == dt):
            manifest = json.loads(lake.read_bytes(key))
            found.append(Doc(manifest["key"], lake.read_bytes(manifest["key"]), manifest))
    assert len(found) == 1, (name, marketplace_id, dt, [d.key for d in found])
    return found[0]


def _land_orders_api(root: Path) -> Lake:
    """One day of Orders API snapshots (JSON lines) in the US, landed from the sandbox."""
    lake = Lake.from_uri(str(root))
    day = date.fromisoformat(DAY)
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env)
        run = run_seller(SellerRun(SELLER, client), lake, select("orders_api"), (US,), day, day,
                         TODAY)  # fmt: skip
    assert not run.failures, run.failures
    return lake


@dataclass
class Run:
    """One curation of ``TABLES``: the results, the published rows by table and seller, the
    quarantined rows by raw key, and the curation state by table."""

    results: dict[str, jobs.TableResult]
    published: dict[str, dict[str, list[dict]]]
    quarantined: dict[str, list[dict]]
    state: dict[str, dict]


@dataclass(repr=False)  # pytest would print every row of both runs
class Corpus:
    clean: Run
    faulted: Run
    keys: dict[str, list[str]]  # fault name -> the raw keys of its documents
    sellers: dict[str, str]  # fault name -> its seller
    manifests: dict[str, dict]  # fault name -> its (first) document's manifest
    base_rows: dict[str, dict[int, tuple]]  # base -> row number -> the row's key values
    cut_manifest: tuple[str, Any]  # its lake's good key, and its result (or what it raised)


def _curate(spark, lake: Lake, names: list[str] = TABLES) -> Run:
    results = {r.table: r for r in jobs.raw_to_cleaned(spark, lake, names=names, hash_key=KEY,
                                                       clock=CLOCK)}  # fmt: skip
    published: dict[str, dict[str, list[dict]]] = {}
    quarantined: dict[str, list[dict]] = defaultdict(list)
    for name, result in results.items():
        by_seller: dict[str, list[dict]] = defaultdict(list)
        if publish.is_published(lake, table(name)):
            for row in spark.read.parquet(lake.location(f"cleaned/{name}")).collect():
                by_seller[row.seller_id].append(row.asDict(recursive=True))
        published[name] = dict(by_seller)
        if result.quarantine_key:
            for row in spark.read.json(lake.location(result.quarantine_key)).collect():
                quarantined[row.raw_key].append(row.asDict(recursive=True))
    state = {name: json.loads(lake.read_bytes(f"{jobs.STATE}/{name}.json")) for name in names}
    return Run(results, published, dict(quarantined), state)


def _row_keys(base: str, doc: Doc) -> dict[int, tuple]:
    """The base document's rows by number (as curation numbers them) -> their key values as the
    document holds them (the key columns read from the document, in the contract's order)."""
    contract = table(dataset(BASES[base][0]).cleaned_table)
    paths = [str(c.source) for c in contract.columns if c.name in contract.key and c.from_document]
    text, fmt = doc.text, dataset(BASES[base][0]).format
    rows: dict[int, tuple] = {}
    if fmt == "tsv":
        lines = text.split("\n")
        names = lines[0].split("\t")
        for number, line in enumerate(lines[1:], 2):
            if line:
                values = dict(zip(names, line.split("\t"), strict=True))
                rows[number] = tuple(values[p] for p in paths)
    elif fmt == "json":
        for number, element in enumerate(json.loads(text)[contract.rows], 1):
            rows[number] = tuple(element[p] for p in paths)
    else:
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                item = json.loads(line)
                rows[number] = tuple(item[p] for p in paths)
    return rows


def _cut_manifest(spark, work: Path, good: Doc) -> tuple[str, Any]:
    """A lake of two listings documents, one whose manifest was cut short after landing,
    curated: its good document's key and the result (or the exception the run raised)."""
    lake = Lake.from_uri(str(work / "cut-manifest"))
    good.write(lake)
    bad = good.for_seller("FAULT-MANIFEST")
    bad.write(lake)
    lake.write_bytes(manifest_key(bad.key), lake.read_bytes(manifest_key(bad.key))[:100])
    try:
        return good.key, _curate(spark, lake, ["listings"])
    except Exception as exc:  # what a demanding user does not expect: the run stops
        return good.key, exc


def build_corpus(spark, source_root: Path, work: Path) -> Corpus:
    """The clean and the faulted lake under ``work``, from the landed documents under
    ``source_root`` (only read), both curated."""
    source = Lake.from_uri(str(source_root))
    snapshots = _land_orders_api(work / "orders_api")

    def landed(name: str, marketplace_id: str, dt: str | None) -> Doc:
        return _document(snapshots if name == "orders_api" else source, name, marketplace_id, dt)

    real = [landed(*spec) for spec in REAL]
    bases = {name: landed(*spec) for name, spec in BASES.items()}
    clean = Lake.from_uri(str(work / "clean"))
    for doc in real:
        doc.write(clean)
    for name, doc in bases.items():
        doc.for_seller(CONTROL + name).write(clean)
    shutil.copytree(work / "clean", work / "faulted")
    faulted = Lake.from_uri(str(work / "faulted"))
    keys, sellers, manifests = {}, {}, {}
    for number, fault in enumerate(FAULTS, 1):
        seller = f"FAULT{number:02d}"
        doc = bases[fault.base].for_seller(seller)
        added = fault.change(doc) or []
        for each in (doc, *added):
            each.write(faulted)
        keys[fault.name] = [doc.key, *(d.key for d in added)]
        sellers[fault.name] = seller
        manifests[fault.name] = doc.manifest
    return Corpus(
        clean=_curate(spark, clean),
        faulted=_curate(spark, faulted),
        keys=keys,
        sellers=sellers,
        manifests=manifests,
        base_rows={name: _row_keys(name, doc) for name, doc in bases.items()},
        cut_manifest=_cut_manifest(spark, work, bases["listings_us"]),
    )


@pytest.fixture(scope="module")
def corpus(spark, curated, tmp_path_factory) -> Corpus:
    return build_corpus(spark, curated[0], tmp_path_factory.mktemp("faults"))


# ---- comparing rows ----------------------------------------------------------------------------


def _business(row: dict) -> dict:
    """A published row without its seller and lineage (what a fault's copy may differ in)."""
    return {k: v for k, v in row.items() if k not in ("seller_id", *LINEAGE)}


def _key(name: str, row: dict, *, whole: bool) -> tuple:
    """A published row's key: ``whole``, or only the columns read from its document (the
    others are the same for every row of one document)."""
    contract = table(name)
    return tuple(row[c.name] for c in contract.columns
                 if c.name in contract.key and (whole or c.from_document))  # fmt: skip


def _by_key(name: str, rows: list[dict], *, whole: bool = False) -> dict[tuple, dict]:
    keyed = {_key(name, row, whole=whole): row for row in rows}
    assert len(keyed) == len(rows), f"{name}: a key published twice for one seller"
    return keyed


def _expected_rows(corpus: Corpus, fault: Fault) -> dict[tuple, dict]:
    """The fault's published rows as they must be: its control copy's, without the lost rows,
    with what the fault adds to ``extra``."""
    control = _by_key(fault.table, corpus.clean.published[fault.table][CONTROL + fault.base])
    base_rows = corpus.base_rows[fault.base]
    lost = set(base_rows) if fault.lost == ALL else set(fault.lost)
    lost_keys = {tuple(v or None for v in base_rows[n]) for n in lost}  # "" reads as null
    assert len(lost_keys) == len(lost) and lost_keys <= set(control)
    expected = {}
    for key, row in control.items():
        if key not in lost_keys:
            row = _business(row)
            if fault.extra:
                row["extra"] = {**(row.get("extra") or {}), **fault.extra}
            expected[key] = row
    return expected


@dataclass
class Seen:
    """What the faulted run made of one fault's documents."""

    refused: dict[str, str]
    quarantined: list[dict]
    published: list[dict]
    recorded: dict[str, str | None]  # raw key -> the sha256 the state records (None: none)
    refused_in_state: dict[str, str]


def _seen(corpus: Corpus, fault: Fault) -> Seen:
    run, keys = corpus.faulted, corpus.keys[fault.name]
    result, state = run.results[fault.table], run.state[fault.table]
    return Seen(
        refused={k: result.refused[k] for k in keys if k in result.refused},
        quarantined=[row for k in keys for row in run.quarantined.get(k, [])],
        published=run.published[fault.table].get(corpus.sellers[fault.name], []),
        recorded={k: state["documents"].get(k) for k in keys},
        refused_in_state={k: state["refused"][k] for k in keys if k in state["refused"]},
    )


def check(corpus: Corpus, fault: Fault) -> None:
    """The fault's outcome is the one expected (AssertionError says how it is not)."""
    seen, keys = _seen(corpus, fault), corpus.keys[fault.name]
    refused_keys = []
    if fault.outcome == REFUSED:
        refused_keys = [keys[i] for i in (fault.refused or range(len(keys)))]
    assert sorted(seen.refused) == sorted(refused_keys), (
        f"refused {seen.refused}, quarantined {[q['reason'] for q in seen.quarantined][:3]}, "
        f"published {len(seen.published)} rows"
    )
    assert all(re.search(fault.reason, why) for why in seen.refused.values()), seen.refused
    # A refused document is named in the state and not recorded as curated; the others are.
    assert seen.refused_in_state == seen.refused
    for key, recorded in seen.recorded.items():
        assert recorded is None if key in refused_keys else recorded is not None, (key, recorded)
    if fault.outcome == QUARANTINED:
        got = sorted((q["row_number"] for q in seen.quarantined), key=lambda n: n or 0)
        assert got == list(fault.rows), (
            f"quarantined {[(q['row_number'], q['reason']) for q in seen.quarantined][:5]}, "
            f"expected rows {list(fault.rows)[:5]}; {len(seen.published)} rows published"
        )
        unexplained = [q["reason"] for q in seen.quarantined
                       if not re.search(fault.reason, q["reason"])]  # fmt: skip
        assert not unexplained, unexplained
        manifest, seller = corpus.manifests[fault.name], corpus.sellers[fault.name]
        for q in seen.quarantined:
            assert (q["table"], q["seller_id"], q["raw_key"]) == (fault.table, seller, keys[0])
            assert q.get("document_id") == manifest["document_id"]
            assert q["ingested_at"] is not None
            row = q.get("row") or {}
            assert {k: row.get(k) for k in fault.raw} == fault.raw, row
    else:
        assert not seen.quarantined, [(q["row_number"], q["reason"]) for q in seen.quarantined]
    if refused_keys == keys:
        assert not seen.published, f"{len(seen.published)} rows of a refused document published"
        return
    got_rows = {key: _business(row) for key, row in _by_key(fault.table, seen.published).items()}
    expected = _expected_rows(corpus, fault)
    missing, surplus = sorted(set(expected) - set(got_rows)), sorted(set(got_rows) - set(expected))
    assert not missing and not surplus, f"rows missing {missing}, rows not expected {surplus}"
    changed = {k: {c: (v, expected[k][c]) for c, v in row.items() if v != expected[k][c]}
               for k, row in got_rows.items() if row != expected[k]}  # fmt: skip
    assert not changed, f"rows changed (published, expected): {changed}"


# ---- the tests ---------------------------------------------------------------------------------


def test_the_corpus_has_thirty_faults_or_more_in_every_format():
    assert len(FAULTS) >= 30
    assert len({f.name for f in FAULTS}) == len(FAULTS)
    formats = Counter(f.format for f in FAULTS)
    assert set(formats) == {"tsv", "json", "jsonl"} and min(formats.values()) >= 8, formats
    outcomes = Counter(f.outcome for f in FAULTS)
    assert set(outcomes) == {REFUSED, QUARANTINED, HANDLED}, outcomes


def test_the_clean_run_refuses_and_quarantines_nothing(corpus):
    for result in corpus.clean.results.values():
        assert result.documents > 0 and result.rows_out > 0, result
        assert not result.refused and result.quarantined == 0, result
        assert result.reconciles and result.passed and not result.blocked, result
    for base, (name, _, _) in BASES.items():
        control = corpus.clean.published[dataset(name).cleaned_table][CONTROL + base]
        assert len(control) == len(corpus.base_rows[base]), base


def test_every_result_of_the_faulted_run_reconciles_and_passes_its_suite(corpus):
    for result in corpus.faulted.results.values():
        assert result.reconciles, result
        assert result.passed and not result.blocked, result.failure_lines()
        quarantined = sum(len(rows) for key, rows in corpus.faulted.quarantined.items()
                          if rows[0]["table"] == result.table)  # fmt: skip
        assert result.quarantined == quarantined, result


def test_no_row_of_any_other_document_is_lost_or_changed(corpus):
    """The real seller's and the control sellers' published rows are those of the clean run,
    every column (lineage too), whatever the faulted documents beside them hold."""
    faulty = set(corpus.sellers.values())
    for name in TABLES:
        clean, faulted = corpus.clean.published[name], corpus.faulted.published[name]
        assert set(clean) <= set(faulted), name
        assert set(faulted) - set(clean) <= faulty, name
        for seller, rows in clean.items():
            assert len(faulted[seller]) == len(rows), (name, seller)
            got, expected = (_by_key(name, r, whole=True) for r in (faulted[seller], rows))
            assert got == expected, (name, seller)


def test_a_document_landed_twice_is_superseded_not_doubled(corpus):
    (fault,) = [f for f in FAULTS if f.change is landed_twice]
    clean, faulted = corpus.clean.results[fault.table], corpus.faulted.results[fault.table]
    assert faulted.superseded - clean.superseded == len(corpus.base_rows[fault.base])


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_has_its_outcome(corpus, fault):
    check(corpus, fault)


CUT_MANIFEST = "tsv: its manifest cut short after landing (not JSON)"


def test_a_manifest_cut_short_is_refused_and_stops_nothing_else(corpus):
    good_key, run = corpus.cut_manifest
    assert isinstance(run, Run), f"the run stopped: {type(run).__name__}: {run}"
    result = run.results["listings"]
    assert [k for k in result.refused if "FAULT-MANIFEST" in k], result.refused
    assert {r["raw_key"] for rows in run.published["listings"].values() for r in rows} == {good_key}


# ---- the table for the note --------------------------------------------------------------------


def _outcome(corpus: Corpus, fault: Fault) -> tuple[str, str]:
    """What the faulted run made of the fault: (outcome, reason), in words."""
    seen = _seen(corpus, fault)
    parts, reasons = [], []
    if seen.refused:
        many = len(corpus.keys[fault.name]) > 1
        parts.append("refused" + (f" ({len(seen.refused)} of its documents)" if many else ""))
        reasons += list(seen.refused.values())
    if seen.quarantined:
        numbers = sorted((q["row_number"] for q in seen.quarantined), key=lambda n: n or 0)
        if numbers == [None]:
            parts.append("the document quarantined as one row")
        elif len(numbers) > 3:
            parts.append(f"{len(numbers)} rows quarantined (rows {numbers[0]}-{numbers[-1]})")
        else:
            rows = ", ".join(str(n) for n in numbers)
            parts.append(f"{len(numbers)} row{'s' * (len(numbers) > 1)} quarantined (row {rows})")
        distinct = list(dict.fromkeys(q["reason"] for q in seen.quarantined))
        reasons += distinct[:1] + ([f"(+{len(distinct) - 1} more)"] if len(distinct) > 1 else [])
    if seen.published:
        whole = len(corpus.base_rows[fault.base])
        what = "all" if len(seen.published) == whole else f"{len(seen.published)} of"
        parts.append(f"{what} {whole} rows published")
    if not (seen.refused or seen.quarantined):
        if not seen.published:
            parts.append("nothing published, refused or quarantined")
        elif parts[0].startswith("all"):
            parts[0] = "handled: " + parts[0]
        else:
            parts.append("nothing refused or quarantined")
    return "; ".join(parts), " ".join(reasons) or "—"


def _expected_outcome(fault: Fault) -> str:
    if fault.outcome == REFUSED:
        return "refused"
    if fault.outcome == HANDLED:
        return "handled"
    if fault.rows == (None,):
        return "the document quarantined as one row"
    return f"{len(fault.rows)} row(s) quarantined"


def fault_table(corpus: Corpus) -> list[dict[str, str]]:
    """The corpus as rows of the note's table: fault, format, outcome (with what was expected
    when the outcome is not it) and reason."""
    rows = []
    for fault in FAULTS:
        outcome, reason = _outcome(corpus, fault)
        try:
            check(corpus, fault)
        except AssertionError:
            outcome = f"**{outcome}** (expected: {_expected_outcome(fault)})"
        stored, name = fault.name.split(": ", 1)  # e.g. tsv.gz, as the document is stored
        rows.append({"fault": name, "format": stored, "outcome": outcome,
                     "reason": reason})  # fmt: skip
    _, run = corpus.cut_manifest
    if isinstance(run, Run):
        refused = run.results["listings"].refused
        outcome, reason = "refused", " ".join(refused.values()) or "—"
        if not [k for k in refused if "FAULT-MANIFEST" in k]:
            outcome = "**not refused** (expected: refused)"
    else:
        outcome = (
            "**the run stopped: this table and those after it not curated** (expected: refused)"
        )
        reason = f"{type(run).__name__}: {run}"
    rows.append({"fault": CUT_MANIFEST.split(": ", 1)[1], "format": "tsv", "outcome": outcome,
                 "reason": reason})  # fmt: skip
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| fault | format | outcome | reason |", "| --- | --- | --- | --- |"]
    lines += [f"| {cell(r['fault'])} | {r['format']} | {cell(r['outcome'])} | {cell(r['reason'])} |"
              for r in rows]  # fmt: skip
    return "\n".join(lines) + "\n"


def test_the_fault_table_for_the_note(corpus):
    rows = fault_table(corpus)
    assert len(rows) == len(FAULTS) + 1
    assert all(r["outcome"] and r["reason"] for r in rows)
    text = markdown(rows)
    print("\n" + text)
    if os.environ.get("FAULT_TABLE"):
        Path(os.environ["FAULT_TABLE"]).write_text(text, encoding="utf-8")
