"""Turning request samples into the figures of ``load.json``, exactly as ``metrics.md`` defines.

:func:`compute_results` is a pure function of the raw samples: nothing is rounded or bucketed,
percentiles come from :mod:`chatgauge.loadtests._stats`, and every figure's formula is written
into the ``definitions`` section so a reader can compare it with other tools' numbers.

Two sets of requests are used, both bounded by the measurement window ``[start, end]``
(inclusive, ``perf_counter_ns`` stamps); warm-up before ``start`` and cool-down after ``end``
never count:

- *measured* requests, whose scheduled start ``t_sched`` lies in the window: every latency
  statistic, the request/error counts and SLO attainment;
- *completed-in-window* requests, whose ``t_done`` lies in the window: every rate (output
  tokens/s, requests/s, goodput), so a rate is work finished inside the window divided by
  the window's length.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chatgauge.loadtests._health import HealthInputs, SampleEvidence, assess_generator
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._stats import QUANTILE_DEFINITION, quantile, summarize_sorted

NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000

MAX_POINTS: Final = 5000
"""Per-request points kept for scatter plots: enough to see structure, bounded file size."""

MAX_ERROR_EXAMPLE_CHARS: Final = 500

HISTOGRAM_BINS: Final = 40

CDF_FRACTIONS: Final[tuple[float, ...]] = (
    *(i / 200 for i in range(200)),
    0.995,
    0.999,
    0.9999,
    1.0,
)
"""Where the distribution curves are sampled: every half percent plus the far tail."""

SLO_ATTAINMENT_TARGET: Final = 0.99
"""An SLO ``name=X`` is met by a run when at least this fraction of measured requests meets
it (failed requests count as misses): the threshold reads as a p99 that errors cannot dodge."""

SLO_NAMES: Final[Mapping[str, str]] = {
    "ttft_ms": "time to first token (t_first_token - t_send)",
    "ttfb_ms": "time to first event (t_first_event - t_send)",
    "ttft_from_schedule_ms": "time to first token from the scheduled start",
    "tpot_ms": "time per output token after the first",
    "itl_ms": "the request's largest gap between token-bearing events",
    "e2e_ms": "end-to-end latency (t_done - t_send)",
}
"""SLOs ``--slo`` accepts; each is an upper bound in milliseconds on one request's value."""

METRIC_KEYS: Final[tuple[str, ...]] = (
    "ttft_ms",
    "ttfb_ms",
    "ttft_from_schedule_ms",
    "schedule_lag_ms",
    "tpot_ms",
    "itl_ms",
    "itl_per_token_ms",
    "e2e_ms",
    "decode_rate_tps",
)

