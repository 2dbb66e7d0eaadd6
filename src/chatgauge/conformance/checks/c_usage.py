"""Checks of group C: usage arithmetic, non-streamed and in the stream's usage chunk.

A response without usage is not judged here (usage is optional in the schema; the stream's
usage chunk is judged by E6): these checks judge the numbers that were reported.
"""

from __future__ import annotations

from typing import Any

from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import (
    choice_chunks,
    streamed_finish_reasons,
    streamed_text,
    usage_of,
)
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckSkipped,
    CheckWarning,
    Evidence,
    Severity,
    SkipKind,
    Tier,
)
from chatgauge.conformance.checks._bodies import (
    JSONObject,
    choices_of,
    completion_tokens,
    content_of,
    fail_details,
    is_count,
    optional_exchange,
    requested_limit,
    short,
)

SPEC_USAGE = "openapi.yaml#/components/schemas/CompletionUsage"
USAGE_PROBES = ("plain", "plain-stream", "cut", "n3")
TOTALS = ("prompt_tokens", "completion_tokens", "total_tokens")
# Each detail counts a part of its total, so it can never exceed it.
DETAILS = {
    "prompt_tokens_details": ("prompt_tokens", ("cached_tokens", "audio_tokens")),
    "completion_tokens_details": (
        "completion_tokens",
        (
            "reasoning_tokens",
            "audio_tokens",
            "accepted_prediction_tokens",
            "rejected_prediction_tokens",
        ),
    ),
}


def _reported(ctx: CheckContext, *probes: str) -> list[tuple[ChatExchange, JSONObject]]:
    """The answered probes among ``probes`` that reported a usage object, with it."""
    found = []
    answered = 0
    for name in probes:
        exchange = optional_exchange(ctx, name)
        usage = usage_of(exchange) if exchange is not None else None
        answered += exchange is not None
        if exchange is not None and usage is not None:
            found.append((exchange, usage))
    if not answered:
        raise CheckSkipped(f"none of the probes {', '.join(probes)} was answered with 200")
    if not found:
        # Usage is optional in a response: answers without it are a capability the endpoint
        # lacks (probes without an answer were refused above, and are judged by A1).
        raise CheckSkipped(
            f"none of the probes {', '.join(probes)} reported usage", kind=SkipKind.CAPABILITY
        )
    return found


def _evidence(ctx: CheckContext, exchange: ChatExchange, usage: JSONObject) -> Evidence:
    return ctx.evidence(exchange, usage=usage)


