"""Checks of group G: request features that change what the answer may contain.

Optional features (JSON mode, json_schema, logprobs, n > 1) are judged only when the
endpoint accepted them; a clean refusal is ``unsupported``. Every check here judges protocol
promises (JSON, limits, stop strings), never particular words of a model.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import (
    choice_chunks,
    streamed_finish_reasons,
    streamed_text,
)
from chatgauge.conformance._probes import ANSWER_SCHEMA
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
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
    content_of,
    fail_details,
    message_of,
    optional_body,
    requested_n,
    short,
)

SPEC_REQUEST = "openapi.yaml#/components/schemas/CreateChatCompletionRequest"
FENCE = "```"


def _single_choice(ctx: CheckContext, probe: str) -> tuple[ChatExchange, JSONObject]:
    """The first choice of an optional feature's answer (skip when there is none)."""
    exchange, body = answered_body(ctx, probe, optional=True)
    choices = choices_of(body)
    if not choices:
        raise CheckSkipped(f"probe {probe!r} has no choice (judged by B2)", ctx.evidence(exchange))
    return exchange, choices[0]


def _completed_content(ctx: CheckContext, probe: str) -> tuple[ChatExchange, str | None]:
    """The content of a structured-output answer that finished with ``stop``.

    A cut answer (``length``), one that ended otherwise, or a refusal (``message.refusal``
    set, content null) cannot be held to the format.
    """
    exchange, choice = _single_choice(ctx, probe)
    reason, content = choice.get("finish_reason"), content_of(choice)
    if reason != "stop":
        # Cut at the run's small max_tokens: the run could not judge; any other reason is
        # judged by B3.
        raise CheckSkipped(
            f"finish_reason is {short(reason)}; only a completed ('stop') answer must be JSON",
            ctx.evidence(exchange, finish_reason=reason),
            kind=SkipKind.RUN if reason == "length" else SkipKind.ENDPOINT,
        )
    refusal = message_of(choice).get("refusal")
    if content is None and isinstance(refusal, str) and refusal:
        raise CheckSkipped(
            f"the model refused: {short(refusal)}",
            ctx.evidence(exchange),
            kind=SkipKind.NOT_APPLICABLE,
        )
    return exchange, content


def _json_object(ctx: CheckContext, exchange: ChatExchange, content: str | None) -> JSONObject:
    """The content decoded as a JSON object, or a failure saying why it is not one."""
    evidence = ctx.evidence(exchange, content=content)
    if content is None:
        raise CheckFailed("finish_reason 'stop' but the content is not a string", evidence)
    if content.strip().startswith(FENCE):
        raise CheckFailed(f"the JSON is wrapped in a markdown fence: {short(content)}", evidence)
    try:
        decoded = parse_json(content)
    except ValueError as exc:
        raise CheckFailed(f"the content is not JSON ({exc}): {short(content)}", evidence) from None
    if not isinstance(decoded, dict):
        raise CheckFailed(
            f"the content is JSON {type(decoded).__name__}, not an object: {short(content)}",
            evidence,
        )
    return decoded


@check(
    "G1-json-mode",
    "JSON mode answers with a bare JSON object",
    tier=Tier.DEFACTO,
    spec_ref=SPEC_REQUEST,
)
def g1_json_mode(ctx: CheckContext) -> str | None:
    """With ``response_format: {"type": "json_object"}``, an answer that finished with
    ``stop`` has content that ``json.loads`` decodes to an object, without markdown fences
    (a server that silently ignores JSON mode fails here: FastFlowLM#554, 9router#288).
    """
    exchange, content = _completed_content(ctx, "json-mode")
    _json_object(ctx, exchange, content)
    return None


@check(
    "G2-json-schema",
    "json_schema output validates against the schema",
    tier=Tier.DEFACTO,
    spec_ref=SPEC_REQUEST,
)
def g2_json_schema(ctx: CheckContext) -> str | None:
    """With ``response_format`` ``json_schema`` and ``strict: true``, an answer that finished
    with ``stop`` is a JSON object valid against the given schema.
    """
    exchange, content = _completed_content(ctx, "json-schema")
    decoded = _json_object(ctx, exchange, content)
    errors = list(Draft202012Validator(ANSWER_SCHEMA).iter_errors(decoded))
    if errors:
        shown = [f"{e.json_path}: {e.message}" for e in errors[:3]]
        raise CheckFailed(
            f"the content violates the requested schema: {'; '.join(shown)}",
            ctx.evidence(exchange, content=content, schema_errors=shown),
        )
    return None


