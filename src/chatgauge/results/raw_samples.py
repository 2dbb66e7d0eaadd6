"""The raw-samples section of ``load.json``: where the run's per-request records are kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chatgauge.results._codec import JsonRecord


@dataclass(frozen=True)
class RawSamples(JsonRecord):
    """The run's raw-samples file (JSON Lines, one record per request: docs/raw-samples.md).

    ``path`` is relative to the folder of this document (``samples.jsonl`` beside it);
    ``records`` is how many requests it held when this document was written: every
    request the run finished, inside the measurement window or not.
    """

    path: str
    records: int = 0
    format: Literal["jsonl"] = "jsonl"


__all__ = ["RawSamples"]
