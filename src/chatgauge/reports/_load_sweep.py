"""The sweep section of the load page: latency against achieved throughput, step by step.

A sweep result (``chatgauge load --sweep-users`` or ``--sweep-rates``) carries ``sweep``:
one step per value (its own window's throughput, requests, latency percentiles and goodput)
and ``best``, the highest complete step meeting every SLO (or none). The section plots each
step's TTFT p50 and p99 (and each other latency metric that has an SLO) against the
requests/s the step achieved, draws every SLO as a horizontal line on its metric's chart,
and rings the best step: the knee a capacity plan reads off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from markupsafe import Markup

from chatgauge.reports import _svg
from chatgauge.results.load import SloName, Sweep, SweepKind, SweepStep

Latency = Literal["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"]
"""The latency figures that are both a metric and an SLO."""

LATENCY_METRICS: Final[Mapping[Latency, str]] = {
    "ttft_ms": "TTFT",
    "tpot_ms": "TPOT",
    "itl_ms": "ITL",
    "e2e_ms": "E2E latency",
}
"""The latency metrics charted per step, with their short names."""


def step_label(kind: SweepKind, value: float, *, short: bool = False) -> str:
    """A step as a reader says it: ``8 users``, ``rate 20 req/s`` (``short``: ``20/s``)."""
    number = _svg.format_number(value)
    if kind == "users":
        return f"{number} user" if number == "1" else f"{number} users"
    return f"{number}/s" if short else f"rate {number} req/s"


@dataclass(frozen=True)
class StepRow:
    """One step as the table and the charts show it."""

    step: SweepStep
    label: str
    short: str
    best: bool

    @property
    def requests_per_s(self) -> float | None:
        """Requests/s the step achieved in its window."""
        return self.step.throughput.requests_per_s

    def latency(self, metric: Latency, stat: str) -> float | None:
        """One latency percentile of the step (``p50`` or ``p99``)."""
        summary = self.step.metrics.summary(metric)
        return summary.p50 if stat == "p50" else summary.p99


@dataclass(frozen=True)
class SweepView:
    """What the template shows of a sweep."""

    kind: SweepKind
    rows: tuple[StepRow, ...]
    best: str | None
    target_attainment: float
    charts: tuple[Markup, ...]


def sweep_view(
    sweep: Sweep | None, slos: Mapping[SloName, float], target_attainment: float
) -> SweepView | None:
    """The sweep section, or ``None`` when the run is not a sweep."""
    if sweep is None:
        return None
    rows = tuple(
        StepRow(
            step=step,
            label=step_label(sweep.kind, step.value),
            short=step_label(sweep.kind, step.value, short=True),
            best=index == sweep.best,
        )
        for index, step in enumerate(sweep.steps)
    )
    charted: list[Latency] = ["ttft_ms"]
    charted += [name for name in LATENCY_METRICS if name in slos and name != "ttft_ms"]
    best = sweep.best_step
    return SweepView(
        kind=sweep.kind,
        rows=rows,
        best=None if best is None else step_label(sweep.kind, best.value),
        target_attainment=target_attainment,
        charts=(
            *(_latency_chart(rows, metric, slos) for metric in charted),
            _throughput_chart(rows, sweep.kind),
        ),
    )


def _latency_chart(
    rows: Sequence[StepRow], metric: Latency, slos: Mapping[SloName, float]
) -> Markup:
    name = LATENCY_METRICS[metric]
    lines: dict[str, list[tuple[float, float]]] = {"p50": [], "p99": []}
    markers = []
    for row in rows:
        x = row.requests_per_s
        if x is None:
            continue
        label = f"best: {row.label}" if row.best else row.short
        if not row.step.complete:
            label += " (partial)"
        labelled = False
        # Label the upper (p99) dot: the p50 dot below it belongs to the same step.
        for stat, color in (("p99", _svg.ORANGE), ("p50", _svg.BLUE)):
            y = row.latency(metric, stat)
            if y is None:
                continue
            lines[stat].append((x, y))
            text = "" if labelled else label
            labelled = True
            markers.append(_svg.Marker(x, y, text, color, highlight=row.best))
    rules = []
    if metric in slos:
        bound = slos[metric]
        rules.append(_svg.Rule(bound, f"SLO {_svg.format_number(bound)} ms", _svg.RED))
    return _svg.xy_chart(
        f"{name} against throughput, per sweep step",
        "achieved requests/s (step window)",
        f"{name} (ms)",
        [
            _svg.Series(f"{name} p50", lines["p50"], _svg.BLUE),
            _svg.Series(f"{name} p99", lines["p99"], _svg.ORANGE),
        ],
        rules=rules,
        markers=markers,
        x_range=(0.0, max((x for x, _ in lines["p50"] + lines["p99"]), default=1.0)),
        empty_message="no sweep step measured a request",
    )


def _throughput_chart(rows: Sequence[StepRow], kind: SweepKind) -> Markup:
    """Achieved and good requests/s against the step value: where scaling stops."""
    achieved, good, markers = [], [], []
    for row in rows:
        rate = row.requests_per_s
        if rate is None:
            continue
        x = row.step.value
        achieved.append((x, rate))
        goodput = row.step.goodput.requests_per_s
        if goodput is not None:
            good.append((x, goodput))
        label = f"best: {row.label}" if row.best else ""
        markers.append(_svg.Marker(x, rate, label, _svg.GREEN, highlight=row.best))
    axis = "users" if kind == "users" else "target arrival rate (req/s)"
    return _svg.xy_chart(
        "Throughput per sweep step",
        axis,
        "requests/s (step window)",
        [
            _svg.Series("achieved", achieved, _svg.GREEN),
            _svg.Series("goodput (met every SLO)", good, _svg.PURPLE),
        ],
        markers=markers,
        x_range=(0.0, max((x for x, _ in achieved), default=1.0)),
        empty_message="no sweep step measured a request",
    )


__all__ = ["LATENCY_METRICS", "Latency", "StepRow", "SweepView", "step_label", "sweep_view"]
