"""Non-streamed responses of the reference server: shape, usage, and feature semantics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from chatgauge.server import FAIL_MIDSTREAM_MARKER, ServerConfig, background_server
from tests.server_support import WEATHER_TOOL, assert_error_envelope, chat, content_of, post

FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def test_completion_shape(base_url: str) -> None:
    body = post(base_url, chat(seed=1)).json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert abs(body["created"] - time.time()) < 60
    assert body["model"] == "pro"
    assert isinstance(body["system_fingerprint"], str)
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    message = choice["message"]
    assert message["role"] == "assistant"
    assert message["refusal"] is None
    assert isinstance(message["content"], str)
    assert message["content"]
    assert "tool_calls" not in message


def test_usage_arithmetic_and_details(base_url: str) -> None:
    usage = post(base_url, chat(n=2)).json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] > 0
    assert 0 <= usage["prompt_tokens_details"]["cached_tokens"] <= usage["prompt_tokens"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 <= reasoning <= usage["completion_tokens"]


def test_completion_tokens_count_the_words_generated(base_url: str) -> None:
    body = post(base_url, chat(seed=3)).json()
    words = body["choices"][0]["message"]["content"].split()
    assert body["usage"]["completion_tokens"] == len(words)


def test_prompt_tokens_grow_with_the_prompt(base_url: str) -> None:
    short = post(base_url, chat()).json()["usage"]["prompt_tokens"]
    longer_messages = [{"role": "user", "content": "Tell me about rivers. " * 10}]
    longer = post(base_url, chat(messages=longer_messages)).json()["usage"]["prompt_tokens"]
    assert longer > short


def test_same_seed_same_output_and_other_seed_other_output(base_url: str) -> None:
    first = content_of(post(base_url, chat(seed=42, temperature=0)))
    assert content_of(post(base_url, chat(seed=42, temperature=0))) == first
    assert content_of(post(base_url, chat(seed=43, temperature=0))) != first


def test_n_choices_have_indices_and_finish_reasons(base_url: str) -> None:
    choices = post(base_url, chat(n=3, seed=5)).json()["choices"]
    assert [choice["index"] for choice in choices] == [0, 1, 2]
    assert all(choice["finish_reason"] in FINISH_REASONS for choice in choices)
    assert len({choice["message"]["content"] for choice in choices}) == 3


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_cuts_with_finish_length(base_url: str, limit_field: str) -> None:
    full = content_of(post(base_url, chat(seed=7)))
    body = post(base_url, chat(seed=7, **{limit_field: 5})).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    content = body["choices"][0]["message"]["content"]
    assert full.startswith(content)
    assert len(content.split()) == 5


def test_stop_cuts_before_the_stop_text(base_url: str) -> None:
    full = content_of(post(base_url, chat(seed=9)))
    stop = " " + full.split()[4]
    body = post(base_url, chat(seed=9, stop=[stop, "never-generated"])).json()
    content = body["choices"][0]["message"]["content"]
    assert content == full[: full.index(stop)]
    assert stop not in content
    assert body["choices"][0]["finish_reason"] == "stop"


def test_json_mode_content_is_a_json_object(base_url: str) -> None:
    for seed in range(5):
        body = post(base_url, chat(seed=seed, response_format={"type": "json_object"})).json()
        assert body["choices"][0]["finish_reason"] == "stop"
        assert isinstance(json.loads(body["choices"][0]["message"]["content"]), dict)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3},
        "rating": {"type": "number", "minimum": 1, "maximum": 5},
        "votes": {"type": "integer", "exclusiveMinimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "kind": {"enum": ["book", "film"]},
        "version": {"const": 2},
        "draft": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "origin": {"anyOf": [{"$ref": "#/$defs/place"}, {"type": "null"}]},
    },
    "required": [
        "title", "rating", "votes", "tags", "kind", "version", "draft", "note", "origin"
    ],
    "additionalProperties": False,
    "$defs": {
        "place": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        }
    },
}  # fmt: skip


def test_json_schema_output_validates(base_url: str) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "review", "schema": SCHEMA, "strict": True},
    }
    for seed in range(5):
        body = post(base_url, chat(seed=seed, response_format=response_format)).json()
        assert body["choices"][0]["finish_reason"] == "stop"
        jsonschema.validate(json.loads(body["choices"][0]["message"]["content"]), SCHEMA)


def test_logprobs_entries(base_url: str) -> None:
    body = post(base_url, chat(seed=11, logprobs=True, top_logprobs=3)).json()
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert "".join(entry["token"] for entry in entries) == choice["message"]["content"]
    for entry in entries:
        assert entry["logprob"] <= 0
        assert entry["bytes"] == list(entry["token"].encode())
        assert len(entry["top_logprobs"]) == 3
        assert all(alt["logprob"] <= 0 for alt in entry["top_logprobs"])


def test_logprobs_without_top_logprobs_have_no_alternatives(base_url: str) -> None:
    body = post(base_url, chat(logprobs=True)).json()
    assert all(entry["top_logprobs"] == [] for entry in body["choices"][0]["logprobs"]["content"])


@pytest.mark.parametrize(
    ("tool_choice", "finish_reason"),
    [
        (None, "tool_calls"),
        ("auto", "tool_calls"),
        ("required", "tool_calls"),
        ({"type": "function", "function": {"name": "get_weather"}}, "stop"),
    ],
)
def test_tool_call_answers(base_url: str, tool_choice: Any, finish_reason: str) -> None:
    fields: dict[str, Any] = {"tools": [WEATHER_TOOL]}
    if tool_choice is not None:
        fields["tool_choice"] = tool_choice
    choice = post(base_url, chat(**fields)).json()["choices"][0]
    assert choice["finish_reason"] == finish_reason
    message = choice["message"]
    assert message["content"] is None
    [call] = message["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], str)
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])


def test_tool_choice_none_answers_with_text(base_url: str) -> None:
    message = post(base_url, chat(tools=[WEATHER_TOOL], tool_choice="none")).json()["choices"][0]
    assert isinstance(message["message"]["content"], str)
    assert "tool_calls" not in message["message"]


def test_failure_marker_without_stream_is_a_500_envelope(base_url: str) -> None:
    body = chat(messages=[{"role": "user", "content": f"please {FAIL_MIDSTREAM_MARKER}"}])
    error = assert_error_envelope(post(base_url, body), 500)
    assert error["type"] == "server_error"
