"""Every fault shows its deviation, and the faithful server does not show it.

Each fault has a probe: requests designed to expose it and a predicate on what came back.
The predicate must hold with the fault switched on and fail on the faithful server, so a
probe can neither pass vacuously nor blame the faithful server. A fault added to ``FAULTS``
without a probe fails :func:`test_fault_shows_its_deviation` for lack of one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest

from chatgauge._secret import Secret
from chatgauge.server import FAULTS, Fault, ServerConfig, background_server
from tests.server_support import WEATHER_TOOL, Exchange, chat, content_of, post, streamed

API_KEY = "sk-fault-probe"
FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Probe:
    """``shows(base_url)`` sends requests and says whether the deviation is visible."""

    shows: Callable[[str], bool]
    server: dict[str, Any] = field(default_factory=dict)


def one(body: dict[str, Any], predicate: Callable[[Exchange], bool]) -> Callable[[str], bool]:
    """A probe body: one request, one predicate on its exchange."""
    return lambda url: predicate(post(url, body))


def is_json_object(text: str | None) -> bool:
    try:
        return isinstance(json.loads(text or ""), dict)
    except ValueError:
        return False


def is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def per_index(exchange: Exchange) -> dict[int, list[dict[str, Any]]]:
    groups: dict[int, list[dict[str, Any]]] = {}
    for choice in exchange.choice_chunks():
        groups.setdefault(choice.get("index", -1), []).append(choice)
    return groups


def content_after_finish(exchange: Exchange) -> bool:
    for choices in per_index(exchange).values():
        finished = False
        for choice in choices:
            if finished and choice["delta"].get("content"):
                return True
            finished = finished or choice["finish_reason"] is not None
    return False


def tool_fragments(exchange: Exchange) -> list[dict[str, Any]]:
    return [
        call
        for choice in exchange.choice_chunks()
        for call in choice["delta"].get("tool_calls") or ()
    ]


def data_after_done(exchange: Exchange) -> bool:
    data = exchange.data()
    return "[DONE]" in data and any(item != "[DONE]" for item in data[data.index("[DONE]") :])


def stop_leaks(url: str) -> bool:
    full = content_of(post(url, chat(seed=21)))
    stop = " " + full.split()[3]
    return stop in content_of(post(url, chat(seed=21, stop=stop)))


def stopped_early(url: str) -> Exchange:
    """A response cut by a stop sequence taken from the unstopped text."""
    full = content_of(post(url, chat(seed=22)))
    return post(url, chat(seed=22, stop=" " + full.split()[3]))


def prompt_tokens_constant(url: str) -> bool:
    short = post(url, chat()).json()["usage"]["prompt_tokens"]
    long_prompt = [{"role": "user", "content": "many words here " * 20}]
    return bool(post(url, chat(messages=long_prompt)).json()["usage"]["prompt_tokens"] == short)


def stream_usage_differs(url: str) -> bool:
    whole = post(url, chat(seed=5)).json()["usage"]
    [usage_chunk] = post(url, streamed(include_usage=True, seed=5)).usage_chunks()
    return bool(usage_chunk["usage"] != whole)


def stream_text_differs(url: str) -> bool:
    whole = content_of(post(url, chat(seed=5, temperature=0)))
    return bool(post(url, streamed(seed=5, temperature=0)).streamed_text() != whole)


def missing_retry_after(url: str) -> bool:
    for _ in range(5):
        exchange = post(url, chat())
        if exchange.status == 429:
            return "retry-after" not in exchange.headers
    raise AssertionError("the rate limit never answered 429")


def usage_counts_one_choice(url: str) -> bool:
    body = post(url, chat(n=3, max_tokens=3)).json()
    return bool(body["usage"]["completion_tokens"] < 3 * len(body["choices"]))


def usage_chunk_per_choice(url: str) -> bool:
    exchange = post(url, streamed(n=3, include_usage=True))
    chunks = exchange.chunks()
    usage_at = [i for i, c in enumerate(chunks) if c.get("usage")]
    finish_at = [
        i for i, c in enumerate(chunks) for choice in c["choices"] if choice["finish_reason"]
    ]
    return len(usage_at) > 1 and usage_at[0] < max(finish_at)


def alternatives(body: dict[str, Any]) -> list[int]:
    """How many top_logprobs each non-streamed logprobs entry carries."""
    return [len(entry["top_logprobs"]) for entry in body["choices"][0]["logprobs"]["content"]]


def runs_away(url: str) -> bool:
    cut = post(url, chat(max_tokens=3)).json()
    return bool(cut["usage"]["completion_tokens"] > 100)


def schema_violated(exchange: Exchange) -> bool:
    try:
        jsonschema.validate(json.loads(content_of(exchange)), SCHEMA)
    except jsonschema.ValidationError:
        return True
    return False


def logprob_entries(exchange: Exchange) -> list[dict[str, Any]]:
    return list(exchange.json()["choices"][0]["logprobs"]["content"])


LOGPROBS = chat(logprobs=True, top_logprobs=2)
TOOLS = chat(tools=[WEATHER_TOOL])
JSON_SCHEMA = chat(
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": SCHEMA, "strict": True},
    }
)
INVALID = chat(temperature=2.5)

PROBES: dict[str, Probe] = {
    Fault.REJECT_TEMPERATURE_ZERO: Probe(one(chat(temperature=0), lambda e: e.status == 400)),
    Fault.ACCEPT_INVALID_TEMPERATURE: Probe(one(INVALID, lambda e: e.status == 200)),
    Fault.SERVER_ERROR_ON_INVALID: Probe(one(INVALID, lambda e: e.status >= 500)),
    Fault.UNKNOWN_MODEL_OK: Probe(one(chat(model="no-such-model"), lambda e: e.status == 200)),
    Fault.NO_AUTH_CHECK: Probe(
        lambda url: post(url, chat(), api_key="sk-wrong").status == 200,
        server={"api_key": Secret(API_KEY)},
    ),
    Fault.UNKNOWN_FIELD_SERVER_ERROR: Probe(one(chat(x_extra=1), lambda e: e.status == 500)),
    Fault.MAX_COMPLETION_TOKENS_IGNORED: Probe(
        one(chat(max_completion_tokens=3), lambda e: e.json()["usage"]["completion_tokens"] > 3)
    ),
    Fault.REJECT_CONTENT_PARTS: Probe(
        one(
            chat(messages=[{"role": "user", "content": [{"type": "text", "text": "Hi."}]}]),
            lambda e: e.status == 400,
        )
    ),
    Fault.WRONG_MESSAGE_ROLE: Probe(
        one(chat(), lambda e: e.json()["choices"][0]["message"]["role"] != "assistant")
    ),
    Fault.TOOL_CALLS_AS_CONTENT: Probe(
        one(TOOLS, lambda e: "tool_calls" not in e.json()["choices"][0]["message"])
    ),
    Fault.TOOLS_IGNORED: Probe(
        one(
            chat(tools=[WEATHER_TOOL], tool_choice="required", max_tokens=8),
            lambda e: (
                e.json()["choices"][0]["finish_reason"] == "length"
                and bool(content_of(e))
                and "tool_calls" not in e.json()["choices"][0]["message"]
            ),
        )
    ),
    Fault.MISSING_CREATED: Probe(one(chat(), lambda e: "created" not in e.json())),
    Fault.WRONG_OBJECT: Probe(one(chat(), lambda e: e.json()["object"] != "chat.completion")),
    Fault.CHOICES_IGNORE_N: Probe(one(chat(n=2), lambda e: len(e.json()["choices"]) != 2)),
    Fault.BAD_CHOICE_INDEX: Probe(
        one(chat(n=2), lambda e: [c["index"] for c in e.json()["choices"]] != [0, 1])
    ),
    Fault.OMIT_REFUSAL_AND_LOGPROBS: Probe(
        one(chat(), lambda e: "refusal" not in e.json()["choices"][0]["message"])
    ),
    Fault.FINISH_REASON_EOS: Probe(
        one(chat(), lambda e: e.json()["choices"][0]["finish_reason"] not in FINISH_REASONS)
    ),
    Fault.NO_LENGTH_FINISH: Probe(
        one(chat(max_tokens=3), lambda e: e.json()["choices"][0]["finish_reason"] != "length")
    ),
    Fault.ARGUMENTS_AS_OBJECT: Probe(
        one(
            TOOLS,
            lambda e: (
                not isinstance(
                    e.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], str
                )
            ),
        )
    ),
    Fault.STOP_LEAK: Probe(stop_leaks),
    Fault.STOP_FINISH_LENGTH: Probe(
        lambda url: stopped_early(url).json()["choices"][0]["finish_reason"] != "stop"
    ),
    Fault.MAX_TOKENS_IGNORED: Probe(
        one(chat(max_tokens=3), lambda e: e.json()["usage"]["completion_tokens"] > 3)
    ),
    Fault.USAGE_TOTAL_WRONG: Probe(
        one(
            chat(),
            lambda e: (
                (u := e.json()["usage"])["total_tokens"]
                != u["prompt_tokens"] + u["completion_tokens"]
            ),
        )
    ),
    Fault.USAGE_PROMPT_ZERO: Probe(one(chat(), lambda e: e.json()["usage"]["prompt_tokens"] == 0)),
    Fault.USAGE_DETAILS_EXCEED: Probe(
        one(
            chat(),
            lambda e: (
                (u := e.json()["usage"])["prompt_tokens_details"]["cached_tokens"]
                > u["prompt_tokens"]
            ),
        )
    ),
    Fault.PROMPT_TOKENS_CONSTANT: Probe(prompt_tokens_constant),
    Fault.STREAM_USAGE_DIFFERS: Probe(stream_usage_differs),
    Fault.WRONG_CONTENT_TYPE: Probe(
        one(streamed(), lambda e: not e.headers["content-type"].startswith("text/event-stream"))
    ),
    Fault.NON_JSON_DATA: Probe(
        one(streamed(), lambda e: not all(d == "[DONE]" or is_json_object(d) for d in e.data()))
    ),
    Fault.INVALID_UTF8: Probe(one(streamed(), lambda e: not is_utf8(e.raw))),
    Fault.NO_DONE: Probe(one(streamed(), lambda e: "[DONE]" not in e.data())),
    Fault.DATA_AFTER_DONE: Probe(one(streamed(), data_after_done)),
    Fault.DOUBLE_DONE: Probe(one(streamed(), lambda e: e.data().count("[DONE]") > 1)),
    Fault.CHUNK_WRONG_OBJECT: Probe(
        one(streamed(), lambda e: any(c["object"] != "chat.completion.chunk" for c in e.chunks()))
    ),
    Fault.CHUNK_ID_CHANGES: Probe(
        one(streamed(), lambda e: len({c["id"] for c in e.chunks()}) > 1)
    ),
    Fault.EMPTY_CHUNK_ID: Probe(one(streamed(), lambda e: any(c["id"] == "" for c in e.chunks()))),
    Fault.NO_ROLE_FIRST_DELTA: Probe(
        one(
            streamed(n=2),
            lambda e: any("role" not in cs[0]["delta"] for cs in per_index(e).values()),
        )
    ),
    Fault.ROLE_EVERY_DELTA: Probe(
        one(streamed(), lambda e: sum("role" in c["delta"] for c in e.choice_chunks()) > 1)
    ),
    Fault.NO_FINISH_REASON: Probe(one(streamed(), lambda e: e.finish_reasons() == [])),
    Fault.FINISH_REASON_TWICE: Probe(one(streamed(), lambda e: len(e.finish_reasons()) > 1)),
    Fault.CONTENT_AFTER_FINISH: Probe(one(streamed(), content_after_finish)),
    Fault.EMPTY_STRING_FINISH_REASON: Probe(one(streamed(), lambda e: "" in e.finish_reasons())),
    Fault.TOOL_CALL_NO_INDEX: Probe(
        one(
            streamed(tools=[WEATHER_TOOL]),
            lambda e: any("index" not in f for f in tool_fragments(e)),
        )
    ),
    Fault.TOOL_ARGS_INVALID_JSON: Probe(
        one(
            streamed(tools=[WEATHER_TOOL]),
            lambda e: (
                not is_json_object(
                    "".join(f["function"].get("arguments", "") for f in tool_fragments(e))
                )
            ),
        )
    ),
    Fault.USAGE_EVERY_CHUNK: Probe(
        one(streamed(include_usage=True), lambda e: len(e.usage_chunks()) > 1)
    ),
    Fault.USAGE_CHUNK_HAS_CHOICES: Probe(
        one(streamed(include_usage=True), lambda e: any(c["choices"] for c in e.usage_chunks()))
    ),
    Fault.USAGE_WITHOUT_REQUEST: Probe(one(streamed(), lambda e: bool(e.usage_chunks()))),
    Fault.MISSING_USAGE_CHUNK: Probe(
        one(streamed(include_usage=True), lambda e: not e.usage_chunks())
    ),
    Fault.STREAM_TEXT_DIFFERS: Probe(stream_text_differs),
    Fault.FLAT_ERROR: Probe(one(INVALID, lambda e: "error" not in e.json())),
    Fault.ERROR_MISSING_PARAM_KEY: Probe(one(INVALID, lambda e: "param" not in e.json()["error"])),
    Fault.NO_RETRY_AFTER: Probe(missing_retry_after, server={"rate_limit_rps": 1.0}),
    Fault.ERROR_AS_200: Probe(one(INVALID, lambda e: e.status == 200 and "error" in e.json())),
    Fault.JSON_MODE_FENCED: Probe(
        one(
            chat(response_format={"type": "json_object"}),
            lambda e: content_of(e).lstrip().startswith("```"),
        )
    ),
    Fault.JSON_MODE_IGNORED: Probe(
        one(
            chat(response_format={"type": "json_object"}),
            lambda e: not is_json_object(content_of(e)),
        )
    ),
    Fault.JSON_SCHEMA_VIOLATED: Probe(one(JSON_SCHEMA, schema_violated)),
    Fault.LOGPROB_POSITIVE: Probe(
        one(LOGPROBS, lambda e: any(entry["logprob"] > 0 for entry in logprob_entries(e)))
    ),
    Fault.LOGPROB_TOKENS_MISMATCH: Probe(
        one(
            LOGPROBS,
            lambda e: "".join(entry["token"] for entry in logprob_entries(e)) != content_of(e),
        )
    ),
    Fault.TOP_LOGPROBS_TOO_MANY: Probe(
        one(LOGPROBS, lambda e: any(len(entry["top_logprobs"]) > 2 for entry in logprob_entries(e)))
    ),
    Fault.TOP_LOGPROBS_ZERO_GIVES_ONE: Probe(
        one(chat(logprobs=True, top_logprobs=0), lambda e: any(alternatives(e.json())))
    ),
    Fault.TOP_LOGPROBS_TOO_FEW: Probe(
        one(LOGPROBS, lambda e: all(count < 2 for count in alternatives(e.json())))
    ),
    Fault.LOGPROBS_DEFAULT_ALTERNATIVES: Probe(
        one(chat(logprobs=True), lambda e: any(alternatives(e.json())))
    ),
    Fault.LOGPROBS_NEED_TOP_LOGPROBS: Probe(
        one(chat(logprobs=True), lambda e: e.json()["choices"][0]["logprobs"] is None)
    ),
    Fault.USAGE_COUNTS_ONE_CHOICE: Probe(usage_counts_one_choice),
    Fault.USAGE_CHUNK_PER_CHOICE: Probe(usage_chunk_per_choice),
    Fault.EVENT_STREAM_LATIN1: Probe(
        one(streamed(), lambda e: "iso-8859-1" in e.headers["content-type"])
    ),
    Fault.RUNAWAY_GENERATION: Probe(runs_away),
}


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def test_every_probe_names_a_known_fault() -> None:
    assert set(PROBES) <= set(FAULTS)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_shows_its_deviation(fault: str, faithful_url: str) -> None:
    assert fault in PROBES, f"fault {fault!r} has no probe in PROBES"
    probe = PROBES[fault]
    with background_server(ServerConfig(port=0, faults=frozenset({fault}), **probe.server)) as url:
        assert probe.shows(url), f"{fault}: deviation not visible with the fault on"
    if probe.server:
        with background_server(ServerConfig(port=0, **probe.server)) as url:
            assert not probe.shows(url), f"{fault}: the faithful server shows it too"
    else:
        assert not probe.shows(faithful_url), f"{fault}: the faithful server shows it too"
