"""The load page: a typed ``load.json`` (:class:`LoadReport`) rendered as one offline HTML file.

The page fetches nothing and runs no script: CSS is inline, every chart is inline SVG drawn
by :mod:`chatgauge.reports._svg`, and a Content-Security-Policy forbids any other resource.
The module imports nothing from ``chatgauge.loadtests`` (which loads locust and gevent's
monkey-patching): everything it shows comes from the typed document of the results layer.
Text that came from the endpoint or the user (endpoint URL, model name, error examples,
config values) is autoescaped by Jinja2; template syntax inside it is data, never evaluated.
Numbers in ``load.json`` keep full precision; the page shows them rounded for reading, with
the exact value in each cell's tooltip.

Every figure names its population where it is shown: *measured* requests (scheduled in the
window) for latencies, counts and SLOs, requests *finished in the window* for rates. In an
open-loop run the headline and the SLOs use TTFT and E2E from the intended start, named so,
with the send-based TTFT beside them as a labelled diagnostic. An interrupted or aborted run
says so at the top and never shows a green verdict.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from markupsafe import Markup

from chatgauge.reports import _svg
from chatgauge.reports._capacity_html import capacity_view
from chatgauge.reports._lengths_html import lengths_view
from chatgauge.reports._load_sweep import SweepView, sweep_view
from chatgauge.reports._server_metrics_html import server_metrics_view
from chatgauge.reports._svg import BLUE, GREEN, GREY, ORANGE, PURPLE, RED
from chatgauge.results.load import (
    LoadReport,
    MetricName,
    Metrics,
    Series,
    SloName,
    Summary,
)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("chatgauge.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

METRIC_ROWS: Final[tuple[tuple[MetricName, str, str], ...]] = (
    ("ttft_ms", "TTFT", "ms"),
    ("ttfb_ms", "TTFB", "ms"),
    ("ttft_from_schedule_ms", "TTFT from schedule", "ms"),
    ("schedule_lag_ms", "Schedule lag", "ms"),
    ("tpot_ms", "TPOT", "ms"),
    ("itl_ms", "ITL (per event gap)", "ms"),
    ("itl_per_token_ms", "ITL per token", "ms"),
    ("e2e_ms", "E2E latency", "ms"),
    ("e2e_from_schedule_ms", "E2E from schedule", "ms"),
    ("decode_rate_tps", "Decode rate", "tok/s"),
)
MEASURED: Final = "measured requests (scheduled in the window)"
FINISHED: Final = "requests finished in the window"
STAT_COLUMNS: Final = ("count", "mean", "min", "p50", "p90", "p95", "p99", "p999", "max")


@dataclass(frozen=True)
class Card:
    """One headline figure with its definition key."""

    label: str
    value: float | int | None
    unit: str
    key: str
    detail: str
    bad: bool = False


def render_load_html(report: LoadReport) -> str:
    """The HTML page of a load run."""
    slos = {slo.name: slo.bound_ms for slo in report.goodput.slos}
    return _ENV.get_template("load.html.j2").render(
        report=report,
        headline=_headline(report, bool(slos)),
        table=_table(report.metrics),
        charts=_charts(report, slos),
        sweep=sweep_view(report.sweep, slos, report.goodput.target_attainment),
        basis=_basis_words(report),
        measured_words=MEASURED,
        finished_words=FINISHED,
        config=_config_rows(report),
        definitions=report.definitions,
        # Looked up by key: a definition the document lacks shows as nothing.
        defined=defaultdict(str, report.definitions),
        fmt=fmt,
        exact=exact,
        view=capacity_view(report.capacity),
        server=server_metrics_view(report),
        lengths_section=lengths_view(report.lengths),
    )


def fmt(value: Any, digits: int | None = None) -> str:
    """A number as shown on the page: rounded for reading, en dash when absent."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "\N{EN DASH}" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if digits is not None:
        return f"{value:,.{digits}f}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def exact(value: Any) -> str:
    """The value exactly as ``load.json`` holds it (for tooltips)."""
    return "" if value is None else repr(value)


def _basis_words(report: LoadReport) -> str:
    """How the page names the verdicts' latency basis (in titles and labels)."""
    return "from intended start" if report.latency_basis == "intended_start" else "from send"


