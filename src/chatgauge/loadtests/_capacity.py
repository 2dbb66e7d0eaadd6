"""The pure parts of a capacity search: judging one step, choosing the next rate, the answer.

Judging (:func:`judge_step`) reads a step's raw samples: the *measured* requests are those
whose intended start lies in the step's window (after its warm-up). Each SLO is judged on
what a user perceives, from the intended start (``t_sched``) of the open-loop schedule:

- ``ttft_ms`` and ``ttft_from_schedule_ms``: first token - ``t_sched``;
- ``ttfb_ms``: first event - ``t_sched``; ``e2e_ms``: done - ``t_sched``;
- ``tpot_ms`` and ``itl_ms``: as measured (they do not include waiting);

so a request that waited for a free user in the client, or in the server's queue, carries
that wait. A failed request misses every SLO. A step passes when every SLO is met by at least
:data:`~chatgauge.loadtests._slo.SLO_ATTAINMENT_TARGET` of its measured requests **and** it
reached a steady state: the median end-to-end latency of the window's last third is not far
above its first third's (:func:`steady`), since a queue that still grows at the window's end
would break the SLOs given a longer window.

Searching (:class:`RateSearch`): start at ``start_rps``; double after a pass and halve after
a fail until a passing rate and a failing rate bracket the capacity (or the ceiling/floor is
reached); then bisect until the bracket is no wider than ``precision`` (relative to its
lower end) or the step budget is spent.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from chatgauge.loadtests._requests import NS_PER_MS, NS_PER_S
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import SLO_ATTAINMENT_TARGET
from chatgauge.loadtests._stats import quantile
from chatgauge.results.capacity import Capacity, CapacityPhase, CapacityStep, SloAttainment

WILSON_Z: Final = 1.6449
"""One-sided 95 % normal quantile of the Wilson lower bound."""
GROWTH_RATIO: Final = 2.0
GROWTH_SLO_FRACTION: Final = 0.25
"""A step is not steady when its last third's median E2E exceeds both twice its first
third's and its first third's plus this fraction of the tightest latency bound."""
JUDGED_ON: Final = (
    "user-perceived latency, from each request's intended start on the open-loop schedule "
    "(ttft_ms, ttfb_ms, e2e_ms include any wait in the client or the server's queue; tpot_ms "
    "and itl_ms as measured); a failed request misses every SLO"
)


def wilson_lower(hits: int, total: int, z: float = WILSON_Z) -> float | None:
    """The Wilson score lower confidence bound of a proportion ``hits / total``."""
    if total <= 0:
        return None
    p = hits / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + z2 / total))


def _ms(ns: int) -> float:
    return ns / NS_PER_MS


def perceived_value(sample: RequestSample, name: str) -> float | None:
    """The value SLO ``name`` bounds for one request, as a user perceives it (ms)."""
    first = sample.t_first_token_ns
    if name in ("ttft_ms", "ttft_from_schedule_ms"):
        return None if first is None else _ms(first - sample.t_sched_ns)
    if name == "ttfb_ms":
        event = sample.t_first_event_ns
        return None if event is None else _ms(event - sample.t_sched_ns)
    if name == "e2e_ms":
        return _ms(sample.t_done_ns - sample.t_sched_ns)
    stamps = sample.token_event_ns
    if name == "itl_ms":
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        return _ms(max(gaps)) if gaps else None
    if name == "tpot_ms":
        last = sample.t_last_token_ns
        if sample.output_tokens < 2 or first is None or last is None:
            return None
        return _ms(last - first) / (sample.output_tokens - 1)
    raise ValueError(f"unknown SLO {name!r}")


def meets(sample: RequestSample, name: str, bound_ms: float) -> bool:
    """Whether one request meets SLO ``name`` (failed requests never do)."""
    if not sample.ok:
        return False
    value = perceived_value(sample, name)
    if value is None:
        # Decode SLOs have nothing to violate without two tokens; latency SLOs need the event.
        return name in ("tpot_ms", "itl_ms")
    return value <= bound_ms


def steady(measured: Sequence[RequestSample], slos: Mapping[str, float]) -> bool:
    """Whether the window's last third's median E2E stays near its first third's."""
    ordered = sorted(measured, key=lambda s: s.t_sched_ns)
    third = len(ordered) // 3
    if third < 3:
        return True  # too few requests to see a trend; the attainment decides alone
    early = sorted(_ms(s.t_done_ns - s.t_sched_ns) for s in ordered[:third])
    late = sorted(_ms(s.t_done_ns - s.t_sched_ns) for s in ordered[-third:])
    early_median, late_median = quantile(early, 0.5), quantile(late, 0.5)
    latency_bounds = [b for n, b in slos.items() if n not in ("tpot_ms", "itl_ms")]
    margin = GROWTH_SLO_FRACTION * min(latency_bounds or [early_median])
    return not (late_median > GROWTH_RATIO * early_median and late_median > early_median + margin)


