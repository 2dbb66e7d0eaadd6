"""The workload options (lengths, datasets, shared prefix, sessions, trace), declared once.

:func:`add_workload_arguments` adds them to a parser: locust's (they travel to the workers
with locust's own options) and ``chatgauge load``'s, with the same names and meanings;
:func:`workload_options` reads either parsed namespace into one
:class:`~chatgauge.loadtests._workloads.WorkloadOptions`. No locust import here.
"""

from __future__ import annotations

from typing import Any

from chatgauge.loadtests._options import parse_duration
from chatgauge.loadtests._workloads import WorkloadOptions


def add_workload_arguments(group: Any, *, parent: bool = False) -> None:
    """Add the workload options to an argument group (``parent``: the ``chatgauge load`` one,
    which also measures the token calibration itself)."""
    add = group.add_argument
    add(
        "--input-dist",
        default="",
        metavar="DIST",
        help="input length in the endpoint's tokens: N, uniform:LOW:HIGH, normal:MEAN:SD or "
        "lognormal:MEDIAN:SIGMA (calibrated from usage.prompt_tokens of two probes)",
    )
    add(
        "--output-dist",
        default="",
        metavar="DIST",
        help="output length (max_tokens) per request, same forms as --input-dist",
    )
    add(
        "--shared-prefix",
        type=int,
        default=0,
        metavar="N",
        help="start every request with the same system prompt of about N tokens",
    )
    add(
        "--dataset",
        default="",
        metavar="FILE",
        help="requests from a ShareGPT JSON file or a JSONL file (per-request max_tokens)",
    )
    add(
        "--trace",
        default="",
        metavar="FILE",
        help="replay arrival times and lengths: Azure CSV (TIMESTAMP,ContextTokens,"
        "GeneratedTokens) or JSONL (timestamp, input_tokens, output_tokens)",
    )
    add(
        "--trace-speedup",
        type=float,
        default=1.0,
        metavar="X",
        help="replay the trace X times faster (default: 1)",
    )
    add(
        "--turns",
        type=int,
        default=1,
        metavar="N",
        help="multi-turn sessions: each user continues its conversation for N turns",
    )
    add(
        "--think-time",
        default="0s",
        metavar="TIME",
        help="pause between the turns of a session (default: 0s)",
    )
    if not parent:
        add("--token-calibration", default="", help="OVERHEAD:PER_WORD (set by chatgauge load)")


def _given(value: Any, default: float) -> Any:
    # Zero is a value to refuse, not a missing one.
    return default if value is None else value


def workload_options(options: Any) -> WorkloadOptions:
    """The workload flags of a parsed namespace (``ValueError`` with one line)."""
    get = getattr
    think = get(options, "think_time", "0s") or "0s"
    return WorkloadOptions(
        input_dist=str(get(options, "input_dist", "") or ""),
        output_dist=str(get(options, "output_dist", "") or ""),
        shared_prefix=int(get(options, "shared_prefix", 0) or 0),
        dataset=str(get(options, "dataset", "") or ""),
        trace=str(get(options, "trace", "") or ""),
        trace_speedup=float(_given(get(options, "trace_speedup", None), 1.0)),
        turns=int(_given(get(options, "turns", None), 1)),
        think_time_s=think if isinstance(think, float) else parse_duration(str(think)),
        calibration=str(get(options, "token_calibration", "") or ""),
    )


__all__ = ["add_workload_arguments", "workload_options"]
