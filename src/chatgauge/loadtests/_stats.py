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
from collections.abc import Iterable, Sequence
from typing import Final

from chatgauge.results.load import Summary

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
    if not sorted_values:
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
    if not ordered:
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
