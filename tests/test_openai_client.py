"""The official ``openai`` client against ``chatgauge serve`` (issue 2 acceptance, rule E8)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from chatgauge._secret import Secret
from chatgauge.server import FRAMINGS, ServerConfig, background_server
from tests.server_support import WEATHER_TOOL

API_KEY = "sk-openai-client-test"
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Tell me about rivers."}
]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with background_server(ServerConfig(port=0, api_key=Secret(API_KEY))) as url:
        client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=10)
        yield client
        client.close()


def test_non_streamed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="pro", messages=MESSAGES, seed=1)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_streamed_with_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="pro", messages=MESSAGES, seed=2)
    stream = client.chat.completions.create(
        model="pro",
        messages=MESSAGES,
        seed=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage == whole.usage


def test_two_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="pro", messages=MESSAGES, n=2)
    assert [choice.index for choice in completion.choices] == [0, 1]


def test_json_mode(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="pro", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_tool_calls(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="pro",
        messages=MESSAGES,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"city", "unit", "days"}


def test_invalid_temperature_raises_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="pro", messages=MESSAGES, temperature=2.5)
    assert caught.value.status_code == 400


def test_wrong_key_raises_authentication_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        client.with_options(api_key="sk-wrong").chat.completions.create(
            model="pro", messages=MESSAGES
        )


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_each_framing_replays_through_the_client(framing: str) -> None:
    config = ServerConfig(port=0, framings=frozenset({framing}))
    with background_server(config) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=10)
        whole = client.chat.completions.create(model="pro", messages=MESSAGES, seed=3)
        stream = client.chat.completions.create(
            model="pro",
            messages=MESSAGES,
            seed=3,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        client.close()
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage == whole.usage
