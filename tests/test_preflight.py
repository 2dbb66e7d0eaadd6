"""Misconfigurations stop a run before it judges anything, with one line that says what to do.

The cases of issue 11: ``--base-url`` without ``/v1`` (the 404s made 9 checks pass
vacuously, exit 1), an unknown ``--model`` (the same, although ``/v1/models`` lists what is
served), and in the pytest plugin a dead server (F3-no-error-as-200 passed), no model (65
errors, 394 lines of chained tracebacks) and ``chatgauge_check.require("Z9")`` (a raw
ValueError). Each is run against the reference endpoint and must give exit code 2 (check)
or one clear line (the plugin).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import chatgauge
from chatgauge.conformance._registry import all_checks
from chatgauge.server import ServerConfig, background_server
from tests.check_support import check
from tests.hostile_server import HostileServer

pytest_plugins = ["pytester"]

SUITE = ("--pyargs", "chatgauge.conformance.suite")


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def test_a_base_url_without_v1_exits_2_and_names_the_right_one(
    tmp_path: Path, faithful_url: str
) -> None:
    root = faithful_url.removesuffix("/v1")

    done = check(tmp_path, "--base-url", root, "--model", "pro")

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"chatgauge: error: POST {root}/chat/completions answered HTTP 404, but "
        f"{root}/v1/models answers: did you mean --base-url {root}/v1 ?"
    ]
    assert "PASSED" not in done.stdout
    assert not (tmp_path / "reports").exists()


def test_an_unknown_model_exits_2_listing_the_served_models(
    tmp_path: Path, faithful_url: str
) -> None:
    done = check(tmp_path, "--base-url", faithful_url, "--model", "gpt-nonexistent")

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"chatgauge: error: unknown model 'gpt-nonexistent': {faithful_url}/models lists "
        "pro, fast, default (pass one with --model)"
    ]
    assert not (tmp_path / "reports").exists()


def test_a_url_that_is_no_api_root_exits_2(tmp_path: Path) -> None:
    # Every path of this server answers 404, /models and /v1/models too.
    with HostileServer() as server:
        url = f"http://127.0.0.1:{server.port}/m/nothing-here/v1"
        done = check(tmp_path, "--base-url", url, "--model", "m")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"chatgauge: error: POST {url}/chat/completions answered HTTP 404")
    assert "does not look like the API root" in line


def test_an_unknown_model_through_the_api_is_a_configuration_error(faithful_url: str) -> None:
    from chatgauge import ConformanceSettings, run_conformance
    from chatgauge.conformance._settings import ConfigurationError

    settings = ConformanceSettings(base_url=faithful_url, model="nope", select=("B2",))
    with pytest.raises(ConfigurationError, match=r"^unknown model 'nope': .* lists pro, fast"):
        run_conformance(settings)


# -- the pytest plugin -------------------------------------------------------------------------


def _plugin_args() -> list[str]:
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "chatgauge.conformance.plugin"]


def _pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", *args)


@pytest.fixture(autouse=True)
def importable_chatgauge(monkeypatch: pytest.MonkeyPatch) -> None:
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_one_line_and_no_traceback(result: pytest.RunResult, message: str) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert "During handling of the above exception" not in text
    assert "conformance/plugin.py" not in text  # no frame of the plugin shown
    assert text.count(message) >= 1, text


def test_the_suite_against_a_dead_server_stops_with_one_line(pytester: pytest.Pytester) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"

    result = _pytest(pytester, *SUITE, f"--chatgauge-base-url={url}", "--chatgauge-model=pro")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0  # F3-no-error-as-200 no longer passes
    assert outcomes["errors"] == 1  # the session stopped at the first misconfigured check
    _assert_one_line_and_no_traceback(result, f"chatgauge: cannot reach {url}/chat/completions")
    result.stdout.fnmatch_lines([f"*Interrupted: chatgauge: cannot reach {url}*"])


def test_the_suite_without_a_model_stops_with_one_line(
    pytester: pytest.Pytester, faithful_url: str
) -> None:
    result = _pytest(pytester, *SUITE, f"--chatgauge-base-url={faithful_url}")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.parseoutcomes().get("errors") == 1
    _assert_one_line_and_no_traceback(result, "chatgauge: no model: pass --chatgauge-model NAME")
    assert len(result.stdout.lines) < 40


def test_the_suite_with_an_unknown_model_names_the_served_ones(
    pytester: pytest.Pytester, faithful_url: str
) -> None:
    result = _pytest(
        pytester, *SUITE, f"--chatgauge-base-url={faithful_url}", "--chatgauge-model=x"
    )

    assert result.ret == pytest.ExitCode.INTERRUPTED
    _assert_one_line_and_no_traceback(
        result,
        f"chatgauge: unknown model 'x': {faithful_url}/models lists pro, fast, default "
        "(pass one with --chatgauge-model)",
    )


def test_own_tests_against_a_dead_server_each_error_with_the_same_line(
    pytester: pytest.Pytester,
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    pytester.makepyfile(
        """
        def test_one(chatgauge_send):
            chatgauge_send({"model": "pro", "messages": []})

        def test_two(chatgauge_check):
            chatgauge_check("B2")

        def test_unrelated():
            pass
        """
    )

    result = _pytest(pytester, f"--chatgauge-base-url={url}", "--chatgauge-model=pro")

    assert result.parseoutcomes() == {"errors": 2, "passed": 1}  # the session goes on
    _assert_one_line_and_no_traceback(result, f"chatgauge: cannot reach {url}/chat/completions")


def test_an_unknown_check_id_fails_the_test_with_one_line(
    pytester: pytest.Pytester, faithful_url: str
) -> None:
    pytester.makepyfile(
        """
        def test_typo(chatgauge_check):
            chatgauge_check.require("Z9")

        def test_any_case(chatgauge_check):
            assert [r.id for r in chatgauge_check("d3")] == ["D3-done-last"]
        """
    )

    result = _pytest(pytester, f"--chatgauge-base-url={faithful_url}", "--chatgauge-model=pro")

    assert result.parseoutcomes() == {"failed": 1, "passed": 1}
    _assert_one_line_and_no_traceback(
        result, "chatgauge_check('Z9'): no check matches 'Z9' (see --list-checks)"
    )
    assert "ValueError" not in result.stdout.str()


def test_the_suite_without_an_endpoint_fails_instead_of_skipping(
    pytester: pytest.Pytester,
) -> None:
    result = _pytest(pytester, *SUITE, "--chatgauge-select=B2")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.parseoutcomes().get("skipped", 0) == 0
    _assert_one_line_and_no_traceback(result, "chatgauge: no endpoint configured")
    assert len([c for c in all_checks() if c.id.startswith("B2-")]) > 1
