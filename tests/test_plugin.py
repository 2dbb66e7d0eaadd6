"""The pytest plugin: the shipped suite, markers, listing, fixtures, inertness, verdicts.

Whole pytest runs go through ``pytester.runpytest_subprocess`` against a reference endpoint
on a loopback port; the verdict mapping is tested in-process with test-only checks that are
put into the registry for one test only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import chatgauge
from chatgauge._secret import Secret
from chatgauge.conformance import _registry
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._plugin_results import suite_ids_of_nodes
from chatgauge.conformance._registry import Check, all_checks
from chatgauge.conformance._results import (
    CheckFailed,
    CheckUnsupported,
    CheckWarning,
    Evidence,
    Severity,
    Status,
    Tier,
)
from chatgauge.conformance.plugin import (
    RESULT_PROPERTY,
    ChatgaugeConformanceWarning,
    CheckRunner,
)
from chatgauge.server import ServerConfig, background_server

pytest_plugins = ["pytester"]

SUITE = ("--pyargs", "chatgauge.conformance.suite")


def _plugin_args() -> list[str]:
    """Load the plugin explicitly unless the installed distribution registers it already."""
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "chatgauge.conformance.plugin"]


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", *args)


@pytest.fixture(autouse=True)
def importable_chatgauge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocess runs import the chatgauge under test, even when it is not installed."""
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    )


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


@pytest.fixture
def no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _group_ids(group: str) -> set[str]:
    return {c.id for c in all_checks() if c.group == group}


def _ordered_ids(group: str) -> list[str]:
    return [c.id for c in all_checks() if c.group == group]


def test_shipped_suite_passes_against_the_faithful_endpoint(
    pytester: pytest.Pytester, faithful_url: str, no_endpoint_env: None
) -> None:
    result = _run(
        pytester,
        *SUITE,
        f"--chatgauge-base-url={faithful_url}",
        "--chatgauge-model=pro",
        "--junitxml=junit.xml",
        "--chatgauge-report-dir=out",
    )

    assert result.ret == 0, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0
    assert outcomes["passed"] + outcomes.get("skipped", 0) == len(all_checks())

    # Every item carries its CheckResult JSON in the JUnit XML, under its own id.
    root = ET.parse(pytester.path / "junit.xml").getroot()  # noqa: S314 - our own file
    seen = {}
    for case in root.iter("testcase"):
        (value,) = [
            p.get("value") for p in case.iter("property") if p.get("name") == RESULT_PROPERTY
        ]
        result_json = json.loads(value or "")
        assert case.get("name") == f"test_check[{result_json['id']}]"
        seen[result_json["id"]] = result_json["status"]
    assert set(seen) == {c.id for c in all_checks()}

    # The session-end report adds up the same results and the budget printed in the summary.
    document = json.loads((pytester.path / "out" / "conformance.json").read_text())
    assert {c["id"]: c["status"] for c in document["checks"]} == seen
    assert document["requests_sent"] > 0
    result.stdout.fnmatch_lines(
        [f"budget used: {document['requests_sent']} requests, {document['tokens_used']} tokens*"]
    )
    assert (pytester.path / "out" / "conformance.html").is_file()


def test_results_and_budget_cross_xdist_to_the_controller(
    pytester: pytest.Pytester, faithful_url: str, no_endpoint_env: None
) -> None:
    pytest.importorskip("xdist")
    selected = {c.id for c in all_checks() if c.group in "CD"}

    result = _run(
        pytester,
        *SUITE,
        "-n",
        "2",
        f"--chatgauge-base-url={faithful_url}",
        "--chatgauge-model=pro",
        "--chatgauge-select=C,D",
        "--chatgauge-report-dir=out",
    )

    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "out" / "conformance.json").read_text())
    assert {c["id"] for c in document["checks"]} == selected
    # The plan holds exactly the selected checks, each judged: the run is complete.
    assert document["planned"] == [c.id for c in all_checks() if c.id in selected]
    assert document["status"] == "passed"
    assert document["requests_sent"] > 0
    result.stdout.fnmatch_lines([f"budget used: {document['requests_sent']} requests*"])


