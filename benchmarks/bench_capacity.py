"""The capacity search against its analytic ground truth, with the default (long) steps.

``chatgauge serve --max-concurrency 8 --ttft-ms 100 --itl-ms 10 --ignore-eos`` serves each
``max_tokens 32`` request in exactly 0.41 s, so its capacity is 8 / 0.41 = 19.5 req/s.
``chatgauge load --capacity --slo ttft_ms=1000`` with the default plan (from 1 req/s, 5 s
warm-up and 15 s measured per step, 5 % precision) must answer between 15 and 20.5 req/s
(measured 2026-12-02 on a busy two-core machine: 19.5 req/s, bracket 19.5..20, confident).
Prints every step and the answer;
writes ``benchmarks/results/capacity-latest.json``. About five minutes.

Run with the bench session (``nox -s bench``), or directly::

    python benchmarks/bench_capacity.py [--step-time 15s] [--warmup 5s]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

from chatgauge.results import read_document
from chatgauge.results.load import LoadReport
from chatgauge.server import spawned_server

RESULTS = Path(__file__).resolve().parent / "results" / "capacity-latest.json"
GROUND_TRUTH = ("--max-concurrency", "8", "--ttft-ms", "100", "--itl-ms", "10", "--ignore-eos")
ANALYTIC_RPS = 8 / 0.41


def run_search(step_time: str, warmup: str) -> dict[str, Any]:
    """One search; the figures it found, step by step."""
    with tempfile.TemporaryDirectory() as folder, spawned_server(GROUND_TRUTH) as url:
        command = [sys.executable, "-m", "chatgauge", "load", "--base-url", url]
        command += ["--model", "pro", "--max-tokens", "32", "--capacity"]
        command += ["--slo", "ttft_ms=1000", "--capacity-step-time", step_time]
        command += ["--warmup", warmup, "--report-dir", folder]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        print(completed.stdout)
        report = read_document(Path(folder) / "load.json")
    assert isinstance(report, LoadReport)
    capacity = report.capacity
    assert capacity is not None
    return {
        "analytic_rps": ANALYTIC_RPS,
        "rate_rps": capacity.rate_rps,
        "output_tokens_per_s": capacity.output_tokens_per_s,
        "bracket": [capacity.bracket_low_rps, capacity.bracket_high_rps],
        "confidence": capacity.confidence,
        "steps": [
            {
                "offered_rps": s.offered_rps,
                "passed": s.passed,
                "ttft_p99_ms": s.ttft_p99_ms,
                "goodput_rps": s.goodput_rps,
                "reason": s.reason,
            }
            for s in capacity.steps
        ],
        "within_acceptance": capacity.rate_rps is not None and 15 <= capacity.rate_rps <= 20.5,
    }


def test_capacity_search_against_the_ground_truth(benchmark: BenchmarkFixture) -> None:
    """The default search; prints its steps and writes ``results/capacity-latest.json``."""
    document = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run_search, args=("15s", "5s"), rounds=1, iterations=1
    )
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    benchmark.extra_info["rate_rps"] = document["rate_rps"]
    print(f"capacity {document['rate_rps']} req/s (analytic {ANALYTIC_RPS:.1f}); {RESULTS}")
    assert document["rate_rps"] is not None, "no rate met the SLO"


def main() -> None:
    """Run the search from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step-time", default="15s")
    parser.add_argument("--warmup", default="5s")
    args = parser.parse_args()
    document = run_search(args.step_time, args.warmup)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in document.items() if k != "steps"}, indent=2))


if __name__ == "__main__":
    main()
