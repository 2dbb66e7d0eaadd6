"""The top-level request fields: which exist, and the shapes of those generation never reads.

:data:`DOCUMENTED_FIELDS` lists every property of ``CreateChatCompletionRequest`` in the
OpenAPI document (2.3.0); anything else is an unknown argument, which OpenAI refuses with
400 "Unrecognized request argument supplied: NAME" (``param`` and ``code`` null). The fields
the reference endpoint accepts but has no use for (``audio``, ``metadata``, ``modalities``,
``prompt_cache_key``, ``web_search_options``, ...) are still checked against the spec's
shapes in :data:`UNUSED_FIELD_SHAPES`, since OpenAI validates them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from chatgauge.server._errors import ApiError
from chatgauge.server._messages import TEXT_PART
from chatgauge.server._params import NAME_PATTERN
from chatgauge.server._shapes import (
    BOOLEAN,
    STRING,
    Shape,
    any_of,
    array,
    enum,
    map_of,
    nullable,
    obj,
    string,
    tagged,
)

DOCUMENTED_FIELDS: Final = frozenset(
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

_MODERATION_CONFIG: Final = nullable(obj({"mode": enum("score", "block")}))
_TEXT_PARTS: Final = array(tagged("type", {"text": TEXT_PART}), min_items=1)
UNUSED_FIELD_SHAPES: Final[Mapping[str, Shape]] = {
    "audio": nullable(
        obj(
            {
                "voice": any_of(STRING, obj({"id": STRING}, closed=True)),
                "format": enum("wav", "aac", "mp3", "flac", "opus", "pcm16"),
            }
        )
    ),
    "function_call": any_of(enum("none", "auto"), obj({"name": STRING})),
    "functions": array(
        obj(
            {"name": string(pattern=NAME_PATTERN.pattern)},
            {"description": STRING, "parameters": obj()},
        ),
        min_items=1,
        max_items=128,
    ),
    "metadata": nullable(map_of(STRING)),
    "modalities": nullable(array(enum("text", "audio"))),
    "moderation": nullable(
        obj(
            {"model": STRING},
            {
                "policy": nullable(
                    obj(optional={"input": _MODERATION_CONFIG, "output": _MODERATION_CONFIG})
                )
            },
        )
    ),
    "prediction": nullable(obj({"type": enum("content"), "content": any_of(STRING, _TEXT_PARTS)})),
    "prompt_cache_key": nullable(STRING),
    "prompt_cache_options": obj(
        optional={"ttl": enum("30m"), "mode": enum("implicit", "explicit")}
    ),
    "prompt_cache_retention": nullable(enum("in_memory", "24h")),
    "reasoning_effort": nullable(enum("none", "minimal", "low", "medium", "high", "xhigh", "max")),
    "safety_identifier": nullable(string(max_length=64)),
    "service_tier": nullable(enum("auto", "default", "flex", "scale", "priority", "fast")),
    "store": nullable(BOOLEAN),
    "user": STRING,
    "verbosity": nullable(enum("low", "medium", "high")),
    "web_search_options": obj(
        optional={
            "user_location": nullable(
                obj(
                    {
                        "type": enum("approximate"),
                        "approximate": obj(
                            optional={
                                "country": STRING,
                                "region": STRING,
                                "city": STRING,
                                "timezone": STRING,
                            }
                        ),
                    }
                )
            ),
            "search_context_size": enum("low", "medium", "high"),
        }
    ),
}


def reject_unknown_fields(body: Mapping[str, Any]) -> None:
    """Refuse top-level fields the spec does not define, as OpenAI does."""
    unknown = sorted(name for name in body if name not in DOCUMENTED_FIELDS)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ApiError(400, f"Unrecognized request argument{plural} supplied: {', '.join(unknown)}")


def check_unused_fields(body: Mapping[str, Any]) -> None:
    """Check each documented field generation does not read against its spec shape."""
    for name, shape in UNUSED_FIELD_SHAPES.items():
        if name in body:
            shape.check(body[name], name)