def test_a_fault_fails_exactly_its_check_with_the_evidence(
    pytester: pytest.Pytester, no_endpoint_env: None
) -> None:
    with background_server(ServerConfig(port=0, faults=frozenset({"wrong-object"}))) as url:
        result = _run(
            pytester,
            *SUITE,
            f"--chatgauge-base-url={url}",
            "--chatgauge-model=pro",
            "--chatgauge-select=B2",
            "-rf",
        )

    assert result.ret == 1
    assert result.parseoutcomes() == {
        "failed": 1,
        "passed": len([c for c in all_checks() if c.id.startswith("B2-")]) - 1,
        "deselected": len(all_checks()) - len([c for c in all_checks() if c.id.startswith("B2-")]),
    }
    result.stdout.fnmatch_lines(
        [
            "B2-object (failed): *chat.completion.chunk*",
            "evidence [plain] HTTP 200",
            "  request: {*",
            "FAILED *test_check[[]B2-object[]]*",
        ]
    )


def _collected(result: pytest.RunResult) -> set[str]:
    """The check ids of the suite items a ``--collect-only -q`` run listed."""
    lines = result.stdout.lines
    return {line.split("[", 1)[1].rstrip("]") for line in lines if "::test_check[" in line}


def test_markers_select_groups_and_tiers(pytester: pytest.Pytester, no_endpoint_env: None) -> None:
    by_group = _run(pytester, *SUITE, "--collect-only", "-q", "-m", "chatgauge_group(group='D')")
    by_tier = _run(pytester, *SUITE, "--collect-only", "-q", "-m", "chatgauge_tier(tier='I')")

    assert _collected(by_group) == _group_ids("D")
    assert _collected(by_tier) == {c.id for c in all_checks() if c.tier is Tier.INTEROP}
    assert by_tier.ret == 0


def test_ignore_and_unknown_patterns(pytester: pytest.Pytester, no_endpoint_env: None) -> None:
    ignored = _run(pytester, *SUITE, "--collect-only", "-q", "--chatgauge-ignore=A,B,C,E,F,G,H")
    unknown = _run(pytester, *SUITE, "--collect-only", "-q", "--chatgauge-select=Z9-nothing")

    assert _collected(ignored) == _group_ids("D")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["*no check matches 'Z9-nothing'*"])


