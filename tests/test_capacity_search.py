"""``chatgauge load --capacity`` against the capacity ground truth, end to end.

The acceptance run: ``chatgauge serve --max-concurrency 8 --ttft-ms 100 --itl-ms 10
--ignore-eos`` answers every ``max_tokens 32`` request in exactly 0.41 s of service, so its
capacity is 8 / 0.41 = 19.5 req/s; with ``--slo ttft_ms=1000`` the search must answer
between 15 and 20.5 req/s. It is a test (marked slow, about a minute) rather than only a
benchmark because it proves a verdict, not a speed: the bracket is wide (Poisson queueing
keeps the p99 TTFT under 1 s up to roughly 17 req/s; a short step lets a rate a little past
19.5 look fine in a short step), so the search runs with a coarse precision (30 %) from
10 req/s: the rates it can try are 10, 20, 40, 30, 25 or 10, 20, 15, 17.5, and each of them
is either inside the bracket or clearly (28 % or more) past the capacity, where a 5 s step
cannot pass. ``benchmarks/bench_capacity.py``
runs the same search with the default, longer steps and prints its figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatgauge.loadtests._capacity_run import intended_starts
from chatgauge.loadtests._settings import LoadSettings
from chatgauge.results import read_document
from chatgauge.results.load import LoadReport
from chatgauge.server import spawned_server
from tests.load_support import child_env, read_report, read_samples

GROUND_TRUTH = ("--max-concurrency", "8", "--ttft-ms", "100", "--itl-ms", "10", "--ignore-eos")
SEARCH_TIMEOUT_S = 240


def capacity_cli(url: str, directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chatgauge", "load", "--base-url", url, "--model", "pro"]
    return subprocess.run(
        [*command, "--report-dir", str(directory), "--capacity", *extra],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=SEARCH_TIMEOUT_S,
        check=False,
    )


@pytest.mark.slow
def test_capacity_of_the_ground_truth_is_found_open_loop(tmp_path: Path) -> None:
    with spawned_server(GROUND_TRUTH) as url:
        result = capacity_cli(
            url,
            tmp_path,
            "--max-tokens",
            "32",
            "--slo",
            "ttft_ms=1000",
            "--capacity-start",
            "10",
            "--capacity-step-time",
            "5s",
            "--warmup",
            "2s",
            "--capacity-precision",
            "0.3",
            "--capacity-max-steps",
            "6",
        )
    assert result.returncode == 0, result.stdout + result.stderr
    report = read_report(tmp_path)
    capacity = report.capacity
    assert capacity is not None
    assert capacity.rate_rps is not None
    assert 15 <= capacity.rate_rps <= 20.5, result.stdout
    assert capacity.output_tokens_per_s is not None
    assert capacity.output_tokens_per_s > 0
    assert capacity.bracket_high_rps is not None
    assert capacity.rate_rps < capacity.bracket_high_rps
    assert f"capacity: {capacity.rate_rps:.3g} req/s" in result.stdout
    assert any(not step.passed for step in capacity.steps)
    assert (tmp_path / "load.html").read_text().count('id="capacity-steps"') == 1

    settings = LoadSettings(base_url=url, model="pro")  # the search's default seed, arrival
    overloaded = 0
    for step in capacity.steps:
        folder = tmp_path / Path(step.report).parent
        document = read_document(folder / "load.json")
        assert isinstance(document, LoadReport)
        # Open loop: each step is a run at its own rate, after its own warm-up ...
        assert document.config.mode == "open"
        assert document.config.rate == step.offered_rps
        assert document.config.warmup_s == 2.0
        # ... whose requests all start on the schedule drawn before any answer came back,
        samples = read_samples(folder / "samples")
        window = document.window
        schedule = set(
            intended_starts(settings, step.offered_rps, 1, window.origin_ns, window.end_ns)
        )
        assert {s.t_sched_ns for s in samples if s.t_sched_ns <= window.end_ns} <= schedule
        # ... and past the capacity some are sent late, their wait counted from the schedule.
        if step.offered_rps >= 1.4 * 19.5:
            overloaded += 1
            late = [s for s in samples if s.t_send_ns - s.t_sched_ns > 1_000_000_000]
            assert late or step.unanswered, step
            assert step.ttft_p99_ms is not None
            assert step.ttft_p99_ms > 1000
    assert overloaded >= 1


def test_capacity_needs_an_slo_and_its_own_rates(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/v1"
    no_slo = capacity_cli(url, tmp_path)
    assert no_slo.returncode == 2
    assert "--slo" in no_slo.stderr
    assert "Traceback" not in no_slo.stderr
    sweep = capacity_cli(url, tmp_path, "--slo", "ttft_ms=100", "--sweep-rates", "1,2")
    assert sweep.returncode == 2
    assert "chooses its own rates" in sweep.stderr
    bad = capacity_cli(url, tmp_path, "--slo", "ttft_ms=100", "--capacity-max-steps", "1")
    assert bad.returncode == 2
    assert "at least 2" in bad.stderr
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
