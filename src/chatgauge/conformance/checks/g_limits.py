"""Checks of rule G6: the output stays within ``max_tokens`` / ``max_completion_tokens``.

An answer is measured by its usage when it reports one. Without usage, a stream counts its
content events (a lower bound on tokens when each carries at least one) and any answer its
text (:data:`MAX_BYTES_PER_TOKEN` per token is far more than a token of text holds); an
answer that passes both bounds without usage was not measured, and the check says so
instead of passing.

A tiny request (limit 3) that runs far past its limit is evidence too, whatever the speed
of the machine: chatgauge stops reading a stream after :func:`events_to_read` events, and a
non-streamed tiny request that gets no answer within ten times what the plain request of
the same prompt (16 tokens) took has generated far more than 3 tokens
(:func:`~chatgauge.conformance._probes.tiny_deadline`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import choice_chunks, streamed_text, usage_of
from chatgauge.conformance._probes import TIMEOUT_JUDGED
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import CheckFailed, CheckSkipped, Evidence, SkipKind, Tier
from chatgauge.conformance.checks._bodies import (
    choices_of,
    completion_tokens,
    content_of,
    fail_details,
    requested_limit,
    requested_n,
)

SPEC_REQUEST = "openapi.yaml#/components/schemas/CreateChatCompletionRequest"
MAX_BYTES_PER_TOKEN = 256


@dataclass(frozen=True)
class Measure:
    """How one answer relates to its limit: over it (``excess`` says how), within it, or
    not measured (``unmeasured`` says why; ``run`` when the run, not the endpoint, is why)."""

    excess: str | None = None
    unmeasured: str | None = None
    run: bool = False


def _content_events(exchange: ChatExchange) -> int:
    """Chunks carrying content or tool-call text, over every choice."""
    count = 0
    for chunk in choice_chunks(exchange):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
                count += 1
    return count


def _text_bytes(exchange: ChatExchange) -> int:
    """Bytes of text the answer holds, over every choice."""
    if exchange.case.stream:
        indices = {
            choice.get("index")
            for chunk in choice_chunks(exchange)
            for choice in chunk.get("choices") or []
            if isinstance(choice, dict) and isinstance(choice.get("index"), int)
        }
        return sum(len(streamed_text(exchange, i).encode()) for i in indices if i is not None)
    body = exchange.json_or_none()
    choices = choices_of(body) if isinstance(body, dict) else []
    return sum(len((content_of(c) or "").encode()) for c in choices)


def _timed_out(ctx: CheckContext, exchange: ChatExchange, limit: int) -> Measure:
    """A request that got no complete answer in time: evidence when its limit was tiny."""
    if exchange.case.stream:
        events = _content_events(exchange)
        if events > limit:
            return Measure(excess=f"{events} content events, then no end within the deadline")
        return Measure(unmeasured=f"the stream stalled ({exchange.error})", run=True)
    plain = ctx.probe("plain")
    tiny = exchange.case.label in TIMEOUT_JUDGED
    if not tiny or plain.error_kind is not None or plain.status is None:
        return Measure(unmeasured=f"no complete answer ({exchange.error})", run=True)
    took_s = (plain.t_done_ns - plain.t_send_ns) / 1e9
    waited_s = (exchange.t_done_ns - exchange.t_send_ns) / 1e9
    return Measure(
        excess=(
            f"no complete answer after {waited_s:.1f} s, while the same prompt with a limit "
            f"of {requested_limit(plain)} was answered in {took_s:.2f} s"
        )
    )


def measure(ctx: CheckContext, exchange: ChatExchange, limit: int) -> Measure:
    """Whether ``exchange`` stayed within ``limit`` completion tokens (all choices).

    A stream is over only when every signal says so: its usage, when reported, and its
    content events (a streamed usage that disagrees with the text is C3's matter; a
    re-chunking proxy's many small events are no violation).
    """
    if exchange.stopped_reading:
        return Measure(
            excess=f"still streaming after {exchange.event_count} events: chatgauge stopped reading"
        )
    if exchange.error_kind == "timeout":
        return _timed_out(ctx, exchange, limit)
    if exchange.error_kind is not None:
        return Measure(unmeasured=f"no complete answer ({exchange.error})", run=True)
    used = completion_tokens(usage_of(exchange))
    text_bytes = _text_bytes(exchange)
    if used is not None and not exchange.case.stream:
        return Measure(excess=f"{used} completion tokens" if used > limit else None)
    if exchange.case.stream:
        events = _content_events(exchange)
        if used is not None:
            return Measure(
                excess=f"{events} content events ({used} completion tokens)"
                if events > limit and used > limit
                else None
            )
        if events > limit:
            return Measure(excess=f"{events} content events (no usage)")
    if text_bytes > limit * MAX_BYTES_PER_TOKEN:
        return Measure(excess=f"{text_bytes} bytes of text (no usage)")
    return Measure(unmeasured="no usage, and the text alone cannot show the token count")


def _judge_limits(ctx: CheckContext, probes: tuple[str, ...], field: str) -> str:
    """Fail when an answer exceeds its limit; skip when no answer could be measured."""
    problems: list[tuple[str, Evidence]] = []
    measured: list[str] = []
    unmeasured: list[tuple[str, Measure, ChatExchange]] = []
    for name in probes:
        exchange = ctx.probe(name)
        limit = requested_limit(exchange)
        if limit is None or exchange.status not in (200, 429, None):
            continue  # a refused request is group A's matter
        limit *= requested_n(exchange)
        if exchange.status == 429:
            found = Measure(unmeasured="rate limited (429)", run=True)
        else:
            found = measure(ctx, exchange, limit)
        if found.unmeasured:
            unmeasured.append((name, found, exchange))
            continue
        measured.append(name)
        if found.excess:
            problems.append(
                (
                    f"{name} ({field} {limit}): {found.excess}",
                    ctx.evidence(
                        exchange,
                        limit=limit,
                        usage=usage_of(exchange),
                        stopped_reading=exchange.stopped_reading,
                    ),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not measured:
        why = "; ".join(f"{name}: {m.unmeasured}" for name, m, _ in unmeasured)
        raise CheckSkipped(
            f"no answer could be measured against its limit ({why or 'none answered'})",
            *(ctx.evidence(exchange) for _, _, exchange in unmeasured),
            kind=SkipKind.RUN if any(m.run for _, m, _ in unmeasured) else SkipKind.NOT_APPLICABLE,
        )
    note = "; not measured: " + "; ".join(f"{n}: {m.unmeasured}" for n, m, _ in unmeasured)
    return f"within the limit: {', '.join(measured)}" + (note if unmeasured else "")


@check(
    "G6-max-tokens",
    "Output stays within max_tokens",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g6_max_tokens(ctx: CheckContext) -> str | None:
    """A completion never uses more than ``max_tokens`` tokens per choice (``n *
    max_tokens`` in total), streamed or not. A stream still sending far past a limit of 3
    and a 3-token request that never finishes (while the same prompt with 16 tokens did)
    break the rule; an answer without usage whose length cannot show it is not measured.
    Whether a cut answer says ``length`` is judged by B4-length-finish.
    """
    return _judge_limits(ctx, ("cut", "cut-stream", "n3", "n3-cut"), "max_tokens")


@check(
    "G6-max-completion-tokens",
    "Output stays within max_completion_tokens",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g6_max_completion_tokens(ctx: CheckContext) -> str | None:
    """``max_completion_tokens`` (the current name of ``max_tokens``) is honoured like it:
    the completion uses at most that many tokens (llama-cpp-python#1907 ignored it). A
    3-token request that never finishes, while the same prompt with 16 tokens did, breaks
    the rule.
    """
    return _judge_limits(ctx, ("cut-completion-tokens",), "max_completion_tokens")
