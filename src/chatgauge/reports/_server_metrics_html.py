"""The server-metrics section of the load page: what the endpoint said about itself.

With ``server_metrics`` in ``load.json`` (``--server-metrics URL``) the page draws the
scraped series on the time axis of the client's own charts (seconds since the run's start,
the warm-up shaded): the server's running and waiting requests beside the client's requests
in flight, then cache or slot use, other gauges, and counters as per-second rates. A page
shows at most :data:`MAX_LINES` series per chart.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup

from chatgauge.reports import _svg
from chatgauge.results.load import LoadReport
from chatgauge.results.server_metrics import MetricSeries, ServerMetrics

MAX_LINES: Final = 6
COLORS: Final = (_svg.ORANGE, _svg.BLUE, _svg.GREEN, _svg.RED, _svg.GREY, _svg.INK)
_QUEUE: Final = re.compile(r"running|waiting|queue|pending|processing|deferred", re.I)
_USAGE: Final = re.compile(r"cache|usage|ratio|slot|util", re.I)


@dataclass(frozen=True)
class ServerMetricsView:
    """What the template shows of the scrapes."""

    metrics: ServerMetrics
    charts: tuple[Markup, ...]


def series_label(series: MetricSeries) -> str:
    """``name{label="value",...}`` as Prometheus writes a sample."""
    if not series.labels:
        return series.name
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()))
    return f"{series.name}{{{labels}}}"


def _points(series: MetricSeries, span: tuple[float, float] | None) -> list[tuple[float, float]]:
    points = list(zip(series.t_s, series.values, strict=False))
    if series.kind == "counter":
        # A counter is cumulative: its per-second rate between scrapes (a reset shows as 0).
        points = [
            (t1, max(v1 - v0, 0.0) / (t1 - t0))
            for (t0, v0), (t1, v1) in itertools.pairwise(points)
            if t1 > t0
        ]
    if span is None:
        return points
    return [(t, v) for t, v in points if span[0] <= t <= span[1]]


def _span(report: LoadReport) -> tuple[float, float] | None:
    seconds = report.series.t
    if not seconds:
        return None
    return float(seconds[0]), float(seconds[-1]) + 1


def _bands(report: LoadReport, span: tuple[float, float] | None) -> list[_svg.Band]:
    if span is None:
        return []
    bands = []
    if report.window.start_s > span[0]:
        bands.append(_svg.Band(span[0], report.window.start_s, "warm-up"))
    if report.window.end_s < span[1]:
        bands.append(_svg.Band(report.window.end_s, span[1], "after window"))
    return bands


def _chart(
    title: str,
    y_label: str,
    chosen: Sequence[MetricSeries],
    report: LoadReport,
    extra: Sequence[_svg.Series] = (),
) -> Markup:
    span = _span(report)
    lines = [
        _svg.Series(series_label(s), _points(s, span), COLORS[i % len(COLORS)], "step")
        for i, s in enumerate(chosen[:MAX_LINES])
    ]
    return _svg.xy_chart(
        title,
        "seconds since start",
        y_label,
        [*lines, *extra],
        bands=_bands(report, span),
        x_range=span,
        empty_message="no scrape succeeded",
    )


def server_metrics_view(report: LoadReport) -> ServerMetricsView | None:
    """The section, or ``None`` when the run scraped nothing."""
    metrics = report.server_metrics
    if metrics is None:
        return None
    gauges = [s for s in metrics.series if s.kind != "counter"]
    counters = [s for s in metrics.series if s.kind == "counter"]
    queue = [s for s in gauges if _QUEUE.search(s.name)]
    usage = [s for s in gauges if s not in queue and _USAGE.search(s.name)]
    other = [s for s in gauges if s not in queue and s not in usage]
    client = report.series
    in_flight = _svg.Series(
        "client: requests in flight",
        [(float(t), float(v)) for t, v in zip(client.t, client.active_requests, strict=True)],
        _svg.PURPLE,
        "step",
    )
    charts = [
        _chart("Server: requests running and waiting", "requests", queue, report, [in_flight])
    ]
    if usage:
        charts.append(_chart("Server: cache and slot use", "as scraped", usage, report))
    if other:
        charts.append(_chart("Server: other gauges", "as scraped", other, report))
    if counters:
        charts.append(_chart("Server: counters", "per second", counters, report))
    return ServerMetricsView(metrics=metrics, charts=tuple(charts))


__all__ = ["ServerMetricsView", "series_label", "server_metrics_view"]
