"""An API key given to ``chatgauge check`` or ``chatgauge load`` reaches no file and no output.

Each run talks to a reference endpoint that requires the key (so the key is really used:
the run only succeeds when it is sent), once with ``--api-key`` and once with
``OPENAI_API_KEY``. Afterwards every byte of every file under the report directory, and
the run's stdout and stderr, are searched for the key and for its distinctive tail.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import chatgauge
from chatgauge._secret import Secret
from chatgauge.server import ServerConfig, background_server
from tests.load_support import child_env, read_report

# Random per test run, so no file can contain it by coincidence or from an earlier run.
KEY = "sk-leakprobe-" + secrets.token_hex(16)
LOAD_CLI = Path(chatgauge.__file__).parent / "cli" / "_load.py"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    config = ServerConfig(port=0, api_key=Secret(KEY), ttft_ms=5, itl_ms=1)
    with background_server(config) as url:
        yield url


def _run(
    tmp_path: Path, command: str, url: str, how: str, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    args = [sys.executable, "-m", "chatgauge", command, "--base-url", url, "--model", "pro"]
    args += ["--report-dir", str(tmp_path / "reports"), *extra]
    env = child_env()
    if how == "argument":
        args += ["--api-key", KEY]
    else:
        env["OPENAI_API_KEY"] = KEY
    return subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, timeout=180, check=False
    )


def _assert_key_absent(tmp_path: Path, run: subprocess.CompletedProcess[bytes]) -> list[str]:
    """Search every file the run wrote (anywhere under ``tmp_path``) and its output."""
    needles = (KEY.encode(), KEY[-20:].encode())
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"the key is in {path.relative_to(tmp_path)}"
    for name, stream in (("stdout", run.stdout), ("stderr", run.stderr)):
        for needle in needles:
            assert needle not in stream, f"the key is in {name}"
    return [p.name for p in written]


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_check_never_writes_the_key(server: str, tmp_path: Path, how: str) -> None:
    run = _run(tmp_path, "check", server, how, "--derandomize", "--examples", "3")
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()
    names = _assert_key_absent(tmp_path, run)
    assert {"conformance.json", "conformance.html", "conformance.junit.xml"} <= set(names)
    document = json.loads((tmp_path / "reports" / "conformance.json").read_text())
    # The key-handling checks ran, so requests with and without the key were judged.
    statuses = {c["id"]: c["status"] for c in document["checks"]}
    assert statuses["A4-wrong-key-rejected"] == "passed"
    assert statuses["A4-missing-key-rejected"] == "passed"


@pytest.mark.skipif(not LOAD_CLI.exists(), reason="chatgauge load is not part of this tree yet")
@pytest.mark.parametrize("how", ["argument", "environment"])
def test_load_never_writes_the_key(server: str, tmp_path: Path, how: str) -> None:
    run = _run(
        tmp_path,
        "load",
        server,
        how,
        *("--users", "2", "--duration", "2s", "--warmup", "1s", "--max-tokens", "8"),
    )
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()
    names = _assert_key_absent(tmp_path, run)
    assert {"load.json", "load.html"} <= set(names)
    document = read_report(tmp_path / "reports")
    assert document.requests.completed > 0  # the endpoint accepted the key
    assert document.requests.failed == 0
