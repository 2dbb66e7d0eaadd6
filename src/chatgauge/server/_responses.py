"""Rendering a :class:`Completion` as OpenAI's non-streamed ``chat.completion`` object.

Also the pieces streamed chunks share: the usage object (exact arithmetic, details that never
exceed their totals), logprobs entries and tool call objects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from chatgauge.server._faults import Fault, Framing
from chatgauge.server._generation import Choice, Completion, TokenLogprob, ToolCall
from chatgauge.server._tools import CUSTOM

SYSTEM_FINGERPRINT: Final = "fp_chatgauge"
EXTRA_FIELD: Final = "x_chatgauge_extra"
JSONObject = dict[str, Any]


@dataclass(frozen=True)
class ResponseMeta:
    """The identity every rendering of one response shares."""

    id: str
    created: int
    model: str


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON (non-ASCII characters raw, as OpenAI sends them)."""
    return _ENCODER.encode(value).encode()


def encode_json_string(text: str) -> bytes:
    """``encode_json`` for a string, without the encoder's dispatch (hot path)."""
    return json.encoder.encode_basestring(text).encode()


def usage_object(
    completion: Completion, faults: frozenset[str], *, streamed: bool = False
) -> JSONObject:
    """``usage`` with ``total_tokens == prompt_tokens + completion_tokens`` (unless a C fault)."""
    prompt = 0 if Fault.USAGE_PROMPT_ZERO in faults else completion.prompt_tokens
    generated = completion.completion_tokens
    if Fault.USAGE_COUNTS_ONE_CHOICE in faults:
        generated = completion.choices[0].completion_tokens if completion.choices else 0
    if streamed and Fault.STREAM_USAGE_DIFFERS in faults:
        generated += 1
    total = prompt + generated + (1 if Fault.USAGE_TOTAL_WRONG in faults else 0)
    cached = prompt + 5 if Fault.USAGE_DETAILS_EXCEED in faults else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def logprobs_object(entries: Sequence[TokenLogprob] | None) -> JSONObject | None:
    """``choices[].logprobs``: null unless logprobs were requested."""
    if entries is None:
        return None
    return {"content": [_logprob_entry(entry) for entry in entries], "refusal": None}


def _logprob_entry(entry: TokenLogprob) -> JSONObject:
    return {
        "token": entry.token,
        "logprob": entry.logprob,
        "bytes": list(entry.token.encode()),
        "top_logprobs": [
            {"token": token, "logprob": logprob, "bytes": list(token.encode())}
            for token, logprob in entry.alternatives
        ],
    }


def tool_call_object(call: ToolCall, faults: frozenset[str]) -> JSONObject:
    """A complete tool call as the non-streamed message carries it."""
    if call.kind == CUSTOM:
        return {
            "id": call.id,
            "type": "custom",
            "custom": {"name": call.name, "input": call.arguments},
        }
    arguments: Any = call.arguments
    if Fault.ARGUMENTS_AS_OBJECT in faults:
        arguments = json.loads(call.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def completion_body(
    completion: Completion,
    meta: ResponseMeta,
    faults: frozenset[str],
    framings: frozenset[str],
) -> JSONObject:
    """The ``chat.completion`` object for a non-streamed request."""
    extra = Framing.EXTRA_FIELDS in framings
    body: JSONObject = {
        "id": meta.id,
        "object": "chat.completion.chunk" if Fault.WRONG_OBJECT in faults else "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [_choice_object(choice, faults, extra) for choice in completion.choices],
        "usage": usage_object(completion, faults),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if Fault.MISSING_CREATED in faults:
        del body["created"]
    if extra:
        body[EXTRA_FIELD] = {"note": "unknown fields must be ignored"}
    return body


def _choice_object(choice: Choice, faults: frozenset[str], extra: bool) -> JSONObject:
    message: JSONObject = {
        "role": "model" if Fault.WRONG_MESSAGE_ROLE in faults else "assistant",
        "content": choice.content,
        "refusal": None,
        "annotations": [],
    }
    call = choice.tool_call
    if call is not None and Fault.TOOL_CALLS_AS_CONTENT in faults:
        arguments = call.arguments if call.kind == CUSTOM else json.loads(call.arguments)
        message["content"] = json.dumps({"name": call.name, "arguments": arguments})
    elif call is not None:
        message["tool_calls"] = [tool_call_object(call, faults)]
    item: JSONObject = {
        "index": choice.index + (1 if Fault.BAD_CHOICE_INDEX in faults else 0),
        "message": message,
        "logprobs": logprobs_object(choice.logprobs),
        "finish_reason": choice.finish_reason,
    }
    if Fault.OMIT_REFUSAL_AND_LOGPROBS in faults:
        del message["refusal"]
        if item["logprobs"] is None:
            del item["logprobs"]
    if extra:
        message[EXTRA_FIELD] = 1
        item[EXTRA_FIELD] = True
    return item
