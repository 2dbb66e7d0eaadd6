"""Conformance results as plain text: for terminals, pytest failure messages and JUnit XML.

The same rendering serves a live run and a saved ``conformance.json`` read back, because
both are the same typed values. Each piece of endpoint text is cut with :func:`clip`, which
keeps the start and the end of a body or stream (where ``[DONE]`` is, or is not).
"""

from __future__ import annotations

import json
from typing import Final

from chatgauge.results._codec import JsonValue
from chatgauge.results._text import clip
from chatgauge.results.conformance import CheckResult, ConformanceRun, Evidence, Status

SUMMARY_CHARS: Final = 600
"""Long enough to show the offending part of a request or stream, short enough to read."""


def _shown(value: JsonValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def evidence_summary(evidence: Evidence) -> str:
    """One evidence entry as indented text lines: label and status, then each part."""
    head = f"evidence [{evidence.label or 'request'}]"
    head += f" HTTP {evidence.status}" if evidence.status is not None else " no HTTP status"
    lines = [head]
    if evidence.request is not None:
        lines.append(f"  request: {clip(_shown(evidence.request), SUMMARY_CHARS)}")
    if evidence.response_excerpt:
        lines.append(f"  response: {clip(evidence.response_excerpt, SUMMARY_CHARS)}")
    if evidence.raw_sse:
        # The excerpt has a real newline after every visible \n; one line reads better here.
        raw = evidence.raw_sse.replace("\n", "")
        lines.append(f"  raw SSE: {clip(raw, SUMMARY_CHARS)}")
    for key, value in evidence.detail.items():
        lines.append(f"  {key}: {clip(_shown(value), SUMMARY_CHARS)}")
    return "\n".join(lines)


def result_summary(result: CheckResult) -> str:
    """A check result as text: ``id (status): message``, then its evidence."""
    parts = [f"{result.id} ({result.status.value}): {result.message}"]
    parts += [evidence_summary(e) for e in result.evidence]
    return "\n".join(parts)


def counts_text(run: ConformanceRun) -> str:
    """The non-zero verdict counts of a run, e.g. ``1 failed, 60 passed, 4 skipped``."""
    counts = run.counts()
    return ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])


__all__ = ["SUMMARY_CHARS", "counts_text", "evidence_summary", "result_summary"]
