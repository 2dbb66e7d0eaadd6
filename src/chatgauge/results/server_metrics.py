"""Server-side metrics scraped during a load run: ``load.json``'s ``server_metrics``.

With ``--server-metrics URL`` the load run reads the endpoint's Prometheus page (vLLM's and
llama.cpp server's ``/metrics``, the reference endpoint's own) about once a second while it
runs. Each kept series is one sample name with its labels; ``t_s`` are seconds from the
run's second zero (the same origin as ``series`` and ``points``, so server and client
figures share one time axis); values are as scraped (a counter stays cumulative; the page
plots its per-second rate). Histogram and summary buckets are left out; at most
:data:`MAX_SERIES` series are kept (queue, running, cache and token figures first), the
rest counted in ``dropped_series``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from chatgauge.results._codec import JsonRecord

MAX_SERIES: Final = 48
MAX_POINTS: Final = 7200
"""Scrapes a series keeps (two hours at one a second); later ones are dropped and counted."""


@dataclass(frozen=True)
class MetricSeries(JsonRecord):
    """One scraped sample name (with its labels) over time; ``kind`` is the family's type."""

    name: str
    kind: str
    labels: dict[str, str] = field(default_factory=dict)
    help: str = ""
    t_s: tuple[float, ...] = ()
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class ServerMetrics(JsonRecord):
    """What the scrapes of one run found (``last_error`` is the last failure's reason)."""

    url: str
    interval_s: float
    scrapes: int = 0
    failures: int = 0
    last_error: str | None = None
    series: tuple[MetricSeries, ...] = ()
    dropped_series: int = 0
    dropped_points: int = 0


__all__ = ["MAX_POINTS", "MAX_SERIES", "MetricSeries", "ServerMetrics"]
