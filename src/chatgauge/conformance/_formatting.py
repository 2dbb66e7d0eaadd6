"""Plain-text renderings shared by the CLI, the pytest plugin and the JUnit writer.

They read the JSON shapes (``CheckResult.to_json()``, ``Evidence.to_json()``) so a saved
``conformance.json`` renders the same way as a live run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from chatgauge.conformance._registry import Check

# Long enough to show the offending part of a request or stream, short enough for a terminal.
SUMMARY_CHARS = 600


def check_table(checks: Iterable[Check]) -> str:
    """The catalogue as an aligned text table: id, tier, severity, title."""
    rows = [("ID", "TIER", "SEVERITY", "TITLE")]
    rows += [(c.id, c.tier.value, c.severity.value, c.title) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` cut to about ``limit`` characters: its start and its end around an ellipsis.

    The end is kept because that is where a stream shows how it ended (``[DONE]`` or not).
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} … {text[-half:]}"


def evidence_summary(evidence: Mapping[str, Any]) -> str:
    """One evidence entry (the ``Evidence.to_json()`` shape) as indented text lines."""
    status = evidence.get("status")
    head = f"evidence [{evidence.get('label') or 'request'}]"
    head += f" HTTP {status}" if status is not None else " no HTTP status"
    lines = [head]
    request = evidence.get("request")
    if request is not None:
        shown = request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
        lines.append(f"  request: {clip(shown)}")
    if evidence.get("response_excerpt"):
        lines.append(f"  response: {clip(str(evidence['response_excerpt']))}")
    if evidence.get("raw_sse"):
        # visible_bytes put a real newline after every shown \n; one line reads better here.
        raw = str(evidence["raw_sse"]).replace("\n", "")
        lines.append(f"  raw SSE: {clip(raw)}")
    for key, value in (evidence.get("detail") or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"  {key}: {clip(shown)}")
    return "\n".join(lines)


def result_summary(result: Mapping[str, Any]) -> str:
    """A check result (``CheckResult.to_json()`` shape): the message, then its evidence."""
    parts = [f"{result['id']} ({result['status']}): {result['message']}"]
    parts += [evidence_summary(e) for e in result.get("evidence") or ()]
    return "\n".join(parts)


__all__ = ["check_table", "clip", "evidence_summary", "result_summary"]
