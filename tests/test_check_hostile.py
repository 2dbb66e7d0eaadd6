"""``chatgauge check`` (and the pytest plugin) against every mode of the hostile server.

Issue 13's promise for the conformance half, per mode, with deadlines and limits shrunk by
flags so the whole module stays fast: the command ends by itself (well within its run
deadline), without a traceback; no 8 consecutive characters of the API key reach stdout,
stderr or any file written; no raw control character reaches the terminal; the run is never
reported as passed; when reports are written, ``conformance.json`` is valid against the
shipped schema, reads back as a typed run, and counts every request the server read.
A mode whose very first answer is unusable (no HTTP answer, a limit crossed before any
status) ends at the preflight with exit 2 and one line instead.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from jsonschema import Draft202012Validator

from chatgauge.results._schemas import shipped_schema_text
from chatgauge.results.conformance import ConformanceRun
from tests.check_support import check, check_env
from tests.hostile_server import MODES, HostileServer, Timings

pytest_plugins = ["pytester"]

KEY: Final = "sk-hostile-Zq7Xw2Lp9Vb4Nm8Kc3Hd6Tf1Ry5"
FRAGMENT: Final = 8
RUN_TIMEOUT_S: Final = 40.0
SMALL: Final = (
    "--timeout",
    "0.5",
    "--total-timeout",
    "1.5",
    "--run-timeout",
    str(RUN_TIMEOUT_S),
    "--max-body-bytes",
    "1MiB",
    "--max-events",
    "2000",
    "--max-line-bytes",
    "256KiB",
    "--max-interim-responses",
    "5",
    "--max-header-bytes",
    "8KiB",
    "--max-retries",
    "1",
    "--max-retry-wait",
    "0.2",
    "--examples",
    "3",
    "--derandomize",
)
# Raw control characters a terminal acts on (tab and newline are text).
CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
PREFLIGHT_ENDS: Final = {"no-answer", "early-hints", "trickle-head", "huge-head"}
"""Modes whose first answer has no status: the preflight ends the run (exit 2)."""


def key_fragments(text: str) -> list[str]:
    """The substrings of ``text`` that are 8 consecutive characters of the key."""
    pieces = {KEY[i : i + FRAGMENT] for i in range(len(KEY) - FRAGMENT + 1)}
    return sorted(p for p in pieces if p in text)


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    timings = Timings(
        interval_s=0.01,
        trickle_s=0.3,
        huge_bytes=5 * 1000 * 1000,
        huge_head_bytes=64 * 1024,
        long_bytes=256 * 1024,
        connection_s=30.0,
        lifetime_s=900.0,
    )
    with HostileServer(timings) as running:
        yield running


def assert_safe_output(stdout: str, stderr: str, written: list[Path]) -> None:
    """No traceback, no key fragment, no raw control character; files free of the key."""
    assert "Traceback" not in stdout + stderr
    assert key_fragments(stdout + stderr) == []
    assert CONTROL.findall(stdout + stderr) == []
    for path in written:
        assert key_fragments(path.read_bytes().decode("utf-8", "replace")) == [], path.name


@pytest.mark.parametrize("mode", sorted(MODES))
def test_check_ends_safely_against_each_hostile_mode(
    tmp_path: Path, server: HostileServer, mode: str
) -> None:
    before = server.requests[mode]
    started = time.monotonic()
    done = check(
        tmp_path,
        "--base-url",
        server.base_url(mode),
        "--model",
        "m",
        *SMALL,
        env=check_env(OPENAI_API_KEY=KEY),
        timeout=RUN_TIMEOUT_S + 60,
    )
    elapsed = time.monotonic() - started
    served = server.requests[mode] - before

    reports = tmp_path / "reports"
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert_safe_output(done.stdout, done.stderr, written)
    assert elapsed < RUN_TIMEOUT_S + 30, f"{mode} took {elapsed:.1f} s"
    if mode in PREFLIGHT_ENDS:
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith("chatgauge: error: cannot reach ")
        assert len(done.stderr.splitlines()) == 1
        assert not reports.exists()
        assert served <= 1  # the preflight only
        return
    assert done.returncode in (1, 4), (mode, done.returncode, done.stdout[-2000:], done.stderr)
    data = json.loads((reports / "conformance.json").read_text(encoding="utf-8"))
    Draft202012Validator(json.loads(shipped_schema_text("conformance"))).validate(data)
    run = ConformanceRun.from_json(data)
    assert run.status.value in ("failed", "incomplete")
    assert run.requests_sent == served > 0  # every request the server read is counted
    assert {p.name for p in reports.iterdir()} == {
        "conformance.json",
        "conformance.html",
        "conformance.junit.xml",
    }
    page = (reports / "conformance.html").read_text(encoding="utf-8")
    assert 'class="verdict passed"' not in page


def test_timeouts_in_a_row_end_the_run_as_incomplete(tmp_path: Path, server: HostileServer) -> None:
    done = check(
        tmp_path,
        "--base-url",
        server.base_url("endless-stream"),
        "--model",
        "m",
        *SMALL,
        timeout=RUN_TIMEOUT_S + 60,
    )

    assert done.returncode == 4, done.stdout + done.stderr
    data = json.loads((tmp_path / "reports" / "conformance.json").read_text())
    assert data["status"] == "incomplete"
    assert data["stop_reason"].startswith("endpoint unresponsive: 3 requests in a row timed out")
    skipped = [c for c in data["checks"] if c["message"].startswith("not run: endpoint unresp")]
    assert len(skipped) > 50
    assert {c["skip_kind"] for c in skipped} == {"run"}
    assert data["requests_sent"] <= 4
    assert "(endpoint unresponsive: 3 requests in a row timed out" in done.stdout


def test_a_run_deadline_ends_the_run_as_incomplete(tmp_path: Path, server: HostileServer) -> None:
    # Each request gets its first bytes in time but never finishes: the run deadline (3 s)
    # is what ends the run, long before 3 request deadlines in a row could.
    done = check(
        tmp_path,
        "--base-url",
        server.base_url("endless-stream"),
        "--model",
        "m",
        "--total-timeout",
        "60",
        "--run-timeout",
        "3",
        timeout=60,
    )

    assert done.returncode == 4, done.stdout + done.stderr
    data = json.loads((tmp_path / "reports" / "conformance.json").read_text())
    assert data["status"] == "incomplete"
    assert data["stop_reason"] == "run deadline of 3 s reached (see --run-timeout)"
    assert data["duration_s"] < 10


def _plugin_run(pytester: pytest.Pytester, url: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--pyargs",
        "chatgauge.conformance.suite",
        f"--chatgauge-base-url={url}",
        "--chatgauge-model=m",
        "--chatgauge-report-dir=out",
        "--chatgauge-select=A3,B,F1",
        *(f"--chatgauge-{flag[2:]}" if flag.startswith("--") else flag for flag in SMALL),
        "-rfEs",
    )


@pytest.mark.parametrize("mode", ["echo-key", "ansi-escaped", "surrogate"])
def test_the_plugin_ends_safely_against_a_hostile_mode(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: HostileServer, mode: str
) -> None:
    for name, value in check_env(OPENAI_API_KEY=KEY).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    result = _plugin_run(pytester, server.base_url(mode))

    written = sorted(p for p in (pytester.path / "out").rglob("*") if p.is_file())
    assert_safe_output(result.stdout.str(), result.stderr.str(), written)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = json.loads((pytester.path / "out" / "conformance.json").read_text(encoding="utf-8"))
    Draft202012Validator(json.loads(shipped_schema_text("conformance"))).validate(data)
    assert data["status"] in ("failed", "incomplete")
    assert data["requests_sent"] > 0
