from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from spapi_sandbox.http import LoopbackServer
from spapi_toolkit.api.client import SpApiClient
from spapi_toolkit.api.credentials import Credentials, Secret
from spapi_toolkit.api.ratelimit import RetryPolicy

from .support import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TOKEN_PATH, ScriptedSpApi


@pytest.fixture
def credentials() -> Credentials:
    return Credentials(CLIENT_ID, Secret(CLIENT_SECRET), Secret(REFRESH_TOKEN))


@pytest.fixture
def scripted():
    """A ScriptedSpApi served on loopback: (app, server)."""
    app = ScriptedSpApi()
    with LoopbackServer(app) as server:
        yield app, server


@pytest.fixture
def make_client(credentials):
    """Build a client pointed at a server, with fast retries."""
    clients = []

    def make(server, **kwargs) -> SpApiClient:
        kwargs.setdefault("retry", RetryPolicy(base_seconds=0.01, cap_seconds=0.05))
        client = SpApiClient(
            kwargs.pop("credentials", credentials),
            endpoint=server.url,
            lwa_endpoint=server.url + TOKEN_PATH,
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """A real moto server process on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Point boto3 at the moto server with dummy credentials."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return moto_server


@pytest.fixture(autouse=True)
def _no_ambient_spapi_settings(monkeypatch, tmp_path):
    """Tests never read the developer's own SP-API settings or profile file."""
    for name in list(os.environ):
        if name.startswith("SPAPI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPAPI_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))


TESTS = Path(__file__).resolve().parent


# Modules that share one worker with others beyond their own module (see below).
SHARED_GROUPS = {
    # Both build the project wheel, in setuptools' build/ of the source tree: two builds at
    # once fail ("File exists: build/bdist.linux-x86_64/wheel/...", a clean-clone run).
    "e2e/test_wheel.py": "project-wheel",
    "glue/test_package.py": "project-wheel",
    # Installs the `make package` of glue/conftest.py's session fixture: on the same worker as
    # test_package.py it is built once, not twice at once.
    "glue/test_clean_install.py": "project-wheel",
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """Under xdist (``make test`` runs ``-n 2 --dist loadgroup``) a module's tests run on one
    worker, so its module-scoped fixtures are built once (two `make package` runs at once
    delete each other's files); the curation tests share session fixtures (one Spark session,
    the curated sandbox lakes) and all run on one worker, as do the ``SHARED_GROUPS``.
    tests/unit/test_groups.py checks it."""
    for item in items:
        module = Path(str(item.fspath)).resolve().relative_to(TESTS).as_posix()
        group = "curate" if module.startswith("curate/") else module
        item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(module, group)))
