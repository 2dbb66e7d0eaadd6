"""The capability states the reference endpoint can play for each optional API feature.

``chatgauge serve --feature tools=ignored`` makes the endpoint behave as one that does not
know tools: the fields are dropped before validation, so the request is answered as if they
were never sent (and tool messages pass as plain text). The states:

- ``supported``: faithful (the default);
- ``unsupported``: a request that uses the feature is refused cleanly with 400 and
  OpenAI's code ``unsupported_parameter`` (``unsupported_value`` for a role, a content
  shape or a response_format type), ``param`` naming the field;
- ``ignored``: the feature's fields are dropped before validation (its effect is absent,
  and an invalid use of it is accepted too, as by an endpoint that never heard of it);
  ``auth=ignored`` serves requests without a valid key;
- ``broken``: accepted, with the effect wrong: one of the faults of ``_faults.py`` (e.g.
  ``tools=broken`` sends tool-call arguments that are not a JSON string).

``--profile basic`` (:data:`BASIC_PROFILE`) serves exactly the basic surface: every feature
outside chat, streaming, temperature, max_tokens, usage and JSON mode is unsupported. The
names match ``chatgauge.conformance._features.FEATURES`` (a test holds them equal; the
server layer does not import the conformance half).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from chatgauge.server._errors import ApiError
from chatgauge.server._faults import Fault

SUPPORTED: Final = "supported"
UNSUPPORTED: Final = "unsupported"
IGNORED: Final = "ignored"
BROKEN: Final = "broken"

FEATURE_STATES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "tools": frozenset({SUPPORTED, UNSUPPORTED, IGNORED, BROKEN}),
        "logprobs": frozenset({SUPPORTED, UNSUPPORTED, IGNORED, BROKEN}),
        "json_schema": frozenset({SUPPORTED, UNSUPPORTED, IGNORED}),
        "json_object": frozenset({SUPPORTED, UNSUPPORTED, IGNORED, BROKEN}),
        "n": frozenset({SUPPORTED, UNSUPPORTED, IGNORED, BROKEN}),
        "stop": frozenset({SUPPORTED, UNSUPPORTED, IGNORED, BROKEN}),
        "stream_usage": frozenset({SUPPORTED, UNSUPPORTED, IGNORED, BROKEN}),
        "seed": frozenset({SUPPORTED, UNSUPPORTED}),
        "max_completion_tokens": frozenset({SUPPORTED, UNSUPPORTED, IGNORED}),
        "developer_role": frozenset({SUPPORTED, UNSUPPORTED}),
        "content_parts": frozenset({SUPPORTED, UNSUPPORTED}),
        "auth": frozenset({SUPPORTED, IGNORED}),
        "models_endpoint": frozenset({SUPPORTED, UNSUPPORTED, BROKEN}),
    }
)
"""Every feature and the states the endpoint can play for it."""

BASIC_PROFILE: Final[Mapping[str, str]] = MappingProxyType(
    {
        name: UNSUPPORTED
        for name in FEATURE_STATES
        if name not in ("json_object", "auth") and UNSUPPORTED in FEATURE_STATES[name]
    }
)
"""``serve --profile basic``: every feature outside the basic surface refused cleanly
(``auth`` follows ``--api-key``)."""

_BROKEN_FAULTS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "tools": frozenset({Fault.ARGUMENTS_AS_OBJECT, Fault.TOOL_ARGS_INVALID_JSON}),
        "logprobs": frozenset({Fault.LOGPROB_POSITIVE}),
        "json_object": frozenset({Fault.JSON_MODE_FENCED}),
        "n": frozenset({Fault.BAD_CHOICE_INDEX}),
        "stop": frozenset({Fault.STOP_LEAK}),
        "stream_usage": frozenset({Fault.USAGE_CHUNK_HAS_CHOICES}),
    }
)
# Fields an endpoint that does not know the feature never reads.
_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "tools": ("tools", "tool_choice", "parallel_tool_calls"),
        "logprobs": ("logprobs", "top_logprobs"),
        "n": ("n",),
        "stop": ("stop",),
        "stream_usage": ("stream_options",),
        "seed": ("seed",),
        "max_completion_tokens": ("max_completion_tokens",),
    }
)


def parse_feature(text: str) -> tuple[str, str]:
    """``NAME=STATE`` as a pair; ``ValueError`` with the valid names or states."""
    name, sep, state = text.partition("=")
    name = name.strip().replace("-", "_")
    state = state.strip()
    if not sep:
        raise ValueError(f"--feature wants NAME=STATE, got {text!r}")
    check_feature(name, state)
    return name, state


def check_feature(name: str, state: str) -> None:
    """``ValueError`` unless ``state`` is one the endpoint can play for ``name``."""
    if name not in FEATURE_STATES:
        raise ValueError(f"unknown feature {name!r}; features: {', '.join(FEATURE_STATES)}")
    if state not in FEATURE_STATES[name]:
        states = ", ".join(sorted(FEATURE_STATES[name]))
        raise ValueError(f"feature {name!r} cannot be {state!r}; it can be: {states}")


def feature_faults(features: Mapping[str, str]) -> frozenset[str]:
    """The faults that play the ``broken`` (and ``auth=ignored``) states."""
    faults: set[str] = set()
    for name, state in features.items():
        if state == BROKEN:
            faults |= _BROKEN_FAULTS.get(name, frozenset())
    if features.get("auth") == IGNORED:
        faults.add(Fault.NO_AUTH_CHECK)
    return frozenset(faults)


def _response_format_type(body: Mapping[str, Any]) -> object:
    response_format = body.get("response_format")
    return response_format.get("type") if isinstance(response_format, dict) else None


def _uses(name: str, body: Mapping[str, Any]) -> str | None:
    """The field (param) through which ``body`` uses feature ``name``, else ``None``."""
    for key in _FIELDS.get(name, ()):
        if key in body and not (name == "n" and body[key] == 1):
            return f"{key}.include_usage" if key == "stream_options" else key
    if name in ("json_schema", "json_object") and _response_format_type(body) == name:
        return "response_format.type"
    messages = body.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if name == "tools" and (role == "tool" or "tool_calls" in message):
            return f"messages[{i}].role"
        if name == "developer_role" and role == "developer":
            return f"messages[{i}].role"
        if name == "content_parts" and isinstance(message.get("content"), list):
            return f"messages[{i}].content"
    return None


def _refuse(name: str, param: str) -> ApiError:
    code = "unsupported_parameter" if "." not in param and "[" not in param else "unsupported_value"
    return ApiError(
        400,
        f"Unsupported: '{param}' ({name.replace('_', ' ')}) is not supported by this endpoint.",
        param=param,
        code=code,
    )


def _drop(name: str, body: dict[str, Any]) -> None:
    """Remove feature ``name`` from ``body`` as an endpoint that never heard of it would."""
    for key in _FIELDS.get(name, ()):
        body.pop(key, None)
    if name in ("json_schema", "json_object") and _response_format_type(body) == name:
        body.pop("response_format")
    if name == "tools" and isinstance(body.get("messages"), list):
        body["messages"] = [_plain_message(m) for m in body["messages"]]


def _plain_message(message: Any) -> Any:
    # A tool result read as a user's words, an assistant's tool calls forgotten.
    if not isinstance(message, dict):
        return message
    if message.get("role") == "tool":
        content = message.get("content")
        return {"role": "user", "content": content if isinstance(content, str) else ""}
    if "tool_calls" in message:
        kept = {k: v for k, v in message.items() if k != "tool_calls"}
        kept["content"] = kept.get("content") or ""
        return kept
    return message


def apply_features(body: object, features: Mapping[str, str]) -> object:
    """``body`` as the endpoint with these feature states reads it: :class:`ApiError` (400)
    for a feature it does not support, the fields of an ignored one dropped."""
    if not features or not isinstance(body, dict):
        return body
    for name, state in features.items():
        if state == UNSUPPORTED:
            param = _uses(name, body)
            if param is not None:
                raise _refuse(name, param)
    changed = dict(body)
    for name, state in features.items():
        if state == IGNORED:
            _drop(name, changed)
    return changed


__all__ = [
    "BASIC_PROFILE",
    "BROKEN",
    "FEATURE_STATES",
    "IGNORED",
    "SUPPORTED",
    "UNSUPPORTED",
    "apply_features",
    "check_feature",
    "feature_faults",
    "parse_feature",
]
