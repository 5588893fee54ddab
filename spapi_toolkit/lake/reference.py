"""Reference files into the raw zone: checked whole first, then landed like any SP-API document.

A reference dataset (``source = "file"`` in ``datasets.toml``, e.g. ``fx_rates``) is not asked of
Amazon: somebody loads a file (``spapi reference load fx_rates rates.csv``). Reference data
belongs to no marketplace (``marketplace_id=all``); FX rates belong to no seller either
(``seller_id=reference``, lower case: no Amazon seller id can be it), unit costs to the seller
named with ``--seller``. ``dt`` is the first day the file covers and the object is named by the
file's sha256, so loading the same file again lands nothing and a corrected file is a new
object whose rows win key by key (newest pull) at curation. A row a later file leaves out is
not removed: correct a row by loading it again with its key (e.g. the same SKU, currency and
valid_from with the right cost).

Values are taken as written: a header name or a value with spaces around it is a problem, not
trimmed (curation would read the spaces too).

The file is checked whole before anything is written (reference files are small): a malformed
one raises ``ReferenceFileError`` listing every problem with its line and column, and the lake
is left as it was. Then ``landing.land`` stores it with its manifest and runs the document
checks every landed object gets; the raw → cleaned job curates it into its table.

FX rates (``fx_rates``): a UTF-8 CSV with a header naming the columns ``rate_date``
(YYYY-MM-DD), ``currency`` and ``reporting_currency`` (ISO 4217, three capitals, different
from each other) and ``rate`` (units of reporting_currency per unit of currency, a positive
decimal with at most 10 decimals), in any order, nothing else; one row per day and currency,
one reporting currency per file and per lake.

Unit costs (``unit_costs``): what one unit of a SKU costs the seller (buying or making it and
getting it to Amazon), for the profit analyses. A UTF-8 CSV with a header naming ``sku`` (1 to
40 characters, the seller's SKU as in Seller Central), ``currency`` (ISO 4217), ``unit_cost``
(an amount of money: 0 or more, at most 2 decimals) and ``valid_from`` (YYYY-MM-DD: the cost
holds from that day until the SKU's next ``valid_from`` in the same currency), in any order,
nothing else; one row per SKU, currency and day. Unit costs are one seller's: they land under
its id (``spapi reference load unit_costs costs.csv --seller A2...``), and a corrected file
wins row by row as FX files do.

Watchlist (``watchlist``): what one seller watches of its competitors. A UTF-8 CSV with a header
naming ``marketplace_id`` (Amazon's id, e.g. A1PA6795UKMFR9), ``kind`` (``asin``: watch that
ASIN; ``search``: watch the top results of a catalog keyword search), ``value`` (the ASIN, ten
capitals and digits, or the search's keywords), ``brand`` (a search only, may be empty: only
that brand's items), ``watch`` (``true``, or ``false`` to stop watching an entry an earlier file
declared) and ``note`` (free text, may be empty), in any order; two more columns may be there
or not, both for a search only and empty for an ASIN: ``classification`` (one of Amazon's
classification ids, the digits of a browse node such as 3167641, to keep the search to that
category) and ``results`` (how many of its top results to watch, 1 to 20; empty: 10); nothing
else. One row per marketplace, kind and value (a search's keywords compared with their spaces
normalised; one search per keywords, so the same keywords cannot be watched for two brands). It
lands under the seller's id and the day it was loaded (``--seller``); the files' rows win key by
key (newest file), as for the other reference files, and ``ingest/watchlist.py`` turns them into
each day's watched ASINs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.errors import SpApiToolkitError
from spapi_toolkit.lake.checks import document_shape
from spapi_toolkit.lake.landing import Manifest, land
from spapi_toolkit.lake.layout import is_manifest, object_key, raw_prefix, raw_stem
from spapi_toolkit.lake.registry import dataset
from spapi_toolkit.lake.storage import Lake

REFERENCE_SELLER = "reference"
ALL_MARKETPLACES = "all"
MAX_PROBLEMS = 20  # listed in one error; the count says how many there were
FX_COLUMNS = ("rate_date", "currency", "reporting_currency", "rate")
_CURRENCY = re.compile(r"[A-Z]{3}")
_RATE = re.compile(r"\d+(\.\d{1,10})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
UNIT_COST_COLUMNS = ("sku", "currency", "unit_cost", "valid_from")
_COST = re.compile(r"\d{1,16}(\.\d{1,2})?")  # fits the lake's decimal(18,2)
MAX_SKU = 40  # Amazon's limit on a seller SKU
_SELLER = re.compile(r"[A-Z0-9]{1,40}")  # Amazon's ids are upper case, unlike "reference"
WATCHLIST_COLUMNS = ("marketplace_id", "kind", "value", "brand", "watch", "note")
WATCHLIST_OPTIONAL = ("classification", "results")  # absent: empty in every row
_CLASSIFICATION = re.compile(r"[0-9]{1,20}")
DEFAULT_RESULTS = 10  # a search's top results watched when its row leaves ``results`` empty
MAX_RESULTS = 20  # one page of searchCatalogItems at most
# How the lake labels what narrows a search (``kochmesser [brand=Vantiq] [top=20]``:
# ``ingest/watchlist.Search.label``); a search's keywords may not hold such a label
NARROWED_BY = ("brand", "classification", "top")
WATCH_KINDS = ("asin", "search")
_ASIN = re.compile(r"[A-Z0-9]{10}")
MAX_KEYWORDS = 200  # characters of a search's keywords
MAX_NOTE = 200


class ReferenceFileError(SpApiToolkitError, ValueError):
    """A reference file cannot be loaded; the message names the file, lines and columns."""


@dataclass(frozen=True)
class ReferenceFile:
    """What a checked reference file holds: its rows and what the manifest records of it."""

    rows: int
    first: date | None  # the first day it covers (the raw key's dt); None: the day it is loaded
    last: date | None
    details: dict[str, str]  # recorded in the manifest's request (e.g. the reporting currency)


def _csv_rows(
    data: bytes,
    where: str,
    columns: tuple[str, ...],
    problems: list[str],
    optional: tuple[str, ...] = (),
) -> list[tuple[int, dict[str, str]]]:
    """A reference CSV's rows as (line, {column: value}), after checking it is UTF-8 and its
    header names exactly ``columns`` and any of ``optional`` (any order; ``ReferenceFileError``
    otherwise; an optional column the header lacks is empty in every row); a row with the wrong
    number of fields or a value with spaces around it is added to ``problems`` instead; blank
    lines skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReferenceFileError(f"{where}: not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or header == [""]:
        raise ReferenceFileError(f"{where}: empty; expected a header {','.join(columns)}")
    names = list(header)
    spaced = [name for name in names if name != name.strip()]
    if spaced:
        raise ReferenceFileError(f"{where} line 1: the header's names {spaced} have spaces "
                                 f"around them; expected exactly {','.join(columns)}")  # fmt: skip
    missing = [c for c in columns if c not in names]
    unknown = [c for c in names if c not in columns + optional]
    doubled = sorted({c for c in names if names.count(c) > 1})
    if missing or unknown or doubled:
        parts = [f"lacks {missing}" if missing else "", f"has unknown {unknown}" if unknown else "",
                 f"repeats {doubled}" if doubled else ""]  # fmt: skip
        raise ReferenceFileError(
            f"{where} line 1: the header {', '.join(p for p in parts if p)}; "
            f"expected exactly {', '.join(columns)} (any order)"
            + (f", and may name {', '.join(optional)}" if optional else "")
        )
    position = {name: i for i, name in enumerate(names)}
    rows = []
    for line, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue  # a blank line (the end of the file)
        if len(fields) != len(names):
            problems.append(f"line {line}: {len(fields)} fields, the header has {len(names)}")
            continue
        value = {name: "" for name in optional} | {n: fields[i] for n, i in position.items()}
        spaced = [name for name, text in value.items() if text != text.strip()]
        problems += [f"line {line} column {name}: {value[name][:40]!r} has spaces around it"
                     for name in spaced]  # fmt: skip
        if not spaced:
            rows.append((line, value))
    return rows


def _refuse(where: str, problems: list[str], what: str, rows: int) -> None:
    """``ReferenceFileError`` listing ``problems`` (the first ``MAX_PROBLEMS``), or one saying
    the file holds no ``what`` when it has no rows; nothing when the file is good."""
    if not problems and not rows:
        problems = [f"no {what}: the file has a header only"]
    if problems:
        listed = "\n  ".join(problems[:MAX_PROBLEMS])
        extra = len(problems) - MAX_PROBLEMS
        more = f"\n  ... and {extra} more" if extra > 0 else ""
        raise ReferenceFileError(
            f"{where}: {len(problems)} problem(s), nothing loaded:\n  {listed}{more}"
        )


def _unique_rows(
    data: bytes,
    where: str,
    columns: tuple[str, ...],
    problems: list[str],
    row_problems: Callable[[dict[str, str]], list[str]],
    key_of: Callable[[dict[str, str]], tuple[Any, ...]],
    again: tuple[Callable[[tuple[Any, ...]], str], str],
    optional: tuple[str, ...] = (),
) -> dict[tuple[Any, ...], tuple[int, dict[str, str]]]:
    """A reference CSV's good rows by key (``key_of``): (line, values) of each key's first row.
    A row with ``row_problems`` adds them to ``problems`` with its line and column; a row whose
    key came before adds ``again``'s words for it (what the key names, and the rule)."""
    named, rule = again
    seen: dict[tuple[Any, ...], tuple[int, dict[str, str]]] = {}
    for line, value in _csv_rows(data, where, columns, problems, optional):
        wrong = row_problems(value)
        problems += [f"line {line} column {p}" for p in wrong]
        if wrong:
            continue
        key = key_of(value)
        if key in seen:
            problems.append(f"line {line}: {named(key)} again (first on line {seen[key][0]}): "
                            f"{rule}")  # fmt: skip
            continue
        seen[key] = (line, value)
    return seen


def check_fx_rates(data: bytes, where: str) -> ReferenceFile:
    """Check an FX rates file (see the module doc); ``ReferenceFileError`` lists its problems."""
    problems: list[str] = []
    seen = _unique_rows(
        data, where, FX_COLUMNS, problems, _fx_row_problems,
        lambda v: (date.fromisoformat(v["rate_date"]), v["currency"], v["reporting_currency"]),
        (lambda k: f"{k[1]} on {k[0]}", "one rate per day and currency"),
    )  # fmt: skip
    days = [day for day, _, _ in seen]
    reporting: dict[str, int] = {}  # reporting currency -> first line using it
    for line, value in seen.values():
        reporting.setdefault(value["reporting_currency"], line)
    if len(reporting) > 1:
        firsts = ", ".join(f"{c} (line {n})" for c, n in reporting.items())
        problems.append(f"several reporting currencies: {firsts}; a lake reports in one")
    _refuse(where, problems, "rates", len(days))
    currencies = sorted({c for _, c, _ in seen})
    return ReferenceFile(
        rows=len(days),
        first=min(days),
        last=max(days),
        details={"reporting_currency": next(iter(reporting)), "currencies": ",".join(currencies)},
    )


def check_unit_costs(data: bytes, where: str) -> ReferenceFile:
    """Check a unit costs file (see the module doc); ``ReferenceFileError`` lists its
    problems."""
    problems: list[str] = []
    seen = _unique_rows(
        data, where, UNIT_COST_COLUMNS, problems, _unit_cost_problems,
        lambda v: (v["sku"], v["currency"], date.fromisoformat(v["valid_from"])),
        (lambda k: f"{k[0]} in {k[1]} from {k[2]}", "one cost per SKU, currency and day"),
    )  # fmt: skip
    _refuse(where, problems, "unit costs", len(seen))
    days = [day for _, _, day in seen]
    return ReferenceFile(
        rows=len(seen), first=min(days), last=max(days),
        details={"skus": str(len({sku for sku, _, _ in seen})),
                 "currencies": ",".join(sorted({c for _, c, _ in seen}))},
    )  # fmt: skip


def check_watchlist(data: bytes, where: str) -> ReferenceFile:
    """Check a watchlist file (see the module doc); ``ReferenceFileError`` lists its problems."""
    problems: list[str] = []
    seen = _unique_rows(
        data, where, WATCHLIST_COLUMNS, problems, _watchlist_problems,
        lambda v: (v["marketplace_id"], v["kind"], entry_value(v["kind"], v["value"])),
        (lambda k: f"{k[1]} {k[2]!r} in {k[0]}", "one row per marketplace, kind and value"),
        WATCHLIST_OPTIONAL,
    )  # fmt: skip
    _refuse(where, problems, "watchlist entries", len(seen))
    kinds = [kind for _, kind, _ in seen]
    return ReferenceFile(
        rows=len(seen), first=None, last=None,
        details={"asins": str(kinds.count("asin")), "searches": str(kinds.count("search")),
                 "marketplaces": ",".join(sorted({m for m, _, _ in seen}))},
    )  # fmt: skip


def entry_value(kind: str, value: str) -> str:
    """A watchlist row's value as it identifies the entry: a search's keywords with their
    whitespace normalised (``usb  cable`` and ``usb cable`` are one search), an ASIN as is."""
    return " ".join(value.split()) if kind == "search" else value


def _watchlist_problems(value: dict[str, str]) -> list[str]:
    """What is wrong with one watchlist row's values, each starting with the column's name."""
    from spapi_toolkit.regions import marketplaces

    problems = []
    known = marketplaces()
    market = value["marketplace_id"]
    if market not in known:
        by_country = [m.marketplace_id for m in known.values() if m.country_code == market]
        hint = f" (the id of {market} is {by_country[0]})" if by_country else ""
        problems.append(f"marketplace_id: {market[:40]!r} is not a marketplace id{hint}")
    kind, text = value["kind"], value["value"]
    if kind not in WATCH_KINDS:
        problems.append(f"kind: {kind[:40]!r} is not one of {', '.join(WATCH_KINDS)}")
    elif kind == "asin" and not _ASIN.fullmatch(text):
        problems.append(f"value: {text[:40]!r} is not an ASIN (10 capitals and digits)")
    elif kind == "search" and not 0 < len(text.strip()) <= MAX_KEYWORDS:
        problems.append(f"value: a search's keywords are 1 to {MAX_KEYWORDS} characters")
    elif kind == "search" and any(f"[{name}=" in text for name in NARROWED_BY):
        problems.append("value: '[brand=', '[classification=' and '[top=' label a search's "
                        "narrowing in the lake; use the brand, classification and results "
                        "columns")  # fmt: skip
    if kind == "asin" and value["brand"]:
        problems.append("brand: only a search is narrowed to a brand; leave it empty for an ASIN")
    if "[" in value["brand"] or "]" in value["brand"]:
        problems.append(f"brand: {value['brand'][:40]!r} holds a square bracket")
    problems += _search_problems(kind, value["classification"], value["results"])
    if value["watch"] not in ("true", "false"):
        problems.append(f"watch: {value['watch'][:40]!r} is not true or false")
    if len(value["note"]) > MAX_NOTE:
        problems.append(f"note: longer than {MAX_NOTE} characters")
    return problems


def _search_problems(kind: str, classification: str, results: str) -> list[str]:
    """What is wrong with a watchlist row's ``classification`` and ``results``."""
    problems = []
    if classification and kind == "asin":
        problems.append("classification: only a search is narrowed to a classification")
    elif classification and not _CLASSIFICATION.fullmatch(classification):
        problems.append(f"classification: {classification[:40]!r} is not a classification id "
                        "(the digits of a browse node, e.g. 3167641)")  # fmt: skip
    if results and kind == "asin":
        problems.append("results: only a search has top results; leave it empty for an ASIN")
    elif results and not (results.isdigit() and 1 <= int(results) <= MAX_RESULTS):
        problems.append(f"results: {results[:40]!r} is not a whole number from 1 to "
                        f"{MAX_RESULTS} (one page of search results)")  # fmt: skip
    return problems


def _date_problem(name: str, text: str) -> list[str]:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        return [f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)"]
    return []


def _unit_cost_problems(value: dict[str, str]) -> list[str]:
    """What is wrong with one unit cost row's values, each starting with the column's name."""
    problems = []
    if not value["sku"] or len(value["sku"]) > MAX_SKU:
        problems.append(f"sku: {value['sku'][:60]!r} is not a SKU (1 to {MAX_SKU} characters)")
    if not _CURRENCY.fullmatch(value["currency"]):
        problems.append(f"currency: {value['currency'][:40]!r} is not an ISO 4217 code (e.g. EUR)")
    if not _COST.fullmatch(value["unit_cost"]):
        problems.append(f"unit_cost: {value['unit_cost'][:40]!r} is not an amount of money "
                        "(0 or more, at most 2 decimals, e.g. 4.75)")  # fmt: skip
    return problems + _date_problem("valid_from", value["valid_from"])


def _fx_row_problems(value: dict[str, str]) -> list[str]:
    """What is wrong with one FX row's values, each starting with the column's name."""
    problems = _date_problem("rate_date", value["rate_date"])
    for name in ("currency", "reporting_currency"):
        if not _CURRENCY.fullmatch(value[name]):
            problems.append(f"{name}: {value[name][:40]!r} is not an ISO 4217 code (e.g. EUR)")
    if value["currency"] == value["reporting_currency"] and _CURRENCY.fullmatch(value["currency"]):
        problems.append("currency: the same as reporting_currency (its rate is 1 by rule)")
    rate = value["rate"]
    if not _RATE.fullmatch(rate) or Decimal(rate) == 0:
        problems.append(
            f"rate: {rate[:40]!r} is not a positive decimal with at most 10 decimals (e.g. 1.0845)"
        )
    return problems


CHECKS: dict[str, Callable[[bytes, str], ReferenceFile]] = {
    "fx_rates": check_fx_rates,
    "unit_costs": check_unit_costs,
    "watchlist": check_watchlist,
}
"""Each reference dataset's file check."""
SELLERS_OWN = {"unit_costs", "watchlist"}
"""The reference datasets that belong to one seller (landed under its id, not ``reference``)."""


def load_reference(
    lake: Lake, name: str, path: Path, *, seller: str | None = None, clock: Clock = SYSTEM_CLOCK
) -> tuple[Manifest, ReferenceFile]:
    """Check the file at ``path`` as reference dataset ``name`` and land it (the module doc),
    for ``seller`` when the data is a seller's own (``SELLERS_OWN``); the manifest (the
    existing one when this file was loaded before) and what the file holds."""
    spec = dataset(name)
    check = CHECKS.get(name)
    if spec.source != "file" or check is None:
        files = ", ".join(CHECKS)
        raise ReferenceFileError(f"{name} is not a reference dataset; these are: {files}")
    if name in SELLERS_OWN and not seller:
        raise ReferenceFileError(f"{name} belong to one seller: say whose (its selling partner "
                                 "id, e.g. --seller A2EXAMPLE1)")  # fmt: skip
    if name not in SELLERS_OWN and seller:
        raise ReferenceFileError(f"{name} belong to no seller: load them without a seller")
    if seller is not None and not _SELLER.fullmatch(seller):
        raise ReferenceFileError(f"{seller[:40]!r} is not a selling partner id (capital "
                                 "letters and digits)")  # fmt: skip
    owner = seller or REFERENCE_SELLER
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReferenceFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    checked = check(data, str(path))
    _check_consistent(lake, name, checked, str(path))
    digest = hashlib.sha256(data).hexdigest()
    first = checked.first or clock.today()
    stem = raw_stem(name, owner, ALL_MARKETPLACES, first, f"{name}-{digest[:16]}")
    request: dict[str, Any] = {"file": path.name, **checked.details}
    if checked.first is not None and checked.last is not None:
        request.update(first_day=checked.first.isoformat(), last_day=checked.last.isoformat())
    manifest = land(
        lake, stem, [data], fmt=spec.format, encodings=["utf-8"], shape=document_shape(spec),
        manifest_fields={"dataset": name, "seller_id": owner, "request": request},
        now=clock.now(),
    )  # fmt: skip
    return manifest, checked


def landed_details(lake: Lake, name: str) -> list[Manifest]:
    """The manifests of the files of reference dataset ``name`` already landed."""
    keys = set(lake.list(raw_prefix(name, REFERENCE_SELLER)))
    return [
        Manifest.from_json(lake.read_bytes(key))
        for key in sorted(keys)
        if is_manifest(key) and object_key(key) in keys
    ]


def _check_consistent(lake: Lake, name: str, checked: ReferenceFile, where: str) -> None:
    """FX: the lake's files all convert into one reporting currency."""
    wanted = checked.details.get("reporting_currency")
    if wanted is None:
        return
    for manifest in landed_details(lake, name):
        had = manifest.request.get("reporting_currency")
        if had and had != wanted:
            raise ReferenceFileError(
                f"{where}: converts into {wanted}, but the lake's {name} convert into {had} "
                f"({manifest.key}); a lake reports in one currency"
            )