@dataclass(frozen=True)
class StepInput:
    """What a step's run left: its samples and the facts its ``load.json`` holds."""

    index: int
    phase: CapacityPhase
    offered_rps: float
    samples: Sequence[RequestSample]
    window: tuple[int, int]
    output_tokens_per_s: float | None
    achieved_rps: float | None
    generator_trustworthy: bool
    report: str
    intended: tuple[int, ...] | None = None
    """Every intended start of the step's schedule up to the window's end (``None``:
    not known), to find the requests that never got an answer."""


def unanswered(step: StepInput, slos: Mapping[str, float]) -> int:
    """Intended starts in the window with no sample whose latency bound had passed by the
    window's end: definite misses (the run stops at the window's end, so a request scheduled
    in its last moments may still have been on time and is left out)."""
    latency = [b for n, b in slos.items() if n not in ("tpot_ms", "itl_ms")]
    if step.intended is None or not latency:
        return 0
    start, end = step.window
    sampled = {s.t_sched_ns for s in step.samples if not _cut_off(s)}
    late_by = round(min(latency) * NS_PER_MS)
    return sum(1 for t in step.intended if start <= t <= end - late_by and t not in sampled)


def _cut_off(sample: RequestSample) -> bool:
    """Still in flight when the step's run ended: no answer yet, so judged like a request
    that never got one (a miss once its latency bound had passed, else left out)."""
    return sample.error_kind == "cut_off"


def _p(values: list[float], q: float) -> float | None:
    return quantile(values, q) if values else None


def judge_step(step: StepInput, slos: Mapping[str, float]) -> CapacityStep:
    """One step's figures and verdict (see the module docstring)."""
    start, end = step.window
    window_s = max(end - start, 0) / NS_PER_S
    answered = [s for s in step.samples if not _cut_off(s)]
    measured = [s for s in answered if start <= s.t_sched_ns <= end]
    finished = [s for s in answered if start <= s.t_done_ns <= end]
    missing = unanswered(step, slos)
    outcomes = []
    for name, bound in slos.items():
        hits = sum(meets(s, name, bound) for s in measured)
        if name in ("tpot_ms", "itl_ms"):
            hits += missing  # no token yet: nothing for a decode SLO to bound
        total = len(measured) + missing
        outcomes.append(
            SloAttainment(
                name=name,
                bound_ms=bound,
                attainment=hits / total if total else None,
                lower_bound=wilson_lower(hits, total),
                met=bool(total) and hits >= SLO_ATTAINMENT_TARGET * total,
            )
        )
    good_finished = sum(all(meets(s, n, b) for n, b in slos.items()) for s in finished)
    ok = [s for s in measured if s.ok]
    ttft = sorted(v for s in ok if (v := perceived_value(s, "ttft_ms")) is not None)
    e2e = sorted(_ms(s.t_done_ns - s.t_sched_ns) for s in ok)
    lag = sorted(_ms(s.t_send_ns - s.t_sched_ns) for s in measured)
    is_steady = steady(ok, slos)
    missed = [o for o in outcomes if not o.met]
    if not measured and not missing:
        reason = "no request was measured in the window"
    elif missed:
        reason = "missed " + ", ".join(
            f"{o.name}<={o.bound_ms:g} ms (met by {100 * (o.attainment or 0):.1f}%)" for o in missed
        )
    elif not is_steady:
        reason = "no steady state: latency still grew through the window (a queue building)"
    else:
        reason = "met every SLO in a steady state"
    return CapacityStep(
        index=step.index,
        phase=step.phase,
        offered_rps=step.offered_rps,
        window_s=window_s,
        measured=len(measured) + missing,
        failed=sum(not s.ok for s in measured),
        achieved_rps=step.achieved_rps,
        output_tokens_per_s=step.output_tokens_per_s,
        goodput_rps=good_finished / window_s if window_s > 0 else None,
        ttft_p50_ms=_p(ttft, 0.5),
        ttft_p99_ms=_p(ttft, 0.99),
        e2e_p50_ms=_p(e2e, 0.5),
        e2e_p99_ms=_p(e2e, 0.99),
        schedule_lag_p99_ms=_p(lag, 0.99),
        slos=tuple(outcomes),
        steady=is_steady,
        passed=bool(measured) and not missed and is_steady,
        reason=reason,
        generator_trustworthy=step.generator_trustworthy,
        report=step.report,
        unanswered=missing,
    )


