"""A streamed completion: the plan of ``chat.completion.chunk`` events and their schedule.

Faithful streams follow rules D and E: every chunk has the same ``id``, ``created`` and
``model``; each choice's first delta carries ``role: "assistant"`` and only that one; content
deltas carry one token each; a tool call streams as a first fragment (``index``, ``id``,
``type``, ``function.name``, ``arguments: ""``) and then argument pieces (``index`` and
``function.arguments`` only); each choice gets exactly one non-null ``finish_reason``, in a
chunk after its last content; with ``stream_options.include_usage`` every chunk has
``"usage": null`` and one final chunk has ``choices: []`` and the usage; ``data: [DONE]``
ends the stream. Choices of ``n > 1`` are interleaved token by token.

Schedule: role chunks go out at once; content step ``k`` (the ``k``-th token of every
choice) is due at ``t_body_read + ttft + k * itl`` (each deadline moved by a uniform
``± jitter``), an absolute schedule so sleeping errors never accumulate. Finish, usage and
``[DONE]`` follow the last content without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from chatgauge.server._faults import Fault, Framing
from chatgauge.server._generation import Choice, Completion, ToolCall
from chatgauge.server._responses import (
    EXTRA_FIELD,
    SYSTEM_FINGERPRINT,
    JSONObject,
    ResponseMeta,
    encode_json,
    encode_json_string,
    logprobs_object,
    usage_object,
)
from chatgauge.server._tools import CUSTOM
from chatgauge.server._validation import ChatRequest

DONE: Final = b"[DONE]"
CHUNK_OBJECT: Final = "chat.completion.chunk"
# A placeholder no generated token contains (generated text has no control characters).
_SLOT: Final = "\x00token\x00"
_SLOT_JSON: Final = encode_json(_SLOT)
NOT_JSON: Final = b"heartbeat"
PRESTREAM_STEP: Final = -1
CONTENT_EVENTS_BEFORE_FAILURE: Final = 2
MIDSTREAM_ERROR: Final = {
    "error": {
        "message": "The server had an error while generating the response.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


@dataclass(frozen=True)
class PlannedEvent:
    """One SSE event: its data payload and the content step it belongs to.

    ``step`` is :data:`PRESTREAM_STEP` for events sent at once, else the content step whose
    deadline must pass before the event is written. ``is_content`` marks events that carry a
    token (content or tool-call arguments): the ones the timing log stamps and counts.
    """

    payload: bytes
    step: int
    is_content: bool = False


def plan_stream(
    completion: Completion,
    meta: ResponseMeta,
    request: ChatRequest,
    faults: frozenset[str],
    framings: frozenset[str],
) -> list[PlannedEvent]:
    """Every event of the stream, in order (see the module docstring)."""
    return list(_Planner(completion, meta, request, faults, framings).events())


def _with_invalid_byte(payload: bytes) -> bytes:
    """``payload`` with 0xFF (never valid in UTF-8) at the start of its content string."""
    for marker in (b'"content":"', b'"arguments":"', b'"input":"'):
        at = payload.find(marker)
        if at >= 0:
            at += len(marker)
            return payload[:at] + b"\xff" + payload[at:]
    return payload


class _Planner:
    def __init__(
        self,
        completion: Completion,
        meta: ResponseMeta,
        request: ChatRequest,
        faults: frozenset[str],
        framings: frozenset[str],
    ) -> None:
        self._completion = completion
        self._meta = meta
        self._faults = faults
        self._extra = Framing.EXTRA_FIELDS in framings
        self._usage_wanted = (
            request.include_usage or Fault.USAGE_WITHOUT_REQUEST in faults
        ) and Fault.MISSING_USAGE_CHUNK not in faults
        self._usage_null = request.include_usage or Framing.USAGE_NULL in framings
        self._usage = usage_object(completion, faults, streamed=True)
        self._usage_per_choice = (
            self._usage_wanted
            and Fault.USAGE_CHUNK_PER_CHOICE in faults
            and len(completion.choices) > 1
        )
        self._chunks = 0

    def events(self) -> Iterator[PlannedEvent]:
        faults = self._faults
        for choice in self._completion.choices:
            yield self._event(PRESTREAM_STEP, [self._role_choice(choice)])
        if Fault.NON_JSON_DATA in faults:
            yield PlannedEvent(NOT_JSON, PRESTREAM_STEP)
        contents = [self._content_payloads(choice) for choice in self._completion.choices]
        if Fault.INVALID_UTF8 in faults and contents[0]:
            contents[0][0] = _with_invalid_byte(contents[0][0])
        last_steps = [max(len(payloads) - 1, 0) for payloads in contents]
        final_step = max(last_steps)
        content_sent = 0
        for step in range(final_step + 1):
            for payloads in contents:
                if step < len(payloads):
                    yield PlannedEvent(payloads[step], step, is_content=True)
                    content_sent += 1
                    if (
                        self._completion.fail_midstream
                        and content_sent == CONTENT_EVENTS_BEFORE_FAILURE
                    ):
                        yield from self._failure(step)
                        return
            for choice, last_step in zip(self._completion.choices, last_steps, strict=True):
                if last_step == step:
                    yield from self._finish(choice, step, last=step == final_step)
        if (
            self._usage_wanted
            and Fault.USAGE_CHUNK_HAS_CHOICES not in faults
            and not self._usage_per_choice
        ):
            yield self._event(final_step, [], usage=self._usage)
        yield from self._done(final_step)

    def _failure(self, step: int) -> Iterator[PlannedEvent]:
        yield PlannedEvent(encode_json(MIDSTREAM_ERROR), step)
        yield PlannedEvent(DONE, step)

    def _finish(self, choice: Choice, step: int, *, last: bool) -> Iterator[PlannedEvent]:
        faults = self._faults
        reason: str | None = choice.finish_reason
        if Fault.NO_FINISH_REASON in faults:
            reason = None
        elif Fault.EMPTY_STRING_FINISH_REASON in faults:
            reason = ""
        item = self._choice_item(choice.index, {}, finish_reason=reason)
        usage = None
        if last and self._usage_wanted and Fault.USAGE_CHUNK_HAS_CHOICES in faults:
            usage = self._usage
        yield self._event(step, [item], usage=usage)
        if Fault.FINISH_REASON_TWICE in faults:
            yield self._event(step, [item])
        if Fault.CONTENT_AFTER_FINISH in faults and choice.index == 0:
            late = self._choice_item(0, {"content": " late"})
            yield self._event(step, [late], is_content=True)
        if self._usage_per_choice:
            alone = Completion((choice,), self._completion.prompt_tokens)
            yield self._event(step, [], usage=usage_object(alone, faults, streamed=True))

    def _done(self, step: int) -> Iterator[PlannedEvent]:
        faults = self._faults
        if Fault.NO_DONE in faults:
            return
        yield PlannedEvent(DONE, step)
        if Fault.DOUBLE_DONE in faults:
            yield PlannedEvent(DONE, step)
        if Fault.DATA_AFTER_DONE in faults:
            yield self._event(step, [], usage=self._usage)

    def _role_choice(self, choice: Choice) -> JSONObject:
        delta: JSONObject = {
            "role": "assistant",
            "content": None if choice.tool_call is not None else "",
            "refusal": None,
        }
        if Fault.NO_ROLE_FIRST_DELTA in self._faults:
            del delta["role"]
        return self._choice_item(choice.index, delta)

    def _content_payloads(self, choice: Choice) -> list[bytes]:
        """The encoded content chunks of one choice, in order."""
        if (
            choice.tool_call is not None
            or choice.logprobs is not None
            or Fault.CHUNK_ID_CHANGES in self._faults
        ):
            return [
                encode_json(self._chunk([item], None)) for item in self._content_choices(choice)
            ]
        # Plain text chunks differ only in their token (the hot path of a load test): encode
        # the chunk once around a placeholder and splice each token into it.
        template = encode_json(self._chunk([self._text_item(choice.index, _SLOT)], None))
        prefix, suffix = template.split(_SLOT_JSON)
        return [prefix + encode_json_string(token) + suffix for token in choice.tokens]

    def _text_item(self, index: int, token: str, logprobs: JSONObject | None = None) -> JSONObject:
        if Fault.ROLE_EVERY_DELTA in self._faults:
            return self._choice_item(
                index, {"role": "assistant", "content": token}, logprobs=logprobs
            )
        return self._choice_item(index, {"content": token}, logprobs=logprobs)

    def _content_choices(self, choice: Choice) -> Iterator[JSONObject]:
        role_again = Fault.ROLE_EVERY_DELTA in self._faults
        call = choice.tool_call
        if call is not None:
            fragments = self._call_fragments(call)
            for fragment in fragments:
                if Fault.TOOL_CALL_NO_INDEX in self._faults:
                    del fragment["index"]
                delta: JSONObject = {"tool_calls": [fragment]}
                if role_again:
                    delta = {"role": "assistant", **delta}
                yield self._choice_item(choice.index, delta)
            return
        for position, token in enumerate(choice.tokens):
            logprobs = None
            if choice.logprobs is not None:
                logprobs = logprobs_object(choice.logprobs[position : position + 1])
            yield self._text_item(choice.index, token, logprobs)

    def _call_fragments(self, call: ToolCall) -> list[JSONObject]:
        """A call's first fragment (index, id, type, name, empty arguments), then one
        fragment per argument piece. A custom tool's input streams like arguments, under
        ``custom.input`` (what OpenAI sends; the spec's chunk schema lacks it)."""
        pieces = list(call.argument_tokens)
        if call.kind == CUSTOM:
            header: JSONObject = {
                "index": 0,
                "id": call.id,
                "type": "custom",
                "custom": {"name": call.name, "input": ""},
            }
            return [header] + [{"index": 0, "custom": {"input": piece}} for piece in pieces]
        header = {
            "index": 0,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if pieces and Fault.TOOL_ARGS_INVALID_JSON in self._faults:
            pieces[-1] += "}"
        return [header] + [{"index": 0, "function": {"arguments": piece}} for piece in pieces]

    def _choice_item(
        self,
        index: int,
        delta: JSONObject,
        *,
        logprobs: JSONObject | None = None,
        finish_reason: str | None = None,
    ) -> JSONObject:
        item: JSONObject = {
            "index": index,
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
        }
        if self._extra:
            item[EXTRA_FIELD] = True
            delta[EXTRA_FIELD] = 1
        return item

    def _event(
        self,
        step: int,
        choices: list[JSONObject],
        *,
        usage: JSONObject | None = None,
        is_content: bool = False,
    ) -> PlannedEvent:
        return PlannedEvent(encode_json(self._chunk(choices, usage)), step, is_content)

    def _chunk(self, choices: list[JSONObject], usage: JSONObject | None) -> JSONObject:
        faults = self._faults
        meta = self._meta
        chunk_id = meta.id
        if Fault.EMPTY_CHUNK_ID in faults:
            chunk_id = ""
        elif Fault.CHUNK_ID_CHANGES in faults and self._chunks:
            chunk_id = f"{meta.id}-{self._chunks}"
        self._chunks += 1
        chunk: dict[str, Any] = {
            "id": chunk_id,
            "object": CHUNK_OBJECT if Fault.CHUNK_WRONG_OBJECT not in faults else "chat.completion",
            "created": meta.created,
            "model": meta.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        elif Fault.USAGE_EVERY_CHUNK in faults:
            chunk["usage"] = self._usage
        elif self._usage_null:
            chunk["usage"] = None
        if self._extra:
            chunk[EXTRA_FIELD] = {"note": "unknown fields must be ignored"}
        return chunk
