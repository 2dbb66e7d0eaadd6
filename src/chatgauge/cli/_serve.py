"""``chatgauge serve``: run the embedded reference endpoint."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Final

from chatgauge._secret import Secret
from chatgauge.cli._errors import UsageError
from chatgauge.cli._help import SERVE_EXIT_CODES, HelpFormatter, exit_codes
from chatgauge.server import FAULTS, FRAMINGS, ServerConfig, ServerStartError, run_server
from chatgauge.server._features import BASIC_PROFILE, FEATURE_STATES, parse_feature
from chatgauge.server._runner import is_loopback

API_KEY_ENV: Final = "CHATGAUGE_SERVE_API_KEY"


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the reference OpenAI chat-completions endpoint",
        description=(
            "Run a faithful OpenAI chat-completions server (POST /v1/chat/completions, "
            "GET /v1/models) with deterministic output, a latency model, a timing log, "
            "fault injection and unusual-but-valid SSE framings."
        ),
        epilog=exit_codes(SERVE_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind, 0 for any free one (default: 8000)"
    )
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="a model name to serve (repeatable; default: pro, fast, default)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}, else open)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help="answer 429 with Retry-After above RPS chat requests per second",
    )
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token (ms)")
    parser.add_argument("--itl-ms", type=float, default=0.0, help="inter-token latency (ms)")
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, help="uniform ± jitter on each deadline (ms)"
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="serve at most N chat completions at once, queue the rest (a capacity ground "
        "truth: N / service time)",
    )
    parser.add_argument(
        "--itl-growth-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="lengthen each inter-token gap by MS per other stream being served",
    )
    parser.add_argument(
        "--ignore-eos",
        action="store_true",
        help="text answers run to exactly max_tokens tokens (a fixed service time)",
    )
    parser.add_argument(
        "--timing-log",
        type=Path,
        metavar="FILE",
        help="write one JSON line of server-side stamps per streamed request",
    )
    parser.add_argument(
        "--fault",
        action="append",
        dest="faults",
        default=[],
        metavar="NAME",
        help="switch on one deviation from the API (repeatable; see --list-faults)",
    )
    parser.add_argument(
        "--framing",
        action="append",
        dest="framings",
        default=[],
        metavar="NAME",
        help="use a valid but unusual SSE framing (repeatable; see --list-faults)",
    )
    parser.add_argument(
        "--feature",
        action="append",
        dest="features",
        default=[],
        metavar="NAME=STATE",
        help="play a capability state for a feature: supported, unsupported (refused "
        "cleanly), ignored (accepted, no effect) or broken (repeatable; see --list-faults)",
    )
    parser.add_argument(
        "--profile",
        choices=("openai", "basic"),
        default="openai",
        help="openai: every feature supported (default); basic: only chat, streaming, "
        "temperature, max_tokens, usage and json_object; every other feature refused "
        "cleanly (--feature overrides)",
    )
    parser.add_argument(
        "--list-faults",
        action="store_true",
        help="list fault, framing and feature names, then exit",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``chatgauge serve``."""
    if args.list_faults:
        _list_catalogues()
        return 0
    config = _config(args)
    if not is_loopback(config.host):
        print(
            f"chatgauge serve: warning: {config.host} is not a loopback address; the server "
            "is reachable from other machines",
            file=sys.stderr,
        )

    def announce(url: str) -> None:
        print(f"chatgauge serve: listening on {url}", flush=True)

    try:
        run_server(config, ready=announce)
    except ServerStartError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--ttft-ms", args.ttft_ms),
        ("--itl-ms", args.itl_ms),
        ("--jitter-ms", args.jitter_ms),
        ("--itl-growth-ms", args.itl_growth_ms),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"{flag} must be a number >= 0, got {value:g}")
    if args.rate_limit is not None and not (math.isfinite(args.rate_limit) and args.rate_limit > 0):
        raise UsageError(f"--rate-limit must be a number > 0, got {args.rate_limit:g}")
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise UsageError(f"--max-concurrency must be at least 1, got {args.max_concurrency}")
    log: Path | None = args.timing_log
    if log is not None and not log.parent.is_dir():
        raise UsageError(f"--timing-log: directory {str(log.parent)!r} does not exist")


def _config(args: argparse.Namespace) -> ServerConfig:
    """The server configuration from the flags; bad values raise :class:`UsageError`."""
    _check_flags(args)
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV)
    features = dict(BASIC_PROFILE) if args.profile == "basic" else {}
    for text in args.features:
        try:
            name, state = parse_feature(text)
        except ValueError as exc:
            raise UsageError(f"--feature: {exc}") from None
        features[name] = state
    try:
        return ServerConfig(
            host=args.host,
            port=args.port,
            models=tuple(args.models) if args.models else ServerConfig.models,
            api_key=Secret(key) if key else None,
            rate_limit_rps=args.rate_limit,
            ttft_ms=args.ttft_ms,
            itl_ms=args.itl_ms,
            jitter_ms=args.jitter_ms,
            timing_log=args.timing_log,
            faults=frozenset(args.faults),
            framings=frozenset(args.framings),
            features=features,
            max_concurrency=args.max_concurrency,
            itl_growth_ms=args.itl_growth_ms,
            ignore_eos=args.ignore_eos,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _list_catalogues() -> None:
    width = max(len(name) for name in (*FAULTS, *FRAMINGS))
    print("faults (each breaks one conformance rule):")
    for name, description in FAULTS.items():
        print(f"  {name:<{width}}  {description}")
    print("framings (valid but unusual):")
    for name, description in FRAMINGS.items():
        print(f"  {name:<{width}}  {description}")
    print("features (--feature NAME=STATE) and the states each can play:")
    for name, states in FEATURE_STATES.items():
        print(f"  {name:<{width}}  {', '.join(sorted(states))}")
