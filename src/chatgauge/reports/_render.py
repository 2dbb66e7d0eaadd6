"""Reading a saved result file and rendering it with the page of its kind.

A result is read through the results layer (:func:`chatgauge.results.read_document`): a
document of a registered kind becomes its typed value (``conformance.json`` a
:class:`~chatgauge.results.conformance.ConformanceRun`, ``load.json`` a
:class:`~chatgauge.results.load.LoadReport`), and a missing, foreign, damaged or
other-version file is refused with one :class:`ResultError` line naming the file and the
field, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from chatgauge.results import JsonRecord, ResultError, read_document
from chatgauge.results.conformance import ConformanceRun
from chatgauge.results.load import LoadReport

CONFORMANCE: Final = "conformance"
LOAD: Final = "load"
KINDS: Final = (CONFORMANCE, LOAD)


def read_result(path: Path) -> tuple[str, JsonRecord]:
    """``(kind, document)`` of the result saved at ``path``; :class:`ResultError` otherwise."""
    document = read_document(path)
    kind: str = getattr(document, "kind", "")
    return kind, document


def render_result_html(kind: str, document: JsonRecord) -> str:
    """The page of a result of ``kind`` (as returned by :func:`read_result`)."""
    # Imported on use: each page module pulls in its own templates and chart code.
    if kind == CONFORMANCE and isinstance(document, ConformanceRun):
        from chatgauge.reports._conformance_html import render_conformance_html

        return render_conformance_html(document)
    if kind == LOAD and isinstance(document, LoadReport):
        from chatgauge.reports._load_html import render_load_html

        return render_load_html(document)
    raise ValueError(f"no page for a result of kind {kind!r} ({type(document).__name__})")


__all__ = ["CONFORMANCE", "KINDS", "LOAD", "ResultError", "read_result", "render_result_html"]
