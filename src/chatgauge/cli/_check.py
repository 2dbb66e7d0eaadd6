"""``chatgauge check``: run the conformance catalogue against one endpoint and write reports.

The flags are rendered from the conformance option table (``conformance/_options.py``), the
same table the pytest plugin renders; defaults come from ``[tool.chatgauge]`` in the nearest
``pyproject.toml`` that has one (from the working directory upwards). Precedence: flag,
environment, ``pyproject.toml``, built-in default; ``--show-config`` prints each effective
value and where it came from.

Exit codes (:data:`~chatgauge.cli._help.CHECK_EXIT_CODES`): 0 when the run passed (every
planned check judged or skipped as not applicable, none failed), 1 when a check failed, 2 on
a usage error or an endpoint that cannot be used (the preflight request gets no HTTP
answer, names an unknown model, or shows a base URL without its ``/v1``), 4 when the run is
incomplete (no failure, but a check could not be judged: budget, rate limit, timeout, run
deadline), 130 when interrupted. The JSON report is rewritten after every check, so an
interrupted run keeps what it judged (with status ``interrupted``). Everything printed that
may hold endpoint text has the key masked and control characters neutralised.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from chatgauge._config import ConfigError, ConfigFile, find_pyproject
from chatgauge._options import (
    OptionTable,
    Resolved,
    add_arguments,
    describe,
    flags_of,
    pyproject_layer,
    resolve,
)
from chatgauge._secret import Secret
from chatgauge.cli._errors import UsageError
from chatgauge.cli._help import CHECK_EXIT_CODES, HelpFormatter, exit_codes
from chatgauge.conformance._formatting import check_table
from chatgauge.conformance._model_choice import choose_models
from chatgauge.conformance._options import CONFORMANCE_OPTIONS
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._session import (
    ConfigurationError,
    ConformanceSession,
    ReportWriteError,
)
from chatgauge.conformance._settings import ConformanceSettings
from chatgauge.reports._matrix import build_matrix, render_matrix_html
from chatgauge.results import safe_text, terminal_text, write_atomic
from chatgauge.results._capability_rows import capability_lines, capability_rows
from chatgauge.results._conformance_text import (
    counts_text,
    coverage_text,
    status_meaning,
    unjudged_lines,
)
from chatgauge.results._model_rows import (
    MODELS_PAGE,
    model_directories,
    models_capability_lines,
    overall_status,
)
from chatgauge.results.conformance import (
    HTML_NAME,
    JSON_NAME,
    JUNIT_NAME,
    CheckResult,
    ConformanceRun,
    RunStatus,
    Status,
)

DEFAULT_REPORT_DIR: Final = Path("reports")
CHECK_OPTIONS: Final[OptionTable] = CONFORMANCE_OPTIONS.with_defaults(report_dir=DEFAULT_REPORT_DIR)
"""The conformance options with the command line's own default report directory."""

