"""Data Docs that open with no network: GX's pages with the assets they load beside them.

GX's Data Docs pages load Bootstrap, jQuery, bootstrap-table, Vega and Font Awesome from public
CDNs, and GX's logo from GX's S3 bucket with the data context's id in the URL. With no internet
(a SageMaker notebook in a private VPC) they render unstyled with empty tables, as
bootstrap-table's script fills the tables. GX has no setting for where the assets come from,
and its custom views cannot replace a template (GX's loader tries its own templates first),
so ``offline`` rewrites the built pages. The assets are copies of the files those URLs serve,
at the same versions, shipped in ``spapi_toolkit/data/datadocs_assets/`` (its ``NOTICE.md``
lists packages, versions and licences); ``offline_site`` gives a built site's files with its
pages rewritten and the assets under ``static/vendor/``, which ``gate`` copies to
``_quality/docs/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ASSETS = "data/datadocs_assets"  # in the spapi_toolkit package
VENDOR = "static/vendor"  # in the site, beside GX's own static/

# Every CDN address of GX's templates (great_expectations 1.x: page.j2, index_page.j2,
# js_script_imports.j2) -> its copy under ASSETS (and VENDOR).
CDN = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "bootstrap-4.3.1/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "bootstrap-4.3.1/dist/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker-1.9.0/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark-1.1.0/dist/css/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "fontawesome-free-6.6.0/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        "popper.js-1.12.9/dist/umd/popper.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/build/vega-embed.min.js",
}  # fmt: skip

_ASSET_TAG = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="(https?://[^"]+)"[^>]*>')
_CORS = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
# The navbar's logo (its URL carries the time and the data context's id) and the dark theme's.
_LOGO = re.compile(r"https?://great-expectations-web-assets\.s3[\w.-]*\.amazonaws\.com/[^\"')\s]*")
_FAVICON = re.compile(r"(?:\.\./)*static/images/favicon\.ico")
_NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current on everything GX.*?</footer>", re.DOTALL)


def offline(text: str, path: str) -> str:
    """``text``, a page (or stylesheet) at ``path`` in a Data Docs site, with nothing to fetch
    from outside the site. Each CDN asset of ``CDN`` points at its copy under ``static/vendor/``,
    relative to the page (index.html and the validation pages lie at different depths), without
    the scripts' ``integrity`` and ``crossorigin``: a page opened from a file may not load a
    script in CORS mode (the copies are the bytes those hashes were taken of). GX's logo
    points at the copy GX puts in the site's ``static/images/``, the favicon at the right depth
    (GX's validation pages miss it by one folder), and GX's newsletter footer (a tracking link)
    is gone. An address missing from ``CDN`` (a GX release that links other versions) is left
    as it is, so the page still works online; tests/curate/test_datadocs_offline.py fails on it.
    """
    up = "../" * path.count("/")

    def local(match: re.Match[str]) -> str:
        tag, url = match.group(0), match.group(1)
        if url not in CDN:
            return tag
        return _CORS.sub("", tag.replace(f'"{url}"', f'"{up}{VENDOR}/{CDN[url]}"'))

    text = _ASSET_TAG.sub(local, text)
    text = _LOGO.sub(f"{up}static/images/logo-long.png", text)
    text = _FAVICON.sub(f"{up}static/images/favicon.ico", text)
    return _NEWSLETTER.sub("", text)


def offline_site(site: Path) -> Iterator[tuple[str, bytes]]:
    """The files of the Data Docs site built in ``site`` (path in the site, content), its pages
    and stylesheets ``offline``, then the assets they load under ``static/vendor/``, with
    their licences."""
    for path in sorted(site.rglob("*")):
        if path.is_file():
            key = path.relative_to(site).as_posix()
            data = path.read_bytes()
            if path.suffix in (".html", ".css"):
                data = offline(data.decode("utf-8"), key).encode("utf-8")
            yield key, data
    yield from _files(resources.files("spapi_toolkit").joinpath(ASSETS), VENDOR)


def _files(folder: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.is_dir():
            yield from _files(item, f"{prefix}/{item.name}")
        elif item.is_file():
            yield f"{prefix}/{item.name}", item.read_bytes()
