"""Shared readers for the response, usage and feature checks (groups B, C, G).

They turn a probe into the JSON object a check judges, and say plainly when a check cannot
judge: a probe that was not answered, or a 200 body that is not a JSON object (the schema
check B1 judges that, so the other checks skip instead of failing for the same cause).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._results import CheckOutcome, CheckSkipped, Evidence, SkipKind

JSONObject = dict[str, Any]
SHORT_REPR_CHARS = 120
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def short(value: Any, limit: int = SHORT_REPR_CHARS) -> str:
    """``repr(value)`` cut at ``limit`` characters, for failure messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answered_body(
    ctx: CheckContext, probe: str, *, optional: bool = False
) -> tuple[ChatExchange, JSONObject]:
    """The probe's exchange and its JSON object body; skip the check when there is none."""
    exchange = ctx.answered(probe, optional=optional)
    body = exchange.json_or_none()
    if not isinstance(body, dict):
        raise CheckSkipped(
            f"probe {probe!r} was answered with a body that is not a JSON object "
            "(judged by B1-schema)",
            ctx.evidence(exchange),
        )
    return exchange, body


def optional_body(ctx: CheckContext, probe: str) -> tuple[ChatExchange, JSONObject] | None:
    """Like :func:`answered_body` for a secondary probe: ``None`` when it cannot be judged
    (a run-caused skip, such as an exhausted budget, still ends the check)."""
    try:
        return answered_body(ctx, probe, optional=True)
    except CheckSkipped as skip:
        if skip.kind is SkipKind.RUN:
            raise
        return None
    except CheckOutcome:
        return None


def optional_exchange(ctx: CheckContext, probe: str) -> ChatExchange | None:
    """A probe's exchange when it was answered with 200, else ``None`` (not judged); a
    run-caused skip (budget, rate limit, timeout, a stopped run) still ends the check."""
    try:
        return ctx.answered(probe, optional=True)
    except CheckSkipped as skip:
        if skip.kind is SkipKind.RUN:
            raise
        return None
    except CheckOutcome:
        return None


def choices_of(body: JSONObject) -> list[JSONObject]:
    """The choice objects of a body (non-objects and a non-list ``choices`` left out)."""
    choices = body.get("choices")
    if not isinstance(choices, list):
        return []
    return [c for c in choices if isinstance(c, dict)]


def message_of(choice: JSONObject) -> JSONObject:
    """A choice's ``message`` object ({} when absent or not an object)."""
    message = choice.get("message")
    return message if isinstance(message, dict) else {}


def content_of(choice: JSONObject) -> str | None:
    """A choice's message content when it is a string."""
    content = message_of(choice).get("content")
    return content if isinstance(content, str) else None


def is_count(value: Any) -> TypeGuard[int]:
    """A JSON integer >= 0 (``true`` is not a number of tokens)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value: Any) -> TypeGuard[int | float]:
    """A finite JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def completion_tokens(usage: JSONObject | None) -> int | None:
    """``usage.completion_tokens`` when it is a count."""
    if usage is None:
        return None
    value = usage.get("completion_tokens")
    return value if is_count(value) else None


def requested_n(exchange: ChatExchange) -> int:
    """The ``n`` the request asked for (1 when absent)."""
    n = exchange.case.body.get("n", 1)
    return n if isinstance(n, int) else 1


def requested_limit(exchange: ChatExchange) -> int | None:
    """The completion token limit of the request (``max_completion_tokens`` wins)."""
    body = exchange.case.body
    for field in ("max_completion_tokens", "max_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def fail_details(problems: list[tuple[str, Evidence]]) -> tuple[str, tuple[Evidence, ...]]:
    """One message from several problems (the first three spelled out) and their evidence.

    Evidence is kept once per probe (by label): several problems in one response share it.
    """
    shown = "; ".join(text for text, _ in problems[:3])
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    evidence: dict[str, Evidence] = {}
    for _, item in problems:
        evidence.setdefault(item.label, item)
    return shown + more, tuple(evidence.values())
