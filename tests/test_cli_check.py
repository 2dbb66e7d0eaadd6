"""``chatgauge check`` end to end: a subprocess against reference endpoints on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import chatgauge
from chatgauge._secret import Secret
from chatgauge.conformance._registry import all_checks
from chatgauge.results._schemas import shipped_schema_text
from chatgauge.server import ServerConfig, background_server

SECRET = "sk-chatgauge-cli-secret-7Qx9"
REPORT_FILES = {"conformance.json", "conformance.html", "conformance.junit.xml"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return {**env, **extra}


def _check(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatgauge", "check", *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def test_faithful_endpoint_exits_0_and_writes_every_report(
    tmp_path: Path, faithful_url: str
) -> None:
    done = _check(tmp_path, "--base-url", faithful_url, "--model", "pro")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    reports = tmp_path / "reports"  # the default directory
    assert {p.name for p in reports.iterdir()} == REPORT_FILES
    document = json.loads((reports / "conformance.json").read_text())
    assert document["endpoint"] == faithful_url
    assert document["model"] == "pro"
    assert document["started_at"]
    assert [c["id"] for c in document["checks"]] == [c.id for c in all_checks()]
    for entry in document["checks"]:
        assert {"id", "title", "group", "tier", "severity", "status", "message", "evidence"} <= set(
            entry
        )
        assert entry["status"] != "failed"
    assert sum(document["summary"].values()) == len(all_checks())
    assert document["requests_sent"] > 0
    assert document["tokens_used"] > 0
    for check in all_checks():
        assert f" {check.id} " in done.stdout
    assert (
        f"| {document['requests_sent']} requests, {document['tokens_used']} tokens" in done.stdout
    )


def test_a_fault_exits_1_and_names_the_failing_check(tmp_path: Path) -> None:
    with background_server(ServerConfig(port=0, faults=frozenset({"double-done"}))) as url:
        done = _check(tmp_path, "--base-url", url, "--model", "pro", "--report-dir", "out")

    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads((tmp_path / "out" / "conformance.json").read_text())
    failed = {c["id"] for c in document["checks"] if c["status"] == "failed"}
    assert failed == {"D3-done-last"}
    assert document["status"] == "failed"
    failed_lines = [line for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    assert len(failed_lines) == 1
    assert "D3-done-last" in failed_lines[0]


def test_unreachable_endpoint_exits_2_with_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"

    done = _check(tmp_path, "--base-url", url, "--model", "pro")

    assert done.returncode == 2
    assert done.stderr.startswith(f"chatgauge: error: cannot reach {url}/chat/completions")
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no endpoint: pass --base-url URL or set OPENAI_BASE_URL"),
        (("--base-url", "http://127.0.0.1:9/v1"), "no model: pass --model NAME"),
        (("--base-url", "ftp://127.0.0.1/v1", "--model", "m"), "base URL must start with http"),
        (("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--select", "Z9"), "Z9"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = _check(tmp_path, *args)

    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("chatgauge: error: ")
    assert message in done.stderr
    assert done.stdout == ""


def test_malformed_flag_is_an_argparse_error(tmp_path: Path) -> None:
    done = _check(tmp_path, "--model", "m", "--max-requests", "0")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "chatgauge check: error: argument --max-requests: must be at least 1, got 0"
    )


def test_list_checks_needs_no_endpoint(tmp_path: Path) -> None:
    done = _check(tmp_path, "--list-checks")

    assert done.returncode == 0
    for check in all_checks():
        assert check.id in done.stdout
    assert not (tmp_path / "reports").exists()


class _EchoesTheKey(BaseHTTPRequestHandler):
    """Refuses every request with an error that quotes the Authorization header back."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(
            {
                "error": {
                    "message": f"rejected credentials {self.headers.get('authorization')}",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is the run's own."""


@pytest.fixture
def echoing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoesTheKey)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _assert_key_absent(done: subprocess.CompletedProcess[str], directory: Path) -> None:
    assert SECRET not in done.stdout
    assert SECRET not in done.stderr
    written = [p for p in directory.rglob("*") if p.is_file()]
    assert {p.name for p in written} == REPORT_FILES
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_key_given_as_flag_never_leaks_and_auth_is_checked(tmp_path: Path) -> None:
    config = ServerConfig(port=0, api_key=Secret(SECRET))
    with background_server(config) as url:
        done = _check(tmp_path, "--base-url", url, "--model", "pro", "--api-key", SECRET)

    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "reports" / "conformance.json").read_text())
    auth_checks = [c for c in document["checks"] if c["group"] == "A" and c["id"][:2] == "A4"]
    assert auth_checks
    assert {c["status"] for c in auth_checks} == {"passed"}
    _assert_key_absent(done, tmp_path / "reports")


def test_key_echoed_by_the_endpoint_is_masked_everywhere(tmp_path: Path, echoing_url: str) -> None:
    done = _check(
        tmp_path, "--base-url", echoing_url, "--model", "m", env=_env(OPENAI_API_KEY=SECRET)
    )

    assert done.returncode == 1
    assert "warning: a minimal request got HTTP 400" in done.stderr
    document = (tmp_path / "reports" / "conformance.json").read_text()
    assert "rejected credentials Bearer ***" in document  # the echo is there, masked
    _assert_key_absent(done, tmp_path / "reports")


def test_interrupt_keeps_the_checks_done(tmp_path: Path) -> None:
    # A slow endpoint, so the run is still going when it is interrupted.
    with background_server(ServerConfig(port=0, ttft_ms=150)) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatgauge", "check", "--base-url", url, "--model", "pro"],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        saved = tmp_path / "reports" / "conformance.json"
        deadline = time.monotonic() + 60
        while not saved.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stdout + stderr
    assert stderr.splitlines()[-1] == "chatgauge: interrupted"
    document = json.loads(saved.read_text())
    assert 0 < len(document["checks"]) < len(all_checks())
    assert document["status"] == "interrupted"
    assert document["planned"] == [c.id for c in all_checks()]
    Draft202012Validator(json.loads(shipped_schema_text("conformance"))).validate(document)
    assert {p.name for p in saved.parent.iterdir()} == REPORT_FILES
    page = (saved.parent / "conformance.html").read_text()
    assert '<div class="verdict interrupted" id="run-status">' in page
    assert 'class="verdict passed"' not in page
    junit = (saved.parent / "conformance.junit.xml").read_text()
    assert '<property name="status" value="interrupted" />' in junit
    assert f"interrupted after {len(document['checks'])} checks" in stdout


def test_check_leaves_nothing_but_the_reports_in_the_working_directory(
    tmp_path: Path, faithful_url: str
) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = _env(XDG_CACHE_HOME=str(cache))
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)

    done = _check(work, "--base-url", faithful_url, "--model", "pro", "--select", "A1,A2", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in work.iterdir()] == ["reports"]
    assert {p.name for p in (work / "reports").iterdir()} == REPORT_FILES
    # Hypothesis wrote its caches (mined constants, Unicode tables) to chatgauge's own cache.
    assert (cache / "chatgauge" / "hypothesis").is_dir()