DEFINITIONS: Final[Mapping[str, str]] = {
    "clock": (
        "Every stamp is time.perf_counter_ns() of the generator process that sent the request "
        "(a monotonic clock); t_sched is the intended start (open loop), t_send just before "
        "the request bytes are written, t_done at [DONE] or the end of the body. A "
        "token-bearing event is an SSE event whose delta has non-empty content, reasoning or "
        "tool_calls; a role-only chunk is never one."
    ),
    "window": (
        "Measurement window [start, end]: latency statistics, request counts, errors and SLO "
        "attainment use the requests whose t_sched lies inside it; rates use the requests "
        "whose t_done lies inside it, divided by the window length end - start. Requests "
        "before start (warm-up) or after end (cool-down) are left out of both."
    ),
    "percentiles": QUANTILE_DEFINITION,
    "latency_population": (
        "Latency statistics (TTFT, TTFB, TPOT, ITL, E2E, decode rate) use successful requests "
        "only; schedule lag uses every measured request, failed or not."
    ),
    "ttft_ms": (
        "Time to first token: arrival of the first token-bearing event minus t_send, in ms. "
        "A role-only first chunk does not count."
    ),
    "ttfb_ms": "Time to first byte of the stream: arrival of the first SSE data event (of any "
    "kind, role-only included) minus t_send, in ms.",
    "ttft_from_schedule_ms": (
        "User-perceived TTFT: first token-bearing event minus t_sched, in ms. In open-loop "
        "mode it includes any wait before the request could be sent (corrects coordinated "
        "omission); in closed-loop mode t_sched = t_send and it equals TTFT."
    ),
    "schedule_lag_ms": "t_send minus t_sched, in ms: how late the generator sent each request.",
    "tpot_ms": (
        "Time per output token: (last token-bearing event - first token-bearing event) / "
        "(N - 1), in ms, for requests with N >= 2 output tokens; the first token is excluded."
    ),
    "itl_ms": (
        "Inter-token latency: every gap between consecutive token-bearing events of a "
        "request, in ms, pooled over all requests and kept raw (one value per gap), so a "
        "mid-stream stall shows in p99 and max. Not averaged per request."
    ),
    "itl_per_token_ms": (
        "Each ITL gap divided by the number of tokens the later event carried (one value per "
        "gap); equals itl_ms when every event carries one token, differs with multi-token "
        "events (speculative decoding, coalescing)."
    ),
    "e2e_ms": "End-to-end latency: t_done minus t_send, in ms.",
    "decode_rate_tps": (
        "Per-request decode rate: (N - 1) / (last token-bearing event - first one), in "
        "tokens/s, for requests with N >= 2 whose last token came after the first."
    ),
    "output_tokens": (
        "N, the output tokens of a request: usage.completion_tokens when the server sent "
        "usage, otherwise the number of token-bearing events; requests.token_source counts "
        "which source each successful request used."
    ),
    "output_tokens_per_s": (
        "Aggregate output tokens/s: the sum of N over successful requests whose t_done lies "
        "in the window, divided by the window length in seconds. Tokens of failed requests "
        "and of requests finishing outside the window do not count."
    ),
    "requests_per_s": (
        "Request throughput: successful requests whose t_done lies in the window, divided by "
        "the window length in seconds."
    ),
    "errors_per_s": "Failed requests whose t_done lies in the window, per second of window.",
    "errors": (
        "Failed measured requests grouped by kind (HTTP errors by status, e.g. 'http 429'; "
        "timeout; connection; malformed stream), with the first example's message."
    ),
    "goodput": (
        "Goodput: successful requests whose t_done lies in the window and that meet every "
        "SLO, divided by the window length in seconds. Failed requests are never good."
    ),
    "slo_attainment": (
        "Per SLO: the fraction of measured requests meeting it (failed requests count as "
        "misses; a request without a first token misses TTFT SLOs; TPOT and ITL SLOs are "
        "met by a successful request with fewer than two tokens, which has nothing to "
        "violate). The itl_ms SLO bounds a request's largest gap."
    ),
    "slo_met": (
        f"Every SLO has an attainment of at least {SLO_ATTAINMENT_TARGET:.0%} of measured "
        "requests (null when no SLO was given; false when no request was measured)."
    ),
    "series": (
        "Per second since the origin (the earliest t_sched): requests_started (t_send in the "
        "second, the arrival rate), requests_completed and output_tokens (successful requests "
        "by t_done second, the same rule as the aggregate rates), errors (failed requests by "
        "t_done second), streamed_tokens (tokens of every token-bearing event by arrival "
        "second), active_requests (requests in flight between t_send and t_done, averaged "
        "over the second), ttft_p50_ms (TTFT p50 of successful requests whose first token "
        "arrived in the second), e2e_p50_ms (E2E p50 of successful requests finishing in it)."
    ),
    "points": (
        "One row per request, in send order (every k-th when there are more than "
        f"{MAX_POINTS}): seconds from the origin to t_send, TTFT ms, E2E ms, success."
    ),
    "generator": (
        "Generator health: CPU use of the generator process(es) in percent of one core, "
        "event-loop lag samples, schedule lag, and achieved vs target request rate; the "
        "verdict is 'untrustworthy' when any figure crosses its threshold, with a reason."
    ),
    "clumping": (
        "Clumping (buffering proxy) is suspected when token events arrive several per body "
        "read, the median request had a large burst in one read, and the ITL p50 collapses "
        "far below the TPOT p50."
    ),
}


@dataclass(frozen=True)
class _Request:
    """The per-request figures every statistic is drawn from (ms unless named otherwise)."""

    sample: RequestSample
    tokens_per_event: tuple[int, ...]
    ttft: float | None
    ttfb: float | None
    ttft_from_schedule: float | None
    schedule_lag: float
    tpot: float | None
    decode_rate: float | None
    gaps: tuple[float, ...]
    gaps_per_token: tuple[float, ...]
    e2e: float


