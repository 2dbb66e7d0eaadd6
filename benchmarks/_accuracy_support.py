"""Load-generator accuracy against server-side truth: runs, matching, figures, the table.

One *run* = one ``chatgauge serve`` (pinned to core 0, TTFT 200 ms, ITL 20 ms, 64 content
events per stream, timing log on) and one load generator (pinned to core 1) holding N
streams in a closed loop. Timeline, on the machine's monotonic clock::

    launch --- warm-up --- w0 ===== measured window ===== w1 --- tail --- generator ends

- Requests are *in the window* when the server finished reading their body inside
  ``[w0, w1)``; the tail lets every one of them complete. Warm-up (process start, users
  spawning, connections opening) is never measured.
- TTFT bias of a request = client TTFT - true TTFT
  = ``(t_first_token - t_send)`` (client stamps) ``- (t_first_content - t_body_read)``
  (server stamps), matched by the response id. A difference of two intervals, each taken
  on one clock, so no offset between the clocks enters it.
- The bias splits into two absolute delays (same clock, offset applied): client send ->
  server body read (transmission and the server's input lag) and server first content
  written -> client first token stamp (delivery, hub/loop wait and the client's stamping).
- ITL: the client's pooled gaps between token events vs the server's truth per request,
  ``(t_last_content - t_first_content) / (events - 1)``; p50 of each. The server logs no
  single gaps, so the like-for-like error is per request: the client's mean gap minus the
  server's (``itl_request_delta_ms``, p50/p99 over requests).
- Generator CPU: user+system time of the generator's processes over ``[w0, w1]`` (psutil),
  as % of one core; busy % of each core over the window shows what else ran.
- Events/s: content events the client received with stamps inside the window / its length.

Client stamps are ``perf_counter_ns`` and server stamps ``monotonic_ns``: on Linux both are
``CLOCK_MONOTONIC``; :func:`clock_check` verifies it and measures any offset, which is
applied where absolute stamps are compared (the window), never needed for the bias.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil  # type: ignore[import-untyped]

from chatgauge.server._subprocess import spawned_server

HERE: Final = Path(__file__).resolve().parent
CLIENTS_DIR: Final = HERE / "reference_clients"
SERVER_CORE: Final = "0"
GENERATOR_CORE: Final = "1"
TTFT_MS: Final = 200
ITL_MS: Final = 20
OUTPUT_TOKENS: Final = 64
MODEL: Final = "pro"
BIAS_P99_BOUND_MS: Final = 5.0
STREAM_S: Final = (TTFT_MS + (OUTPUT_TOKENS - 1) * ITL_MS) / 1000
_MS: Final = 1_000_000
_PROMPT: Final = (
    "river stone lantern orchard harbor meadow copper signal window garden thunder pocket "
    "violet ladder canyon marble feather compass winter engine silver bridge candle forest "
    "island rocket shadow velvet basket mirror planet saddle"
)
_TOOLS: Final = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {
                "type": "object",
                "properties": {"word": {"type": "string"}},
                "required": ["word"],
            },
        },
    }
]
REQUEST_BODY: Final[dict[str, Any]] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": _PROMPT}],
    "max_tokens": OUTPUT_TOKENS,
    "stream": True,
    "stream_options": {"include_usage": True},
    # The reference server's text is 16..40 tokens; with --fault tools-ignored a request
    # offering a tool gets text running on to max_tokens: exactly 64 content events.
    "tools": _TOOLS,
}
SERVER_ARGS: Final = (
    "--ttft-ms",
    str(TTFT_MS),
    "--itl-ms",
    str(ITL_MS),
    "--fault",
    "tools-ignored",
    "--model",
    MODEL,
)


@dataclass(frozen=True)
class Timing:
    """How long each phase of a run lasts, and how the streams' starts are spread (seconds).

    ``stagger_s``: the k-th of N streams starts ``k * stagger_s / N`` after the first, inside
    the warm-up. The default, one stream's length, spreads a closed loop's streams evenly
    over its cycle. Started together (0), the streams of a closed loop against a server with
    a fixed stream length stay in phase forever: they all end together and their next
    requests reach the server in one burst each cycle, and the server's time to read such a
    burst (its input lag, the same for every client) dominates the p99 of every client.
    """

    warmup_s: float = 5.0
    measure_s: float = 15.0
    tail_s: float = 2.0
    stagger_s: float = STREAM_S


@dataclass(frozen=True)
class ClientRecord:
    """One request as a client saw it (stamps on its perf_counter clock)."""

    id: str | None
    t_send_ns: int
    token_ns: tuple[int, ...]
    error: str | None


@dataclass(frozen=True)
class ServerRecord:
    """One streamed request as the server wrote it (stamps on its monotonic clock)."""

    id: str
    t_body_read_ns: int
    t_first_content_ns: int
    t_last_content_ns: int
    events: int


@dataclass(frozen=True)
class Generator:
    """A load generator: how to start it for N streams and where its records end up."""

    name: str
    description: str
    command: Callable[[str, int, float, float, Path], list[str]]
    records: Callable[[Path], list[ClientRecord]]


@dataclass
class RunResult:
    """The figures of one run (``None`` where nothing was measured)."""

    client: str
    streams: int
    requests: int
    lost: int
    errors: int
    token_mismatches: int
    ttft_bias_ms: dict[str, float | None]
    send_to_body_read_ms: dict[str, float | None]
    first_write_to_stamp_ms: dict[str, float | None]
    true_ttft_p50_ms: float | None
    itl_client_p50_ms: float | None
    itl_truth_p50_ms: float | None
    itl_delta_ms: float | None
    itl_request_delta_ms: dict[str, float | None]
    generator_cpu_percent: float
    server_cpu_percent: float
    core_busy_percent: dict[str, float]
    events_per_s: float
    loadavg_before: tuple[float, float, float]
    notes: list[str] = field(default_factory=list)

    @property
    def accurate(self) -> bool:
        """Whether the run meets the capacity bound (TTFT bias p99 within 5 ms, no loss)."""
        p99 = self.ttft_bias_ms.get("p99")
        return (
            p99 is not None
            and p99 <= BIAS_P99_BOUND_MS
            and self.requests > 0
            and self.lost == 0
            and self.errors == 0
        )


# -- clocks -----------------------------------------------------------------------------


def clock_check(rounds: int = 2000) -> dict[str, Any]:
    """Which clocks ``perf_counter`` and ``monotonic`` read, and their offset (ns).

    The offset is taken from the tightest of ``rounds`` bracketing reads
    ``monotonic, perf_counter, monotonic``; ``uncertainty_ns`` is that bracket's width.
    """
    best: tuple[int, int] | None = None
    for _ in range(rounds):
        before = time.monotonic_ns()
        perf = time.perf_counter_ns()
        after = time.monotonic_ns()
        candidate = (after - before, perf - (before + after) // 2)
        if best is None or candidate[0] < best[0]:
            best = candidate
    assert best is not None
    perf_clock = time.get_clock_info("perf_counter").implementation
    monotonic_clock = time.get_clock_info("monotonic").implementation
    # Under a microsecond apart is the same clock read twice; otherwise correct by it.
    same = perf_clock == monotonic_clock and abs(best[1]) <= best[0] + 1000
    return {
        "perf_counter": perf_clock,
        "monotonic": monotonic_clock,
        "offset_ns": best[1],
        "uncertainty_ns": best[0],
        "same_clock": same,
        "correction_ns": 0 if same else best[1],
    }


# -- generators -----------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plain_records(path: Path) -> list[ClientRecord]:
    return [
        ClientRecord(
            id=item.get("id"),
            t_send_ns=int(item["t_send_ns"]),
            token_ns=tuple(item.get("token_ns") or ()),
            error=item.get("error"),
        )
        for item in _read_jsonl(path)
    ]


def _chatgauge_records(folder: Path) -> list[ClientRecord]:
    """The requests of chatgauge's raw-samples file (``--report-dir``'s ``samples.jsonl``),
    the export users read: no second copy of each sample is written for the benchmark."""
    records: list[ClientRecord] = []
    for path in sorted(folder.glob("samples*.jsonl")):
        for item in _read_jsonl(path):
            records.append(
                ClientRecord(
                    id=item.get("response_id"),
                    t_send_ns=int(item["t_send_ns"]),
                    token_ns=tuple(item.get("token_event_ns") or ()),
                    error=item.get("error"),
                )
            )
    return records


def _locust(locustfile: str, url: str, streams: int, seconds: float, stagger_s: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(CLIENTS_DIR / locustfile),
        "--headless",
        "--host",
        url,
        "-u",
        str(streams),
        "-r",
        str(streams),
        "-t",
        f"{math.ceil(seconds)}s",
        "--stop-timeout",
        "5",
        "--skip-log-setup",
        "--loglevel",
        "ERROR",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stagger",
        str(stagger_s),
    ]


def _chatgauge_command(
    url: str, streams: int, seconds: float, stagger_s: float, out: Path
) -> list[str]:
    return [
        *_locust("chatgauge_locustfile.py", url, streams, seconds, stagger_s),
        "--model",
        MODEL,
        "--max-tokens",
        str(OUTPUT_TOKENS),
        # As users run it: load.json rewritten every second, the raw-samples file written.
        "--report-dir",
        str(out / "report"),
    ]


def _fasthttp_command(reader: str) -> Callable[[str, int, float, float, Path], list[str]]:
    def command(url: str, streams: int, seconds: float, stagger_s: float, out: Path) -> list[str]:
        return [
            *_locust("fasthttp_locustfile.py", url, streams, seconds, stagger_s),
            "--reader",
            reader,
            "--body",
            json.dumps(REQUEST_BODY),
            "--records",
            str(out / "records.jsonl"),
        ]

    return command


def _asyncio_command(
    url: str, streams: int, seconds: float, stagger_s: float, out: Path
) -> list[str]:
    return _asyncio_base(url, streams, seconds, stagger_s, out)


def _uvloop_command(
    url: str, streams: int, seconds: float, stagger_s: float, out: Path
) -> list[str]:
    return [*_asyncio_base(url, streams, seconds, stagger_s, out), "--uvloop"]


def _asyncio_base(url: str, streams: int, seconds: float, stagger_s: float, out: Path) -> list[str]:
    return [
        sys.executable,
        str(CLIENTS_DIR / "asyncio_reference.py"),
        "--base-url",
        url,
        "--streams",
        str(streams),
        "--seconds",
        str(seconds),
        "--body",
        json.dumps(REQUEST_BODY),
        "--records",
        str(out / "records.jsonl"),
        "--stagger",
        str(stagger_s),
    ]


GENERATORS: Final = {
    generator.name: generator
    for generator in (
        Generator(
            "chatgauge",
            "chatgauge StreamingChatUser in locust (one local process)",
            _chatgauge_command,
            lambda out: _chatgauge_records(out / "report"),
        ),
        Generator(
            "asyncio-ref",
            "minimal asyncio client written for the benchmark",
            _asyncio_command,
            lambda out: _plain_records(out / "records.jsonl"),
        ),
        Generator(
            "asyncio-uvloop",
            "the same minimal client on uvloop",
            _uvloop_command,
            lambda out: _plain_records(out / "records.jsonl"),
        ),
        Generator(
            "fasthttp-readline",
            "locust FastHttpUser, stream=True + readline(b'\\n')",
            _fasthttp_command("readline"),
            lambda out: _plain_records(out / "records.jsonl"),
        ),
        Generator(
            "fasthttp-iter_lines",
            "locust FastHttpUser, client.iter_lines() (the naive way)",
            _fasthttp_command("iter_lines"),
            lambda out: _plain_records(out / "records.jsonl"),
        ),
    )
}


# -- one run ---------------------------------------------------------------------------


def _cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _core_busy(before: Sequence[Any], after: Sequence[Any]) -> dict[str, float]:
    busy: dict[str, float] = {}
    for core, (start, end) in enumerate(zip(before, after, strict=True)):
        total = sum(end) - sum(start)
        idle = (end.idle + getattr(end, "iowait", 0.0)) - (
            start.idle + getattr(start, "iowait", 0.0)
        )
        busy[str(core)] = round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0
    return busy


def _server_records(path: Path) -> list[ServerRecord]:
    return [
        ServerRecord(
            id=item["id"],
            t_body_read_ns=item["t_body_read_ns"],
            t_first_content_ns=item["t_first_content_ns"],
            t_last_content_ns=item["t_last_content_ns"],
            events=item["events"],
        )
        for item in _read_jsonl(path)
        if item.get("t_first_content_ns") is not None
    ]


def _server_process(log: Path) -> psutil.Process | None:
    """Our ``chatgauge serve`` child: the one writing ``log``."""
    for child in psutil.Process().children(recursive=True):
        try:
            if str(log) in child.cmdline() and "serve" in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def run_once(
    generator: Generator, streams: int, timing: Timing, clock: dict[str, Any]
) -> RunResult:
    """One server, one generator at ``streams`` streams; the figures of the window."""
    loadavg = os.getloadavg()
    total_s = timing.warmup_s + timing.measure_s + timing.tail_s
    with tempfile.TemporaryDirectory(prefix="chatgauge-accuracy-") as folder:
        out = Path(folder)
        log = out / "timing.jsonl"
        prefix = ("taskset", "-c", SERVER_CORE)
        with spawned_server([*SERVER_ARGS, "--timing-log", str(log)], prefix=prefix) as url:
            server = _server_process(log)
            command = [
                "taskset",
                "-c",
                GENERATOR_CORE,
                *generator.command(url, streams, total_s, timing.stagger_s, out),
            ]
            with (out / "generator.log").open("w") as output:
                child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
                process = psutil.Process(child.pid)
                time.sleep(timing.warmup_s)
                cpu0, server0 = _cpu_seconds(process), _cpu_seconds(server) if server else 0.0
                cores0 = psutil.cpu_times(percpu=True)
                w0 = time.monotonic_ns()
                time.sleep(timing.measure_s)
                w1 = time.monotonic_ns()
                cpu1, server1 = _cpu_seconds(process), _cpu_seconds(server) if server else 0.0
                cores1 = psutil.cpu_times(percpu=True)
                try:
                    child.wait(timeout=total_s + 60)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            generator_log = (out / "generator.log").read_text(errors="replace")
        server_records = _server_records(log)
        client_records = generator.records(out)
    window_s = (w1 - w0) / 1e9
    result = _figures(
        generator.name,
        streams,
        client_records,
        server_records,
        (w0, w1),
        clock["correction_ns"],
    )
    result.generator_cpu_percent = round(100.0 * (cpu1 - cpu0) / window_s, 1)
    result.server_cpu_percent = round(100.0 * (server1 - server0) / window_s, 1)
    result.core_busy_percent = _core_busy(cores0, cores1)
    result.loadavg_before = (round(loadavg[0], 2), round(loadavg[1], 2), round(loadavg[2], 2))
    if child.returncode not in (0, None):
        result.notes.append(f"generator exit code {child.returncode}: {generator_log[-300:]}")
    if not client_records:
        result.notes.append(f"no client records; generator output: {generator_log[-300:]}")
    return result


def _figures(
    client: str,
    streams: int,
    records: list[ClientRecord],
    truth: list[ServerRecord],
    window: tuple[int, int],
    correction_ns: int,
) -> RunResult:
    w0, w1 = window
    in_window = [r for r in truth if w0 <= r.t_body_read_ns < w1]
    by_id = {r.id: r for r in records if r.id is not None and r.error is None}
    errors = sum(
        1 for r in records if r.error is not None and w0 <= r.t_send_ns - correction_ns < w1
    )
    bias: list[float] = []
    send_lag: list[float] = []
    delivery_lag: list[float] = []
    true_ttft: list[float] = []
    gaps: list[float] = []
    truth_itl: list[float] = []
    itl_error: list[float] = []
    mismatches = 0
    lost = 0
    for server in in_window:
        seen = by_id.get(server.id)
        if seen is None or not seen.token_ns:
            lost += 1
            continue
        if len(seen.token_ns) != server.events:
            mismatches += 1
        client_ttft = seen.token_ns[0] - seen.t_send_ns
        server_ttft = server.t_first_content_ns - server.t_body_read_ns
        bias.append((client_ttft - server_ttft) / _MS)
        send_lag.append((server.t_body_read_ns - (seen.t_send_ns - correction_ns)) / _MS)
        delivery_lag.append((seen.token_ns[0] - correction_ns - server.t_first_content_ns) / _MS)
        true_ttft.append(server_ttft / _MS)
        stamps = seen.token_ns
        gaps.extend((b - a) / _MS for a, b in itertools.pairwise(stamps))
        if server.events > 1:
            span = server.t_last_content_ns - server.t_first_content_ns
            truth_itl.append(span / (server.events - 1) / _MS)
            if len(stamps) == server.events:
                seen_span = stamps[-1] - stamps[0]
                itl_error.append((seen_span - span) / (server.events - 1) / _MS)
    received = sum(
        1 for record in records for stamp in record.token_ns if w0 <= stamp - correction_ns < w1
    )
    itl_client = percentile(gaps, 50)
    itl_truth = percentile(truth_itl, 50)
    return RunResult(
        client=client,
        streams=streams,
        requests=len(bias),
        lost=lost,
        errors=errors,
        token_mismatches=mismatches,
        ttft_bias_ms={
            "p50": _round(percentile(bias, 50)),
            "p99": _round(percentile(bias, 99)),
            "max": _round(max(bias) if bias else None),
            "min": _round(min(bias) if bias else None),
        },
        send_to_body_read_ms=_summary(send_lag),
        first_write_to_stamp_ms=_summary(delivery_lag),
        true_ttft_p50_ms=_round(percentile(true_ttft, 50)),
        itl_client_p50_ms=_round(itl_client),
        itl_truth_p50_ms=_round(itl_truth),
        itl_delta_ms=_round(
            itl_client - itl_truth if itl_client is not None and itl_truth is not None else None
        ),
        itl_request_delta_ms=_summary(itl_error),
        generator_cpu_percent=0.0,
        server_cpu_percent=0.0,
        core_busy_percent={},
        events_per_s=round(received / ((w1 - w0) / 1e9)),
        loadavg_before=(0.0, 0.0, 0.0),
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile, linear between closest ranks; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": _round(percentile(values, 50)), "p99": _round(percentile(values, 99))}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- the whole benchmark -----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Which generators run at which stream counts, and the capacity search."""

    table: tuple[tuple[str, int], ...] = (
        ("chatgauge", 1),
        ("asyncio-ref", 1),
        ("fasthttp-readline", 1),
        ("chatgauge", 64),
        ("asyncio-ref", 64),
        ("asyncio-uvloop", 64),
        ("fasthttp-readline", 64),
        ("fasthttp-iter_lines", 64),
        ("chatgauge", 256),
        ("asyncio-ref", 256),
        ("asyncio-uvloop", 256),
        ("fasthttp-readline", 256),
    )
    capacity_clients: tuple[str, ...] = (
        "chatgauge",
        "asyncio-ref",
        "asyncio-uvloop",
        "fasthttp-readline",
    )
    capacity_levels: tuple[int, ...] = (64, 256, 384, 512)


