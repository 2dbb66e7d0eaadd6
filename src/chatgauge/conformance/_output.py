"""Writing a conformance run's files: ``conformance.json``, ``.html`` and ``.junit.xml``.

Every file is written atomically (a temporary file in the same directory, then
``os.replace``), so a reader or an interrupted run never sees half a file. Before anything is
written, every string of the document is scrubbed of the API key: an endpoint may echo the
key back in an error message, and that text would otherwise land in the evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chatgauge._secret import Secret, redact
from chatgauge.results import write_atomic

JSON_NAME = "conformance.json"
HTML_NAME = "conformance.html"
JUNIT_NAME = "conformance.junit.xml"


def scrub(value: Any, secret: Secret | None) -> Any:
    """``value`` (a JSON-ready structure) with every occurrence of ``secret`` masked."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, Mapping):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secret) for v in value]
    return value


def write_json(directory: Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` (already scrubbed) as ``directory/conformance.json``."""
    path = directory / JSON_NAME
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode())
    return path


def write_reports(
    directory: Path, document: Mapping[str, Any], *, junit: bool = True
) -> list[Path]:
    """Write the JSON, the HTML page and (optionally) the JUnit XML; return their paths.

    ``document`` must already be scrubbed (see :func:`scrub`). Raises ``OSError`` when the
    directory cannot be created or written.
    """
    # Imported here: Jinja2 is only needed when a report is actually written.
    from chatgauge.conformance._junit import junit_xml
    from chatgauge.reports._conformance_html import render_conformance_html

    directory.mkdir(parents=True, exist_ok=True)
    paths = [write_json(directory, document)]
    html_path = directory / HTML_NAME
    write_atomic(html_path, render_conformance_html(document).encode())
    paths.append(html_path)
    if junit:
        junit_path = directory / JUNIT_NAME
        write_atomic(junit_path, junit_xml(document))
        paths.append(junit_path)
    return paths


__all__ = [
    "HTML_NAME",
    "JSON_NAME",
    "JUNIT_NAME",
    "scrub",
    "write_atomic",
    "write_json",
    "write_reports",
]
