"""Service level objectives: the names ``--slo`` accepts and how ``NAME=MS`` is read."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from chatgauge.results.load import LatencyBasis, MetricName, SloBound, SloName

SLO_NAMES: Final[Mapping[SloName, str]] = {
    "ttft_ms": "time to first token (t_first_token - t_send)",
    "ttfb_ms": "time to first event (t_first_event - t_send)",
    "ttft_from_schedule_ms": "time to first token from the scheduled start",
    "tpot_ms": "time per output token after the first",
    "itl_ms": "the request's largest gap between token-bearing events",
    "e2e_ms": "end-to-end latency (t_done - t_send)",
}
"""SLOs ``--slo`` accepts; each is an upper bound in milliseconds on one request's value."""

SLO_ATTAINMENT_TARGET: Final = 0.99
"""An SLO ``name=X`` is met by a run when at least this fraction of measured requests meets
it (failed requests count as misses): the threshold reads as a p99 that errors cannot dodge."""


DEFAULT_MAX_ERROR_RATE: Final = 0.01
"""The error budget ``--max-error-rate`` defaults to: above 1 % of measured requests failed,
a run fails whatever its latencies (a fast error is not a served request)."""


def judged_metric(name: SloName, basis: LatencyBasis) -> MetricName:
    """The per-request figure an SLO bounds on ``basis``: in an open loop, ``ttft_ms`` and
    ``e2e_ms`` are judged from the intended start (the user's wait for a free slot counts)."""
    if basis == "intended_start" and name == "ttft_ms":
        return "ttft_from_schedule_ms"
    if basis == "intended_start" and name == "e2e_ms":
        return "e2e_from_schedule_ms"
    return name


def slo_meaning(name: SloName, basis: LatencyBasis) -> str:
    """What an SLO bounds on ``basis``, in words."""
    if judged_metric(name, basis) != name:
        what = "time to first token" if name == "ttft_ms" else "end-to-end latency"
        return f"{what} from the intended start (open loop: queueing before the send counts)"
    return SLO_NAMES[name]


def slo_name(text: str) -> SloName:
    """``text`` as an SLO name; ``ValueError`` naming the known ones otherwise."""
    for name in SLO_NAMES:
        if name == text:
            return name
    raise ValueError(f"unknown SLO {text!r}; known SLOs: {', '.join(SLO_NAMES)}")


def parse_slo(text: str) -> SloBound:
    """``"ttft_ms=500"`` -> ``SloBound("ttft_ms", 500.0)``; a clear ``ValueError`` otherwise."""
    name_text, sep, value_text = text.partition("=")
    name_text = name_text.strip()
    if not sep or not name_text or not value_text.strip():
        raise ValueError(f"SLO {text!r} must look like NAME=MILLISECONDS, e.g. ttft_ms=500")
    try:
        name = slo_name(name_text)
    except ValueError:
        known = ", ".join(SLO_NAMES)
        raise ValueError(f"unknown SLO {name_text!r} in {text!r}; known SLOs: {known}") from None
    try:
        value = float(value_text)
    except ValueError:
        raise ValueError(f"SLO {text!r}: {value_text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"SLO {text!r}: the bound must be a positive number of milliseconds")
    return SloBound(name=name, max_ms=value)


def slo_bounds(slos: Mapping[str, float]) -> tuple[SloBound, ...]:
    """``{"ttft_ms": 500}`` as bounds, checked like :func:`parse_slo`."""
    return tuple(parse_slo(f"{name}={bound!r}") for name, bound in slos.items())


__all__ = [
    "DEFAULT_MAX_ERROR_RATE",
    "SLO_ATTAINMENT_TARGET",
    "SLO_NAMES",
    "judged_metric",
    "parse_slo",
    "slo_bounds",
    "slo_meaning",
    "slo_name",
]
