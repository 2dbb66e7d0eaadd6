"""The sweep section of the load page: latency against achieved throughput, step by step.

A sweep result (``chatgauge load --sweep-users`` or ``--sweep-rates``) carries ``"sweep"``,
one entry per step (its value, the throughput, requests, latency percentiles and goodput of
the step's own window), and ``"sweep_best"``: the highest step meeting every SLO, or
``None``. The section plots each step's TTFT p50 and p99 (and each other latency metric that
has an SLO) against the requests/s the step achieved, draws every SLO as a horizontal line
on its metric's chart, and rings the best step: the knee a capacity plan reads off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from markupsafe import Markup

from chatgauge.reports import _svg

LATENCY_METRICS: Final = {
    "ttft_ms": "TTFT",
    "tpot_ms": "TPOT",
    "itl_ms": "ITL",
    "e2e_ms": "E2E latency",
}
"""The latency metrics a sweep step carries, with their short names."""


def step_label(kind: str, value: Any, *, short: bool = False) -> str:
    """A step as a reader says it: ``8 users``, ``rate 20 req/s`` (``short``: ``20/s``)."""
    number = _svg.format_number(float(value)) if isinstance(value, int | float) else str(value)
    if kind == "users":
        return f"{number} user" if number == "1" else f"{number} users"
    if kind == "rate":
        return f"{number}/s" if short else f"rate {number} req/s"
    return f"{kind} {number}".strip()


def sweep_view(result: Mapping[str, Any], slos: Mapping[str, float]) -> dict[str, Any] | None:
    """What the template shows of a sweep, or ``None`` when the result is not a sweep."""
    raw_steps = result.get("sweep")
    if not isinstance(raw_steps, Sequence) or isinstance(raw_steps, str):
        return None
    steps = [step for step in raw_steps if isinstance(step, Mapping)]
    best = result.get("sweep_best")
    best_index = best.get("step") if isinstance(best, Mapping) else None
    kind = str(next((step.get("kind") for step in steps if step.get("kind")), ""))
    if isinstance(best, Mapping) and not kind:
        kind = str(best.get("kind") or "")
    rows = [_row(step, kind, index == best_index) for index, step in enumerate(steps)]
    charted = ["ttft_ms", *(name for name in slos if name in LATENCY_METRICS and name != "ttft_ms")]
    return {
        "kind": kind,
        "rows": rows,
        "best": next((row["label"] for row in rows if row["best"]), None),
        "charts": [
            *(_latency_chart(rows, metric, slos) for metric in charted),
            _throughput_chart(steps, rows, kind),
        ],
    }


def _stat(step: Mapping[str, Any], metric: str, stat: str) -> Any:
    metrics = step.get("metrics")
    summary = metrics.get(metric) if isinstance(metrics, Mapping) else None
    return summary.get(stat) if isinstance(summary, Mapping) else None


def _part(step: Mapping[str, Any], section: str, key: str) -> Any:
    value = step.get(section)
    return value.get(key) if isinstance(value, Mapping) else None


def _row(step: Mapping[str, Any], kind: str, best: bool) -> dict[str, Any]:
    return {
        "label": step_label(str(step.get("kind") or kind), step.get("value")),
        "short": step_label(str(step.get("kind") or kind), step.get("value"), short=True),
        "best": best,
        "complete": step.get("complete") is not False,
        "window_s": step.get("window_s"),
        "requests": _part(step, "requests", "total"),
        "failed": _part(step, "requests", "failed"),
        "requests_per_s": _part(step, "throughput", "requests_per_s"),
        "tokens_per_s": _part(step, "throughput", "output_tokens_per_s"),
        "goodput": _part(step, "goodput", "requests_per_s"),
        "slo_met": step.get("slo_met"),
        "latency": {
            metric: {stat: _stat(step, metric, stat) for stat in ("p50", "p99")}
            for metric in LATENCY_METRICS
        },
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _latency_chart(
    rows: Sequence[Mapping[str, Any]], metric: str, slos: Mapping[str, float]
) -> Markup:
    name = LATENCY_METRICS[metric]
    lines: dict[str, list[tuple[float, float]]] = {"p50": [], "p99": []}
    markers = []
    for row in rows:
        x = _number(row["requests_per_s"])
        if x is None:
            continue
        label = f"best: {row['label']}" if row["best"] else row["short"]
        if not row["complete"]:
            label += " (partial)"
        labelled = False
        # Label the upper (p99) dot: the p50 dot below it belongs to the same step.
        for stat, color in (("p99", _svg.ORANGE), ("p50", _svg.BLUE)):
            y = _number(row["latency"][metric][stat])
            if y is None:
                continue
            lines[stat].append((x, y))
            text = "" if labelled else label
            labelled = True
            markers.append(_svg.Marker(x, y, text, color, highlight=row["best"]))
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


def _throughput_chart(
    steps: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], kind: str
) -> Markup:
    """Achieved and good requests/s against the step value: where scaling stops."""
    achieved, good, markers = [], [], []
    for step, row in zip(steps, rows, strict=True):
        x = _number(step.get("value"))
        rate = _number(row["requests_per_s"])
        if x is None or rate is None:
            continue
        achieved.append((x, rate))
        goodput = _number(row["goodput"])
        if goodput is not None:
            good.append((x, goodput))
        label = f"best: {row['label']}" if row["best"] else ""
        markers.append(_svg.Marker(x, rate, label, _svg.GREEN, highlight=row["best"]))
    axis = {"users": "users", "rate": "target arrival rate (req/s)"}.get(kind, "step value")
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
