"""``--server-metrics URL``: scrape the endpoint's Prometheus page while a load run goes on.

The scraper runs in the process that called :func:`~chatgauge.loadtests._launch.run_load`
(a thread beside the waiting parent, never inside locust, so a slow scrape can delay no
stamp). It reads the page once every :data:`SCRAPE_INTERVAL_S`, parses it with
``prometheus_client``'s text parser (the reference implementation of the format, so vLLM's
``vllm:num_requests_running``-style names, labels, escapes and ``# TYPE`` lines are read as
Prometheus reads them), stamps each scrape with ``time.perf_counter_ns()`` (the clock the
load generator stamps requests with: one monotonic clock per machine) and keeps gauges,
counters and untyped samples; histogram and summary samples are left out. When the run
ends its ``load.json`` is rewritten with ``server_metrics`` (seconds from the run's second
zero, like ``series``), and ``load.html`` with the server charts.

The page's body is bounded (:data:`BODY_LIMIT`), a scrape waits at most
:data:`SCRAPE_TIMEOUT_S`, and a failed scrape is counted with its reason (one line, the API
key masked), never an error of the run: a server without ``/metrics`` still gets its load
test. The key is sent as a bearer token when one is configured (some deployments guard
``/metrics`` with it).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

from chatgauge._secret import Secret
from chatgauge.loadtests._http import Connection, HttpTransportError, Origin, request_head
from chatgauge.loadtests._output import write_report
from chatgauge.results import safe_text
from chatgauge.results.load import LoadReport
from chatgauge.results.server_metrics import MAX_POINTS, MAX_SERIES, MetricSeries, ServerMetrics

SCRAPE_INTERVAL_S: Final = 1.0
SCRAPE_TIMEOUT_S: Final = 2.0
BODY_LIMIT: Final = 4 * 1024 * 1024
KEPT_KINDS: Final = frozenset({"gauge", "counter", "unknown", "untyped"})
PRIORITY: Final = re.compile(r"running|waiting|queue|cache|usage|slot|token|request", re.I)
"""Names kept first when a page has more series than :data:`MAX_SERIES`."""

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def check_url(url: str) -> None:
    """``ValueError`` with one line unless ``url`` is an http(s) URL (its path is kept)."""
    Origin.from_url(url)


@dataclass
class _Track:
    kind: str
    help: str
    t_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def parse_page(text: str) -> dict[SeriesKey, tuple[str, str, float]]:
    """Every kept sample of one page: ``(name, labels) -> (kind, help, value)``.

    ``ValueError`` for a page the parser refuses; non-finite values are left out (JSON has
    no NaN).
    """
    found: dict[SeriesKey, tuple[str, str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.type not in KEPT_KINDS:
            continue
        for sample in family.samples:
            value = float(sample.value)
            if not math.isfinite(value) or sample.name.endswith("_created"):
                continue
            key = (sample.name, tuple(sorted(sample.labels.items())))
            found[key] = (family.type, family.documentation, value)
    return found


class MetricsScraper:
    """Scrapes one URL on a thread between :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        url: str,
        *,
        api_key: Secret | None = None,
        verify_tls: bool = True,
        interval_s: float = SCRAPE_INTERVAL_S,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.url = url
        self._origin = Origin.from_url(url)
        self._key = api_key
        self._verify = verify_tls
        self._interval = interval_s
        self._clock = clock
        self._tracks: dict[SeriesKey, _Track] = {}
        self._dropped_series: set[SeriesKey] = set()
        self._dropped_points = 0
        self.scrapes = 0
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chatgauge-scrape", daemon=True)

    def start(self) -> None:
        """Scrape now and then every interval, until :meth:`stop`."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after one last scrape (the run's end state), waiting a bounded time."""
        self._stop.set()
        self._thread.join(SCRAPE_TIMEOUT_S * 3)

    def _loop(self) -> None:
        while True:
            started = time.monotonic()
            self.scrape_once()
            if self._stop.wait(max(self._interval - (time.monotonic() - started), 0.0)):
                self.scrape_once()
                return

    def _fetch(self) -> str:
        headers = {"Accept": "text/plain", "Accept-Encoding": "identity"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        connection = Connection(
            self._origin,
            verify_tls=self._verify,
            read_timeout_s=SCRAPE_TIMEOUT_S,
            connect_timeout_s=SCRAPE_TIMEOUT_S,
        )
        try:
            _, response = connection.request(
                request_head("GET", self._origin.prefix or "/", headers), b""
            )
            body = response.read_all(BODY_LIMIT)
        finally:
            connection.close()
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        return body.decode("utf-8", "replace")

    def scrape_once(self) -> None:
        """One scrape: fetch, parse, keep (a failure is counted, never raised)."""
        stamp = self._clock()
        try:
            page = parse_page(self._fetch())
        # The parser's refusals are ValueErrors, but a hostile page must never end the run.
        except (HttpTransportError, ValueError, OSError, IndexError, KeyError, TypeError) as exc:
            self.failures += 1
            self.last_error = safe_text(f"{type(exc).__name__}: {exc}", self._key, 300)
            return
        self.scrapes += 1
        ordered = sorted(page, key=lambda key: (not PRIORITY.search(key[0]), key))
        for key in ordered:
            kind, help_text, value = page[key]
            track = self._tracks.get(key)
            if track is None:
                if len(self._tracks) >= MAX_SERIES:
                    self._dropped_series.add(key)
                    continue
                track = self._tracks[key] = _Track(kind, help_text)
            if len(track.values) >= MAX_POINTS:
                self._dropped_points += 1
                continue
            track.t_ns.append(stamp)
            track.values.append(value)

    def result(self, origin_ns: int) -> ServerMetrics:
        """What was scraped, stamped in seconds from ``origin_ns``."""
        series = tuple(
            MetricSeries(
                name=name,
                kind=track.kind,
                labels=dict(labels),
                help=track.help,
                t_s=tuple((t - origin_ns) / 1e9 for t in track.t_ns),
                values=tuple(track.values),
            )
            for (name, labels), track in self._tracks.items()
        )
        return ServerMetrics(
            url=safe_text(self.url, self._key, 500),
            interval_s=self._interval,
            scrapes=self.scrapes,
            failures=self.failures,
            last_error=self.last_error,
            series=series,
            dropped_series=len(self._dropped_series),
            dropped_points=self._dropped_points,
        )


@contextmanager
def scraping(url: str, *, api_key: Secret | None, verify_tls: bool) -> Iterator[MetricsScraper]:
    """A running scraper for the duration of the block."""
    scraper = MetricsScraper(url, api_key=api_key, verify_tls=verify_tls)
    scraper.start()
    try:
        yield scraper
    finally:
        scraper.stop()


def attach(
    report: LoadReport, scraper: MetricsScraper, directory: Path, secret: Secret | None
) -> LoadReport:
    """``report`` with the scrapes added, rewritten (``load.json`` and ``load.html``)."""
    document = replace(report, server_metrics=scraper.result(report.window.origin_ns))
    write_report(directory, document, secret, html=True)
    return document


__all__ = [
    "SCRAPE_INTERVAL_S",
    "MetricsScraper",
    "attach",
    "check_url",
    "parse_page",
    "scraping",
]
