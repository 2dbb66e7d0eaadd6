"""``chatgauge demo``: the whole product against the embedded reference endpoint.

It starts ``chatgauge serve`` in a child process, streams one completion live so the user
sees what is being measured, runs ``chatgauge check`` against it, then a short
``chatgauge load`` against a second instance started with a known latency profile (first
token after 200 ms, then one every 20 ms), and leaves every report in the report
directory. Nothing leaves the machine: the endpoints are on loopback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chatgauge._client import ChatClient, ClientConfig
from chatgauge._models import ChatCase, TimedEvent
from chatgauge.cli import _check, _load
from chatgauge.cli._errors import UsageError
from chatgauge.cli._help import DEMO_EXIT_CODES, HelpFormatter, exit_codes
from chatgauge.conformance._settings import ConformanceSettings
from chatgauge.loadtests._settings import LoadSettings
from chatgauge.server import ServerStartError, spawned_server

DEMO_MODEL = "pro"
# The known latency profile of the load step: the report can be read against it.
DEMO_TTFT_MS = 200
DEMO_ITL_MS = 20


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run chatgauge against its embedded reference endpoint",
        description=(
            "Start the embedded reference endpoint on loopback, stream one completion from "
            "it, run the conformance checks and write the reports."
        ),
        epilog=exit_codes(DEMO_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        type=Path,
        default=Path("reports"),
        help="where to write the reports (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; the exit code is that of the conformance run."""
    try:
        with spawned_server() as base_url:
            print(f"chatgauge demo: reference endpoint at {base_url}", flush=True)
            _stream_one(base_url)
            print("chatgauge demo: running the conformance checks", flush=True)

            check_code = conformance_step(base_url, args.report_dir)
        profile = ["--ttft-ms", str(DEMO_TTFT_MS), "--itl-ms", str(DEMO_ITL_MS)]
        with spawned_server(profile) as base_url:
            print(
                f"chatgauge demo: load test, 8 streams for 10 s against {base_url} "
                f"(TTFT {DEMO_TTFT_MS} ms, ITL {DEMO_ITL_MS} ms)",
                flush=True,
            )
            load_code = _load.run_settings(
                LoadSettings(
                    base_url=base_url,
                    model=DEMO_MODEL,
                    users=8,
                    duration_s=10.0,
                    warmup_s=2.0,
                    max_tokens=32,
                    slos={"ttft_ms": DEMO_TTFT_MS + 50},
                    report_dir=args.report_dir,
                    progress=True,
                )
            )
    except ServerStartError as exc:
        raise UsageError(f"could not start the reference endpoint: {exc}") from None
    print(f"chatgauge demo: reports in {args.report_dir}/ (open conformance.html and load.html)")
    return check_code or load_code


def conformance_step(base_url: str, report_dir: Path) -> int:
    """The whole catalogue against ``base_url``, as ``chatgauge check`` prints and writes it;
    returns its exit code."""
    settings = ConformanceSettings(base_url=base_url, model=DEMO_MODEL, report_dir=report_dir)
    return _check.check_endpoint(settings)


def _stream_one(base_url: str) -> None:
    case = ChatCase(
        body={
            "model": DEMO_MODEL,
            "messages": [{"role": "user", "content": "Say something about rainbows."}],
            "max_tokens": 24,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        label="demo",
    )

    token_stamps: list[int] = []

    def show(event: TimedEvent) -> None:
        try:
            text = event.json()["choices"][0]["delta"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return
        if text:
            token_stamps.append(event.arrived_ns)
            sys.stdout.write(text)
            sys.stdout.flush()

    sys.stdout.write("  streamed: ")
    with ChatClient(ClientConfig(base_url)) as client:
        exchange = client.send(case, on_event=show)
    print()
    if token_stamps:
        ttft_ms = (token_stamps[0] - exchange.t_send_ns) / 1e6
        print(f"  {len(token_stamps)} token events, the first after {ttft_ms:.1f} ms")
