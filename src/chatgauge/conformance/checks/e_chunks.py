"""Group E: the meaning of stream chunks, per choice index, across the whole stream.

Every check judges the streams among its probes that were answered with 200 (a refused
``n=3`` stream leaves the plain one to judge) and skips when it judged nothing. Rules about
how a stream ends leave out a stream chatgauge stopped reading early (a limit probe that
ran far past its limit; G6 judges that).
"""

from __future__ import annotations

import json
from typing import Any

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import choice_chunks, schema_errors, streamed_text
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckSkipped,
    CheckWarning,
    Severity,
    SkipKind,
    Tier,
)

CHUNK_PROBES = ("plain-stream", "stream-no-usage", "cut-stream")
ROLE_PROBES = ("plain-stream", "n3-stream")
FINISH_PROBES = ("plain-stream", "cut-stream", "n3-stream")
USAGE_PROBES = ("plain-stream", "cut-stream", "n3-stream")
# n > 1 is an optional feature: its stream may be refused cleanly.
OPTIONAL = frozenset({"n3-stream"})


def _answered_streams(
    ctx: CheckContext, names: tuple[str, ...], *, whole: bool = False
) -> list[ChatExchange]:
    """The answered streams among ``names``; with ``whole``, only those read to their end."""
    found = ctx.answered_probes(*names, optional=OPTIONAL)
    if whole:
        found = [ex for ex in found if not ex.stopped_reading]
        if not found:
            raise CheckSkipped("every stream was read only in part (judged by G6)")
    return found


def _nothing_judged(ctx: CheckContext, what: str, streams: list[ChatExchange]) -> CheckSkipped:
    labels = ", ".join(ex.case.label for ex in streams)
    return CheckSkipped(
        f"{what} in the streams {labels} (judged by groups D and E's other checks)",
        *(ctx.evidence(ex) for ex in streams),
    )


def _note(names: tuple[str, ...], streams: list[ChatExchange], judged: str) -> str:
    return judged + CheckContext.left_out(names, streams)


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return []
    return [c for c in choices if isinstance(c, dict)]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


@check(
    "E1-chunk-schema",
    "Chunks validate against the stream-chunk schema",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="CreateChatCompletionStreamResponse",
)
def chunk_schema(ctx: CheckContext) -> str | None:
    """Every chunk validates against the OpenAPI ``CreateChatCompletionStreamResponse``
    schema (nullable-normalized; the compat tier unless ``--strict``)."""
    tier = "strict" if ctx.settings.strict else "compat"
    streams = _answered_streams(ctx, CHUNK_PROBES)
    judged = 0
    for exchange in streams:
        for position, chunk in enumerate(choice_chunks(exchange)):
            judged += 1
            errors = schema_errors("chat_completion_chunk", chunk, strict=ctx.settings.strict)
            if errors:
                raise CheckFailed(
                    f"chunk {position} does not validate ({tier} tier): {errors[0]}",
                    ctx.evidence(exchange, chunk=chunk, errors=errors[:5]),
                )
    if not judged:
        raise _nothing_judged(ctx, "no JSON chunk", streams)
    return _note(CHUNK_PROBES, streams, f"{judged} chunks validate ({tier} tier)")


@check(
    "E1-chunk-object",
    'Every chunk has object "chat.completion.chunk"',
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="CreateChatCompletionStreamResponse.object",
)
def chunk_object(ctx: CheckContext) -> str | None:
    """Every stream chunk carries ``"object": "chat.completion.chunk"``."""
    streams = _answered_streams(ctx, CHUNK_PROBES)
    judged = 0
    for exchange in streams:
        for position, chunk in enumerate(choice_chunks(exchange)):
            judged += 1
            if chunk.get("object") != "chat.completion.chunk":
                raise CheckFailed(
                    f"chunk {position} has object {chunk.get('object')!r}",
                    ctx.evidence(exchange, chunk=chunk),
                )
    if not judged:
        raise _nothing_judged(ctx, "no JSON chunk", streams)
    return _note(CHUNK_PROBES, streams, f"{judged} chunks judged")


@check(
    "E2-stable-identity",
    "id, created and model are the same in every chunk",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="CreateChatCompletionStreamResponse",
)
def stable_identity(ctx: CheckContext) -> str | None:
    """All chunks of one stream share the same ``id``, ``created`` and ``model``: clients
    use them to tell which completion a chunk belongs to."""
    streams = _answered_streams(ctx, CHUNK_PROBES)
    judged = 0
    for exchange in streams:
        chunks = choice_chunks(exchange)
        if len(chunks) < 2:
            continue
        first = chunks[0]
        judged += len(chunks) - 1
        for position, chunk in enumerate(chunks[1:], start=1):
            for key in ("id", "created", "model"):
                if chunk.get(key) != first.get(key):
                    raise CheckFailed(
                        f"chunk {position} has {key} {chunk.get(key)!r}, "
                        f"the first chunk had {first.get(key)!r}",
                        ctx.evidence(exchange, first=first, chunk=chunk),
                    )
    if not judged:
        raise _nothing_judged(ctx, "no stream had two chunks to compare", streams)
    return _note(CHUNK_PROBES, streams, f"{judged} chunks compared with the first")


