"""Mergeable relative-error histograms: what live figures are drawn from while a run goes on.

A :class:`Sketch` is a DDSketch (the ``ddsketch`` library's logarithmic key mapping, bins
counted in dicts): every value lands in the bin ``ceil(log_gamma(value))`` with
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
import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final

from ddsketch.mapping import LogarithmicMapping

from chatgauge.results.load import Histogram, Summary

RELATIVE_ACCURACY: Final = 0.001
"""Relative error of every live percentile (0.1 %)."""

SERIES_ACCURACY: Final = 0.01
"""Relative error of the per-second medians of the live series (1 %: one small sketch per
second, plotted rather than quoted)."""

SUMMARY_FRACTIONS: Final = (0.50, 0.90, 0.95, 0.99, 0.999)


class Sketch:
    """A DDSketch of float values (see the module docstring).

    The bins are the library's :class:`~ddsketch.mapping.LogarithmicMapping` keys, counted
    in dicts (positive and negative values apart, zeros in one count): adding a value is a
    logarithm and a dict update, and reading a figure sorts the keys once.
    """

    __slots__ = (
        "_mapping",
        "_multiplier",
        "_negative",
        "_offset",
        "_positive",
        "_ranked",
        "_tiny",
        "_zero",
        "count",
        "max",
        "min",
        "total",
    )

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        mapping = self._mapping = LogarithmicMapping(relative_accuracy)
        # The mapping's own key rule, inlined (one call less per value): the same floats.
        self._multiplier: float = mapping._multiplier
        self._offset: float = mapping._offset
        self._tiny: float = mapping.min_possible
        self._positive: Counter[int] = Counter()
        self._negative: Counter[int] = Counter()
        self._zero = 0
        self._ranked: tuple[list[tuple[int, int]], list[int]] | None = None
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
        if value > self._tiny:
            key = int(math.ceil(math.log(value, 2) * self._multiplier) + self._offset)
            bins = self._positive
            bins[key] = bins.get(key, 0) + 1
        elif value < -self._tiny:
            key = int(math.ceil(math.log(-value, 2) * self._multiplier) + self._offset)
            bins = self._negative
            bins[key] = bins.get(key, 0) + 1
        else:
            self._zero += 1
        self._ranked = None
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def add_many(self, values: Sequence[float]) -> None:
        """Count several values (a request's inter-token gaps): the keys in one list, counted
        by :class:`collections.Counter` in C; the same bins as :meth:`add` one by one."""
        if not values:
            return
        low = min(values)
        if low <= self._tiny:
            for value in values:
                self.add(value)
            return
        multiplier, offset, log, ceil = self._multiplier, self._offset, math.log, math.ceil
        self._positive.update([int(ceil(log(v, 2) * multiplier) + offset) for v in values])
        self._ranked = None
        self.count += len(values)
        self.total += sum(values)
        self.min = min(self.min, low)
        self.max = max(self.max, max(values))

    def merge(self, other: Sketch) -> None:
        """Add every value ``other`` has seen (same accuracy only)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("sketches of different accuracy cannot be merged")
        if not other.count:
            return
        for mine, theirs in ((self._positive, other._positive), (self._negative, other._negative)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        self._zero += other._zero
        self._ranked = None
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> Sketch:
        """An independent sketch of the same values."""
        twin = Sketch(self.relative_accuracy)
        twin.merge(self)
        return twin

    def _ranks(self) -> tuple[list[tuple[int, int]], list[int]]:
        """``(sign, key)`` of every non-empty bin in ascending order of value, and the
        running count up to and including each."""
        if self._ranked is None:
            negative = sorted(self._negative, reverse=True)
            positive = sorted(self._positive)
            slots = [(-1, k) for k in negative] + ([(0, 0)] if self._zero else [])
            slots += [(1, k) for k in positive]
            counts = [self._negative[k] for k in negative] + ([self._zero] if self._zero else [])
            counts += [self._positive[k] for k in positive]
            self._ranked = (slots, list(itertools.accumulate(counts)))
        return self._ranked

    def _value(self, slot: tuple[int, int]) -> float:
        sign, key = slot
        return 0.0 if not sign else sign * float(self._mapping.value(key))

    def quantiles(self, fractions: Sequence[float]) -> tuple[float, ...]:
        """The values at ``fractions`` (``()`` if empty), clamped to the exact extremes."""
        if not self.count:
            return ()
        slots, running = self._ranks()
        found = []
        for fraction in fractions:
            rank = math.floor((self.count - 1) * fraction)
            value = self._value(slots[bisect.bisect_right(running, rank)])
            # A bin's representative may lie just outside what was seen.
            found.append(min(max(value, self.min), self.max))
        return tuple(found)

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
        """Equal-width bins as :meth:`chatgauge.loadtests._stats.ExactValues.histogram` draws,
        each sketch bin counted at its representative value."""
        if not self.count:
            return Histogram()
        low, high = self.min, self.max
        p99 = self.quantiles((0.99,))[0]
        if high - low > 2 * (p99 - low):
            high = p99
        bins = bins if high > low else 1
        width = (high - low) / bins if high > low else 1.0
        edges = [low + i * width for i in range(bins)] + [high if high > low else low + width]
        slots, running = self._ranks()

        def first(start: int, past: Callable[[float], bool]) -> int:
            """The first slot from ``start`` whose value is ``past`` (monotonic in value)."""
            lo, hi = start, len(slots)
            while lo < hi:
                mid = (lo + hi) // 2
                if past(self._value(slots[mid])):
                    hi = mid
                else:
                    lo = mid + 1
            return lo

        # Slots ascend in value and a value's bin, (value - low) / width truncated, ascends
        # with it: each bin's first slot is found by bisection, so the cost follows the
        # number of bins (log of the slots each), not of the sketch's thousands of slots.
        inside = first(0, lambda value: value > high)

        def cumulative(position: int) -> int:
            return running[position - 1] if position else 0

        def reaches(index: int) -> Callable[[float], bool]:
            """Whether a value's bin is ``index`` or a later one."""
            return lambda value: min(max(int((value - low) / width), 0), bins - 1) >= index

        starts = [0]
        for index in range(1, bins):
            starts.append(first(starts[-1], reaches(index)))
        starts = [min(start, inside) for start in starts] + [inside]
        counts = [cumulative(b) - cumulative(a) for a, b in itertools.pairwise(starts)]
        overflow = (running[-1] if running else 0) - cumulative(inside)
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
