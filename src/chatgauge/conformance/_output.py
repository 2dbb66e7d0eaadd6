"""Writing a conformance run's files: ``conformance.json``, ``.html`` and ``.junit.xml``.

Every file goes through the results layer: written atomically (a reader, or a run
interrupted while writing, never sees half a file), and every string made safe on the way
out (the API key masked wherever an endpoint echoed it, unencodable characters escaped).
The HTML and JUnit renderings are made from the same safe document, read back as a value,
so no page can show what the JSON does not.
"""

from __future__ import annotations

import json
from pathlib import Path

from chatgauge._secret import Secret
from chatgauge.results import write_atomic
from chatgauge.results._files import document_bytes
from chatgauge.results.conformance import HTML_NAME, JSON_NAME, JUNIT_NAME, ConformanceRun


def safe_run(run: ConformanceRun, secret: Secret | None) -> tuple[ConformanceRun, bytes]:
    """``run`` with every string made safe, and the JSON bytes of that safe run."""
    data = document_bytes(run.to_json(), secret)
    return ConformanceRun.from_json(json.loads(data)), data


def write_json(directory: Path, run: ConformanceRun, secret: Secret | None) -> Path:
    """Write ``run`` as ``directory/conformance.json``."""
    path = directory / JSON_NAME
    write_atomic(path, document_bytes(run.to_json(), secret))
    return path


def write_reports(
    directory: Path, run: ConformanceRun, secret: Secret | None, *, junit: bool = True
) -> list[Path]:
    """Write the JSON, the HTML page and (optionally) the JUnit XML; return their paths.

    Raises ``OSError`` when the directory cannot be created or written.
    """
    # Imported here: Jinja2 is only needed when a report is actually written.
    from chatgauge.reports._conformance_html import render_conformance_html
    from chatgauge.reports._junit import junit_xml

    directory.mkdir(parents=True, exist_ok=True)
    safe, data = safe_run(run, secret)
    json_path = directory / JSON_NAME
    write_atomic(json_path, data)
    paths = [json_path]
    html_path = directory / HTML_NAME
    write_atomic(html_path, render_conformance_html(safe).encode())
    paths.append(html_path)
    if junit:
        junit_path = directory / JUNIT_NAME
        write_atomic(junit_path, junit_xml(safe))
        paths.append(junit_path)
    return paths


__all__ = [
    "HTML_NAME",
    "JSON_NAME",
    "JUNIT_NAME",
    "safe_run",
    "write_json",
    "write_reports",
]
