"""Results assembly: a run's samples, options and facts become the typed ``load.json``.

No locust: the engine calls :func:`assemble` once a second while the run goes on (figures
from the store's live histograms: constant work however long the run) and once at its end
(exact figures from one pass over the raw-samples file). The measurement window starts
``--warmup`` after the run's start and ends when the planned time is over (``-t``, or every
sweep step), when ``--max-requests`` stopped the run, or now, whichever comes first. A
sweep's steps are each measured in their own window: the step's time after the step's own
warm-up (``--sweep-warmup``, by default a fraction of the step; the run's ``--warmup`` does
not apply to steps). A step with fewer measured requests than ``--sweep-min-requests`` is
insufficient and never the best; when the best step is the largest tested, the sweep says
the capacity may lie beyond the range.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chatgauge._version import __version__
from chatgauge.loadtests._metrics import Measurement, tally_all
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._schedule import planned_duration
from chatgauge.loadtests._spill import SPILL_NAME, SpillWriter, dump_writer
from chatgauge.loadtests._store import SampleStore, Windows
from chatgauge.loadtests._tally import Tally
from chatgauge.results.load import (
    Lengths,
    LoadConfig,
    LoadReport,
    LoadStatus,
    RawSamples,
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
    ``stop_ns`` when ``--max-requests`` stopped it; ``run_time_s`` the ``-t`` asked for;
    ``backoffs`` the users' backoff waits so far; ``unsent`` the open loop's measured slots
    that were due but never sent (counted when the users stop).
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
    backoffs: int = 0
    unsent: int = 0


def measured_window(options: RunOptions, facts: RunFacts, now_ns: int) -> tuple[int, int]:
    """``(start_ns, end_ns)`` of the measurement window as of ``now_ns``."""
    planned = planned_duration(options, facts.run_time_s)
    start = facts.t0_ns + round(options.warmup_s * _NS)
    end = now_ns if planned is None else min(now_ns, facts.t0_ns + round(planned * _NS))
    if facts.stop_ns is not None:
        # Stopped by --max-requests: the window ends when the last request finished.
        end = min(end, facts.stop_ns)
    return start, max(start, end)


def open_store(
    options: RunOptions, *, t0_ns: int, run_time_s: float | None, dump: bool = True
) -> SampleStore:
    """The store of a run starting at ``t0_ns``: its raw samples go to ``DIR/samples.jsonl``
    (a temporary file without ``--report-dir``), its live tallies cover the planned windows;
    with ``dump`` (a process that sends requests) ``--dump-samples`` is written too."""
    planned = planned_duration(options, run_time_s)
    steps = tuple((start, end) for _, _, start, end in step_windows(options, t0_ns))
    windows = Windows(
        start_ns=t0_ns + round(options.warmup_s * _NS),
        end_ns=None if planned is None else t0_ns + round(planned * _NS),
        steps=steps,
    )
    secret = options.api_key
    if options.report_dir:
        spill = SpillWriter(Path(options.report_dir) / SPILL_NAME, secret)
    else:
        spill = SpillWriter.temporary(secret)
    dumped = (
        dump_writer(Path(options.dump_samples), secret) if dump and options.dump_samples else None
    )
    return SampleStore(
        windows,
        spill=spill,
        dump=dumped,
        slos=options.slo_map,
        origin_ns=t0_ns,
        temporary=not options.report_dir,
        basis=options.latency_basis,
        max_error_rate=options.verdicts.max_error_rate,
        default_output=options.max_tokens,
    )


def step_windows(options: RunOptions, t0_ns: int) -> list[tuple[float, int, int, int]]:
    """``(value, begin, start, end)`` of every sweep step as planned (none without a sweep):
    the step begins at ``begin``, is measured from ``start`` (after the warm-up) to ``end``."""
    if options.sweep_kind is None:
        return []
    step_ns = round(options.sweep_step_s * _NS)
    warmup_ns = round(options.verdicts.step_warmup_s(options.sweep_step_s) * _NS)
    windows = []
    for index, value in enumerate(options.sweep_values):
        begin = t0_ns + index * step_ns
        windows.append((value, begin, begin + warmup_ns, begin + step_ns))
    return windows


def assemble(
    store: SampleStore,
    options: RunOptions,
    facts: RunFacts,
    *,
    status: LoadStatus,
    now_ns: int,
) -> LoadReport:
    """The ``load.json`` document of the samples so far: live figures while ``running``,
    exact ones from the raw-samples file otherwise."""
    target_rate = options.rate if options.sweep_kind != "rate" else None
    window = measured_window(options, facts, now_ns)
    started = [w for w in step_windows(options, facts.t0_ns) if w[1] < now_ns]
    reported = [(start, max(start, min(end, now_ns))) for _, _, start, end in started]
    exact = status is not LoadStatus.RUNNING
    if exact and not store.spill_readable:
        print(
            "chatgauge: the raw samples are incomplete: the figures are live ones", file=sys.stderr
        )
        exact = False
    main: Tally
    if exact:
        main, steps = store.exact(window, reported)
    else:
        main, steps = store.live, store.steps[: len(started)]
    health = store.health(
        target_rate=target_rate, users=facts.users, processes=facts.processes, exact=exact
    )
    measurement = main.measurement(window=window, origin_ns=facts.t0_ns, health=health)
    sweep = None
    if options.sweep_kind is not None:
        sweep = sweep_of_tallies(steps, started, reported, options, facts.t0_ns)
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
        raw_samples=raw_samples_of(store),
    )
    return dataclasses.replace(
        report,
        lengths=lengths_of(store, options),
        requests=dataclasses.replace(report.requests, unsent=facts.unsent),
        error_budget=dataclasses.replace(report.error_budget, backoffs=facts.backoffs),
    )


def lengths_of(store: SampleStore, options: RunOptions) -> Lengths:
    """The asked and received lengths of the run's requests."""
    workload = options.workload
    return store.lengths.section(
        calibration=workload.calibration_text(), source=workload.describe(options.prompts)
    )


