"""The matrix run's short load test measured the server under test.

The session chooses the concurrency per server (``LOAD_USERS`` in noxfile.py): one user
for llama-cpp-python, which serves one request at a time, and several for llama-server
and the LiteLLM proxy in front of it, which have parallel slots. At that concurrency every
request must complete: a failure would be a finding about the server, to inspect by hand
(as llama-cpp-python's aborted streams were, see test_raw_answers.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import URL

pytestmark = pytest.mark.realserver


def test_load_run_completed_every_request(load_run: dict[str, Any]) -> None:
    assert load_run["status"] == "completed"
    assert load_run["endpoint"] == URL
    requests = load_run["requests"]
    assert requests["completed"] > 0
    assert requests["failed"] == 0, load_run["errors"]


def test_load_run_measured_positive_ttft_and_throughput(load_run: dict[str, Any]) -> None:
    requests = load_run["requests"]
    assert load_run["metrics"]["ttft_ms"]["p50"] > 0
    # Every completed request has its own time to first token: none was estimated.
    assert load_run["metrics"]["ttft_ms"]["count"] == requests["completed"]
    assert load_run["throughput"]["output_tokens_per_s"] > 0
