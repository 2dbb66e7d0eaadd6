"""Comparing saved runs: load runs figure by figure (:mod:`._compare_load`), conformance
runs check by check (:mod:`._compare_conformance`); the first run is the baseline."""

from __future__ import annotations

from chatgauge.reports._compare_conformance import (
    CheckRow,
    ComparedRun,
    ConformanceComparison,
    change_of,
    compare_conformance,
    conformance_summary,
    render_conformance_comparison,
)
from chatgauge.reports._compare_load import (
    DEFAULT_THRESHOLD,
    FLOORS,
    Cell,
    LoadComparison,
    MetricRow,
    RunInfo,
    compare_load,
    judge,
    load_charts,
    load_summary,
    render_load_comparison,
)

Comparison = LoadComparison | ConformanceComparison


def summary_text(comparison: Comparison) -> str:
    """A few lines for the terminal: what regressed, what improved, against which baseline."""
    lines = [f"baseline: {comparison.runs[0].label}"]
    if isinstance(comparison, LoadComparison):
        lines.extend(load_summary(comparison))
    else:
        lines.extend(conformance_summary(comparison))
    return "\n".join(lines)


def has_regression(comparison: Comparison) -> bool:
    """Whether any later run regressed against the baseline."""
    return bool(comparison.regressions())


def render_compare_html(comparison: Comparison) -> str:
    """The comparison page (one self-contained HTML file)."""
    if isinstance(comparison, LoadComparison):
        return render_load_comparison(comparison)
    return render_conformance_comparison(comparison)


__all__ = [
    "DEFAULT_THRESHOLD",
    "FLOORS",
    "Cell",
    "CheckRow",
    "ComparedRun",
    "Comparison",
    "ConformanceComparison",
    "LoadComparison",
    "MetricRow",
    "RunInfo",
    "change_of",
    "compare_conformance",
    "compare_load",
    "has_regression",
    "judge",
    "load_charts",
    "render_compare_html",
    "summary_text",
]
