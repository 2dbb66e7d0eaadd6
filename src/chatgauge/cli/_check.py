"""``chatgauge check``: run the conformance catalogue against one endpoint and write reports.

Exit codes: 0 when no check failed, 1 when any check failed, 2 on a usage error or an
endpoint that cannot be reached at all (a preflight request gets no HTTP answer). The JSON
report is rewritten after every check, so an interrupted run keeps what it judged.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from chatgauge._argtypes import positive_int
from chatgauge._client import ChatClient, ClientConfig
from chatgauge._models import ChatCase
from chatgauge._secret import Secret, redact
from chatgauge.cli._errors import UsageError
from chatgauge.conformance._budget import Budget
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._formatting import check_table, clip
from chatgauge.conformance._output import scrub, write_json, write_reports
from chatgauge.conformance._registry import Check, all_checks, select_checks
from chatgauge.conformance._results import CheckResult, Status
from chatgauge.conformance._runner import RunResult, run_checks

_DEFAULT_BUDGET = Budget()
_DEFAULT_SETTINGS = Settings(model="")


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="run the conformance checks against an endpoint",
        description=(
            "Run the conformance checks against POST {base_url}/chat/completions and write "
            "conformance.json, conformance.html and conformance.junit.xml. Exit code 0: no "
            "check failed; 1: a check failed; 2: usage error or endpoint unreachable."
        ),
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="endpoint base URL incl. the API prefix, e.g. http://127.0.0.1:8000/v1 "
        "(default: $OPENAI_BASE_URL)",
    )
    parser.add_argument("--model", metavar="NAME", help="model name to send requests to")
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key (default: $OPENAI_API_KEY; prefer the variable, arguments are visible "
        "to other processes). Given a key, the endpoint must refuse requests without it",
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        type=Path,
        default=Path("reports"),
        help="where to write the reports (default: %(default)s)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="validate bodies against the spec-literal schemas instead of the compat tier",
    )
    parser.add_argument(
        "--select",
        action="append",
        metavar="IDS",
        help="run only these checks: ids, rule numbers (B2) or groups (D); "
        "comma-separated or repeated",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        metavar="IDS",
        help="leave out these checks (same forms as --select)",
    )
    parser.add_argument(
        "--max-requests",
        type=positive_int,
        default=_DEFAULT_BUDGET.max_requests,
        metavar="N",
        help="hard cap on requests sent (default: %(default)s)",
    )
    parser.add_argument(
        "--max-tokens-total",
        type=positive_int,
        default=_DEFAULT_BUDGET.max_tokens,
        metavar="N",
        help="hard cap on tokens used (default: %(default)s)",
    )
    parser.add_argument(
        "--examples",
        type=positive_int,
        default=_DEFAULT_SETTINGS.examples,
        metavar="N",
        help="Hypothesis examples per property (default: %(default)s)",
    )
    parser.add_argument(
        "--derandomize",
        action="store_true",
        help="make Hypothesis examples reproducible (for CI)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the endpoint's TLS certificate",
    )
    parser.add_argument(
        "--list-checks",
        action="store_true",
        help="show the check catalogue and exit",
    )
    parser.set_defaults(handler=run)


def _patterns(values: list[str] | None) -> list[str]:
    return [p.strip() for v in values or () for p in v.split(",") if p.strip()]


def run(args: argparse.Namespace) -> int:
    """Handle ``chatgauge check``; returns the exit code."""
    if args.list_checks:
        checks = all_checks()
        print(check_table(checks))
        print(f"\n{len(checks)} checks")
        return 0
    config = _client_config(args)
    checks = _selected_checks(args)
    settings = Settings(
        model=args.model,
        auth_required=config.api_key is not None,
        strict=args.strict,
        examples=args.examples,
        derandomize=args.derandomize,
    )
    budget = Budget(max_requests=args.max_requests, max_tokens=args.max_tokens_total)
    with ChatClient(config) as client:
        ctx = CheckContext(send_case=client.send, settings=settings, budget=budget)
        _preflight(ctx, config.base_url)
        directory = _report_dir(args.report_dir)
        print(
            f"chatgauge check: {len(checks)} checks against {config.base_url} (model {ctx.model})"
        )
        run_result = _run(ctx, checks, config.base_url, directory, config.api_key)
    return _finish(run_result, ctx.budget, directory, config.api_key)


def _client_config(args: argparse.Namespace) -> ClientConfig:
    """The endpoint from the flags or the environment; a usage error when incomplete."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise UsageError("no endpoint: pass --base-url URL or set OPENAI_BASE_URL")
    if not args.model:
        raise UsageError("no model: pass --model NAME")
    key_text = args.api_key or os.environ.get("OPENAI_API_KEY")
    key = Secret(key_text) if key_text else None
    try:
        return ClientConfig(base_url=base_url, api_key=key, verify_tls=not args.insecure)
    except ValueError as exc:
        raise UsageError(redact(str(exc), key)) from None


