"""Exact order statistics of raw samples: the only way chatgauge turns samples into figures.

Every percentile is computed from the full list of raw values, never from buckets, and never
rounded: a figure in ``load.json`` is the float the formula gives.

Quantile definition (stated in every report's definitions): linear interpolation between the
closest ranks, the rule numpy calls ``linear`` and Hyndman & Fan call type 7. For ``n``
values sorted ascending ``x[0] <= ... <= x[n-1]`` and a fraction ``q`` in ``[0, 1]``, let
``h = (n - 1) * q``, ``i = floor(h)``; the quantile is ``x[i] + (h - i) * (x[i+1] - x[i])``
(just ``x[i]`` when ``h`` is a whole number). So p0 is the minimum, p100 the maximum, and a
percentile never lies outside the observed values.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Final, Protocol, cast

import numpy as np

from chatgauge.results.load import Histogram, Summary

QUANTILE_DEFINITION: Final = (
    "Percentiles are exact, from every raw sample (no buckets, no rounding): sort the n values "
    "x[0] <= ... <= x[n-1]; the q-quantile is found at position h = (n - 1) * q and linearly "
    "interpolated between the two neighbouring values x[floor(h)] and x[floor(h) + 1] "
    "(numpy's default 'linear' rule, Hyndman-Fan type 7). p50 = q 0.5, p99.9 = q 0.999; "
    "min and max are the extreme samples; mean is the arithmetic mean."
)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (``0 <= q <= 1``) of values already sorted ascending.

    Raises ``ValueError`` for an empty sequence or a fraction outside ``[0, 1]``.
    """
    if not len(sorted_values):
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile fraction must be within [0, 1], got {q!r}")
    position = (len(sorted_values) - 1) * q
    lower = math.floor(position)
    weight = position - lower
    below = sorted_values[lower]
    if weight == 0.0:
        return float(below)
    above = sorted_values[lower + 1]
    # Rounding of ``above - below`` could push the sum one ulp past a neighbour; the clamp
    # keeps the promise that a quantile lies between the two values it interpolates.
    return float(min(max(below + weight * (above - below), below), above))


def summarize(values: Iterable[float]) -> Summary:
    """``count``, ``mean``, ``min``, p50/p90/p95/p99/p999 and ``max`` of raw values.

    With no values the count is 0 and every other figure is ``None`` (JSON ``null``).
    """
    ordered = sorted(values)
    return summarize_sorted(ordered)


def summarize_sorted(ordered: Sequence[float]) -> Summary:
    """:func:`summarize` for values the caller has already sorted ascending."""
    if not len(ordered):
        return Summary()
    return Summary(
        count=len(ordered),
        # fsum keeps the mean exact to the last bit even over millions of samples.
        mean=math.fsum(ordered) / len(ordered),
        min=float(ordered[0]),
        p50=quantile(ordered, 0.50),
        p90=quantile(ordered, 0.90),
        p95=quantile(ordered, 0.95),
        p99=quantile(ordered, 0.99),
        p999=quantile(ordered, 0.999),
        max=float(ordered[-1]),
    )


class Values(Protocol):
    """One figure's values as a run collects them: exact (:class:`ExactValues`) or within a
    relative error (:class:`chatgauge.loadtests._histograms.Sketch`)."""

    @property
    def count(self) -> int:
        """How many values were added."""

    def add(self, value: float) -> None:
        """Add one value."""

    def add_many(self, values: Sequence[float]) -> None:
        """Add several values."""

    def summary(self) -> Summary:
        """Count, mean, min, p50..p99.9, max."""

    def quantiles(self, fractions: Sequence[float]) -> tuple[float, ...]:
        """The values at ascending ``fractions`` (``()`` with no value)."""

    def quantile(self, fraction: float) -> float | None:
        """One quantile (``None`` with no value)."""

    def histogram(self, bins: int) -> Histogram:
        """Equal-width bins from the minimum; a far tail beyond p99 counts as overflow."""

    def copy(self) -> Values:
        """An independent collection of the same values."""


class ExactValues:
    """Every value, 8 bytes each (a C array of doubles, not Python floats), sorted once
    in place by numpy when a figure is first read; figures follow :func:`quantile`."""

    __slots__ = ("_sorted", "_values")

    def __init__(self) -> None:
        self._values = array("d")
        self._sorted: np.ndarray | None = None

    @property
    def count(self) -> int:
        """How many values were added."""
        return len(self._values)

    def add(self, value: float) -> None:
        """Add one value."""
        self._sorted = None  # releases numpy's view first: a viewed array cannot grow
        self._values.append(value)

    def add_many(self, values: Sequence[float]) -> None:
        """Add several values."""
        self._sorted = None
        self._values.extend(values)

    def copy(self) -> ExactValues:
        """An independent collection of the same values."""
        twin = ExactValues()
        twin._values = array("d", self._values)
        return twin

    def ordered(self) -> Sequence[float]:
        """The values sorted ascending (a numpy view of the same memory, no copy kept)."""
        if self._sorted is None:
            view = np.frombuffer(self._values, dtype=np.float64) if self._values else np.empty(0)
            # Sorted in place: the array is no longer in arrival order, and no copy is kept.
            view.sort()
            self._sorted = view
        return cast("Sequence[float]", self._sorted)

    def summary(self) -> Summary:
        """As :func:`summarize_sorted` over every value."""
        return summarize_sorted(self.ordered())

    def quantiles(self, fractions: Sequence[float]) -> tuple[float, ...]:
        """The values at ``fractions``, by :func:`quantile`."""
        ordered = self.ordered()
        return tuple(quantile(ordered, q) for q in fractions) if len(ordered) else ()

    def quantile(self, fraction: float) -> float | None:
        """One quantile (``None`` with no value)."""
        ordered = self.ordered()
        return quantile(ordered, fraction) if len(ordered) else None

    def histogram(self, bins: int) -> Histogram:
        """Equal-width bins from the minimum; a far tail beyond p99 counts as overflow."""
        ordered = cast("np.ndarray", self.ordered())
        if not len(ordered):
            return Histogram()
        low, high = float(ordered[0]), float(ordered[-1])
        p99 = quantile(cast("Sequence[float]", ordered), 0.99)
        if high - low > 2 * (p99 - low):
            high = p99
        bins = bins if high > low else 1
        width = (high - low) / bins if high > low else 1.0
        edges = [low + i * width for i in range(bins)] + [high if high > low else low + width]
        inside = int(np.searchsorted(ordered, high, side="right"))
        # The same float operations as the per-value rule: (value - low) / width, truncated.
        index = np.minimum(((ordered[:inside] - low) / width).astype(np.int64), bins - 1)
        counts = np.bincount(index, minlength=bins)
        return Histogram(
            edges=tuple(edges),
            counts=tuple(int(c) for c in counts),
            overflow=len(ordered) - inside,
        )
