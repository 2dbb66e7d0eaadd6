"""The load engine end to end: locust (in a subprocess) against reference endpoints on loopback.

Latency assertions are lower bounds only (the server cannot answer before its configured
delay; a busy machine can make anything later).
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results.load import LoadReport, LoadStatus, TokenSources
from chatgauge.server import ServerConfig, background_server
from tests.load_support import (
    RUN_TIMEOUT_S,
    child_env,
    closed_port,
    free_port,
    locust_command,
    read_report,
    read_samples,
    run_locust,
)

TTFT_MS = 30.0
ITL_MS = 2.0
MS = 1_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with background_server(ServerConfig(port=0, ttft_ms=TTFT_MS, itl_ms=ITL_MS)) as url:
        yield url


def _run(
    url: str, tmp_path: Path, *args: str, code: int = 0
) -> tuple[list[RequestSample], LoadReport]:
    samples_dir, report_dir = tmp_path / "samples", tmp_path / "report"
    result = run_locust(
        url,
        *args,
        "--dump-samples",
        str(samples_dir),
        "--report-dir",
        str(report_dir),
        cwd=tmp_path,
    )
    assert result.returncode == code, result.stderr
    return read_samples(samples_dir), read_report(report_dir)


def test_plain_locust_runs_the_stock_locustfile_and_times_streams(
    server: str, tmp_path: Path
) -> None:
    dumped, document = _run(server, tmp_path, "-u", "2", "-r", "2", "-t", "3s", "--json")
    # The requests in flight at the end are dumped too, cut off; the others finished.
    samples = [sample for sample in dumped if sample.error_kind != "cut_off"]
    assert samples
    assert all(sample.ok for sample in samples), samples[0].error
    for sample in samples:
        first_token = sample.t_first_token_ns
        assert first_token is not None
        assert sample.t_first_event_ns is not None
        # The reference server sends the role-only chunk at once and the first token after
        # the TTFT: the role chunk is the first event, never a token (a busy machine can
        # read both in one read, so the stamps may be equal; the count below shows the
        # role chunk was not counted as a token).
        assert sample.t_first_event_ns <= first_token
        # uvloop timers have millisecond granularity: the server may write up to ~1 ms early.
        assert first_token - sample.t_send_ns >= (TTFT_MS - 2) * MS
        assert sample.token_source == "usage"
        assert sample.output_tokens == len(sample.token_event_ns) >= 2
        # Token k is never written before its deadline TTFT + k * ITL (a late server may
        # write several at once, so single gaps have no lower bound, the last token has).
        last_due_ms = TTFT_MS + (sample.output_tokens - 1) * ITL_MS
        assert sample.token_event_ns[-1] - sample.t_send_ns >= (last_due_ms - 1) * MS
        assert (sample.response_id or "").startswith("chatcmpl-")
    # no --model: the first model the endpoint lists
    assert document.model == "pro"
    assert document.config.model == "pro"
    assert document.status is LoadStatus.COMPLETED
    # The same bound as each sample's above (the server's timer may fire ~1 ms early).
    assert (document.metrics.ttft_ms.min or 0) >= TTFT_MS - 2
    generator = document.generator
    assert generator.cpu_percent.count >= 1
    assert generator.hub_lag_ms.count >= 10


def test_requests_show_in_locusts_own_statistics(server: str, tmp_path: Path) -> None:
    result = run_locust(
        server, "-u", "1", "-t", "2s", "--max-requests", "3", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    entries = {(entry["method"], entry["name"]): entry for entry in json.loads(result.stdout)}
    assert entries[("POST", "chat")]["num_requests"] == 3
    assert entries[("TTFT", "chat")]["num_requests"] == 3
    assert entries[("TTFT", "chat")]["min_response_time"] >= TTFT_MS - 2  # as above


def test_without_usage_tokens_are_counted_from_events(server: str, tmp_path: Path) -> None:
    samples, document = _run(
        server, tmp_path, "-u", "1", "-t", "5s", "--max-requests", "3", "--no-usage"
    )
    assert len(samples) == 3
    for sample in samples:
        assert sample.token_source == "events"
        assert sample.output_tokens == len(sample.token_event_ns) == sum(sample.token_event_counts)
    assert document.requests.token_source == TokenSources(usage=0, events=3)


def test_non_streamed_requests_take_tokens_from_usage(server: str, tmp_path: Path) -> None:
    samples, _ = _run(server, tmp_path, "-u", "1", "-t", "5s", "--max-requests", "2", "--no-stream")
    assert len(samples) == 2
    for sample in samples:
        assert sample.ok
        assert sample.token_event_ns == ()
        assert sample.t_first_event_ns is None
        assert sample.token_source == "usage"
        assert sample.output_tokens > 0


@pytest.mark.parametrize(
    ("config", "args", "kind", "message"),
    [
        (ServerConfig(port=0, faults=frozenset({"no-done"})), (), "malformed", "[DONE]"),
        (ServerConfig(port=0, faults=frozenset({"non-json-data"})), (), "malformed", "heartbeat"),
        (ServerConfig(port=0), ("--model", "no-such-model"), "http", "HTTP 404"),
        (ServerConfig(port=0, ttft_ms=3000), ("--request-timeout", "0.3"), "timeout", "no data"),
    ],
    ids=["no-done", "non-json", "http-404", "timeout"],
)
def test_failed_requests_are_classified(
    tmp_path: Path, config: ServerConfig, args: tuple[str, ...], kind: str, message: str
) -> None:
    with background_server(config) as url:
        samples, document = _run(
            url,
            tmp_path,
            "-u",
            "1",
            "-t",
            "8s",
            "--max-requests",
            "2",
            "--exit-code-on-error",
            "0",
            *args,
            code=3,  # every request failed: beyond the error budget
        )
    assert len(samples) == 2
    assert {sample.error_kind for sample in samples} == {kind}
    assert all(message in (sample.error or "") for sample in samples)
    assert document.requests.failed == 2
    assert document.errors[0].count == 2


def test_an_endpoint_nobody_listens_on_gives_connection_errors(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    samples, _ = _run(
        url,
        tmp_path,
        *("-u", "1", "-t", "5s", "--max-requests", "2", "--model", "m"),
        *("--exit-code-on-error", "0"),
        code=3,  # nothing but failures: beyond the error budget
    )
    assert [sample.error_kind for sample in samples] == ["connection", "connection"]


def test_open_loop_requests_start_on_a_constant_schedule(server: str, tmp_path: Path) -> None:
    samples, document = _run(
        server,
        tmp_path,
        *("-u", "4", "-t", "8s", "--rate", "20", "--arrival", "constant", "--max-requests", "16"),
    )
    assert len(samples) == 16
    slots = sorted(sample.t_sched_ns for sample in samples)
    assert {b - a for a, b in itertools.pairwise(slots)} == {50 * MS}
    assert all(sample.t_send_ns >= sample.t_sched_ns for sample in samples)
    assert document.config.mode == "open"
    assert document.metrics.schedule_lag_ms.count == 16


def test_warm_up_is_left_out_of_the_statistics(server: str, tmp_path: Path) -> None:
    samples, document = _run(server, tmp_path, "-u", "2", "-t", "4s", "--warmup", "2s")
    window = document.window
    during_warmup = [s for s in samples if s.t_sched_ns < window.start_ns]
    assert during_warmup
    # Every request scheduled in the window is counted: completed, failed or cut off.
    measured = document.requests.total
    assert measured == document.requests.completed + document.requests.failed + (
        document.requests.cut_off
    )
    assert measured == sum(window.start_ns <= s.t_sched_ns <= window.end_ns for s in samples)
    recomputed = compute_results(
        samples, window=(window.start_ns, window.end_ns), origin_ns=window.origin_ns
    )
    assert document.metrics == recomputed.metrics


def test_master_and_two_workers_merge_exactly(server: str, tmp_path: Path) -> None:
    port = free_port()
    samples_dir, report_dir = tmp_path / "samples", tmp_path / "report"
    env = child_env()
    master_args = (
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)),
        *("--expect-workers", "2", "-u", "4", "-r", "4", "-t", "4s", "--warmup", "1s"),
        *("--dump-samples", str(samples_dir), "--report-dir", str(report_dir)),
    )
    worker_args = ("--worker", "--master-host", "127.0.0.1", "--master-port", str(port))
    master = subprocess.Popen(locust_command(server, *master_args), cwd=tmp_path, env=env)
    workers = [
        subprocess.Popen(locust_command(server, *worker_args), cwd=tmp_path, env=env)
        for _ in range(2)
    ]
    try:
        assert master.wait(RUN_TIMEOUT_S) == 0
        for worker in workers:
            worker.wait(RUN_TIMEOUT_S)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
    files = sorted(samples_dir.glob("samples-*.jsonl"))
    assert len(files) == 2  # one per worker; the master sends nothing itself
    samples = read_samples(samples_dir)
    assert len({sample.worker for sample in samples}) == 2
    document = read_report(report_dir)
    counts = document.requests
    assert counts.total + counts.outside_window == len(samples)
    window = document.window
    recomputed = compute_results(
        samples, window=(window.start_ns, window.end_ns), origin_ns=window.origin_ns
    )
    assert document.metrics == recomputed.metrics
    assert document.requests == recomputed.requests
    assert document.throughput == recomputed.throughput
    assert document.config.processes == 2
    assert document.model == "pro"  # discovered by the workers, shipped to the master
