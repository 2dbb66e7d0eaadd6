"""``chatgauge load``: a headless load test with exact streaming metrics.

A thin shell over :func:`chatgauge.run_load`: the flags become a
:class:`~chatgauge.loadtests.LoadSettings`, the run is locust in a child process (always a
master with ``--processes N`` workers), and the typed ``load.json`` it returns is summarised
here. This process never imports locust.

Exit codes: 0 run completed; 3 the run failed (SLOs missed, the error budget exceeded, or
the endpoint down for ``--abort-after``); 2 usage error or endpoint unreachable (or refusing
a minimal request); 130 interrupted (Ctrl-C: the child writes the results measured so far);
1 the load generator failed. Every figure the summary prints is named with its population:
the measured requests (scheduled in the window) or the requests finished in the window. The
API key reaches the child through its environment, never its command line, and never
appears in any output or file.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Final

from chatgauge._argtypes import byte_size, non_negative_int, positive_int
from chatgauge._limits import Limits
from chatgauge._secret import Secret, redact
from chatgauge.cli._errors import UsageError
from chatgauge.cli._help import LOAD_EXIT_CODES, HelpFormatter, exit_codes
from chatgauge.loadtests._launch import (
    EndpointUnavailable,
    GeneratorFailed,
    LoadInterrupted,
    run_load,
)
from chatgauge.loadtests._options import (
    ARRIVALS,
    DEFAULT_INPUT_WORDS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_TIMEOUT_S,
    parse_duration,
    parse_number_list,
    parse_step,
)
from chatgauge.loadtests._options_capacity import add_capacity_arguments
from chatgauge.loadtests._options_verdicts import (
    DEFAULT_ABORT_AFTER_S,
    DEFAULT_MAX_BACKOFF_S,
    DEFAULT_SWEEP_MIN_REQUESTS,
    parse_error_rate,
)
from chatgauge.loadtests._options_workload import workload_options
from chatgauge.loadtests._settings import (
    CLOSED_LOOP_USERS,
    OPEN_LOOP_USERS,
    LoadSettings,
    LoadSettingsError,
)
from chatgauge.loadtests._slo import parse_slo
from chatgauge.results import terminal_text
from chatgauge.results.load import HTML_NAME, JSON_NAME, LoadReport, LoadStatus

_LIMITS: Final = Limits()

FLAGS: Final = {
    "base_url": "--base-url",
    "model": "--model",
    "users": "--users",
    "processes": "--processes",
    "rate": "--rate",
    "arrival": "--arrival",
    "duration_s": "--duration",
    "warmup_s": "--warmup",
    "max_requests": "--max-requests",
    "ramp_s": "--ramp",
    "step": "--step",
    "sweep_rates": "--sweep-rates",
    "sweep_users": "--sweep-users",
    "sweep_time_s": "--sweep-time",
    "max_tokens": "--max-tokens",
    "input_tokens": "--input-tokens",
    "timeout_s": "--timeout",
    "slos": "--slo",
    "server_metrics": "--server-metrics",
    "max_error_rate": "--max-error-rate",
    "abort_after_s": "--abort-after",
    "max_backoff_s": "--max-backoff",
    "sweep_warmup_s": "--sweep-warmup",
    "sweep_min_requests": "--sweep-min-requests",
}
"""The flag of each setting, to say settings errors in the command line's words."""


