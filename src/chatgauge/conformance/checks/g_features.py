"""Checks of group G: request features that change what the answer may contain.

Optional features (JSON mode, json_schema, logprobs, n > 1) are judged only when the
endpoint accepted them; a clean refusal is ``unsupported``. Every check here judges protocol
promises (JSON, limits, stop strings), never particular words of a model.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from jsonschema import Draft202012Validator

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import (
    choice_chunks,
    streamed_finish_reasons,
    streamed_text,
    usage_of,
)
from chatgauge.conformance._probes import ANSWER_SCHEMA
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
    is_number,
    message_of,
    optional_body,
    optional_exchange,
    requested_limit,
    requested_n,
    short,
)

SPEC_REQUEST = "openapi.yaml#/components/schemas/CreateChatCompletionRequest"
SPEC_LOGPROB = "openapi.yaml#/components/schemas/ChatCompletionTokenLogprob"
FENCE = "```"
MAX_BYTE = 255
# Float noise in a log-softmax can leave a certain token a hair above 0; no client cares.
LOGPROB_TOLERANCE = 1e-6


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


def _logprob_entries(ctx: CheckContext) -> tuple[ChatExchange, JSONObject, list[Any] | None]:
    """The logprobs probe, its first choice and ``logprobs.content`` when it is a list."""
    exchange, choice = _single_choice(ctx, "logprobs")
    logprobs = choice.get("logprobs")
    entries = logprobs.get("content") if isinstance(logprobs, dict) else None
    return exchange, choice, entries if isinstance(entries, list) else None


def _entries_or_skip(ctx: CheckContext) -> tuple[ChatExchange, list[Any]]:
    exchange, _, entries = _logprob_entries(ctx)
    if entries is None:
        raise CheckSkipped("no logprobs.content list (judged by G3-logprob-tokens)")
    return exchange, entries


def _concatenates(entries: list[Any], content: str) -> bool:
    """Whether the entries' tokens (or, failing that, their bytes) spell ``content``."""
    tokens = [e.get("token") if isinstance(e, dict) else None for e in entries]
    if "".join(t for t in tokens if isinstance(t, str)) == content and None not in tokens:
        return True
    # A character split over several tokens has partial text per token; its bytes join up.
    joined = bytearray()
    for entry in entries:
        piece = entry.get("bytes") if isinstance(entry, dict) else None
        if not _is_byte_list(piece):
            return False
        joined.extend(piece)
    return bytes(joined) == content.encode("utf-8")


def _is_byte_list(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= MAX_BYTE for b in value
    )


@check(
    "G3-logprob-tokens",
    "Logprob tokens spell the content",
    tier=Tier.SPEC,
    spec_ref=SPEC_LOGPROB,
)
def g3_logprob_tokens(ctx: CheckContext) -> str | None:
    """With ``logprobs: true``, ``choices[].logprobs.content`` is a list with one entry per
    generated token, and the entries' ``token`` strings (or their ``bytes``, for characters
    split over tokens) concatenate to the message content. Accepting ``logprobs`` and
    returning none is a failure.
    """
    exchange, choice, entries = _logprob_entries(ctx)
    content = content_of(choice) or ""
    evidence = ctx.evidence(exchange, content=content)
    if entries is None:
        if content:
            raise CheckFailed(
                f"logprobs were requested but choices[0].logprobs is "
                f"{short(choice.get('logprobs'))}",
                evidence,
            )
        raise CheckSkipped(
            "empty content and no logprobs: nothing to compare",
            evidence,
            kind=SkipKind.NOT_APPLICABLE,
        )
    if not _concatenates(entries, content):
        tokens = "".join(str(e.get("token", "")) if isinstance(e, dict) else "" for e in entries)
        raise CheckFailed(
            f"the tokens concatenate to {short(tokens)}, the content is {short(content)}",
            evidence,
        )
    return None


@check(
    "G3-logprob-values",
    "Log probabilities are <= 0, bytes are byte lists",
    tier=Tier.SPEC,
    spec_ref=SPEC_LOGPROB,
)
def g3_logprob_values(ctx: CheckContext) -> str | None:
    """Every ``logprob`` (of a token and of its ``top_logprobs`` alternatives) is a number
    <= 0 (float noise up to 1e-6 aside), and every ``bytes`` is null or a list of integers
    0..255.
    """
    exchange, entries = _entries_or_skip(ctx)
    problems: list[tuple[str, Evidence]] = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue  # judged by B1-schema
        alternatives = entry.get("top_logprobs")
        items = [(f"content[{position}]", entry)]
        if isinstance(alternatives, list):
            items += [
                (f"content[{position}].top_logprobs[{k}]", alt)
                for k, alt in enumerate(alternatives)
                if isinstance(alt, dict)
            ]
        for where, item in items:
            logprob, raw_bytes = item.get("logprob"), item.get("bytes")
            if not (is_number(logprob) and logprob <= LOGPROB_TOLERANCE):
                text = f"{where}.logprob is {short(logprob)}, expected a number <= 0"
                problems.append((text, ctx.evidence(exchange, entry=entry)))
            if raw_bytes is not None and not _is_byte_list(raw_bytes):
                text = f"{where}.bytes is {short(raw_bytes)}, expected null or a list of 0..255"
                problems.append((text, ctx.evidence(exchange, entry=entry)))
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    return None


