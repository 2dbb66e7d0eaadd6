"""``tools`` and ``tool_choice``: function and custom tools, and which of them may be called.

A function tool has a name matching ``[a-zA-Z0-9_-]{1,64}`` (the spec's prose), an optional
description, JSON Schema ``parameters`` and ``strict``; a custom tool has a name, an optional
description and a ``format`` (free text, or a Lark or regex grammar). ``tools`` holds 1 to 128
of them: OpenAI refuses an empty array ("[] is too short - 'tools'") and more than 128
(``array_above_max_length``), though the spec states neither bound.

``tool_choice`` is ``none``, ``auto``, ``required``, a named function or custom tool (which
must be among ``tools``: OpenAI answers 400 otherwise), or ``allowed_tools`` (a mode and the
subset that may be called), and needs ``tools``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chatgauge.server._errors import ApiError
from chatgauge.server._params import (
    boolean,
    check_name,
    empty_array,
    invalid_value,
    missing,
    obj,
    string,
    type_error,
)
from chatgauge.server._shapes import STRING, array, enum, tagged
from chatgauge.server._shapes import obj as obj_shape

MAX_TOOLS: Final = 128
FUNCTION: Final = "function"
CUSTOM: Final = "custom"
_TOOL_TYPES: Final = (FUNCTION, CUSTOM)

_CUSTOM_FORMAT: Final = tagged(
    "type",
    {
        "text": obj_shape({"type": STRING}, closed=True),
        "grammar": obj_shape(
            {
                "type": STRING,
                "grammar": obj_shape({"definition": STRING, "syntax": enum("lark", "regex")}),
            },
            closed=True,
        ),
    },
)
_CUSTOM_TOOL: Final = obj_shape(
    {"custom": obj_shape({"name": STRING}, {"description": STRING, "format": _CUSTOM_FORMAT})}
)
_ALLOWED_TOOLS: Final = obj_shape(
    {"allowed_tools": obj_shape({"mode": enum("auto", "required"), "tools": array(obj_shape())})}
)


@dataclass(frozen=True)
class Tool:
    """A tool the client offers: ``kind`` ``function`` (``parameters`` is the JSON Schema of
    its arguments) or ``custom`` (free-form text input; ``parameters`` is empty)."""

    name: str
    parameters: Mapping[str, Any]
    kind: str = FUNCTION


@dataclass(frozen=True)
class ToolChoice:
    """How tools may be used: ``mode`` is ``none``, ``auto``, ``required`` or ``named``
    (then ``named`` is the tool); ``allowed`` limits the callable tools to those names."""

    mode: str
    named: str | None = None
    allowed: tuple[str, ...] | None = None


def parse_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    """The offered tools, in order (none when ``tools`` is absent)."""
    if "tools" not in body:
        return ()
    tools = body["tools"]
    if not isinstance(tools, list):
        raise type_error("tools", "an array", tools)
    if not tools:
        raise empty_array("tools")
    if len(tools) > MAX_TOOLS:
        raise ApiError(
            400,
            f"Invalid 'tools': array too long. Expected an array with maximum length "
            f"{MAX_TOOLS}, but got an array with length {len(tools)} instead.",
            param="tools",
            code="array_above_max_length",
        )
    return tuple(_tool(tool, f"tools[{index}]") for index, tool in enumerate(tools))


def _tool(tool: object, param: str) -> Tool:
    if not isinstance(tool, dict):
        raise type_error(param, "an object", tool)
    kind = string(tool, "type", f"{param}.type", required=True)
    if kind not in _TOOL_TYPES:
        raise invalid_value(f"{param}.type", kind, _TOOL_TYPES)
    if kind == CUSTOM:
        _CUSTOM_TOOL.check(tool, param)
        return Tool(name=tool["custom"]["name"], parameters={}, kind=CUSTOM)
    function = obj(tool, "function", f"{param}.function", nullable=False)
    if function is None:
        raise missing(f"{param}.function")
    name = string(function, "name", f"{param}.function.name", required=True)
    assert name is not None
    check_name(name, f"{param}.function.name")
    string(function, "description", f"{param}.function.description", required=False, nullable=False)
    parameters = obj(function, "parameters", f"{param}.function.parameters", nullable=False)
    boolean(function, "strict", f"{param}.function.strict")
    return Tool(name=name, parameters=parameters or {"type": "object"})


def parse_tool_choice(body: Mapping[str, Any], tools: tuple[Tool, ...]) -> ToolChoice:
    """The validated ``tool_choice`` (``auto`` with tools and ``none`` without by default)."""
    if "tool_choice" not in body:
        return ToolChoice("auto" if tools else "none")
    choice = body["tool_choice"]
    if choice is None:
        raise type_error("tool_choice", "a string or an object", choice)
    if not tools:
        raise ApiError(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            param="tool_choice",
            code="invalid_value",
        )
    if isinstance(choice, str):
        supported = ("none", "auto", "required")
        if choice not in supported:
            raise invalid_value("tool_choice", choice, supported)
        return ToolChoice(choice)
    if not isinstance(choice, dict):
        raise type_error("tool_choice", "a string or an object", choice)
    kind = string(choice, "type", "tool_choice.type", required=True)
    supported = (FUNCTION, CUSTOM, "allowed_tools")
    if kind not in supported:
        raise invalid_value("tool_choice.type", kind, supported)
    if kind == "allowed_tools":
        _ALLOWED_TOOLS.check(choice, "tool_choice")
        allowed = choice["allowed_tools"]
        return ToolChoice(allowed["mode"], allowed=_allowed_names(allowed["tools"]))
    assert kind is not None
    target = obj(choice, kind, f"tool_choice.{kind}", nullable=False)
    if target is None:
        raise missing(f"tool_choice.{kind}")
    name = string(target, "name", f"tool_choice.{kind}.name", required=True)
    if name not in {tool.name for tool in tools if tool.kind == kind}:
        noun = "function" if kind == FUNCTION else "custom tool"
        raise ApiError(
            400,
            f"Invalid value for 'tool_choice': no {noun} named '{name}' was specified in "
            "the 'tools' parameter.",
            param="tool_choice",
            code="invalid_value",
        )
    return ToolChoice("named", named=name)


def _allowed_names(items: list[dict[str, Any]]) -> tuple[str, ...]:
    """Names in an ``allowed_tools`` list (items like ``{"type": "function", "function":
    {"name": ...}}``; the spec lets them be any objects, so unnamed ones name nothing)."""
    names = []
    for item in items:
        for key in (FUNCTION, CUSTOM):
            inner = item.get(key)
            if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                names.append(inner["name"])
        if isinstance(item.get("name"), str):
            names.append(item["name"])
    return tuple(names)


def callable_tools(tools: tuple[Tool, ...], choice: ToolChoice) -> tuple[Tool, ...]:
    """The tools a tool call may use under ``choice`` (none for ``none``)."""
    if choice.mode == "none":
        return ()
    if choice.mode == "named":
        return tuple(tool for tool in tools if tool.name == choice.named)
    if choice.allowed is not None:
        return tuple(tool for tool in tools if tool.name in choice.allowed)
    return tools