@dataclass(frozen=True)
class SearchPlan:
    """How a search proceeds (rates in requests/s, times in seconds)."""

    start_rps: float = 1.0
    max_rps: float = 1000.0
    min_rps: float = 0.05
    precision: float = 0.05
    max_steps: int = 12
    step_s: float = 15.0
    warmup_s: float = 5.0

    def check(self) -> None:
        """``ValueError`` with one line for a plan that cannot search."""
        for name in ("start_rps", "max_rps", "min_rps", "precision", "step_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`capacity_{name}` must be a positive number, got {value}")
        if not self.min_rps <= self.start_rps <= self.max_rps:
            raise ValueError("the capacity search starts between its floor and its ceiling")
        if self.max_steps < 2:
            raise ValueError("`capacity_max_steps` must be at least 2")
        if not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            raise ValueError("`warmup_s` must be 0 or more seconds")


class RateSearch:
    """Bracket, then bisect (see the module docstring): feed it verdicts, ask for rates."""

    def __init__(self, plan: SearchPlan) -> None:
        self.plan = plan
        self.low: float | None = None  # highest passing rate
        self.high: float | None = None  # lowest failing rate
        self.tried = 0
        self.stop_reason = ""
        self._next: float | None = plan.start_rps

    @property
    def phase(self) -> CapacityPhase:
        """``bracket`` until a pass and a fail are known, then ``bisect``."""
        return "bisect" if self.low is not None and self.high is not None else "bracket"

    def next_rate(self) -> float | None:
        """The next rate to try; ``None`` when the search is over (see ``stop_reason``)."""
        if self._next is None:
            return None
        if self.tried >= self.plan.max_steps:
            self.stop_reason = f"step budget spent ({self.plan.max_steps} steps)"
            return None
        return self._next

    def record(self, rate: float, passed: bool) -> None:
        """The verdict of the step at ``rate``."""
        self.tried += 1
        plan = self.plan
        if passed:
            self.low = rate if self.low is None else max(self.low, rate)
        else:
            self.high = rate if self.high is None else min(self.high, rate)
        low, high = self.low, self.high
        if low is not None and high is not None:
            if high <= low:
                # A slower rate failed after a faster one passed: noise at the edge. The
                # failing rate is the tighter evidence; keep searching below it.
                self.low = None
                self._next = high / 2 if high / 2 >= plan.min_rps else None
                if self._next is None:
                    self.stop_reason = "even the floor rate failed"
                return
            if (high - low) / low <= plan.precision:
                self.stop_reason = f"bracket within {100 * plan.precision:g}%"
                self._next = None
                return
            self._next = (low + high) / 2
        elif low is not None:
            if low >= plan.max_rps:
                self.stop_reason = f"the ceiling {plan.max_rps:g} req/s met every SLO"
                self._next = None
            else:
                self._next = min(low * 2, plan.max_rps)
        else:
            assert high is not None
            if high <= plan.min_rps:
                self.stop_reason = f"even the floor {plan.min_rps:g} req/s missed the SLOs"
                self._next = None
            else:
                self._next = max(high / 2, plan.min_rps)


