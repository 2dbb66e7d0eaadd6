"""Request validation: a JSON body in, a :class:`ChatRequest` or an :class:`ApiError` (400) out.

The checks follow OpenAI's API: types, ranges (temperature [0, 2], top_p [0, 1], penalties
[-2, 2], n 1..128, top_logprobs 0..20, logit_bias [-100, 100], max tokens >= 1), at most 4
stop strings, the prose-only rules (top_logprobs needs logprobs, stream_options needs stream,
function and schema names match ``[a-zA-Z0-9_-]{1,64}``), and per-role message rules. Error
messages and ``code`` strings use OpenAI's vocabulary (``invalid_type``,
``decimal_above_max_value``, ``missing_required_parameter``, ...).

Unknown top-level fields are ignored, as OpenAI ignores many it does not know: rule A5 allows
either answer and chatgauge reports which one an endpoint gives. Known fields the reference
endpoint has no use for (``user``, ``store``, ``metadata``, ...) are ignored as well.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chatgauge.server._errors import SERVER_ERROR, ApiError
from chatgauge.server._faults import Fault

JSONObject = dict[str, Any]

NAME_PATTERN: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_STOP_SEQUENCES: Final = 4
MAX_N: Final = 128
MAX_TOP_LOGPROBS: Final = 20

_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")
_PART_TYPES_BY_ROLE: Final[Mapping[str, tuple[str, ...]]] = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}
_PART_PAYLOAD_KEY: Final[Mapping[str, str]] = {
    "text": "text",
    "refusal": "refusal",
    "image_url": "image_url",
    "input_audio": "input_audio",
    "file": "file",
}
# Fields of CreateChatCompletionRequest in the OpenAPI document (2.3.0); only the
# unknown-field-server-error fault looks at this list.
_DOCUMENTED_FIELDS: Final = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model",
        "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
        "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier",
        "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
        "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Tool:
    """A function tool the client offers: its name and JSON Schema for the arguments."""

    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request, reduced to what generation needs.

    ``max_tokens`` is the effective output limit (``max_completion_tokens`` wins over the
    deprecated ``max_tokens`` when both are given). ``response_format`` is ``text``,
    ``json_object`` or ``json_schema`` (then ``json_schema`` holds the schema).
    ``tool_choice`` is ``none``, ``auto``, ``required`` or ``named`` (then ``named_tool``).
    """

    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    response_format: str = "text"
    json_schema: Mapping[str, Any] | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: str = "none"
    named_tool: str | None = None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _type_error(param: str, expected: str, value: object) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _invalid_value(param: str, value: object, supported: Sequence[str]) -> ApiError:
    listed = ", ".join(f"'{item}'" for item in supported)
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(
    body: Mapping[str, Any],
    name: str,
    low: float,
    high: float,
    *,
    param: str | None = None,
    check_range: bool = True,
) -> float | None:
    value = body.get(name)
    param = param or name
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value):
        raise _type_error(param, "a decimal", value)
    if check_range and value < low:
        raise ApiError(
            400,
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low:g}, "
            f"but got {value} instead.",
            param=param,
            code="decimal_below_min_value",
        )
    if check_range and value > high:
        raise ApiError(
            400,
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high:g}, "
            f"but got {value} instead.",
            param=param,
            code="decimal_above_max_value",
        )
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_integer(value):
        raise _type_error(name, "an integer", value)
    if value < low:
        raise ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise ApiError(
            400,
            f"Invalid '{name}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=name,
            code="integer_above_max_value",
        )
    return int(value)


def _boolean(body: Mapping[str, Any], name: str, param: str | None = None) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _type_error(param or name, "a boolean", value)
    return value


def _object(body: Mapping[str, Any], name: str, param: str) -> JSONObject | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error(param, "an object", value)
    return value


def _string(body: Mapping[str, Any], name: str, param: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    return value


def _check_name(value: str, param: str) -> None:
    if not NAME_PATTERN.fullmatch(value):
        raise ApiError(
            400,
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            f"matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'.",
            param=param,
            code="invalid_value",
        )


def validate_request(body: object, faults: frozenset[str] = frozenset()) -> ChatRequest:
    """Check a parsed JSON body; raise :class:`ApiError` (400) for the first problem found."""
    if not isinstance(body, dict):
        raise ApiError(
            400,
            f"Invalid type for request body: expected an object, but got {_kind(body)} instead.",
            code="invalid_type",
        )
    if Fault.UNKNOWN_FIELD_SERVER_ERROR in faults and set(body) - _DOCUMENTED_FIELDS:
        raise ApiError(
            500, "The server had an error while processing your request.", error_type=SERVER_ERROR
        )
    model = _string(body, "model", "model", required=True)
    assert model is not None
    messages = _messages(body)
    if Fault.REJECT_CONTENT_PARTS in faults:
        _reject_content_parts(messages)
    _sampling(body, faults)
    stream = _boolean(body, "stream")
    include_usage = _stream_options(body, stream)
    n = _integer(body, "n", 1, MAX_N)
    logprobs, top_logprobs = _logprobs(body, faults)
    response_format, json_schema = _response_format(body)
    tools = _tools(body)
    tool_choice, named_tool = _tool_choice(body, tools)
    _integer(body, "seed", -(2**63), 2**63 - 1)
    _boolean(body, "parallel_tool_calls")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        n=1 if n is None else n,
        max_tokens=_max_tokens(body, faults),
        stop=_stop(body),
        seed=body.get("seed"),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        response_format=response_format,
        json_schema=json_schema,
        tools=tools,
        tool_choice=tool_choice,
        named_tool=named_tool,
    )


