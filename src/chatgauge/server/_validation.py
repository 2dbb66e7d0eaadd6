"""Request validation: a JSON body in, a :class:`ChatRequest` or an :class:`ApiError` (400) out.

The checks follow OpenAI's API and the OpenAPI document: every documented field has its
type, enumeration and shape checked (``null`` only where the spec allows it), ranges
(temperature [0, 2], top_p [0, 1], penalties [-2, 2], n 1..128, top_logprobs 0..20,
logit_bias integers in [-100, 100], max tokens >= 1), 1 to 4 stop strings, and the
prose-only rules (top_logprobs needs logprobs, stream_options needs stream, function and
schema names match ``[a-zA-Z0-9_-]{1,64}``). Messages are checked by
:mod:`chatgauge.server._messages`, tools by :mod:`chatgauge.server._tools`, and the fields
generation never reads by :mod:`chatgauge.server._request_fields`. Error messages and
``code`` strings use OpenAI's vocabulary (``invalid_type``, ``decimal_above_max_value``,
``missing_required_parameter``, ...).

An unknown top-level field is refused (400 "Unrecognized request argument supplied"), as
OpenAI refuses it; rule A5 allows either that or ignoring it, and chatgauge reports which
one an endpoint does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chatgauge.server._errors import SERVER_ERROR, ApiError
from chatgauge.server._faults import Fault
from chatgauge.server._messages import check_messages, reject_content_parts
from chatgauge.server._params import (
    boolean,
    check_name,
    empty_array,
    integer,
    invalid_value,
    is_integer,
    kind,
    missing,
    number,
    obj,
    string,
    type_error,
)
from chatgauge.server._request_fields import (
    DOCUMENTED_FIELDS,
    check_unused_fields,
    reject_unknown_fields,
)
from chatgauge.server._tools import Tool, callable_tools, parse_tool_choice, parse_tools

MAX_STOP_SEQUENCES: Final = 4
MAX_N: Final = 128
MAX_TOP_LOGPROBS: Final = 20
MAX_LOGIT_BIAS: Final = 100


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request, reduced to what generation needs.

    ``max_tokens`` is the effective output limit (``max_completion_tokens`` wins over the
    deprecated ``max_tokens`` when both are given). ``response_format`` is ``text``,
    ``json_object`` or ``json_schema`` (then ``json_schema`` holds the schema).
    ``tool_choice`` is ``none``, ``auto``, ``required`` or ``named`` (then ``named_tool``);
    ``callable_tools`` are the tools a call may use under it.
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
    callable_tools: tuple[Tool, ...] = ()


def validate_request(body: object, faults: frozenset[str] = frozenset()) -> ChatRequest:
    """Check a parsed JSON body; raise :class:`ApiError` (400) for the first problem found."""
    if not isinstance(body, dict):
        raise ApiError(
            400,
            f"Invalid type for request body: expected an object, but got {kind(body)} instead.",
            code="invalid_type",
        )
    if Fault.UNKNOWN_FIELD_SERVER_ERROR in faults and set(body) - DOCUMENTED_FIELDS:
        raise ApiError(
            500, "The server had an error while processing your request.", error_type=SERVER_ERROR
        )
    reject_unknown_fields(body)
    model = string(body, "model", "model", required=True)
    assert model is not None
    messages = check_messages(body)
    if Fault.REJECT_CONTENT_PARTS in faults:
        reject_content_parts(messages)
    _sampling(body, faults)
    stream = boolean(body, "stream")
    include_usage = _stream_options(body, stream)
    n = integer(body, "n", 1, MAX_N)
    logprobs, top_logprobs = _logprobs(body, faults)
    response_format, json_schema = _response_format(body)
    tools = parse_tools(body)
    choice = parse_tool_choice(body, tools)
    seed = integer(body, "seed", -(2**63), 2**63 - 1)
    boolean(body, "parallel_tool_calls", nullable=False)
    max_tokens = _max_tokens(body, faults)
    stop = _stop(body)
    check_unused_fields(body)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        n=1 if n is None else n,
        max_tokens=max_tokens,
        stop=stop,
        seed=seed,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        response_format=response_format,
        json_schema=json_schema,
        tools=tools,
        tool_choice=choice.mode,
        named_tool=choice.named,
        callable_tools=callable_tools(tools, choice),
    )


def _sampling(body: Mapping[str, Any], faults: frozenset[str]) -> None:
    temperature = number(
        body, "temperature", 0, 2, check_range=Fault.ACCEPT_INVALID_TEMPERATURE not in faults
    )
    if temperature == 0 and Fault.REJECT_TEMPERATURE_ZERO in faults:
        raise ApiError(
            400,
            "Invalid 'temperature': must be greater than 0.",
            param="temperature",
            code="invalid_value",
        )
    number(body, "top_p", 0, 1)
    number(body, "presence_penalty", -2, 2)
    number(body, "frequency_penalty", -2, 2)
    logit_bias = obj(body, "logit_bias", "logit_bias")
    for token, bias in (logit_bias or {}).items():
        param = f"logit_bias.{token}"
        if not is_integer(bias):
            raise type_error(param, "an integer", bias)
        integer({token: int(bias)}, token, -MAX_LOGIT_BIAS, MAX_LOGIT_BIAS, param=param)


def _stream_options(body: Mapping[str, Any], stream: bool) -> bool:
    options = obj(body, "stream_options", "stream_options")
    if options is None:
        return False
    if not stream:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    boolean(options, "include_obfuscation", "stream_options.include_obfuscation", nullable=False)
    return boolean(options, "include_usage", "stream_options.include_usage", nullable=False)


def _logprobs(body: Mapping[str, Any], faults: frozenset[str]) -> tuple[bool, int]:
    """``logprobs`` and the number of alternatives per token (0 when not asked for)."""
    logprobs = boolean(body, "logprobs")
    top_logprobs = integer(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
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
    legacy = integer(body, "max_tokens", 1)
    current = integer(body, "max_completion_tokens", 1)
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
        raise type_error("stop", "a string or an array of strings", stop)
    if not stop:
        raise empty_array("stop")
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
            raise type_error(f"stop[{index}]", "a string", item)
    return tuple(item for item in stop if item)


def _response_format(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    response_format = obj(body, "response_format", "response_format", nullable=False)
    if response_format is None:
        return "text", None
    kind = string(response_format, "type", "response_format.type", required=True)
    supported = ("text", "json_object", "json_schema")
    if kind not in supported:
        raise invalid_value("response_format.type", kind, supported)
    if kind != "json_schema":
        return kind, None
    spec = obj(response_format, "json_schema", "response_format.json_schema", nullable=False)
    if spec is None:
        raise missing("response_format.json_schema")
    name = string(spec, "name", "response_format.json_schema.name", required=True)
    assert name is not None
    check_name(name, "response_format.json_schema.name")
    string(
        spec,
        "description",
        "response_format.json_schema.description",
        required=False,
        nullable=False,
    )
    schema = obj(spec, "schema", "response_format.json_schema.schema", nullable=False)
    boolean(spec, "strict", "response_format.json_schema.strict")
    return kind, schema if schema is not None else {}
