"""The files a run leaves: ``load.json`` and ``load.html`` (the raw samples: ``_spill``).

Every file is written atomically by the results layer, so a reader (or a run interrupted
while writing) never sees half a file, and ``load.json`` passes through its last line of
defence on the way out (the API key masked, unencodable characters escaped in every string).
A file that cannot be written costs one line on stderr, never the run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chatgauge._secret import Secret
from chatgauge.results import write_atomic, write_document
from chatgauge.results._files import document_bytes
from chatgauge.results.load import HTML_NAME, JSON_NAME, LoadReport


def write_report(directory: Path, report: LoadReport, secret: Secret | None, *, html: bool) -> None:
    """Write ``DIR/load.json`` (and ``DIR/load.html`` with ``html``: the final document,
    indented; a live one is compact)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if html:
            write_document(directory / JSON_NAME, report, secret)
        else:
            # The live rewrite, once a second: compact JSON goes through the C encoder
            # (indented JSON takes the pure-Python one, several times slower), so the
            # write holds the event loop for a few milliseconds rather than tens.
            write_atomic(
                directory / JSON_NAME, document_bytes(report.to_json(), secret, indent=None)
            )
        if html:
            # Imported on use: a worker never renders, and the page code is not small.
            from chatgauge.reports import render_load_html

            page = render_load_html(report)
            write_atomic(directory / HTML_NAME, page.encode("utf-8"))
    except OSError as exc:
        print(f"chatgauge: cannot write reports to {directory}: {exc}", file=sys.stderr)


__all__ = ["write_report"]