@check(
    "E2-nonempty-id",
    "Chunk ids are non-empty strings",
    tier=Tier.SPEC,
    severity=Severity.MINOR,
    spec_ref="CreateChatCompletionStreamResponse.id",
)
def nonempty_id(ctx: CheckContext) -> str | None:
    """Every chunk's ``id`` is a non-empty string."""
    streams = _answered_streams(ctx, CHUNK_PROBES)
    judged = 0
    for exchange in streams:
        for position, chunk in enumerate(choice_chunks(exchange)):
            judged += 1
            value = chunk.get("id")
            if not isinstance(value, str) or not value:
                raise CheckFailed(
                    f"chunk {position} has id {value!r}", ctx.evidence(exchange, chunk=chunk)
                )
    if not judged:
        raise _nothing_judged(ctx, "no JSON chunk", streams)
    return _note(CHUNK_PROBES, streams, f"{judged} chunk ids judged")


def _deltas_by_index(exchange: ChatExchange) -> dict[int, list[dict[str, Any]]]:
    deltas: dict[int, list[dict[str, Any]]] = {}
    for chunk in choice_chunks(exchange):
        for choice in _choices(chunk):
            index = choice.get("index")
            delta = choice.get("delta")
            if isinstance(index, int) and isinstance(delta, dict):
                deltas.setdefault(index, []).append(delta)
    return deltas


@check(
    "E3-role-first",
    'The first delta of each choice has role "assistant"',
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="ChatCompletionStreamResponseDelta",
)
def role_first(ctx: CheckContext) -> str | None:
    """For every choice index, the first delta carries ``"role": "assistant"`` (clients
    build the message from it). Judged on the plain stream and, when answered, the n=3
    stream."""
    streams = _answered_streams(ctx, ROLE_PROBES)
    judged = 0
    for exchange in streams:
        for index, deltas in sorted(_deltas_by_index(exchange).items()):
            judged += 1
            if deltas[0].get("role") != "assistant":
                raise CheckFailed(
                    f"the first delta of choice {index} has role {deltas[0].get('role')!r}: "
                    f"{_short(deltas[0])}",
                    ctx.evidence(exchange),
                )
    if not judged:
        raise _nothing_judged(ctx, "no choice delta", streams)
    return _note(ROLE_PROBES, streams, f"{judged} choices judged")


@check(
    "E3-role-once",
    "The role is not repeated in later deltas",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="litellm#9986",
)
def role_once(ctx: CheckContext) -> str | None:
    """Only the first delta of a choice carries ``role``: accumulating clients (such as
    openai-python's stream helpers) concatenate a repeated role into "assistantassistant"."""
    streams = _answered_streams(ctx, ROLE_PROBES)
    judged = 0
    for exchange in streams:
        for index, deltas in sorted(_deltas_by_index(exchange).items()):
            judged += 1
            repeats = sum(1 for d in deltas[1:] if d.get("role") is not None)
            if repeats:
                raise CheckFailed(
                    f"choice {index} repeats role in {repeats} later delta(s)",
                    ctx.evidence(exchange),
                )
    if not judged:
        raise _nothing_judged(ctx, "no choice delta", streams)
    return _note(ROLE_PROBES, streams, f"{judged} choices judged")


def _finish_timeline(exchange: ChatExchange) -> dict[int, list[tuple[Any, dict[str, Any]]]]:
    timeline: dict[int, list[tuple[Any, dict[str, Any]]]] = {}
    for chunk in choice_chunks(exchange):
        for choice in _choices(chunk):
            index = choice.get("index")
            if isinstance(index, int):
                delta = choice.get("delta")
                timeline.setdefault(index, []).append(
                    (choice.get("finish_reason"), delta if isinstance(delta, dict) else {})
                )
    return timeline