def run_plan(plan: Plan, timing: Timing, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every run of ``plan``; the JSON-ready results document."""
    clock = clock_check()
    runs: dict[tuple[str, int], RunResult] = {}

    def measured(name: str, streams: int) -> RunResult:
        key = (name, streams)
        if key not in runs:
            log(f"  {name} x {streams} streams ...")
            runs[key] = run_once(GENERATORS[name], streams, timing, clock)
            log("    " + _row(runs[key]))
        return runs[key]

    for name, streams in plan.table:
        measured(name, streams)
    capacity: dict[str, Any] = {}
    for name in plan.capacity_clients:
        best: RunResult | None = None
        failed: RunResult | None = None
        for streams in plan.capacity_levels:
            result = measured(name, streams)
            if not result.accurate:
                failed = result
                break
            best = result
        capacity[name] = {
            "events_per_s": best.events_per_s if best else None,
            "streams": best.streams if best else None,
            # What one core would carry at this efficiency: the generator-side ceiling.
            "events_per_cpu_s": (
                round(best.events_per_s * 100 / best.generator_cpu_percent)
                if best and best.generator_cpu_percent > 0
                else None
            ),
            "failed_at_streams": failed.streams if failed else None,
            # A saturated server core delays reading requests: the bound then fails for
            # every client, and the figure is the server's limit, not the generator's.
            "server_cpu_percent_at_failure": failed.server_cpu_percent if failed else None,
            "limited_by_levels": failed is None,
        }
    table = [runs[key] for key in plan.table]
    return {
        "benchmark": "load-generator accuracy against server-side truth",
        "date": time.strftime("%Y-%m-%d"),
        "profile": {
            "ttft_ms": TTFT_MS,
            "itl_ms": ITL_MS,
            "content_events_per_stream": OUTPUT_TOKENS,
            "server": "chatgauge serve --fault tools-ignored (pinned: taskset -c 0)",
            "generator_core": GENERATOR_CORE,
            "closed_loop": True,
        },
        "timing": asdict(timing),
        "clock": clock,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "generators": {name: GENERATORS[name].description for name in GENERATORS},
        "runs": [asdict(result) for result in runs.values()],
        "table": [asdict(result) for result in table],
        "ratios": _ratios(runs),
        "capacity": capacity,
        "capacity_bound": f"TTFT bias p99 <= {BIAS_P99_BOUND_MS:g} ms, no errors, no lost streams",
        "targets": _targets(runs),
    }


def _ratios(runs: dict[tuple[str, int], RunResult]) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    for (name, streams), result in sorted(runs.items()):
        reference = runs.get(("asyncio-ref", streams))
        if name == "asyncio-ref" or reference is None:
            continue
        entry: dict[str, float | None] = {}
        if reference.generator_cpu_percent > 0:
            entry["cpu"] = round(result.generator_cpu_percent / reference.generator_cpu_percent, 2)
        for key in ("p50", "p99"):
            ours, theirs = result.ttft_bias_ms.get(key), reference.ttft_bias_ms.get(key)
            entry[f"bias_{key}"] = round(ours / theirs, 2) if ours is not None and theirs else None
        ratios[f"{name}/asyncio-ref@{streams}"] = entry
    return ratios


def _targets(runs: dict[tuple[str, int], RunResult]) -> dict[str, Any]:
    def bias(streams: int, key: str) -> float | None:
        result = runs.get(("chatgauge", streams))
        return result.ttft_bias_ms.get(key) if result else None

    def check(value: float | None, bound: float) -> dict[str, Any]:
        return {"value": value, "bound": bound, "met": value is not None and value <= bound}

    targets = {
        "ttft_bias_p50_ms@64": check(bias(64, "p50"), 1.0),
        "ttft_bias_p99_ms@64": check(bias(64, "p99"), 5.0),
        "ttft_bias_p99_ms@256": check(bias(256, "p99"), 10.0),
    }
    for streams in (64, 256):
        result = runs.get(("chatgauge", streams))
        delta = result.itl_delta_ms if result else None
        targets[f"itl_p50_abs_delta_ms@{streams}"] = check(
            abs(delta) if delta is not None else None, 0.5
        )
    ours, theirs = runs.get(("chatgauge", 256)), runs.get(("asyncio-ref", 256))
    if ours and theirs:
        targets["cpu_percent@256_vs_asyncio_ref"] = {
            "value": ours.generator_cpu_percent,
            "bound": theirs.generator_cpu_percent,
            "met": ours.generator_cpu_percent <= theirs.generator_cpu_percent,
        }
    return targets


# -- printing ----------------------------------------------------------------------------


_HEADER: Final = (
    f"{'client':<20} {'N':>4} {'reqs':>5} {'bias p50':>8} {'p99':>7} {'max':>7} "
    f"{'send p99':>8} {'dlvr p99':>8} {'ITL p50':>7} {'truth':>6} {'delta':>6} "
    f"{'gen CPU':>7} {'srv CPU':>7} {'ev/s':>6} {'busy 0/1':>9} {'lost/err':>8}"
)


def _ms(value: float | None, sign: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if sign else f"{value:.2f}"


def _row(result: RunResult) -> str:
    bias = result.ttft_bias_ms
    cores = result.core_busy_percent
    busy = f"{cores.get('0', 0):.0f}/{cores.get('1', 0):.0f}%"
    return (
        f"{result.client:<20} {result.streams:>4} {result.requests:>5} {_ms(bias['p50']):>8} "
        f"{_ms(bias['p99']):>7} {_ms(bias['max']):>7} "
        f"{_ms(result.send_to_body_read_ms['p99']):>8} "
        f"{_ms(result.first_write_to_stamp_ms['p99']):>8} "
        f"{_ms(result.itl_client_p50_ms, False):>7} {_ms(result.itl_truth_p50_ms, False):>6} "
        f"{_ms(result.itl_delta_ms):>6} {result.generator_cpu_percent:>6.1f}% "
        f"{result.server_cpu_percent:>6.1f}% {result.events_per_s:>6} {busy:>9} "
        f"{f'{result.lost}/{result.errors}':>8}"
        + (f"  [{'; '.join(result.notes)}]" if result.notes else "")
    )


def render(document: dict[str, Any]) -> str:
    """The table, ratios, capacity and targets as text."""
    clock = document["clock"]
    lines = [
        "",
        f"Load-generator accuracy: TTFT {TTFT_MS} ms, ITL {ITL_MS} ms, {OUTPUT_TOKENS} events "
        f"per stream; server on core {SERVER_CORE}, generator on core {GENERATOR_CORE}; "
        f"window {document['timing']['measure_s']:g} s after {document['timing']['warmup_s']:g} s "
        "warm-up",
        f"clocks: perf_counter = {clock['perf_counter']}, monotonic = {clock['monotonic']}, "
        f"offset {clock['offset_ns']} ns (+-{clock['uncertainty_ns']} ns); bias = client "
        "interval - server interval (offsets cancel)",
        "ms; bias = client TTFT - server truth TTFT per request (matched by id) = send (client "
        "send -> server body read) + dlvr (server first content write -> client stamp); "
        "CPU in % of one core over the window; busy = each core's busy % (all processes)",
        _HEADER,
    ]
    lines += [_row(RunResult(**_tuple_fields(row))) for row in document["table"]]
    extra = [row for row in document["runs"] if row not in document["table"]]
    if extra:
        lines.append("capacity search runs:")
        lines += [_row(RunResult(**_tuple_fields(row))) for row in extra]
    lines.append("ratios vs the minimal asyncio client (same streams):")
    for key, entry in document["ratios"].items():
        text = ", ".join(f"{name} {value}" for name, value in entry.items())
        lines.append(f"  {key}: {text}")
    lines.append(f"capacity (highest content events/s with {document['capacity_bound']}):")
    for name, entry in document["capacity"].items():
        figure = (
            f"{entry['events_per_s']} events/s at {entry['streams']} streams "
            f"({entry['events_per_cpu_s']} events per CPU-second)"
            if entry["events_per_s"] is not None
            else "none: the bound failed at the first level"
        )
        if entry["limited_by_levels"]:
            after = "; the highest level tried (may sustain more)"
        else:
            after = (
                f"; bound failed at {entry['failed_at_streams']} streams (server CPU "
                f"{entry['server_cpu_percent_at_failure']}%)"
            )
        lines.append(f"  {name}: {figure}{after}")
    ours = document["capacity"].get("chatgauge", {}).get("events_per_s")
    theirs = document["capacity"].get("asyncio-ref", {}).get("events_per_s")
    if ours and theirs:
        lines.append(f"  capacity ratio chatgauge/asyncio-ref: {ours / theirs:.2f}")
    lines.append("targets (issue 4):")
    for name, entry in document["targets"].items():
        lines.append(
            f"  {name}: {entry['value']} (bound {entry['bound']}) "
            f"{'met' if entry['met'] else 'MISSED'}"
        )
    return "\n".join(lines)


def _tuple_fields(row: dict[str, Any]) -> dict[str, Any]:
    values = dict(row)
    values["loadavg_before"] = tuple(values["loadavg_before"])
    return values


def write_results(document: dict[str, Any], *paths: Path) -> None:
    """Write the document as indented JSON to every path."""
    text = json.dumps(document, indent=1) + "\n"
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
