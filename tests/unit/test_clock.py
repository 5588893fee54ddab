"""One clock: the toolkit reads the time only through ``spapi_toolkit.clock``, and the sandbox's
history follows the day unless pinned."""

from __future__ import annotations

import ast
import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import spapi_toolkit
from spapi_sandbox.documents import render_report
from spapi_sandbox.server import SandboxConfig, make_seller, run_sandbox
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.clock import SYSTEM_CLOCK, Clock, ManualClock

from ..support import END_DATE

PACKAGE = Path(spapi_toolkit.__file__).parent

# Readers of the calendar: allowed only in clock.py.
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
}
# Readers of elapsed time and sleepers: ingestion takes them from its clock too, so a test
# can drive its waits and cool-downs.
ELAPSED = {("time", "monotonic"), ("time", "monotonic_ns"), ("time", "sleep")}
INGESTION = ("ingest", "kiosk", "ledger", "planner", "snapshots", "pipeline", "notifications",
             "landing", "lake")  # fmt: skip


def _time_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, owner, attribute) of every ``owner.attribute(...)`` call and every
    ``from time import ...`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            found.append((node.lineno, name, node.func.attr))
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found.extend((node.lineno, "time", a.name) for a in node.names)
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)


def test_only_the_clock_module_reads_the_calendar():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {owner}.{attr}()"
        for path in _modules()
        if path.name != "clock.py"
        for line, owner, attr in _time_calls(path)
        if (owner, attr) in WALL_CLOCK
    ]
    assert offenders == [], "read the time through spapi_toolkit.clock instead"


def test_ingestion_waits_and_measures_through_its_clock():
    ingestion = [p for p in _modules() if p.relative_to(PACKAGE).parts[0].removesuffix(".py")
                 in INGESTION]  # fmt: skip
    assert len(ingestion) >= len(INGESTION)  # the list still names real modules
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {owner}.{attr}()"
        for path in ingestion
        for line, owner, attr in _time_calls(path)
        if (owner, attr) in ELAPSED | WALL_CLOCK
    ]
    assert offenders == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import datetime, time\nfrom time import monotonic\n"
        "a = datetime.datetime.now()\nb = time.time()\nc = datetime.date.today()\n"
    )
    assert {(o, a) for _, o, a in _time_calls(sample)} >= {
        ("datetime", "now"), ("time", "time"), ("date", "today"), ("time", "monotonic"),
    }  # fmt: skip


def test_clock_offset_from_the_environment():
    clock = Clock.from_env({"SPAPI_CLOCK_OFFSET": "-86400"})
    assert clock.offset == timedelta(days=-1)
    assert abs((SYSTEM_CLOCK.now() - clock.now()) - timedelta(days=1)) < timedelta(seconds=5)
    assert Clock.from_env({}).offset == timedelta(0)
    assert Clock.from_env(clock.env()).offset == clock.offset
    with pytest.raises(ValueError, match="SPAPI_CLOCK_OFFSET must be a number of seconds"):
        Clock.from_env({"SPAPI_CLOCK_OFFSET": "yesterday"})


def test_a_clock_started_at_a_moment_reads_it_and_runs_on():
    moment = datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC)
    clock = Clock.starting_at(moment)
    assert timedelta(0) <= clock.now() - moment < timedelta(seconds=5)
    assert clock.today() in (date(2025, 3, 1), date(2025, 3, 2))


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(datetime(2026, 1, 1))
    before, elapsed = clock.now(), clock.monotonic()
    assert before.tzinfo is not None and clock.now() == before
    clock.sleep(90)
    assert clock.now() - before == timedelta(seconds=90)
    assert clock.monotonic() - elapsed == 90
    with pytest.raises(TypeError):
        clock.env()


def test_sandbox_history_ends_yesterday_unless_pinned():
    yesterday = SYSTEM_CLOCK.today() - timedelta(days=1)
    default = SandboxConfig().pinned()
    assert default.end_date == yesterday or default.end_date == yesterday + timedelta(days=1)
    assert default.start is not None
    assert abs(default.start - SYSTEM_CLOCK.now()) < timedelta(seconds=5)
    pinned = SandboxConfig(end_date=END_DATE).pinned()
    assert pinned.start == datetime(2026, 11, 28, 6, tzinfo=UTC)
    assert make_seller(pinned).config.end_date == END_DATE


def _document_digest(config: SandboxConfig) -> str:
    seller = make_seller(config)
    document = render_report(
        seller,
        "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL",
        ["ATVPDKIKX0DER"],
        datetime.combine(seller.config.start_date, datetime.min.time(), UTC),
        datetime.combine(seller.config.end_date, datetime.max.time(), UTC),
    )
    return hashlib.sha256(document).hexdigest()


def test_same_seed_and_end_date_give_the_same_bytes():
    first = _document_digest(SandboxConfig(seed=4, end_date=END_DATE))
    assert first == _document_digest(SandboxConfig(seed=4, end_date=END_DATE))
    later = _document_digest(SandboxConfig(seed=4, end_date=END_DATE + timedelta(days=400)))
    assert later != first


def test_a_pinned_sandbox_hands_its_clients_its_clock():
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        client = SpApiClient.from_env(env=sandbox.env)
        assert client.clock.today() == END_DATE + timedelta(days=1)
        sandbox_now = sandbox.app.clock.datetime()
        # The client's clock runs at real speed, the sandbox's 3600 times faster: never ahead.
        assert timedelta(0) <= sandbox_now - client.clock.now() < timedelta(hours=6)
        client.close()
