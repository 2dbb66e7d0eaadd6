"""``chatgauge load``: a headless load test with exact streaming metrics.

The run itself is locust running chatgauge's stock locustfile in a child process, always
as a master with ``--processes N`` workers (N >= 1): the workers only send requests and
stamp bytes, the master merges their raw samples, prints the progress line once a second
and rewrites ``DIR/load.json``, so computing results never delays a stamp. This process
never imports locust (it monkey-patches the interpreter for gevent); it checks the flags,
sends one tiny preflight request and waits for the child.

Exit codes: 0 run completed; 3 SLOs were given and missed; 2 usage error or endpoint
unreachable (or refusing a minimal request); 130 interrupted (Ctrl-C: the child writes the
results measured so far); 1 the load generator failed. The API key reaches the child through
its environment, never its command line, and never appears in any output or file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

from chatgauge._argtypes import positive_int
from chatgauge._client import ChatClient, ClientConfig
from chatgauge._models import ChatCase
from chatgauge._secret import Secret, redact
from chatgauge.cli._errors import UsageError
from chatgauge.cli._help import LOAD_EXIT_CODES, HelpFormatter, exit_codes
from chatgauge.loadtests import STOCK_LOCUSTFILE
from chatgauge.loadtests._metrics import parse_slo
from chatgauge.loadtests._options import (
    API_KEY_ENV,
    ARRIVALS,
    DEFAULT_INPUT_WORDS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_TIMEOUT_S,
    parse_duration,
    parse_number_list,
    parse_step,
)
from chatgauge.loadtests._prompts import PromptFileError, load_prompts

CLOSED_LOOP_USERS: Final = 4
OPEN_LOOP_USERS: Final = 64
SPAWN_PER_PROCESS: Final = 100
INTERRUPT_GRACE_S: Final = 30.0
_MEANINGFUL_REFUSALS: Final = range(400, 500)
_TRANSIENT: Final = (408, 429)


def register(subparsers: Any) -> None:
    """Add the ``load`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "load",
        help="run a load test with exact streaming metrics",
        description=(
            "Load-test POST {base_url}/chat/completions with locust and write load.json "
            "(rewritten every second) and load.html. Exit code 0: completed; 3: SLOs missed; "
            "2: usage error or endpoint unreachable; 130: interrupted."
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
    parser.set_defaults(handler=run)


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


def _step(text: str) -> str:
    try:
        parse_step(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run(args: argparse.Namespace) -> int:
    """Handle ``chatgauge load``; returns the exit code."""
    config = _client_config(args)
    _check_flags(args)
    directory = _report_dir(args.report_dir)
    _preflight(config, args.model)
    command = _locust_command(args, config.base_url, directory)
    environment = dict(os.environ)
    if config.api_key:
        environment[API_KEY_ENV] = config.api_key.reveal()
    print(
        f"chatgauge load: {config.base_url} model {args.model}, {_describe(args)}; "
        f"results in {directory}",
        flush=True,
    )
    child = subprocess.Popen(command, env=environment, start_new_session=True)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        # The child runs in its own session (so a terminal Ctrl-C reaches it only once, from
        # here): one SIGINT makes locust write the results so far and exit.
        child.send_signal(signal.SIGINT)
        try:
            child.wait(INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        print(f"\ninterrupted; results measured so far in {directory / 'load.json'}")
        return 130
    return _finish(code, directory, config.api_key)


def _client_config(args: argparse.Namespace) -> ClientConfig:
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise UsageError("no endpoint: pass --base-url URL or set OPENAI_BASE_URL")
    if not args.model:
        raise UsageError("no model: pass --model NAME")
    key_text = args.api_key or os.environ.get("OPENAI_API_KEY")
    key = Secret(key_text) if key_text else None
    try:
        return ClientConfig(
            base_url=base_url,
            api_key=key,
            verify_tls=not args.insecure,
            read_timeout_s=args.timeout,
        )
    except ValueError as exc:
        raise UsageError(redact(str(exc), key)) from None


def _check_flags(args: argparse.Namespace) -> None:
    """Everything the child would reject, as one line here (exit 2)."""
    try:
        for text in args.slo:
            parse_slo(text)
        if args.sweep_rates:
            parse_number_list(args.sweep_rates, integer=False, name="--sweep-rates")
        if args.sweep_users:
            parse_number_list(args.sweep_users, integer=True, name="--sweep-users")
        if args.prompts is not None:
            load_prompts(args.prompts)
    except (ValueError, PromptFileError) as exc:
        raise UsageError(str(exc)) from None
    sweep = args.sweep_rates or args.sweep_users
    if args.sweep_rates and args.sweep_users:
        raise UsageError("give --sweep-rates or --sweep-users, not both")
    if sweep and not args.slo:
        raise UsageError("a sweep looks for the highest load meeting the SLOs: give --slo")
    if sum(bool(x) for x in (args.ramp, args.step, sweep)) > 1:
        raise UsageError("choose one of --ramp, --step and a sweep")
    if args.rate and args.sweep_users:
        raise UsageError("--sweep-users sweeps a closed loop; leave out --rate")
    if sweep and args.warmup >= args.sweep_time:
        raise UsageError("--warmup must be shorter than --sweep-time (it applies to each step)")
    users = _users(args)
    if users < args.processes:
        raise UsageError(
            f"--users {users} is fewer than --processes {args.processes}: "
            "some processes would have nobody to run"
        )


def _users(args: argparse.Namespace) -> int:
    if args.users is not None:
        return int(args.users)
    if args.sweep_users:
        return int(parse_number_list(args.sweep_users, integer=True, name="--sweep-users")[0])
    return OPEN_LOOP_USERS if (args.rate or args.sweep_rates) else CLOSED_LOOP_USERS


def _report_dir(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report directory {directory}: {exc.strerror}") from None
    return directory


def _preflight(config: ClientConfig, model: str) -> None:
    """One tiny request: no HTTP answer, or a refusal that every request would get, is exit 2."""
    case = ChatCase(
        body={
            "model": model,
            "messages": [{"role": "user", "content": "Say OK."}],
            "max_tokens": 1,
        },
        label="preflight",
    )
    with ChatClient(config) as client:
        exchange = client.send(case)
    if exchange.status is None:
        raise UsageError(
            f"cannot reach {config.base_url}/chat/completions ({exchange.error_kind}: "
            f"{redact(str(exchange.error), config.api_key)}); check the URL and that the "
            "server is running"
        )
    if exchange.status in _MEANINGFUL_REFUSALS and exchange.status not in _TRANSIENT:
        reason = _error_message(exchange.json_or_none(), config.api_key)
        raise UsageError(
            f"the endpoint refused a minimal request with HTTP {exchange.status}{reason}; "
            "check --model and the API key"
        )


def _error_message(body: Any, key: Secret | None) -> str:
    try:
        message = body["error"]["message"]
    except (TypeError, KeyError):
        return ""
    return f" ({redact(str(message), key)[:200]})"


def _locust_command(args: argparse.Namespace, base_url: str, directory: Path) -> list[str]:
    users = _users(args)
    total_s = math.ceil(args.warmup + args.duration)
    port = _free_loopback_port()
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(STOCK_LOCUSTFILE),
        "--headless",
        "--host",
        base_url,
        "-u",
        str(users),
        "-r",
        str(min(users, SPAWN_PER_PROCESS * args.processes)),
        "--processes",
        str(args.processes),
        # Master and workers talk over loopback on a free port (locust's default binds
        # port 5557 on every interface, and two runs at once would collide).
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--master-port",
        str(port),
        "--skip-log-setup",
        "--exit-code-on-error",
        "0",
        "--model",
        args.model,
        "--max-tokens",
        str(args.max_tokens),
        "--input-tokens",
        str(args.input_tokens),
        "--request-timeout",
        str(args.timeout),
        "--arrival",
        args.arrival,
        "--seed",
        str(args.seed),
        "--warmup",
        f"{args.warmup}s",
        "--report-dir",
        str(directory),
        "--progress",
    ]
    if not (args.sweep_rates or args.sweep_users):
        command += ["-t", f"{total_s}s"]
    options: list[tuple[str, Any]] = [
        ("--rate", args.rate),
        ("--max-requests", args.max_requests),
        ("--prompts", args.prompts),
        ("--ramp", f"{args.ramp}s" if args.ramp else None),
        ("--step", args.step),
        ("--sweep-rates", args.sweep_rates),
        ("--sweep-users", args.sweep_users),
    ]
    for flag, value in options:
        if value:
            command += [flag, str(value)]
    if args.sweep_rates or args.sweep_users:
        command += ["--sweep-time", f"{args.sweep_time}s"]
    for flag, enabled in (
        ("--no-usage", args.no_usage),
        ("--no-stream", args.no_stream),
        ("--insecure", args.insecure),
    ):
        if enabled:
            command.append(flag)
    for text in args.slo:
        command += ["--slo", text]
    return command


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _describe(args: argparse.Namespace) -> str:
    users = _users(args)
    if args.sweep_rates:
        load = f"rate sweep {args.sweep_rates} req/s ({users} users cap)"
    elif args.sweep_users:
        load = f"concurrency sweep {args.sweep_users}"
    elif args.rate:
        load = f"{args.rate:g} req/s {args.arrival} ({users} users cap)"
    else:
        load = f"{users} users"
    return f"{load}, {args.processes} process(es), warm-up {args.warmup:g} s"


def _finish(code: int, directory: Path, key: Secret | None) -> int:
    path = directory / "load.json"
    if code not in (0, 3):
        print(f"chatgauge: the load generator failed (exit code {code})", file=sys.stderr)
        return 2 if code == 2 else 1
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"chatgauge: no results in {path}: {exc}", file=sys.stderr)
        return 1
    print(redact(summary(document), key))
    print(f"reports: {path}, {directory / 'load.html'}")
    return code


def summary(document: dict[str, Any]) -> str:
    """The closing lines: requests, throughput, TTFT/TPOT, generator verdict, SLOs."""
    requests = document.get("requests", {})
    throughput = document.get("throughput", {})
    metrics = document.get("metrics", {})
    generator = document.get("generator", {})
    lines = [
        f"\n{requests.get('completed', 0)} requests completed, {requests.get('failed', 0)} "
        f"failed in the {throughput.get('window_s', 0):.1f} s window: "
        f"{_number(throughput.get('output_tokens_per_s'))} output tok/s, "
        f"{_number(throughput.get('requests_per_s'))} req/s",
        f"TTFT p50 {_ms(metrics, 'ttft_ms', 'p50')} p99 {_ms(metrics, 'ttft_ms', 'p99')}, "
        f"TPOT p50 {_ms(metrics, 'tpot_ms', 'p50')}, ITL p99 {_ms(metrics, 'itl_ms', 'p99')}, "
        f"E2E p99 {_ms(metrics, 'e2e_ms', 'p99')}",
        f"generator: {generator.get('verdict', 'unknown')}",
    ]
    lines += [f"  {reason}" for reason in generator.get("reasons", [])]
    for error in document.get("errors", []):
        lines.append(f"errors: {error.get('count')} x {error.get('kind')}: {error.get('example')}")
    if "sweep" in document:
        best = document.get("sweep_best")
        lines.append(
            f"sweep: highest {best['kind']} meeting every SLO: {best['value']:g}"
            if best
            else "sweep: no step met every SLO"
        )
    elif document.get("slo_met") is not None:
        lines.append("SLOs met" if document["slo_met"] else "SLOs MISSED")
    return "\n".join(lines)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(metrics: dict[str, Any], name: str, key: str) -> str:
    value = metrics.get(name, {}).get(key)
    return "-" if value is None else f"{value:.1f} ms"


__all__ = ["register", "run", "summary"]
