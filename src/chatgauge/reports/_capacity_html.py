"""The capacity section of the load page: latency and goodput against the offered rate.

A capacity search (``chatgauge load --capacity``) carries ``capacity``: one step per offered
rate, judged on user-perceived latency (from each request's intended start). The section
states the answer and its confidence, plots TTFT and E2E (p50, p99) and the achieved and
good requests/s against the offered rate, marks the knee (the capacity: a dashed vertical
line, the best step ringed) and each latency SLO (a dashed horizontal line), and lists the
steps in the order they ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from chatgauge.reports import _svg
from chatgauge.results.capacity import Capacity, CapacityStep

_PERCEIVED = {
    "ttft_ms": ("ttft_p50_ms", "ttft_p99_ms", "TTFT"),
    "e2e_ms": ("e2e_p50_ms", "e2e_p99_ms", "E2E"),
}


@dataclass(frozen=True)
class CapacityView:
    """What the template shows of a capacity search."""

    capacity: Capacity
    steps: tuple[CapacityStep, ...]
    charts: tuple[Markup, ...]


def _knee(capacity: Capacity) -> list[_svg.Rule]:
    if capacity.rate_rps is None:
        return []
    return [
        _svg.Rule(
            capacity.rate_rps,
            f"capacity {_svg.format_number(capacity.rate_rps)} req/s",
            _svg.GREEN,
            vertical=True,
        )
    ]


def _x_range(steps: Sequence[CapacityStep]) -> tuple[float, float]:
    return 0.0, max((s.offered_rps for s in steps), default=1.0)


def _latency_chart(capacity: Capacity, metric: str) -> Markup:
    low_key, high_key, name = _PERCEIVED[metric]
    p50: list[tuple[float, float]] = []
    p99: list[tuple[float, float]] = []
    markers = []
    for index, step in enumerate(capacity.steps):
        best = index == capacity.best
        for key, line, color in ((high_key, p99, _svg.ORANGE), (low_key, p50, _svg.BLUE)):
            value = getattr(step, key)
            if value is not None:
                line.append((step.offered_rps, value))
                label = "capacity" if best and line is p99 else ""
                markers.append(_svg.Marker(step.offered_rps, value, label, color, highlight=best))
    rules = _knee(capacity)
    for slo in capacity.steps[0].slos if capacity.steps else ():
        if slo.name in (metric, "ttft_from_schedule_ms" if metric == "ttft_ms" else ""):
            rules.append(
                _svg.Rule(slo.bound_ms, f"SLO {_svg.format_number(slo.bound_ms)} ms", _svg.RED)
            )
    return _svg.xy_chart(
        f"{name} from the intended start against the offered rate",
        "offered rate (req/s)",
        f"{name} (ms)",
        [
            _svg.Series(f"{name} p50", sorted(p50), _svg.BLUE),
            _svg.Series(f"{name} p99", sorted(p99), _svg.ORANGE),
        ],
        rules=rules,
        markers=markers,
        x_range=_x_range(capacity.steps),
        empty_message="no step measured a request",
    )


def _goodput_chart(capacity: Capacity) -> Markup:
    achieved, good, offered, markers = [], [], [], []
    for index, step in enumerate(capacity.steps):
        offered.append((step.offered_rps, step.offered_rps))
        if step.achieved_rps is not None:
            achieved.append((step.offered_rps, step.achieved_rps))
        if step.goodput_rps is not None:
            good.append((step.offered_rps, step.goodput_rps))
            best = index == capacity.best
            markers.append(
                _svg.Marker(
                    step.offered_rps,
                    step.goodput_rps,
                    "capacity" if best else "",
                    _svg.PURPLE,
                    highlight=best,
                )
            )
    return _svg.xy_chart(
        "Throughput and goodput against the offered rate",
        "offered rate (req/s)",
        "requests/s (step window)",
        [
            _svg.Series("offered", sorted(offered), _svg.GREY),
            _svg.Series("achieved", sorted(achieved), _svg.GREEN),
            _svg.Series("goodput (met every SLO)", sorted(good), _svg.PURPLE),
        ],
        rules=_knee(capacity),
        markers=markers,
        x_range=_x_range(capacity.steps),
        empty_message="no step measured a request",
    )


def capacity_view(capacity: Capacity | None) -> CapacityView | None:
    """The section's content, or ``None`` when the run is not a capacity search."""
    if capacity is None:
        return None
    charts = (
        _latency_chart(capacity, "ttft_ms"),
        _latency_chart(capacity, "e2e_ms"),
        _goodput_chart(capacity),
    )
    return CapacityView(capacity=capacity, steps=capacity.steps, charts=charts)


__all__ = ["CapacityView", "capacity_view"]
