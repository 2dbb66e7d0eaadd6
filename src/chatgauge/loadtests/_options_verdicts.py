"""The locust options that decide when a load run fails and how hostile answers are bounded.

Kept apart from the main table (:mod:`chatgauge.loadtests._options`) so each stays small:

- the error budget (``--max-error-rate``) and the endpoint-down stop (``--abort-after``);
- the per-user backoff after refused or reset connections, 429 and 503 (``--max-backoff``);
- the bounds on one answer (``--total-timeout``, ``--max-body-bytes``, ``--max-events``,
  ``--max-line-bytes``), which become the connection's :class:`~chatgauge._limits.Limits`;
- the sweep's per-step warm-up (``--sweep-warmup``, by default a fraction of the step) and
  the least measured requests a step needs to be judged (``--sweep-min-requests``).

Like the main table, this module never imports locust.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Final

from chatgauge._argtypes import byte_size
from chatgauge._limits import Limits
from chatgauge.loadtests._slo import DEFAULT_MAX_ERROR_RATE

DEFAULT_ABORT_AFTER_S: Final = 30.0
"""How long the endpoint may fail every request, without one success, before the run stops
as 'endpoint down' (a restart of a server takes seconds; half a minute of nothing but
failures is an outage, and measuring it further only measures the failures)."""

DEFAULT_MAX_BACKOFF_S: Final = 10.0
"""The longest a user waits before its next request after a failure that asks for backoff
(a longer ``Retry-After`` is cut to this)."""

SWEEP_WARMUP_FRACTION: Final = 0.2
"""A sweep step's default warm-up, as a fraction of the step: the load changes at each step,
so each needs its own settling time, in proportion to how long it runs."""

DEFAULT_SWEEP_MIN_REQUESTS: Final = 30
"""Below this many measured requests a step's percentiles are not judged (its p99 would be
its largest value or close to it), so it is marked insufficient and cannot be the best."""

_LIMITS: Final = Limits()


def _fraction(text: str) -> float:
    try:
        value = float(text.strip().rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction: {text!r} (e.g. 0.01 or 1%)") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1 (or 0% and 100%): {text!r}")
    return value


def parse_error_rate(text: str) -> float:
    """``0.01`` or ``1%`` as a fraction; ``ValueError`` with one line otherwise."""
    try:
        return _fraction(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"--max-error-rate: {exc}") from None


def add_verdict_arguments(group: Any) -> None:
    """Add the options of this module to locust's chatgauge argument group."""
    add = group.add_argument
    add(
        "--max-error-rate",
        default=str(DEFAULT_MAX_ERROR_RATE),
        help="error budget: above this fraction of failed measured requests the run fails",
    )
    add(
        "--abort-after",
        type=float,
        default=DEFAULT_ABORT_AFTER_S,
        help="seconds of failures without a success before the run stops (endpoint down)",
    )
    add(
        "--max-backoff",
        type=float,
        default=DEFAULT_MAX_BACKOFF_S,
        help="longest backoff of a user after a refused connection, 429 or 503 (seconds)",
    )
    add(
        "--total-timeout",
        type=float,
        default=_LIMITS.total_timeout_s,
        help="total deadline of one request in seconds, connect to last byte",
    )
    add("--max-body-bytes", default=str(_LIMITS.max_body_bytes), help="largest answer body")
    add("--max-events", type=int, default=_LIMITS.max_events, help="most SSE events a stream")
    add("--max-line-bytes", default=str(_LIMITS.max_line_bytes), help="longest SSE line")
    add(
        "--max-interim-responses",
        type=int,
        default=_LIMITS.max_interim_responses,
        help="most 1xx interim responses before the answer",
    )
    add("--max-header-bytes", default=str(_LIMITS.max_header_bytes), help="largest response head")
    add("--sweep-warmup", default="", help="warm-up of each sweep step (default: 20%% of it)")
    add(
        "--sweep-min-requests",
        type=int,
        default=DEFAULT_SWEEP_MIN_REQUESTS,
        help="measured requests a sweep step needs to be judged",
    )


@dataclass(frozen=True)
class VerdictOptions:
    """The checked values of this module's options (defaults without them)."""

    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    abort_after_s: float = DEFAULT_ABORT_AFTER_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    limits: Limits = _LIMITS
    sweep_warmup_s: float | None = None
    sweep_min_requests: int = DEFAULT_SWEEP_MIN_REQUESTS

    def step_warmup_s(self, step_s: float) -> float:
        """The warm-up of a sweep step of ``step_s`` seconds."""
        if self.sweep_warmup_s is not None:
            return self.sweep_warmup_s
        return SWEEP_WARMUP_FRACTION * step_s

    @classmethod
    def from_options(cls, options: Any, parse_duration: Any) -> VerdictOptions:
        """The values of parsed locust options; ``ValueError`` with one line."""
        get = getattr
        rate = parse_error_rate(str(get(options, "max_error_rate", DEFAULT_MAX_ERROR_RATE)))
        numbers = {
            "--abort-after": float(get(options, "abort_after", DEFAULT_ABORT_AFTER_S)),
            "--max-backoff": float(get(options, "max_backoff", DEFAULT_MAX_BACKOFF_S)),
            "--total-timeout": float(get(options, "total_timeout", _LIMITS.total_timeout_s)),
        }
        for flag, value in numbers.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{flag} must be a positive number of seconds, got {value}")
        try:
            limits = Limits(
                total_timeout_s=numbers["--total-timeout"],
                max_body_bytes=byte_size(str(get(options, "max_body_bytes", "16MiB"))),
                max_events=int(get(options, "max_events", _LIMITS.max_events)),
                max_line_bytes=byte_size(str(get(options, "max_line_bytes", "16MiB"))),
                max_interim_responses=int(
                    get(options, "max_interim_responses", _LIMITS.max_interim_responses)
                ),
                max_header_bytes=byte_size(str(get(options, "max_header_bytes", "64KiB"))),
            )
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ValueError(f"answer limits: {exc}") from None
        warmup_text = str(get(options, "sweep_warmup", "") or "")
        warmup = parse_duration(warmup_text) if warmup_text else None
        minimum = int(get(options, "sweep_min_requests", DEFAULT_SWEEP_MIN_REQUESTS))
        if minimum < 0:
            raise ValueError(f"--sweep-min-requests must be 0 or more, got {minimum}")
        return cls(
            max_error_rate=rate,
            abort_after_s=numbers["--abort-after"],
            max_backoff_s=numbers["--max-backoff"],
            limits=limits,
            sweep_warmup_s=warmup,
            sweep_min_requests=minimum,
        )


__all__ = [
    "DEFAULT_ABORT_AFTER_S",
    "DEFAULT_MAX_BACKOFF_S",
    "DEFAULT_SWEEP_MIN_REQUESTS",
    "SWEEP_WARMUP_FRACTION",
    "VerdictOptions",
    "add_verdict_arguments",
    "parse_error_rate",
]
