"""Turning request samples into the figures of ``load.json``, as ``docs/metrics.md`` defines.

:func:`compute_results` is a pure function of the raw samples: nothing is rounded or bucketed,
percentiles come from :mod:`chatgauge.loadtests._stats`, and every figure's formula is written
into the ``definitions`` section (:mod:`chatgauge.loadtests._definitions`) so a reader can
compare it with other tools' numbers. It returns a :class:`Measurement`: the typed sections
of :class:`~chatgauge.results.load.LoadReport` that samples decide.

Two sets of requests are used, both bounded by the measurement window ``[start, end]``
(inclusive, ``perf_counter_ns`` stamps); warm-up before ``start`` and cool-down after ``end``
never count:

- *measured* requests, whose scheduled start ``t_sched`` lies in the window: every latency
  statistic, the request/error counts and SLO attainment;
- *completed-in-window* requests, whose ``t_done`` lies in the window: every rate (output
  tokens/s, requests/s, goodput), so a rate is work finished inside the window divided by
  the window's length.

Requests cut off by the end of the run (error kind ``cut_off``) are counted, never dropped:
one that had run no longer than twice the longest completed request is a normal cut
(``requests.cut_off``, outside every latency, SLO and error figure); one that had run
longer, or in a run where nothing completed, is a hang and counts as failed. (Twice: a
request queued at a saturated server at the end may honestly outlast every earlier one.)

The latency basis decides which TTFT and E2E the verdicts use: ``intended_start`` (open
loop) judges SLOs on the time from the intended start, which includes the wait for a free
user; ``send`` (closed loop) on the time from the send. Both sets of figures are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from chatgauge.loadtests._curves import distributions, points, series
from chatgauge.loadtests._definitions import DEFINITIONS
from chatgauge.loadtests._health import (
    HealthInputs,
    SampleEvidence,
    assess_generator,
    excuse_generator,
)
from chatgauge.loadtests._requests import NS_PER_S, RequestFigures, request_figures
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import (
    DEFAULT_MAX_ERROR_RATE,
    SLO_ATTAINMENT_TARGET,
    judged_metric,
    slo_meaning,
    slo_name,
)
from chatgauge.loadtests._stats import summarize_sorted
from chatgauge.results.load import (
    Distributions,
    ErrorBudget,
    ErrorGroup,
    GeneratorHealth,
    Goodput,
    LatencyBasis,
    Metrics,
    Points,
    RequestCounts,
    Series,
    SloName,
    SloOutcome,
    Throughput,
    TokenSources,
    Window,
)

MAX_ERROR_EXAMPLE_CHARS: Final = 500
HANG_FACTOR: Final = 2.0
"""A request cut off after running this many times the longest completed one is a hang."""


@dataclass(frozen=True)
class Measurement:
    """The sections of ``load.json`` computed from samples (the engine adds the rest)."""

    window: Window
    metrics: Metrics
    throughput: Throughput
    requests: RequestCounts
    errors: tuple[ErrorGroup, ...]
    goodput: Goodput
    series: Series
    points: Points
    distributions: Distributions
    generator: GeneratorHealth
    definitions: dict[str, str]
    error_budget: ErrorBudget = field(default_factory=ErrorBudget)
    latency_basis: LatencyBasis = "send"


def compute_results(
    samples: Sequence[RequestSample],
    *,
    window: tuple[int, int] | None = None,
    slos: Mapping[str, float] | None = None,
    health: HealthInputs | None = None,
    origin_ns: int | None = None,
    basis: LatencyBasis = "send",
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
) -> Measurement:
    """The computed sections of ``load.json`` (the engine adds endpoint, model and config).

    ``window`` is ``(start_ns, end_ns)``; ``None`` measures everything from the earliest
    ``t_sched`` to the latest ``t_done``. ``origin_ns`` is second zero of the time series and
    the points (default: the earliest ``t_sched``). ``slos`` maps names of :data:`SLO_NAMES`
    to upper bounds in ms; unknown names raise ``ValueError``. ``basis`` is the latency
    basis of the verdicts, ``max_error_rate`` the error budget (see the module docstring).
    """
    slo_bounds = {slo_name(name): bound for name, bound in (slos or {}).items()}
    start, end = window if window is not None else _full_span(samples)
    origin = origin_ns if origin_ns is not None else _earliest_sched(samples)
    window_s = max(end - start, 0) / NS_PER_S

    requests = [request_figures(sample) for sample in samples]
    longest = max((r.e2e for r in requests if r.sample.ok), default=None)
    in_window = [r for r in requests if start <= r.sample.t_sched_ns <= end]
    cut = [r for r in in_window if _normal_cut(r, longest)]
    measured = [r for r in in_window if not _normal_cut(r, longest)]
    finished = [
        r
        for r in requests
        if start <= r.sample.t_done_ns <= end and r.sample.error_kind != "cut_off"
    ]
    good = [r for r in measured if r.sample.ok]
    from_schedule = basis == "intended_start"

    columns = _columns(measured, good)
    metrics = Metrics(**{key: summarize_sorted(values) for key, values in columns.items()})
    evidence = SampleEvidence(
        schedule_lag_ms=columns["schedule_lag_ms"],
        achieved_rate=_sent_rate(measured, start, end),
        ttft_p50_ms=metrics.ttft_ms.p50,
        itl_p50_ms=metrics.itl_ms.p50,
        tpot_p50_ms=metrics.tpot_ms.p50,
        token_events=sum(len(r.sample.token_event_ns) for r in measured if r.sample.reads),
        reads=sum(r.sample.reads for r in measured),
        max_events_per_read=sorted(
            r.sample.max_events_per_read for r in measured if r.sample.reads
        ),
    )
    budget = _error_budget(measured, good, max_error_rate)
    generator = assess_generator(health, evidence)
    if budget.met is False and budget.error_rate:
        generator = excuse_generator(generator, budget.error_rate)
    return Measurement(
        window=Window(
            start_s=(start - origin) / NS_PER_S,
            end_s=(end - origin) / NS_PER_S,
            length_s=window_s,
            origin_ns=origin,
            start_ns=start,
            end_ns=end,
        ),
        metrics=metrics,
        throughput=_throughput(finished, window_s),
        requests=_request_counts(measured, good, len(requests), len(cut)),
        errors=_errors(measured),
        goodput=_goodput(measured, finished, slo_bounds, window_s, basis),
        series=series(requests, origin),
        points=points(requests, origin, from_schedule=from_schedule),
        distributions=distributions(
            ttft_ms=columns["ttft_from_schedule_ms" if from_schedule else "ttft_ms"],
            itl_ms=columns["itl_ms"],
            e2e_ms=columns["e2e_from_schedule_ms" if from_schedule else "e2e_ms"],
        ),
        generator=generator,
        definitions=dict(DEFINITIONS),
        error_budget=budget,
        latency_basis=basis,
    )


def _normal_cut(request: RequestFigures, longest: float | None) -> bool:
    """A request cut off by the run's end before it ran twice as long as any completed one."""
    if request.sample.error_kind != "cut_off":
        return False
    return longest is not None and request.e2e <= HANG_FACTOR * longest


