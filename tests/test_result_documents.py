"""Every conformance document chatgauge writes follows the schema it ships, and the Python API.

The writers under test are the real ones: ``chatgauge check`` in a child process (against
a faithful endpoint and a faulty one), the demo's conformance step, the pytest plugin, and
:func:`chatgauge.run_conformance`. ``chatgauge report schema`` prints the shipped schema.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import chatgauge
from chatgauge import (
    CheckResult,
    ConfigurationError,
    ConformanceRun,
    ConformanceSettings,
    EndpointUnreachable,
    RunStatus,
    Status,
    run_conformance,
)
from chatgauge.cli import _demo, main
from chatgauge.conformance._registry import all_checks
from chatgauge.results import read_document
from chatgauge.results._files import known_kinds
from chatgauge.results._schemas import shipped_schema_text
from chatgauge.server import ServerConfig, background_server

pytest_plugins = ["pytester"]

SCHEMA = json.loads(shipped_schema_text("conformance"))


def _assert_valid(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(document), key=str)
    assert not errors, f"{path}: {errors[0].message} at {list(errors[0].absolute_path)}"
    assert isinstance(read_document(path), ConformanceRun)
    return document


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


@pytest.mark.parametrize("faults", [(), ("wrong-object", "no-done", "usage-total-wrong")])
def test_check_writes_documents_that_follow_the_schema(
    tmp_path: Path, faults: tuple[str, ...]
) -> None:
    with background_server(ServerConfig(port=0, faults=frozenset(faults))) as url:
        done = subprocess.run(
            [sys.executable, "-m", "chatgauge", "check", "--base-url", url, "--model", "pro"],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == (1 if faults else 0), done.stdout + done.stderr
    document = _assert_valid(tmp_path / "reports" / "conformance.json")
    assert document["status"] == ("failed" if faults else "passed")
    assert document["settings"]["runner"] == "cli"
    assert document["schema_version"] == 1
    assert document["tool"]["version"] == chatgauge.__version__


def test_the_demo_conformance_step_writes_a_valid_document(
    tmp_path: Path, faithful_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _demo.conformance_step(faithful_url, tmp_path)

    assert code == 0
    document = _assert_valid(tmp_path / "conformance.json")
    assert document["model"] == _demo.DEMO_MODEL
    assert f"PASSED: {document['summary']['passed']} passed" in capsys.readouterr().out


def _plugin_args() -> list[str]:
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "chatgauge.conformance.plugin"]


def test_the_plugin_writes_a_valid_document(
    pytester: pytest.Pytester, faithful_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _env().items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess(
        *_plugin_args(),
        "-p",
        "no:cacheprovider",
        "--pyargs",
        "chatgauge.conformance.suite",
        f"--chatgauge-base-url={faithful_url}",
        "--chatgauge-model=pro",
        "--chatgauge-select=B,C",
        "--chatgauge-report-dir=out",
    )
    assert result.ret == 0, result.stdout.str()
    document = _assert_valid(pytester.path / "out" / "conformance.json")
    assert document["settings"]["runner"] == "pytest"
    assert document["settings"]["select"] == ["B", "C"]
    assert document["planned"] == [c.id for c in all_checks() if c.group in "BC"]
    assert document["status"] == "passed"


def test_run_conformance_returns_the_run_it_writes(tmp_path: Path, faithful_url: str) -> None:
    seen: list[CheckResult] = []
    settings = ConformanceSettings(
        base_url=faithful_url, model="pro", select=("C", "D3"), report_dir=tmp_path / "out"
    )

    run = run_conformance(settings, on_result=seen.append)

    assert isinstance(run, ConformanceRun)
    assert run.status is RunStatus.PASSED
    assert [r.id for r in run.checks] == [r.id for r in seen] == list(run.planned)
    assert {r.id[:2] for r in run.checks} == {"C1", "C2", "C3", "C4", "D3"}
    assert all(r.status is not Status.FAILED for r in run.checks)
    assert run.settings.runner == "api"
    assert run.requests_sent > 0
    assert read_document(tmp_path / "out" / "conformance.json") == run
    _assert_valid(tmp_path / "out" / "conformance.json")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "conformance.json",
        "conformance.html",
        "conformance.junit.xml",
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_conformance_refuses_unusable_settings_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(ConfigurationError, match=r"^no endpoint"):
        run_conformance(ConformanceSettings(model="pro"))
    with pytest.raises(ConfigurationError, match=r"^no model"):
        run_conformance(ConformanceSettings(base_url=url))
    with pytest.raises(ConfigurationError, match=r"no check matches 'Z9'"):
        run_conformance(ConformanceSettings(url, "pro", select=("Z9",)))
    with pytest.raises(EndpointUnreachable, match=rf"^cannot reach {url}/chat/completions"):
        run_conformance(ConformanceSettings(url, "pro", report_dir=tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []


def test_settings_never_show_the_key() -> None:
    settings = ConformanceSettings("http://127.0.0.1:9/v1", "pro", api_key="sk-never-shown-1")
    assert "sk-never-shown-1" not in repr(settings)
    assert settings.secret is not None
    assert settings.secret.reveal() == "sk-never-shown-1"
    assert settings.run_settings("api").auth_required is True


def test_report_schema_prints_the_shipped_schema_of_each_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for kind in known_kinds():
        assert main(["report", "schema", kind]) == 0
        printed = capsys.readouterr().out
        assert printed == shipped_schema_text(kind)
        Draft202012Validator.check_schema(json.loads(printed))

    assert main(["report", "schema"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == [f"{k}  (schema_version {v})" for k, (v, _) in sorted(known_kinds().items())]

    with pytest.raises(SystemExit) as refused:
        main(["report", "schema", "weather"])
    assert refused.value.code == 2
    assert "invalid choice: 'weather'" in capsys.readouterr().err
