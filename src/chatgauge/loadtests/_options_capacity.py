"""The options of a capacity search (``chatgauge load --capacity``), declared once.

:func:`add_capacity_arguments` adds them to the ``chatgauge load`` parser and
:func:`search_plan` turns the parsed values into a checked
:class:`~chatgauge.loadtests._capacity.SearchPlan`. A search runs in this process (each step
is its own locust child), so these options never reach locust's parser.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Final

from chatgauge.loadtests._capacity import SearchPlan
from chatgauge.loadtests._options import parse_duration
from chatgauge.loadtests._options_workload import add_workload_arguments

DEFAULT_STEP_S: Final = 15.0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _duration(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive duration, got {text}")
    return value


def _steps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


def add_capacity_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the workload, server-metrics and capacity-search groups to ``chatgauge load``."""
    add_workload_arguments(parser.add_argument_group("workload"), parent=True)
    server = parser.add_argument_group("server metrics")
    server.add_argument(
        "--server-metrics",
        metavar="URL",
        help="scrape this Prometheus page (e.g. http://127.0.0.1:8000/metrics) once a second "
        "during the run; stored in load.json and plotted beside the client figures",
    )
    group = parser.add_argument_group(
        "capacity search",
        "--capacity brackets and bisects the open-loop rate and reports the highest one whose "
        "user-perceived latencies (from each request's intended start) meet every --slo; "
        "each step has its own --warmup",
    )
    add = group.add_argument
    add("--capacity", action="store_true", help="search the capacity under the --slo bounds")
    add(
        "--capacity-start",
        type=_positive,
        default=SearchPlan.start_rps,
        metavar="R",
        help="first rate tried, req/s (default: %(default)s)",
    )
    add(
        "--capacity-max-rate",
        type=_positive,
        default=SearchPlan.max_rps,
        metavar="R",
        help="ceiling of the search, req/s (default: %(default)s)",
    )
    add(
        "--capacity-precision",
        type=_positive,
        default=SearchPlan.precision,
        metavar="F",
        help="stop when the bracket is this fraction of its lower end wide (default: %(default)s)",
    )
    add(
        "--capacity-max-steps",
        type=_steps,
        default=SearchPlan.max_steps,
        metavar="N",
        help="at most N steps (default: %(default)s)",
    )
    add(
        "--capacity-step-time",
        type=_duration,
        default=DEFAULT_STEP_S,
        metavar="TIME",
        help="measured time of each step after its warm-up (default: 15s)",
    )


def search_plan(args: Any) -> SearchPlan:
    """The plan the parsed flags ask for (``ValueError`` with one line when impossible)."""
    plan = SearchPlan(
        start_rps=args.capacity_start,
        max_rps=args.capacity_max_rate,
        min_rps=min(SearchPlan.min_rps, args.capacity_start),
        precision=args.capacity_precision,
        max_steps=args.capacity_max_steps,
        step_s=args.capacity_step_time,
        warmup_s=args.warmup,
    )
    plan.check()
    return plan


__all__ = ["DEFAULT_STEP_S", "add_capacity_arguments", "search_plan"]
