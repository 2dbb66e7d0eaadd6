"""The lengths section of the load page: asked against received, for input and output.

``lengths`` in ``load.json`` holds, for the successful requests, the input length asked (in
the endpoint's tokens) and received (``usage.prompt_tokens``), and the output limit asked
(``max_tokens``) and the output tokens received, each as a summary and a histogram whose
bins the pair shares. The section draws each pair as two step lines over the same bins, so
a server that truncates prompts or stops early shows as two shapes that do not match.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from chatgauge.reports import _svg
from chatgauge.results.load import Histogram, LengthFigures, Lengths


@dataclass(frozen=True)
class LengthsView:
    """What the template shows of the lengths."""

    lengths: Lengths
    rows: tuple[tuple[str, LengthFigures], ...]
    charts: tuple[Markup, ...]


def _steps(histogram: Histogram) -> list[tuple[float, float]]:
    return [
        (float(edge), float(count))
        for edge, count in zip(histogram.edges, histogram.counts, strict=False)
    ]


def _chart(title: str, figures: LengthFigures, asked: str, received: str) -> Markup:
    return _svg.xy_chart(
        title,
        "tokens",
        "requests",
        [
            _svg.Series(asked, _steps(figures.asked_histogram), _svg.BLUE, "step"),
            _svg.Series(received, _steps(figures.received_histogram), _svg.ORANGE, "step"),
        ],
        empty_message="no successful request",
    )


def lengths_view(lengths: Lengths | None) -> LengthsView | None:
    """The section, or ``None`` for a document without lengths."""
    if lengths is None:
        return None
    return LengthsView(
        lengths=lengths,
        rows=(("input", lengths.input), ("output", lengths.output)),
        charts=(
            _chart("Input length", lengths.input, "asked", "received (usage.prompt_tokens)"),
            _chart("Output length", lengths.output, "asked (max_tokens)", "received"),
        ),
    )


__all__ = ["LengthsView", "lengths_view"]
