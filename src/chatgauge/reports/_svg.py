"""Small inline-SVG charts, generated in Python so a report needs no JavaScript and no network.

Each function returns ``markupsafe.Markup`` holding one ``<svg>`` element sized by its
``viewBox`` (it scales with the page). Every piece of text placed in a chart goes through
:func:`html.escape`; numbers are formatted here. Charts stay small: a scatter of thousands of
points is drawn as one ``<path>`` of zero-length round-capped segments.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from markupsafe import Markup

WIDTH: Final = 600
HEIGHT: Final = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 46, 46
_LEGEND_Y: Final = 34
_NINES_MAX: Final = 4.0
"""The percentile axis ends at 99.99 % (four nines): further out a few samples decide it."""

Style = Literal["line", "step", "dots", "bars"]

BLUE: Final = "#2563eb"
ORANGE: Final = "#d97706"
GREEN: Final = "#059669"
PURPLE: Final = "#7c3aed"
RED: Final = "#dc2626"
GREY: Final = "#6b7280"
INK: Final = "#1f2328"


@dataclass(frozen=True)
class Series:
    """One layer of a chart: ``points`` are ``(x, y)``; bars span ``[x, x + bar_width]``."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str
    style: Style = "line"
    bar_width: float = 1.0


@dataclass(frozen=True)
class Band:
    """A shaded stretch of the x axis, e.g. the warm-up before the measurement window."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Rule:
    """A dashed reference line: horizontal at ``y`` (an SLO) or vertical at ``x``."""

    value: float
    label: str
    color: str
    vertical: bool = False


@dataclass(frozen=True)
class Marker:
    """A dot at ``(x, y)`` with ``label`` beside it; ``highlight`` rings it and bolds the label."""

    x: float
    y: float
    label: str
    color: str
    highlight: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten) covering the range."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    # Accept a step a little under the raw one: up to 25 % more ticks beats a half-empty axis.
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= 0.8 * raw_step)
    index = math.floor(low / step)
    ticks = [round(index * step, 12)]
    while ticks[-1] < high:
        index += 1
        ticks.append(round(index * step, 12))
    return ticks


def format_number(value: float) -> str:
    """Compact axis text: thousands separators, no needless decimals."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    return f"{value:.3g}"


class _Frame:
    """Maps data coordinates into the plot area and draws the axes."""

    def __init__(self, x_ticks: Sequence[float], y_ticks: Sequence[float]) -> None:
        self.x_low, self.x_high = x_ticks[0], x_ticks[-1]
        self.y_low, self.y_high = y_ticks[0], y_ticks[-1]
        self.plot_width = WIDTH - _LEFT - _RIGHT
        self.plot_height = HEIGHT - _TOP - _BOTTOM

    def x(self, value: float) -> float:
        span = (self.x_high - self.x_low) or 1.0
        return _LEFT + (value - self.x_low) / span * self.plot_width

    def y(self, value: float) -> float:
        span = (self.y_high - self.y_low) or 1.0
        return _TOP + self.plot_height - (value - self.y_low) / span * self.plot_height


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}"


def _open(title: str, description: str) -> list[str]:
    return [
        # Inline SVG in HTML needs no xmlns: the page carries no URL it did not get as data.
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}. {_esc(description)}</title>",
        f'<text class="chart-title" x="{_LEFT}" y="18">{_esc(title)}</text>',
    ]


def _axes(
    frame: _Frame,
    x_ticks: Sequence[float],
    y_ticks: Sequence[tuple[float, str]],
    x_label: str,
    y_label: str,
) -> list[str]:
    parts = []
    bottom = _TOP + frame.plot_height
    for value, text in y_ticks:
        y = _num(frame.y(value))
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{y}" text-anchor="end" dy="0.32em">')
        parts.append(f"{_esc(text)}</text>")
    for value in x_ticks:
        x = _num(frame.x(value))
        parts.append(f'<line class="axis" x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 4}"/>')
        parts.append(f'<text class="tick" x="{x}" y="{bottom + 16}" text-anchor="middle">')
        parts.append(f"{_esc(format_number(value))}</text>")
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{bottom}" y2="{bottom}"/>'
    )
    parts.append(
        f'<text class="label" x="{_LEFT + frame.plot_width / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{_esc(x_label)}</text>'
    )
    middle = _TOP + frame.plot_height / 2
    parts.append(
        f'<text class="label" transform="translate(14 {middle}) rotate(-90)" '
        f'text-anchor="middle">{_esc(y_label)}</text>'
    )
    return parts


def _legend(series: Sequence[Series | Rule]) -> list[str]:
    parts = []
    x = float(WIDTH - _RIGHT)
    for item in reversed(series):
        if not item.label:
            continue
        width = 18 + 6.2 * len(item.label)
        x -= width + 10
        parts.append(
            f'<rect x="{_num(x)}" y="{_LEGEND_Y - 9}" width="10" height="10" rx="2" '
            f'fill="{_esc(item.color)}"/>'
        )
        parts.append(
            f'<text class="legend" x="{_num(x + 14)}" y="{_LEGEND_Y}">{_esc(item.label)}</text>'
        )
    return parts


