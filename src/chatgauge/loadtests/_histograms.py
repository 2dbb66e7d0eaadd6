"""Mergeable relative-error histograms: what live figures are drawn from while a run goes on.

A :class:`Sketch` is a DDSketch (the ``ddsketch`` library's logarithmic key mapping and
dense bin stores): every value lands in the bin ``ceil(log_gamma(value))`` with
``gamma = (1 + a) / (1 - a)``, so any quantile it returns lies within the relative error
``a`` of a value of the sample at that rank. Its size depends on the spread of the values
(about ``ln(max / min) / (2 a)`` bins), never on how many there are, so adding a value and
reading every figure cost the same after an hour as after a second. Two sketches of the
same accuracy merge bin by bin, exactly as if one had seen both inputs.

Rank rule: the value at quantile ``q`` is the one of rank ``floor(q * (n - 1))`` (0-based),
i.e. numpy's ``lower`` method, within ``a``; :func:`chatgauge.loadtests._stats.quantile`
interpolates between that rank and the next, so the two agree within ``a`` wherever
neighbouring values are within ``a`` of each other (any sizeable sample of latencies).
Count, mean, minimum and maximum are kept exactly beside the bins.

Only the live figures (progress line, the ``load.json`` rewritten once a second) use
sketches; the final ``load.json`` is computed exactly from the spilled raw samples
(:mod:`chatgauge.loadtests._spill`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from typing import Final

from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

from chatgauge.results.load import Histogram, Summary

RELATIVE_ACCURACY: Final = 0.001
"""Relative error of every live percentile (0.1 %)."""

SERIES_ACCURACY: Final = 0.01
"""Relative error of the per-second medians of the live series (1 %: one small sketch per
second, plotted rather than quoted)."""

SUMMARY_FRACTIONS: Final = (0.50, 0.90, 0.95, 0.99, 0.999)


class Sketch:
    """A DDSketch of float values (see the module docstring)."""

    __slots__ = ("_mapping", "_negative", "_positive", "_zero", "count", "max", "min", "total")

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        self._mapping = LogarithmicMapping(relative_accuracy)
        self._positive = DenseStore()
        self._negative = DenseStore()
        self._zero = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    @property
    def relative_accuracy(self) -> float:
        """The accuracy the sketch guarantees."""
        return float(self._mapping.relative_accuracy)

    def add(self, value: float) -> None:
        """Count one value."""
        tiny = self._mapping.min_possible
        if value > tiny:
            self._positive.add(self._mapping.key(value))
        elif value < -tiny:
            self._negative.add(self._mapping.key(-value))
        else:
            self._zero += 1
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def merge(self, other: Sketch) -> None:
        """Add every value ``other`` has seen (same accuracy only)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("sketches of different accuracy cannot be merged")
        if not other.count:
            return
        self._positive.merge(other._positive)
        self._negative.merge(other._negative)
        self._zero += other._zero
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> Sketch:
        """An independent sketch of the same values."""
        twin = Sketch(self.relative_accuracy)
        twin.merge(self)
        return twin

    def _bins(self) -> Iterator[tuple[float, float]]:
        """``(representative value, count)`` of every non-empty bin, ascending."""
        value = self._mapping.value
        negative = self._negative
        for index in range(len(negative.bins) - 1, -1, -1):
            if negative.bins[index]:
                yield -value(index + negative.offset), negative.bins[index]
        if self._zero:
            yield 0.0, float(self._zero)
        positive = self._positive
        for index, count in enumerate(positive.bins):
            if count:
                yield value(index + positive.offset), count

    def quantiles(self, fractions: Sequence[float]) -> tuple[float, ...]:
        """The values at ascending ``fractions`` (one pass over the bins); ``()`` if empty."""
        if not self.count:
            return ()
        ranks = [math.floor((self.count - 1) * fraction) for fraction in fractions]
        found: list[float] = []
        seen = 0.0
        for value, count in self._bins():
            seen += count
            while len(found) < len(ranks) and ranks[len(found)] < seen:
                found.append(value)
        found += [self.max] * (len(ranks) - len(found))
        # A bin's representative may lie just outside what was seen: clamp to the extremes.
        return tuple(min(max(v, self.min), self.max) for v in found)

    def quantile(self, fraction: float) -> float | None:
        """One quantile (``None`` when empty)."""
        values = self.quantiles((fraction,))
        return values[0] if values else None

    def summary(self) -> Summary:
        """Count, mean, extremes (exact) and p50..p99.9 (within the relative accuracy)."""
        if not self.count:
            return Summary()
        p50, p90, p95, p99, p999 = self.quantiles(SUMMARY_FRACTIONS)
        return Summary(
            count=self.count,
            mean=self.total / self.count,
            min=self.min,
            p50=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            p999=p999,
            max=self.max,
        )

    def histogram(self, bins: int) -> Histogram:
        """Equal-width bins as :func:`chatgauge.loadtests._curves.histogram` draws them,
        each sketch bin counted at its representative value."""
        if not self.count:
            return Histogram()
        low, high = self.min, self.max
        p99 = self.quantile(0.99)
        assert p99 is not None
        if high - low > 2 * (p99 - low):
            high = p99
        bins = bins if high > low else 1
        width = (high - low) / bins if high > low else 1.0
        edges = [low + i * width for i in range(bins)] + [high if high > low else low + width]
        counts = [0] * bins
        overflow = 0
        for value, count in self._bins():
            if value > high:
                overflow += int(count)
            else:
                counts[min(max(int((value - low) / width), 0), bins - 1)] += int(count)
        return Histogram(edges=tuple(edges), counts=tuple(counts), overflow=overflow)


class CountedInts(Sequence[int]):
    """Small non-negative integers kept as value counts: an exact sorted sequence in O(distinct)
    memory (per-request read burst sizes), indexable like the sorted list it stands for."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._sorted: tuple[list[int], list[int]] | None = None

    def add(self, value: int) -> None:
        """Count one value."""
        self._counts[value] = self._counts.get(value, 0) + 1
        self._sorted = None

    def _table(self) -> tuple[list[int], list[int]]:
        if self._sorted is None:
            keys = sorted(self._counts)
            ends: list[int] = []
            total = 0
            for key in keys:
                total += self._counts[key]
                ends.append(total)
            self._sorted = (keys, ends)
        return self._sorted

    def __len__(self) -> int:
        ends = self._table()[1]
        return ends[-1] if ends else 0

    def __getitem__(self, index: int) -> int:  # type: ignore[override]
        keys, ends = self._table()
        size = ends[-1] if ends else 0
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("CountedInts index out of range")
        return keys[bisect.bisect_right(ends, index)]


__all__ = ["RELATIVE_ACCURACY", "SERIES_ACCURACY", "SUMMARY_FRACTIONS", "CountedInts", "Sketch"]
