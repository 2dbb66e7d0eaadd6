"""Runs selected checks against one endpoint and records a typed :class:`ConformanceRun`.

The runner owns the verdict rules that hold for every check: a tier-I check never fails
(its deviation is a warning), and a bug inside a check is reported as an internal error
(a skip with the reason), never as a verdict against the endpoint. A check whose whole rule
is about an optional feature the endpoint does not honour is not run (the contract's gate).
A run lists the checks it plans to judge (the selected checks: the run's contract); until
each has a result its status is ``interrupted``. Once the run has stopped sending (its
deadline passed, or the endpoint stopped answering), the checks not yet run are recorded
as skipped for that reason without being run, so the run ends ``incomplete`` at once.
Between two checks the context's checkpoint runs (the interrupt guard: Ctrl-C stops the
run there even when the ``KeyboardInterrupt`` was lost).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from chatgauge._version import __version__
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._features import FEATURES
from chatgauge.conformance._registry import Check
from chatgauge.conformance._results import (
    CheckOutcome,
    CheckResult,
    CheckSkipped,
    SkipKind,
    Status,
    Tier,
)
from chatgauge.results.conformance import (
    INTERNAL_ERROR_PREFIX,
    Capability,
    ConformanceRun,
    Contract,
    RunSettings,
    RunStatus,
    ToolInfo,
)

OnResult = Callable[[ConformanceRun, CheckResult], None]
"""Called after each check with the run so far and the new result (progress, saving)."""


def now_text() -> str:
    """The current time as the runs record it (UTC, ISO 8601, whole seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run(
    *,
    endpoint: str,
    model: str,
    settings: RunSettings,
    planned: Sequence[str],
    started_at: str | None = None,
    contract: Contract | None = None,
) -> ConformanceRun:
    """A run about to start: its header, no results yet, so ``interrupted``."""
    return ConformanceRun(
        endpoint=endpoint,
        model=model,
        started_at=started_at or now_text(),
        tool=ToolInfo(version=__version__),
        settings=settings,
        status=RunStatus.INTERRUPTED,
        planned=tuple(planned),
        contract=contract or Contract(),
    ).with_results(())


def capability_table(ctx: CheckContext) -> dict[str, Capability]:
    """Every feature's capability so far: those not classified (yet) are ``not_probed``."""
    found = ctx.capabilities
    return {
        feature: found.get(feature)
        or Capability(
            evidence="not probed in this run (not selected)",
            required=feature not in ctx.contract.optional,
        )
        for feature in FEATURES
    }


def stopped_result(check: Check, reason: str) -> CheckResult:
    """The result of a check the run did not run because it had stopped (``reason``)."""
    return _result(check, Status.SKIPPED, f"not run: {reason}", (), SkipKind.RUN)


def run_check(ctx: CheckContext, check: Check) -> CheckResult:
    """Run one check and turn its outcome into a result."""
    if ctx.stop_reason:
        return stopped_result(check, ctx.stop_reason)
    evidence: tuple[Any, ...] = ()
    skip_kind: SkipKind | None = None
    try:
        gated = ctx.check_not_judged(check.id)
        if gated is not None:
            raise CheckSkipped(gated, kind=SkipKind.CAPABILITY)
        note = check.func(ctx)
        status, message = Status.PASSED, note or "the rule holds"
    except CheckSkipped as outcome:
        status, message, evidence = outcome.status, outcome.message, outcome.evidence
        skip_kind = outcome.kind
    except CheckOutcome as outcome:
        status, message, evidence = outcome.status, outcome.message, outcome.evidence
    except Exception as exc:  # a check bug must not become a verdict
        where = traceback.extract_tb(exc.__traceback__)[-1]
        status, skip_kind = Status.SKIPPED, SkipKind.INTERNAL
        message = (
            f"{INTERNAL_ERROR_PREFIX}: {type(exc).__name__}: {exc} "
            f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        )
    if check.tier is Tier.INTEROP and status is Status.FAILED:
        status = Status.WARNING
    return _result(check, status, message, evidence, skip_kind)


def _result(
    check: Check,
    status: Status,
    message: str,
    evidence: tuple[Any, ...],
    skip_kind: SkipKind | None,
) -> CheckResult:
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
        skip_kind=skip_kind,
    )


def run_checks(
    ctx: CheckContext,
    checks: Iterable[Check],
    *,
    endpoint: str,
    settings: RunSettings | None = None,
    on_result: OnResult | None = None,
) -> ConformanceRun:
    """Run ``checks`` in order and return the run; ``on_result`` sees every step.

    ``settings`` is what the document records (by default: the context's settings and
    budget, run from Python).
    """
    checks = list(checks)
    recorded = settings or RunSettings(
        runner="api",
        strict=ctx.settings.strict,
        auth_required=ctx.settings.auth_required,
        examples=ctx.settings.examples,
        derandomize=ctx.settings.derandomize,
        max_tokens=ctx.settings.max_tokens,
        max_requests=ctx.budget.max_requests,
        max_total_tokens=ctx.budget.max_tokens,
    )
    run = new_run(
        endpoint=endpoint,
        model=ctx.model,
        settings=recorded,
        planned=[c.id for c in checks],
        contract=ctx.contract,
    )
    results: list[CheckResult] = []
    t0 = time.perf_counter()
    for check in checks:
        if ctx.checkpoint is not None:
            ctx.checkpoint()
        result = run_check(ctx, check)
        results.append(result)
        run = run.with_results(
            tuple(results),
            requests_sent=ctx.budget.requests_sent,
            retries=ctx.dispatcher.retries,
            tokens_used=ctx.budget.tokens_used,
            duration_s=round(time.perf_counter() - t0, 3),
            stop_reason=ctx.stop_reason,
            capabilities=capability_table(ctx),
        )
        if on_result is not None:
            on_result(run, result)
    return run


__all__ = [
    "OnResult",
    "capability_table",
    "new_run",
    "now_text",
    "run_check",
    "run_checks",
    "stopped_result",
]