def register(subparsers: Any) -> None:
    """Add the ``load`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "load",
        help="run a load test with exact streaming metrics",
        description=(
            "Load-test POST {base_url}/chat/completions with locust and write load.json "
            "(rewritten every second) and load.html. Exit code 0: completed; 3: SLOs missed, "
            "error budget exceeded or endpoint down; 2: usage error or endpoint unreachable; "
            "130: interrupted."
        ),
        epilog=exit_codes(LOAD_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    endpoint = parser.add_argument_group("endpoint")
    endpoint.add_argument(
        "--base-url",
        metavar="URL",
        help="base URL incl. the API prefix, e.g. http://127.0.0.1:8000/v1 "
        "(default: $OPENAI_BASE_URL)",
    )
    endpoint.add_argument("--model", metavar="NAME", help="model name to request")
    endpoint.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key (default: $OPENAI_API_KEY; prefer the variable, arguments are visible "
        "to other processes)",
    )
    endpoint.add_argument(
        "--insecure", action="store_true", help="do not verify the TLS certificate"
    )
    endpoint.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help="seconds a request may wait for its next bytes (default: %(default)s)",
    )
    load = parser.add_argument_group("load model")
    load.add_argument(
        "--users",
        type=positive_int,
        metavar="N",
        help=f"concurrent requests (closed loop, default {CLOSED_LOOP_USERS}); with --rate "
        f"the cap on requests in flight (default {OPEN_LOOP_USERS})",
    )
    load.add_argument(
        "--rate", type=_positive_float, metavar="R", help="open loop: R requests per second"
    )
    load.add_argument(
        "--arrival",
        choices=ARRIVALS,
        default="poisson",
        help="open-loop arrivals (default: %(default)s)",
    )
    load.add_argument(
        "--duration",
        type=_duration,
        default=30.0,
        metavar="TIME",
        help="measured time after the warm-up, e.g. 30s, 2m (default: 30s)",
    )
    load.add_argument(
        "--warmup",
        type=_duration,
        default=5.0,
        metavar="TIME",
        help="time excluded from statistics at the start (default: 5s)",
    )
    load.add_argument(
        "--max-requests", type=positive_int, metavar="N", help="stop after N requests"
    )
    load.add_argument("--ramp", type=_duration, metavar="TIME", help="grow users over TIME")
    load.add_argument(
        "--step",
        type=_step,
        metavar="USERS:TIME",
        help="start with USERS users, add USERS every TIME up to --users",
    )
    load.add_argument(
        "--sweep-rates",
        metavar="R1,R2,...",
        help="sweep these rates (needs --slo); reports the highest meeting every SLO",
    )
    load.add_argument(
        "--sweep-users",
        metavar="N1,N2,...",
        help="sweep these concurrencies (needs --slo); reports the highest meeting every SLO",
    )
    load.add_argument(
        "--sweep-time",
        type=_duration,
        default=10.0,
        metavar="TIME",
        help="length of each sweep step, warm-up included (default: 10s)",
    )
    load.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        metavar="N",
        help="load-generating processes (default: %(default)s)",
    )
    load.add_argument("--seed", type=int, default=0, help="seed of Poisson arrivals")
    load.add_argument(
        "--sweep-warmup",
        type=_duration,
        metavar="TIME",
        help="warm-up of each sweep step, left out of its figures (default: 20%% of the step)",
    )
    load.add_argument(
        "--sweep-min-requests",
        type=non_negative_int,
        default=DEFAULT_SWEEP_MIN_REQUESTS,
        metavar="N",
        help="a sweep step measuring fewer requests is insufficient, never the best "
        "(default: %(default)s)",
    )
    _add_failure_arguments(parser)
    requests = parser.add_argument_group("requests")
    requests.add_argument(
        "--max-tokens",
        type=positive_int,
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help="max_tokens of each request (default: %(default)s)",
    )
    requests.add_argument(
        "--input-tokens",
        type=positive_int,
        default=DEFAULT_INPUT_WORDS,
        metavar="N",
        help="synthetic prompt length in words, about 1.3 tokens each (default: %(default)s)",
    )
    requests.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE",
        help='JSONL prompts, one {"messages": [...]} or {"prompt": "..."} per line',
    )
    requests.add_argument(
        "--no-usage",
        action="store_true",
        help="do not ask for usage in streams (count token events instead)",
    )
    requests.add_argument("--no-stream", action="store_true", help="send non-streamed requests")
    output = parser.add_argument_group("results")
    output.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="NAME=MS",
        help="service level objective, e.g. ttft_ms=500 or tpot_ms=50 (repeatable)",
    )
    output.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where to write load.json and load.html (default: %(default)s)",
    )
    add_capacity_arguments(parser)
    parser.set_defaults(handler=run)


def _add_failure_arguments(parser: argparse.ArgumentParser) -> None:
    failing = parser.add_argument_group("failing endpoints and answer limits")
    failing.add_argument(
        "--max-error-rate",
        type=_error_rate,
        default=0.01,
        metavar="RATE",
        help="error budget: more failed measured requests than this fraction (0.01 or 1%%) "
        "fails the run, exit 3 (default: 1%%)",
    )
    failing.add_argument(
        "--abort-after",
        type=_duration,
        default=DEFAULT_ABORT_AFTER_S,
        metavar="TIME",
        help="stop the run as 'endpoint down' (exit 3) after this long with failures and no "
        "success (default: 30s)",
    )
    failing.add_argument(
        "--max-backoff",
        type=_duration,
        default=DEFAULT_MAX_BACKOFF_S,
        metavar="TIME",
        help="longest a user waits after a refused connection, 429 or 503 (Retry-After is "
        "honoured up to this; default: 10s)",
    )
    failing.add_argument(
        "--total-timeout",
        type=_positive_float,
        default=_LIMITS.total_timeout_s,
        metavar="S",
        help="total deadline of one request, connect to last byte (default: %(default)s)",
    )
    failing.add_argument(
        "--max-body-bytes",
        type=byte_size,
        default=_LIMITS.max_body_bytes,
        metavar="SIZE",
        help="largest answer body accepted, e.g. 16MiB (default: 16MiB)",
    )
    failing.add_argument(
        "--max-events",
        type=positive_int,
        default=_LIMITS.max_events,
        metavar="N",
        help="most SSE events accepted in one stream (default: %(default)s)",
    )
    failing.add_argument(
        "--max-line-bytes",
        type=byte_size,
        default=_LIMITS.max_line_bytes,
        metavar="SIZE",
        help="longest event-stream line accepted (default: 16MiB)",
    )
    failing.add_argument(
        "--max-interim-responses",
        type=positive_int,
        default=_LIMITS.max_interim_responses,
        metavar="N",
        help="most 1xx interim responses before the answer (default: %(default)s)",
    )
    failing.add_argument(
        "--max-header-bytes",
        type=byte_size,
        default=_LIMITS.max_header_bytes,
        metavar="SIZE",
        help="largest response head accepted, e.g. 64KiB (default: 64KiB)",
    )


def _error_rate(text: str) -> float:
    try:
        return parse_error_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--max-error-rate: ")) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _step(text: str) -> tuple[int, float]:
    try:
        return parse_step(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def settings_from_args(args: argparse.Namespace) -> LoadSettings:
    """The load test the flags ask for (``UsageError`` with one line when they cannot)."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise UsageError("no endpoint: pass --base-url URL or set OPENAI_BASE_URL")
    if not args.model:
        raise UsageError("no model: pass --model NAME")
    key_text = args.api_key or os.environ.get("OPENAI_API_KEY")
    key = Secret(key_text) if key_text else None
    try:
        slos: dict[str, float] = {b.name: b.max_ms for b in map(parse_slo, args.slo)}
        sweep_rates = _numbers(args.sweep_rates, integer=False, name="--sweep-rates")
        sweep_users = _numbers(args.sweep_users, integer=True, name="--sweep-users")
        workload = workload_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return LoadSettings(
        base_url=base_url,
        model=args.model,
        api_key=key,
        users=args.users,
        rate=args.rate,
        arrival=args.arrival,
        duration_s=args.duration,
        warmup_s=args.warmup,
        max_requests=args.max_requests,
        ramp_s=args.ramp,
        step=args.step,
        sweep_rates=sweep_rates,
        sweep_users=tuple(int(v) for v in sweep_users),
        sweep_time_s=args.sweep_time,
        processes=args.processes,
        seed=args.seed,
        max_tokens=args.max_tokens,
        input_tokens=args.input_tokens,
        prompts=args.prompts,
        include_usage=not args.no_usage,
        stream=not args.no_stream,
        verify_tls=not args.insecure,
        timeout_s=args.timeout,
        slos=slos,
        report_dir=args.report_dir,
        progress=True,
        server_metrics=getattr(args, "server_metrics", None),
        workload=workload,
        max_error_rate=args.max_error_rate,
        abort_after_s=args.abort_after,
        max_backoff_s=args.max_backoff,
        limits=Limits(
            total_timeout_s=args.total_timeout,
            max_body_bytes=args.max_body_bytes,
            max_events=args.max_events,
            max_line_bytes=args.max_line_bytes,
            max_interim_responses=args.max_interim_responses,
            max_header_bytes=args.max_header_bytes,
        ),
        sweep_warmup_s=args.sweep_warmup,
        sweep_min_requests=args.sweep_min_requests,
    )


