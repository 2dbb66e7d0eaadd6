"""The plotted parts of ``load.json``: where the curves are sampled and how finely.

All plotted parts are columnar (one tuple per figure) and bounded: the series has one value
per second of the run (:class:`~chatgauge.loadtests._series.SeriesTally`), the points at most
:data:`~chatgauge.loadtests._definitions.MAX_POINTS` per column
(:class:`~chatgauge.loadtests._series.ExactPoints`), the distributions one quantile per
fraction of :data:`QUANTILE_FRACTIONS` and a TTFT histogram of :data:`HISTOGRAM_BINS`
equal-width bins (``ExactValues.histogram`` in :mod:`chatgauge.loadtests._stats`). They are
drawn from the same values as the statistics, so a curve and a percentile in the table
never disagree.
"""

from __future__ import annotations

from typing import Final

HISTOGRAM_BINS: Final = 40

QUANTILE_FRACTIONS: Final[tuple[float, ...]] = (
    *(i / 200 for i in range(200)),
    0.995,
    0.999,
    0.9999,
    1.0,
)
"""Where the distribution curves are sampled: every half percent plus the far tail."""


__all__ = ["HISTOGRAM_BINS", "QUANTILE_FRACTIONS"]
