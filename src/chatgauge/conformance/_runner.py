"""Runs selected checks against one endpoint and collects a :class:`RunResult`.

The runner owns the verdict rules that hold for every check: a tier-I check never fails
(its deviation is a warning), and a bug inside a check is reported as an internal error
(a skip with the reason), never as a verdict against the endpoint.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chatgauge._version import __version__
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._registry import Check
from chatgauge.conformance._results import (
    CheckOutcome,
    CheckResult,
    Status,
    Tier,
)


@dataclass
class RunResult:
    """Everything a conformance run produced; :meth:`to_json` is ``conformance.json``."""

    endpoint: str
    model: str
    started_at: str
    results: list[CheckResult] = field(default_factory=list)
    requests_sent: int = 0
    tokens_used: int = 0
    duration_s: float = 0.0
    internal_errors: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        """Counts per verdict (every status present, zeros included)."""
        counts = Counter(r.status.value for r in self.results)
        return {s.value: counts.get(s.value, 0) for s in Status}

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(r.status is Status.FAILED for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The JSON document written as ``conformance.json``."""
        return {
            "kind": "conformance",
            "chatgauge_version": __version__,
            "endpoint": self.endpoint,
            "model": self.model,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary,
            "verdict": "failed" if self.failed else "passed",
            "checks": [r.to_json() for r in self.results],
            "requests_sent": self.requests_sent,
            "tokens_used": self.tokens_used,
            "internal_errors": self.internal_errors,
            "settings": self.settings,
        }


def run_check(ctx: CheckContext, check: Check) -> CheckResult:
    """Run one check and turn its outcome into a result."""
    evidence: tuple[Any, ...] = ()
    try:
        note = check.func(ctx)
        status, message = Status.PASSED, note or "the rule holds"
    except CheckOutcome as outcome:
        status, message, evidence = outcome.status, outcome.message, outcome.evidence
    except Exception as exc:  # a check bug must not become a verdict
        where = traceback.extract_tb(exc.__traceback__)[-1]
        status = Status.SKIPPED
        message = (
            f"chatgauge internal error: {type(exc).__name__}: {exc} "
            f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        )
    if check.tier is Tier.INTEROP and status is Status.FAILED:
        status = Status.WARNING
    return CheckResult(
        id=check.id,
        title=check.title,
        group=check.group,
        tier=check.tier,
        severity=check.severity,
        status=status,
        message=message,
        rule=check.rule,
        spec_ref=check.spec_ref,
        evidence=evidence,
    )


def run_checks(
    ctx: CheckContext,
    checks: Iterable[Check],
    *,
    endpoint: str,
    on_result: Callable[[CheckResult], None] | None = None,
) -> RunResult:
    """Run ``checks`` in order; ``on_result`` is called after each (progress, saving)."""
    run = RunResult(
        endpoint=endpoint,
        model=ctx.model,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        settings={
            "max_tokens": ctx.settings.max_tokens,
            "strict": ctx.settings.strict,
            "auth_required": ctx.settings.auth_required,
            "examples": ctx.settings.examples,
            "max_requests": ctx.budget.max_requests,
            "max_total_tokens": ctx.budget.max_tokens,
        },
    )
    t0 = time.perf_counter()
    for check in checks:
        result = run_check(ctx, check)
        if result.message.startswith("chatgauge internal error"):
            run.internal_errors.append(f"{check.id}: {result.message}")
        run.results.append(result)
        run.requests_sent = ctx.budget.requests_sent
        run.tokens_used = ctx.budget.tokens_used
        run.duration_s = time.perf_counter() - t0
        if on_result is not None:
            on_result(result)
    return run