@check(
    "G4-n-stream",
    "A stream with n > 1 carries every choice to its finish",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g4_n_stream(ctx: CheckContext) -> str | None:
    """A streamed request with ``n`` = 3 delivers choices with exactly the indices 0..n-1,
    and once any choice finishes, every index gets its own finish_reason (a stream with no
    finish_reason at all is E4's matter; the non-streamed side is judged by
    B2-choice-count, B2-choice-index and B3).
    """
    exchange = ctx.answered("n3-stream", optional=True)
    n = requested_n(exchange)
    seen: set[Any] = set()
    for chunk in choice_chunks(exchange):
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, dict):
                seen.add(choice.get("index"))
    if not seen:
        raise CheckSkipped("the stream carried no choices (judged by groups D and E)")
    expected = set(range(n))
    finished = set(streamed_finish_reasons(exchange))
    problems = []
    if seen != expected:
        problems.append(f"n={n} but the stream carried choice indices {sorted(seen, key=repr)}")
    if finished and finished != expected:
        # No finish at all is an E4 matter; here some choices finish and others do not.
        problems.append(f"finish_reason arrived for indices {sorted(finished)} only")
    if problems:
        raise CheckFailed(
            "; ".join(problems),
            ctx.evidence(exchange, indices_seen=sorted(seen, key=repr)),
        )
    return None


def _answer(exchange: ChatExchange) -> tuple[str, Any]:
    """The text of choice 0 and its final finish_reason, streamed or not."""
    if exchange.case.stream:
        reasons = streamed_finish_reasons(exchange).get(0) or [None]
        return streamed_text(exchange), reasons[-1]
    body = exchange.json_or_none()
    choices = choices_of(body) if isinstance(body, dict) else []
    if not choices:
        return "", None
    return content_of(choices[0]) or "", choices[0].get("finish_reason")


def _stop_string(exchange: ChatExchange) -> str:
    stop = exchange.case.body.get("stop")
    return str(stop[0] if isinstance(stop, list) else stop)


def _unstopped_text(ctx: CheckContext) -> str | None:
    """The plain probe's answer: the same request without ``stop``."""
    answer = optional_body(ctx, "plain")
    choices = choices_of(answer[1]) if answer is not None else []
    return content_of(choices[0]) if choices else None


@check(
    "G5-stop-excluded",
    "The stop string never appears in the output",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g5_stop_excluded(ctx: CheckContext) -> str | None:
    """With ``stop``, generation ends before the stop string and the string is not part of
    the content, streamed or not (text-generation-inference#1724 leaked it; mlx-vlm#1044
    ignored ``stop``). The stop word is taken from the plain answer; when that answer does
    not contain it, the rule is not exercised and the check is skipped. A stream that ran
    on so long that chatgauge stopped reading it is judged on what was read.
    """
    unstopped = _unstopped_text(ctx)
    problems: list[tuple[str, Evidence]] = []
    exercised = False
    for exchange in ctx.answered_probes("stop", "stop-stream"):
        word = _stop_string(exchange)
        text, _ = _answer(exchange)
        if exchange.stopped_reading and word not in text:
            continue  # the stop string may still have come: not judged
        if word in text:
            problems.append(
                (
                    f"{exchange.case.label}: the stop string {word!r} appears in the output "
                    f"{short(text)}",
                    ctx.evidence(exchange, stop=word, text=text),
                )
            )
        exercised = exercised or (unstopped is not None and word in unstopped)
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not exercised:
        raise CheckSkipped(
            "the unstopped answer does not contain the stop string: not exercised",
            kind=SkipKind.NOT_APPLICABLE,
        )
    return None


@check(
    "G5-stop-finish",
    "finish_reason is 'stop' when a stop string ended the output",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g5_stop_finish(ctx: CheckContext) -> str | None:
    """When a stop string ended the output (the stopped text is the unstopped answer up to
    the stop string), the finish_reason is ``stop``, streamed or not. When the two answers
    diverge before that point the check cannot tell and skips; a missing or undocumented
    finish_reason is judged by B3 and E4.
    """
    unstopped = _unstopped_text(ctx)
    problems: list[tuple[str, Evidence]] = []
    judged = 0
    for exchange in ctx.answered_probes("stop", "stop-stream"):
        word = _stop_string(exchange)
        text, reason = _answer(exchange)
        if unstopped is None or word not in unstopped:
            continue
        if text.strip() != unstopped[: unstopped.index(word)].strip():
            continue  # not provably stopped by the stop string
        if reason not in FINISH_REASONS:
            continue  # a missing or undocumented reason is judged by B3 and E4
        judged += 1
        if reason != "stop":
            problems.append(
                (
                    f"{exchange.case.label}: the output ended at the stop string {word!r} "
                    f"but finish_reason is {short(reason)}",
                    ctx.evidence(exchange, stop=word, finish_reason=reason),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not judged:
        raise CheckSkipped(
            "no answer provably ended at the stop string", kind=SkipKind.NOT_APPLICABLE
        )
    return None