def _series_path(frame: _Frame, item: Series) -> str:
    color = _esc(item.color)
    points = [(x, y) for x, y in item.points if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return ""
    if item.style == "bars":
        base = frame.y(max(frame.y_low, 0.0))
        rects = []
        for x, y in points:
            left, right = frame.x(x), frame.x(x + item.bar_width)
            top = frame.y(y)
            width = max(right - left - 0.6, 0.6)
            rects.append(
                f'<rect x="{_num(left + 0.3)}" y="{_num(top)}" width="{_num(width)}" '
                f'height="{_num(max(base - top, 0.0))}"/>'
            )
        return f'<g fill="{color}" fill-opacity="0.8">{"".join(rects)}</g>'
    if item.style == "dots":
        path = "".join(f"M{_num(frame.x(x))} {_num(frame.y(y))}h0" for x, y in points)
        return (
            f'<path d="{path}" stroke="{color}" stroke-width="3.2" stroke-linecap="round" '
            f'stroke-opacity="0.55" fill="none"/>'
        )
    steps = []
    previous_y: float | None = None
    for x, y in points:
        if item.style == "step" and previous_y is not None:
            steps.append(f"{_num(frame.x(x))},{_num(frame.y(previous_y))}")
        steps.append(f"{_num(frame.x(x))},{_num(frame.y(y))}")
        previous_y = y
    return (
        f'<polyline points="{" ".join(steps)}" stroke="{color}" stroke-width="1.8" '
        f'fill="none" stroke-linejoin="round"/>'
    )


def _rule(frame: _Frame, rule: Rule) -> str:
    color = _esc(rule.color)
    if rule.vertical:
        if not frame.x_low <= rule.value <= frame.x_high:
            return ""
        x = _num(frame.x(rule.value))
        return (
            f'<line x1="{x}" x2="{x}" y1="{_TOP}" y2="{_TOP + frame.plot_height}" '
            f'stroke="{color}" stroke-dasharray="5 3" stroke-width="1.2"/>'
        )
    y = _num(frame.y(rule.value))
    return (
        f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y}" y2="{y}" stroke="{color}" '
        f'stroke-dasharray="5 3" stroke-width="1.2"/>'
    )


_Box = tuple[float, float, float, float]
"""A label's extent on the canvas: left, top, right, bottom."""


def _markers(frame: _Frame, markers: Sequence[Marker]) -> list[str]:
    """Dots with their labels; a label that would overlap one already placed is left out.

    Highlighted markers are placed first, so theirs are the labels that always show.
    """
    dots, texts, placed = [], [], list[_Box]()
    for marker in sorted(markers, key=lambda m: not m.highlight):
        if not (math.isfinite(marker.x) and math.isfinite(marker.y)):
            continue
        x, y = frame.x(marker.x), frame.y(marker.y)
        dots.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3.6" fill="{_esc(marker.color)}"/>')
        if marker.highlight:
            dots.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="8" fill="none" stroke="{INK}" '
                f'stroke-width="2"/>'
            )
        if not marker.label:
            continue
        text, box = _marker_label(x, y, marker)
        if any(_overlap(box, other) for other in placed):
            continue
        placed.append(box)
        texts.append(text)
    # Labels last: they are drawn over every dot and line.
    return dots + texts


def _marker_label(x: float, y: float, marker: Marker) -> tuple[str, _Box]:
    # Above the dot (lines leave a dot sideways), below it at the top of the plot, and
    # pushed inward at the plot's left and right edges so the text stays inside.
    width = 6.6 * len(marker.label)
    anchor, left = "middle", x - width / 2
    if left < _LEFT:
        anchor, left = "start", x - 6
    elif left + width > WIDTH - _RIGHT:
        anchor, left = "end", x + 6 - width
    text_x = {"start": left, "middle": x, "end": left + width}[anchor]
    text_y = y - 12 if y - 12 > _TOP + 6 else y + 20
    css = "marker best" if marker.highlight else "marker"
    text = (
        f'<text class="{css}" x="{_num(text_x)}" y="{_num(text_y)}" '
        f'text-anchor="{anchor}">{_esc(marker.label)}</text>'
    )
    return text, (left, text_y - 10, left + width, text_y + 3)


