"""One local Spark session for every curation test (starting one costs seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from spapi_toolkit.lake.curate.session import spark_session

    session = spark_session("spapi-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/curate/" in str(item.fspath):
            item.add_marker(pytest.mark.spark)
