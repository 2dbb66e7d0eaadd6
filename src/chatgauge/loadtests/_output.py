"""The files a run leaves: ``load.json``, ``load.html`` and, when asked, the raw samples.

Every file is written atomically by the results layer, so a reader (or a run interrupted
while writing) never sees half a file, and ``load.json`` passes through its last line of
defence on the way out (the API key masked, unencodable characters escaped in every string).
A file that cannot be written costs one line on stderr, never the run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chatgauge._secret import Secret
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results import safe_tree, write_atomic, write_document
from chatgauge.results.load import HTML_NAME, JSON_NAME, LoadReport


def write_report(directory: Path, report: LoadReport, secret: Secret | None, *, html: bool) -> None:
    """Write ``DIR/load.json`` (and ``DIR/load.html`` with ``html``)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_document(directory / JSON_NAME, report, secret)
        if html:
            # Imported on use: a worker never renders, and the page code is not small.
            from chatgauge.reports import render_load_html

            page = render_load_html(report)
            write_atomic(directory / HTML_NAME, page.encode("utf-8"))
    except OSError as exc:
        print(f"chatgauge: cannot write reports to {directory}: {exc}", file=sys.stderr)


def write_samples(folder: Path, samples: Sequence[RequestSample], secret: Secret | None) -> Path:
    """Write ``FOLDER/samples-<pid>.jsonl``: one :meth:`RequestSample.to_json` per line."""
    path = folder / f"samples-{os.getpid()}.jsonl"
    lines = "".join(
        json.dumps(safe_tree(sample.to_json(), secret), ensure_ascii=False) + "\n"
        for sample in samples
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lines.encode("utf-8"))
    except OSError as exc:
        print(f"chatgauge: cannot write samples to {path}: {exc}", file=sys.stderr)
    return path


__all__ = ["write_report", "write_samples"]
