"""``chatgauge serve`` as a user runs it: a subprocess, one line per outcome, no traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from chatgauge.server import FAULTS, FRAMINGS

SRC = Path(__file__).resolve().parent.parent / "src"
TIMEOUT_S = 30


def serve(*args: str) -> list[str]:
    return [sys.executable, "-m", "chatgauge", "serve", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve(*args), capture_output=True, text=True, timeout=TIMEOUT_S, env=environment()
    )


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_exits_2_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run("--port", str(busy.getsockname()[1]))
    assert_one_line_usage_error(result, "already in use")


def test_unknown_fault_exits_2_and_lists_the_valid_ones() -> None:
    result = run("--fault", "nonsense")
    assert_one_line_usage_error(result, "unknown fault 'nonsense'")
    assert "stop-leak" in result.stderr


def test_negative_latency_exits_2() -> None:
    assert_one_line_usage_error(run("--itl-ms", "-5"), "--itl-ms")


def test_help_and_list_faults() -> None:
    help_result = run("--help")
    assert help_result.returncode == 0
    assert "--fault" in help_result.stdout
    listing = run("--list-faults")
    assert listing.returncode == 0
    for name in (*FAULTS, *FRAMINGS):
        assert f"  {name} " in listing.stdout


def test_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        serve("--port", "0", "--model", "tiny"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("chatgauge serve: listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        assert url.endswith("/v1")
        models = httpx.get(f"{url}/models", timeout=10).json()
        assert [model["id"] for model in models["data"]] == ["tiny"]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in stderr