@check(
    "E4-one-finish-reason",
    "Exactly one finish_reason per choice",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="CreateChatCompletionStreamResponse.choices",
)
def one_finish_reason(ctx: CheckContext) -> str | None:
    """Per choice index, ``finish_reason`` is null in every chunk but exactly one, where it
    is a real reason (not "" and not missing from the stream). Judged on the streams read
    to their end."""
    streams = _answered_streams(ctx, FINISH_PROBES, whole=True)
    judged = 0
    for exchange in streams:
        for index, steps in sorted(_finish_timeline(exchange).items()):
            judged += 1
            reasons = [reason for reason, _ in steps if reason is not None]
            if len(reasons) != 1:
                raise CheckFailed(
                    f"choice {index} has {len(reasons)} non-null finish_reason values: {reasons!r}",
                    ctx.evidence(exchange),
                )
            if not isinstance(reasons[0], str) or not reasons[0]:
                raise CheckFailed(
                    f"choice {index} finished with finish_reason {reasons[0]!r}",
                    ctx.evidence(exchange),
                )
    if not judged:
        raise _nothing_judged(ctx, "no choice", streams)
    return _note(FINISH_PROBES, streams, f"{judged} choices judged")


@check(
    "E4-nothing-after-finish",
    "No content for a choice after its finish_reason",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="CreateChatCompletionStreamResponse",
)
def nothing_after_finish(ctx: CheckContext) -> str | None:
    """Once a choice's ``finish_reason`` was sent, no later delta for that index carries
    content, a refusal or tool calls."""
    streams = _answered_streams(ctx, FINISH_PROBES)
    judged = 0
    for exchange in streams:
        for index, steps in sorted(_finish_timeline(exchange).items()):
            judged += any(reason is not None for reason, _ in steps)
            finished = False
            for reason, delta in steps:
                if finished and (
                    delta.get("content") or delta.get("tool_calls") or delta.get("refusal")
                ):
                    raise CheckFailed(
                        f"choice {index} got a delta after its finish_reason: {_short(delta)}",
                        ctx.evidence(exchange),
                    )
                finished = finished or reason is not None
    if not judged:
        raise _nothing_judged(ctx, "no choice finished", streams)
    return _note(FINISH_PROBES, streams, f"{judged} finished choices judged")


@check(
    "E5-tool-call-deltas",
    "Streamed tool calls are well-formed fragments",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="ChatCompletionMessageToolCallChunk",
)
def tool_call_deltas(ctx: CheckContext) -> str | None:
    """Every streamed tool-call fragment has an integer ``index``; the first fragment of a
    call carries its ``id``, ``type: "function"`` and a non-empty function name; the
    ``arguments`` fragments of a call concatenate to a JSON document."""
    exchange = ctx.answered("tools-stream", optional=True)
    calls: dict[tuple[int, int], dict[str, Any]] = {}
    for delta_index, deltas in sorted(_deltas_by_index(exchange).items()):
        for delta in deltas:
            for fragment in delta.get("tool_calls") or []:
                if (
                    not isinstance(fragment, dict)
                    or not isinstance(fragment.get("index"), int)
                    or isinstance(fragment.get("index"), bool)
                ):
                    raise CheckFailed(
                        f"tool-call fragment without an integer index: {_short(fragment)}",
                        ctx.evidence(exchange),
                    )
                key = (delta_index, fragment["index"])
                raw_function = fragment.get("function")
                function: dict[str, Any] = raw_function if isinstance(raw_function, dict) else {}
                if key not in calls:
                    name = function.get("name")
                    if (
                        not fragment.get("id")
                        or fragment.get("type") != "function"
                        or not (isinstance(name, str) and name)
                    ):
                        raise CheckFailed(
                            'the first fragment of a tool call lacks id, type "function" '
                            f"or a function name: {_short(fragment)}",
                            ctx.evidence(exchange),
                        )
                    calls[key] = {"name": name, "arguments": ""}
                arguments = function.get("arguments")
                if arguments is not None and not isinstance(arguments, str):
                    raise CheckFailed(
                        f"tool-call arguments fragment is not a string: {_short(arguments)}",
                        ctx.evidence(exchange),
                    )
                calls[key]["arguments"] += arguments or ""
    if not calls:
        raise CheckFailed(
            'tool_choice "required" was sent but the stream carried no tool call',
            ctx.evidence(exchange),
        )
    for (choice, call), state in sorted(calls.items()):
        try:
            parse_json(state["arguments"])
        except ValueError:
            raise CheckFailed(
                f"tool call {call} of choice {choice}: arguments fragments join to invalid "
                f"JSON {state['arguments'][:200]!r}",
                ctx.evidence(exchange),
            ) from None
    return f"{len(calls)} tool call(s) well-formed"


