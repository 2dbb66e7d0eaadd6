"""Request acceptance and errors of the reference server: statuses, envelopes, auth, limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatgauge._secret import Secret
from chatgauge.server import ServerConfig, background_server
from tests.server_support import WEATHER_TOOL, assert_error_envelope, chat, post

API_KEY = "sk-test-reference-key"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


ACCEPTED: dict[str, dict[str, Any]] = {
    "temperature 0": chat(temperature=0),
    "temperature 1.5": chat(temperature=1.5),
    "temperature 2": chat(temperature=2),
    "top_p 0": chat(top_p=0),
    "top_p 1": chat(top_p=1),
    "penalties -2": chat(presence_penalty=-2, frequency_penalty=-2),
    "penalties 2": chat(presence_penalty=2, frequency_penalty=2),
    "n 3": chat(n=3),
    "top_logprobs 0": chat(logprobs=True, top_logprobs=0),
    "top_logprobs 20": chat(logprobs=True, top_logprobs=20),
    "stop string": chat(stop="x"),
    "stop 4 strings": chat(stop=["a", "b", "c", "d"]),
    "max_tokens 1": chat(max_tokens=1),
    "max_completion_tokens 1": chat(max_completion_tokens=1),
    "text parts": chat(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
    "all roles": chat(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Really brief."},
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]
    ),
    "nulls for optional fields": chat(temperature=None, n=None, stop=None, max_tokens=None),
    "logit_bias in range": chat(logit_bias={"50256": -100, "11": 100}),
    "named tool_choice": chat(
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ),
    "json_schema": chat(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        }
    ),
}


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_valid_requests_are_accepted(base_url: str, body: dict[str, Any]) -> None:
    exchange = post(base_url, body)
    assert exchange.status == 200, exchange.raw
    assert exchange.json()["object"] == "chat.completion"


REJECTED: dict[str, tuple[dict[str, Any], str | None, str | None]] = {
    # label: (body, param, code)
    "temperature -0.1": (chat(temperature=-0.1), "temperature", "decimal_below_min_value"),
    "temperature 2.5": (chat(temperature=2.5), "temperature", "decimal_above_max_value"),
    "temperature string": (chat(temperature="hot"), "temperature", "invalid_type"),
    "temperature bool": (chat(temperature=True), "temperature", "invalid_type"),
    "top_p 1.1": (chat(top_p=1.1), "top_p", "decimal_above_max_value"),
    "presence_penalty 2.1": (
        chat(presence_penalty=2.1),
        "presence_penalty",
        "decimal_above_max_value",
    ),
    "frequency_penalty -3": (
        chat(frequency_penalty=-3),
        "frequency_penalty",
        "decimal_below_min_value",
    ),
    "n 0": (chat(n=0), "n", "integer_below_min_value"),
    "n 129": (chat(n=129), "n", "integer_above_max_value"),
    "n 1.5": (chat(n=1.5), "n", "invalid_type"),
    "empty messages": (chat(messages=[]), "messages", "empty_array"),
    "messages not a list": (chat(messages="hi"), "messages", "invalid_type"),
    "missing model": ({"messages": [{"role": "user", "content": "hi"}]}, "model", None),
    "missing messages": ({"model": "pro"}, "messages", "missing_required_parameter"),
    "unknown role": (
        chat(messages=[{"role": "wizard", "content": "hi"}]),
        "messages[0].role",
        "invalid_value",
    ),
    "message not an object": (chat(messages=["hi"]), "messages[0]", "invalid_type"),
    "user content missing": (
        chat(messages=[{"role": "user"}]),
        "messages[0].content",
        "missing_required_parameter",
    ),
    "assistant null content without tool_calls": (
        chat(messages=[{"role": "assistant", "content": None}]),
        "messages[0].content",
        "missing_required_parameter",
    ),
    "tool without tool_call_id": (
        chat(messages=[{"role": "tool", "content": "x"}]),
        "messages[0].tool_call_id",
        "missing_required_parameter",
    ),
    "unknown content part type": (
        chat(messages=[{"role": "user", "content": [{"type": "hologram"}]}]),
        "messages[0].content[0].type",
        "invalid_value",
    ),
    "5 stop strings": (chat(stop=["a", "b", "c", "d", "e"]), "stop", "array_above_max_length"),
    "stop not a string": (chat(stop=5), "stop", "invalid_type"),
    "top_logprobs without logprobs": (chat(top_logprobs=2), "top_logprobs", "invalid_value"),
    "top_logprobs 21": (
        chat(logprobs=True, top_logprobs=21),
        "top_logprobs",
        "integer_above_max_value",
    ),
    "stream_options without stream": (
        chat(stream_options={"include_usage": True}),
        "stream_options",
        "invalid_value",
    ),
    "logit_bias 101": (chat(logit_bias={"1": 101}), "logit_bias.1", "integer_above_max_value"),
    "tool name with space": (
        chat(tools=[{"type": "function", "function": {"name": "get weather"}}]),
        "tools[0].function.name",
        "invalid_value",
    ),
    "schema name too long": (
        chat(response_format={"type": "json_schema", "json_schema": {"name": "x" * 65}}),
        "response_format.json_schema.name",
        "invalid_value",
    ),
    "max_tokens 0": (chat(max_tokens=0), "max_tokens", "integer_below_min_value"),
    "max_completion_tokens 0": (
        chat(max_completion_tokens=0),
        "max_completion_tokens",
        "integer_below_min_value",
    ),
    "tool_choice without tools": (chat(tool_choice="auto"), "tool_choice", "invalid_value"),
    "unknown response_format": (
        chat(response_format={"type": "yaml"}),
        "response_format.type",
        "invalid_value",
    ),
}


@pytest.mark.parametrize(("body", "param", "code"), REJECTED.values(), ids=REJECTED.keys())
def test_invalid_requests_get_400_envelope(
    base_url: str, body: dict[str, Any], param: str | None, code: str | None
) -> None:
    error = assert_error_envelope(post(base_url, body), 400, code)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
def test_unparseable_or_non_object_bodies_get_400(base_url: str, raw: bytes) -> None:
    assert_error_envelope(post(base_url, raw=raw), 400)


def test_unknown_model_is_404_model_not_found(base_url: str) -> None:
    assert_error_envelope(post(base_url, chat(model="gpt-nonexistent")), 404, "model_not_found")


def test_unknown_route_and_wrong_method_use_the_envelope(base_url: str) -> None:
    missing = httpx.post(f"{base_url}/completions/chat", json=chat(), timeout=10)
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    wrong = httpx.get(f"{base_url}/chat/completions", timeout=10)
    assert wrong.status_code == 405
    assert set(wrong.json()["error"]) == {"message", "type", "param", "code"}


def test_models_list(base_url: str) -> None:
    response = httpx.get(f"{base_url}/models", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]] == ["pro", "fast", "default"]
    assert all(model["object"] == "model" for model in body["data"])
    assert httpx.get(f"{base_url}/models/fast", timeout=10).json()["id"] == "fast"
    assert httpx.get(f"{base_url}/models/nope", timeout=10).status_code == 404


def test_configured_models_are_served() -> None:
    with background_server(ServerConfig(port=0, models=("alpha",))) as url:
        assert post(url, chat(model="alpha")).status == 200
        assert post(url, chat(model="pro")).status == 404


def test_api_key_is_required_when_configured() -> None:
    with background_server(ServerConfig(port=0, api_key=Secret(API_KEY))) as url:
        assert post(url, chat(), api_key=API_KEY).status == 200
        assert_error_envelope(post(url, chat()), 401, "invalid_api_key")
        wrong = post(url, chat(), api_key="sk-wrong")
        error = assert_error_envelope(wrong, 401, "invalid_api_key")
        assert "sk-wrong" not in error["message"]
        assert httpx.get(f"{url}/models", timeout=10).status_code == 401


def test_rate_limit_answers_429_with_retry_after() -> None:
    with background_server(ServerConfig(port=0, rate_limit_rps=1.0)) as url:
        statuses = [post(url, chat()) for _ in range(3)]
    assert statuses[0].status == 200
    limited = [exchange for exchange in statuses if exchange.status == 429]
    assert limited, [exchange.status for exchange in statuses]
    assert_error_envelope(limited[0], 429, "rate_limit_exceeded")
    assert int(limited[0].headers["retry-after"]) >= 1


def test_config_rejects_bad_values_with_one_line() -> None:
    with pytest.raises(ValueError, match=r"unknown fault 'nonsense'; valid faults: .*stop-leak"):
        ServerConfig(faults=frozenset({"nonsense"}))
    with pytest.raises(ValueError, match="unknown framing"):
        ServerConfig(framings=frozenset({"sideways"}))
    with pytest.raises(ValueError, match="itl_ms"):
        ServerConfig(itl_ms=-1)
    with pytest.raises(ValueError, match="rate limit"):
        ServerConfig(rate_limit_rps=0)
    with pytest.raises(ValueError, match="needs a rate limit"):
        ServerConfig(faults=frozenset({"no-retry-after"}))


def test_api_key_never_appears_in_the_config_repr() -> None:
    assert API_KEY not in repr(ServerConfig(api_key=Secret(API_KEY)))
