"""One local Spark session for every curation test (starting one costs seconds)."""

from __future__ import annotations

import pytest

from spapi_sandbox.server import run_sandbox
from spapi_toolkit.lake.storage import Lake

from ..reconcile import JP
from ..support import END_DATE
from . import competitors as competitor_lake
from . import snapshots as snapshot_lake
from .week import FIRST, LAST, curate, ingest


@pytest.fixture(scope="session")
def spark():
    from spapi_toolkit.lake.curate.session import spark_session

    # One session curates for the whole run: C2 pays for itself there (session.JVM_OPTIONS).
    session = spark_session("spapi-tests", jvm_options=())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def curated(spark, tmp_path_factory):
    """A week of reports in three marketplaces, landed and curated once."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake.from_uri(str(root))
    with run_sandbox(end_date=END_DATE, scale=3600) as sandbox:
        ingest(sandbox, lake, FIRST, LAST)
        seller = sandbox.app.seller
        truth = seller.truth(FIRST, LAST)
        titles = {p.asin: p.title(JP) for p in seller.products()}
    results = curate(spark, lake)
    return root, lake, results, truth, titles


@pytest.fixture(scope="session")
def snapshots(spark, tmp_path_factory):
    """Two weeks of snapshots, Data Kiosk and Brand Analytics in three marketplaces, landed and
    curated once (``snapshots.py``): the lake's root, the curation results, every curated
    table's rows and the seller's own numbers."""
    root = tmp_path_factory.mktemp("snapshots")
    return (root, *snapshot_lake.build(spark, root))


@pytest.fixture(scope="session")
def competitors(spark, tmp_path_factory):
    """Three days of competitor snapshots in two marketplaces, landed and curated once
    (``competitors.py``)."""
    return competitor_lake.build(spark, tmp_path_factory.mktemp("competitors"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/curate/" in str(item.fspath):
            item.add_marker(pytest.mark.spark)
