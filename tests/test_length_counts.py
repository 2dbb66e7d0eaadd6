"""The ``lengths`` figures come from per-length counts: exactly what the raw values give."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatgauge.loadtests._lengths import HISTOGRAM_BINS, LengthCounts
from chatgauge.loadtests._stats import summarize

lengths = st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=400)


def counted(values: list[int]) -> LengthCounts:
    counts = LengthCounts()
    for value in values:
        counts.add(value)
    return counts


@settings(max_examples=300, deadline=None)
@given(lengths)
def test_the_summary_equals_the_summary_of_the_raw_values(values: list[int]) -> None:
    got, want = counted(values).summary(), summarize([float(v) for v in values])
    assert got.count == want.count
    assert got.min == want.min
    assert got.max == want.max
    assert got.mean == pytest.approx(want.mean, rel=1e-12)
    for name in ("p50", "p90", "p95", "p99", "p999"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12), name


@settings(max_examples=200, deadline=None)
@given(lengths, st.integers(min_value=1, max_value=6000))
def test_the_histogram_puts_each_length_in_its_bin(values: list[int], high: int) -> None:
    histogram = counted(values).histogram(float(high))
    width = high / HISTOGRAM_BINS
    expected = [0] * HISTOGRAM_BINS
    for value in values:
        if value <= high:
            expected[min(int(value / width), HISTOGRAM_BINS - 1)] += 1
    assert list(histogram.counts) == expected
    assert histogram.overflow == sum(value > high for value in values)


def test_no_length_no_figures() -> None:
    assert counted([]).summary().count == 0
    assert counted([]).histogram(10.0).counts == ()


def test_memory_follows_distinct_lengths_not_requests() -> None:
    counts = counted([16] * 100_000 + [32] * 50_000)
    assert len(counts._counts) == 2  # the bound is the point of the class
    assert counts.summary().p50 == 16.0
    assert counts.summary().p99 == 32.0