@check(
    "E6-usage-chunk",
    "include_usage gives exactly one usage chunk, last",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="ChatCompletionStreamOptions",
)
def usage_chunk(ctx: CheckContext) -> str | None:
    """With ``stream_options.include_usage: true`` exactly one chunk carries a usage
    object; it has ``choices: []`` and comes after every choice chunk, so after every
    choice finished, before ``[DONE]``. Every other chunk has ``usage`` null or absent.
    Judged on one and on three choices (n=3, when answered): one usage chunk per choice
    breaks the rule."""
    streams = _answered_streams(ctx, USAGE_PROBES, whole=True)
    for exchange in streams:
        chunks = choice_chunks(exchange)
        with_usage = [i for i, c in enumerate(chunks) if c.get("usage") is not None]
        if len(with_usage) != 1:
            raise CheckFailed(
                f"{len(with_usage)} chunk(s) carry usage; exactly one was expected",
                ctx.evidence(exchange),
            )
        position = with_usage[0]
        chunk = chunks[position]
        if chunk.get("choices") != []:
            raise CheckFailed(
                f"the usage chunk has choices {_short(chunk.get('choices'))}, not []",
                ctx.evidence(exchange, chunk=chunk),
            )
        if position != len(chunks) - 1:
            raise CheckFailed(
                f"the usage chunk is chunk {position} of {len(chunks)}; choice chunks follow it",
                ctx.evidence(exchange, chunk=chunk),
            )
    return _note(USAGE_PROBES, streams, f"{len(streams)} streams judged")


@check(
    "E6-no-unrequested-usage",
    "No usage in a stream that did not ask for it",
    tier=Tier.DEFACTO,
    severity=Severity.MINOR,
    spec_ref="ChatCompletionStreamOptions",
)
def no_unrequested_usage(ctx: CheckContext) -> str | None:
    """Without ``stream_options.include_usage`` no chunk carries a usage object
    (``"usage": null`` is fine)."""
    exchange = ctx.answered("stream-no-usage")
    chunks = choice_chunks(exchange)
    if not chunks:
        raise _nothing_judged(ctx, "no JSON chunk", [exchange])
    for position, chunk in enumerate(chunks):
        if chunk.get("usage") is not None:
            raise CheckFailed(
                f"chunk {position} carries usage {_short(chunk.get('usage'))} "
                "although include_usage was not requested",
                ctx.evidence(exchange, chunk=chunk),
            )
    return f"{len(chunks)} chunks judged"


@check(
    "E7-stream-matches-plain",
    "A streamed answer equals the non-streamed one",
    tier=Tier.DEFACTO,
    severity=Severity.INFO,
    spec_ref="soft rule",
)
def stream_matches_plain(ctx: CheckContext) -> str | None:
    """Soft rule: at temperature 0 with a seed, the streamed text and finish_reason equal
    those of the same request not streamed (a warning when not: models may be
    non-deterministic even then)."""
    plain = ctx.answered("plain")
    streamed = ctx.answered("plain-stream")
    body = plain.json_or_none()
    try:
        text = body["choices"][0]["message"]["content"] or ""
        reason = body["choices"][0]["finish_reason"]
    except (TypeError, KeyError, IndexError):
        raise CheckSkipped("the non-streamed answer has no choice 0 to compare") from None
    streamed_reasons = [
        c.get("finish_reason")
        for chunk in choice_chunks(streamed)
        for c in _choices(chunk)
        if c.get("index") == 0 and c.get("finish_reason") is not None
    ]
    got = streamed_text(streamed)
    if got != text or streamed_reasons[-1:] != [reason]:
        raise CheckWarning(
            f"streamed {got[:80]!r} ({streamed_reasons[-1:]}) differs from non-streamed "
            f"{text[:80]!r} ({reason!r})",
            ctx.evidence(plain),
            ctx.evidence(streamed),
        )
    return None


@check(
    "E8-openai-replay",
    "The stream replays through the official openai client",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="openai-python",
)
def openai_replay(ctx: CheckContext) -> str | None:
    """The recorded stream, replayed byte for byte to the official ``openai`` Python client,
    is read to the end without an exception."""
    from chatgauge.conformance._replay import ReplayUnavailable, replay_with_openai

    outcomes: list[str] = []
    names: tuple[str, ...] = ("plain-stream",)
    try:
        if ctx.probe("tools-stream").status == 200:
            names = ("plain-stream", "tools-stream")
    except CheckSkipped as skip:
        if skip.kind is not SkipKind.CAPABILITY:  # the contract's gate: judge the rest
            raise
    for exchange in _answered_streams(ctx, names):
        try:
            count = replay_with_openai(exchange)
        except ReplayUnavailable as exc:
            raise CheckSkipped(str(exc), kind=exc.kind) from None
        except Exception as exc:  # any client exception is the finding
            raise CheckFailed(
                f"openai client raised {type(exc).__name__}: {str(exc)[:300]}",
                ctx.evidence(exchange),
            ) from None
        outcomes.append(f"{exchange.case.label}: {count} chunks")
    return "; ".join(outcomes)
