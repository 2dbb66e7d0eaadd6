"""Results assembly: a run's samples, options and facts become the typed ``load.json``.

Pure (no locust, no I/O): the engine calls :func:`assemble` once a second while the run
goes on and once at its end. The measurement window starts ``--warmup`` after the run's
start and ends when the planned time is over (``-t``, or every sweep step), when
``--max-requests`` stopped the run, or now, whichever comes first. A sweep's steps are each
measured in their own window: the step's time after the step's own warm-up
(``--sweep-warmup``, by default a fraction of the step; the run's ``--warmup`` does not
apply to steps). A step with fewer measured requests than ``--sweep-min-requests`` is
insufficient and never the best; when the best step is the largest tested, the sweep says
the capacity may lie beyond the range.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chatgauge._version import __version__
from chatgauge.loadtests._lengths import length_section
from chatgauge.loadtests._metrics import Measurement, compute_results
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._schedule import planned_duration
from chatgauge.loadtests._store import SampleStore
from chatgauge.results.load import (
    Lengths,
    LoadConfig,
    LoadReport,
    LoadStatus,
    Sweep,
    SweepKind,
    SweepStep,
    ToolInfo,
)

_NS: Final = 1_000_000_000


@dataclass(frozen=True)
class RunFacts:
    """What the engine knows about a run besides its samples.

    ``t0_ns`` is the run's start on the generator's clock (second zero of the series);
    ``stop_ns`` when ``--max-requests`` stopped it; ``run_time_s`` the ``-t`` asked for.
    """

    endpoint: str
    model: str
    users: int
    processes: int
    run_time_s: float | None
    started_at: str
    t0_ns: int
    stop_ns: int | None = None
    stop_reason: str | None = None


def measured_window(options: RunOptions, facts: RunFacts, now_ns: int) -> tuple[int, int]:
    """``(start_ns, end_ns)`` of the measurement window as of ``now_ns``."""
    planned = planned_duration(options, facts.run_time_s)
    start = facts.t0_ns + round(options.warmup_s * _NS)
    end = now_ns if planned is None else min(now_ns, facts.t0_ns + round(planned * _NS))
    if facts.stop_ns is not None:
        # Stopped by --max-requests: the window ends when the last request finished.
        end = min(end, facts.stop_ns)
    return start, max(start, end)


def assemble(
    store: SampleStore,
    options: RunOptions,
    facts: RunFacts,
    *,
    status: LoadStatus,
    now_ns: int,
) -> LoadReport:
    """The ``load.json`` document of the samples so far."""
    target_rate = options.rate if options.sweep_kind != "rate" else None
    measurement = compute_results(
        store.samples,
        window=measured_window(options, facts, now_ns),
        slos=options.slo_map,
        health=store.health(target_rate=target_rate, users=facts.users, processes=facts.processes),
        origin_ns=facts.t0_ns,
        basis=options.latency_basis,
        max_error_rate=options.verdicts.max_error_rate,
    )
    sweep = None
    if options.sweep_kind is not None:
        sweep = sweep_of(store.samples, options, options.sweep_kind, facts.t0_ns, now_ns)
    report = report_of(
        measurement,
        config=options.config(
            model=facts.model,
            users=facts.users,
            processes=facts.processes,
            run_time_s=facts.run_time_s,
        ),
        endpoint=facts.endpoint,
        started_at=facts.started_at,
        elapsed_s=(now_ns - facts.t0_ns) / _NS,
        status=status,
        sweep=sweep,
        stop_reason=facts.stop_reason,
    )
    return dataclasses.replace(report, lengths=lengths_of(store.samples, options))


def lengths_of(samples: Sequence[RequestSample], options: RunOptions) -> Lengths:
    """The asked and received lengths of the run's requests."""
    workload = options.workload
    return length_section(
        samples,
        default_output=options.max_tokens,
        calibration=workload.calibration_text(),
        source=workload.describe(options.prompts),
    )


