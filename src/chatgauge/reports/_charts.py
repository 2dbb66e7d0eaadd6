"""Geometry of the inline SVG charts of the comparison, matrix and conformance pages.

Python computes only numbers here (coordinates, tick values); the templates draw them with
the macros of ``report_charts.html.j2``, so every label still goes through autoescaping.
Two charts exist: stacked bars of verdict counts (one bar per run or endpoint) and small
line charts of percentiles (one line per run) for comparing load runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RUN_COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
"""Colour-blind-safe line colours (Okabe-Ito), one per run, reused cyclically."""

STATUS_ORDER = ("failed", "warning", "unsupported", "skipped", "passed")


def run_color(index: int) -> str:
    """The line colour of the ``index``-th run."""
    return RUN_COLORS[index % len(RUN_COLORS)]


@dataclass(frozen=True)
class Segment:
    """One status's share of a bar: ``x`` and ``width`` in SVG units."""

    status: str
    count: int
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    """One run's (or endpoint's) bar at height ``y``."""

    label: str
    total: int
    y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class StatusBars:
    """Stacked horizontal bars of verdict counts, drawn by the ``status_bars`` macro."""

    width: int
    height: int
    label_width: int
    bar_width: int
    bar_height: int
    bars: tuple[Bar, ...]


def status_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]], *, width: int = 760, label_width: int = 0
) -> StatusBars:
    """One bar per ``(label, counts by status)``, each scaled to the largest total.

    ``label_width`` 0 leaves no room for labels (a single bar whose meaning is around it).
    """
    bar_height, gap, right = 20, 8, 48
    bar_width = width - label_width - right
    largest = max((sum(counts.values()) for _, counts in rows), default=0) or 1
    bars = []
    for index, (label, counts) in enumerate(rows):
        x = float(label_width)
        segments = []
        for status in STATUS_ORDER:
            count = int(counts.get(status, 0))
            if count:
                share = bar_width * count / largest
                segments.append(Segment(status, count, x, share))
                x += share
        bars.append(
            Bar(
                label=_clip(label, label_width // 7),
                total=sum(int(counts.get(s, 0)) for s in STATUS_ORDER),
                y=float(index * (bar_height + gap)),
                segments=tuple(segments),
            )
        )
    height = max(len(rows) * (bar_height + gap) - gap, bar_height)
    return StatusBars(width, height, label_width, bar_width, bar_height, tuple(bars))


@dataclass(frozen=True)
class Line:
    """One run's line: its label, colour and the points that have a value."""

    label: str
    color: str
    points: tuple[tuple[float, float], ...]

    @property
    def path(self) -> str:
        """The ``points`` attribute of an SVG polyline."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass(frozen=True)
class LineChart:
    """A small line chart with category x axis, drawn by the ``line_chart`` macro."""

    title: str
    unit: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    lines: tuple[Line, ...]


def line_chart(
    title: str,
    unit: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    width: int = 285,
    height: int = 200,
) -> LineChart:
    """A chart of ``series`` (label, one value or ``None`` per category), y axis from zero."""
    left, top, right, bottom = 48, 12, width - 22, height - 28
    values = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
    ticks = nice_ticks(max(values, default=0.0))
    y_max = ticks[-1]
    step = (right - left) / max(len(categories) - 1, 1)
    xs = [left + i * step for i in range(len(categories))]

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / y_max

    lines = tuple(
        Line(
            label=label,
            color=run_color(index),
            points=tuple(
                (x, y_of(v))
                for x, v in zip(xs, vs, strict=True)
                if v is not None and math.isfinite(v)
            ),
        )
        for index, (label, vs) in enumerate(series)
    )
    return LineChart(
        title=title,
        unit=unit,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        x_ticks=tuple(zip(xs, categories, strict=True)),
        y_ticks=tuple((y_of(t), _tick_label(t)) for t in ticks),
        lines=lines,
    )


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round tick values from 0 up to at least ``maximum`` (steps of 1, 2 or 5 x 10^k)."""
    if not maximum > 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(maximum / step - 1e-9) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _clip(text: str, limit: int) -> str:
    if limit <= 0 or len(text) <= limit:
        return text
    return text[: max(limit - 1, 1)] + "\u2026"


__all__ = [
    "RUN_COLORS",
    "STATUS_ORDER",
    "Bar",
    "Line",
    "LineChart",
    "Segment",
    "StatusBars",
    "line_chart",
    "nice_ticks",
    "run_color",
    "status_bars",
]
