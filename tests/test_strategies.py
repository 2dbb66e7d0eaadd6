"""The request strategies: valid ones validate against the request schema and stay within
budget; invalid ones break the schema or a named prose rule; both are deterministic."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatgauge.conformance._budget import MAX_N
from chatgauge.conformance.strategies import (
    BOUNDS,
    INVALID_LABEL,
    MAX_TOP_LOGPROBS,
    OUTSIDE_MARGIN,
    InvalidRequest,
    boundary_requests,
    invalid_examples,
    invalid_requests,
    shape_requests,
    valid_requests,
)
from chatgauge.schemas import validator

T = TypeVar("T")
MODEL = "pro"
CAP = 4
PROFILE = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
REQUEST_SCHEMA = validator("chat_completion_request", "strict")


def schema_errors(body: Any) -> list[str]:
    return [e.message for e in REQUEST_SCHEMA.iter_errors(body)]


def draw_all(strategy: st.SearchStrategy[T], count: int = 150) -> list[T]:
    """The values a derandomized run of ``count`` examples draws, in order."""
    seen: list[T] = []

    @settings(PROFILE, max_examples=count)
    @given(strategy)
    def collect(value: T) -> None:
        seen.append(value)

    collect()
    return seen


# --- valid requests ----------------------------------------------------------------------


@PROFILE
@given(valid_requests(MODEL, CAP))
def test_valid_requests_validate_against_the_request_schema(body: dict[str, Any]) -> None:
    assert schema_errors(body) == []


@PROFILE
@given(valid_requests(MODEL, CAP))
def test_valid_requests_stay_within_budget(body: dict[str, Any]) -> None:
    limits = [key for key in ("max_tokens", "max_completion_tokens") if key in body]
    assert len(limits) == 1
    assert 1 <= body[limits[0]] <= CAP
    assert 1 <= body.get("n", 1) <= MAX_N


@PROFILE
@given(valid_requests(MODEL, CAP))
def test_valid_requests_keep_the_prose_rules(body: dict[str, Any]) -> None:
    if "top_logprobs" in body:
        assert body.get("logprobs") is True
        assert 0 <= body["top_logprobs"] <= MAX_TOP_LOGPROBS
    if "stream_options" in body:
        assert body.get("stream") is True
    if body.get("response_format", {}).get("type") == "json_object":
        assert "JSON" in json.dumps(body["messages"])
    # Every tool message answers a call made by an earlier assistant message.
    called: set[str] = set()
    for message in body["messages"]:
        called |= {call["id"] for call in message.get("tool_calls", [])}
        if message["role"] == "tool":
            assert message["tool_call_id"] in called
    if called:
        assert body.get("tools")


def test_valid_requests_explore_every_shape() -> None:
    bodies = draw_all(valid_requests(MODEL, CAP), 200)
    messages = [m for b in bodies for m in b["messages"]]
    assert {m["role"] for m in messages} == {"system", "developer", "user", "assistant", "tool"}
    assert any(isinstance(m.get("content"), list) for m in messages)
    assert any("tool_calls" in m and m.get("content") is None for m in messages)
    assert {b["response_format"]["type"] for b in bodies if "response_format" in b} == {
        "text",
        "json_object",
        "json_schema",
    }
    assert {b.get("temperature") for b in bodies} >= {0, 2}
    assert any(isinstance(b.get("stop"), list) for b in bodies)
    assert any(isinstance(b.get("stop"), str) for b in bodies)
    assert any(b.get("stream") for b in bodies)
    assert any("max_completion_tokens" in b for b in bodies)
    assert {b.get("n", 1) for b in bodies} == {1, 2, 3}


def test_valid_requests_without_streaming() -> None:
    bodies = draw_all(valid_requests(MODEL, CAP, allow_stream=False), 60)
    assert not any("stream" in b for b in bodies)


def test_valid_requests_refuse_a_zero_budget() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        draw_all(valid_requests(MODEL, 0), 1)


def test_strategies_are_deterministic_when_derandomized() -> None:
    assert draw_all(valid_requests(MODEL, CAP), 30) == draw_all(valid_requests(MODEL, CAP), 30)
    assert draw_all(invalid_requests(MODEL), 30) == draw_all(invalid_requests(MODEL), 30)


@pytest.mark.parametrize("named", [boundary_requests, shape_requests], ids=["boundaries", "shapes"])
def test_named_valid_requests_validate(
    named: Callable[[str, int], list[tuple[str, dict[str, Any]]]],
) -> None:
    cases = named(MODEL, CAP)
    assert len({name for name, _ in cases}) == len(cases)
    for name, body in cases:
        assert schema_errors(body) == [], name
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        assert isinstance(limit, int), name
        assert 1 <= limit <= CAP, name


def test_boundary_requests_sit_on_every_bound() -> None:
    bodies = [body for _, body in boundary_requests(MODEL, CAP)]
    for key, (low, high) in BOUNDS.items():
        values = {body[key] for body in bodies if key in body}
        assert {low, high} <= values, key
    assert 1.5 in {b.get("temperature") for b in bodies}
    assert {b.get("top_logprobs") for b in bodies} >= {0, MAX_TOP_LOGPROBS}
    assert MAX_N in {b.get("n") for b in bodies}


# --- invalid requests --------------------------------------------------------------------


def _top_logprobs_alone(body: dict[str, Any]) -> bool:
    return "top_logprobs" in body and body.get("logprobs") is not True


def _stream_options_alone(body: dict[str, Any]) -> bool:
    return "stream_options" in body and body.get("stream") is not True


PROSE_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "top_logprobs without logprobs": _top_logprobs_alone,
    "stream_options without stream": _stream_options_alone,
}


def assert_invalid(request: InvalidRequest) -> None:
    """The request is not a JSON object, breaks the schema, or breaks its named prose rule."""
    if request.raw_body is not None:
        try:
            parsed = json.loads(request.raw_body)
        except ValueError:
            return
        assert not isinstance(parsed, dict), request
        return
    errors = schema_errors(request.body)
    if request.prose_rule:
        assert errors == [], request
        assert PROSE_RULES[request.violation](request.body), request
    else:
        assert errors, request


@PROFILE
@given(invalid_requests(MODEL))
def test_invalid_requests_break_the_schema_or_a_prose_rule(request: InvalidRequest) -> None:
    assert_invalid(request)


@PROFILE
@given(invalid_requests(MODEL))
def test_invalid_requests_cost_at_most_one_token(request: InvalidRequest) -> None:
    body = request.body
    if request.raw_body is None and isinstance(body.get("max_tokens"), int):
        assert body["max_tokens"] == 1
    n = body.get("n")
    if isinstance(n, int):
        assert n <= 1


def test_invalid_requests_explore_every_kind() -> None:
    requests = draw_all(invalid_requests(MODEL), 200)
    text = " | ".join(r.violation for r in requests)
    for kind in (
        "out of range",
        "wrong type",
        "missing",
        "unknown role",
        "stop strings",
        "without logprobs",
        "without stream",
        "malformed JSON",
        "not an object",
    ):
        assert kind in text, kind  # fmt: skip


def test_invalid_examples_are_invalid_and_labelled() -> None:
    groups = invalid_examples(MODEL)
    assert set(groups) == {"range", "request", "body"}
    for requests in groups.values():
        for request in requests:
            assert_invalid(request)
            assert request.to_case().label == INVALID_LABEL + request.violation


def test_out_of_range_examples_are_just_outside_each_bound() -> None:
    ranged = [r.body for r in invalid_examples(MODEL)["range"]]
    for key, (low, high) in BOUNDS.items():
        values = sorted(b[key] for b in ranged if key in b)
        assert values == [pytest.approx(low - OUTSIDE_MARGIN), pytest.approx(high + OUTSIDE_MARGIN)]
    assert any(len(b.get("stop", [])) == 5 for b in ranged)
    assert any(b.get("n") == 0 for b in ranged)
