"""A check's verdict depends only on its own probes.

The same check must say the same thing alone (a fresh run that judges only it), in the
full catalogue, in the catalogue run backwards, and in the pytest plugin's suite split
over two xdist workers. The endpoint has several faults at once, so that a check reading
exchanges other checks sent would count different errors in each of these runs (F1 once
counted every error the run had seen, including A1's refused content parts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import chatgauge
from chatgauge._client import ChatClient, ClientConfig
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import Check, all_checks
from chatgauge.conformance._runner import run_check
from chatgauge.server import ServerConfig, background_server

pytest_plugins = ["pytester"]

FAULTS = frozenset(
    {"reject-content-parts", "error-missing-param-key", "no-role-first-delta", "stop-leak"}
)
EXAMPLES = 4
Verdicts = dict[str, tuple[str, str]]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0, faults=FAULTS)) as url:
        yield url


def _settings() -> Settings:
    return Settings(model="pro", examples=EXAMPLES, derandomize=True)


def _in_one_run(base_url: str, checks: list[Check]) -> Verdicts:
    with ChatClient(ClientConfig(base_url=base_url)) as client:
        ctx = CheckContext(send_case=client.send, settings=_settings(), get=client.get)
        results = [run_check(ctx, check) for check in checks]
    return {r.id: (r.status.value, r.message) for r in results}


def _each_alone(base_url: str) -> Verdicts:
    verdicts: Verdicts = {}
    for check in all_checks():
        verdicts.update(_in_one_run(base_url, [check]))
    return verdicts


def _under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> Verdicts:
    # The subprocess imports the chatgauge under test, installed or not.
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    result = pytester.runpytest_subprocess(
        *([] if installed else ["-p", "chatgauge.conformance.plugin"]),
        "-p",
        "no:cacheprovider",
        "--pyargs",
        "chatgauge.conformance.suite",
        "-n",
        "2",
        f"--chatgauge-base-url={base_url}",
        "--chatgauge-model=pro",
        f"--chatgauge-examples={EXAMPLES}",
        "--chatgauge-derandomize",
        "--chatgauge-report-dir=out",
    )
    document = json.loads((pytester.path / "out" / "conformance.json").read_text())
    assert len(document["checks"]) == len(all_checks()), result.stdout.str()
    return {c["id"]: (c["status"], c["message"]) for c in document["checks"]}


def _differences(expected: Verdicts, got: Verdicts) -> dict[str, tuple[object, object]]:
    return {cid: (expected[cid], got.get(cid)) for cid in expected if got.get(cid) != expected[cid]}


def test_a_verdict_is_the_same_alone_in_any_order_and_under_xdist(
    base_url: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    alone = _each_alone(base_url)
    # The faults show: the comparison is between verdicts that say something.
    assert {"failed", "passed"} <= {status for status, _ in alone.values()}

    forward = _in_one_run(base_url, all_checks())
    backward = _in_one_run(base_url, list(reversed(all_checks())))
    xdist = _under_xdist(pytester, monkeypatch, base_url)

    assert not _differences(alone, forward)
    assert not _differences(alone, backward)
    assert not _differences(alone, xdist)