MESSAGE_CHARS: Final = 240
EXIT_CODES: Final = {
    RunStatus.PASSED: 0,
    RunStatus.FAILED: 1,
    RunStatus.INCOMPLETE: 4,
    RunStatus.INTERRUPTED: 130,
}
"""The exit code of each run status."""


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="run the conformance checks against an endpoint",
        description=(
            "Run the conformance checks against POST {base_url}/chat/completions and write "
            "conformance.json, conformance.html and conformance.junit.xml. Defaults come from "
            "[tool.chatgauge] in the nearest pyproject.toml (see --show-config)."
        ),
        epilog=exit_codes(CHECK_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    add_arguments(parser, CHECK_OPTIONS)
    parser.add_argument(
        "--list-checks",
        action="store_true",
        help="show the check catalogue and exit",
    )
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print every effective setting and where it came from (flag, environment, "
        "pyproject.toml, default), then exit",
    )
    parser.set_defaults(handler=run)


def resolve_check_options(
    args: argparse.Namespace | Mapping[str, Any],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Resolved], ConfigFile | None]:
    """Every option's effective value and source, and the ``pyproject.toml`` used."""
    try:
        config = find_pyproject(cwd or Path.cwd())
        layers = [pyproject_layer(CHECK_OPTIONS, config)] if config else []
        resolution = resolve(
            CHECK_OPTIONS,
            flags=flags_of(args, CHECK_OPTIONS),
            env=os.environ if env is None else env,
            layers=layers,
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return resolution, config


def show_config(resolution: Mapping[str, Resolved], config: ConfigFile | None) -> str:
    """The ``--show-config`` text: the config file, then one line per option."""
    where = (
        f"config file: {config.path}"
        if config
        else "config file: none (no pyproject.toml with [tool.chatgauge] from here upwards)"
    )
    lines = ["chatgauge check: effective settings", where, ""]
    lines += describe(resolution)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Handle ``chatgauge check``; returns the exit code."""
    if args.list_checks:
        checks = all_checks()
        print(check_table(checks))
        print(f"\n{len(checks)} checks")
        return 0
    resolution, config = resolve_check_options(args)
    if args.show_config:
        print(show_config(resolution, config))
        return 0
    settings = ConformanceSettings.from_values({n: r.value for n, r in resolution.items()})
    return check_endpoint(settings)


def check_endpoint(settings: ConformanceSettings) -> int:
    """Run the checks with progress on stdout, print the summary; returns the exit code.

    With several models each is checked in turn (reports in a directory per model, and
    ``models.html`` with the models side by side); the exit code is the worst model's.
    Without a model, the endpoint's only listed model is used. The conformance step of
    ``chatgauge demo`` runs through here too.
    """
    try:
        models = choose_models(settings, on_notice=_say)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    if len(models) == 1:
        single = replace(settings, model=models[0], models=())
        return _finish(_run_model(single), single)
    return _check_models(settings, models)


def _say(text: str) -> None:
    print(f"chatgauge check: {terminal_text(text)}", flush=True)


def _run_model(settings: ConformanceSettings) -> ConformanceRun:
    """One model's run, with progress lines; a bad setting is a :class:`UsageError`."""
    try:
        with ConformanceSession(settings, runner="cli") as session:
            session.preflight(on_notice=_warn)
            progress = _Progress(session, settings.secret)
            print(
                f"chatgauge check: {len(session.checks)} checks against {session.endpoint} "
                f"(model {session.context.model})",
                flush=True,
            )
            try:
                return session.run(on_result=progress.show, on_notice=_warn)
            except KeyboardInterrupt:
                done = len(session.latest_run.checks)
                where = f"; partial reports in {settings.report_dir}" if settings.report_dir else ""
                print(
                    f"interrupted after {done} checks, {session.latest_run.requests_sent} "
                    f"requests{where}",
                    flush=True,
                )
                raise
    except (ConfigurationError, ReportWriteError) as exc:
        raise UsageError(str(exc)) from None


def _check_models(settings: ConformanceSettings, models: tuple[str, ...]) -> int:
    """Check every model in turn; print them side by side and the overall verdict."""
    runs: list[tuple[str, ConformanceRun]] = []
    directories = model_directories(models)
    for number, model in enumerate(models, start=1):
        print(f"\n=== model {model} ({number} of {len(models)}) ===", flush=True)
        directory = settings.report_dir / directories[model] if settings.report_dir else None
        one = replace(settings, model=model, models=(), report_dir=directory)
        run = _run_model(one)
        _finish(run, one)
        runs.append((model, run))
    overall = overall_status([run.status for _, run in runs])
    print(f"\nmodels ({len(runs)}):")
    width = max(len(model) for model in models)
    for model, run in runs:
        print(
            f"  {terminal_text(model):<{width}}  {run.status.value.upper():<11}  {counts_text(run)}"
        )
    for line in models_capability_lines(runs):
        print(line)
    if settings.report_dir is not None:
        page = settings.report_dir / MODELS_PAGE
        try:
            write_atomic(page, render_matrix_html(build_matrix(runs)).encode())
        except OSError as exc:
            raise UsageError(f"cannot write {page}: {exc.strerror or exc}") from None
        print(f"models side by side: {page}")
    print(f"OVERALL: {overall.value.upper()} ({len(runs)} models)")
    return EXIT_CODES[overall]


def _warn(text: str) -> None:
    print(f"warning: {terminal_text(text)}", file=sys.stderr, flush=True)


def shown(text: str, secret: Secret | None, limit: int | None = None) -> str:
    """Endpoint text fit for the terminal: key masked, then cut, control characters shown."""
    return terminal_text(safe_text(" ".join(text.split()), secret, limit))


class _Progress:
    """Prints one line per check (failures, warnings and skips with their message)."""

    def __init__(self, session: ConformanceSession, secret: Secret | None) -> None:
        self.width = max(len(c.id) for c in session.checks)
        self.secret = secret

    def show(self, result: CheckResult) -> None:
        line = f"{result.status.value.upper():<11} {result.id:<{self.width}}  {result.title}"
        line = terminal_text(line)
        if result.status in (Status.FAILED, Status.WARNING, Status.SKIPPED):
            why = f"{result.skip_kind.value}: " if result.skip_kind is not None else ""
            message = shown(why + result.message, self.secret, MESSAGE_CHARS)
            line += f"\n{'':<11} {message}"
        print(line, flush=True)


def _print_capabilities(run: ConformanceRun, secret: Secret | None) -> None:
    """The capability table, then the features that fail the contract or only warn."""
    lines = capability_lines(run)
    if not lines:
        return
    print()
    for line in lines:
        # Aligned columns: mask and neutralise, but keep the spacing.
        print(terminal_text(safe_text(line, secret)))
    rows = capability_rows(run)
    for verdict, what in (
        (Status.FAILED, "failing the contract"),
        (Status.WARNING, "with warnings"),
    ):
        named = [row.feature for row in rows if row.verdict is verdict]
        if named:
            print(f"features {what}: {', '.join(named)}")


def _finish(run: ConformanceRun, settings: ConformanceSettings) -> int:
    """Print the summary (status, coverage, cost, what was not judged) and return the exit
    code of the run's status."""
    secret = settings.secret
    retried = f" ({run.retries} retries after 429/503)" if run.retries else ""
    _print_capabilities(run, secret)
    print(
        f"\n{run.status.value.upper()}: {counts_text(run)} | {run.requests_sent} requests"
        f"{retried}, {run.tokens_used} tokens, {run.duration_s:.1f} s"
    )
    print(f"  {shown(status_meaning(run), secret)}")
    print(f"coverage: {coverage_text(run.coverage)}")
    unjudged = unjudged_lines(run.coverage)
    if unjudged:
        print("not judged:")
        for line in unjudged:
            print(f"  {shown(line, secret)}")
    caps = run.settings
    if run.requests_sent >= caps.max_requests or run.tokens_used >= caps.max_total_tokens:
        print(
            "budget cap reached: later checks were skipped (see --max-requests, --max-tokens-total)"
        )
    for error in run.internal_errors:
        print(f"chatgauge internal error (please report): {shown(error, secret)}")
    if settings.report_dir is not None:
        names = (JSON_NAME, HTML_NAME, JUNIT_NAME)
        print("reports: " + ", ".join(str(settings.report_dir / n) for n in names))
    return EXIT_CODES[run.status]


__all__ = [
    "CHECK_OPTIONS",
    "EXIT_CODES",
    "check_endpoint",
    "register",
    "resolve_check_options",
    "run",
    "show_config",
]