def _error_budget(
    measured: list[RequestFigures], good: list[RequestFigures], max_error_rate: float
) -> ErrorBudget:
    errors = len(measured) - len(good)
    kinds = Counter(_error_label(r.sample) for r in measured if not r.sample.ok)
    rate = errors / len(measured) if measured else None
    return ErrorBudget(
        max_error_rate=max_error_rate,
        errors=errors,
        requests=len(measured),
        error_rate=rate,
        met=None if rate is None else (rate <= max_error_rate and bool(good)),
        kinds=tuple(kind for kind, _ in sorted(kinds.items(), key=lambda i: (-i[1], i[0]))),
    )


def _full_span(samples: Sequence[RequestSample]) -> tuple[int, int]:
    if not samples:
        return 0, 0
    return min(s.t_sched_ns for s in samples), max(s.t_done_ns for s in samples)


def _earliest_sched(samples: Sequence[RequestSample]) -> int:
    return min((s.t_sched_ns for s in samples), default=0)


def _present(values: Iterable[float | None]) -> list[float]:
    return sorted(v for v in values if v is not None)


def _columns(measured: list[RequestFigures], good: list[RequestFigures]) -> dict[str, list[float]]:
    """Each metric's raw values, sorted ascending (keyed like :class:`Metrics`' fields)."""
    itl = sorted(gap for r in good for gap in r.gaps)
    return {
        "ttft_ms": _present(r.ttft for r in good),
        "ttfb_ms": _present(r.ttfb for r in good),
        "ttft_from_schedule_ms": _present(r.ttft_from_schedule for r in good),
        "schedule_lag_ms": sorted(r.schedule_lag for r in measured),
        "tpot_ms": _present(r.tpot for r in good),
        "itl_ms": itl,
        "itl_per_token_ms": (
            itl
            if all(r.gaps_per_token is r.gaps for r in good)
            else sorted(gap for r in good for gap in r.gaps_per_token)
        ),
        "e2e_ms": sorted(r.e2e for r in good),
        "decode_rate_tps": _present(r.decode_rate for r in good),
        "e2e_from_schedule_ms": sorted(r.e2e_from_schedule for r in good),
    }


def _rate(count: float, window_s: float) -> float | None:
    return count / window_s if window_s > 0 else None


