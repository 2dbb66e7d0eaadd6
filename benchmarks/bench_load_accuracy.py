"""How accurately chatgauge's load generator times streams, against server-side truth.

``chatgauge serve`` (TTFT 200 ms, ITL 20 ms, 64 content events per stream, pinned to core
0) logs when it read each request body and wrote its first and last content event; each
load generator (pinned to core 1) holds N streams in a closed loop. Per request, matched by
response id: TTFT bias = client TTFT - server truth TTFT. Printed for chatgauge inside
locust, a minimal asyncio client written for the benchmark and plain locust FastHttpUser
readers, at 1, 64 and 256 streams, with the generator's CPU use, the ratios to the asyncio
client and each generator's capacity (highest content events/s with TTFT bias p99 <= 5 ms).
Figures only: nothing here asserts a timing (see ``_accuracy_support`` for the method).

Run with the bench session (``nox -s bench``), or directly::

    python benchmarks/bench_load_accuracy.py [--measure 15] [--warmup 6] [--only chatgauge:64]

Needs Linux, two cores and ``taskset``. Results: ``benchmarks/results/latest.json``.
``CHATGAUGE_BENCH_MEASURE_S`` / ``CHATGAUGE_BENCH_WARMUP_S`` shorten the pytest run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pytest
from _accuracy_support import GENERATORS, Plan, Timing, render, run_plan, write_results
from pytest_benchmark.fixture import BenchmarkFixture

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _unsupported() -> str | None:
    if not sys.platform.startswith("linux"):
        return "needs Linux (CLOCK_MONOTONIC shared by processes, taskset)"
    if shutil.which("taskset") is None:
        return "needs taskset to pin the server and the generator"
    if (os.cpu_count() or 1) < 2:
        return "needs two cores (one for the server, one for the generator)"
    return None


def _timing_from_env() -> Timing:
    default = Timing()
    return Timing(
        warmup_s=float(os.environ.get("CHATGAUGE_BENCH_WARMUP_S", default.warmup_s)),
        measure_s=float(os.environ.get("CHATGAUGE_BENCH_MEASURE_S", default.measure_s)),
        tail_s=default.tail_s,
    )


def test_load_generator_accuracy(benchmark: BenchmarkFixture) -> None:
    """Every run of the default plan; prints the table and writes ``results/latest.json``."""
    reason = _unsupported()
    if reason:
        pytest.skip(reason)
    print("\nload-generator accuracy runs:", flush=True)
    document = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run_plan, args=(Plan(), _timing_from_env()), rounds=1, iterations=1
    )
    write_results(document, RESULTS)
    benchmark.extra_info["targets"] = document["targets"]
    benchmark.extra_info["capacity"] = document["capacity"]
    print(render(document))
    print(f"results: {RESULTS}")
    assert document["table"], "no run produced figures"


def _only(text: str) -> tuple[str, int]:
    name, _, streams = text.partition(":")
    if name not in GENERATORS or not streams.isdigit():
        raise argparse.ArgumentTypeError(f"want NAME:STREAMS with NAME in {sorted(GENERATORS)}")
    return name, int(streams)


def main() -> None:
    """Run the plan (or only some runs) from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=float, default=Timing().warmup_s, help="seconds")
    parser.add_argument("--measure", type=float, default=Timing().measure_s, help="seconds")
    parser.add_argument(
        "--stagger", type=float, default=Timing().stagger_s, help="spread stream starts (s)"
    )
    parser.add_argument(
        "--only", type=_only, action="append", help="NAME:STREAMS runs only (no capacity search)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON file")
    args = parser.parse_args()
    reason = _unsupported()
    if reason:
        raise SystemExit(reason)
    plan = Plan(table=tuple(args.only), capacity_clients=()) if args.only else Plan()
    timing = Timing(warmup_s=args.warmup, measure_s=args.measure, stagger_s=args.stagger)
    document = run_plan(plan, timing)
    write_results(document, args.output)
    print(render(document))
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
