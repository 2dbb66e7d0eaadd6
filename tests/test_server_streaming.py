"""Streamed responses of the reference server: chunk rules, usage, tools, timing, framings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatgauge.server import (
    FAIL_MIDSTREAM_MARKER,
    FRAMINGS,
    Framing,
    ServerConfig,
    background_server,
)
from tests.server_support import WEATHER_TOOL, Exchange, chat, content_of, post, streamed


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def assert_faithful_stream(exchange: Exchange, n: int = 1) -> None:
    """Rules D1-D3 and E1-E4 for a stream of ``n`` choices."""
    assert exchange.status == 200
    # As api.openai.com sends it; the bare type is the framing bare-content-type.
    assert exchange.headers["content-type"] == "text/event-stream; charset=utf-8"
    data = exchange.data()
    assert data[-1] == "[DONE]"
    assert data.count("[DONE]") == 1
    chunks = exchange.chunks()
    assert {chunk["id"] for chunk in chunks} == {chunks[0]["id"]}
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert {(chunk["created"], chunk["model"]) for chunk in chunks} == {
        (chunks[0]["created"], "pro")
    }
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    for index in range(n):
        own = [c for c in exchange.choice_chunks() if c["index"] == index]
        assert own[0]["delta"]["role"] == "assistant"
        assert all("role" not in c["delta"] for c in own[1:])
        finishes = [i for i, c in enumerate(own) if c["finish_reason"] is not None]
        assert len(finishes) == 1
        assert all(not c["delta"].get("content") for c in own[finishes[0] :])


def test_plain_stream_follows_the_rules(base_url: str) -> None:
    exchange = post(base_url, streamed(seed=1))
    assert_faithful_stream(exchange)
    assert all("usage" not in chunk for chunk in exchange.chunks())
    content_deltas = [c["delta"]["content"] for c in exchange.choice_chunks()[1:-1]]
    assert all(delta and len(delta.split()) == 1 for delta in content_deltas)


def test_streamed_text_equals_non_streamed_text(base_url: str) -> None:
    variants: list[dict[str, Any]] = [{"seed": 4, "temperature": 0}, {"max_tokens": 6}, {"n": 2}]
    for fields in variants:
        whole = post(base_url, chat(**fields)).json()
        stream = post(base_url, streamed(**fields))
        for choice in whole["choices"]:
            assert stream.streamed_text(choice["index"]) == choice["message"]["content"]
            assert stream.finish_reasons(choice["index"]) == [choice["finish_reason"]]


def test_include_usage_sends_one_final_usage_chunk(base_url: str) -> None:
    exchange = post(base_url, streamed(include_usage=True, n=2, seed=2))
    assert_faithful_stream(exchange, n=2)
    chunks = exchange.chunks()
    assert all("usage" in chunk for chunk in chunks)
    [usage_chunk] = exchange.usage_chunks()
    assert usage_chunk == chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    whole = post(base_url, chat(n=2, seed=2)).json()
    assert usage == whole["usage"]


def test_n_choices_are_interleaved(base_url: str) -> None:
    exchange = post(base_url, streamed(n=3, seed=8))
    assert_faithful_stream(exchange, n=3)
    indices = [choice["index"] for choice in exchange.choice_chunks()]
    assert indices[:6] == [0, 1, 2, 0, 1, 2]


def test_stop_and_length_in_streams(base_url: str) -> None:
    length = post(base_url, streamed(max_tokens=3))
    assert length.finish_reasons() == ["length"]
    assert len(length.streamed_text().split()) == 3
    full = content_of(post(base_url, chat(seed=6)))
    stop = " " + full.split()[3]
    stopped = post(base_url, streamed(seed=6, stop=stop))
    assert stopped.streamed_text() == full[: full.index(stop)]
    assert stopped.finish_reasons() == ["stop"]


def test_tool_call_streams_in_fragments(base_url: str) -> None:
    exchange = post(base_url, streamed(tools=[WEATHER_TOOL]))
    assert_faithful_stream(exchange)
    fragments = [
        call
        for choice in exchange.choice_chunks()
        for call in choice["delta"].get("tool_calls") or ()
    ]
    first, *rest = fragments
    assert first["index"] == 0
    assert first["id"].startswith("call_")
    assert first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert rest
    assert all(set(fragment) == {"index", "function"} for fragment in rest)
    assert all(set(fragment["function"]) == {"arguments"} for fragment in rest)
    arguments = "".join(fragment["function"]["arguments"] for fragment in rest)
    assert set(json.loads(arguments)) == {"city", "unit", "days"}
    assert exchange.finish_reasons() == ["tool_calls"]


def test_streamed_logprobs_match_the_deltas(base_url: str) -> None:
    exchange = post(base_url, streamed(logprobs=True, top_logprobs=2))
    for choice in exchange.choice_chunks():
        content = choice["delta"].get("content")
        if content:
            [entry] = choice["logprobs"]["content"]
            assert entry["token"] == content
            assert len(entry["top_logprobs"]) == 2


def test_failure_marker_ends_the_stream_with_an_error_event(base_url: str) -> None:
    body = streamed(messages=[{"role": "user", "content": f"Go. {FAIL_MIDSTREAM_MARKER}"}])
    exchange = post(base_url, body)
    assert exchange.status == 200
    data = exchange.data()
    assert data[-1] == "[DONE]"
    error = json.loads(data[-2])
    assert set(error["error"]) == {"message", "type", "param", "code"}
    contents = [c["delta"].get("content") for c in exchange.choice_chunks()]
    assert len([content for content in contents if content]) == 2


def test_timing_log_records_each_stream(tmp_path: Path) -> None:
    log = tmp_path / "timing.jsonl"
    config = ServerConfig(port=0, timing_log=log, ttft_ms=5, itl_ms=1)
    with background_server(config) as url:
        ids = [post(url, streamed(max_tokens=4 + i)).chunks()[0]["id"] for i in range(3)]
        post(url, chat())  # non-streamed requests are not logged
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [record["id"] for record in records] == ids
    for record, expected_events in zip(records, (4, 5, 6), strict=True):
        assert record["events"] == expected_events
        assert (
            record["t_body_read_ns"] < record["t_first_content_ns"] <= record["t_last_content_ns"]
        )


def normalized(exchange: Exchange) -> list[Any]:
    """The decoded payloads with the per-request fields and the extra fields removed."""
    result: list[Any] = []
    for data in exchange.data():
        if data == "[DONE]":
            result.append(data)
            continue
        chunk = json.loads(data)
        for key in ("id", "created", "x_chatgauge_extra"):
            chunk.pop(key, None)
        if chunk.get("usage", "absent") is None:
            del chunk["usage"]
        for choice in chunk["choices"]:
            choice.pop("x_chatgauge_extra", None)
            choice["delta"].pop("x_chatgauge_extra", None)
        result.append(chunk)
    return result


@pytest.fixture(scope="module")
def plain_payloads(base_url: str) -> list[Any]:
    return normalized(post(base_url, streamed(seed=12, n=2)))


FRAMING_SETS = [frozenset({name}) for name in FRAMINGS] + [
    frozenset({Framing.CRLF, Framing.FRAGMENTED, Framing.COMMENTS, Framing.ID_RETRY}),
    frozenset({Framing.CR, Framing.FRAGMENTED, Framing.MULTILINE_DATA, Framing.NO_SPACE}),
]


@pytest.mark.parametrize("framings", FRAMING_SETS, ids=lambda f: "+".join(sorted(f)))
def test_framing_variants_decode_to_the_plain_payloads(
    framings: frozenset[str], plain_payloads: list[Any]
) -> None:
    with background_server(ServerConfig(port=0, framings=framings)) as url:
        exchange = post(url, streamed(seed=12, n=2))
    assert exchange.status == 200
    assert exchange.headers["content-type"].startswith("text/event-stream")
    assert normalized(exchange) == plain_payloads


def test_framing_variants_change_the_bytes(base_url: str) -> None:
    """Guards the test above: each wire framing really changes what is sent."""
    plain = post(base_url, streamed(seed=12)).raw
    for name in FRAMINGS:
        with background_server(ServerConfig(port=0, framings=frozenset({name}))) as url:
            exchange = post(url, streamed(seed=12))
        if name == Framing.BARE_CONTENT_TYPE:
            assert exchange.headers["content-type"] == "text/event-stream"
        elif name != Framing.FRAGMENTED:  # fragments are invisible once reassembled
            assert exchange.raw.replace(b"chatcmpl", b"") != plain.replace(b"chatcmpl", b"")