def raw_samples_of(store: SampleStore) -> RawSamples | None:
    """Where the run's raw samples are kept (``None`` for a temporary file)."""
    if store.spill is None or store.temporary:
        return None
    return RawSamples(path=store.spill.path.name, records=store.spill.records)


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
    raw_samples: RawSamples | None = None,
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
        raw_samples=raw_samples,
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
    samples: Sequence[RequestSample], options: RunOptions, kind: SweepKind, t0_ns: int, now_ns: int
) -> Sweep:
    """The sweep of ``samples`` as of ``now_ns``: exact tallies of each started step's window
    (a pure function of the samples, for tests and tools)."""
    started = [w for w in step_windows(options, t0_ns) if w[1] < now_ns]
    reported = [(start, max(start, min(end, now_ns))) for _, _, start, end in started]
    tallies = [
        tally_all(
            Tally(
                window,
                slos=options.slo_map,
                origin_ns=t0_ns,
                detailed=False,
                basis=options.latency_basis,
                max_error_rate=options.verdicts.max_error_rate,
            ),
            samples,
        )
        for window in reported
    ]
    sweep = sweep_of_tallies(tallies, started, reported, options, t0_ns)
    return dataclasses.replace(sweep, kind=kind)


def sweep_of_tallies(
    tallies: Sequence[Tally],
    started: Sequence[tuple[float, int, int, int]],
    reported: Sequence[tuple[int, int]],
    options: RunOptions,
    t0_ns: int,
) -> Sweep:
    """The steps of a sweep that have started: each one's tally, measured over its window
    as of now (``reported``); complete once its planned end has passed."""
    assert options.sweep_kind is not None
    kind: SweepKind = options.sweep_kind
    steps = []
    verdicts = options.verdicts
    for tally, (value, _, _, end), window in zip(tallies, started, reported, strict=True):
        measurement = tally.measurement(window=window, origin_ns=t0_ns)
        complete = window[1] == end
        steps.append(
            sweep_step(
                value, measurement, complete=complete, min_requests=verdicts.sweep_min_requests
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
    "open_store",
    "raw_samples_of",
    "report_of",
    "step_windows",
    "sweep_notes",
    "sweep_of",
    "sweep_of_tallies",
    "sweep_step",
]