def _headline(report: LoadReport, with_slos: bool) -> list[Card]:
    metrics, throughput, requests = report.metrics, report.throughput, report.requests
    total, failed = requests.total, requests.failed
    tpot, itl = metrics.tpot_ms, metrics.itl_ms
    ttft_key, ttft = report.user_metric("ttft")
    e2e_key, e2e = report.user_metric("e2e")
    open_loop = report.latency_basis == "intended_start"
    suffix = " (from intended start)" if open_loop else ""
    cards = [
        Card(f"TTFT p50{suffix}", ttft.p50, "ms", ttft_key, f"p99 {fmt(ttft.p99)} ms · {MEASURED}"),
        Card("TPOT p50", tpot.p50, "ms", "tpot_ms", f"p99 {fmt(tpot.p99)} ms"),
        Card("ITL p50", itl.p50, "ms", "itl_ms", f"p99 {fmt(itl.p99)} ms · max {fmt(itl.max)} ms"),
        Card(f"E2E p50{suffix}", e2e.p50, "ms", e2e_key, f"p99 {fmt(e2e.p99)} ms"),
    ]
    if open_loop:
        sent = metrics.ttft_ms
        cards.append(
            Card(
                "TTFT p50 from send (diagnostic)",
                sent.p50,
                "ms",
                "ttft_ms",
                f"p99 {fmt(sent.p99)} ms · the server alone, not judged",
            )
        )
    cards += [
        Card(
            "Output tokens/s",
            throughput.output_tokens_per_s,
            "tok/s",
            "output_tokens_per_s",
            f"{fmt(throughput.output_tokens)} tokens of {FINISHED} ({fmt(throughput.window_s)} s)",
        ),
        Card(
            "Requests/s",
            throughput.requests_per_s,
            "req/s",
            "requests_per_s",
            f"{fmt(throughput.requests_completed)} successful {FINISHED}",
        ),
        Card(
            "Failed",
            failed,
            f"of {fmt(total)}",
            "error_budget",
            _failed_detail(report),
            bad=report.error_budget.met is False,
        ),
    ]
    if with_slos:
        goodput = report.goodput
        cards.append(
            Card(
                "Goodput",
                goodput.requests_per_s,
                "req/s",
                "goodput",
                f"{FINISHED} meeting every SLO; {fmt(goodput.good_requests)} of "
                f"{fmt(total)} {MEASURED} met them",
            )
        )
    return cards


def _failed_detail(report: LoadReport) -> str:
    budget, requests = report.error_budget, report.requests
    if not requests.total:
        return "no request measured"
    text = f"{MEASURED}; budget {budget.max_error_rate:.2%}"
    if budget.error_rate is not None:
        text = f"{budget.error_rate:.2%} of {text}"
    if requests.cut_off:
        text += f"; {fmt(requests.cut_off)} cut off at the end (not judged)"
    return text


def _cells(s: Summary) -> list[float | int | None]:
    return [s.count, s.mean, s.min, s.p50, s.p90, s.p95, s.p99, s.p999, s.max]


def _table(metrics: Metrics) -> list[dict[str, Any]]:
    return [
        {"key": key, "label": label, "unit": unit, "cells": _cells(metrics.summary(key))}
        for key, label, unit in METRIC_ROWS
    ]


def _column(series: Series, values: Sequence[float | int | None]) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for t, v in zip(series.t, values, strict=True) if v is not None]


def _bands(report: LoadReport) -> list[_svg.Band]:
    seconds = report.series.t
    if not seconds:
        return []
    first, last = float(seconds[0]), float(seconds[-1]) + 1
    start, end = report.window.start_s, report.window.end_s
    bands = []
    if start > first:
        bands.append(_svg.Band(first, start, "warm-up"))
    if end < last:
        bands.append(_svg.Band(end, last, "after window"))
    return bands


def _slo_rule(slos: Mapping[SloName, float], name: SloName, vertical: bool) -> list[_svg.Rule]:
    if name not in slos:
        return []
    return [_svg.Rule(slos[name], f"SLO {_svg.format_number(slos[name])} ms", RED, vertical)]


