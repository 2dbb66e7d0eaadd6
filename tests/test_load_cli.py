"""``chatgauge load`` end to end: exit codes, files, interruption, secrets (subprocesses)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatgauge._secret import Secret
from chatgauge.cli import build_parser
from chatgauge.cli._load import settings_from_args
from chatgauge.loadtests._launch import locust_command
from chatgauge.results.load import LoadReport, LoadStatus, Trust
from chatgauge.server import ServerConfig, background_server
from tests.load_support import RUN_TIMEOUT_S, child_env, closed_port, read_report, run_cli

SECRET = "sk-chatgauge-load-secret-4Kp2"
SWEEP_WARMUP_TOO_LONG = ("--sweep-time", "2s", "--sweep-warmup", "3s")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with background_server(ServerConfig(port=0, ttft_ms=20, itl_ms=2)) as url:
        yield url


def _document(directory: Path) -> LoadReport:
    return read_report(directory)


def test_a_completed_run_exits_0_with_both_files_and_progress_lines(
    server: str, tmp_path: Path
) -> None:
    reports = tmp_path / "out"
    result = run_cli(
        *("--base-url", server, "--model", "pro", "--users", "2", "--duration", "2s"),
        *("--warmup", "1s", "--report-dir", str(reports)),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "output tok/s" in result.stdout  # the per-second progress line
    assert "generator: trustworthy" in result.stdout or "generator: untrustworthy" in result.stdout
    document = _document(reports)
    assert (reports / "load.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert document.status is LoadStatus.COMPLETED
    assert document.endpoint == server
    assert document.config.warmup_s == 1.0
    assert document.requests.completed > 0
    for summary in (document.metrics.ttft_ms, document.metrics.tpot_ms, document.metrics.e2e_ms):
        assert summary.count > 0
        assert summary.p50 is not None
    assert (document.throughput.output_tokens_per_s or 0) > 0
    assert document.generator.verdict in (Trust.TRUSTWORTHY, Trust.UNTRUSTWORTHY)
    assert document.series.t
    assert "ttft_ms" in document.definitions


def test_missed_slos_exit_3_and_met_ones_exit_0(server: str, tmp_path: Path) -> None:
    common = ("--base-url", server, "--model", "pro", "--users", "1", "--warmup", "0s")
    missed = run_cli(
        *common, "--max-requests", "3", "--slo", "ttft_ms=1", "--report-dir", "a", cwd=tmp_path
    )
    assert missed.returncode == 3, missed.stderr
    assert "SLOs MISSED" in missed.stdout
    assert _document(tmp_path / "a").goodput.met is False
    met = run_cli(
        *common, "--max-requests", "3", "--slo", "ttft_ms=60000", "--report-dir", "b", cwd=tmp_path
    )
    assert met.returncode == 0, met.stderr
    assert _document(tmp_path / "b").goodput.met is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--slo", "speed=3"), "unknown SLO"),
        (("--users", "1", "--processes", "2"), "fewer than --processes"),
        (("--sweep-users", "1,2"), "give --slo"),
        (("--duration", "soon"), "not a duration"),
        (("--max-error-rate", "2"), "must lie between 0 and 1"),
        (("--abort-after", "0s"), "--abort-after"),
        (("--max-body-bytes", "lots"), "not a size"),
        (
            ("--sweep-users", "1,2", "--slo", "e2e_ms=9", *SWEEP_WARMUP_TOO_LONG),
            "--sweep-warmup",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    server: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("--base-url", server, "--model", "pro", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_prompt_file_exits_2_naming_the_line(server: str, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "fine"}\n{"prompt": 3}\n')
    result = run_cli(
        "--base-url", server, "--model", "pro", "--prompts", str(prompts), cwd=tmp_path
    )
    assert result.returncode == 2
    assert f"{prompts}:2:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_endpoint_exits_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = run_cli("--base-url", url, "--model", "pro", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot reach" in result.stderr
    assert not (tmp_path / "reports" / "load.json").exists()


def test_the_api_key_never_reaches_output_files_or_the_child_command(tmp_path: Path) -> None:
    config = ServerConfig(port=0, api_key=Secret(SECRET), ttft_ms=5)
    with background_server(config) as url:
        wrong = run_cli(
            "--base-url", url, "--model", "pro", "--api-key", SECRET + "-wrong", cwd=tmp_path
        )
        assert wrong.returncode == 2
        assert "HTTP 401" in wrong.stderr
        assert SECRET not in wrong.stdout + wrong.stderr
        result = run_cli(
            *("--base-url", url, "--model", "pro", "--max-requests", "4", "--warmup", "0s"),
            *("--report-dir", "out"),
            cwd=tmp_path,
            env=child_env(OPENAI_API_KEY=SECRET),
        )
    assert result.returncode == 0, result.stderr
    document = _document(tmp_path / "out")
    assert document.requests.completed == 4  # the key was sent: no 401
    assert SECRET not in result.stdout + result.stderr
    for path in (tmp_path / "out").iterdir():
        assert SECRET not in path.read_text()
    args = build_parser().parse_args(
        ["load", "--base-url", "http://127.0.0.1:1/v1", "--model", "m", "--api-key", SECRET]
    )
    assert SECRET not in " ".join(locust_command(settings_from_args(args), tmp_path))


def test_ctrl_c_keeps_the_results_so_far_and_exits_130(server: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chatgauge", "load", "--base-url", server, "--model", "pro"]
    command += ["--users", "2", "--duration", "60s", "--warmup", "0s", "--report-dir", "out"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        # Wait for the first progress lines: the run is measuring.
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert any("done" in line for line in lines)
        assert (tmp_path / "out" / "load.json").exists()  # written while running
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        assert process.wait(RUN_TIMEOUT_S) == 130
    finally:
        if process.poll() is None:
            process.kill()
    document = _document(tmp_path / "out")
    assert document.status is LoadStatus.INTERRUPTED
    assert document.requests.completed > 0
    assert (tmp_path / "out" / "load.html").exists()


def test_two_processes_merge_into_one_result(server: str, tmp_path: Path) -> None:
    result = run_cli(
        *("--base-url", server, "--model", "pro", "--users", "4", "--processes", "2"),
        *("--duration", "2s", "--warmup", "0s", "--max-requests", "40", "--report-dir", "out"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = _document(tmp_path / "out")
    assert document.config.processes == 2
    counts = document.requests
    assert counts.total + counts.outside_window == 40  # the cap, split over 2 workers
    assert document.generator.cpu_percent.count >= 2


def test_a_concurrency_sweep_reports_each_step_and_the_best(server: str, tmp_path: Path) -> None:
    result = run_cli(
        *("--base-url", server, "--model", "pro", "--sweep-users", "1,2"),
        *("--sweep-time", "2s", "--sweep-warmup", "0.5s", "--slo", "e2e_ms=60000"),
        *("--sweep-min-requests", "1"),  # 1.5 s steps: judged on whatever they measured
        *("--report-dir", "out"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = _document(tmp_path / "out")
    assert document.sweep is not None
    assert [step.value for step in document.sweep.steps] == [1.0, 2.0]
    assert all(step.goodput.met for step in document.sweep.steps)
    best = document.sweep.best_step
    assert best is not None
    assert best.value == 2.0
    assert "highest users meeting every SLO: 2" in result.stdout
    assert "largest tested" in result.stdout  # the capacity may lie beyond 2 users
    assert "step 2/2 (2 users)" in result.stdout  # the progress line names the step
    assert document.config.sweep is not None
    assert document.config.sweep.warmup_s == 0.5
    assert document.sweep.steps[0].window.start_s == pytest.approx(0.5)