def parse_slo(text: str) -> tuple[str, float]:
    """``"ttft_ms=500"`` -> ``("ttft_ms", 500.0)``; a clear ``ValueError`` otherwise."""
    name, sep, value_text = text.partition("=")
    name = name.strip()
    if not sep or not name or not value_text.strip():
        raise ValueError(f"SLO {text!r} must look like NAME=MILLISECONDS, e.g. ttft_ms=500")
    if name not in SLO_NAMES:
        known = ", ".join(SLO_NAMES)
        raise ValueError(f"unknown SLO {name!r} in {text!r}; known SLOs: {known}")
    try:
        value = float(value_text)
    except ValueError:
        raise ValueError(f"SLO {text!r}: {value_text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"SLO {text!r}: the bound must be a positive number of milliseconds")
    return name, value


def compute_results(
    samples: Sequence[RequestSample],
    *,
    window: tuple[int, int] | None = None,
    slos: Mapping[str, float] | None = None,
    health: HealthInputs | None = None,
    origin_ns: int | None = None,
) -> dict[str, Any]:
    """The computed sections of ``load.json`` (the engine adds endpoint, model and config).

    ``window`` is ``(start_ns, end_ns)``; ``None`` measures everything from the earliest
    ``t_sched`` to the latest ``t_done``. ``origin_ns`` is second zero of the time series and
    the points (default: the earliest ``t_sched``). ``slos`` maps names of :data:`SLO_NAMES`
    to upper bounds in ms; unknown names raise ``ValueError``.
    """
    slo_bounds = dict(slos or {})
    for name in slo_bounds:
        if name not in SLO_NAMES:
            raise ValueError(f"unknown SLO {name!r}; known SLOs: {', '.join(SLO_NAMES)}")
    start, end = window if window is not None else _full_span(samples)
    origin = origin_ns if origin_ns is not None else _earliest_sched(samples)
    window_s = max(end - start, 0) / NS_PER_S

    requests = [_figures(sample) for sample in samples]
    measured = [r for r in requests if start <= r.sample.t_sched_ns <= end]
    finished = [r for r in requests if start <= r.sample.t_done_ns <= end]
    good = [r for r in measured if r.sample.ok]

    columns = _columns(measured, good)
    metrics = {key: summarize_sorted(columns[key]) for key in METRIC_KEYS}
    throughput = _throughput(finished, window_s)
    evidence = SampleEvidence(
        schedule_lag_ms=columns["schedule_lag_ms"],
        achieved_rate=_sent_rate(measured, start, end),
        ttft_p50_ms=metrics["ttft_ms"]["p50"],
        itl_p50_ms=metrics["itl_ms"]["p50"],
        tpot_p50_ms=metrics["tpot_ms"]["p50"],
        token_events=sum(len(r.sample.token_event_ns) for r in measured if r.sample.reads),
        reads=sum(r.sample.reads for r in measured),
        max_events_per_read=sorted(
            r.sample.max_events_per_read for r in measured if r.sample.reads
        ),
    )
    goodput, slo_met = _goodput(measured, finished, slo_bounds, window_s)
    return {
        "metrics": metrics,
        "throughput": throughput,
        "requests": _request_counts(measured, good, len(requests)),
        "errors": _errors(measured),
        "goodput": goodput,
        "slo_met": slo_met,
        "series": _series(requests, origin),
        "points": _points(requests, origin),
        "distributions": _distributions(columns),
        "window": {
            "start_s": (start - origin) / NS_PER_S,
            "end_s": (end - origin) / NS_PER_S,
            "length_s": window_s,
        },
        "generator": assess_generator(health, evidence),
        "definitions": dict(DEFINITIONS),
    }


def _full_span(samples: Sequence[RequestSample]) -> tuple[int, int]:
    if not samples:
        return 0, 0
    return min(s.t_sched_ns for s in samples), max(s.t_done_ns for s in samples)


def _earliest_sched(samples: Sequence[RequestSample]) -> int:
    return min((s.t_sched_ns for s in samples), default=0)


def _ms(ns: int) -> float:
    return ns / NS_PER_MS


def _figures(sample: RequestSample) -> _Request:
    stamps = sample.token_event_ns
    first, last = sample.t_first_token_ns, sample.t_last_token_ns
    n = sample.output_tokens
    tpot = decode = None
    if n >= 2 and first is not None and last is not None:
        tpot = _ms(last - first) / (n - 1)
        if last > first:
            decode = (n - 1) / ((last - first) / NS_PER_S)
    gaps = tuple((later - earlier) / NS_PER_MS for earlier, later in itertools.pairwise(stamps))
    counts = _tokens_per_event(sample)
    per_token = gaps
    if counts and max(counts) > 1:
        per_token = tuple(gap / k for gap, k in zip(gaps, counts[1:], strict=True))
    return _Request(
        sample=sample,
        tokens_per_event=counts,
        ttft=None if first is None else _ms(first - sample.t_send_ns),
        ttfb=None
        if sample.t_first_event_ns is None
        else _ms(sample.t_first_event_ns - sample.t_send_ns),
        ttft_from_schedule=None if first is None else _ms(first - sample.t_sched_ns),
        schedule_lag=_ms(sample.t_send_ns - sample.t_sched_ns),
        tpot=tpot,
        decode_rate=decode,
        gaps=gaps,
        gaps_per_token=per_token,
        e2e=_ms(sample.t_done_ns - sample.t_send_ns),
    )


def _tokens_per_event(sample: RequestSample) -> tuple[int, ...]:
    """Tokens carried by each token-bearing event: 1 each when the counts are not known."""
    counts = sample.token_event_counts
    if len(counts) != len(sample.token_event_ns):
        return (1,) * len(sample.token_event_ns)
    return counts if not counts or min(counts) >= 1 else tuple(max(k, 1) for k in counts)


def _present(values: Iterable[float | None]) -> list[float]:
    return sorted(v for v in values if v is not None)


def _columns(measured: list[_Request], good: list[_Request]) -> dict[str, list[float]]:
    """Each metric's raw values, sorted ascending."""
    itl = sorted(gap for r in good for gap in r.gaps)
    return {
        "ttft_ms": _present(r.ttft for r in good),
        "ttfb_ms": _present(r.ttfb for r in good),
        "ttft_from_schedule_ms": _present(r.ttft_from_schedule for r in good),
        "schedule_lag_ms": sorted(r.schedule_lag for r in measured),
        "tpot_ms": _present(r.tpot for r in good),
        "itl_ms": itl,
        "itl_per_token_ms": (
            itl
            if all(r.gaps_per_token is r.gaps for r in good)
            else sorted(gap for r in good for gap in r.gaps_per_token)
        ),
        "e2e_ms": sorted(r.e2e for r in good),
        "decode_rate_tps": _present(r.decode_rate for r in good),
    }


def _rate(count: float, window_s: float) -> float | None:
    return count / window_s if window_s > 0 else None


def _throughput(finished: list[_Request], window_s: float) -> dict[str, Any]:
    ok = [r.sample for r in finished if r.sample.ok]
    output_tokens = sum(s.output_tokens for s in ok)
    prompt_tokens = sum(s.prompt_tokens or 0 for s in ok)
    failed = len(finished) - len(ok)
    return {
        "window_s": window_s,
        "output_tokens": output_tokens,
        "output_tokens_per_s": _rate(output_tokens, window_s),
        "prompt_tokens": prompt_tokens,
        "prompt_tokens_per_s": _rate(prompt_tokens, window_s),
        "requests_completed": len(ok),
        "requests_per_s": _rate(len(ok), window_s),
        "errors": failed,
        "errors_per_s": _rate(failed, window_s),
    }


def _sent_rate(measured: list[_Request], start: int, end: int) -> float | None:
    """Requests sent per second, estimated from the samples that have completed.

    Requests still in flight have no sample yet, so the span ends at the last send seen
    rather than at the window's end (which would understate the rate).
    """
    sends = [r.sample.t_send_ns for r in measured if start <= r.sample.t_send_ns <= end]
    if len(sends) < 2:
        return None
    span = max(sends) - start
    return len(sends) / (span / NS_PER_S) if span > 0 else None


def _request_counts(measured: list[_Request], good: list[_Request], total: int) -> dict[str, Any]:
    sources = Counter(r.sample.token_source for r in good)
    return {
        "total": len(measured),
        "completed": len(good),
        "failed": len(measured) - len(good),
        "outside_window": total - len(measured),
        "output_tokens": sum(r.sample.output_tokens for r in good),
        "token_source": {"usage": sources.get("usage", 0), "events": sources.get("events", 0)},
    }


def _error_label(sample: RequestSample) -> str:
    kind = sample.error_kind or "error"
    if kind == "http" and sample.status is not None:
        return f"http {sample.status}"
    return kind


def _errors(measured: list[_Request]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for request in measured:
        sample = request.sample
        if sample.ok:
            continue
        label = _error_label(sample)
        counts[label] += 1
        examples.setdefault(label, (sample.error or "")[:MAX_ERROR_EXAMPLE_CHARS])
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"kind": kind, "count": count, "example": examples[kind]} for kind, count in ranked]


