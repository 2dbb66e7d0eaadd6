"""Whether the load generator kept up, and whether arrivals look clumped by a buffering proxy.

A Python load generator that saturates its CPU or event loop stamps events late, and every
latency it reports then includes its own queueing. The verdict here is ``"trustworthy"``
unless a measured figure crosses one of the thresholds below; each crossing becomes a reason
sentence that names the figure, says why it spoils the numbers and what to change.

Clumping is judged separately: it does not mean the generator failed, it means something
between the generator and the server (typically a proxy buffering the SSE body) delivers
events in bursts, so inter-token gaps measure the proxy rather than the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from chatgauge.loadtests._stats import quantile, summarize
from chatgauge.results.load import Clumping, GeneratorHealth, HealthThresholds, Summary, Trust

CPU_P90_LIMIT_PERCENT: Final = 90.0
"""A process busier than this (percent of one core, p90 of per-second samples) has greenlets
waiting for the CPU, so arrival stamps are taken late: the bias grows with load."""

HUB_LAG_P99_LIMIT_MS: Final = 5.0
"""Event-loop lag is a direct upper bound on how late a stamp can be. 5 ms is the TTFT p99
bias the project accepts at 64 streams (issue 4), so more lag than that cannot be hidden."""

HUB_LAG_TTFT_FRACTION: Final = 0.10
"""Against a fast endpoint even a few ms matter: lag above a tenth of the TTFT p50 distorts
TTFT by more than 10 %, whatever its absolute size."""

SCHEDULE_LAG_P99_LIMIT_MS: Final = 10.0
"""In open-loop mode a request sent this late (p99) after its scheduled start means the
arrival process differs from the one asked for (10 ms is the issue's p99 bias target at 256
streams); latency from the schedule then includes client-side queueing."""

ACHIEVED_RATE_MIN_FRACTION: Final = 0.95
"""Below 95 % of the target rate the endpoint saw a lighter load than the report claims."""

CLUMP_EVENTS_PER_READ: Final = 3.0
"""Token events per body read, pooled. A server streaming one event per token delivers about
one event per read; a buffering proxy flushes a buffer holding many events at once."""

CLUMP_MAX_EVENTS_PER_READ_P50: Final = 4
"""The typical request must also show a burst this large in at least one read, so a few
coalesced reads at the end of a stream do not raise the flag."""

CLUMP_ITL_TO_TPOT_RATIO: Final = 0.25
"""When events arrive in bursts most gaps are near zero while the per-token time over the
whole stream (TPOT) stays the model's: an ITL p50 below a quarter of TPOT p50 is that
collapse (the c8s#140 evidence: ITL p50 fell 5.5 -> 1.6 ms while TTFT rose 22 -> 287 ms)."""


@dataclass(frozen=True)
class HealthInputs:
    """What the load engine measured about its own processes during the run.

    - ``cpu_percent``: CPU use samples, one per second per generator process, in percent of
      one core (100 = one full core).
    - ``hub_lag_ms``: event-loop (gevent hub) lag samples: how late a timer that should have
      fired immediately actually ran.
    - ``target_rate``: requests/s asked for in open-loop mode; ``None`` for a closed loop.
    - ``users`` / ``processes``: the generator's size, quoted in the advice.
    - ``achieved_rate``: requests/s the engine actually sent in the measurement window, when it
      counted them itself; ``None`` lets the metrics estimate it from completed samples.
    """

    cpu_percent: Sequence[float] | Summary = field(default_factory=list)
    hub_lag_ms: Sequence[float] | Summary = field(default_factory=list)
    target_rate: float | None = None
    users: int = 0
    processes: int = 1
    achieved_rate: float | None = None


@dataclass(frozen=True)
class SampleEvidence:
    """What the request samples themselves say (computed by the metrics module).

    ``schedule_lag_ms`` and ``max_events_per_read`` are sorted ascending; the latter holds
    one value per request whose body reads were counted.
    """

    schedule_lag_ms: Sequence[float] | Summary = ()
    achieved_rate: float | None = None
    ttft_p50_ms: float | None = None
    itl_p50_ms: float | None = None
    tpot_p50_ms: float | None = None
    token_events: int = 0
    reads: int = 0
    max_events_per_read: Sequence[int] = ()


THRESHOLDS: Final = HealthThresholds(
    cpu_p90_percent=CPU_P90_LIMIT_PERCENT,
    hub_lag_p99_ms=HUB_LAG_P99_LIMIT_MS,
    hub_lag_ttft_fraction=HUB_LAG_TTFT_FRACTION,
    schedule_lag_p99_ms=SCHEDULE_LAG_P99_LIMIT_MS,
    achieved_rate_min_fraction=ACHIEVED_RATE_MIN_FRACTION,
)


def assess_generator(inputs: HealthInputs | None, evidence: SampleEvidence) -> GeneratorHealth:
    """The ``generator`` section of ``load.json``: figures, verdict, reasons and clumping."""
    health = inputs or HealthInputs()
    cpu = _summary(health.cpu_percent)
    hub = _summary(health.hub_lag_ms)
    schedule = _summary(evidence.schedule_lag_ms)
    achieved = health.achieved_rate if health.achieved_rate is not None else evidence.achieved_rate
    advice = _advice(health)
    reasons: list[str] = []
    notes: list[str] = []

    cpu_p90 = cpu.p90
    if cpu_p90 is None:
        notes.append("The generator's CPU use was not measured.")
    elif cpu_p90 > CPU_P90_LIMIT_PERCENT:
        reasons.append(
            f"Generator CPU p90 was {cpu_p90:.1f}% of one core (limit "
            f"{CPU_P90_LIMIT_PERCENT:.0f}%): a saturated process reads and stamps events late, "
            f"so the latencies include the generator's own queueing. {advice}"
        )

    hub_p99 = hub.p99
    if hub_p99 is None:
        notes.append("The event-loop (gevent hub) lag was not measured.")
    else:
        hub_limit = HUB_LAG_P99_LIMIT_MS
        limit_text = f"{HUB_LAG_P99_LIMIT_MS:g} ms"
        if evidence.ttft_p50_ms is not None:
            relative = HUB_LAG_TTFT_FRACTION * evidence.ttft_p50_ms
            if relative < hub_limit:
                hub_limit = relative
                limit_text = (
                    f"{relative:.2f} ms, {HUB_LAG_TTFT_FRACTION:.0%} of the TTFT p50 of "
                    f"{evidence.ttft_p50_ms:.2f} ms"
                )
        if hub_p99 > hub_limit:
            reasons.append(
                f"Event-loop lag p99 was {hub_p99:.2f} ms (limit {limit_text}): every arrival "
                f"stamp can be that late, which inflates TTFT and distorts inter-token gaps. "
                f"{advice}"
            )

    schedule_p99 = schedule.p99
    if schedule_p99 is not None and schedule_p99 > SCHEDULE_LAG_P99_LIMIT_MS:
        reasons.append(
            f"Requests left up to {schedule_p99:.2f} ms (p99) after their scheduled start "
            f"(limit {SCHEDULE_LAG_P99_LIMIT_MS:g} ms): the arrival process was not the one "
            f"asked for and latency measured from the schedule includes client-side queueing. "
            f"Give the generator more users so one is free at every arrival, or more processes."
        )

    if health.target_rate is not None and health.target_rate > 0:
        if achieved is None:
            notes.append("The achieved request rate could not be measured.")
        elif achieved < ACHIEVED_RATE_MIN_FRACTION * health.target_rate:
            # A process with CPU to spare fell behind because every user was busy: the
            # endpoint answers slower than rate x users allows, and more processes would not
            # help; more users (the cap on requests in flight) would.
            busy = (cpu_p90 is not None and cpu_p90 > CPU_P90_LIMIT_PERCENT) or (
                hub_p99 is not None and hub_p99 > HUB_LAG_P99_LIMIT_MS
            )
            remedy = (
                advice
                if busy
                else (
                    "Every user was busy: the endpoint answers too slowly for this rate with "
                    f"{health.users} users in flight; raise --users (the cap on requests in "
                    "flight) or lower --rate."
                )
            )
            reasons.append(
                f"Achieved {achieved:.3f} requests/s against a target of "
                f"{health.target_rate:g} ({achieved / health.target_rate:.1%}, minimum "
                f"{ACHIEVED_RATE_MIN_FRACTION:.0%}): the endpoint saw a lighter load than "
                f"configured, so these figures do not describe the target load. {remedy}"
            )

    return GeneratorHealth(
        verdict=Trust.UNTRUSTWORTHY if reasons else Trust.TRUSTWORTHY,
        reasons=tuple(reasons),
        notes=tuple(notes),
        cpu_percent=cpu,
        hub_lag_ms=hub,
        schedule_lag_ms=schedule,
        target_rate=health.target_rate,
        achieved_rate=achieved,
        users=health.users,
        processes=health.processes,
        thresholds=THRESHOLDS,
        clumping=detect_clumping(evidence),
    )


def excuse_generator(health: GeneratorHealth, error_rate: float) -> GeneratorHealth:
    """``health`` of a run whose endpoint failed beyond its error budget: the generator is
    not blamed for the figures the failures explain (late sends while users back off, a
    low achieved rate, a busy process handling a flood of errors). Each crossed threshold
    stays visible as a note without the advice to resize the generator."""
    if not health.reasons:
        return health
    excused = tuple(
        f"Not held against the generator (the endpoint failed {error_rate:.1%} of measured "
        f"requests): {reason.split(':', 1)[0]}."
        for reason in health.reasons
    )
    return replace(health, verdict=Trust.TRUSTWORTHY, reasons=(), notes=(*excused, *health.notes))


def detect_clumping(evidence: SampleEvidence) -> Clumping:
    """Whether events arrive in bursts (a buffering proxy), with the figures it rests on.

    Suspected when all three hold: pooled token events per read >=
    :data:`CLUMP_EVENTS_PER_READ`, the median request's largest read carries >=
    :data:`CLUMP_MAX_EVENTS_PER_READ_P50` events, and ITL p50 <=
    :data:`CLUMP_ITL_TO_TPOT_RATIO` x TPOT p50.
    """
    per_read = evidence.token_events / evidence.reads if evidence.reads else None
    bursts = evidence.max_events_per_read
    burst_p50 = quantile(bursts, 0.5) if bursts else None
    burst_max = bursts[-1] if bursts else None
    itl, tpot = evidence.itl_p50_ms, evidence.tpot_p50_ms
    figures = Clumping(
        events_per_read=per_read,
        max_events_per_read_p50=burst_p50,
        max_events_per_read_max=burst_max,
        itl_p50_ms=itl,
        tpot_p50_ms=tpot,
        ttft_p50_ms=evidence.ttft_p50_ms,
    )
    if per_read is None or burst_p50 is None or itl is None or tpot is None or tpot <= 0:
        return figures
    suspected = (
        per_read >= CLUMP_EVENTS_PER_READ
        and burst_p50 >= CLUMP_MAX_EVENTS_PER_READ_P50
        and itl <= CLUMP_ITL_TO_TPOT_RATIO * tpot
    )
    reason = None
    if suspected:
        ttft_text = (
            "" if evidence.ttft_p50_ms is None else f" TTFT p50 is {evidence.ttft_p50_ms:.2f} ms."
        )
        reason = (
            f"Buffering proxy suspected: token events arrive {per_read:.1f} per read on "
            f"average, the median request had a read carrying {burst_p50:g} events (largest "
            f"{burst_max}), and the inter-token gap p50 of {itl:.3f} ms is far below the "
            f"per-token time of {tpot:.3f} ms (TPOT p50): events are held back and delivered "
            f"in bursts, so TTFT includes the buffer's fill time and ITL measures the bursts, "
            f"not the model.{ttft_text} Measure without the proxy (or disable its response "
            f"buffering for text/event-stream) and compare; a generator too busy to read each "
            f"event as it arrives produces the same pattern, so check the health figures too."
        )
    return replace(figures, suspected=suspected, reason=reason)


def _summary(values: Sequence[float] | Summary) -> Summary:
    """Raw values summarised here, or a summary made where the values are kept (a live
    run's histograms, a long run's exact arrays)."""
    return values if isinstance(values, Summary) else summarize(values)


def _advice(health: HealthInputs) -> str:
    size = ""
    if health.users or health.processes:
        size = f" (this run: {health.users} users on {health.processes} process(es))"
    return f"Run with more --processes or fewer --users{size}."
