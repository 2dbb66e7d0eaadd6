"""Comparing saved load runs figure by figure; the first run is the baseline.

Compared figures: mean and p50/p90/p95/p99/p99.9 of TTFT, TPOT, ITL and E2E (lower is
better), output tokens/s, requests/s and goodput requests/s (higher is better), and the error
rate ``requests.failed / requests.total`` (lower is better), read from typed ``load.json``
documents (:class:`~chatgauge.results.load.LoadReport`). A figure is a *regression* when
it is worse than the baseline's by more than ``threshold`` (relative, default 5%) **and** by
more than the figure's absolute floor (:data:`FLOORS`: 1 ms for latencies, 1 token/s, 0.05
requests/s, 0.5 percentage points of error rate), so jitter of a fraction of a millisecond on
a tiny value is never flagged. A baseline of zero has no relative change: there the floor
alone decides. An *improvement* is the same rule in the other direction. A figure missing
from either run is not judged.

TTFT and E2E are compared as the users perceived them: from the intended start for
open-loop runs (``ttft_from_schedule_ms``, ``e2e_from_schedule_ms``), from the send for
closed-loop ones. The row names the basis; runs of different bases are still compared, and
the row says so ("user-perceived").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from chatgauge.reports._charts import LineChart, line_chart, run_color
from chatgauge.reports._jinja import render
from chatgauge.results.load import LoadConfig, LoadReport, MetricName, Stat, Summary

DEFAULT_THRESHOLD: Final = 0.05

LATENCY_METRICS: Final[tuple[tuple[MetricName, str], ...]] = (
    ("ttft_ms", "TTFT"),
    ("tpot_ms", "TPOT"),
    ("itl_ms", "ITL"),
    ("e2e_ms", "E2E"),
)
STAT_LABELS: Final[dict[Stat, str]] = {
    "mean": "mean",
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p999": "p99.9",
}
PERCENTILES: Final[tuple[Stat, ...]] = ("p50", "p90", "p95", "p99", "p999")

FLOORS: Final = {"ms": 1.0, "tokens/s": 1.0, "req/s": 0.05, "rate": 0.005}
"""Smallest absolute change that can be a regression, per unit (``rate``: a fraction)."""


@dataclass(frozen=True)
class Cell:
    """One run's value of one figure, judged against the baseline's.

    ``verdict``: ``baseline`` (the first run), ``regression``, ``improvement``, ``same``
    (within the threshold or floor) or ``n/a`` (a value is missing).
    """

    value: float | None
    text: str
    delta_text: str
    verdict: str


@dataclass(frozen=True)
class MetricRow:
    """One compared figure across all runs."""

    key: str
    label: str
    unit: str
    lower_is_better: bool
    cells: tuple[Cell, ...]

    @property
    def regressed(self) -> bool:
        """Whether any run regressed on this figure."""
        return any(c.verdict == "regression" for c in self.cells)


@dataclass(frozen=True)
class RunInfo:
    """The identity of one compared run, shown in the page header."""

    label: str
    endpoint: str
    model: str
    started_at: str
    color: str
    facts: tuple[tuple[str, str], ...]
    trust: str
    trust_reasons: tuple[str, ...]


@dataclass(frozen=True)
class LoadComparison:
    """Load runs side by side; ``runs[0]`` is the baseline."""

    runs: tuple[RunInfo, ...]
    rows: tuple[MetricRow, ...]
    threshold: float

    def regressions(self) -> list[tuple[RunInfo, MetricRow, Cell]]:
        """Every (run, figure, cell) judged a regression, in row order."""
        return [
            (run, row, cell)
            for row in self.rows
            for run, cell in zip(self.runs, row.cells, strict=True)
            if cell.verdict == "regression"
        ]

    def improvements(self) -> list[tuple[RunInfo, MetricRow, Cell]]:
        """Every (run, figure, cell) judged an improvement, in row order."""
        return [
            (run, row, cell)
            for row in self.rows
            for run, cell in zip(self.runs, row.cells, strict=True)
            if cell.verdict == "improvement"
        ]


def compare_load(
    runs: Sequence[tuple[str, LoadReport]], *, threshold: float = DEFAULT_THRESHOLD
) -> LoadComparison:
    """Compare load results (``(label, document)``; the first is the baseline)."""
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two runs")
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    reports = [report for _, report in runs]
    rows: list[MetricRow] = []
    for metric, name in LATENCY_METRICS:
        key, label, summaries = _compared(metric, name, reports)
        for stat, stat_label in STAT_LABELS.items():
            values = [summary.figure(stat) for summary in summaries]
            rows.append(
                _row(f"{key}.{stat}", f"{label} {stat_label}", "ms", True, values, threshold)
            )
    rows.append(
        _row(
            "throughput.output_tokens_per_s",
            "output tokens/s",
            "tokens/s",
            False,
            [r.throughput.output_tokens_per_s for r in reports],
            threshold,
        )
    )
    rows.append(
        _row(
            "throughput.requests_per_s",
            "requests/s",
            "req/s",
            False,
            [r.throughput.requests_per_s for r in reports],
            threshold,
        )
    )
    goodput = [r.goodput.requests_per_s for r in reports]
    if any(v is not None for v in goodput):
        rows.append(
            _row("goodput.requests_per_s", "goodput requests/s", "req/s", False, goodput, threshold)
        )
    rows.append(
        _row("error_rate", "error rate", "rate", True, [_error_rate(r) for r in reports], threshold)
    )
    infos = tuple(_run_info(i, label, report) for i, (label, report) in enumerate(runs))
    return LoadComparison(runs=infos, rows=tuple(rows), threshold=threshold)


def _compared(
    metric: MetricName, name: str, reports: Sequence[LoadReport]
) -> tuple[str, str, list[Summary]]:
    """The key, label and per-run summaries of one compared latency (see the module doc)."""
    if metric not in ("ttft_ms", "e2e_ms"):
        return metric, name, [r.metrics.summary(metric) for r in reports]
    which: Literal["ttft", "e2e"] = "ttft" if metric == "ttft_ms" else "e2e"
    chosen = [r.user_metric(which) for r in reports]
    keys = {key for key, _ in chosen}
    if len(keys) > 1:
        return f"{which}_user", f"{name} (user-perceived)", [s for _, s in chosen]
    key = keys.pop()
    label = f"{name} from intended start" if key != metric else name
    return key, label, [s for _, s in chosen]


def judge(
    baseline: float | None,
    value: float | None,
    *,
    lower_is_better: bool,
    threshold: float,
    floor: float,
) -> str:
    """``regression``, ``improvement``, ``same`` or ``n/a`` (see the module docstring)."""
    if baseline is None or value is None:
        return "n/a"
    worse_by = value - baseline if lower_is_better else baseline - value
    relative = abs(worse_by) / abs(baseline) if baseline else None
    beyond = abs(worse_by) > floor and (relative is None or relative > threshold)
    if not beyond:
        return "same"
    return "regression" if worse_by > 0 else "improvement"


def _row(
    key: str,
    label: str,
    unit: str,
    lower_is_better: bool,
    values: Sequence[float | None],
    threshold: float,
) -> MetricRow:
    baseline = values[0]
    cells = [Cell(baseline, _format(baseline, unit), "", "baseline")]
    for value in values[1:]:
        verdict = judge(
            baseline,
            value,
            lower_is_better=lower_is_better,
            threshold=threshold,
            floor=FLOORS[unit],
        )
        cells.append(Cell(value, _format(value, unit), _delta(baseline, value, unit), verdict))
    return MetricRow(key, label, unit, lower_is_better, tuple(cells))


def _error_rate(report: LoadReport) -> float | None:
    if report.error_budget.error_rate is not None:
        return report.error_budget.error_rate
    requests = report.requests
    return requests.failed / requests.total if requests.total > 0 else None


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "\u2013"
    if unit == "rate":
        return f"{value * 100:.2f}%"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _delta(baseline: float | None, value: float | None, unit: str) -> str:
    if baseline is None or value is None:
        return ""
    change = value - baseline
    if unit == "rate":
        return f"{change * 100:+.2f} pp"
    sign = "+" if change >= 0 else "-"
    text = f"{sign}{_format(abs(change), unit)}"
    if baseline:
        text += f" ({change / abs(baseline) * 100:+.1f}%)"
    return text


def _settings(config: LoadConfig) -> list[tuple[str, Any]]:
    """The settings that tell runs apart, as ``(name, value)``."""
    return [
        ("mode", config.mode),
        ("users", config.users),
        ("rate", config.rate),
        ("arrival", config.arrival),
        ("processes", config.processes),
        ("run_time_s", config.run_time_s),
        ("warmup_s", config.warmup_s),
        ("max_tokens", config.max_tokens),
        ("input_words", config.input_words),
        ("slos", [f"{slo.name}={slo.max_ms:g}" for slo in config.slos] or None),
    ]


def _run_info(index: int, label: str, report: LoadReport) -> RunInfo:
    facts = [(key, _compact(value)) for key, value in _settings(report.config) if value is not None]
    requests = report.requests
    facts.append(("requests", f"{requests.completed} ok, {requests.failed} failed"))
    facts.append(("window", f"{report.window.length_s:.1f} s"))
    if report.slos_met is not None:
        facts.append(("SLOs", "met" if report.slos_met else "missed"))
    facts.append(("latency basis", report.latency_basis))
    if not report.complete:
        facts.append(("status", f"{report.status.value}: no verdict"))
    generator = report.generator
    return RunInfo(
        label=label,
        endpoint=report.endpoint,
        model=report.model,
        started_at=report.started_at,
        color=run_color(index),
        facts=tuple(facts),
        trust=generator.verdict.value,
        trust_reasons=generator.reasons,
    )


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "\u2026"


def load_charts(comparison: LoadComparison) -> list[LineChart]:
    """One percentile chart per latency metric, one line per run."""
    charts = []
    labels = [run.label for run in comparison.runs]
    latency = [row for row in comparison.rows if row.unit == "ms"]
    for index in range(0, len(latency), len(STAT_LABELS)):
        group = {
            row.key.rsplit(".", 1)[1]: row for row in latency[index : index + len(STAT_LABELS)]
        }
        name = group["p50"].label.removesuffix(" p50")
        series = [
            (label, [group[p].cells[i].value for p in PERCENTILES])
            for i, label in enumerate(labels)
        ]
        charts.append(line_chart(name, "ms", [STAT_LABELS[p] for p in PERCENTILES], series))
    return charts


def load_summary(comparison: LoadComparison) -> list[str]:
    lines = []
    for run in comparison.runs[1:]:
        regressed = [(row, c) for r, row, c in comparison.regressions() if r is run]
        improved = [(row, c) for r, row, c in comparison.improvements() if r is run]
        lines.append(
            f"{run.label}: {len(regressed)} regressions, {len(improved)} improvements "
            f"(threshold {comparison.threshold:.0%} and absolute floors)"
        )
        for label, items in (("REGRESSION", regressed), ("improved", improved)):
            lines.extend(
                f"  {label:<10} {row.label}: {row.cells[0].text} -> {c.text}"
                f"{'' if row.unit == 'rate' else ' ' + row.unit}, {c.delta_text}"
                for row, c in items
            )
        if run.trust == "untrustworthy":
            lines.append("  warning: the load generator judged this run untrustworthy")
        for key, value in run.facts:
            if key == "status":
                lines.append(f"  warning: this run is {value}")
    return lines


def render_load_comparison(comparison: LoadComparison) -> str:
    """The load comparison page (one self-contained HTML file)."""
    return render(
        "compare_load.html.j2",
        comparison=comparison,
        charts=load_charts(comparison),
        regressions=comparison.regressions(),
        improvements=comparison.improvements(),
        floors=FLOORS,
    )
