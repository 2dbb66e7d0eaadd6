"""Fixtures of the real-server tests, run by ``nox -s matrix`` once per server.

The session starts one server, runs ``chatgauge check`` and ``chatgauge load`` into
``$CHATGAUGE_REALSERVER_REPORTS``, and passes the server's name in
``$CHATGAUGE_REALSERVER``, its base URL in ``$CHATGAUGE_REALSERVER_URL`` and its key (the
LiteLLM proxy's master key) in ``$OPENAI_API_KEY``. Without a URL every test here is
skipped, so the default test run never needs a server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVER = os.environ.get("CHATGAUGE_REALSERVER", "")
URL = os.environ.get("CHATGAUGE_REALSERVER_URL", "")
REPORTS = Path(os.environ.get("CHATGAUGE_REALSERVER_REPORTS", "reports"))
API_KEY = os.environ.get("OPENAI_API_KEY", "") if URL else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without a running server (``$CHATGAUGE_REALSERVER_URL``) every test here skips;
    a test marked ``only("name")`` runs against that server alone."""
    no_server = pytest.mark.skip(reason="no real server: nox -s matrix starts one")
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:
            continue  # the hook sees the whole session's items: only ours are judged here
        if not URL or not SERVER:
            item.add_marker(no_server)
            continue
        only = item.get_closest_marker("only")
        if only is not None and SERVER not in only.args:
            item.add_marker(pytest.mark.skip(reason=f"about {', '.join(only.args)}, not {SERVER}"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "only(*servers): runs only against these servers")


def _report(name: str) -> dict[str, Any]:
    path = REPORTS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the session's chatgauge run did not write it")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture(scope="module")
def conformance() -> dict[str, Any]:
    return _report("conformance.json")


@pytest.fixture(scope="module")
def load_run() -> dict[str, Any]:
    return _report("load.json")


@pytest.fixture(scope="module")
def server_record() -> dict[str, Any]:
    """``server.json``: the versions and flags the session started the server with."""
    return _report("server.json")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain client for raw answers: the server's key when it has one, no retries."""
    headers = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}
    with httpx.Client(base_url=URL, headers=headers, timeout=60.0) as client:
        yield client
