"""SP-API regions, endpoints and marketplaces, as data (``data/regions.csv``,
``data/marketplaces.csv``).

A marketplace carries what later stages need to read its data correctly: its currency (money
columns), its time zone (the local date of an order) and the encoding its flat-file reports
usually arrive in: the Java names Amazon puts in the download's ``Content-Type`` are
``UTF-8`` (the Americas and the rest), ``Cp1252`` (the European marketplaces, characters outside
it already replaced by ``?``) and ``Windows-31J`` (Japan), here by their Python codec names
``utf-8``, ``cp1252`` and ``cp932``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"


@dataclass(frozen=True)
class Region:
    name: str  # "na", "eu" or "fe"
    endpoint: str
    sandbox_endpoint: str
    aws_region: str


@dataclass(frozen=True)
class Marketplace:
    marketplace_id: str
    country_code: str
    name: str
    region: str
    domain: str
    currency: str
    language: str
    timezone: str
    flat_file_encoding: str


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("spapi_toolkit").joinpath(f"data/{filename}").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def regions() -> dict[str, Region]:
    return {row["region"]: Region(name=row.pop("region"), **row) for row in _rows("regions.csv")}


@cache
def marketplaces() -> dict[str, Marketplace]:
    """Every marketplace, keyed by marketplace id."""
    return {row["marketplace_id"]: Marketplace(**row) for row in _rows("marketplaces.csv")}


def region(name: str) -> Region:
    """The region called ``name`` (na, eu, fe); a ValueError lists the valid names otherwise."""
    try:
        return regions()[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown SP-API region {name!r}; expected one of {', '.join(regions())}"
        ) from None


def marketplace(id_or_country: str) -> Marketplace:
    """A marketplace by id (``ATVPDKIKX0DER``) or country code (``US``; ``UK`` means ``GB``)."""
    key = id_or_country.strip()
    table = marketplaces()
    if key in table:
        return table[key]
    country = {"UK": "GB"}.get(key.upper(), key.upper())
    for market in table.values():
        if market.country_code == country:
            return market
    raise ValueError(
        f"unknown marketplace {id_or_country!r}; use a marketplace id or one of the country "
        f"codes {', '.join(sorted(m.country_code for m in table.values()))}"
    )
