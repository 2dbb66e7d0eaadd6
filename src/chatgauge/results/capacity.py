"""The typed capacity answer of ``chatgauge load --capacity``: ``load.json``'s ``capacity``.

A capacity search runs one open-loop step per offered rate (arrivals on a schedule, every
latency measured from the request's intended start, so queueing anywhere, in the client or
in the server, counts as the user sees it), brackets the highest rate meeting every SLO by
doubling or halving, then bisects the bracket. ``rate_rps`` is the highest offered rate whose
step met every SLO in a steady state; ``bracket_high_rps`` the lowest that did not. Each step
keeps its own ``load.json`` (``report``, relative to the capacity run's directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chatgauge.results._codec import JsonRecord

CapacityPhase = Literal["bracket", "bisect"]


@dataclass(frozen=True)
class SloAttainment(JsonRecord):
    """One SLO at one step, judged on user-perceived latency.

    ``attainment`` is the fraction of measured requests meeting the bound (a failed request
    misses); ``lower_bound`` its one-sided 95 % Wilson lower confidence bound; ``met`` whether
    ``attainment`` reached the target.
    """

    name: str
    bound_ms: float
    attainment: float | None
    lower_bound: float | None
    met: bool


@dataclass(frozen=True)
class CapacityStep(JsonRecord):
    """One offered rate, measured after its own warm-up (user-perceived latencies, in ms).

    ``steady`` is false when the latency of the window's last third was far above its first
    third's (a queue still growing: the rate is past what the endpoint sustains, whatever
    the window's attainment says). ``passed`` means every SLO met in a steady state;
    ``reason`` says why a step failed. ``achieved_rps`` and ``output_tokens_per_s`` count
    work finished inside the window; ``goodput_rps`` the finished requests that met every SLO.
    ``unanswered`` counts intended starts in the window that had no answer when the step
    ended although their latency bound had passed (still queued in the client or the
    server): they count in ``measured`` and miss every latency SLO.
    """

    index: int
    phase: CapacityPhase
    offered_rps: float
    window_s: float
    measured: int
    failed: int
    achieved_rps: float | None
    output_tokens_per_s: float | None
    goodput_rps: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    e2e_p50_ms: float | None
    e2e_p99_ms: float | None
    schedule_lag_p99_ms: float | None
    slos: tuple[SloAttainment, ...]
    steady: bool
    passed: bool
    reason: str
    generator_trustworthy: bool
    report: str
    unanswered: int = 0


@dataclass(frozen=True)
class Capacity(JsonRecord):
    """The capacity answer: the highest rate meeting every SLO, its evidence and confidence.

    ``rate_rps`` / ``output_tokens_per_s`` / ``goodput_rps`` are those of step ``best`` (null
    when no step passed); ``bracket_low_rps`` is the same rate and ``bracket_high_rps`` the
    lowest failing one (null when none failed below the search's ceiling). ``confident`` says
    whether the best step proves the target attainment at 95 % confidence, from a trustworthy
    generator, in a bracket no wider than the asked precision; ``confidence`` says it in words.
    """

    rate_rps: float | None
    output_tokens_per_s: float | None
    goodput_rps: float | None
    bracket_low_rps: float | None
    bracket_high_rps: float | None
    target_attainment: float
    judged_on: str
    arrival: str
    step_s: float
    warmup_s: float
    precision: float
    steps: tuple[CapacityStep, ...] = ()
    best: int | None = None
    confident: bool = False
    confidence: str = ""
    stop_reason: str = ""


__all__ = ["Capacity", "CapacityPhase", "CapacityStep", "SloAttainment"]