def _curve(
    label: str, quantiles: Sequence[float], fractions: Sequence[float], color: str
) -> _svg.Series:
    return _svg.Series(label, list(zip(quantiles, fractions, strict=False)), color)


def _charts(report: LoadReport, slos: Mapping[SloName, float]) -> list[Markup]:
    curves, histogram = report.distributions, report.distributions.ttft_histogram
    series, points = report.series, report.points
    bands = _bands(report)
    basis = _basis_words(report)
    scatter_note = "" if points.stride == 1 else f" (every {points.stride}th request)"
    rows = list(zip(points.t_s, points.ttft_ms, points.e2e_ms, points.ok, strict=True))
    return [
        _svg.histogram_chart(
            f"TTFT {basis}, distribution ({MEASURED}, successful)",
            "TTFT (ms)",
            histogram.edges,
            histogram.counts,
            BLUE,
            overflow=histogram.overflow,
            rules=_slo_rule(slos, "ttft_ms", vertical=True),
        ),
        _svg.percentile_chart(
            f"TTFT {basis}, cumulative distribution",
            "TTFT (ms)",
            [_curve("TTFT", curves.ttft_ms, curves.fractions, BLUE)],
            rules=_slo_rule(slos, "ttft_ms", vertical=True),
        ),
        _svg.percentile_chart(
            "Inter-token gap cumulative distribution",
            "gap between token events (ms)",
            [_curve("ITL", curves.itl_ms, curves.fractions, GREEN)],
            rules=_slo_rule(slos, "itl_ms", vertical=True),
        ),
        _svg.percentile_chart(
            f"E2E latency {basis}, cumulative distribution",
            "E2E (ms)",
            [_curve("E2E", curves.e2e_ms, curves.fractions, ORANGE)],
            rules=_slo_rule(slos, "e2e_ms", vertical=True),
        ),
        _svg.xy_chart(
            "Output tokens per second",
            "seconds since start",
            "tokens/s",
            [
                _svg.Series(
                    "completed (by t_done)", _column(series, series.output_tokens), GREEN, "step"
                ),
                _svg.Series(
                    "streamed (by arrival)",
                    _column(series, series.streamed_tokens),
                    PURPLE,
                    "step",
                ),
            ],
            bands=bands,
        ),
        _svg.xy_chart(
            "Requests per second",
            "seconds since start",
            "requests/s",
            [
                _svg.Series("started", _column(series, series.requests_started), GREY, "step"),
                _svg.Series("completed", _column(series, series.requests_completed), BLUE, "step"),
            ],
            bands=bands,
        ),
        _svg.xy_chart(
            "Active requests",
            "seconds since start",
            "requests in flight (mean over 1 s)",
            [_svg.Series("active", _column(series, series.active_requests), PURPLE, "step")],
            bands=bands,
        ),
        _svg.xy_chart(
            "Errors per second",
            "seconds since start",
            "failed requests",
            [_svg.Series("errors", _column(series, series.errors), RED, "bars")],
            bands=bands,
            empty_message="no request was made",
        ),
        _svg.xy_chart(
            f"TTFT {basis} per request over time{scatter_note}",
            "send time (s since start)",
            "ms",
            [
                _svg.Series(
                    "TTFT",
                    [(t, ttft) for t, ttft, _, ok in rows if ttft is not None and ok],
                    BLUE,
                    "dots",
                )
            ],
            bands=bands,
            rules=_slo_rule(slos, "ttft_ms", vertical=False),
        ),
        _svg.xy_chart(
            f"E2E latency {basis} per request over time{scatter_note}",
            "send time (s since start)",
            "ms",
            [
                _svg.Series("E2E", [(t, e2e) for t, _, e2e, ok in rows if ok], ORANGE, "dots"),
                _svg.Series("failed", [(t, e2e) for t, _, e2e, ok in rows if not ok], RED, "dots"),
            ],
            bands=bands,
            rules=_slo_rule(slos, "e2e_ms", vertical=False),
        ),
    ]


def _config_rows(report: LoadReport) -> list[tuple[str, str]]:
    rows = []
    for key, value in sorted(report.config.to_json().items()):
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        rows.append((key, text))
    return rows


__all__ = ["SweepView", "exact", "fmt", "render_load_html"]