def _numbers(text: str | None, *, integer: bool, name: str) -> tuple[float, ...]:
    return tuple(parse_number_list(text, integer=integer, name=name)) if text else ()


def run(args: argparse.Namespace) -> int:
    """Handle ``chatgauge load``; returns the exit code."""
    if getattr(args, "capacity", False):
        from chatgauge.cli._load_capacity import run_capacity_search

        return run_capacity_search(args, settings_from_args(args))
    return run_settings(settings_from_args(args))


def run_settings(settings: LoadSettings) -> int:
    """Run ``settings`` as the command line does (header, progress, summary); the exit code."""
    key = settings.api_key
    directory = settings.report_dir or Path("reports")
    try:
        settings.check()
        print(
            f"chatgauge load: {settings.base_url} model {terminal_text(settings.model)}, "
            f"{settings.describe()}; results in {directory}",
            flush=True,
        )
        report = run_load(settings)
    except LoadSettingsError as exc:
        raise UsageError(_in_flags(redact(str(exc), key))) from None
    except EndpointUnavailable as exc:
        raise UsageError(terminal_text(str(exc))) from None
    except GeneratorFailed as exc:
        print(f"chatgauge: {terminal_text(str(exc))}", file=sys.stderr)
        return 2 if exc.exit_code == 2 else 1
    except LoadInterrupted as interrupted:
        where = interrupted.path or directory / JSON_NAME
        if interrupted.report is not None:
            print(summary(interrupted.report, key))
        print(f"\ninterrupted; results measured so far in {where}")
        return 130
    print(summary(report, key))
    print(f"reports: {directory / JSON_NAME}, {directory / HTML_NAME}")
    if report.status is LoadStatus.INTERRUPTED:
        return 130  # stopped early without a Ctrl-C here (a worker stopped): no verdict
    return 3 if report.failures() else 0