@check(
    "G3-top-logprobs-count",
    "At most top_logprobs alternatives per token",
    tier=Tier.SPEC,
    spec_ref=SPEC_LOGPROB,
)
def g3_top_logprobs_count(ctx: CheckContext) -> str | None:
    """Each token's ``top_logprobs`` is a list of at most the requested ``top_logprobs``
    alternatives (fewer is allowed).
    """
    exchange, entries = _entries_or_skip(ctx)
    requested = exchange.case.body.get("top_logprobs")
    if not isinstance(requested, int):
        raise CheckSkipped("the probe did not request top_logprobs", kind=SkipKind.NOT_APPLICABLE)
    problems: list[tuple[str, Evidence]] = []
    for position, entry in enumerate(entries):
        alternatives = entry.get("top_logprobs") if isinstance(entry, dict) else None
        if not isinstance(alternatives, list):
            text = f"content[{position}].top_logprobs is {short(alternatives)}, expected a list"
        elif len(alternatives) > requested:
            text = (
                f"content[{position}] has {len(alternatives)} top_logprobs, requested {requested}"
            )
        else:
            continue
        problems.append((text, ctx.evidence(exchange, entry=entry)))
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
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


def _answered_any(ctx: CheckContext, *probes: str) -> list[ChatExchange]:
    """The exchanges of the probes answered with 200; re-raise the first refusal if none."""
    found, first_outcome = [], None
    for name in probes:
        try:
            found.append(ctx.answered(name))
        except CheckOutcome as outcome:
            if isinstance(outcome, CheckSkipped) and outcome.kind is SkipKind.RUN:
                raise  # the run could not get the answer: judging the others is partial
            first_outcome = first_outcome or outcome
    if not found and first_outcome is not None:
        raise first_outcome
    return found


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
    not contain it, the rule is not exercised and the check is skipped.
    """
    unstopped = _unstopped_text(ctx)
    problems: list[tuple[str, Evidence]] = []
    exercised = False
    for exchange in _answered_any(ctx, "stop", "stop-stream"):
        word = _stop_string(exchange)
        text, _ = _answer(exchange)
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
    for exchange in _answered_any(ctx, "stop", "stop-stream"):
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


def _over_limit(exchange: ChatExchange, limit: int) -> str | None:
    """Why the answer is longer than ``limit`` completion tokens, or ``None``.

    A non-streamed answer is judged by its usage. A stream is judged over the limit only
    when every signal it gives says so: its usage, when reported, and its non-empty content
    events of choice 0 (a lower bound on tokens when each event carries at least one). A
    streamed usage that disagrees with the text is C3's matter, a re-chunking proxy's many
    small events are no violation.
    """
    used = completion_tokens(usage_of(exchange))
    if not exchange.case.stream:
        return f"{used} completion tokens" if used is not None and used > limit else None
    events = 0
    for chunk in choice_chunks(exchange):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and choice.get("index") == 0 and delta.get("content"):
                events += 1
    if events <= limit or (used is not None and used <= limit):
        return None
    reported = f"{used} completion tokens" if used is not None else "no usage"
    return f"{events} content events ({reported})"


def _judge_limits(ctx: CheckContext, exchanges: list[ChatExchange], field: str) -> None:
    """Fail when an answer exceeds its limit; skip when no answer could be measured."""
    problems: list[tuple[str, Evidence]] = []
    measured = 0
    for exchange in exchanges:
        limit = requested_limit(exchange)
        if limit is None:
            continue
        if not exchange.case.stream and completion_tokens(usage_of(exchange)) is None:
            continue  # a non-streamed answer without usage cannot be measured
        measured += 1
        limit *= requested_n(exchange)
        excess = _over_limit(exchange, limit)
        if excess:
            problems.append(
                (
                    f"{exchange.case.label}: {excess} for {field} {limit}",
                    ctx.evidence(exchange, limit=limit, usage=usage_of(exchange)),
                )
            )
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)
    if not measured:
        raise CheckSkipped(
            "no answer reported usage.completion_tokens to compare", kind=SkipKind.CAPABILITY
        )


@check(
    "G6-max-tokens",
    "Output stays within max_tokens",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g6_max_tokens(ctx: CheckContext) -> str | None:
    """A completion never uses more than ``max_tokens`` tokens per choice (``n *
    max_tokens`` in total), streamed or not. Whether a cut answer says ``length`` is judged
    by B4-length-finish.
    """
    exchanges = [ctx.answered("cut")]
    exchanges += [e for e in (optional_exchange(ctx, p) for p in ("n3", "cut-stream")) if e]
    _judge_limits(ctx, exchanges, "max_tokens")
    return None


@check(
    "G6-max-completion-tokens",
    "Output stays within max_completion_tokens",
    tier=Tier.SPEC,
    spec_ref=SPEC_REQUEST,
)
def g6_max_completion_tokens(ctx: CheckContext) -> str | None:
    """``max_completion_tokens`` (the current name of ``max_tokens``) is honoured like it:
    the completion uses at most that many tokens (llama-cpp-python#1907 ignored it).
    """
    exchange = ctx.answered("cut-completion-tokens")
    _judge_limits(ctx, [exchange], "max_completion_tokens")
    return None
