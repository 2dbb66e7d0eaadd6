"""Results assembly: a run's samples, options and facts become the typed ``load.json``.

No locust: the engine calls :func:`assemble` once a second while the run goes on (figures
from the store's live histograms: constant work however long the run) and once at its end
(exact figures from one pass over the raw-samples file). The measurement window starts
``--warmup`` after the run's start and ends when the planned time is over (``-t``, or every
sweep step), when ``--max-requests`` stopped the run, or now, whichever comes first. A
sweep's steps are each measured in their own window: the step's time after the warm-up.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chatgauge._version import __version__
from chatgauge.loadtests._metrics import Measurement
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._schedule import planned_duration
from chatgauge.loadtests._spill import SPILL_NAME, SpillWriter, dump_writer
from chatgauge.loadtests._store import SampleStore, Windows
from chatgauge.loadtests._tally import Tally
from chatgauge.results.load import (
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
    )


def step_windows(options: RunOptions, t0_ns: int) -> list[tuple[float, int, int, int]]:
    """``(value, begin, start, end)`` of every sweep step as planned (none without a sweep):
    the step begins at ``begin``, is measured from ``start`` (after the warm-up) to ``end``."""
    if options.sweep_kind is None:
        return []
    step_ns = round(options.sweep_step_s * _NS)
    warmup_ns = round(options.warmup_s * _NS)
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
        sweep = sweep_of(steps, started, reported, options.sweep_kind, facts.t0_ns)
    return report_of(
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
        raw_samples=raw_samples_of(store),
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
        raw_samples=raw_samples,
    )


def sweep_step(value: float, measurement: Measurement, *, complete: bool) -> SweepStep:
    """One step of a sweep, from the measurement of its own window."""
    return SweepStep(
        value=value,
        complete=complete,
        window=measurement.window,
        throughput=measurement.throughput,
        requests=measurement.requests,
        metrics=measurement.metrics,
        goodput=measurement.goodput,
    )


def best_step(steps: Sequence[SweepStep]) -> int | None:
    """The index of the highest complete step meeting every SLO (``None``: none did)."""
    best = None
    for index, step in enumerate(steps):
        if step.complete and step.goodput.met is True:
            best = index
    return best


def sweep_of(
    tallies: Sequence[Tally],
    started: Sequence[tuple[float, int, int, int]],
    reported: Sequence[tuple[int, int]],
    kind: SweepKind,
    t0_ns: int,
) -> Sweep:
    """The steps of a sweep that have started: each one's tally, measured over its window
    as of now (``reported``); complete once its planned end has passed."""
    steps = []
    for tally, (value, _, _, end), window in zip(tallies, started, reported, strict=True):
        measurement = tally.measurement(window=window, origin_ns=t0_ns)
        steps.append(sweep_step(value, measurement, complete=window[1] == end))
    return Sweep(kind=kind, steps=tuple(steps), best=best_step(steps))


__all__ = [
    "RunFacts",
    "assemble",
    "best_step",
    "measured_window",
    "open_store",
    "raw_samples_of",
    "report_of",
    "step_windows",
    "sweep_of",
    "sweep_step",
]