def _slo_value(request: _Request, name: str) -> float | None:
    return {
        "ttft_ms": request.ttft,
        "ttfb_ms": request.ttfb,
        "ttft_from_schedule_ms": request.ttft_from_schedule,
        "tpot_ms": request.tpot,
        "itl_ms": max(request.gaps, default=None),
        "e2e_ms": request.e2e,
    }[name]


def _meets(request: _Request, name: str, bound: float) -> bool:
    if not request.sample.ok:
        return False
    value = _slo_value(request, name)
    if value is None:
        # Decode SLOs have nothing to violate without two tokens; latency SLOs need the event.
        return name in ("tpot_ms", "itl_ms")
    return value <= bound


def _meets_all(request: _Request, slos: Mapping[str, float]) -> bool:
    return all(_meets(request, name, bound) for name, bound in slos.items())


def _goodput(
    measured: list[_Request],
    finished: list[_Request],
    slos: Mapping[str, float],
    window_s: float,
) -> tuple[dict[str, Any], bool | None]:
    attainment: dict[str, float | None] = {}
    met: dict[str, bool] = {}
    for name, bound in slos.items():
        hits = sum(_meets(r, name, bound) for r in measured)
        attainment[name] = hits / len(measured) if measured else None
        met[name] = bool(measured) and hits >= SLO_ATTAINMENT_TARGET * len(measured)
    good_measured = sum(_meets_all(r, slos) for r in measured) if slos else None
    good_finished = sum(_meets_all(r, slos) for r in finished) if slos else None
    section = {
        "slos": dict(slos),
        "meanings": {name: SLO_NAMES[name] for name in slos},
        "target_attainment": SLO_ATTAINMENT_TARGET,
        "attainment": attainment,
        "met": met,
        "good_requests": good_measured,
        "good_fraction": (
            good_measured / len(measured) if good_measured is not None and measured else None
        ),
        "requests_per_s": None if good_finished is None else _rate(good_finished, window_s),
    }
    return section, (all(met.values()) if slos else None)