@check(
    "C1-usage-arithmetic",
    "total_tokens is prompt_tokens + completion_tokens",
    tier=Tier.SPEC,
    spec_ref=SPEC_USAGE,
)
def c1_usage_arithmetic(ctx: CheckContext) -> str | None:
    """In every usage object (non-streamed, and the stream's usage chunk) ``prompt_tokens``,
    ``completion_tokens`` and ``total_tokens`` are integers >= 0 and ``total_tokens ==
    prompt_tokens + completion_tokens`` (dify#19175 reported a total below the prompt).
    """
    problems: list[tuple[str, Evidence]] = []
    for exchange, usage in _reported(ctx, *USAGE_PROBES):
        label = exchange.case.label
        bad = {name: usage.get(name) for name in TOTALS if not is_count(usage.get(name))}
        if bad:
            text = ", ".join(f"{name}={short(value)}" for name, value in bad.items())
            problems.append(
                (f"{label}: not integers >= 0: {text}", _evidence(ctx, exchange, usage))
            )
            continue
        prompt, completion, total = (usage[name] for name in TOTALS)
        if total != prompt + completion:
            problems.append(
                (
                    f"{label}: total_tokens {total} != prompt_tokens {prompt} + "
                    f"completion_tokens {completion}",
                    _evidence(ctx, exchange, usage),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    return None


@check(
    "C2-prompt-positive",
    "prompt_tokens is positive for a non-empty prompt",
    tier=Tier.DEFACTO,
    spec_ref=SPEC_USAGE,
)
def c2_prompt_positive(ctx: CheckContext) -> str | None:
    """A request with a non-empty prompt reports ``prompt_tokens > 0`` (LocalAI#1194 sent
    zeros in every chunk), streamed and not.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = 0
    for exchange, usage in _reported(ctx, "plain", "plain-stream"):
        prompt = usage.get("prompt_tokens")
        judged += is_count(prompt)
        if is_count(prompt) and prompt == 0:
            problems.append(
                (
                    f"{exchange.case.label}: prompt_tokens is 0 for a non-empty prompt",
                    _evidence(ctx, exchange, usage),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not judged:
        raise CheckSkipped("no prompt_tokens count was reported (judged by C1-usage-arithmetic)")
    return None


@check(
    "C2-details-within-totals",
    "Token details never exceed their totals",
    tier=Tier.DEFACTO,
    spec_ref=SPEC_USAGE,
)
def c2_details_within_totals(ctx: CheckContext) -> str | None:
    """Each count in ``prompt_tokens_details`` is at most ``prompt_tokens`` and each count in
    ``completion_tokens_details`` at most ``completion_tokens`` (e.g. ``cached_tokens <=
    prompt_tokens``, ``reasoning_tokens <= completion_tokens``; langfuse#14987). Absent or
    null details are fine.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = 0
    for exchange, usage in _reported(ctx, *USAGE_PROBES):
        for group, (total_name, parts) in DETAILS.items():
            details, total = usage.get(group), usage.get(total_name)
            if not isinstance(details, dict) or not is_count(total):
                continue
            for part in parts:
                value = details.get(part)
                judged += is_count(value)
                if is_count(value) and value > total:
                    problems.append(
                        (
                            f"{exchange.case.label}: {group}.{part} {value} > {total_name} {total}",
                            _evidence(ctx, exchange, usage),
                        )
                    )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not judged:
        raise CheckSkipped(
            "no usage reported token details to compare", kind=SkipKind.NOT_APPLICABLE
        )
    return f"{judged} detail counts within their totals"


@check(
    "C3-stream-usage-agrees",
    "Streamed and non-streamed usage of one request agree",
    tier=Tier.DEFACTO,
    severity=Severity.MINOR,
    spec_ref=SPEC_USAGE,
)
def c3_stream_usage_agrees(ctx: CheckContext) -> str | None:
    """Soft rule: the same request sent streamed (with ``include_usage``) and non-streamed
    reports the same ``prompt_tokens``, and the same ``completion_tokens`` when both
    produced the same text. A difference is a warning.
    """
    plain = optional_exchange(ctx, "plain")
    stream = optional_exchange(ctx, "plain-stream")
    plain_usage = usage_of(plain) if plain is not None else None
    stream_usage = usage_of(stream) if stream is not None else None
    if plain is None or stream is None or plain_usage is None or stream_usage is None:
        # Show the answers that lacked usage, so the skip can be checked by hand.
        lacking = [
            exchange
            for exchange, usage in ((plain, plain_usage), (stream, stream_usage))
            if exchange is not None and usage is None
        ]
        named = ", ".join(e.case.label for e in lacking) or "the plain and plain-stream probes"
        raise CheckSkipped(
            f"needs usage from both the plain and the plain-stream probe; no usage from {named}",
            *(ctx.evidence(exchange) for exchange in lacking),
            kind=SkipKind.CAPABILITY if len(lacking) == 2 else SkipKind.ENDPOINT,
        )
    differences = []
    if plain_usage.get("prompt_tokens") != stream_usage.get("prompt_tokens"):
        differences.append(
            f"prompt_tokens {short(plain_usage.get('prompt_tokens'))} non-streamed vs "
            f"{short(stream_usage.get('prompt_tokens'))} streamed"
        )
    choices = choices_of(plain.json_or_none() or {})
    same_text = len(choices) == 1 and content_of(choices[0]) == streamed_text(stream)
    if same_text and plain_usage.get("completion_tokens") != stream_usage.get("completion_tokens"):
        differences.append(
            f"completion_tokens {short(plain_usage.get('completion_tokens'))} non-streamed vs "
            f"{short(stream_usage.get('completion_tokens'))} streamed for the same text"
        )
    if differences:
        raise CheckWarning(
            "; ".join(differences),
            _evidence(ctx, plain, plain_usage),
            _evidence(ctx, stream, stream_usage),
        )
    return None if same_text else "prompt_tokens agree (the texts differ, so not the completion)"


@check(
    "C3-prompt-grows",
    "prompt_tokens grows with the prompt",
    tier=Tier.DEFACTO,
    severity=Severity.MINOR,
    spec_ref=SPEC_USAGE,
)
def c3_prompt_grows(ctx: CheckContext) -> str | None:
    """Soft rule: a prompt eight times longer (``long-prompt``) reports more
    ``prompt_tokens`` than the short one (``plain``); a constant count means the number is
    not measured. A violation is a warning.
    """
    short_probe = optional_exchange(ctx, "plain")
    long_probe = optional_exchange(ctx, "long-prompt")
    short_usage = usage_of(short_probe) if short_probe is not None else None
    long_usage = usage_of(long_probe) if long_probe is not None else None
    if short_probe is None or long_probe is None or short_usage is None or long_usage is None:
        no_usage = short_probe is not None and long_probe is not None and not short_usage
        raise CheckSkipped(
            "needs usage from both the plain and the long-prompt probe",
            kind=SkipKind.CAPABILITY if no_usage and not long_usage else SkipKind.ENDPOINT,
        )
    short_count, long_count = short_usage.get("prompt_tokens"), long_usage.get("prompt_tokens")
    if not (is_count(short_count) and is_count(long_count)):
        raise CheckSkipped("prompt_tokens is not a count (judged by C1-usage-arithmetic)")
    if long_count <= short_count:
        raise CheckWarning(
            f"prompt_tokens {long_count} for the long prompt is not more than "
            f"{short_count} for the short one",
            _evidence(ctx, short_probe, short_usage),
            _evidence(ctx, long_probe, long_usage),
        )
    return None


# --- C4 ----------------------------------------------------------------------------------

N_USAGE_PROBES = ("n3-cut", "n3", "n3-stream")


def _choice_outcomes(exchange: ChatExchange) -> list[tuple[Any, bool]]:
    """Per choice: its finish_reason and whether it has content, streamed or not."""
    if exchange.case.stream:
        reasons = streamed_finish_reasons(exchange)
        indices = sorted(
            {
                choice["index"]
                for chunk in choice_chunks(exchange)
                for choice in chunk.get("choices") or []
                if isinstance(choice, dict) and isinstance(choice.get("index"), int)
            }
        )
        return [((reasons.get(i) or [None])[-1], bool(streamed_text(exchange, i))) for i in indices]
    body = exchange.json_or_none()
    choices = choices_of(body) if isinstance(body, dict) else []
    return [(c.get("finish_reason"), bool(content_of(c))) for c in choices]


def tokens_at_least(exchange: ChatExchange) -> int | None:
    """The fewest completion tokens the answer's choices can have used together.

    A choice cut with ``length`` used exactly the limit; any other choice with content at
    least one token. ``None`` without a limit to go by.
    """
    limit = requested_limit(exchange)
    if limit is None:
        return None
    return sum(
        limit if reason == "length" else 1 if has_content else 0
        for reason, has_content in _choice_outcomes(exchange)
    )


@check(
    "C4-usage-counts-every-choice",
    "With n > 1, completion_tokens counts every choice",
    tier=Tier.DEFACTO,
    spec_ref=SPEC_USAGE,
)
def c4_usage_counts_every_choice(ctx: CheckContext) -> str | None:
    """With ``n`` > 1, ``usage.completion_tokens`` counts the tokens of all choices, as
    OpenAI reports it: at least the limit for each choice cut with finish_reason
    ``length`` (it used exactly the limit) plus one for each other choice with content.
    Judged on n=3 requests with ``max_tokens`` 3 and 16, and on the n=3 stream's usage
    chunk when it sent exactly one (how many it sent is E6's matter).
    """
    problems: list[tuple[str, Evidence]] = []
    judged: list[str] = []
    for exchange in ctx.answered_probes(*N_USAGE_PROBES, optional=N_USAGE_PROBES):
        if (
            exchange.case.stream
            and sum(1 for chunk in choice_chunks(exchange) if chunk.get("usage") is not None) != 1
        ):
            continue
        used = completion_tokens(usage_of(exchange))
        least = tokens_at_least(exchange)
        if used is None or least is None or len(_choice_outcomes(exchange)) < 2:
            continue  # no count, or a single choice (B2-choice-count and G4 judge that)
        judged.append(exchange.case.label)
        if used < least:
            problems.append(
                (
                    f"{exchange.case.label}: completion_tokens {used} for "
                    f"{len(_choice_outcomes(exchange))} choices that used at least {least}",
                    ctx.evidence(exchange, usage=usage_of(exchange), least_tokens=least),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not judged:
        raise CheckSkipped(
            "no answer with several choices reported completion_tokens",
            kind=SkipKind.NOT_APPLICABLE,
        )
    return f"judged on {', '.join(judged)}"