def report_of(
    measurement: Measurement,
    *,
    config: LoadConfig,
    endpoint: str,
    started_at: str,
    elapsed_s: float,
    status: LoadStatus,
    sweep: Sweep | None = None,
    stop_reason: str | None = None,
) -> LoadReport:
    """The document of a measurement and the run's identity (the model is the config's)."""
    return LoadReport(
        tool=ToolInfo(version=__version__),
        status=status,
        endpoint=endpoint,
        model=config.model,
        started_at=started_at,
        elapsed_s=elapsed_s,
        config=config,
        window=measurement.window,
        metrics=measurement.metrics,
        throughput=measurement.throughput,
        requests=measurement.requests,
        goodput=measurement.goodput,
        generator=measurement.generator,
        errors=measurement.errors,
        series=measurement.series,
        points=measurement.points,
        distributions=measurement.distributions,
        definitions=measurement.definitions,
        sweep=sweep,
        latency_basis=measurement.latency_basis,
        error_budget=measurement.error_budget,
        stop_reason=stop_reason,
    )


def sweep_step(
    value: float, measurement: Measurement, *, complete: bool, min_requests: int = 0
) -> SweepStep:
    """One step of a sweep, from the measurement of its own window."""
    measured = measurement.requests.total - measurement.requests.cut_off
    return SweepStep(
        value=value,
        complete=complete,
        window=measurement.window,
        throughput=measurement.throughput,
        requests=measurement.requests,
        metrics=measurement.metrics,
        goodput=measurement.goodput,
        insufficient=complete and measured < min_requests,
    )


def best_step(steps: Sequence[SweepStep]) -> int | None:
    """The index of the highest complete, sufficient step meeting every SLO (``None``: none
    did)."""
    best = None
    for index, step in enumerate(steps):
        if step.complete and not step.insufficient and step.goodput.met is True:
            best = index
    return best


def sweep_notes(
    steps: Sequence[SweepStep], best: int | None, planned: int, min_requests: int
) -> tuple[str, ...]:
    """What limits a sweep's answer, one sentence each."""
    notes = []
    small = [step for step in steps if step.insufficient]
    if small:
        values = ", ".join(f"{step.value:g}" for step in small)
        notes.append(
            f"{len(small)} step(s) measured fewer than {min_requests} requests ({values}): "
            "insufficient to judge; run longer steps (--sweep-time)"
        )
    if best is not None and best == planned - 1:
        notes.append(
            "the best step is the largest tested: the capacity may lie beyond the range; "
            "sweep higher values"
        )
    return tuple(notes)


def sweep_of(
    samples: Sequence[RequestSample],
    options: RunOptions,
    kind: SweepKind,
    t0_ns: int,
    now_ns: int,
) -> Sweep:
    """The steps of a sweep begun at ``t0_ns`` that have started by ``now_ns``."""
    steps = []
    step_ns = round(options.sweep_step_s * _NS)
    verdicts = options.verdicts
    warmup_ns = round(verdicts.step_warmup_s(options.sweep_step_s) * _NS)
    for index, value in enumerate(options.sweep_values):
        begin = t0_ns + index * step_ns
        if begin >= now_ns:
            break
        start = begin + warmup_ns
        end = min(begin + step_ns, now_ns)
        measurement = compute_results(
            samples,
            window=(start, max(start, end)),
            slos=options.slo_map,
            origin_ns=t0_ns,
            basis=options.latency_basis,
            max_error_rate=verdicts.max_error_rate,
        )
        steps.append(
            sweep_step(
                value,
                measurement,
                complete=end == begin + step_ns,
                min_requests=verdicts.sweep_min_requests,
            )
        )
    best = best_step(steps)
    notes = sweep_notes(steps, best, len(options.sweep_values), verdicts.sweep_min_requests)
    return Sweep(kind=kind, steps=tuple(steps), best=best, notes=notes)


__all__ = [
    "RunFacts",
    "assemble",
    "best_step",
    "measured_window",
    "report_of",
    "sweep_notes",
    "sweep_of",
    "sweep_step",
]
