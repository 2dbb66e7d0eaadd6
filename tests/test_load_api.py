"""The public load API and how chatgauge joins locust: run_load, user locustfiles, attach().

Every run is a child process (the test process never imports locust); every ``load.json``
read here is validated against the shipped schema by ``read_report``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chatgauge import LoadReport, LoadSettings, Secret, run_load
from chatgauge.loadtests import EndpointUnavailable, LoadSettingsError
from chatgauge.results.load import LoadStatus
from chatgauge.server import ServerConfig, background_server
from tests.load_support import (
    RUN_TIMEOUT_S,
    child_env,
    closed_port,
    locust_command,
    read_report,
    run_cli,
)

SECRET = "sk-chatgauge-api-secret-7Hq3"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with background_server(ServerConfig(port=0, ttft_ms=20, itl_ms=2)) as url:
        yield url


def _small(url: str, **changes: Any) -> LoadSettings:
    small = LoadSettings(
        base_url=url, model="pro", users=2, duration_s=1.0, warmup_s=0.0, max_tokens=8
    )
    return replace(small, **changes)


def test_run_load_returns_the_typed_report_and_leaves_no_file_without_a_report_dir(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    report = run_load(_small(server, slos={"ttft_ms": 60_000.0}, max_requests=6))
    assert isinstance(report, LoadReport)
    assert report.status is LoadStatus.COMPLETED
    assert report.requests.total + report.requests.outside_window == 6
    assert report.config.slos[0].name == "ttft_ms"
    assert report.slos_met is True
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_run_load_writes_the_report_dir_it_is_given(server: str, tmp_path: Path) -> None:
    report = run_load(_small(server, report_dir=tmp_path / "out", max_requests=4))
    assert read_report(tmp_path / "out") == report
    assert (tmp_path / "out" / "load.html").is_file()


def test_the_calling_process_never_imports_locust(server: str, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import chatgauge
        report = chatgauge.run_load(chatgauge.LoadSettings(
            base_url={server!r}, model="pro", users=1, duration_s=1.0, warmup_s=0.0,
            max_tokens=4, max_requests=2))
        print(report.requests.completed, "locust" in sys.modules, "gevent" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "False", "False"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users": 1, "processes": 2}, "`users` 1 is fewer than `processes` 2"),
        ({"sweep_users": (1, 2)}, "give `slos`"),
        ({"slos": {"speed": 3.0}}, "unknown SLO 'speed'"),
        ({"base_url": "ftp://example.test/v1"}, "not an http(s) URL"),
        ({"warmup_s": -1.0}, "`warmup_s` must be 0 or more"),
    ],
)
def test_settings_that_cannot_make_a_run_are_one_line(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(LoadSettingsError) as caught:
        run_load(_small("http://127.0.0.1:9/v1", **changes))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_endpoint_that_refuses_or_is_absent_raises_before_any_load(tmp_path: Path) -> None:
    with pytest.raises(EndpointUnavailable, match="cannot reach"):
        run_load(_small(f"http://127.0.0.1:{closed_port()}/v1"))
    refusing = ServerConfig(port=0, api_key=Secret(SECRET))
    with (
        background_server(refusing) as url,
        pytest.raises(EndpointUnavailable, match="HTTP 401") as caught,
    ):
        run_load(_small(url, api_key=Secret(SECRET + "-wrong"), report_dir=tmp_path))
    assert SECRET not in str(caught.value)
    assert not (tmp_path / "load.json").exists()


# -- joining locust ---------------------------------------------------------------------


USER_LOCUSTFILE = """
from chatgauge.loadtests import StreamingChatUser


class Haiku(StreamingChatUser):
    extra_body = {"temperature": 0.2}

    def next_messages(self):
        return [{"role": "user", "content": "Write a haiku about TCP slow start."}]