def confidence(
    steps: Sequence[CapacityStep],
    best: int | None,
    low: float | None,
    high: float | None,
    precision: float,
) -> tuple[bool, str]:
    """Whether the answer is proven, and a sentence saying how far it can be trusted."""
    if best is None:
        return False, "no offered rate met every SLO: the capacity is below the lowest rate tried"
    step = steps[best]
    parts = []
    if high is None:
        parts.append(
            f"{step.offered_rps:g} req/s met every SLO and no higher rate was found to fail: "
            "the capacity is at least that"
        )
        bracket_ok = False
    else:
        width = (high - step.offered_rps) / step.offered_rps
        parts.append(
            f"the capacity lies between {step.offered_rps:.3g} req/s (met every SLO) and "
            f"{high:.3g} req/s (did not), {100 * width:.1f}% apart"
        )
        bracket_ok = width <= precision * 1.0000001
    weakest = min(
        (o for o in step.slos if o.lower_bound is not None),
        key=lambda o: o.lower_bound or 0.0,
        default=None,
    )
    proven = weakest is not None and (weakest.lower_bound or 0.0) >= SLO_ATTAINMENT_TARGET
    if weakest is not None:
        parts.append(
            f"at that rate {step.measured} requests gave {weakest.name} an attainment of "
            f"{100 * (weakest.attainment or 0):.1f}% (95% lower bound "
            f"{100 * (weakest.lower_bound or 0):.1f}%, target "
            f"{100 * SLO_ATTAINMENT_TARGET:g}%)"
        )
    if not proven:
        parts.append(
            "too few requests to prove the target attainment at 95% confidence: lengthen the "
            "steps (--capacity-step-time)"
        )
    if not step.generator_trustworthy:
        parts.append("the load generator's own verdict on that step was untrustworthy")
    confident = proven and bracket_ok and step.generator_trustworthy
    verdict = "confident" if confident else "limited confidence"
    return confident, f"{verdict}: " + "; ".join(parts)


def answer(steps: Sequence[CapacityStep], search: RateSearch, *, arrival: str) -> Capacity:
    """The :class:`Capacity` of the steps a search ran."""
    plan = search.plan
    # Conservative at a noisy edge: the answer lies below every failing rate.
    high = min((s.offered_rps for s in steps if not s.passed), default=None)
    passing = [
        i for i, s in enumerate(steps) if s.passed and (high is None or s.offered_rps < high)
    ]
    best = max(passing, key=lambda i: steps[i].offered_rps, default=None)
    low = steps[best].offered_rps if best is not None else None
    confident, statement = confidence(steps, best, low, high, plan.precision)
    chosen = steps[best] if best is not None else None
    return Capacity(
        rate_rps=low,
        output_tokens_per_s=chosen.output_tokens_per_s if chosen else None,
        goodput_rps=chosen.goodput_rps if chosen else None,
        bracket_low_rps=low,
        bracket_high_rps=high,
        target_attainment=SLO_ATTAINMENT_TARGET,
        judged_on=JUDGED_ON,
        arrival=arrival,
        step_s=plan.step_s,
        warmup_s=plan.warmup_s,
        precision=plan.precision,
        steps=tuple(steps),
        best=best,
        confident=confident,
        confidence=statement,
        stop_reason=search.stop_reason,
    )


__all__ = [
    "JUDGED_ON",
    "RateSearch",
    "SearchPlan",
    "StepInput",
    "answer",
    "confidence",
    "judge_step",
    "meets",
    "perceived_value",
    "steady",
    "wilson_lower",
]
