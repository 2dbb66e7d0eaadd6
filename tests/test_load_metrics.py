"""Load metrics and percentiles, checked against expectations computed independently here.

Expected values come from the construction parameters of each sample and from the standard
library's ``statistics`` module (or exact ``Fraction`` arithmetic), never from the code
under test.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatgauge.loadtests._definitions import MAX_POINTS
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import parse_slo
from chatgauge.loadtests._stats import quantile, summarize
from chatgauge.results.load import (
    ErrorGroup,
    MetricName,
    RequestCounts,
    SloBound,
    Stat,
    Summary,
    TokenSources,
    Trust,
)

MS = 1_000_000
S = 1_000_000_000
BASE = 5 * 10**12  # an arbitrary perf_counter_ns origin


def at(ms: float) -> int:
    """A stamp ``ms`` milliseconds after the base."""
    return BASE + round(ms * MS)


def sample(
    send_ms: float,
    tokens_ms: list[float],
    *,
    done_ms: float | None = None,
    sched_ms: float | None = None,
    first_event_ms: float | None = None,
    n: int | None = None,
    counts: tuple[int, ...] = (),
    source: str = "usage",
    error_kind: str | None = None,
    status: int | None = 200,
    error: str | None = None,
) -> RequestSample:
    stamps = tuple(at(t) for t in tokens_ms)
    done = done_ms if done_ms is not None else (tokens_ms[-1] + 1 if tokens_ms else send_ms + 5)
    first_event = first_event_ms
    if first_event is None and tokens_ms:
        first_event = tokens_ms[0]
    return RequestSample(
        t_sched_ns=at(sched_ms if sched_ms is not None else send_ms),
        t_send_ns=at(send_ms),
        t_headers_ns=at(send_ms + 1),
        t_first_event_ns=None if first_event is None else at(first_event),
        t_done_ns=at(done),
        token_event_ns=stamps,
        token_event_counts=counts or (1,) * len(stamps),
        output_tokens=n if n is not None else len(stamps),
        token_source=source,  # type: ignore[arg-type]
        status=status,
        error_kind=error_kind,  # type: ignore[arg-type]
        error=error,
    )


def close(a: float | int | None, b: float) -> bool:
    assert a is not None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# --- percentiles -------------------------------------------------------------------------


def reference_quantile(values: list[float], q: float) -> float:
    """Type-7 quantile in exact rational arithmetic, written independently."""
    ordered = sorted(Fraction(v) for v in values)
    h = (len(ordered) - 1) * Fraction(q)
    below = int(h)  # h >= 0, so int() is floor
    if below == len(ordered) - 1:
        return float(ordered[below])
    return float(ordered[below] + (h - below) * (ordered[below + 1] - ordered[below]))


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=300), st.floats(min_value=0.0, max_value=1.0))
def test_quantile_matches_exact_rational_reference(values: list[float], q: float) -> None:
    got = quantile(sorted(values), q)
    expected = reference_quantile(values, q)
    assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-6)
    assert min(values) <= got <= max(values)


@given(st.lists(finite, min_size=2, max_size=300))
def test_summary_percentiles_match_statistics_inclusive_method(values: list[float]) -> None:
    summary = summarize(values)
    centiles = statistics.quantiles(values, n=100, method="inclusive")
    permille = statistics.quantiles(values, n=1000, method="inclusive")
    assert summary.count == len(values)
    assert summary.min == min(values)
    assert summary.max == max(values)
    assert math.isclose(summary.mean or 0.0, statistics.fmean(values), rel_tol=1e-9, abs_tol=1e-6)
    expectations: tuple[tuple[Stat, float], ...] = (
        ("p50", statistics.median(values)),
        ("p90", centiles[89]),
        ("p95", centiles[94]),
        ("p99", centiles[98]),
        ("p999", permille[998]),
    )
    for key, expected in expectations:
        got = summary.figure(key)
        assert math.isclose(got or 0.0, expected, rel_tol=1e-9, abs_tol=1e-6), key
    stats: tuple[Stat, ...] = ("min", "p50", "p90", "p95", "p99", "p999", "max")
    ordered = [summary.figure(k) for k in stats]
    assert ordered == sorted(ordered)  # type: ignore[type-var]


def test_summary_of_nothing_is_count_zero_and_nulls() -> None:
    summary = summarize([])
    assert summary.count == 0
    assert summary == Summary(count=0)
    assert all(summary.figure(k) is None for k in ("mean", "min", "p50", "p99", "max"))


def test_quantile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        quantile([1.0], 1.5)


def test_percentiles_keep_full_precision() -> None:
    # 7.4 ms must stay 7.4 (locust would store 7); interpolation is not rounded either.
    summary = summarize([7.4, 7.4, 7.45, 201.348123])
    assert summary.p50 == 7.4 + 0.5 * (7.45 - 7.4)
    assert summary.max == 201.348123


# --- per-request metrics -----------------------------------------------------------------


def test_role_only_first_chunk_never_counts_as_first_token() -> None:
    # The role-only chunk arrives at 50 ms (first event); the first content at 120 ms.
    result = compute_results([sample(0, [120, 140, 165], first_event_ms=50)])
    metrics = result.metrics
    assert metrics.ttft_ms.p50 == pytest.approx(120, abs=1e-6)
    assert metrics.ttfb_ms.p50 == pytest.approx(50, abs=1e-6)


def test_tpot_and_decode_rate_exclude_the_first_token() -> None:
    result = compute_results([sample(0, [100, 110, 130, 160, 200])])
    metrics = result.metrics
    assert metrics.tpot_ms.p50 == pytest.approx((200 - 100) / 4)
    assert metrics.decode_rate_tps.p50 == pytest.approx(4 / 0.100)
    assert metrics.e2e_ms.p50 == pytest.approx(201)


def test_tpot_uses_usage_token_count_not_event_count() -> None:
    # 3 events, usage says 7 tokens: TPOT divides the span by 6.
    result = compute_results([sample(0, [100, 130, 160], n=7, counts=(1, 3, 3))])
    assert result.metrics.tpot_ms.p50 == pytest.approx(60 / 6)
    assert result.metrics.itl_ms.count == 2
    # Per-token gaps divide each gap by the later event's token count.
    per_token = result.metrics.itl_per_token_ms
    assert per_token.min == pytest.approx(10)
    assert per_token.max == pytest.approx(10)


def test_single_token_request_has_no_tpot_or_gaps() -> None:
    result = compute_results([sample(0, [100])])
    assert result.metrics.tpot_ms.count == 0
    assert result.metrics.itl_ms.count == 0
    assert result.metrics.ttft_ms.count == 1


def test_itl_is_pooled_raw_so_a_stall_stays_visible() -> None:
    steady = [sample(i * 1000, [i * 1000 + 100 + 20 * k for k in range(11)]) for i in range(50)]
    stalled = sample(60_000, [60_100, 60_120, 60_140, 60_640, 60_660])  # one 500 ms stall
    result = compute_results([*steady, stalled])
    itl = result.metrics.itl_ms
    gaps = [20.0] * (50 * 10) + [20.0, 20.0, 500.0, 20.0]
    assert itl.count == len(gaps)
    assert itl.max == pytest.approx(500)
    assert itl.p999 == pytest.approx(statistics.quantiles(gaps, n=1000, method="inclusive")[998])
    assert (itl.p999 or 0) > 100  # a per-request average (GuideLLM's ITL) would show ~20 ms
    assert itl.p50 == pytest.approx(20)


def test_latency_statistics_match_brute_force_over_random_requests() -> None:
    rng = random.Random(11)
    ttfts, e2es, tpots, gaps, lags, sched_ttfts = [], [], [], [], [], []
    samples = []
    for i in range(400):
        sched = i * 37.0
        lag = rng.uniform(0, 4)
        send = sched + lag
        ttft = rng.uniform(80, 600)
        steps = [rng.uniform(5, 60) for _ in range(rng.randint(1, 30))]
        tokens = [send + ttft]
        for step in steps:
            tokens.append(tokens[-1] + step)
        done = tokens[-1] + 2
        samples.append(sample(send, tokens, done_ms=done, sched_ms=sched))
        # Expected figures straight from the construction, through the same ns rounding.
        token_ns = [at(t) for t in tokens]
        ttfts.append((token_ns[0] - at(send)) / MS)
        sched_ttfts.append((token_ns[0] - at(sched)) / MS)
        e2es.append((at(done) - at(send)) / MS)
        lags.append((at(send) - at(sched)) / MS)
        tpots.append((token_ns[-1] - token_ns[0]) / MS / (len(tokens) - 1))
        gaps += [(b - a) / MS for a, b in itertools.pairwise(token_ns)]
    metrics = compute_results(samples).metrics
    expected: tuple[tuple[MetricName, list[float]], ...] = (
        ("ttft_ms", ttfts),
        ("ttft_from_schedule_ms", sched_ttfts),
        ("e2e_ms", e2es),
        ("schedule_lag_ms", lags),
        ("tpot_ms", tpots),
        ("itl_ms", gaps),
    )
    for key, values in expected:
        summary = metrics.summary(key)
        assert summary.count == len(values), key
        assert close(summary.mean, statistics.fmean(values)), key
        assert close(summary.p50, statistics.median(values)), key
        assert close(summary.p99, statistics.quantiles(values, n=100, method="inclusive")[98])
        assert summary.min == min(values), key
        assert summary.max == max(values), key


# --- window, throughput, requests ------------------------------------------------------------


def test_warm_up_and_cool_down_are_excluded() -> None:
    warm = sample(0, [5000, 5010])  # scheduled before the window: warm-up, slow
    inside = [sample(10_000 + i * 100, [10_100 + i * 100, 10_120 + i * 100]) for i in range(5)]
    late = sample(30_000, [30_050, 30_060])  # after the window
    window = (at(10_000), at(20_000))
    result = compute_results([warm, *inside, late], window=window)
    assert result.metrics.ttft_ms.count == 5
    assert result.metrics.ttft_ms.max == pytest.approx(100)
    assert result.requests.total == 5
    assert result.requests.outside_window == 2
    assert result.window.length_s == pytest.approx(10)


def test_output_tokens_per_s_counts_requests_completed_inside_the_window() -> None:
    window = (at(1000), at(3000))  # 2 s
    samples = [
        sample(0, [900, 1100], n=10),  # sent in warm-up, completes in window: counts for rates
        sample(1200, [1300, 1400], n=20),  # inside
        sample(2500, [2600, 3500], n=40),  # sent inside, completes after the window
        sample(1500, [1600], n=8, error_kind="malformed", done_ms=1700),  # failed: no tokens
    ]
    throughput = compute_results(samples, window=window).throughput
    assert throughput.output_tokens == 10 + 20
    assert throughput.output_tokens_per_s == pytest.approx(30 / 2)
    assert throughput.requests_completed == 2
    assert throughput.requests_per_s == pytest.approx(1.0)
    assert throughput.errors_per_s == pytest.approx(0.5)


def test_token_sources_and_counts() -> None:
    samples = [
        sample(0, [10, 20], source="usage"),
        sample(0, [10, 20], source="events"),
        sample(0, [10, 20], source="usage"),
        sample(0, [], error_kind="timeout", status=None, error="read timed out"),
    ]
    requests = compute_results(samples).requests
    assert requests == RequestCounts(
        total=4,
        completed=3,
        failed=1,
        outside_window=0,
        output_tokens=6,
        token_source=TokenSources(usage=2, events=1),
    )


def test_errors_grouped_by_kind_and_http_status_with_first_example() -> None:
    samples = [
        sample(0, [], error_kind="http", status=429, error="slow down (first)"),
        sample(1, [], error_kind="http", status=429, error="slow down (second)"),
        sample(2, [], error_kind="http", status=500, error="boom"),
        sample(3, [], error_kind="timeout", status=None, error="no bytes for 30 s"),
        sample(4, [10, 20]),
    ]
    errors = compute_results(samples).errors
    assert errors[0] == ErrorGroup(kind="http 429", count=2, example="slow down (first)")
    assert {e.kind: e.count for e in errors} == {"http 429": 2, "http 500": 1, "timeout": 1}


# --- SLOs and goodput ------------------------------------------------------------------------


def test_goodput_and_attainment_count_errors_as_misses() -> None:
    samples = [
        sample(0, [100, 120, 140]),  # TTFT 100, TPOT 20: good
        sample(0, [300, 320, 340]),  # TTFT 300: misses ttft
        sample(0, [100, 200, 300]),  # TPOT 100: misses tpot
        sample(0, [50, 60, 70], error_kind="malformed", error="bad json"),  # fast but failed
    ]
    result = compute_results(
        samples, window=(at(0), at(2000)), slos={"ttft_ms": 200, "tpot_ms": 50}
    )
    goodput = result.goodput
    assert {slo.name: slo.attainment for slo in goodput.slos} == {
        "ttft_ms": 2 / 4,
        "tpot_ms": 2 / 4,
    }
    assert goodput.good_requests == 1
    assert goodput.requests_per_s == pytest.approx(1 / 2.0)
    assert goodput.met is False


def test_slo_met_when_every_request_is_good_and_none_without_slos() -> None:
    samples = [sample(i * 10, [i * 10 + 100, i * 10 + 120]) for i in range(10)]
    assert compute_results(samples, slos={"ttft_ms": 150, "itl_ms": 25}).goodput.met is True
    assert compute_results(samples, slos={"itl_ms": 15}).goodput.met is False
    assert compute_results(samples).goodput.met is None


def test_itl_slo_bounds_the_largest_gap_of_a_request() -> None:
    samples = [sample(0, [100, 110, 120, 400, 410]), sample(0, [100, 110, 120, 130])]
    goodput = compute_results(samples, slos={"itl_ms": 50}).goodput
    assert [(slo.name, slo.attainment) for slo in goodput.slos] == [("itl_ms", 0.5)]


def test_successful_request_without_tokens_misses_ttft_but_not_decode_slos() -> None:
    empty = sample(0, [], done_ms=30)  # completed, but the stream carried no token
    goodput = compute_results([empty], slos={"ttft_ms": 1000, "tpot_ms": 1, "itl_ms": 1}).goodput
    attainment = {slo.name: slo.attainment for slo in goodput.slos}
    assert attainment == {"ttft_ms": 0.0, "tpot_ms": 1.0, "itl_ms": 1.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ttft_ms=500", SloBound("ttft_ms", 500.0)), (" tpot_ms = 12.5 ", SloBound("tpot_ms", 12.5))],
)
def test_parse_slo_accepts(text: str, expected: SloBound) -> None:
    assert parse_slo(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ttft_ms", "NAME=MILLISECONDS"),
        ("=5", "NAME=MILLISECONDS"),
        ("latency=5", "unknown SLO 'latency'"),
        ("ttft_ms=fast", "not a number"),
        ("ttft_ms=-1", "positive"),
        ("ttft_ms=nan", "positive"),
    ],
)
def test_parse_slo_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_slo(text)


def test_unknown_slo_name_is_rejected_by_compute_results() -> None:
    with pytest.raises(ValueError, match="unknown SLO"):
        compute_results([], slos={"p99": 1.0})


# --- series and points --------------------------------------------------------------------


def test_per_second_series() -> None:
    samples = [
        sample(0, [200, 400, 600], done_ms=1500),  # in flight 0..1.5 s
        sample(1200, [1300, 1400], done_ms=1600),  # in flight 1.2..1.6 s
        sample(2100, [], error_kind="http", status=503, done_ms=2200),
    ]
    series = compute_results(samples, origin_ns=at(0)).series
    assert series.t == (0, 1, 2)
    assert series.requests_started == (1, 1, 1)
    assert series.requests_completed == (0, 2, 0)
    assert series.output_tokens == (0, 5, 0)
    assert series.streamed_tokens == (3, 2, 0)
    assert series.errors == (0, 0, 1)
    assert series.active_requests == pytest.approx([1.0, 0.5 + 0.4, 0.1])
    assert series.ttft_p50_ms[0] == pytest.approx(200)
    assert series.ttft_p50_ms[1] == pytest.approx(100)
    assert series.ttft_p50_ms[2] is None


def test_points_are_bounded_and_in_send_order() -> None:
    count = 2 * MAX_POINTS + 1
    samples = [sample(i, [i + 50]) for i in reversed(range(count))]
    points = compute_results(samples).points
    assert len(points.t_s) == len(points.ttft_ms) == len(points.e2e_ms) == len(points.ok)
    assert len(points.t_s) <= MAX_POINTS
    assert points.stride == 3
    assert list(points.t_s) == sorted(points.t_s)
    assert points.ttft_ms[0] == pytest.approx(50)


def test_every_metric_has_a_definition() -> None:
    result = compute_results([sample(0, [10, 20])])
    for key in (*result.metrics.to_json(), "output_tokens_per_s", "requests_per_s", "goodput"):
        assert key in result.definitions
        assert len(result.definitions[key]) > 20


def test_no_samples_gives_empty_but_complete_sections() -> None:
    result = compute_results([])
    assert result.metrics.ttft_ms.count == 0
    assert result.throughput.output_tokens_per_s is None
    assert result.series.t == ()
    assert result.generator.verdict is Trust.TRUSTWORTHY
