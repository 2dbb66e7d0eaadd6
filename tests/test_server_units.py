"""Pure parts of the reference server: schema instances, tokens, limits, fragments, clocks."""

from __future__ import annotations

import json
from random import Random
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from chatgauge.server._framing import fragment
from chatgauge.server._generation import generate, tokenize
from chatgauge.server._ratelimit import TokenBucket
from chatgauge.server._schema_instance import schema_instance
from chatgauge.server._timing import LatencyModel
from chatgauge.server._validation import ChatRequest, validate_request

NESTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "minItems": 2,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "maxLength": 4},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 9},
                    "price": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                },
                "required": ["sku", "qty", "price"],
                "additionalProperties": False,
            },
        },
        "status": {"anyOf": [{"const": "open"}, {"const": "closed"}]},
        "parent": {"$ref": "#"},
        "meta": {"allOf": [{"properties": {"a": {"type": "boolean"}}, "required": ["a"]}]},
    },
    "required": ["items", "status", "meta"],
    "additionalProperties": False,
}


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_schema_instances_validate(seed: int) -> None:
    jsonschema.validate(schema_instance(NESTED_SCHEMA, Random(seed)), NESTED_SCHEMA)


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_tokens_concatenate_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=45), st.integers(min_value=0, max_value=2**31))
def test_limits_cut_a_prefix_and_count_it(limit: int, seed: int) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": seed}
    full = generate(validate_request(body)).choices[0]
    cut = generate(validate_request({**body, "max_tokens": limit})).choices[0]
    assert "".join(full.tokens).startswith("".join(cut.tokens))
    assert cut.completion_tokens == min(limit, len(full.tokens))
    assert cut.finish_reason == ("length" if limit <= len(full.tokens) else "stop")


def test_json_mode_stays_within_the_default_suite_budget() -> None:
    for seed in range(20):
        request = ChatRequest(
            model="m",
            messages=({"role": "user", "content": "x"},),
            seed=seed,
            response_format="json_object",
            max_tokens=16,
        )
        [choice] = generate(request).choices
        assert choice.finish_reason == "stop"
        assert isinstance(json.loads("".join(choice.tokens)), dict)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=2**31))
def test_fragments_reassemble_and_split_awkwardly(data: bytes, seed: int) -> None:
    pieces = fragment(data, Random(seed))
    assert b"".join(pieces) == data
    assert all(1 <= len(piece) <= 7 for piece in pieces)
    ends = set()
    position = 0
    for piece in pieces:
        position += len(piece)
        ends.add(position)
    for index in range(len(data) - 1):
        if data[index : index + 2] == b"\r\n" or data[index] >= 0xC0:
            assert index + 1 in ends


def test_token_bucket_admits_the_rate_and_says_how_long_to_wait() -> None:
    now = [100.0]
    bucket = TokenBucket(2.0, clock=lambda: now[0])
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == 0.5
    now[0] += 0.5
    assert bucket.acquire() == 0.0


def test_latency_deadlines_follow_an_absolute_schedule() -> None:
    model = LatencyModel(ttft_ms=10, itl_ms=2, jitter_ms=0, seed=0)
    assert [model.deadline_ns(1000, step) for step in range(3)] == [
        1000 + 10_000_000,
        1000 + 12_000_000,
        1000 + 14_000_000,
    ]
    jittered = LatencyModel(ttft_ms=10, itl_ms=2, jitter_ms=1, seed=0)
    for step in range(50):
        offset = jittered.deadline_ns(0, step) - (10_000_000 + step * 2_000_000)
        assert -1_000_000 <= offset <= 1_000_000
    assert not model.instant
    assert LatencyModel(0, 0, 0, seed=0).instant
