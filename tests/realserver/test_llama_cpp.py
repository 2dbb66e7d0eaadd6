"""chatgauge against a real llama.cpp server (llama-cpp-python serving Gemma 3 270M).

Run by ``nox -s realserver``: the session starts the server, runs ``chatgauge check`` and a
short ``chatgauge load`` into ``$CHATGAUGE_REALSERVER_REPORTS`` and passes the server's base
URL in ``$CHATGAUGE_REALSERVER_URL``. Without that variable every test here is skipped, so
the default test run never needs the server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from chatgauge._client import ChatClient, ClientConfig
from chatgauge.conformance._registry import all_checks

URL = os.environ.get("CHATGAUGE_REALSERVER_URL", "")
REPORTS = Path(os.environ.get("CHATGAUGE_REALSERVER_REPORTS", "reports/llama-cpp"))

pytestmark = [
    pytest.mark.realserver,
    pytest.mark.skipif(
        not URL, reason="no real server (CHATGAUGE_REALSERVER_URL): nox -s realserver"
    ),
]

# Every check that fails against llama-cpp-python 0.3.36 (the version the session pins),
# each inspected by hand against the server's raw answers: see docs/tested-against.md.
# A check that starts failing, or stops failing, needs the same inspection again.
INSPECTED_FAILURES = frozenset(
    {
        "A1-random-valid-requests-accepted",
        "A1-request-shapes-accepted",
        "A2-malformed-body-rejected",
        "A2-malformed-request-rejected",
        "A2-out-of-range-rejected",
        "A2-random-invalid-requests-rejected",
        "A3-unknown-model-rejected",
        "B2-choice-count",
        "B4-tool-calls",
        "E5-tool-call-deltas",
        "E6-usage-chunk",
        "F1-error-envelope",
        "F2-validation-status",
        "G3-logprob-tokens",
        "G3-top-logprobs-count",
        "G4-n-stream",
        "G6-max-completion-tokens",
    }
)
# Verdicts that rest on the endpoint's answers: they must show what was sent and received.
JUDGED_ON_ANSWERS = ("failed", "warning", "unsupported")


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


def test_server_still_answers_with_the_checked_model(conformance: dict[str, Any]) -> None:
    with ChatClient(ClientConfig(base_url=URL)) as client:
        assert conformance["model"] in client.list_models()
    assert conformance["endpoint"] == URL


def test_check_suite_completed_without_internal_error(conformance: dict[str, Any]) -> None:
    assert conformance["internal_errors"] == []
    ids = [check["id"] for check in conformance["checks"]]
    assert sorted(ids) == sorted(check.id for check in all_checks())
    statuses = [check["status"] for check in conformance["checks"]]
    assert conformance["summary"] == {s: statuses.count(s) for s in conformance["summary"]}
    assert sum(conformance["summary"].values()) == len(ids)
    assert conformance["requests_sent"] > 0


def test_every_verdict_not_passed_carries_evidence(conformance: dict[str, Any]) -> None:
    missing = []
    for check in conformance["checks"]:
        if not check["message"].strip() and check["status"] != "passed":
            missing.append(f"{check['id']}: {check['status']} without a message")
        if check["status"] not in JUDGED_ON_ANSWERS:
            continue
        if not check["evidence"]:
            missing.append(f"{check['id']}: {check['status']} without evidence")
        for item in check["evidence"]:
            answered = item["status"] is not None or "transport_error" in item["detail"]
            if item["request"] is None or not answered:
                missing.append(f"{check['id']}: evidence {item['label']!r} lacks request or answer")
    assert not missing, missing


def test_failures_are_the_inspected_deviations(conformance: dict[str, Any]) -> None:
    failed = {check["id"] for check in conformance["checks"] if check["status"] == "failed"}
    assert failed - INSPECTED_FAILURES == set(), "new failures: inspect them by hand"
    assert INSPECTED_FAILURES - failed == set(), "no longer failing: inspect why"


def test_load_run_measured_positive_ttft_and_throughput(load_run: dict[str, Any]) -> None:
    assert load_run["status"] == "completed"
    assert load_run["endpoint"] == URL
    requests = load_run["requests"]
    assert requests["completed"] > 0
    assert requests["failed"] == 0, load_run["errors"]
    assert load_run["metrics"]["ttft_ms"]["p50"] > 0
    assert load_run["metrics"]["ttft_ms"]["count"] == requests["completed"]
    assert load_run["throughput"]["output_tokens_per_s"] > 0
