"""The load page: a ``load.json`` document rendered as one offline HTML file.

The page fetches nothing and runs no script: CSS is inline, every chart is inline SVG drawn
by :mod:`chatgauge.reports._svg`, and a Content-Security-Policy forbids any other resource.
The module imports nothing from ``chatgauge.loadtests`` (which loads locust and gevent's
monkey-patching): everything it shows comes from the result dict. Text that came from the
endpoint or the user (endpoint URL, model name, error examples, config values) is
autoescaped by Jinja2; template syntax inside it is data, never evaluated.
Numbers in ``load.json`` keep full precision; the page shows them rounded for reading, with
the exact value in each cell's tooltip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import jinja2
from markupsafe import Markup

from chatgauge.reports import _svg
from chatgauge.reports._load_sweep import sweep_view
from chatgauge.reports._svg import BLUE, GREEN, GREY, ORANGE, PURPLE, RED

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("chatgauge.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

METRIC_ROWS: Final[tuple[tuple[str, str, str], ...]] = (
    ("ttft_ms", "TTFT", "ms"),
    ("ttfb_ms", "TTFB", "ms"),
    ("ttft_from_schedule_ms", "TTFT from schedule", "ms"),
    ("schedule_lag_ms", "Schedule lag", "ms"),
    ("tpot_ms", "TPOT", "ms"),
    ("itl_ms", "ITL (per event gap)", "ms"),
    ("itl_per_token_ms", "ITL per token", "ms"),
    ("e2e_ms", "E2E latency", "ms"),
    ("decode_rate_tps", "Decode rate", "tok/s"),
)
STAT_COLUMNS: Final = ("count", "mean", "min", "p50", "p90", "p95", "p99", "p999", "max")


def render_load_html(result: Mapping[str, Any]) -> str:
    """The HTML page of a load run (the dict :func:`compute_results` plus the engine's keys)."""
    metrics = _section(result, "metrics")
    throughput = _section(result, "throughput")
    goodput = _section(result, "goodput")
    generator = _section(result, "generator")
    definitions = {str(k): str(v) for k, v in _section(result, "definitions").items()}
    slos = {str(k): float(v) for k, v in (goodput.get("slos") or {}).items()}
    return _ENV.get_template("load.html.j2").render(
        endpoint=str(result.get("endpoint", "")),
        model=str(result.get("model", "")),
        started_at=str(result.get("started_at", "")),
        duration_s=result.get("duration_s"),
        version=str(result.get("chatgauge_version", "")),
        headline=_headline(metrics, throughput, goodput, _section(result, "requests"), slos),
        table=_table(metrics),
        charts=_charts(result, slos),
        sweep=sweep_view(result, slos),
        generator=_generator_view(generator),
        slo_rows=_slo_rows(goodput, slos),
        goodput=goodput,
        slo_met=result.get("slo_met"),
        requests=_section(result, "requests"),
        throughput=throughput,
        errors=[_error_view(e) for e in result.get("errors") or ()],
        window=_section(result, "window"),
        config=_config_rows(result.get("config")),
        definitions=definitions,
        fmt=fmt,
        exact=exact,
    )


def _section(result: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = result.get(key)
    return value if isinstance(value, Mapping) else {}


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


def _stat(metrics: Mapping[str, Any], key: str, stat: str) -> Any:
    summary = metrics.get(key)
    return summary.get(stat) if isinstance(summary, Mapping) else None


def _headline(
    metrics: Mapping[str, Any],
    throughput: Mapping[str, Any],
    goodput: Mapping[str, Any],
    requests: Mapping[str, Any],
    slos: Mapping[str, float],
) -> list[dict[str, Any]]:
    total = requests.get("total") or 0
    failed = requests.get("failed") or 0
    cards = [
        _card(
            "TTFT p50",
            _stat(metrics, "ttft_ms", "p50"),
            "ms",
            "ttft_ms",
            f"p99 {fmt(_stat(metrics, 'ttft_ms', 'p99'))} ms",
        ),
        _card(
            "TPOT p50",
            _stat(metrics, "tpot_ms", "p50"),
            "ms",
            "tpot_ms",
            f"p99 {fmt(_stat(metrics, 'tpot_ms', 'p99'))} ms",
        ),
        _card(
            "ITL p50",
            _stat(metrics, "itl_ms", "p50"),
            "ms",
            "itl_ms",
            f"p99 {fmt(_stat(metrics, 'itl_ms', 'p99'))} ms · max "
            f"{fmt(_stat(metrics, 'itl_ms', 'max'))} ms",
        ),
        _card(
            "E2E p50",
            _stat(metrics, "e2e_ms", "p50"),
            "ms",
            "e2e_ms",
            f"p99 {fmt(_stat(metrics, 'e2e_ms', 'p99'))} ms",
        ),
        _card(
            "Output tokens/s",
            throughput.get("output_tokens_per_s"),
            "tok/s",
            "output_tokens_per_s",
            f"{fmt(throughput.get('output_tokens'))} tokens in {fmt(throughput.get('window_s'))} s",
        ),
        _card(
            "Requests/s",
            throughput.get("requests_per_s"),
            "req/s",
            "requests_per_s",
            f"{fmt(throughput.get('requests_completed'))} completed in window",
        ),
        _card(
            "Failed",
            failed,
            f"of {fmt(total)}",
            "errors",
            f"{failed / total:.2%} of measured requests" if total else "no request measured",
            bad=bool(failed),
        ),
    ]
    if slos:
        cards.append(
            _card(
                "Goodput",
                goodput.get("requests_per_s"),
                "req/s",
                "goodput",
                f"{fmt(goodput.get('good_requests'))} good of {fmt(total)} measured",
            )
        )
    return cards


def _card(
    label: str, value: Any, unit: str, key: str, detail: str, *, bad: bool = False
) -> dict[str, Any]:
    return {"label": label, "value": value, "unit": unit, "key": key, "detail": detail, "bad": bad}


def _table(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, label, unit in METRIC_ROWS:
        summary = metrics.get(key)
        if not isinstance(summary, Mapping):
            continue
        rows.append(
            {
                "key": key,
                "label": label,
                "unit": unit,
                "cells": [summary.get(column) for column in STAT_COLUMNS],
            }
        )
    return rows


def _series_points(series: Sequence[Mapping[str, Any]], field: str) -> list[tuple[float, float]]:
    return [
        (float(row["t"]), float(row[field]))
        for row in series
        if row.get(field) is not None and row.get("t") is not None
    ]


def _bands(result: Mapping[str, Any]) -> list[_svg.Band]:
    window = _section(result, "window")
    series = result.get("series") or []
    start, end = window.get("start_s"), window.get("end_s")
    if not series or start is None or end is None:
        return []
    first, last = float(series[0]["t"]), float(series[-1]["t"]) + 1
    bands = []
    if start > first:
        bands.append(_svg.Band(first, float(start), "warm-up"))
    if end < last:
        bands.append(_svg.Band(float(end), last, "after window"))
    return bands


def _slo_rule(slos: Mapping[str, float], name: str, vertical: bool) -> list[_svg.Rule]:
    if name not in slos:
        return []
    return [_svg.Rule(slos[name], f"SLO {_svg.format_number(slos[name])} ms", RED, vertical)]


def _charts(result: Mapping[str, Any], slos: Mapping[str, float]) -> list[Markup]:
    distributions = _section(result, "distributions")
    ttft = distributions.get("ttft_ms") or {}
    histogram = ttft.get("histogram") or {}
    series = [row for row in result.get("series") or () if isinstance(row, Mapping)]
    bands = _bands(result)
    points = _section(result, "points")
    rows = [row for row in points.get("rows") or () if isinstance(row, Sequence)]
    shown = [row for row in rows if len(row) >= 4]
    stride = points.get("stride") or 1
    scatter_note = "" if stride == 1 else f" (every {stride}th request)"

    def curve(label: str, cdf: Any, color: str) -> _svg.Series:
        pairs = [(float(v), float(q)) for v, q in cdf or ()]
        return _svg.Series(label, pairs, color)

    return [
        _svg.histogram_chart(
            "TTFT distribution",
            "TTFT (ms)",
            histogram.get("edges") or [],
            histogram.get("counts") or [],
            BLUE,
            overflow=int(histogram.get("overflow") or 0),
            rules=_slo_rule(slos, "ttft_ms", vertical=True),
        ),
        _svg.percentile_chart(
            "TTFT cumulative distribution",
            "TTFT (ms)",
            [curve("TTFT", ttft.get("cdf"), BLUE)],
            rules=_slo_rule(slos, "ttft_ms", vertical=True),
        ),
        _svg.percentile_chart(
            "Inter-token gap cumulative distribution",
            "gap between token events (ms)",
            [curve("ITL", (distributions.get("itl_ms") or {}).get("cdf"), GREEN)],
            rules=_slo_rule(slos, "itl_ms", vertical=True),
        ),
        _svg.percentile_chart(
            "E2E latency cumulative distribution",
            "E2E (ms)",
            [curve("E2E", (distributions.get("e2e_ms") or {}).get("cdf"), ORANGE)],
            rules=_slo_rule(slos, "e2e_ms", vertical=True),
        ),
        _svg.xy_chart(
            "Output tokens per second",
            "seconds since start",
            "tokens/s",
            [
                _svg.Series(
                    "completed (by t_done)", _series_points(series, "output_tokens"), GREEN, "step"
                ),
                _svg.Series(
                    "streamed (by arrival)",
                    _series_points(series, "streamed_tokens"),
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
                _svg.Series("started", _series_points(series, "requests_started"), GREY, "step"),
                _svg.Series(
                    "completed", _series_points(series, "requests_completed"), BLUE, "step"
                ),
            ],
            bands=bands,
        ),
        _svg.xy_chart(
            "Active requests",
            "seconds since start",
            "requests in flight (mean over 1 s)",
            [_svg.Series("active", _series_points(series, "active_requests"), PURPLE, "step")],
            bands=bands,
        ),
        _svg.xy_chart(
            "Errors per second",
            "seconds since start",
            "failed requests",
            [_svg.Series("errors", _series_points(series, "errors"), RED, "bars")],
            bands=bands,
            empty_message="no request was made",
        ),
        _svg.xy_chart(
            f"TTFT per request over time{scatter_note}",
            "send time (s since start)",
            "ms",
            [
                _svg.Series(
                    "TTFT",
                    [(float(r[0]), float(r[1])) for r in shown if r[1] is not None and r[3]],
                    BLUE,
                    "dots",
                )
            ],
            bands=bands,
            rules=_slo_rule(slos, "ttft_ms", vertical=False),
        ),
        _svg.xy_chart(
            f"E2E latency per request over time{scatter_note}",
            "send time (s since start)",
            "ms",
            [
                _svg.Series(
                    "E2E",
                    [(float(r[0]), float(r[2])) for r in shown if r[2] is not None and r[3]],
                    ORANGE,
                    "dots",
                ),
                _svg.Series(
                    "failed",
                    [(float(r[0]), float(r[2])) for r in shown if r[2] is not None and not r[3]],
                    RED,
                    "dots",
                ),
            ],
            bands=bands,
            rules=_slo_rule(slos, "e2e_ms", vertical=False),
        ),
    ]


def _generator_view(generator: Mapping[str, Any]) -> dict[str, Any]:
    clumping = generator.get("clumping")
    return {
        "verdict": str(generator.get("verdict") or "unknown"),
        "reasons": [str(r) for r in generator.get("reasons") or ()],
        "notes": [str(n) for n in generator.get("notes") or ()],
        "cpu": generator.get("cpu_percent") or {},
        "hub": generator.get("hub_lag_ms") or {},
        "schedule": generator.get("schedule_lag_ms") or {},
        "target_rate": generator.get("target_rate"),
        "achieved_rate": generator.get("achieved_rate"),
        "users": generator.get("users"),
        "processes": generator.get("processes"),
        "clumping": clumping if isinstance(clumping, Mapping) else {},
    }


def _slo_rows(goodput: Mapping[str, Any], slos: Mapping[str, float]) -> list[dict[str, Any]]:
    attainment = goodput.get("attainment") or {}
    met = goodput.get("met") or {}
    meanings = goodput.get("meanings") or {}
    return [
        {
            "name": name,
            "bound": bound,
            "attainment": attainment.get(name),
            "met": met.get(name),
            "meaning": str(meanings.get(name, "")),
        }
        for name, bound in slos.items()
    ]


def _error_view(error: Any) -> dict[str, str]:
    error = error if isinstance(error, Mapping) else {}
    return {
        "kind": str(error.get("kind", "")),
        "count": fmt(error.get("count")),
        "example": str(error.get("example") or ""),
    }


def _config_rows(config: Any) -> list[tuple[str, str]]:
    if not isinstance(config, Mapping):
        return []
    rows = []
    for key in sorted(config, key=str):
        value = config[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        rows.append((str(key), text))
    return rows