def _selected_checks(args: argparse.Namespace) -> list[Check]:
    try:
        checks = select_checks(all_checks(), _patterns(args.select), _patterns(args.ignore))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not checks:
        raise UsageError("no check to run (the selection is empty)")
    return checks


def _report_dir(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report directory {directory}: {exc.strerror}") from None
    return directory


def _preflight(ctx: CheckContext, base_url: str) -> None:
    """One tiny request: an endpoint that gives no HTTP answer at all is a usage error."""
    exchange = ctx.send(ChatCase(body=ctx.base_body(max_tokens=1), label="preflight"))
    if exchange.status is None:
        raise UsageError(
            f"cannot reach {base_url}/chat/completions ({exchange.error_kind}: "
            f"{exchange.error}); check the URL and that the server is running"
        )
    if exchange.status != 200:
        # Reachable, so the run goes on (A-group checks judge refusals), but most checks
        # will be skipped: say why up front.
        print(
            f"warning: a minimal request got HTTP {exchange.status}; checks that need an "
            "answer will be skipped (check --model and the API key)",
            file=sys.stderr,
        )


def _run(
    ctx: CheckContext,
    checks: list[Check],
    endpoint: str,
    directory: Path,
    key: Secret | None,
) -> RunResult:
    """Run the checks, printing a line and saving the JSON after each one."""
    # An empty run gives the header fields (start time, settings) of the partial document
    # saved while the real run is in progress.
    partial = run_checks(ctx, [], endpoint=endpoint)
    id_width = max(len(c.id) for c in checks)
    t0 = time.perf_counter()

    def on_result(result: CheckResult) -> None:
        partial.results.append(result)
        partial.requests_sent = ctx.budget.requests_sent
        partial.tokens_used = ctx.budget.tokens_used
        partial.duration_s = time.perf_counter() - t0
        write_json(directory, scrub(partial.to_json(), key))
        print(_progress_line(result, id_width, key), flush=True)

    try:
        return run_checks(ctx, checks, endpoint=endpoint, on_result=on_result)
    except KeyboardInterrupt:
        write_reports(directory, scrub(partial.to_json(), key))
        print(f"interrupted after {len(partial.results)} checks; partial reports in {directory}")
        raise


def _progress_line(result: CheckResult, id_width: int, key: Secret | None) -> str:
    line = f"{result.status.value.upper():<11} {result.id:<{id_width}}  {result.title}"
    if result.status in (Status.FAILED, Status.WARNING):
        message = " ".join(redact(result.message, key).split())
        line += f"\n{'':<11} {clip(message, 240)}"
    return line


def _finish(run: RunResult, budget: Budget, directory: Path, key: Secret | None) -> int:
    """Write the reports, print the summary, and return the exit code."""
    try:
        paths = write_reports(directory, scrub(run.to_json(), key))
    except OSError as exc:
        raise UsageError(f"cannot write reports to {directory}: {exc.strerror}") from None
    counts = ", ".join(f"{n} {status}" for status, n in run.summary.items() if n)
    verdict = "FAILED" if run.failed else "PASSED"
    print(
        f"\n{verdict}: {counts} | {run.requests_sent} requests, {run.tokens_used} tokens, "
        f"{run.duration_s:.1f} s"
    )
    if budget.requests_sent >= budget.max_requests or budget.tokens_used >= budget.max_tokens:
        print(
            "budget cap reached: later checks were skipped (see --max-requests, --max-tokens-total)"
        )
    for error in run.internal_errors:
        print(f"chatgauge internal error (please report): {redact(error, key)}")
    print("reports: " + ", ".join(str(p) for p in paths))
    return 1 if run.failed else 0


__all__ = ["register", "run"]