def _second(stamp: int, origin: int) -> int:
    return (stamp - origin) // NS_PER_S


def _series(requests: list[_Request], origin: int) -> list[dict[str, Any]]:
    if not requests:
        return []
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
    return [
        {
            "t": first + i,
            "requests_started": started[i],
            "requests_completed": completed[i],
            "errors": errors[i],
            "output_tokens": output[i],
            "streamed_tokens": streamed[i],
            "active_requests": busy_ns[i] / NS_PER_S,
            "ttft_p50_ms": _median(ttfts[i]),
            "e2e_p50_ms": _median(e2es[i]),
        }
        for i in range(size)
    ]


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


def _points(requests: list[_Request], origin: int) -> dict[str, Any]:
    ordered = sorted(requests, key=lambda r: r.sample.t_send_ns)
    stride = max(1, math.ceil(len(ordered) / MAX_POINTS))
    rows = [
        [(r.sample.t_send_ns - origin) / NS_PER_S, r.ttft, r.e2e, r.sample.ok]
        for r in ordered[::stride]
    ]
    return {"fields": ["t_s", "ttft_ms", "e2e_ms", "ok"], "stride": stride, "rows": rows}


def _cdf(ordered: list[float]) -> list[list[float]]:
    if not ordered:
        return []
    return [[quantile(ordered, q), q] for q in CDF_FRACTIONS]


def _histogram(ordered: list[float]) -> dict[str, Any]:
    """Equal-width bins from the minimum; a far tail beyond p99 goes to one overflow count."""
    if not ordered:
        return {"edges": [], "counts": [], "overflow": 0}
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
    return {"edges": edges, "counts": counts, "overflow": len(ordered) - inside}


def _distributions(columns: Mapping[str, list[float]]) -> dict[str, Any]:
    """Curves for the plots, sampled from the same sorted raw values as the statistics."""
    return {
        "ttft_ms": {"cdf": _cdf(columns["ttft_ms"]), "histogram": _histogram(columns["ttft_ms"])},
        "itl_ms": {"cdf": _cdf(columns["itl_ms"])},
        "e2e_ms": {"cdf": _cdf(columns["e2e_ms"])},
    }
