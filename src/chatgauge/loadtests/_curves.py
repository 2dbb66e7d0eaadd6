"""The plotted parts of ``load.json``: per-second series, per-request points, distributions.

All three are columnar (one tuple per figure) and bounded: the series has one value per
second of the run, the points at most :data:`~chatgauge.loadtests._definitions.MAX_POINTS`
per column, the distributions one quantile per fraction of :data:`QUANTILE_FRACTIONS`.
They are drawn from the same raw values as the statistics, so a curve and a percentile in
the table never disagree.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Final

from chatgauge.loadtests._definitions import MAX_POINTS
from chatgauge.loadtests._requests import NS_PER_S, RequestFigures
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._stats import quantile
from chatgauge.results.load import Distributions, Histogram, Points, Series

HISTOGRAM_BINS: Final = 40

QUANTILE_FRACTIONS: Final[tuple[float, ...]] = (
    *(i / 200 for i in range(200)),
    0.995,
    0.999,
    0.9999,
    1.0,
)
"""Where the distribution curves are sampled: every half percent plus the far tail."""


def _second(stamp: int, origin: int) -> int:
    return (stamp - origin) // NS_PER_S


def series(requests: Sequence[RequestFigures], origin: int) -> Series:
    """Per-second figures since ``origin`` (see ``definitions["series"]``)."""
    if not requests:
        return Series()
    # Bounds over all stamps (token stamps are in arrival order): no sample falls outside.
    first = _second(min(_earliest_stamp(r.sample) for r in requests), origin)
    last = _second(max(_latest_stamp(r.sample) for r in requests), origin)
    size = last - first + 1
    started = [0] * size
    completed = [0] * size
    errors = [0] * size
    output = [0] * size
    streamed = [0] * size
    busy_ns = [0] * size
    ttfts: list[list[float]] = [[] for _ in range(size)]
    e2es: list[list[float]] = [[] for _ in range(size)]
    zero = origin + first * NS_PER_S
    for request in requests:
        sample = request.sample
        started[_second(sample.t_send_ns, origin) - first] += 1
        done = _second(sample.t_done_ns, origin) - first
        if sample.ok:
            completed[done] += 1
            output[done] += sample.output_tokens
            e2es[done].append(request.e2e)
            if request.ttft is not None and sample.t_first_token_ns is not None:
                ttfts[_second(sample.t_first_token_ns, origin) - first].append(request.ttft)
        else:
            errors[done] += 1
        for stamp, k in zip(sample.token_event_ns, request.tokens_per_event, strict=True):
            streamed[(stamp - zero) // NS_PER_S] += k
        _spread_busy(busy_ns, sample.t_send_ns - zero, sample.t_done_ns - zero)
    return Series(
        t=tuple(range(first, last + 1)),
        requests_started=tuple(started),
        requests_completed=tuple(completed),
        errors=tuple(errors),
        output_tokens=tuple(output),
        streamed_tokens=tuple(streamed),
        active_requests=tuple(busy / NS_PER_S for busy in busy_ns),
        ttft_p50_ms=tuple(_median(values) for values in ttfts),
        e2e_p50_ms=tuple(_median(values) for values in e2es),
    )


def _earliest_stamp(sample: RequestSample) -> int:
    tokens = sample.token_event_ns
    return min(sample.t_sched_ns, sample.t_send_ns, sample.t_done_ns, *tokens[:1])


def _latest_stamp(sample: RequestSample) -> int:
    tokens = sample.token_event_ns
    return max(sample.t_sched_ns, sample.t_send_ns, sample.t_done_ns, *tokens[-1:])


def _spread_busy(busy_ns: list[int], begin: int, finish: int) -> None:
    """Add the in-flight interval ``[begin, finish)`` (ns from bucket 0) to each second."""
    second = begin // NS_PER_S
    while begin < finish:
        boundary = (second + 1) * NS_PER_S
        busy_ns[second] += min(finish, boundary) - begin
        begin = boundary
        second += 1


def _median(values: list[float]) -> float | None:
    return quantile(sorted(values), 0.5) if values else None


def points(
    requests: Sequence[RequestFigures], origin: int, *, from_schedule: bool = False
) -> Points:
    """Every request (every ``stride``-th beyond :data:`MAX_POINTS`) in send order; TTFT
    and E2E from the intended start with ``from_schedule`` (the run's latency basis)."""
    ordered = sorted(requests, key=lambda r: r.sample.t_send_ns)
    stride = max(1, math.ceil(len(ordered) / MAX_POINTS))
    kept = ordered[::stride]
    return Points(
        stride=stride,
        t_s=tuple((r.sample.t_send_ns - origin) / NS_PER_S for r in kept),
        ttft_ms=tuple(r.ttft_from_schedule if from_schedule else r.ttft for r in kept),
        e2e_ms=tuple(r.e2e_from_schedule if from_schedule else r.e2e for r in kept),
        ok=tuple(r.sample.ok for r in kept),
    )


def _quantiles(ordered: Sequence[float]) -> tuple[float, ...]:
    if not ordered:
        return ()
    return tuple(quantile(ordered, q) for q in QUANTILE_FRACTIONS)


def histogram(ordered: Sequence[float]) -> Histogram:
    """Equal-width bins from the minimum; a far tail beyond p99 goes to one overflow count."""
    if not ordered:
        return Histogram()
    low, high = ordered[0], ordered[-1]
    p99 = quantile(ordered, 0.99)
    if high - low > 2 * (p99 - low):
        high = p99
    bins = HISTOGRAM_BINS if high > low else 1
    width = (high - low) / bins if high > low else 1.0
    edges = [low + i * width for i in range(bins)] + [high if high > low else low + width]
    counts = [0] * bins
    inside = bisect.bisect_right(ordered, high)
    for value in ordered[:inside]:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return Histogram(edges=tuple(edges), counts=tuple(counts), overflow=len(ordered) - inside)


def distributions(
    *, ttft_ms: Sequence[float], itl_ms: Sequence[float], e2e_ms: Sequence[float]
) -> Distributions:
    """Quantile curves (and the TTFT histogram) of values sorted ascending."""
    return Distributions(
        fractions=QUANTILE_FRACTIONS,
        ttft_ms=_quantiles(ttft_ms),
        itl_ms=_quantiles(itl_ms),
        e2e_ms=_quantiles(e2e_ms),
        ttft_histogram=histogram(ttft_ms),
    )


__all__ = ["HISTOGRAM_BINS", "QUANTILE_FRACTIONS", "distributions", "histogram", "points", "series"]
