"""The package layout: the lake core stands alone, and the raw key format is the one written."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from spapi_toolkit.lake.layout import (
    KeyLayoutError,
    is_manifest,
    manifest_key,
    object_key,
    raw_partition,
    raw_prefix,
    raw_stem,
)

LAKE_MODULES = [
    "spapi_toolkit.lake." + m
    for m in ("layout", "registry", "tables", "storage", "landing", "checks", "catalog")
]


def test_the_lake_core_imports_with_the_standard_library_alone():
    # A Glue job imports the lake core without HTTP, auth or AWS SDK code: every module loaded
    # by importing it must be the standard library's or the toolkit's own.
    # Modules loaded before the probe (site hooks of the environment) do not count.
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"for name in {LAKE_MODULES!r}: __import__(name)\n"
        "from spapi_toolkit.lake.registry import registry; registry()\n"
        "loaded = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "foreign = loaded - set(sys.stdlib_module_names) - {'spapi_toolkit'}\n"
        "print(','.join(sorted(m for m in foreign if not m.startswith('_'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"the lake core pulled in: {out}"


def test_raw_keys_have_one_format_and_parse_back():
    stem = raw_stem("orders_by_order_date", "S1", "ATVPDKIKX0DER", date(2026, 11, 3), "r/1 2")
    assert stem == (
        "raw/source=spapi/dataset=orders_by_order_date/seller_id=S1/"
        "marketplace_id=ATVPDKIKX0DER/dt=2026-11-03/r_1_2"
    )
    assert stem.startswith(raw_prefix("orders_by_order_date", "S1", "ATVPDKIKX0DER"))
    assert raw_partition(stem + ".tsv") == {
        "source": "spapi",
        "dataset": "orders_by_order_date",
        "seller_id": "S1",
        "marketplace_id": "ATVPDKIKX0DER",
        "dt": "2026-11-03",
    }
    key = stem + ".tsv.gz"
    assert is_manifest(manifest_key(key)) and not is_manifest(key)
    assert object_key(manifest_key(key)) == key


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        (("../x", "S1", "M"), "dataset"),
        (("d", "S/1", "M"), "seller_id"),
        (("d", "S", ".."), "marketplace_id"),
    ],
)
def test_unsafe_key_parts_are_refused_by_name(parts, named):
    with pytest.raises(KeyLayoutError, match=named):
        raw_stem(*parts, date(2026, 1, 1), "x")
