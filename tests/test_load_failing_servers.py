"""``chatgauge load`` when things go wrong (issue 12's cases, end to end on loopback).

Each case runs the command against the reference endpoint (or the hostile server for a
stream that never ends) with short durations: open-loop overload is judged on the latency
from the intended start, a server that dies stops the run as 'endpoint down' without
spinning, a rate-limit storm is met with backoff and judged by the error budget, requests
cut off by the end are counted, and an interrupted run says so everywhere.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from chatgauge.loadtests._launch import locust_command
from chatgauge.loadtests._settings import LoadSettings
from chatgauge.results.load import LoadStatus
from chatgauge.server import ServerConfig, background_server
from tests.hostile_server import HostileServer, Timings
from tests.load_support import RUN_TIMEOUT_S, child_env, read_report, run_cli


def test_open_loop_overload_fails_its_ttft_slo_from_the_intended_start(tmp_path: Path) -> None:
    # 2 users and a 200 ms first token serve under 10 requests/s; 60/s queue up at once.
    # Users take the queued slots oldest first, so with a warm-up every slot they reach in
    # a short run would be a warm-up slot: this run measures from the start.
    with background_server(ServerConfig(port=0, ttft_ms=200, itl_ms=1)) as url:
        result = run_cli(
            *("--base-url", url, "--model", "pro", "--rate", "60", "--users", "2"),
            *("--duration", "3s", "--warmup", "0s", "--slo", "ttft_ms=1000"),
            *("--report-dir", "out"),
            cwd=tmp_path,
        )
    assert result.returncode == 3, result.stdout + result.stderr
    document = read_report(tmp_path / "out")
    assert document.latency_basis == "intended_start"
    outcome = document.goodput.slos[0]
    assert outcome.judged_on == "ttft_from_schedule_ms"
    assert outcome.met is False
    # The server alone stayed fast: judged from the send, the SLO would have been met.
    sent_p99 = document.metrics.ttft_ms.p99
    assert sent_p99 is not None
    assert sent_p99 < 1000
    assert "SLOs MISSED" in result.stdout
    assert "diagnostic, from send" in result.stdout
    assert "from intended start" in (tmp_path / "out" / "load.html").read_text()


def _progress_started(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in range(20):
        line = process.stdout.readline()
        if "done" in line and "done 0 " not in line:
            return
    raise AssertionError("no request completed before the server was stopped")


def test_a_server_that_dies_stops_the_run_as_endpoint_down_without_spinning(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "chatgauge", "load", "--model", "pro", "--users", "4"]
    command += ["--duration", "40s", "--warmup", "0s", "--report-dir", "out"]
    command += ["--abort-after", "1.5s", "--max-backoff", "0.2s"]
    with ExitStack() as stack:
        url = stack.enter_context(background_server(ServerConfig(port=0, ttft_ms=5)))
        process = subprocess.Popen(
            [*command, "--base-url", url],
            cwd=tmp_path,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _progress_started(process)
            stopped = time.monotonic()
            stack.close()  # the server goes away mid-run
            out, err = process.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 3, out + err
    assert time.monotonic() - stopped < 30  # stopped early, far before the 40 s planned
    assert "endpoint down" in out
    assert "--processes" not in out + err  # the generator is not blamed
    document = read_report(tmp_path / "out")
    assert document.status is LoadStatus.ABORTED
    assert document.stop_reason is not None
    assert "endpoint down" in document.stop_reason
    assert document.generator.trustworthy
    failures = document.requests.failed
    # Backed off: a few requests per user per second, not thousands (42,564 in 4 s before).
    assert 0 < failures < 300
    assert any(group.kind == "connection" for group in document.errors)
    page = (tmp_path / "out" / "load.html").read_text()
    assert "the endpoint is down" in page


def test_a_rate_limit_storm_is_met_with_backoff_and_judged_by_the_error_budget(
    tmp_path: Path,
) -> None:
    common = (
        "--model",
        "pro",
        "--users",
        "8",
        "--duration",
        "3s",
        "--warmup",
        "0s",
        "--max-backoff",
        "0.5s",
    )
    with background_server(ServerConfig(port=0, rate_limit_rps=2.0)) as url:
        storm = run_cli("--base-url", url, *common, "--report-dir", "a", cwd=tmp_path)
        tolerant = run_cli(
            *("--base-url", url, *common, "--max-error-rate", "100%", "--report-dir", "b"),
            cwd=tmp_path,
        )
    assert storm.returncode == 3, storm.stdout + storm.stderr
    assert "http 429" in storm.stdout
    assert "above the budget" in storm.stdout
    document = read_report(tmp_path / "a")
    assert document.error_budget.met is False
    assert "http 429" in document.error_budget.kinds
    sent = document.requests.total + document.requests.outside_window
    # 8 users backing off (at least 25 ms, up to 0.5 s) over 3 s: a few hundred at most;
    # without backoff a 429 storm runs to thousands a second.
    assert sent < 600, sent
    assert document.requests.completed > 0  # the limit lets 2 requests/s through
    # Every 429 was followed by a pause: as many pauses as 429s (but the cut-off ones').
    refused = sum(group.count for group in document.errors if group.kind == "http 429")
    assert refused <= document.error_budget.backoffs <= sent, document.error_budget
    assert f"the users paused {document.error_budget.backoffs} times" in storm.stdout
    assert tolerant.returncode == 0, tolerant.stdout + tolerant.stderr
    assert read_report(tmp_path / "b").error_budget.met is True


def test_requests_of_a_stream_that_never_ends_are_counted_as_cut_off(tmp_path: Path) -> None:
    timings = Timings(interval_s=0.01, connection_s=30.0, lifetime_s=120.0)
    with HostileServer(timings) as server:
        result = run_cli(
            *("--base-url", server.base_url("endless-stream"), "--model", "m"),
            *("--users", "2", "--duration", "1s", "--warmup", "0s", "--report-dir", "out"),
            cwd=tmp_path,
        )
        served = server.requests["endless-stream"]
    assert result.returncode == 3, result.stdout + result.stderr
    document = read_report(tmp_path / "out")
    counts = document.requests
    # Every request the server read (but the preflight's) is in the document.
    assert counts.total + counts.outside_window == served - 1
    assert counts.total > 0
    assert counts.completed == 0
    assert [group.kind for group in document.errors] == ["cut_off"]
    assert "no measured request completed" in result.stdout


def test_an_interrupted_run_says_so_in_every_output(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chatgauge", "load", "--model", "pro", "--users", "2"]
    command += ["--duration", "60s", "--warmup", "0s", "--slo", "e2e_ms=60000"]
    command += ["--report-dir", "out"]
    with background_server(ServerConfig(port=0, ttft_ms=5, itl_ms=1)) as url:
        process = subprocess.Popen(
            [*command, "--base-url", url],
            cwd=tmp_path,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _progress_started(process)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130
    assert "run INTERRUPTED after" in out
    assert "SLOs met" not in out
    assert "KeyboardInterrupt" not in out + err
    assert "Traceback" not in out + err
    document = read_report(tmp_path / "out")
    assert document.status is LoadStatus.INTERRUPTED
    assert not document.complete
    page = (tmp_path / "out" / "load.html").read_text()
    assert "Run interrupted after" in page
    assert "All SLOs met" not in page


def test_head_and_interim_limits_are_load_flags_that_reach_the_run(tmp_path: Path) -> None:
    """``--max-header-bytes`` and ``--max-interim-responses`` bound load's answers too: a cap
    below the reference endpoint's own head ends the run at its preflight, naming the cap;
    the default caps let the same run through; both reach the locust child's command."""

    with background_server(ServerConfig(port=0)) as url:
        common = ("--base-url", url, "--model", "pro", "--users", "1", "--warmup", "0s")
        capped = run_cli(*common, "--duration", "1s", "--max-header-bytes", "100", cwd=tmp_path)
        passing = run_cli(*common, "--duration", "1s", "--max-interim-responses", "3", cwd=tmp_path)
    assert capped.returncode == 2, capped.stdout + capped.stderr
    assert "response head exceeded 100 bytes" in capped.stderr
    assert "Traceback" not in capped.stderr
    assert passing.returncode == 0, passing.stdout + passing.stderr
    settings = LoadSettings(base_url=url, model="pro")

    settings = replace(
        settings, limits=replace(settings.limits, max_header_bytes=4096, max_interim_responses=3)
    )
    command = locust_command(settings, tmp_path)
    assert command[command.index("--max-header-bytes") + 1] == "4096"
    assert command[command.index("--max-interim-responses") + 1] == "3"
