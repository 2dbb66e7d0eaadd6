"""Hypothesis properties of the group-A checks: draw requests, judge each, shrink a failure.

A property run sends at most the run's examples plus :data:`SHRINK_ALLOWANCE` requests;
the minimal failure is reported with its request as evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._hypothesis_home import chatgauge_storage
from chatgauge.conformance._results import CheckFailed, CheckSkipped, CheckWarning, SkipKind
from chatgauge.conformance.checks._judging import Judgement, notes_text

T = TypeVar("T")

# Shrinking a failure may send this many requests on top of the generated examples; after
# that, shrinking stops and the smallest failure found so far is reported.
SHRINK_ALLOWANCE = 24


class _PropertyFailure(Exception):
    """Raised inside the Hypothesis test so that it shrinks the failing request."""


@dataclass
class PropertyRun:
    """What a property run found: the minimal failure (if any), notes, requests sent, and
    how many of their answers were judged (a 429 is not)."""

    failure: tuple[str, ChatExchange] | None = None
    sent: int = 0
    judged: int = 0
    budget_exhausted: bool = False
    stopped: str = ""
    notes: Counter[str] = field(default_factory=Counter)
    gated: int = 0
    warning: tuple[str, ChatExchange] | None = None


def run_property(
    ctx: CheckContext,
    strategy: st.SearchStrategy[T],
    to_case: Callable[[T], ChatCase],
    judge: Callable[[ChatExchange], Judgement],
    soft: Callable[[T], bool] | None = None,
) -> PropertyRun:
    """Run ``judge`` over requests drawn from ``strategy``; shrink a failure to a minimal one.

    A request that uses an optional feature the endpoint does not honour is not sent (the
    contract's gate: counted in ``gated``, passing). A problem with a value ``soft`` calls
    soft (a rule only OpenAI's prose states) is kept as ``warning`` instead, unless the run
    is strict.

    Verdicts are cached by request bytes: a request Hypothesis replays is not sent again,
    so the final replay of the minimal failure is consistent and costs nothing. Requests
    beyond the examples plus :data:`SHRINK_ALLOWANCE` are not sent (they count as passing),
    which ends shrinking with the smallest failure found so far.
    """
    run = PropertyRun()
    cap = ctx.settings.examples + SHRINK_ALLOWANCE
    verdicts: dict[bytes, tuple[Judgement, ChatExchange]] = {}

    def attempt(value: T) -> None:
        case = to_case(value)
        key = case.content()
        if key not in verdicts:
            if run.sent >= cap or run.budget_exhausted:
                return
            reason = ctx.not_judged(case.body if case.raw_body is None else None)
            if reason is not None:
                run.gated += 1
                run.notes[reason] += 1
                return
            try:
                exchange = ctx.send(case)
            except CheckSkipped as exc:
                run.budget_exhausted = True
                run.stopped = exc.message
                return
            run.sent += 1
            verdict = judge(exchange)
            run.judged += verdict.judged
            verdicts[key] = (verdict, exchange)
            if verdict.note:
                run.notes[verdict.note] += 1
        verdict, exchange = verdicts[key]
        if verdict.problem and soft is not None and soft(value) and not ctx.settings.strict:
            run.warning = run.warning or (verdict.problem, exchange)
            return
        if verdict.problem:
            run.failure = (verdict.problem, exchange)
            raise _PropertyFailure(verdict.problem)

    profile = settings(
        max_examples=ctx.settings.examples,
        deadline=None,
        derandomize=ctx.settings.derandomize,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    test: Callable[[], None] = profile(given(strategy)(attempt))
    # The failure (the last one Hypothesis replayed: the minimal one) is kept in run.failure.
    # Hypothesis's caches go to chatgauge's own directory, never the user's working one.
    with chatgauge_storage(), suppress(_PropertyFailure, HypothesisException):
        test()
    return run


def property_verdict(ctx: CheckContext, run: PropertyRun, what: str) -> str:
    """Turn a property run into the check's verdict: failed with the minimal request, skipped
    when nothing could be sent, passed otherwise."""
    notes = notes_text(run.notes)
    if run.failure is not None:
        problem, exchange = run.failure
        raise CheckFailed(
            f"a {what} broke the rule (minimal request after shrinking, label "
            f"{exchange.case.label!r}): {problem}",
            ctx.evidence(exchange, problem=problem, requests_sent=run.sent),
        )
    if run.sent == 0 and run.gated and not run.budget_exhausted:
        raise CheckSkipped(f"no {what} was judged{notes}", kind=SkipKind.CAPABILITY)
    if run.sent == 0:
        why = run.stopped or "budget exhausted"
        raise CheckSkipped(f"no {what} could be sent ({why})", kind=SkipKind.RUN)
    if run.judged == 0:
        raise CheckSkipped(
            f"none of the {run.sent} {what}s sent could be judged{notes}", kind=SkipKind.RUN
        )
    if run.warning is not None:
        problem, exchange = run.warning
        raise CheckWarning(
            f"a {what} (label {exchange.case.label!r}) was accepted although OpenAI's prose "
            f"(not the schema) forbids it (--strict fails it): {problem}",
            ctx.evidence(exchange, problem=problem, requests_sent=run.sent),
        )
    budget = f"; stopped early: {run.stopped}" if run.budget_exhausted else ""
    return f"{run.sent} {what}s were answered as the rule requires{budget}{notes}"


__all__ = ["SHRINK_ALLOWANCE", "PropertyRun", "property_verdict", "run_property"]