def _overlap(a: _Box, b: _Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _band(frame: _Frame, band: Band) -> list[str]:
    left = max(frame.x(band.start), _LEFT)
    right = min(frame.x(band.end), WIDTH - _RIGHT)
    if right <= left:
        return []
    return [
        f'<rect class="band" x="{_num(left)}" y="{_TOP}" width="{_num(right - left)}" '
        f'height="{frame.plot_height}"/>',
        f'<text class="band-label" x="{_num((left + right) / 2)}" y="{_TOP + 12}" '
        f'text-anchor="middle">{_esc(band.label)}</text>',
    ]


def _empty(title: str, message: str) -> Markup:
    parts = _open(title, message)
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
        f"{_esc(message)}</text></svg>"
    )
    return Markup("".join(parts))  # noqa: S704 - every fragment above is escaped


def xy_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    *,
    bands: Sequence[Band] = (),
    rules: Sequence[Rule] = (),
    markers: Sequence[Marker] = (),
    x_range: tuple[float, float] | None = None,
    y_from_zero: bool = True,
    empty_message: str = "no data",
) -> Markup:
    """Lines, steps, dots or bars on linear axes, with shaded bands, dashed rules and markers."""
    xs = [x for item in series for x, _ in item.points if math.isfinite(x)]
    ys = [y for item in series for _, y in item.points if math.isfinite(y)]
    xs += [m.x for m in markers if math.isfinite(m.x) and math.isfinite(m.y)]
    ys += [m.y for m in markers if math.isfinite(m.x) and math.isfinite(m.y)]
    if not xs:
        return _empty(title, empty_message)
    xs += [x + item.bar_width for item in series if item.style == "bars" for x, _ in item.points]
    ys += [rule.value for rule in rules if not rule.vertical]
    if any(marker.label for marker in markers):
        ys.append(max(ys) * 1.12)  # headroom: the top point's label goes above it
    x_low, x_high = x_range if x_range is not None else (min(xs), max(xs))
    y_low = min([0.0, *ys]) if y_from_zero else min(ys)
    x_ticks = nice_ticks(x_low, x_high, 6)
    y_ticks = nice_ticks(y_low, max(ys), 5)
    frame = _Frame(x_ticks, y_ticks)
    parts = _open(title, f"{y_label} against {x_label}")
    for band in bands:
        parts += _band(frame, band)
    parts += _axes(frame, x_ticks, [(v, format_number(v)) for v in y_ticks], x_label, y_label)
    parts += [_series_path(frame, item) for item in series]
    parts += [_rule(frame, rule) for rule in rules]
    parts += _markers(frame, markers)
    parts += _legend([*series, *rules])
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every fragment above is escaped


def _nines(fraction: float) -> float:
    """Position on the percentile axis: 0 at 0 %, 1 at 90 %, 2 at 99 %, 3 at 99.9 %..."""
    return min(-math.log10(max(1.0 - fraction, 10**-_NINES_MAX)), _NINES_MAX)


def percentile_chart(
    title: str,
    x_label: str,
    curves: Sequence[Series],
    *,
    rules: Sequence[Rule] = (),
    empty_message: str = "no data",
) -> Markup:
    """Cumulative distributions with the tail stretched out: the y axis is in "nines".

    Each curve's points are ``(value, fraction)`` with the fraction in ``[0, 1]``; the axis
    gives equal room to 0-90 %, 90-99 %, 99-99.9 % and 99.9-99.99 % so stalls stay visible.
    """
    values = [v for item in curves for v, _ in item.points if math.isfinite(v)]
    if not values:
        return _empty(title, empty_message)
    values += [rule.value for rule in rules if rule.vertical]
    x_ticks = nice_ticks(min(values), max(values), 6)
    frame = _Frame(x_ticks, [0.0, _NINES_MAX])
    y_ticks = [
        (0.0, ""),
        (_nines(0.5), "50%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
    ]
    parts = _open(title, f"fraction of samples at or below each {x_label}")
    parts += _axes(frame, x_ticks, y_ticks, x_label, "fraction at or below")
    stretched = [
        Series(item.label, [(v, _nines(q)) for v, q in item.points], item.color, "step")
        for item in curves
    ]
    parts += [_series_path(frame, item) for item in stretched]
    parts += [_rule(frame, rule) for rule in rules]
    parts += _legend([*curves, *rules])
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every fragment above is escaped


def histogram_chart(
    title: str,
    x_label: str,
    edges: Sequence[float],
    counts: Sequence[int],
    color: str,
    *,
    overflow: int = 0,
    rules: Sequence[Rule] = (),
) -> Markup:
    """Counts per bin (``edges`` has one more entry than ``counts``), overflow noted."""
    if not counts:
        return _empty(title, "no data")
    width = edges[1] - edges[0]
    label = "" if not overflow else f"+{overflow} beyond {format_number(edges[-1])}"
    bars = Series(label, list(zip(edges[:-1], counts, strict=True)), color, "bars", width)
    return xy_chart(
        title,
        x_label,
        "requests",
        [bars],
        rules=[rule for rule in rules if rule.vertical],
        x_range=(edges[0], edges[-1]),
    )
