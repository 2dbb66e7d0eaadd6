"""Running a capacity search: one open-loop load run per offered rate, then the answer.

:func:`run_capacity` is what ``chatgauge load --capacity`` calls. Each step is a whole
:func:`~chatgauge.loadtests._launch.run_load` at ``--rate R`` (so each has its own warm-up,
its own open-loop schedule of intended starts, its own ``load.json`` and ``load.html`` under
``DIR/capacity/step-NN/``, and its raw samples, which the judgement reads:
:mod:`chatgauge.loadtests._capacity`). The rates follow :class:`RateSearch`. The document
left in ``DIR/load.json`` is the best step's (the highest rate that met every SLO; the
lowest rate tried when none did) with ``capacity`` added, and ``DIR/load.html`` shows the
search: latency and goodput against the offered rate with the knee marked.

An interrupted search (Ctrl-C) still writes the document of the steps finished so far.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from chatgauge.loadtests._capacity import (
    RateSearch,
    SearchPlan,
    StepInput,
    answer,
    judge_step,
)
from chatgauge.loadtests._launch import LoadInterrupted, run_load
from chatgauge.loadtests._output import write_report
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._schedule import ArrivalSchedule
from chatgauge.loadtests._settings import LoadSettings, LoadSettingsError
from chatgauge.results.capacity import CapacityStep
from chatgauge.results.load import JSON_NAME, LoadReport, LoadStatus

STEP_FOLDER = "capacity"


def read_samples(folder: Path) -> list[RequestSample]:
    """Every sample the processes of one run dumped into ``folder``."""
    samples = []
    for path in sorted(folder.glob("samples-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                samples.append(RequestSample.from_json(json.loads(line)))
    return samples


def intended_starts(
    settings: LoadSettings, rate: float, processes: int, origin_ns: int, until_ns: int
) -> list[int]:
    """The intended starts of a step's schedule up to ``until_ns``, as each process's
    pacing drew them (same seeds, phases and start as :class:`~chatgauge.loadtests._pacing.
    Pacing`), merged."""
    starts: list[int] = []
    for index in range(processes):
        schedule = ArrivalSchedule(
            [(0.0, rate / processes)],
            settings.arrival,
            seed=settings.seed + index,
            phase=index / processes,
            start_ns=origin_ns,
        )
        while (slot := schedule.next_ns()) <= until_ns:
            starts.append(slot)
    return sorted(starts)


def _intended(
    settings: LoadSettings, rate: float, report: LoadReport, samples: list[RequestSample]
) -> tuple[int, ...] | None:
    """The step's intended starts, or ``None`` when the samples do not lie on them (the
    schedule could not be redrawn: then unanswered requests are not counted)."""
    starts = intended_starts(
        settings, rate, report.generator.processes, report.window.origin_ns, report.window.end_ns
    )
    known = set(starts)
    if any(s.t_sched_ns not in known for s in samples if s.t_sched_ns <= report.window.end_ns):
        return None
    return tuple(starts)


def _step_settings(
    settings: LoadSettings, plan: SearchPlan, rate: float, folder: Path
) -> LoadSettings:
    return dataclasses.replace(
        settings,
        rate=rate,
        duration_s=plan.step_s,
        warmup_s=plan.warmup_s,
        report_dir=folder,
        dump_samples=folder / "samples",
        progress=False,
        sweep_rates=(),
        sweep_users=(),
        ramp_s=None,
        step=None,
        max_requests=None,
    )


def _describe(step: CapacityStep) -> str:
    ttft = "-" if step.ttft_p99_ms is None else f"{step.ttft_p99_ms:.0f} ms"
    verdict = "pass" if step.passed else "FAIL"
    return (
        f"capacity step {step.index + 1} ({step.phase}): {step.offered_rps:.3g} req/s offered, "
        f"{step.measured} measured, TTFT p99 {ttft} from the intended start: {verdict} "
        f"({step.reason})"
    )


def run_capacity(
    settings: LoadSettings,
    plan: SearchPlan,
    *,
    announce: Callable[[str], None] = lambda line: None,
) -> LoadReport:
    """Search the highest open-loop rate meeting ``settings.slos`` (see the module docstring).

    Raises :class:`LoadSettingsError` for settings that cannot search (no SLO, a bad plan)
    and what :func:`run_load` raises; on Ctrl-C a :class:`LoadInterrupted` carries the
    document of the finished steps.
    """
    if not settings.slos:
        raise LoadSettingsError(
            "a capacity search looks for the highest rate meeting SLOs: give `slos`"
        )
    try:
        plan.check()
    except ValueError as exc:
        raise LoadSettingsError(str(exc)) from None
    base_settings = dataclasses.replace(settings, rate=plan.start_rps)
    base_settings.check()
    keep = settings.report_dir is not None
    directory = settings.report_dir or Path(tempfile.mkdtemp(prefix="chatgauge-capacity-"))
    try:
        return _search(base_settings, plan, directory, announce)
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def _search(
    settings: LoadSettings, plan: SearchPlan, directory: Path, announce: Callable[[str], None]
) -> LoadReport:
    search = RateSearch(plan)
    steps: list[CapacityStep] = []
    reports: list[LoadReport] = []
    slos = dict(settings.slos)
    while (rate := search.next_rate()) is not None:
        index = len(steps)
        folder = directory / STEP_FOLDER / f"step-{index + 1:02d}"
        phase = search.phase
        try:
            report = run_load(_step_settings(settings, plan, rate, folder))
        except LoadInterrupted:
            final = _final(settings, steps, reports, search, directory, interrupted=True)
            raise LoadInterrupted(final, directory / JSON_NAME) from None
        samples = read_samples(folder / "samples")
        step = judge_step(
            StepInput(
                index=index,
                phase=phase,
                offered_rps=rate,
                samples=samples,
                intended=_intended(settings, rate, report, samples),
                window=(report.window.start_ns, report.window.end_ns),
                output_tokens_per_s=report.throughput.output_tokens_per_s,
                achieved_rps=report.throughput.requests_per_s,
                generator_trustworthy=report.generator.trustworthy,
                report=str((folder / JSON_NAME).relative_to(directory)),
            ),
            slos,
        )
        steps.append(step)
        reports.append(report)
        announce(_describe(step))
        search.record(rate, step.passed)
    final = _final(settings, steps, reports, search, directory, interrupted=False)
    if final is None:
        raise LoadSettingsError("the capacity search ran no step")
    return final


def _final(
    settings: LoadSettings,
    steps: list[CapacityStep],
    reports: list[LoadReport],
    search: RateSearch,
    directory: Path,
    *,
    interrupted: bool,
) -> LoadReport | None:
    if not reports:
        return None
    capacity = answer(steps, search, arrival=settings.arrival)
    if interrupted:
        capacity = dataclasses.replace(capacity, stop_reason="interrupted")
    chosen = capacity.best
    if chosen is None:
        chosen = min(range(len(steps)), key=lambda i: steps[i].offered_rps)
    status = LoadStatus.INTERRUPTED if interrupted else LoadStatus.COMPLETED
    document = dataclasses.replace(reports[chosen], capacity=capacity, status=status)
    write_report(directory, document, settings.api_key, html=True)
    return document


__all__ = ["STEP_FOLDER", "read_samples", "run_capacity"]
