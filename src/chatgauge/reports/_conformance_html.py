"""The conformance page: a ``conformance.json`` document rendered as one offline HTML file.

The page has no external resource at all (inline CSS, an inline SVG bar of the verdict
counts, a few lines of inline JS for the filters, and a Content-Security-Policy that forbids
fetching anything). Every value taken
from the document goes through Jinja2's autoescaping: evidence holds endpoint text, which is
untrusted, and template syntax inside it is data, never evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chatgauge.conformance._registry import GROUPS
from chatgauge.reports._charts import STATUS_ORDER, status_bars
from chatgauge.reports._jinja import render
from chatgauge.reports._render import conformance_checks, verdict_counts

STATUSES = STATUS_ORDER


def render_conformance_html(document: Mapping[str, Any]) -> str:
    """The HTML page of a conformance run (the ``RunResult.to_json()`` shape)."""
    checks = [_check_view(c) for c in conformance_checks(document).values()]
    summary = verdict_counts(document)
    settings = dict(document.get("settings") or {})
    failed = summary["failed"] > 0
    return render(
        "conformance.html.j2",
        bars=status_bars([("", summary)]),
        endpoint=str(document.get("endpoint", "")),
        model=str(document.get("model", "")),
        started_at=str(document.get("started_at", "")),
        duration_s=float(document.get("duration_s") or 0),
        version=str(document.get("chatgauge_version", "")),
        verdict="failed" if failed else "passed",
        summary=summary,
        statuses=STATUSES,
        checks=checks,
        groups=[(g, GROUPS.get(g, g)) for g in sorted({c["group"] for c in checks})],
        tiers=sorted({c["tier"] for c in checks}),
        requests_sent=document.get("requests_sent", 0),
        tokens_used=document.get("tokens_used", 0),
        max_requests=settings.pop("max_requests", None),
        max_total_tokens=settings.pop("max_total_tokens", None),
        settings=settings,
        internal_errors=[str(e) for e in document.get("internal_errors") or ()],
    )


def _check_view(check: Mapping[str, Any]) -> dict[str, Any]:
    group = str(check.get("group", ""))
    return {
        "id": str(check.get("id", "")),
        "title": str(check.get("title", "")),
        "group": group,
        "group_title": GROUPS.get(group, group),
        "tier": str(check.get("tier", "")),
        "severity": str(check.get("severity", "")),
        "status": str(check.get("status", "")),
        "message": str(check.get("message", "")),
        "rule": str(check.get("rule", "")),
        "spec_ref": str(check.get("spec_ref", "")),
        "evidence": [_evidence_view(e) for e in check.get("evidence") or ()],
    }


def _evidence_view(evidence: Mapping[str, Any]) -> dict[str, Any]:
    request = evidence.get("request")
    detail = evidence.get("detail") or {}
    return {
        "label": str(evidence.get("label") or "request"),
        "status": evidence.get("status"),
        "request": request if isinstance(request, str) else _pretty(request),
        "response": str(evidence.get("response_excerpt") or ""),
        "raw_sse": str(evidence.get("raw_sse") or ""),
        "detail": _pretty(detail) if detail else "",
    }


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


__all__ = ["render_conformance_html"]