def _throughput(finished: list[RequestFigures], window_s: float) -> Throughput:
    ok = [r.sample for r in finished if r.sample.ok]
    output_tokens = sum(s.output_tokens for s in ok)
    prompt_tokens = sum(s.prompt_tokens or 0 for s in ok)
    failed = len(finished) - len(ok)
    return Throughput(
        window_s=window_s,
        output_tokens=output_tokens,
        output_tokens_per_s=_rate(output_tokens, window_s),
        prompt_tokens=prompt_tokens,
        prompt_tokens_per_s=_rate(prompt_tokens, window_s),
        requests_completed=len(ok),
        requests_per_s=_rate(len(ok), window_s),
        errors=failed,
        errors_per_s=_rate(failed, window_s),
    )


def _sent_rate(measured: list[RequestFigures], start: int, end: int) -> float | None:
    """Requests sent per second, estimated from the samples that have completed.

    Requests still in flight have no sample yet, so the span ends at the last send seen
    rather than at the window's end (which would understate the rate).
    """
    sends = [r.sample.t_send_ns for r in measured if start <= r.sample.t_send_ns <= end]
    if len(sends) < 2:
        return None
    span = max(sends) - start
    return len(sends) / (span / NS_PER_S) if span > 0 else None


def _request_counts(
    measured: list[RequestFigures], good: list[RequestFigures], total: int, cut_off: int
) -> RequestCounts:
    sources = Counter(r.sample.token_source for r in good)
    return RequestCounts(
        total=len(measured) + cut_off,
        completed=len(good),
        failed=len(measured) - len(good),
        outside_window=total - len(measured) - cut_off,
        output_tokens=sum(r.sample.output_tokens for r in good),
        token_source=TokenSources(usage=sources.get("usage", 0), events=sources.get("events", 0)),
        cut_off=cut_off,
    )


def _error_label(sample: RequestSample) -> str:
    kind = sample.error_kind or "error"
    if kind == "http" and sample.status is not None:
        return f"http {sample.status}"
    return kind


def _errors(measured: list[RequestFigures]) -> tuple[ErrorGroup, ...]:
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for request in measured:
        sample = request.sample
        if sample.ok:
            continue
        label = _error_label(sample)
        counts[label] += 1
        examples.setdefault(label, (sample.error or "")[:MAX_ERROR_EXAMPLE_CHARS])
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ErrorGroup(kind=k, count=n, example=examples[k]) for k, n in ranked)


def _slo_value(request: RequestFigures, name: SloName, basis: LatencyBasis) -> float | None:
    if name == "ttft_ms":
        return request.ttft_from_schedule if basis == "intended_start" else request.ttft
    if name == "ttfb_ms":
        return request.ttfb
    if name == "ttft_from_schedule_ms":
        return request.ttft_from_schedule
    if name == "tpot_ms":
        return request.tpot
    if name == "itl_ms":
        return max(request.gaps, default=None)
    return request.e2e_from_schedule if basis == "intended_start" else request.e2e


def _meets(request: RequestFigures, name: SloName, bound: float, basis: LatencyBasis) -> bool:
    if not request.sample.ok:
        return False
    value = _slo_value(request, name, basis)
    if value is None:
        # Decode SLOs have nothing to violate without two tokens; latency SLOs need the event.
        return name in ("tpot_ms", "itl_ms")
    return value <= bound


def _meets_all(request: RequestFigures, slos: Mapping[SloName, float], basis: LatencyBasis) -> bool:
    return all(_meets(request, name, bound, basis) for name, bound in slos.items())


def _goodput(
    measured: list[RequestFigures],
    finished: list[RequestFigures],
    slos: Mapping[SloName, float],
    window_s: float,
    basis: LatencyBasis,
) -> Goodput:
    outcomes = []
    for name, bound in slos.items():
        hits = sum(_meets(r, name, bound, basis) for r in measured)
        outcomes.append(
            SloOutcome(
                name=name,
                bound_ms=bound,
                meaning=slo_meaning(name, basis),
                attainment=hits / len(measured) if measured else None,
                met=bool(measured) and hits >= SLO_ATTAINMENT_TARGET * len(measured),
                judged_on=judged_metric(name, basis),
            )
        )
    if not slos:
        return Goodput(target_attainment=SLO_ATTAINMENT_TARGET)
    good_measured = sum(_meets_all(r, slos, basis) for r in measured)
    good_finished = sum(_meets_all(r, slos, basis) for r in finished)
    return Goodput(
        slos=tuple(outcomes),
        target_attainment=SLO_ATTAINMENT_TARGET,
        good_requests=good_measured,
        good_fraction=good_measured / len(measured) if measured else None,
        requests_per_s=_rate(good_finished, window_s),
        met=all(outcome.met for outcome in outcomes),
    )


__all__ = ["MAX_ERROR_EXAMPLE_CHARS", "Measurement", "compute_results"]
