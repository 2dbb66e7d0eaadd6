"""Bounded memory and constant per-second work of chatgauge's load engine, side by side.

Three figures, in one run (issue 12, item 7):

1. **Memory growth per request**: locust with chatgauge's stock user and ``--report-dir``
   (the per-second ``load.json``, the raw-samples file) at full speed against ``chatgauge
   serve --ttft-ms 0 --itl-ms 0`` (server pinned to core 0, generator to core 1), 32
   users, 16 tokens a request; a short and a long run. Peak RSS of the locust process
   (``wait4``'s ``ru_maxrss``, the final exact pass included); growth per request =
   (peak_long - peak_short) / (requests_long - requests_short). Goal: <= 1 KB/request.
2. **Per-second collector time** at the start and the end of the long run: the CPU time
   (of the thread doing it) of recording requests into the store plus assembling and
   writing the live ``load.json`` (``reference_clients/collector_probe_locustfile.py`` times those
   calls), over 5 s after the warm-up and over the last 5 whole seconds; per second, per
   request recorded and per live document, since the request rate itself varies on a
   busy machine. Goal: equal within noise.
3. **TTFT bias p50/p99 at 64 and 256 streams**, chatgauge (with ``--report-dir``, so the
   per-second rewrite runs) against the minimal asyncio client, by the method of
   ``_accuracy_support`` (server-side truth), in each of ``ROUNDS`` consecutive rounds.
   Goal: chatgauge's p99 bias within 1.5x of the client's in every round.

Figures only: nothing here asserts a timing. Durations come from the environment, so a busy
machine can run a short version: ``CHATGAUGE_BENCH_MEMORY_SHORT_S`` (10),
``CHATGAUGE_BENCH_MEMORY_LONG_S`` (60), ``CHATGAUGE_BENCH_ROUNDS`` (3),
``CHATGAUGE_BENCH_WARMUP_S`` / ``CHATGAUGE_BENCH_MEASURE_S`` (accuracy runs: 5 / 15), or
directly::

    python benchmarks/bench_load_memory.py [--short 10] [--long 60] [--rounds 3]

Needs Linux, two cores and ``taskset``. Results: ``benchmarks/results/memory-latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import pytest
from _accuracy_support import CLIENTS_DIR, GENERATORS, Timing, clock_check, run_once
from bench_load_accuracy import _timing_from_env, _unsupported
from pytest_benchmark.fixture import BenchmarkFixture

from chatgauge.server._subprocess import spawned_server

RESULTS: Final = Path(__file__).resolve().parent / "results" / "memory-latest.json"
USERS: Final = 32
TOKENS: Final = 16
WARMUP_S: Final = 2
EDGE_S: Final = 5
STREAM_COUNTS: Final = (64, 256)
BIAS_RATIO_GOAL: Final = 1.5
KB: Final = 1024
PERIOD_S: Final = 30


def memory_run(seconds: float, out: Path) -> dict[str, Any]:
    """One full-speed run of ``seconds`` (warm-up included): peak RSS, requests, collector."""
    probe = out / "probe.json"
    report = out / "report"
    with spawned_server(["--ttft-ms", "0", "--itl-ms", "0"], prefix=("taskset", "-c", "0")) as url:
        command = ["taskset", "-c", "1", sys.executable, "-m", "locust"]
        command += ["-f", str(CLIENTS_DIR / "collector_probe_locustfile.py"), "--headless"]
        command += ["--host", url, "-u", str(USERS), "-r", str(USERS), "-t", f"{seconds:g}s"]
        command += ["--model", "pro", "--max-tokens", str(TOKENS), "--warmup", f"{WARMUP_S}s"]
        command += ["--report-dir", str(report), "--skip-log-setup", "--loglevel", "ERROR"]
        command += ["--only-summary"]
        env = {**os.environ, "CHATGAUGE_COLLECTOR_PROBE": str(probe)}
        with (out / "locust.log").open("w") as log:
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
    document = json.loads((report / "load.json").read_text())
    calls = json.loads(probe.read_text()) if probe.is_file() else []
    raw = document.get("raw_samples") or {}
    before_final = [used for _, kind, _, used in calls if kind == "rss-kb"]
    return {
        "seconds": seconds,
        "exit_code": child.returncode,
        "peak_rss_kb": usage.ru_maxrss,  # Linux: kilobytes
        "peak_rss_before_final_kb": int(before_final[0]) if before_final else None,
        "requests": int(raw.get("records", 0)),
        "samples_file_bytes": (report / "samples.jsonl").stat().st_size,
        "collector": _collector(calls, seconds),
        "log_tail": (out / "locust.log").read_text(errors="replace")[-300:],
    }


def _collector(calls: list[list[Any]], seconds: float) -> dict[str, Any]:
    """The collector's CPU time near the start and near the end of a run: per second, per
    request recorded, and per live ``load.json`` (assembled and written)."""
    finals = {kind: used for _, kind, _, used in calls if kind in ("final", "final-write")}
    ticks = [int(started) for started, kind, _, _ in calls if kind == "add"]
    if not ticks:
        return {}
    first = WARMUP_S + 2
    last = min(int(seconds) + 1, max(ticks)) - 1  # the last whole second of traffic
    figures: dict[str, Any] = {}
    for label, begin in (("start", first), ("end", max(first, last - EDGE_S))):
        inside = [c for c in calls if begin <= c[0] < begin + EDGE_S]
        adds = [used for _, kind, _, used in inside if kind == "add"]
        live = [used for _, kind, _, used in inside if kind in ("report", "write")]
        reports = sum(1 for _, kind, _, _ in inside if kind == "report")
        figures[label] = {
            "requests_per_s": round(len(adds) / EDGE_S, 1),
            "cpu_ms_per_s": round(1000 * (sum(adds) + sum(live)) / EDGE_S, 2),
            "wall_ms_per_s": round(
                1000 * sum(wall for _, kind, wall, _ in inside if kind != "final") / EDGE_S, 2
            ),
            "cpu_us_per_request": round(1e6 * sum(adds) / len(adds), 1) if adds else None,
            "cpu_ms_per_live_report": round(1000 * sum(live) / reports, 2) if reports else None,
        }
    figures["live_report_ms_by_period"] = _by_period(calls)
    figures["final_exact_report_cpu_s"] = round(finals.get("final", 0.0), 3)
    figures["final_write_cpu_s"] = round(finals.get("final-write", 0.0), 3)
    return figures


def _by_period(calls: list[list[Any]]) -> list[tuple[int, float]]:
    """CPU ms of one live ``load.json`` (assembled + written), averaged over each
    :data:`PERIOD_S` of the run: whether the cost levels off once the document is full."""
    periods: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for started, kind, _, used in calls:
        if kind in ("report", "write"):
            period = int(started // PERIOD_S) * PERIOD_S
            periods.setdefault(period, []).append(used)
            counts[period] = counts.get(period, 0) + (kind == "report")
    return [
        (period, round(1000 * sum(periods[period]) / counts[period], 2))
        for period in sorted(periods)
        if counts.get(period)
    ]


def bias_rounds(rounds: int, timing: Timing) -> list[dict[str, Any]]:
    """TTFT bias p50/p99 of chatgauge and the asyncio client, per round and stream count."""
    clock = clock_check()
    rows = []
    for index in range(1, rounds + 1):
        for streams in STREAM_COUNTS:
            row: dict[str, Any] = {"round": index, "streams": streams}
            for name in ("chatgauge", "asyncio-ref"):
                result = run_once(GENERATORS[name], streams, timing, clock)
                row[name] = {
                    **result.ttft_bias_ms,
                    "requests": result.requests,
                    "generator_cpu_percent": result.generator_cpu_percent,
                    "core_busy_percent": result.core_busy_percent,
                }
                row[f"{name}_notes"] = result.notes
            ours, theirs = row["chatgauge"].get("p99"), row["asyncio-ref"].get("p99")
            row["p99_ratio"] = round(ours / theirs, 2) if ours is not None and theirs else None
            rows.append(row)
            print("    " + _bias_line(row), flush=True)
    return rows


def run_all(short_s: float, long_s: float, rounds: int, timing: Timing) -> dict[str, Any]:
    """Every part; the JSON-ready results document."""
    print(f"\n  memory: {short_s:g} s run ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="chatgauge-memory-") as folder:
        short = memory_run(short_s, Path(folder))
    print(f"  memory: {long_s:g} s run ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="chatgauge-memory-") as folder:
        long = memory_run(long_s, Path(folder))
    extra = long["requests"] - short["requests"]
    growth = (long["peak_rss_kb"] - short["peak_rss_kb"]) * KB / extra if extra > 0 else None
    running = None
    if extra > 0 and long["peak_rss_before_final_kb"] and short["peak_rss_before_final_kb"]:
        delta = long["peak_rss_before_final_kb"] - short["peak_rss_before_final_kb"]
        running = delta * KB / extra
    print("  TTFT bias rounds ...", flush=True)
    bias = bias_rounds(rounds, timing) if rounds else []
    return {
        "benchmark": "bounded memory and constant per-second work",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "conditions": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "users": USERS,
            "tokens_per_request": TOKENS,
            "server": "chatgauge serve --ttft-ms 0 --itl-ms 0 (taskset -c 0)",
            "generator": "locust, chatgauge stock user, --report-dir (taskset -c 1)",
            "accuracy_timing": {"warmup_s": timing.warmup_s, "measure_s": timing.measure_s},
        },
        "memory": {
            "short": short,
            "long": long,
            "growth_bytes_per_request": round(growth, 1) if growth is not None else None,
            "growth_before_final_bytes_per_request": (
                round(running, 1) if running is not None else None
            ),
        },
        "bias": bias,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _bias_line(row: dict[str, Any]) -> str:
    ours, theirs = row["chatgauge"], row["asyncio-ref"]
    ratio = row["p99_ratio"]
    verdict = "-" if ratio is None else ("within" if ratio <= BIAS_RATIO_GOAL else "OVER")
    return (
        f"round {row['round']}  {row['streams']:>3} streams  chatgauge p50 {_ms(ours.get('p50'))}"
        f" p99 {_ms(ours.get('p99'))} ms | asyncio p50 {_ms(theirs.get('p50'))} p99 "
        f"{_ms(theirs.get('p99'))} ms | p99 ratio {ratio if ratio is not None else '-'} "
        f"({verdict} {BIAS_RATIO_GOAL:g}x) | CPU {ours.get('generator_cpu_percent')} / "
        f"{theirs.get('generator_cpu_percent')} %"
    )


def render(document: dict[str, Any]) -> str:
    """The three figures as text, side by side."""
    memory = document["memory"]
    short, long = memory["short"], memory["long"]
    growth = memory["growth_bytes_per_request"]
    lines = [
        f"bounded memory and per-second work ({document['date']}, "
        f"load average {document['conditions']['loadavg_at_end']})",
        f"  memory    {short['seconds']:g} s: {short['requests']} requests, peak RSS "
        f"{short['peak_rss_kb'] / KB:.1f} MB | {long['seconds']:g} s: {long['requests']} "
        f"requests, peak RSS {long['peak_rss_kb'] / KB:.1f} MB | growth "
        f"{'-' if growth is None else f'{growth:.0f}'} bytes/request (goal <= 1024)",
        f"            while running (peak before the final exact pass): growth "
        f"{memory['growth_before_final_bytes_per_request']} bytes/request",
    ]
    c = long["collector"]
    for label in ("start", "end"):
        edge = c.get(label) or {}
        lines.append(
            f"  collector, {long['seconds']:g} s run, {label:<5}: {edge.get('cpu_ms_per_s')} ms "
            f"CPU/s (wall {edge.get('wall_ms_per_s')}) at {edge.get('requests_per_s')} req/s: "
            f"{edge.get('cpu_us_per_request')} us per request recorded, "
            f"{edge.get('cpu_ms_per_live_report')} ms per live load.json"
        )
    periods = c.get("live_report_ms_by_period") or []
    lines.append(
        f"  live load.json CPU ms per {PERIOD_S} s: "
        + ", ".join(f"{start}-{start + PERIOD_S} s {ms}" for start, ms in periods)
    )
    lines.append(
        f"  final exact report from the samples file: {c.get('final_exact_report_cpu_s')} s CPU"
        f" (+ page {c.get('final_write_cpu_s')} s)"
    )
    lines += ["  TTFT bias (chatgauge vs minimal asyncio client):"]
    lines += ["    " + _bias_line(row) for row in document["bias"]]
    return "\n".join(lines)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def test_bounded_memory_and_constant_work(benchmark: BenchmarkFixture) -> None:
    """Every part with the environment's durations; prints the figures, writes the file."""
    reason = _unsupported()
    if reason:
        pytest.skip(reason)
    document = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run_all,
        args=(
            _env_float("CHATGAUGE_BENCH_MEMORY_SHORT_S", 10),
            _env_float("CHATGAUGE_BENCH_MEMORY_LONG_S", 60),
            int(_env_float("CHATGAUGE_BENCH_ROUNDS", 3)),
            _timing_from_env(),
        ),
        rounds=1,
        iterations=1,
    )
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    benchmark.extra_info["growth_bytes_per_request"] = document["memory"][
        "growth_bytes_per_request"
    ]
    print(render(document))
    print(f"results: {RESULTS}")
    assert document["memory"]["long"]["requests"], "the long run recorded no request"


def main() -> None:
    """Run every part from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=float, default=10.0, help="short run (s)")
    parser.add_argument("--long", type=float, default=60.0, help="long run (s)")
    parser.add_argument("--rounds", type=int, default=3, help="TTFT bias rounds (0: none)")
    parser.add_argument("--warmup", type=float, default=Timing().warmup_s, help="accuracy (s)")
    parser.add_argument("--measure", type=float, default=Timing().measure_s, help="accuracy (s)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON file")
    args = parser.parse_args()
    reason = _unsupported()
    if reason:
        raise SystemExit(reason)
    timing = Timing(warmup_s=args.warmup, measure_s=args.measure)
    document = run_all(args.short, args.long, args.rounds, timing)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(render(document))
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