"""


def test_a_user_locustfile_importing_streaming_chat_user_runs_with_plain_locust(
    server: str, tmp_path: Path
) -> None:
    locustfile = tmp_path / "my_locustfile.py"
    locustfile.write_text(USER_LOCUSTFILE)
    command = locust_command(server, "-u", "2", "-r", "2", "-t", "5s", "--max-requests", "6")
    command[command.index("-f") + 1] = str(locustfile)
    command += ["--model", "pro", "--report-dir", "rep", "--slo", "ttft_ms=60000"]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = read_report(tmp_path / "rep")
    assert report.requests.completed == 6
    assert report.goodput.met is True


def test_a_bad_chatgauge_option_in_a_user_locustfile_exits_2_in_one_line(
    server: str, tmp_path: Path
) -> None:
    locustfile = tmp_path / "my_locustfile.py"
    locustfile.write_text(USER_LOCUSTFILE)
    command = locust_command(server, "-u", "1", "-t", "2s", "--slo", "speed=3")
    command[command.index("-f") + 1] = str(locustfile)
    done = subprocess.run(
        command, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "chatgauge: error: unknown SLO 'speed'" in done.stderr
    assert "Traceback" not in done.stderr


ATTACH_SCRIPT = """
import json, sys
import gevent
from locust.env import Environment
from chatgauge.loadtests import StreamingChatUser, attach


class User(StreamingChatUser):
    pass


environment = Environment(user_classes=[User], host=sys.argv[1])
runner = environment.create_local_runner()
session = attach(environment)
assert attach(environment) is session
reports = []
for _ in range(2):
    runner.start(2, spawn_rate=2)
    gevent.sleep(1.5)
    runner.stop()
    report = session.last_report
    reports.append({
        "origin_ns": report.window.origin_ns,
        "elapsed_s": report.elapsed_s,
        "requests": report.requests.total + report.requests.outside_window,
        "t_s": list(report.points.t_s),
        "status": report.status.value,
    })
runner.quit()
print(json.dumps(reports))
"""


def test_attach_drives_a_programmatic_environment_with_fresh_state_per_test(
    server: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ATTACH_SCRIPT, server],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second = json.loads(done.stdout.splitlines()[-1])
    for report in (first, second):
        assert report["requests"] > 0
        assert report["status"] == "completed"  # no -t: stopping is the plan
    # The second test's samples were all sent after it started: nothing of the first leaked.
    assert second["origin_ns"] >= first["origin_ns"] + first["elapsed_s"] * 1e9
    assert min(second["t_s"]) >= 0
    assert second["requests"] == len(second["t_s"])


# -- endpoint text that cannot be encoded as UTF-8 ---------------------------------------


class _SurrogateHandler(BaseHTTPRequestHandler):
    """Answers every chat request with a lone surrogate (a legal JSON escape) in its text."""

    protocol_version = "HTTP/1.1"
    mode = "error"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("stream") and self.mode == "stream":
            chunk = '{"id": "chatcmpl-\\ud800-x", "object": "chat.completion.chunk", '
            events = [
                chunk + '"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}',
                chunk + '"choices": [{"index": 0, "delta": {"content": "hi"}}]}',
                chunk + '"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}',
                "[DONE]",
            ]
            payload = "".join(f"data: {event}\n\n" for event in events).encode()
            self._answer(200, "text/event-stream", payload)
            return
        message = b'{"error": {"message": "upstream said \\ud800 and gave up", "type": "x"}}'
        self._answer(500, "application/json", message)

    def _answer(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("mode", ["error", "stream"])
def test_samples_with_unencodable_endpoint_text_reach_the_master(tmp_path: Path, mode: str) -> None:
    handler = type("Handler", (_SurrogateHandler,), {"mode": mode})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
            done = run_cli(
                *("--base-url", url, "--model", "m", "--users", "2", "--processes", "2"),
                *("--max-requests", "6", "--duration", "8s", "--warmup", "0s"),
                *("--report-dir", "out"),
                cwd=tmp_path,
            )
        finally:
            httpd.shutdown()
    # Every request of the error mode fails: beyond the error budget, so the run fails.
    assert done.returncode == (3 if mode == "error" else 0), done.stderr
    report = read_report(tmp_path / "out")
    counts = report.requests
    assert counts.total + counts.outside_window == 6  # every sample survived the shipping
    if mode == "error":
        assert counts.failed == 6
        assert "\\ud800" in report.errors[0].example  # shown as its escape
    else:
        assert counts.completed == 6


def test_the_demo_writes_a_load_json_that_validates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chatgauge", "demo", "--report-dir", "out"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # 3 would mean a busy machine missed the demo's TTFT SLO: the document is what is tested.
    assert done.returncode in (0, 3), done.stdout + done.stderr
    report = read_report(tmp_path / "out")
    assert report.status is LoadStatus.COMPLETED
    assert report.requests.completed > 0
    assert report.config.users == 8