def _reject_content_parts(messages: Sequence[Mapping[str, Any]]) -> None:
    """The reject-content-parts fault: only string content is taken, as some servers do."""
    for index, message in enumerate(messages):
        if isinstance(message.get("content"), list):
            raise _type_error(f"messages[{index}].content", "a string", message["content"])


def _sampling(body: Mapping[str, Any], faults: frozenset[str]) -> None:
    temperature = _number(
        body, "temperature", 0, 2, check_range=Fault.ACCEPT_INVALID_TEMPERATURE not in faults
    )
    if temperature == 0 and Fault.REJECT_TEMPERATURE_ZERO in faults:
        raise ApiError(
            400,
            "Invalid 'temperature': must be greater than 0.",
            param="temperature",
            code="invalid_value",
        )
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    logit_bias = _object(body, "logit_bias", "logit_bias")
    for token, bias in (logit_bias or {}).items():
        if bias is None:
            raise _type_error(f"logit_bias.{token}", "a decimal", bias)
        _number(logit_bias or {}, token, -100, 100, param=f"logit_bias.{token}")


def _stream_options(body: Mapping[str, Any], stream: bool) -> bool:
    options = _object(body, "stream_options", "stream_options")
    if options is None:
        return False
    if not stream:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    return _boolean(options, "include_usage", "stream_options.include_usage")


def _logprobs(body: Mapping[str, Any], faults: frozenset[str]) -> tuple[bool, int]:
    """``logprobs`` and the number of alternatives per token (0 when not asked for)."""
    logprobs = _boolean(body, "logprobs")
    top_logprobs = _integer(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
    if top_logprobs is not None and not logprobs:
        raise ApiError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
            param="top_logprobs",
            code="invalid_value",
        )
    # The G3 faults: the request as a server with that deviation understands it.
    if Fault.LOGPROBS_NEED_TOP_LOGPROBS in faults and not top_logprobs:
        return False, 0
    if top_logprobs is None:
        default = Fault.LOGPROBS_DEFAULT_ALTERNATIVES in faults and logprobs
        return logprobs, MAX_TOP_LOGPROBS if default else 0
    if top_logprobs == 0 and Fault.TOP_LOGPROBS_ZERO_GIVES_ONE in faults:
        return logprobs, 1
    if top_logprobs > 0 and Fault.TOP_LOGPROBS_TOO_FEW in faults:
        return logprobs, top_logprobs - 1
    return logprobs, top_logprobs


def _max_tokens(body: Mapping[str, Any], faults: frozenset[str]) -> int | None:
    legacy = _integer(body, "max_tokens", 1)
    current = _integer(body, "max_completion_tokens", 1)
    if Fault.MAX_TOKENS_IGNORED in faults:
        return None
    if Fault.MAX_COMPLETION_TOKENS_IGNORED in faults:
        return legacy
    return current if current is not None else legacy