def test_list_checks_prints_the_catalogue_and_exits(
    pytester: pytest.Pytester, no_endpoint_env: None
) -> None:
    result = _run(pytester, "--chatgauge-list-checks")

    assert result.ret == 0
    text = result.stdout.str()
    for check in all_checks():
        assert check.id in text
        assert check.title in text
    assert "collected" not in text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_inert_for_unrelated_tests_even_with_the_env_set(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dead endpoint in the environment: any request would fail loudly.
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unrelated")
    pytester.makepyfile("def test_unrelated():\n    assert 1 + 1 == 2\n")

    result = _run(pytester, "-q", "-W", "error", "--strict-markers")

    assert result.ret == 0
    assert result.parseoutcomes() == {"passed": 1}
    assert "chatgauge" not in result.stdout.str() + result.stderr.str()


def test_plugin_and_catalogue_import_neither_locust_nor_gevent() -> None:
    code = (
        "import sys, chatgauge.conformance.plugin, chatgauge.conformance.suite.test_conformance;"
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.strip() == "[]"


def test_fixtures_serve_a_users_own_contract_test(
    pytester: pytest.Pytester, faithful_url: str, no_endpoint_env: None
) -> None:
    pytester.makepyfile(
        """
        from chatgauge import ChatCase

        def test_own_contract(chatgauge_settings, chatgauge_send, chatgauge_check):
            assert chatgauge_settings.model == "pro"
            exchange = chatgauge_send({"model": "pro", "max_tokens": 4,
                                       "messages": [{"role": "user", "content": "hi"}]})
            assert exchange.status == 200
            streamed = chatgauge_send(ChatCase(body={
                "model": "pro", "stream": True, "max_tokens": 4,
                "messages": [{"role": "user", "content": "hi"}]}))
            assert streamed.events[-1].data == "[DONE]"
            results = chatgauge_check("C1")
            assert [r.status.value for r in results] == ["passed"] * len(results) != []
            chatgauge_check.require("D3", "E2-nonempty-id")

        def test_client_fixture(chatgauge_client):
            assert "pro" in chatgauge_client.list_models()
        """
    )

    result = _run(pytester, f"--chatgauge-base-url={faithful_url}", "--chatgauge-model=pro")

    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes() == {"passed": 2}
    result.stdout.fnmatch_lines(["budget used: * requests, * tokens*"])


def test_an_interrupted_session_writes_an_interrupted_document(
    pytester: pytest.Pytester, faithful_url: str, no_endpoint_env: None
) -> None:
    pytester.makepyfile(
        """
        def test_a_judges(chatgauge_check):
            chatgauge_check.require("C1")

        def test_b_is_interrupted():
            raise KeyboardInterrupt

        def test_c_never_runs(chatgauge_check):
            chatgauge_check.require("C2")
        """
    )

    result = _run(
        pytester,
        f"--chatgauge-base-url={faithful_url}",
        "--chatgauge-model=pro",
        "--chatgauge-report-dir=out",
    )

    assert result.ret == pytest.ExitCode.INTERRUPTED
    document = json.loads((pytester.path / "out" / "conformance.json").read_text())
    assert document["status"] == "interrupted"
    assert {c["id"][:2] for c in document["checks"]} == {"C1"}
    page = (pytester.path / "out" / "conformance.html").read_text()
    assert 'class="verdict interrupted"' in page
    assert 'class="verdict passed"' not in page


def test_a_session_stopped_early_is_not_reported_as_passed(
    pytester: pytest.Pytester, no_endpoint_env: None
) -> None:
    with background_server(ServerConfig(port=0, faults=frozenset({"wrong-object"}))) as url:
        result = _run(
            pytester,
            *SUITE,
            f"--chatgauge-base-url={url}",
            "--chatgauge-model=pro",
            "--chatgauge-select=B2,C",
            "--chatgauge-report-dir=out",
            "-x",
        )

    assert result.ret == 1
    document = json.loads((pytester.path / "out" / "conformance.json").read_text())
    planned = [c.id for c in all_checks() if c.id.startswith("B2-") or c.group == "C"]
    assert document["planned"] == planned
    assert len(document["checks"]) < len(planned)
    assert document["status"] == "interrupted"


def test_the_controller_learns_the_plan_from_the_workers_node_ids(
    pytester: pytest.Pytester, no_endpoint_env: None
) -> None:
    xdist_hooks = pytest.importorskip("xdist.newhooks")
    assert hasattr(xdist_hooks, "pytest_xdist_node_collection_finished")
    collected = _run(pytester, *SUITE, "--collect-only", "-q", "--chatgauge-select=D")
    node_ids = [line for line in collected.stdout.lines if "::test_check[" in line]
    assert len(node_ids) == len(_group_ids("D"))

    others = ["tests/test_x.py::test_check[A1-x]", "test_conformance.py::test_check[Z9-no]"]
    assert suite_ids_of_nodes([*node_ids, *others]) == _ordered_ids("D")


def test_fixtures_skip_with_a_reason_without_an_endpoint(
    pytester: pytest.Pytester, no_endpoint_env: None
) -> None:
    pytester.makepyfile("def test_needs_endpoint(chatgauge_check):\n    pass\n")

    result = _run(pytester, "-rs")

    assert result.ret == 0
    assert result.parseoutcomes() == {"skipped": 1}
    result.stdout.fnmatch_lines(["*no endpoint configured: pass --chatgauge-base-url*"])


# --- verdict mapping, in-process with test-only checks --------------------------------------

KEY = Secret("sk-plugin-test-secret")


def _always_fails(ctx: CheckContext) -> str | None:
    """Test-only rule."""
    raise CheckFailed(
        "value was 'sk-plugin-test-secret'",
        Evidence(label="probe", request={"model": "m"}, status=200, response_excerpt="{}"),
    )


def _always_warns(ctx: CheckContext) -> str | None:
    """Test-only rule."""
    raise CheckWarning("hazardous but legal")


def _always_unsupported(ctx: CheckContext) -> str | None:
    """Test-only rule."""
    raise CheckUnsupported("refused cleanly")


def _always_passes(ctx: CheckContext) -> str | None:
    """Test-only rule."""
    return None


@pytest.fixture
def properties() -> list[tuple[str, object]]:
    """Stands in for an item's user_properties (this test run's own items stay clean)."""
    return []


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, properties: list[tuple[str, object]]) -> CheckRunner:
    """A runner on a context that never sends, with four test-only checks registered."""
    for check_id, func in (
        ("G90-test-fails", _always_fails),
        ("G91-test-warns", _always_warns),
        ("G92-test-unsupported", _always_unsupported),
        ("G93-test-passes", _always_passes),
    ):
        check = Check(check_id, check_id, "G", Tier.SPEC, Severity.MAJOR, "", func)
        monkeypatch.setitem(_registry._REGISTRY, check_id, check)

    def no_sending(case: object) -> object:
        raise AssertionError("the test-only checks send nothing")

    context = CheckContext(send_case=no_sending, settings=Settings(model="m"))  # type: ignore[arg-type]
    return CheckRunner(context, properties, KEY)


def test_failed_check_fails_the_test_with_message_and_evidence(
    runner: CheckRunner, properties: list[tuple[str, object]]
) -> None:
    with pytest.raises(pytest.fail.Exception) as failure:
        runner.require("G90-test-fails")

    text = str(failure.value)
    assert "G90-test-fails (failed): value was '***'" in text
    assert "evidence [probe] HTTP 200" in text
    assert "sk-plugin-test-secret" not in text
    (attached,) = [json.loads(str(v)) for n, v in properties if n == RESULT_PROPERTY]
    assert attached["status"] == "failed"
    assert "sk-plugin-test-secret" not in json.dumps(attached)


def test_warning_passes_with_a_chatgauge_warning(runner: CheckRunner) -> None:
    with pytest.warns(ChatgaugeConformanceWarning, match="G91-test-warns: hazardous but legal"):
        results = runner.require("G91-test-warns", "G93-test-passes")

    assert [r.status for r in results] == [Status.WARNING, Status.PASSED]


def test_unsupported_alone_skips_with_the_status(runner: CheckRunner) -> None:
    with pytest.raises(pytest.skip.Exception, match=r"^unsupported: refused cleanly$"):
        runner.require("G92-test-unsupported")


def test_unsupported_among_judged_checks_does_not_skip(runner: CheckRunner) -> None:
    results = runner.require("G92-test-unsupported", "G93-test-passes")

    assert [r.status for r in results] == [Status.UNSUPPORTED, Status.PASSED]


def test_runner_returns_results_without_judging(runner: CheckRunner) -> None:
    results = runner("G90-test-fails", "G91-test-warns")

    assert [r.status for r in results] == [Status.FAILED, Status.WARNING]


def test_an_exact_id_is_not_treated_as_a_prefix(
    runner: CheckRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    longer = Check("G93-test-passes-too", "x", "G", Tier.SPEC, Severity.MAJOR, "", _always_fails)
    monkeypatch.setitem(_registry._REGISTRY, longer.id, longer)

    assert [r.id for r in runner("G93-test-passes")] == ["G93-test-passes"]
    assert [r.id for r in runner("G93")] == ["G93-test-passes", "G93-test-passes-too"]


def test_each_result_is_attached_once(
    runner: CheckRunner, properties: list[tuple[str, object]]
) -> None:
    runner("G93-test-passes", "G91-test-warns")

    attached = [json.loads(str(v))["id"] for n, v in properties if n == RESULT_PROPERTY]
    assert attached == ["G91-test-warns", "G93-test-passes"]
