"""The conformance page: a :class:`ConformanceRun` rendered as one offline HTML file.

The page has no external resource at all (inline CSS, an inline SVG bar of the verdict
counts, a few lines of inline JS for the filters, and a Content-Security-Policy that forbids
fetching anything). Every value taken from the run goes through Jinja2's autoescaping:
evidence holds endpoint text, which is untrusted, and template syntax inside it is data,
never evaluated. Below the run's header, the capability table says per feature what the
endpoint did, whether the contract requires it, and the verdict. The banner is the run's
status: green only for ``passed``; an incomplete
run says how many checks it judged (each skip is listed with its kind and reason), an
interrupted run says so and lists the checks it did not run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatgauge.reports._charts import STATUS_ORDER, status_bars
from chatgauge.reports._jinja import render
from chatgauge.results._capability_rows import capability_rows
from chatgauge.results._conformance_text import coverage_text
from chatgauge.results.conformance import (
    ConformanceRun,
    Evidence,
    RunSettings,
    group_title,
)

STATUSES = STATUS_ORDER


@dataclass(frozen=True)
class EvidenceView:
    """One evidence entry as the page shows it (the request and detail as indented JSON)."""

    label: str
    status: int | None
    request: str
    response: str
    raw_sse: str
    detail: str


def render_conformance_html(run: ConformanceRun) -> str:
    """The HTML page of a conformance run."""
    summary = run.counts_by_name()
    groups = sorted({c.group for c in run.checks})
    return render(
        "conformance.html.j2",
        run=run,
        bars=status_bars([("", summary)]),
        status=run.status.value,
        summary=summary,
        statuses=STATUSES,
        checks=run.checks,
        evidence={c.id: [_evidence_view(e) for e in c.evidence] for c in run.checks},
        group_titles={g: group_title(g) for g in {*groups, *(c[:1] for c in run.planned)}},
        groups=[(g, group_title(g)) for g in groups],
        tiers=sorted({c.tier.value for c in run.checks}),
        not_run=run.not_run,
        coverage=coverage_text(run.coverage),
        settings=_settings_shown(run.settings),
        capabilities=capability_rows(run),
    )


def _settings_shown(settings: RunSettings) -> list[tuple[str, str]]:
    """The settings row: everything but the budget caps (shown with the budget used)."""
    shown = settings.to_json()
    for key in ("max_requests", "max_total_tokens"):
        shown.pop(key)
    return [(key, _plain(value)) for key, value in shown.items()]


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _evidence_view(evidence: Evidence) -> EvidenceView:
    request = evidence.request
    return EvidenceView(
        label=evidence.label or "request",
        status=evidence.status,
        request=request if isinstance(request, str) else _pretty(request),
        response=evidence.response_excerpt,
        raw_sse=evidence.raw_sse,
        detail=_pretty(evidence.detail) if evidence.detail else "",
    )


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


__all__ = ["EvidenceView", "render_conformance_html"]