def _stop(body: Mapping[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if not isinstance(stop, list):
        raise _type_error("stop", "a string or an array of strings", stop)
    if len(stop) > MAX_STOP_SEQUENCES:
        raise ApiError(
            400,
            f"Invalid 'stop': array too long. Expected an array with maximum length "
            f"{MAX_STOP_SEQUENCES}, but got an array with length {len(stop)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    for index, item in enumerate(stop):
        if not isinstance(item, str):
            raise _type_error(f"stop[{index}]", "a string", item)
    return tuple(item for item in stop if item)


def _response_format(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    response_format = _object(body, "response_format", "response_format")
    if response_format is None:
        return "text", None
    kind = _string(response_format, "type", "response_format.type", required=True)
    supported = ("text", "json_object", "json_schema")
    if kind not in supported:
        raise _invalid_value("response_format.type", kind, supported)
    if kind != "json_schema":
        return kind, None
    spec = _object(response_format, "json_schema", "response_format.json_schema")
    if spec is None:
        raise _missing("response_format.json_schema")
    name = _string(spec, "name", "response_format.json_schema.name", required=True)
    assert name is not None
    _check_name(name, "response_format.json_schema.name")
    schema = _object(spec, "schema", "response_format.json_schema.schema")
    _boolean(spec, "strict", "response_format.json_schema.strict")
    return kind, schema if schema is not None else {}


def _tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise _type_error("tools", "an array", tools)
    parsed = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _type_error(param, "an object", tool)
        kind = _string(tool, "type", f"{param}.type", required=True)
        if kind != "function":
            raise _invalid_value(f"{param}.type", kind, ("function",))
        function = _object(tool, "function", f"{param}.function")
        if function is None:
            raise _missing(f"{param}.function")
        name = _string(function, "name", f"{param}.function.name", required=True)
        assert name is not None
        _check_name(name, f"{param}.function.name")
        _string(function, "description", f"{param}.function.description", required=False)
        parameters = _object(function, "parameters", f"{param}.function.parameters")
        _boolean(function, "strict", f"{param}.function.strict")
        parsed.append(Tool(name=name, parameters=parameters or {"type": "object"}))
    return tuple(parsed)


def _tool_choice(body: Mapping[str, Any], tools: tuple[Tool, ...]) -> tuple[str, str | None]:
    choice = body.get("tool_choice")
    if choice is None:
        return ("auto" if tools else "none"), None
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
            raise _invalid_value("tool_choice", choice, supported)
        return choice, None
    if not isinstance(choice, dict):
        raise _type_error("tool_choice", "a string or an object", choice)
    kind = _string(choice, "type", "tool_choice.type", required=True)
    if kind != "function":
        raise _invalid_value("tool_choice.type", kind, ("function",))
    function = _object(choice, "function", "tool_choice.function")
    if function is None:
        raise _missing("tool_choice.function")
    name = _string(function, "name", "tool_choice.function.name", required=True)
    if name not in {tool.name for tool in tools}:
        raise ApiError(
            400,
            f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
            "the 'tools' parameter.",
            param="tool_choice",
            code="invalid_value",
        )
    return "named", name


def _messages(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _type_error("messages", "an array", messages)
    if not messages:
        raise ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but "
            "got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        _message(message, f"messages[{index}]")
    return tuple(messages)


def _message(message: object, param: str) -> None:
    if not isinstance(message, dict):
        raise _type_error(param, "an object", message)
    role = _string(message, "role", f"{param}.role", required=True)
    if role not in _ROLES:
        raise _invalid_value(f"{param}.role", role, _ROLES)
    _string(message, "name", f"{param}.name", required=role == "function")
    has_tool_calls = role == "assistant" and _assistant_tool_calls(message, param)
    content = message.get("content")
    if content is None:
        if role == "assistant" and (has_tool_calls or message.get("function_call") is not None):
            return
        if role != "function":
            raise _missing(f"{param}.content")
    elif isinstance(content, list) and role != "function":
        _content_parts(content, role, f"{param}.content")
    elif not isinstance(content, str):
        raise _type_error(f"{param}.content", "a string or an array of content parts", content)
    if role == "tool":
        _string(message, "tool_call_id", f"{param}.tool_call_id", required=True)


def _assistant_tool_calls(message: Mapping[str, Any], param: str) -> bool:
    calls = message.get("tool_calls")
    if calls is None:
        return False
    if not isinstance(calls, list):
        raise _type_error(f"{param}.tool_calls", "an array", calls)
    for index, call in enumerate(calls):
        call_param = f"{param}.tool_calls[{index}]"
        if not isinstance(call, dict):
            raise _type_error(call_param, "an object", call)
        _string(call, "id", f"{call_param}.id", required=True)
        function = _object(call, "function", f"{call_param}.function")
        if function is None:
            raise _missing(f"{call_param}.function")
        _string(function, "name", f"{call_param}.function.name", required=True)
        _string(function, "arguments", f"{call_param}.function.arguments", required=True)
    return bool(calls)


def _content_parts(parts: list[Any], role: str, param: str) -> None:
    if not parts:
        raise ApiError(
            400,
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, but "
            "got an empty array instead.",
            param=param,
            code="empty_array",
        )
    allowed = _PART_TYPES_BY_ROLE[role]
    for index, part in enumerate(parts):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise _type_error(part_param, "an object", part)
        kind = _string(part, "type", f"{part_param}.type", required=True)
        if kind not in allowed:
            raise _invalid_value(f"{part_param}.type", kind, allowed)
        payload_key = _PART_PAYLOAD_KEY[kind]
        if kind in ("text", "refusal"):
            _string(part, payload_key, f"{part_param}.{payload_key}", required=True)
        elif _object(part, payload_key, f"{part_param}.{payload_key}") is None:
            raise _missing(f"{part_param}.{payload_key}")
