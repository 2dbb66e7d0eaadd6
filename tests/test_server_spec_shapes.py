"""The reference endpoint against the OpenAPI document's shapes (issue 16).

Each gap schemathesis found is a real request on loopback: custom tools and custom tool
calls are accepted and answered; the documented fields the endpoint has no use for are
still validated (``modalities``, ``prompt_cache_key``, ``prompt_cache_breakpoint``, ...);
unknown top-level fields, a tool message answering no tool call and an empty ``tools``
array are refused as OpenAI refuses them; ``null`` is accepted only where the spec allows
it, and an integral decimal counts as an integer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import (
    ChatCompletionCustomToolParam,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionNamedToolChoiceCustomParam,
)

from chatgauge.server import ServerConfig, background_server
from tests.server_support import WEATHER_TOOL, assert_error_envelope, chat, post, streamed

CUSTOM_TOOL: dict[str, Any] = {
    "type": "custom",
    "custom": {"name": "run_sql", "description": "Run a query.", "format": {"type": "text"}},
}
CUSTOM_CHOICE: dict[str, Any] = {"type": "custom", "custom": {"name": "run_sql"}}
CUSTOM_CALL: dict[str, Any] = {
    "id": "call_c1",
    "type": "custom",
    "custom": {"name": "run_sql", "input": "select 1"},
}
FUNCTION_CALL: dict[str, Any] = {
    "id": "call_f1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": "{}"},
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def _turn(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Query it."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "1"},
    ]


ACCEPTED: dict[str, dict[str, Any]] = {
    "custom tool offered": chat(tools=[CUSTOM_TOOL]),
    "custom tool with a grammar": chat(
        tools=[
            {
                "type": "custom",
                "custom": {
                    "name": "digits",
                    "format": {
                        "type": "grammar",
                        "grammar": {"definition": "[0-9]+", "syntax": "regex"},
                    },
                },
            }
        ]
    ),
    "assistant custom tool call in history": chat(messages=_turn(CUSTOM_CALL)),
    "allowed_tools tool_choice": chat(
        tools=[WEATHER_TOOL, CUSTOM_TOOL],
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {"mode": "required", "tools": [CUSTOM_CHOICE]},
        },
    ),
    "modalities text and audio": chat(modalities=["text", "audio"]),
    "modalities null": chat(modalities=None),
    "prompt_cache_key string": chat(prompt_cache_key="tenant-7"),
    "prompt_cache_key null": chat(prompt_cache_key=None),
    "prompt_cache_breakpoint with mode": chat(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi", "prompt_cache_breakpoint": {"mode": "explicit"}}
                ],
            }
        ]
    ),
    "tool answers an assistant's function call": chat(messages=_turn(FUNCTION_CALL)),
    "two tool answers in a row": chat(
        messages=[
            {"role": "user", "content": "Two calls."},
            {"role": "assistant", "tool_calls": [FUNCTION_CALL, CUSTOM_CALL]},
            {"role": "tool", "tool_call_id": "call_f1", "content": "a"},
            {"role": "tool", "tool_call_id": "call_c1", "content": "b"},
        ]
    ),
    "integral decimal for an integer": chat(n=2.0, max_tokens=3.0),
    "documented fields with valid values": chat(
        audio={"voice": "ash", "format": "mp3"},
        metadata={"team": "search"},
        service_tier="flex",
        reasoning_effort="low",
        verbosity="high",
        safety_identifier="user-42",
        store=True,
        user="u-1",
        web_search_options={"search_context_size": "low"},
        prediction={"type": "content", "content": "hello"},
        prompt_cache_options={"ttl": "30m", "mode": "explicit"},
        moderation={"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}},
    ),
}


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_spec_valid_requests_are_accepted(base_url: str, body: dict[str, Any]) -> None:
    exchange = post(base_url, body)
    assert exchange.status == 200, exchange.raw
    assert exchange.json()["object"] == "chat.completion"


REJECTED: dict[str, tuple[dict[str, Any], str | None, str | None]] = {
    # label: (body, param, code)
    "modalities empty string": (chat(modalities=[""]), "modalities[0]", "invalid_value"),
    "modalities video": (chat(modalities=["video"]), "modalities[0]", "invalid_value"),
    "modalities not an array": (chat(modalities="text"), "modalities", "invalid_type"),
    "prompt_cache_key array": (
        chat(prompt_cache_key=[True, []]),
        "prompt_cache_key",
        "invalid_type",
    ),
    "prompt_cache_breakpoint without mode": (
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi", "prompt_cache_breakpoint": {}}],
                }
            ]
        ),
        "messages[0].content[0].prompt_cache_breakpoint.mode",
        "missing_required_parameter",
    ),
    "custom tool without a name": (
        chat(tools=[{"type": "custom", "custom": {}}]),
        "tools[0].custom.name",
        "missing_required_parameter",
    ),
    "unknown tool type": (
        chat(tools=[{"type": "hologram"}]),
        "tools[0].type",
        "invalid_value",
    ),
    "custom tool_choice naming no custom tool": (
        chat(
            tools=[WEATHER_TOOL], tool_choice={"type": "custom", "custom": {"name": "get_weather"}}
        ),
        "tool_choice",
        "invalid_value",
    ),
    "custom tool call without input": (
        chat(messages=_turn({"id": "c", "type": "custom", "custom": {"name": "run_sql"}})),
        "messages[1].tool_calls[0].custom.input",
        "missing_required_parameter",
    ),
    "tool call without type": (
        chat(messages=_turn({"id": "c", "function": {"name": "f", "arguments": "{}"}})),
        "messages[1].tool_calls[0].type",
        "missing_required_parameter",
    ),
    "empty tools": (chat(tools=[]), "tools", "empty_array"),
    "129 tools": (chat(tools=[WEATHER_TOOL] * 129), "tools", "array_above_max_length"),
    "tools null": (chat(tools=None), "tools", "invalid_type"),
    "parallel_tool_calls null": (
        chat(parallel_tool_calls=None),
        "parallel_tool_calls",
        "invalid_type",
    ),
    "message name null": (
        chat(messages=[{"role": "user", "content": "hi", "name": None}]),
        "messages[0].name",
        "invalid_type",
    ),
    "empty stop array": (chat(stop=[]), "stop", "empty_array"),
    "logit_bias decimal": (chat(logit_bias={"7": 0.5}), "logit_bias.7", "invalid_type"),
    "integer given as 1.5": (chat(max_tokens=1.5), "max_tokens", "invalid_type"),
    "audio format": (
        chat(audio={"voice": "ash", "format": "ogg"}),
        "audio.format",
        "invalid_value",
    ),
    "metadata value": (chat(metadata={"k": 1}), "metadata.k", "invalid_type"),
    "service_tier": (chat(service_tier="gold"), "service_tier", "invalid_value"),
    "safety_identifier too long": (
        chat(safety_identifier="x" * 65),
        "safety_identifier",
        "string_above_max_length",
    ),
    "web_search_options location type": (
        chat(web_search_options={"user_location": {"type": "exact", "approximate": {}}}),
        "web_search_options.user_location.type",
        "invalid_value",
    ),
    "image url without a scheme": (
        chat(
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "cat"}}]}
            ]
        ),
        "messages[0].content[0].image_url.url",
        "invalid_value",
    ),
    "input_audio format": (
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}
                    ],
                }
            ]
        ),
        "messages[0].content[0].input_audio.format",
        "invalid_value",
    ),
    "function message without content": (
        chat(messages=[{"role": "function", "name": "f"}]),
        "messages[0].content",
        "missing_required_parameter",
    ),
    "stream_options include_obfuscation": (
        streamed(stream_options={"include_obfuscation": "yes"}),
        "stream_options.include_obfuscation",
        "invalid_type",
    ),
}


@pytest.mark.parametrize(("body", "param", "code"), REJECTED.values(), ids=REJECTED.keys())
def test_spec_invalid_requests_get_400(
    base_url: str, body: dict[str, Any], param: str | None, code: str | None
) -> None:
    error = assert_error_envelope(post(base_url, body), 400, code)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_top_level_field_is_refused_like_openai(base_url: str) -> None:
    error = assert_error_envelope(post(base_url, chat(x_vendor_option={"a": 1}, top_k=3)), 400)
    assert error["message"] == "Unrecognized request arguments supplied: top_k, x_vendor_option"
    assert error["param"] is None
    assert error["code"] is None


def test_tool_message_must_answer_a_tool_call(base_url: str) -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    error = assert_error_envelope(post(base_url, chat(messages=messages)), 400)
    assert error["param"] == "messages[1].role"
    assert "must be a response to a preceding message with 'tool_calls'" in error["message"]


def test_a_tool_message_after_plain_text_is_refused(base_url: str) -> None:
    messages = [*_turn(FUNCTION_CALL), {"role": "assistant", "content": "Done."}]
    messages.append({"role": "tool", "tool_call_id": "call_f1", "content": "late"})
    error = assert_error_envelope(post(base_url, chat(messages=messages)), 400)
    assert error["param"] == "messages[4].role"


def test_named_custom_tool_is_called(base_url: str) -> None:
    body = chat(tools=[WEATHER_TOOL, CUSTOM_TOOL], tool_choice=CUSTOM_CHOICE)
    choice = post(base_url, body).json()["choices"][0]
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "custom"
    assert call["custom"]["name"] == "run_sql"
    assert isinstance(call["custom"]["input"], str)
    assert call["custom"]["input"]
    assert "function" not in call


def test_allowed_tools_limits_the_call(base_url: str) -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [CUSTOM_CHOICE]},
    }
    for seed in range(5):
        body = chat(tools=[WEATHER_TOOL, CUSTOM_TOOL], tool_choice=choice, seed=seed)
        (call,) = post(base_url, body).json()["choices"][0]["message"]["tool_calls"]
        assert call["custom"]["name"] == "run_sql"


def test_streamed_custom_tool_call_matches_the_non_streamed_one(base_url: str) -> None:
    body = chat(tools=[CUSTOM_TOOL], tool_choice="required", seed=3)
    whole = post(base_url, body).json()["choices"][0]
    stream = post(base_url, {**body, "stream": True})
    fragments = [
        call for choice in stream.choice_chunks() for call in choice["delta"].get("tool_calls", ())
    ]
    header, *pieces = fragments
    assert header["type"] == "custom"
    assert header["custom"]["name"] == "run_sql"
    streamed_input = header["custom"]["input"] + "".join(p["custom"]["input"] for p in pieces)
    (call,) = whole["message"]["tool_calls"]
    assert streamed_input == call["custom"]["input"]
    assert stream.finish_reasons() == [whole["finish_reason"]] == ["tool_calls"]


def test_openai_client_reads_a_custom_tool_call(base_url: str) -> None:
    tool: ChatCompletionCustomToolParam = {"type": "custom", "custom": {"name": "run_sql"}}
    choice: ChatCompletionNamedToolChoiceCustomParam = {
        "type": "custom",
        "custom": {"name": "run_sql"},
    }
    client = openai.OpenAI(base_url=base_url, api_key="sk-unused", max_retries=0, timeout=10)
    with client:
        completion = client.chat.completions.create(
            model="pro",
            messages=[{"role": "user", "content": "Query it."}],
            tools=[tool],
            tool_choice=choice,
        )
    calls = completion.choices[0].message.tool_calls or []
    assert len(calls) == 1
    assert isinstance(calls[0], ChatCompletionMessageCustomToolCall)
    assert calls[0].custom.name == "run_sql"
    assert calls[0].custom.input
