"""Shared test setup."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _child_pytest_runs_are_not_xdist_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep xdist's worker variables from leaking into pytest runs that tests start.

    A child pytest that inherits ``PYTEST_XDIST_WORKER`` believes it is an xdist worker
    (pytest-benchmark then warns, which ``-W error`` turns into an internal error).
    """
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
