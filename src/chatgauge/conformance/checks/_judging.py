"""How the group-A checks judge a batch of requests: each answer against a rule, with notes.

:func:`judge_cases` sends named cases and lists every one that broke the rule; requests
that use an optional feature the endpoint does not honour are not sent (the contract's
gate), and a problem of a rule only OpenAI's prose states is a warning unless the run is
strict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import choice_chunks, error_code, excerpt, is_clean_refusal
from chatgauge.conformance._results import CheckFailed, CheckSkipped, CheckWarning, SkipKind

MAX_EVIDENCE = 5
MAX_LISTED = 8


@dataclass(frozen=True)
class Judgement:
    """How one exchange fares against a rule: ``problem`` breaks it, ``note`` is worth telling.

    ``judged`` is false when the exchange says nothing about the rule because the run could
    not get an answer (rate limited after every retry, timed out). ``soft``: the problem
    breaks a rule that only OpenAI's prose or observed behaviour states, a warning unless
    the run is strict.
    """

    problem: str | None = None
    note: str | None = None
    judged: bool = True
    soft: bool = False


def _not_judged(exchange: ChatExchange) -> Judgement | None:
    """The judgement of an exchange the run got no usable answer to, else ``None``."""
    if exchange.error_kind == "timeout":
        return Judgement(note="timed out, not judged", judged=False)
    if exchange.status == 429 and exchange.error_kind is None:
        return Judgement(note="rate limited (429), not judged", judged=False)
    return None


def error_message(exchange: ChatExchange) -> str:
    """The endpoint's own error text (envelope message, else the body start), shortened."""
    body = exchange.json_or_none()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            return excerpt(message.encode(), 160)
    return excerpt(exchange.raw, 160)


def has_envelope(exchange: ChatExchange) -> bool:
    """Whether the body is a JSON object holding an ``error`` object."""
    body = exchange.json_or_none()
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _unsupported_note(exchange: ChatExchange) -> str:
    body = exchange.json_or_none()
    param = body["error"].get("param") if isinstance(body, dict) else None
    target = f" for {param!r}" if isinstance(param, str) else ""
    return f"refused as unsupported ({error_code(exchange)}{target})"


def judge_valid(exchange: ChatExchange) -> Judgement:
    """A valid request must get 200 with a completion (a JSON object or a stream of chunks
    with ``choices``). A clean refusal with an OpenAI 'unsupported' code and a 429 are noted,
    not held against the endpoint; a timeout is not judged either."""
    unjudged = _not_judged(exchange)
    if unjudged is not None:
        return unjudged
    if exchange.error_kind is not None:
        return Judgement(f"no complete response ({exchange.error})")
    status = exchange.status
    if status == 200:
        if exchange.case.stream:
            if not any(isinstance(c.get("choices"), list) for c in choice_chunks(exchange)):
                return Judgement("HTTP 200, but the stream carried no chunk with 'choices'")
            return Judgement()
        body = exchange.json_or_none()
        if not (isinstance(body, dict) and isinstance(body.get("choices"), list)):
            return Judgement("HTTP 200, but the body is not a JSON object with 'choices'")
        return Judgement()
    if is_clean_refusal(exchange):
        return Judgement(note=_unsupported_note(exchange))
    return Judgement(f"HTTP {status} instead of 200: {error_message(exchange)}")


def judge_invalid(exchange: ChatExchange) -> Judgement:
    """An invalid request must get a 4xx: never a 2xx, never a 5xx, never a dropped connection."""
    unjudged = _not_judged(exchange)
    if unjudged is not None:
        return unjudged
    status = exchange.status
    if status is None:
        return Judgement(f"no HTTP answer ({exchange.error})")
    if 400 <= status < 500:
        return Judgement()
    if 200 <= status < 300:
        return Judgement(f"accepted with HTTP {status}")
    if status >= 500:
        return Judgement(f"HTTP {status}, a server error for a client mistake")
    return Judgement(f"HTTP {status} instead of a 4xx")


def notes_text(notes: Counter[str]) -> str:
    if not notes:
        return ""
    parts = [f"{note} x{count}" if count > 1 else note for note, count in notes.most_common()]
    return "; noted: " + "; ".join(parts)


def judge_cases(
    ctx: CheckContext,
    cases: Iterable[ChatCase],
    judge: Callable[[ChatExchange], Judgement],
    what: str,
    soft: Collection[str] = (),
) -> str:
    """Send every case, judge each; raise :class:`CheckFailed` listing all that broke the rule.

    A case that uses an optional feature the endpoint does not honour is not sent (the
    contract's gate; noted). A problem of a case whose label is in ``soft`` (a rule only
    OpenAI's prose states) is a warning, unless the run is strict.
    """
    failures: list[tuple[str, ChatExchange, str]] = []
    warnings: list[tuple[str, ChatExchange, str]] = []
    notes: Counter[str] = Counter()
    count = judged = gated = 0
    for case in cases:
        reason = ctx.not_judged(case.body if case.raw_body is None else None)
        if reason is not None:
            gated += 1
            notes[f"{case.label}: {reason}"] += 1
            continue
        exchange = ctx.send(case)
        count += 1
        verdict = judge(exchange)
        judged += verdict.judged
        if verdict.note:
            notes[f"{case.label}: {verdict.note}"] += 1
        if verdict.problem:
            lenient = case.label in soft and not ctx.settings.strict
            (warnings if lenient else failures).append((case.label, exchange, verdict.problem))
    if gated and not count:
        raise CheckSkipped(
            f"none of the {gated} {what} was judged{notes_text(notes)}", kind=SkipKind.CAPABILITY
        )
    if count and not judged:
        raise CheckSkipped(
            f"none of the {count} {what} could be judged{notes_text(notes)}", kind=SkipKind.RUN
        )
    if failures or warnings:
        _raise_problems(ctx, failures, warnings, count, what)
    if not judged:
        raise CheckSkipped(
            f"none of the {count} {what} could be judged{notes_text(notes)}", kind=SkipKind.RUN
        )
    return f"all {count} {what} were answered as the rule requires{notes_text(notes)}"


def _raise_problems(
    ctx: CheckContext,
    failures: list[tuple[str, ChatExchange, str]],
    warnings: list[tuple[str, ChatExchange, str]],
    count: int,
    what: str,
) -> None:
    """Fail listing every failure (and the warnings beside); else warn listing the warnings
    (rules only OpenAI's prose states: pass --strict to fail them)."""
    shown = failures or warnings
    listed = "; ".join(f"{label}: {problem}" for label, _, problem in shown[:MAX_LISTED])
    if len(shown) > MAX_LISTED:
        listed += f"; and {len(shown) - MAX_LISTED} more"
    evidence = [ctx.evidence(ex, problem=problem) for _, ex, problem in shown]
    if failures:
        also = f"; also {len(warnings)} accepted against OpenAI's prose rules" if warnings else ""
        raise CheckFailed(
            f"{len(failures)} of {count} {what} broke the rule: {listed}{also}",
            *evidence[:MAX_EVIDENCE],
        )
    raise CheckWarning(
        f"{len(warnings)} of {count} {what} were accepted although OpenAI's prose (not the "
        f"schema) forbids them (--strict fails them): {listed}",
        *evidence[:MAX_EVIDENCE],
    )


__all__ = [
    "Judgement",
    "error_message",
    "has_envelope",
    "judge_cases",
    "judge_invalid",
    "judge_valid",
    "notes_text",
]