def _in_flags(message: str) -> str:
    """A settings error with each `setting` shown as its flag."""
    return re.sub(r"`(\w+)`", lambda m: FLAGS.get(m.group(1), m.group(1)), message)


def summary(report: LoadReport, key: Secret | None = None) -> str:
    """The closing lines, each figure named with its population: measured requests
    (scheduled in the window) for counts, latencies and SLOs; requests finished in the
    window for rates. Then the generator's verdict, the errors and the run's verdict."""
    requests, throughput, metrics = report.requests, report.throughput, report.metrics
    generator = report.generator
    cut = f", {requests.cut_off} cut off at the end" if requests.cut_off else ""
    _, ttft = report.user_metric("ttft")
    _, e2e = report.user_metric("e2e")
    basis = "from intended start" if report.latency_basis == "intended_start" else "from send"
    lines = [
        f"\nmeasured requests (scheduled in the {throughput.window_s:.1f} s window): "
        f"{requests.total}: {requests.completed} completed, {requests.failed} failed{cut}",
        *_unsent_lines(report),
        f"finished in the window: {throughput.requests_completed} successful, "
        f"{_number(throughput.requests_per_s)} req/s, "
        f"{_number(throughput.output_tokens_per_s)} output tok/s",
        f"measured latency ({basis}, judged): TTFT p50 {_ms(ttft.p50)} p99 {_ms(ttft.p99)}, "
        f"E2E p99 {_ms(e2e.p99)}; TPOT p50 {_ms(metrics.tpot_ms.p50)}, "
        f"ITL p99 {_ms(metrics.itl_ms.p99)}",
    ]
    if report.latency_basis == "intended_start":
        lines.append(
            f"  diagnostic, from send (server only, not judged): TTFT p50 "
            f"{_ms(metrics.ttft_ms.p50)} p99 {_ms(metrics.ttft_ms.p99)}, "
            f"E2E p99 {_ms(metrics.e2e_ms.p99)}"
        )
    lines.append(f"generator: {generator.verdict.value}")
    lines += [f"  {reason}" for reason in generator.reasons]
    for error in report.errors:
        lines.append(f"errors: {error.count} x {error.kind}: {error.example}")
    budget = report.error_budget
    if budget.error_rate is not None:
        lines.append(
            f"error budget: {budget.error_rate:.2%} of {budget.requests} measured requests "
            f"failed (budget {budget.max_error_rate:.2%})"
        )
    if budget.backoffs:
        lines.append(
            f"backoff: the users paused {budget.backoffs} times after refused or reset "
            "connections, 429 or 503 answers"
        )
    lines += _verdict_lines(report)
    return terminal_text(redact("\n".join(lines), key))


def _unsent_lines(report: LoadReport) -> list[str]:
    """The open loop's slots that never went out, when there were any."""
    unsent = report.requests.unsent
    if not unsent:
        return []
    return [
        f"  + {unsent} more were due by the schedule but never sent (all {report.config.users} "
        "users busy): not in these counts or latencies; more --users would send them"
    ]


def _verdict_lines(report: LoadReport) -> list[str]:
    lines = []
    if report.sweep is not None:
        best = report.sweep.best_step
        lines.append(
            f"sweep: highest {report.sweep.kind} meeting every SLO: {best.value:g}"
            if best is not None
            else "sweep: no step met every SLO"
        )
        lines += [f"  note: {note}" for note in report.sweep.notes]
    if report.status is LoadStatus.INTERRUPTED:
        planned = report.config.run_time_s
        of = f" of {planned:g} s planned" if planned else ""
        lines.append(
            f"run INTERRUPTED after {report.elapsed_s:.1f} s{of}: the figures cover only that "
            "time; no verdict"
        )
        return lines
    failures = report.failures()
    if report.status is LoadStatus.ABORTED:
        lines.append(f"run ABORTED: {report.stop_reason}")
    if report.sweep is None and report.goodput.met is not None:
        lines.append("SLOs met" if report.goodput.met else "SLOs MISSED")
    if failures:
        lines.append("FAILED: " + "; ".join(failures))
    return lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


__all__ = ["register", "run", "run_settings", "settings_from_args", "summary"]
