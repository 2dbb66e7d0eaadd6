"""Checks of group B: the non-streamed response body.

B1 validates whole bodies against the derived response schema; B2-B4 judge what a schema
cannot say (values near now, ``len(choices) == n``, finish reasons coherent with usage,
tool call arguments as JSON text). Bodies that are not JSON objects are judged by B1 only.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckOutcome,
    CheckSkipped,
    Evidence,
    SkipKind,
    Tier,
)
from chatgauge.conformance.checks._bodies import (
    FINISH_REASONS,
    JSONObject,
    answered_body,
    choices_of,
    completion_tokens,
    content_of,
    fail_details,
    message_of,
    requested_limit,
    requested_n,
    short,
)
from chatgauge.schemas import validator

SPEC_RESPONSE = "openapi.yaml#/components/schemas/CreateChatCompletionResponse"
SPEC_MESSAGE = "openapi.yaml#/components/schemas/ChatCompletionResponseMessage"
SPEC_TOOL_CALL = "openapi.yaml#/components/schemas/ChatCompletionMessageToolCall"

# Non-streamed probes whose bodies B1 validates; the first is required, the rest are
# optional features judged when answered.
SCHEMA_PROBES = ("plain", "n3", "cut", "logprobs", "tools", "json-mode", "json-schema")
SCHEMA_ERRORS_SHOWN = 5
SCHEMA_MESSAGE_CHARS = 200
# `created` must be within this many seconds of our clock: generous for clock skew, tight
# enough to catch milliseconds or a constant placeholder.
CREATED_TOLERANCE_S = 86_400
# Answers that end in each way: naturally or at a stop string, cut, and with tool calls.
FINISH_PROBES = ("stop", "cut", "n3", "tools", "json-mode", "json-schema", "logprobs")
# Probes with a limit (3) so small that a completion of exactly that length was cut. At the
# run's larger limit a model may well stop naturally on the last allowed token, so there
# only the other direction ('length' claimed below the limit) is judged.
CUT_PROBES = ("cut", "cut-completion-tokens")


def _bodies(ctx: CheckContext, first: str, *more: str) -> list[tuple[ChatExchange, JSONObject]]:
    """The JSON object bodies of the probes answered with 200, in order.

    ``first`` is a plain request, the others may be optional features; the check judges
    every body it got and ends with the first probe's outcome only when it got none.
    """
    found: list[tuple[ChatExchange, JSONObject]] = []
    first_outcome: CheckOutcome | None = None
    for name in (first, *more):
        try:
            found.append(answered_body(ctx, name, optional=name != first))
        except CheckOutcome as outcome:
            if isinstance(outcome, CheckSkipped) and outcome.kind is SkipKind.RUN:
                raise  # the run could not get this answer: judging the rest is partial
            first_outcome = first_outcome or outcome
    if not found and first_outcome is not None:
        raise first_outcome
    return found


def _no_choices(ctx: CheckContext, bodies: list[tuple[ChatExchange, JSONObject]]) -> CheckSkipped:
    labels = ", ".join(exchange.case.label for exchange, _ in bodies)
    return CheckSkipped(
        f"no answer among {labels} has a choice to judge (judged by B1-schema and B2-choice-count)",
        *(ctx.evidence(exchange) for exchange, _ in bodies),
    )


@check(
    "B1-schema",
    "Non-streamed body validates against the response schema",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b1_schema(ctx: CheckContext) -> str | None:
    """A 200 non-streamed body is a JSON object that validates against
    CreateChatCompletionResponse (nullable fields normalized). The strict tier (--strict)
    also requires ``message.refusal`` and ``choices[].logprobs``; the default compat tier
    tolerates their absence.
    """
    tier: Literal["strict", "compat"] = "strict" if ctx.settings.strict else "compat"
    schema = validator("chat_completion_response", tier)
    first, *more = SCHEMA_PROBES
    exchanges = ctx.answered_probes(first, *more, optional=more)
    problems: list[tuple[str, Evidence]] = []
    for exchange in exchanges:
        name = exchange.case.label
        body = exchange.json_or_none()
        if not isinstance(body, dict):
            problems.append((f"{name}: the body is not a JSON object", ctx.evidence(exchange)))
            continue
        errors = sorted(schema.iter_errors(body), key=lambda e: [str(p) for p in e.path])
        if not errors:
            continue
        shown = [
            f"{e.json_path}: {e.message[:SCHEMA_MESSAGE_CHARS]}"
            for e in errors[:SCHEMA_ERRORS_SHOWN]
        ]
        evidence = ctx.evidence(exchange, tier=tier, schema_errors=shown)
        problems.extend((f"{name}: {text}", evidence) for text in shown)
    if problems:
        message, evidence_items = fail_details(problems)
        raise CheckFailed(f"{tier} schema: {message}", *evidence_items)
    judged = ", ".join(e.case.label for e in exchanges)
    return f"the {tier} schema holds for probes {judged}"


@check(
    "B2-object",
    "object is 'chat.completion'",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b2_object(ctx: CheckContext) -> str | None:
    """A non-streamed response says ``"object": "chat.completion"``; clients dispatch on it
    (``chat.completion.chunk`` belongs to streams only).
    """
    exchange, body = answered_body(ctx, "plain")
    if body.get("object") != "chat.completion":
        raise CheckFailed(
            f"object is {short(body.get('object'))}, expected 'chat.completion'",
            ctx.evidence(exchange, object=body.get("object")),
        )
    return None


@check(
    "B2-metadata",
    "id, created and model are well-formed",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b2_metadata(ctx: CheckContext) -> str | None:
    """``id`` is a non-empty string, ``created`` an integer Unix time in seconds near the
    current time (within a day, for clock skew) and ``model`` a string.
    """
    exchange, body = answered_body(ctx, "plain")
    problems: list[str] = []
    response_id, created, model = body.get("id"), body.get("created"), body.get("model")
    if not isinstance(response_id, str) or not response_id:
        problems.append(f"id is {short(response_id)}, expected a non-empty string")
    if not isinstance(created, int) or isinstance(created, bool):
        problems.append(f"created is {short(created)}, expected integer seconds")
    elif abs(created - time.time()) > CREATED_TOLERANCE_S:
        problems.append(f"created is {created}, more than a day away from now ({int(time.time())})")
    if not isinstance(model, str):
        problems.append(f"model is {short(model)}, expected a string")
    if problems:
        raise CheckFailed(
            "; ".join(problems),
            ctx.evidence(exchange, id=response_id, created=created, model=model),
        )
    return None


@check(
    "B2-choice-count",
    "One choice per requested n",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b2_choice_count(ctx: CheckContext) -> str | None:
    """``choices`` is a list with exactly ``n`` entries (1 when ``n`` is absent). Ignoring
    ``n`` (llama-cpp-python#1906, lmdeploy#1787, text-generation-inference#2914) is judged
    here when the endpoint accepts ``n > 1``.
    """
    problems: list[tuple[str, Evidence]] = []
    for exchange, body in _bodies(ctx, "plain", "n3"):
        n, choices = requested_n(exchange), body.get("choices")
        count = len(choices) if isinstance(choices, list) else None
        if count != n:
            got = f"{count} choices" if count is not None else f"choices {short(choices)}"
            problems.append(
                (f"{exchange.case.label}: n={n} but {got}", ctx.evidence(exchange, n=n))
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    return None


@check(
    "B2-choice-index",
    "Choice indices are exactly 0..n-1",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b2_choice_index(ctx: CheckContext) -> str | None:
    """The ``index`` values of the choices are integers forming exactly 0..len(choices)-1,
    each once; clients use them to place each answer.
    """
    problems: list[tuple[str, Evidence]] = []
    bodies = _bodies(ctx, "plain", "n3")
    if not any(isinstance(body.get("choices"), list) for _, body in bodies):
        raise _no_choices(ctx, bodies)
    for exchange, body in bodies:
        choices = body.get("choices")
        if not isinstance(choices, list):
            continue  # judged by B1-schema and B2-choice-count
        indices = [c.get("index") if isinstance(c, dict) else None for c in choices]
        if sorted(map(str, indices)) != sorted(map(str, range(len(choices)))) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in indices
        ):
            problems.append(
                (
                    f"{exchange.case.label}: indices {short(indices)}, "
                    f"expected {list(range(len(choices)))}",
                    ctx.evidence(exchange, indices=indices),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    return None


@check(
    "B2-message",
    "Each message is from the assistant, content a string or null",
    tier=Tier.SPEC,
    spec_ref=SPEC_MESSAGE,
)
def b2_message(ctx: CheckContext) -> str | None:
    """Every choice has a ``message`` object with ``role: "assistant"`` and ``content``
    either a string or null (never an array or an object).
    """
    problems: list[tuple[str, Evidence]] = []
    bodies = _bodies(ctx, "plain", "n3")
    if not any(choices_of(body) for _, body in bodies):
        raise _no_choices(ctx, bodies)
    for exchange, body in bodies:
        for position, choice in enumerate(choices_of(body)):
            message = choice.get("message")
            where = f"{exchange.case.label}: choices[{position}].message"
            if not isinstance(message, dict):
                problems.append((f"{where} is {short(message)}", ctx.evidence(exchange)))
                continue
            role, content = message.get("role"), message.get("content")
            if role != "assistant":
                problems.append((f"{where}.role is {short(role)}", ctx.evidence(exchange)))
            if content is not None and not isinstance(content, str):
                problems.append((f"{where}.content is {short(content)}", ctx.evidence(exchange)))
    if problems:
        message_text, evidence = fail_details(problems)
        raise CheckFailed(message_text, *evidence)
    return None


@check(
    "B3-finish-reason",
    "finish_reason is one of the documented values",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b3_finish_reason(ctx: CheckContext) -> str | None:
    """Every non-streamed choice has a ``finish_reason`` among ``stop``, ``length``,
    ``tool_calls``, ``content_filter`` and ``function_call``; never null, an empty string
    or an engine-specific value such as ``eos``.
    """
    problems: list[tuple[str, Evidence]] = []
    bodies = _bodies(ctx, "plain", *FINISH_PROBES)
    if not any(choices_of(body) for _, body in bodies):
        raise _no_choices(ctx, bodies)
    for exchange, body in bodies:
        for position, choice in enumerate(choices_of(body)):
            reason = choice.get("finish_reason")
            if not isinstance(reason, str) or reason not in FINISH_REASONS:
                problems.append(
                    (
                        f"{exchange.case.label}: choices[{position}].finish_reason is "
                        f"{short(reason)}",
                        ctx.evidence(exchange, finish_reason=reason),
                    )
                )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    return None


@check(
    "B4-length-finish",
    "finish_reason 'length' exactly when the token limit was hit",
    tier=Tier.SPEC,
    spec_ref=SPEC_RESPONSE,
)
def b4_length_finish(ctx: CheckContext) -> str | None:
    """Coherence of finish_reason and usage for one choice: a completion cut at a small
    ``max_tokens`` / ``max_completion_tokens`` (3) — ``completion_tokens`` equal to the
    limit — says ``length``; a completion that says ``length`` used exactly the limit.
    Whether the limit is honoured at all is judged by G6.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = with_usage = 0
    for exchange, body in _bodies(ctx, "cut", "cut-completion-tokens", "plain"):
        choices, limit = choices_of(body), requested_limit(exchange)
        used = completion_tokens(_usage(body))
        with_usage += used is not None
        if len(choices) != 1 or limit is None or used is None:
            continue  # n, usage and limits are judged elsewhere; nothing to compare here
        judged += 1
        reason, label = choices[0].get("finish_reason"), exchange.case.label
        detail = {"limit": limit, "completion_tokens": used, "finish_reason": reason}
        if label in CUT_PROBES and used == limit and reason != "length":
            problems.append(
                (
                    f"{label}: {used} completion tokens reached the limit {limit} "
                    f"but finish_reason is {short(reason)}",
                    ctx.evidence(exchange, **detail),
                )
            )
        elif reason == "length" and used < limit:
            problems.append(
                (
                    f"{label}: finish_reason 'length' but only {used} of {limit} "
                    "completion tokens were used",
                    ctx.evidence(exchange, **detail),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not judged:
        # No usage at all: a capability the endpoint lacks; otherwise n or the limits made
        # every answer unfit, which B2 and G6 judge.
        raise CheckSkipped(
            "no single-choice response reported completion_tokens to compare",
            kind=SkipKind.ENDPOINT if with_usage else SkipKind.CAPABILITY,
        )
    return None


@check(
    "B4-tool-calls",
    "Tool calls are present when announced or required",
    tier=Tier.SPEC,
    spec_ref=SPEC_TOOL_CALL,
)
def b4_tool_calls(ctx: CheckContext) -> str | None:
    """``finish_reason: "tool_calls"`` comes with a non-empty ``message.tool_calls``; with
    ``tool_choice: "required"`` the message calls a tool. A cut answer (``length``) with
    no call and no text may have been cut inside its call and is excused; a cut answer of
    plain text is not, since "required" rules out a text answer wherever it ends (a server
    that ignores ``tools`` rambles until the limit). (OpenAI itself answers ``stop`` for a
    named tool_choice, so the reason alone is not required to be ``tool_calls``.)
    """
    exchange, body = answered_body(ctx, "tools", optional=True)
    required = exchange.case.body.get("tool_choice") == "required"
    if not choices_of(body):
        raise _no_choices(ctx, [(exchange, body)])
    problems: list[tuple[str, Evidence]] = []
    for position, choice in enumerate(choices_of(body)):
        reason, calls = choice.get("finish_reason"), message_of(choice).get("tool_calls")
        has_calls = isinstance(calls, list) and len(calls) > 0
        where = f"choices[{position}]"
        evidence = ctx.evidence(exchange, finish_reason=reason, tool_calls=calls)
        if reason == "tool_calls" and not has_calls:
            problems.append(
                (f"{where}: finish_reason 'tool_calls' but tool_calls is {short(calls)}", evidence)
            )
        elif required and not has_calls and (reason != "length" or _has_text(choice)):
            problems.append(
                (
                    f"{where}: tool_choice 'required' but no tool call (tool_calls "
                    f"{short(calls)}, finish_reason {short(reason)})",
                    evidence,
                )
            )
    if problems:
        message, evidence_items = fail_details(problems)
        raise CheckFailed(message, *evidence_items)
    return None


@check(
    "B4-tool-arguments",
    "Tool call arguments are a JSON string encoding an object",
    tier=Tier.SPEC,
    spec_ref=SPEC_TOOL_CALL,
)
def b4_tool_arguments(ctx: CheckContext) -> str | None:
    """Each ``tool_calls[].function.arguments`` is a string (not an already-decoded object)
    whose text parses with ``json.loads`` to a JSON object; clients decode it themselves
    (llama.cpp#20198 sent an object).
    """
    exchange, body = answered_body(ctx, "tools", optional=True)
    problems: list[tuple[str, Evidence]] = []
    calls_seen = 0
    for position, choice in enumerate(choices_of(body)):
        calls = message_of(choice).get("tool_calls")
        if choice.get("finish_reason") == "length" or not isinstance(calls, list):
            continue  # a cut call may be incomplete; absent calls are judged by B4-tool-calls
        for number, call in enumerate(calls):
            calls_seen += 1
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            problem = _arguments_problem(arguments)
            if problem:
                where = f"choices[{position}].message.tool_calls[{number}].function.arguments"
                problems.append((f"{where} {problem}", ctx.evidence(exchange, arguments=arguments)))
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not calls_seen:
        raise CheckSkipped(
            "the tools probe got no complete tool call to judge", ctx.evidence(exchange)
        )
    return None


def _arguments_problem(arguments: Any) -> str | None:
    """Why ``arguments`` is not JSON text of an object, or ``None`` when it is."""
    if not isinstance(arguments, str):
        return f"is {short(arguments)}, not a string"
    try:
        decoded = parse_json(arguments)
    except ValueError as exc:
        return f"is not valid JSON ({exc}): {short(arguments)}"
    if not isinstance(decoded, dict):
        return f"decodes to {type(decoded).__name__}, not an object: {short(arguments)}"
    return None


def _has_text(choice: JSONObject) -> bool:
    """Whether the message holds text beyond whitespace."""
    return bool((content_of(choice) or "").strip())


def _usage(body: JSONObject) -> JSONObject | None:
    usage = body.get("usage")
    return usage if isinstance(usage, dict) else None
