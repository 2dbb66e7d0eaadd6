"""Conformance results as plain text: for terminals, pytest failure messages and JUnit XML.

The same rendering serves a live run and a saved ``conformance.json`` read back, because
both are the same typed values. Each piece of endpoint text is cut with :func:`clip`, which
keeps the start and the end of a body or stream (where ``[DONE]`` is, or is not).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Final

from chatgauge.results._codec import JsonValue
from chatgauge.results._text import clip
from chatgauge.results.conformance import (
    CheckResult,
    ConformanceRun,
    Coverage,
    Evidence,
    RunStatus,
    Status,
)

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


STATUS_MEANINGS: Final = {
    RunStatus.PASSED: "every planned check judged or skipped as not applicable, none failed",
    RunStatus.FAILED: "a check failed",
    RunStatus.INCOMPLETE: "no check failed, but not every planned check could be judged",
    RunStatus.INTERRUPTED: "the run stopped before every planned check had a result",
}
"""One line per run status: what it means (the CLI summary, the pages, the README)."""


def coverage_text(coverage: Coverage) -> str:
    """``61 of 65 checks judged; 4 skipped (2 not_applicable, 1 capability, 1 run)``."""
    text = f"{coverage.judged} of {coverage.total} checks judged"
    if coverage.skipped:
        kinds = Counter(s.kind.value for s in coverage.skipped)
        listed = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        text += f"; {len(coverage.skipped)} skipped ({listed})"
    if coverage.not_run:
        text += f"; {len(coverage.not_run)} not run"
    return text


def unjudged_lines(coverage: Coverage, ids_shown: int = 6) -> list[str]:
    """The skips that leave a run incomplete, one line per kind and reason, with the ids:
    ``run: budget exhausted: request cap of 20 reached (61 checks: A1-..., ...)``."""
    groups: dict[tuple[str, str], list[str]] = {}
    for skip in coverage.unaccepted:
        groups.setdefault((skip.kind.value, skip.reason), []).append(skip.id)
    lines = []
    for (kind, reason), ids in groups.items():
        shown = ", ".join(ids[:ids_shown]) + (
            f", and {len(ids) - ids_shown} more" if len(ids) > ids_shown else ""
        )
        count = f"{len(ids)} checks: " if len(ids) > 1 else ""
        lines.append(f"{kind}: {clip(reason, SUMMARY_CHARS)} ({count}{shown})")
    return lines


def status_meaning(run: ConformanceRun) -> str:
    """What the run's status means, with why the run stopped early if it did."""
    text = STATUS_MEANINGS[run.status]
    return f"{text} ({run.stop_reason})" if run.stop_reason else text


def status_text(run: ConformanceRun) -> str:
    """The run's status as one line: ``INCOMPLETE: no check failed, but ...``."""
    return f"{run.status.value.upper()}: {status_meaning(run)}"


__all__ = [
    "STATUS_MEANINGS",
    "SUMMARY_CHARS",
    "counts_text",
    "coverage_text",
    "evidence_summary",
    "result_summary",
    "status_meaning",
    "status_text",
    "unjudged_lines",
]
