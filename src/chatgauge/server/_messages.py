"""The ``messages`` of a request: per-role shapes, content parts, tool calls, turn order.

Each message is checked against the OpenAPI document's shape for its role (system,
developer, user, assistant, tool, function): content as a string or a non-empty array of the
part types the role allows (each part with its payload, and the optional
``prompt_cache_breakpoint`` whose ``mode`` is required), ``name`` a string, an assistant's
``tool_calls`` items of type ``function`` or ``custom``, ``refusal``, ``audio`` and
``function_call``. Two rules come from OpenAI's behaviour rather than the schema: an
assistant message needs content unless it has tool calls or a function call (the spec's
prose), and a ``tool`` message must answer an assistant message with ``tool_calls``, with
only other tool messages in between (OpenAI answers 400 "messages with role 'tool' must be
a response to a preceding message with 'tool_calls'").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from chatgauge.server._errors import ApiError
from chatgauge.server._params import (
    empty_array,
    invalid_value,
    missing,
    string,
    type_error,
)
from chatgauge.server._shapes import STRING, Shape, enum, nullable, obj, tagged
from chatgauge.server._shapes import string as string_shape

ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")

PROMPT_CACHE_BREAKPOINT: Final = obj({"mode": enum("explicit")})
_BREAKPOINT: Final = {"prompt_cache_breakpoint": PROMPT_CACHE_BREAKPOINT}
TEXT_PART: Final = obj({"text": STRING}, _BREAKPOINT)
PART_SHAPES: Final[Mapping[str, Shape]] = {
    "text": TEXT_PART,
    "refusal": obj({"refusal": STRING}),
    "image_url": obj(
        {
            "image_url": obj(
                {"url": string_shape(uri=True)},
                {"detail": enum("auto", "low", "high")},
            )
        },
        _BREAKPOINT,
    ),
    "input_audio": obj(
        {"input_audio": obj({"data": STRING, "format": enum("wav", "mp3")})}, _BREAKPOINT
    ),
    "file": obj(
        {"file": obj(optional={"filename": STRING, "file_data": STRING, "file_id": STRING})},
        _BREAKPOINT,
    ),
}
_PART_TYPES_BY_ROLE: Final[Mapping[str, tuple[str, ...]]] = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}
TOOL_CALL: Final = tagged(
    "type",
    {
        "function": obj({"id": STRING, "function": obj({"name": STRING, "arguments": STRING})}),
        "custom": obj({"id": STRING, "custom": obj({"name": STRING, "input": STRING})}),
    },
)
_ASSISTANT_EXTRAS: Final = obj(
    optional={
        "refusal": nullable(STRING),
        "audio": nullable(obj({"id": STRING})),
        "function_call": nullable(obj({"arguments": STRING, "name": STRING})),
    }
)


def check_messages(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """The validated ``messages`` (required, a non-empty array of messages)."""
    if "messages" not in body or body["messages"] is None:
        raise missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise type_error("messages", "an array", messages)
    if not messages:
        raise empty_array("messages")
    for index, message in enumerate(messages):
        _message(message, f"messages[{index}]")
    _check_tool_turns(messages)
    return tuple(messages)


def _message(message: object, param: str) -> None:
    if not isinstance(message, dict):
        raise type_error(param, "an object", message)
    role = string(message, "role", f"{param}.role", required=True)
    if role not in ROLES:
        raise invalid_value(f"{param}.role", role, ROLES)
    string(message, "name", f"{param}.name", required=role == "function", nullable=False)
    if role == "function":
        # Deprecated: content is a required key, a string or null.
        if "content" not in message:
            raise missing(f"{param}.content")
        if message["content"] is not None and not isinstance(message["content"], str):
            raise type_error(f"{param}.content", "a string", message["content"])
        return
    calls = False
    if role == "assistant":
        _ASSISTANT_EXTRAS.check(message, param)
        calls = _tool_calls(message, param)
    content = message.get("content")
    if content is None:
        if role == "assistant" and (calls or message.get("function_call") is not None):
            return
        raise missing(f"{param}.content")
    if isinstance(content, list):
        _content_parts(content, role, f"{param}.content")
    elif not isinstance(content, str):
        raise type_error(f"{param}.content", "a string or an array of content parts", content)
    if role == "tool":
        string(message, "tool_call_id", f"{param}.tool_call_id", required=True)


def _tool_calls(message: Mapping[str, Any], param: str) -> bool:
    """Check an assistant's ``tool_calls``; whether it holds at least one call."""
    if "tool_calls" not in message:
        return False
    calls = message["tool_calls"]
    if not isinstance(calls, list):
        raise type_error(f"{param}.tool_calls", "an array", calls)
    for index, call in enumerate(calls):
        TOOL_CALL.check(call, f"{param}.tool_calls[{index}]")
    return bool(calls)


def _content_parts(parts: list[Any], role: str, param: str) -> None:
    if not parts:
        raise empty_array(param)
    allowed = _PART_TYPES_BY_ROLE[role]
    for index, part in enumerate(parts):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise type_error(part_param, "an object", part)
        kind = string(part, "type", f"{part_param}.type", required=True)
        if kind not in allowed:
            raise invalid_value(f"{part_param}.type", kind, allowed)
        PART_SHAPES[kind].check(part, part_param)


def _check_tool_turns(messages: Sequence[Mapping[str, Any]]) -> None:
    answering = False  # inside the tool answers that follow an assistant's tool calls
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool" and not answering:
            raise ApiError(
                400,
                "Invalid parameter: messages with role 'tool' must be a response to a "
                "preceding message with 'tool_calls'.",
                param=f"messages[{index}].role",
            )
        if role != "tool":
            answering = role == "assistant" and bool(message.get("tool_calls"))


def reject_content_parts(messages: Sequence[Mapping[str, Any]]) -> None:
    """The reject-content-parts fault: only string content is taken, as some servers do."""
    for index, message in enumerate(messages):
        if isinstance(message.get("content"), list):
            raise type_error(f"messages[{index}].content", "a string", message["content"])
