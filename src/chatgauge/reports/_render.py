"""Reading a saved result file and rendering it with the page of its kind.

A result is read through the results layer (:func:`chatgauge.results.parse_document`): a
document of a registered kind becomes its typed value (``conformance.json`` a
:class:`~chatgauge.results.conformance.ConformanceRun`), and a missing, foreign, damaged
or other-version file is refused with one :class:`ResultError` line naming the file and the
field. Load results are still read as plain dicts until their document kind is registered
(recognised by their ``kind`` field, or by their ``metrics`` and ``throughput`` sections).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from chatgauge.results import ResultError, parse_document
from chatgauge.results._files import known_kinds, read_json
from chatgauge.results.conformance import ConformanceRun

CONFORMANCE: Final = "conformance"
LOAD: Final = "load"
KINDS: Final = (CONFORMANCE, LOAD)


def result_kind(document: Mapping[str, Any]) -> str | None:
    """``"load"`` for a plain load result (its ``kind``, else its sections), else ``None``."""
    kind = document.get("kind")
    if kind == LOAD or (kind is None and "metrics" in document and "throughput" in document):
        return LOAD
    return None


def read_result(path: Path) -> tuple[str, Any]:
    """``(kind, document)`` of the result saved at ``path``; :class:`ResultError` otherwise.

    The document is the typed value of its kind (a load result: its dict, see the module
    docstring).
    """
    data = read_json(path)
    if isinstance(data, dict) and LOAD not in known_kinds() and result_kind(data) == LOAD:
        return LOAD, data
    document = parse_document(data, path)
    kind: str = getattr(document, "kind", "")
    return kind, document


def render_result_html(kind: str, document: Any) -> str:
    """The page of a result of ``kind`` (as returned by :func:`read_result`)."""
    # Imported on use: each page module pulls in its own templates and chart code.
    if kind == CONFORMANCE:
        from chatgauge.reports._conformance_html import render_conformance_html

        if not isinstance(document, ConformanceRun):
            raise TypeError("a conformance page renders a ConformanceRun")
        return render_conformance_html(document)
    if kind == LOAD:
        from chatgauge.reports._load_html import render_load_html

        return render_load_html(dict(document))
    raise ValueError(f"unknown result kind {kind!r}")


__all__ = [
    "CONFORMANCE",
    "KINDS",
    "LOAD",
    "ResultError",
    "read_result",
    "render_result_html",
    "result_kind",
]
