"""``chatgauge load --capacity``: the capacity search on the command line.

Each step prints one line as it ends; the closing lines give the capacity (requests/s and
output tokens/s), the bracket and the confidence statement. Exit codes as ``chatgauge
load``: 0 a rate met every SLO, 3 none did, 2 usage error or endpoint unreachable, 130
interrupted (the steps finished so far are in ``load.json``), 1 the generator failed.
"""

from __future__ import annotations

import argparse
import sys

from chatgauge._secret import redact
from chatgauge.cli._errors import UsageError
from chatgauge.loadtests._capacity_run import run_capacity
from chatgauge.loadtests._launch import EndpointUnavailable, GeneratorFailed, LoadInterrupted
from chatgauge.loadtests._options_capacity import search_plan
from chatgauge.loadtests._settings import LoadSettings, LoadSettingsError
from chatgauge.results import terminal_text
from chatgauge.results.capacity import Capacity
from chatgauge.results.load import HTML_NAME, JSON_NAME


def run_capacity_search(args: argparse.Namespace, settings: LoadSettings) -> int:
    """Handle ``chatgauge load --capacity``; returns the exit code."""
    from chatgauge.cli._load import _in_flags  # the flag names of settings errors

    key = settings.api_key
    directory = settings.report_dir
    assert directory is not None
    if settings.sweep is not None or settings.ramp_s or settings.step:
        raise UsageError("--capacity chooses its own rates: leave out sweeps, --ramp and --step")
    try:
        plan = search_plan(args)
        print(
            f"chatgauge load --capacity: {settings.base_url} model "
            f"{terminal_text(settings.model)}, steps of {plan.warmup_s:g} s warm-up + "
            f"{plan.step_s:g} s from {plan.start_rps:g} req/s ({settings.arrival}); "
            f"results in {directory}",
            flush=True,
        )
        report = run_capacity(settings, plan, announce=lambda line: print(line, flush=True))
    except (LoadSettingsError, ValueError) as exc:
        raise UsageError(_in_flags(redact(str(exc), key))) from None
    except EndpointUnavailable as exc:
        raise UsageError(terminal_text(str(exc))) from None
    except GeneratorFailed as exc:
        print(f"chatgauge: {terminal_text(str(exc))}", file=sys.stderr)
        return 2 if exc.exit_code == 2 else 1
    except LoadInterrupted:
        print(f"\ninterrupted; the steps finished so far are in {directory / JSON_NAME}")
        return 130
    assert report.capacity is not None
    print(terminal_text(redact(capacity_summary(report.capacity), key)))
    print(f"reports: {directory / JSON_NAME}, {directory / HTML_NAME}")
    return 0 if report.capacity.rate_rps is not None else 3


def capacity_summary(capacity: Capacity) -> str:
    """The closing lines of a capacity search."""
    if capacity.rate_rps is None:
        head = "capacity: no rate tried met every SLO"
    else:
        tokens = capacity.output_tokens_per_s
        head = (
            f"capacity: {capacity.rate_rps:.3g} req/s"
            + (f", {tokens:.0f} output tokens/s" if tokens is not None else "")
            + f" ({len(capacity.steps)} steps; {capacity.stop_reason})"
        )
    return f"\n{head}\n{capacity.confidence}"


__all__ = ["capacity_summary", "run_capacity_search"]
