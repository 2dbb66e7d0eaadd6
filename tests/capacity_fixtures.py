"""A capacity-search result with server metrics, for the report tests.

The steps are judged by the engine's own rule (:func:`judge_step`) from synthetic requests
whose waiting grows with the offered rate (so the top step misses the TTFT SLO), and the
answer is the engine's (:func:`answer`); the scrapes are shaped like the reference
endpoint's ``/metrics`` over the document's own time axis.
"""

from __future__ import annotations

from dataclasses import replace

from chatgauge.loadtests._capacity import RateSearch, SearchPlan, StepInput, answer, judge_step
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results.load import LoadReport
from chatgauge.results.server_metrics import MetricSeries, ServerMetrics
from tests.report_fixtures import load_document

SLOS = {"ttft_ms": 1000.0}
RATES = ((4.0, 50.0), (8.0, 150.0), (16.0, 2500.0), (12.0, 400.0))
"""(offered req/s, client wait in ms) per step, in the order the search tries them."""
_MS = 1_000_000


def _samples(rate: float, wait_ms: float, seconds: int = 30) -> list[RequestSample]:
    samples = []
    for i in range(int(rate * seconds)):
        sched = round(i / rate * 1e9)
        send = sched + round(wait_ms * _MS)
        first = send + 100 * _MS
        stamps = tuple(first + k * 10 * _MS for k in range(8))
        samples.append(
            RequestSample(
                t_sched_ns=sched,
                t_send_ns=send,
                t_headers_ns=send + _MS,
                t_first_event_ns=first,
                t_done_ns=stamps[-1],
                token_event_ns=stamps,
                token_event_counts=(1,) * 8,
                output_tokens=8,
                token_source="usage",
            )
        )
    return samples


def capacity_result() -> LoadReport:
    """A load document carrying ``capacity`` and ``server_metrics``."""
    search = RateSearch(SearchPlan(start_rps=4.0, precision=0.5))
    steps = []
    for index, (rate, wait) in enumerate(RATES):
        step = judge_step(
            StepInput(
                index=index,
                phase=search.phase,
                offered_rps=rate,
                samples=_samples(rate, wait),
                window=(0, 30_000_000_000),
                output_tokens_per_s=rate * 8,
                achieved_rps=min(rate, 12.5),
                generator_trustworthy=True,
                report=f"capacity/step-{index + 1:02d}/load.json",
            ),
            SLOS,
        )
        steps.append(step)
        search.record(rate, step.passed)
    document = load_document()
    seconds = [float(t) for t in document.series.t]
    running = tuple(min(4.0, 1.0 + t) for t in seconds)
    metrics = ServerMetrics(
        url="http://127.0.0.1:8000/metrics",
        interval_s=1.0,
        scrapes=len(seconds),
        series=(
            MetricSeries("chatgauge_requests_running", "gauge", {}, "", tuple(seconds), running),
            MetricSeries(
                "chatgauge_requests_waiting",
                "gauge",
                {},
                "",
                tuple(seconds),
                tuple(max(0.0, t - 3) for t in seconds),
            ),
            MetricSeries(
                "chatgauge_slot_usage_ratio",
                "gauge",
                {},
                "",
                tuple(seconds),
                tuple(r / 4 for r in running),
            ),
            MetricSeries(
                "chatgauge_requests_admitted_total",
                "counter",
                {},
                "",
                tuple(seconds),
                tuple(5.0 * t for t in seconds),
            ),
        ),
    )
    return replace(
        document, capacity=answer(steps, search, arrival="poisson"), server_metrics=metrics
    )
