"""The Data Docs a run writes into the lake open with no network (``lake/quality/docs.py``):
no page names anything to fetch outside the docs, everything a page loads is there beside it,
and in a browser cut off from the network the pages ask for nothing outside and their tables,
which bootstrap-table's script draws from data in the page, show the run's validation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from spapi_toolkit.clock import ManualClock
from spapi_toolkit.lake.quality import gate
from spapi_toolkit.lake.quality.suites import Check, Spec
from spapi_toolkit.lake.storage import Lake

CLOCK = ManualClock(datetime(2026, 11, 28, 8, tzinfo=UTC))
RUN = "run-1"
REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)|@import\s+["']([^"']+)""", re.IGNORECASE)
# Chromium's own background requests (updates, time) have no origin; a page's have one ("null"
# for a page opened from a file).
BROWSER = "not an origin"


class Loads(HTMLParser):
    """What a page makes the browser fetch: every ``src``, stylesheet and icon links, ``url()``
    and ``@import`` in style elements and attributes (a link a person may follow is not)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.urls += [values[n] for n in ("src", "poster", "data") if n in values]
        self.urls += [u.split()[0] for u in values.get("srcset", "").split(",") if u.strip()]
        if tag == "link" and "href" in values:
            self.urls.append(values["href"])
        self._css(values.get("style", ""))
        self._style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self._css(data)

    def _css(self, text: str) -> None:
        self.urls += [a or b for a, b in CSS_URL.findall(text)]


def loads(page: Path) -> list[str]:
    parser = Loads()
    parser.feed(page.read_text("utf-8"))
    return [u.strip() for u in parser.urls if not u.strip().startswith(("data:", "#"))]


@pytest.fixture(scope="module")
def docs(spark, tmp_path_factory) -> Path:
    """The Data Docs of one run that validated a small batch, one expectation failing, as the
    curation writes them into a local lake."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake.from_uri(str(root))
    spec = Spec("cleaned", "t", ("mp",), (
        Check("expect_column_values_to_not_be_null", {"column": "status"}, "not_null",
              "not_null status"),
        Check("expect_column_values_to_be_in_set", {"column": "status",
              "value_set": ["Shipped", "Pending"]}, "allowed", "allowed status"),
    ))  # fmt: skip
    frame = spark.createDataFrame(
        [("US", "Shipped"), ("US", "Pending"), ("DE", None)], "mp string, status string"
    )
    validator = gate.Validator(lake, RUN, CLOCK)
    try:
        validator.validate(frame, spec)
        assert validator.publish_docs() == "_quality/docs/index.html"
    finally:
        validator.close()
    return root / "_quality" / "docs"


def test_no_page_loads_anything_from_outside_the_docs_and_everything_it_loads_is_there(docs):
    pages = sorted(docs.rglob("*.html"))
    depths = {p.relative_to(docs).as_posix().count("/") for p in pages}
    assert {0, 5} <= depths  # index.html, and validations/<zone>/<table>/<run>/<time>/*.html
    for page in pages:
        urls = loads(page)
        assert [u for u in urls if REMOTE.match(u)] == [], page
        assert len(urls) > 10, page  # the vendored stylesheets and scripts
        for url in urls:
            target = (page.parent / url.split("?")[0].split("#")[0]).resolve()
            assert target.is_file() and target.is_relative_to(docs.resolve()), (page, url)
        text = page.read_text("utf-8")
        assert "great-expectations-web-assets" not in text and "dataContextId" not in text
    # The stylesheets the pages load load fonts and images from beside them too.
    for sheet in sorted(docs.rglob("*.css")):
        for a, b in CSS_URL.findall(sheet.read_text("utf-8")):
            url = a or b
            if url.startswith("data:"):
                continue
            assert not REMOTE.match(url), (sheet, url)
            if url.endswith(".ttf"):  # Font Awesome's fallbacks after each WOFF2: not shipped
                continue
            assert (sheet.parent / url.split("?")[0].split("#")[0]).is_file(), (sheet, url)
    assert (docs / "static/vendor/NOTICE.md").is_file()


def render(chromium: str, page: Path, work: Path) -> tuple[str, set[str]]:
    """``page``'s DOM once its scripts ran, in Chromium with no network, and the URLs outside
    files that the page asked for (from Chromium's net log)."""
    net_log = work / f"{page.stem}.netlog.json"
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={work / 'profile'}", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps",
         # No network: every request goes to a closed port and no name resolves.
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--log-net-log={net_log}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    log = json.loads(net_log.read_text())
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    asked = {
        event["params"]["url"]
        for event in log["events"]
        if kinds[event["type"]] == "URL_REQUEST_START_JOB"
        and "url" in event.get("params", {})
        and event["params"].get("initiator") != BROWSER
    }
    return dom, {u for u in asked if not u.startswith("file:")}


def test_the_pages_render_their_tables_in_a_browser_with_no_network(docs, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium): not rendered")
    # What a page asks the network for shows in the net log (it would with GX's CDN links).
    control = tmp_path / "control.html"
    control.write_text('<script src="https://cdn.example.invalid/x.js"></script>')
    assert render(chromium, control, tmp_path)[1] == {"https://cdn.example.invalid/x.js"}

    [validation] = (docs / "validations").rglob("*.html")
    expected = {
        # bootstrap-table draws the index's rows, one per validation, linking to its page.
        docs / "index.html": [validation.relative_to(docs).as_posix(), RUN],
        # and the validation page's tables: the statistics and the expectations' results.
        validation: ["Unsuccessful Expectations", "not_null status", "allowed status"],
    }
    for page, wanted in expected.items():
        dom, asked = render(chromium, page, tmp_path)
        assert asked == set(), page.name
        rows = re.findall(r"<tr\b[^>]*\bdata-index=.*?</tr>", dom, re.DOTALL)
        assert rows, f"{page.name}: no table row drawn (the scripts did not run)"
        for text in wanted:
            assert any(text in row for row in rows), (page.name, text)
