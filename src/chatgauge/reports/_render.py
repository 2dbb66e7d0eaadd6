"""Reading a saved result file and rendering it with the page of its kind.

A result's kind is its ``"kind"`` field when it names a known kind. Documents written
without one are recognised by their sections: a load run has ``metrics`` and
``throughput``, a conformance run has ``checks`` and ``summary``. Anything else is refused
with one line saying why (:class:`ResultError`), never a traceback. A load result is read as
the typed :class:`~chatgauge.results.load.LoadReport` (one line naming the file and the
field when it is of another version or damaged).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from chatgauge.reports._charts import STATUS_ORDER
from chatgauge.results import ResultError as DocumentFileError
from chatgauge.results import parse_document
from chatgauge.results.load import LoadReport

CONFORMANCE: Final = "conformance"
LOAD: Final = "load"
KINDS: Final = (CONFORMANCE, LOAD)


class ResultError(ValueError):
    """A file that is not a result chatgauge can render (message: one line)."""


def result_kind(document: Mapping[str, Any]) -> str | None:
    """``"conformance"``, ``"load"`` or ``None`` when the document is neither."""
    kind = document.get("kind")
    if kind in KINDS:
        return str(kind)
    if kind is not None:
        return None
    if "metrics" in document and "throughput" in document:
        return LOAD
    if "checks" in document and "summary" in document:
        return CONFORMANCE
    return None


def read_result(path: Path) -> tuple[str, Any]:
    """``(kind, document)`` of the result saved at ``path`` (a :class:`LoadReport` for a load
    run, the JSON object for a conformance run); :class:`ResultError` otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultError(f"{path}: is a directory, not a result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: cannot read: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict):
        raise ResultError(f"{path}: not a chatgauge result (the JSON is not an object)")
    kind = result_kind(document)
    if kind is None:
        found = document.get("kind")
        what = f"unknown kind {found!r}" if found is not None else "no kind and no known sections"
        raise ResultError(
            f"{path}: not a chatgauge result ({what}); expected conformance.json or load.json"
        )
    if kind == LOAD:
        return kind, read_load(document, path)
    return kind, document


def read_load(document: Any, path: Path | str) -> LoadReport:
    """The typed load run a parsed ``load.json`` holds; :class:`ResultError` otherwise."""
    try:
        report = parse_document(document, path)
    except DocumentFileError as exc:
        raise ResultError(str(exc)) from None
    if not isinstance(report, LoadReport):
        raise ResultError(f"{path}: not a load result")
    return report


def conformance_checks(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The check entries of a conformance result by id, in order; malformed entries left out."""
    checks = document.get("checks")
    if not isinstance(checks, list):
        return {}
    return {str(c.get("id", "")): c for c in checks if isinstance(c, Mapping)}


def verdict_counts(document: Mapping[str, Any]) -> dict[str, int]:
    """Checks per status from a conformance result's summary (0 for a missing or bad count)."""
    counts = document.get("summary")
    if not isinstance(counts, Mapping):
        counts = {}
    return {
        status: value if isinstance(value := counts.get(status), int) else 0
        for status in STATUS_ORDER
    }


def render_result_html(kind: str, document: Any) -> str:
    """The page of a result of ``kind`` (as returned by :func:`read_result`)."""
    # Imported on use: each page module pulls in its own templates and chart code.
    if kind == CONFORMANCE:
        from chatgauge.reports._conformance_html import render_conformance_html

        return render_conformance_html(document)
    if kind == LOAD:
        from chatgauge.reports._load_html import render_load_html

        return render_load_html(document)
    raise ValueError(f"unknown result kind {kind!r}")


__all__ = [
    "CONFORMANCE",
    "KINDS",
    "LOAD",
    "ResultError",
    "conformance_checks",
    "read_load",
    "read_result",
    "render_result_html",
    "result_kind",
    "verdict_counts",
]
