"""The named requests the catalogue sends; each is sent at most once per run.

Every probe is small: ``max_tokens`` is the run's cap (default 16) or less, ``n <= 3``.
Probes that need another probe's answer (e.g. a stop string taken from a plain answer)
build on it through the context.
"""

from __future__ import annotations

from collections.abc import Callable

from chatgauge._models import ChatCase
from chatgauge.conformance._context import CheckContext

ProbeBuilder = Callable[[CheckContext], ChatCase]
PROBES: dict[str, ProbeBuilder] = {}

# The reference endpoint fails a stream on purpose when it sees this marker (rule F3); on
# any other endpoint it is harmless prompt text.
FAIL_MIDSTREAM_MARKER = "chatgauge:fail-midstream"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "colour": {"type": "string"},
        "count": {"type": "integer"},
    },
    "required": ["colour", "count"],
    "additionalProperties": False,
}


def probe(name: str) -> Callable[[ProbeBuilder], ProbeBuilder]:
    """Register a probe builder under ``name``."""

    def decorate(builder: ProbeBuilder) -> ProbeBuilder:
        PROBES[name] = builder
        return builder

    return decorate


def _case(name: str, body: dict[str, object], **kwargs: object) -> ChatCase:
    return ChatCase(body=body, label=name, **kwargs)  # type: ignore[arg-type]


@probe("plain")
def _plain(ctx: CheckContext) -> ChatCase:
    return _case("plain", ctx.base_body())


@probe("plain-stream")
def _plain_stream(ctx: CheckContext) -> ChatCase:
    return _case(
        "plain-stream",
        ctx.base_body(stream=True, stream_options={"include_usage": True}),
    )


@probe("stream-no-usage")
def _stream_no_usage(ctx: CheckContext) -> ChatCase:
    return _case("stream-no-usage", ctx.base_body(stream=True))


@probe("long-prompt")
def _long_prompt(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body()
    body["messages"] = [
        *body["messages"][:1],
        {"role": "user", "content": "Name three colours of the rainbow. " * 8},
    ]
    return _case("long-prompt", body)


@probe("n3")
def _n3(ctx: CheckContext) -> ChatCase:
    return _case("n3", ctx.base_body(n=3, temperature=1))


@probe("n3-stream")
def _n3_stream(ctx: CheckContext) -> ChatCase:
    return _case(
        "n3-stream",
        ctx.base_body(n=3, temperature=1, stream=True, stream_options={"include_usage": True}),
    )


@probe("cut")
def _cut(ctx: CheckContext) -> ChatCase:
    return _case("cut", ctx.base_body(max_tokens=3))


@probe("cut-completion-tokens")
def _cut_completion_tokens(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_completion_tokens=3)
    del body["max_tokens"]
    return _case("cut-completion-tokens", body)


@probe("cut-stream")
def _cut_stream(ctx: CheckContext) -> ChatCase:
    return _case(
        "cut-stream",
        ctx.base_body(max_tokens=3, stream=True, stream_options={"include_usage": True}),
    )


def stop_word(ctx: CheckContext) -> str | None:
    """A word from the middle of the plain answer: a stop string the model will likely hit."""
    exchange = ctx.probe("plain")
    body = exchange.json_or_none()
    try:
        content = body["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        return None
    words = [w for w in str(content).split() if len(w) >= 3]
    return words[len(words) // 2] if words else None


@probe("stop")
def _stop(ctx: CheckContext) -> ChatCase:
    word = stop_word(ctx) or "colour"
    return _case("stop", ctx.base_body(stop=[word]))


@probe("stop-stream")
def _stop_stream(ctx: CheckContext) -> ChatCase:
    word = stop_word(ctx) or "colour"
    return _case("stop-stream", ctx.base_body(stop=[word], stream=True))


@probe("json-mode")
def _json_mode(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(response_format={"type": "json_object"}, max_tokens=64)
    body["messages"] = [
        {"role": "system", "content": "Answer with a JSON object."},
        {"role": "user", "content": "Give a colour of the rainbow as JSON."},
    ]
    return _case("json-mode", body)


@probe("json-schema")
def _json_schema(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "colour_answer", "strict": True, "schema": ANSWER_SCHEMA},
        },
        max_tokens=64,
    )
    body["messages"] = [
        {"role": "user", "content": "Give one colour of the rainbow and how many there are."},
    ]
    return _case("json-schema", body)


@probe("logprobs")
def _logprobs(ctx: CheckContext) -> ChatCase:
    return _case("logprobs", ctx.base_body(logprobs=True, top_logprobs=2, max_tokens=8))


def _tool_body(ctx: CheckContext, **extra: object) -> dict[str, object]:
    body = ctx.base_body(tools=[WEATHER_TOOL], max_tokens=64, **extra)
    body["messages"] = [{"role": "user", "content": "What is the weather in Paris?"}]
    return body


@probe("tools")
def _tools(ctx: CheckContext) -> ChatCase:
    return _case("tools", _tool_body(ctx, tool_choice="required"))


@probe("tools-stream")
def _tools_stream(ctx: CheckContext) -> ChatCase:
    return _case("tools-stream", _tool_body(ctx, tool_choice="required", stream=True))


@probe("fail-midstream")
def _fail_midstream(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(stream=True)
    body["messages"] = [{"role": "user", "content": f"Say hello. {FAIL_MIDSTREAM_MARKER}"}]
    # A hang after the error is the deviation F3 looks for: wait a little, not a minute.
    return _case("fail-midstream", body, read_timeout_s=10.0)


@probe("unknown-model")
def _unknown_model(ctx: CheckContext) -> ChatCase:
    return _case("unknown-model", ctx.base_body(model="chatgauge-no-such-model-4f1c"))


@probe("no-auth")
def _no_auth(ctx: CheckContext) -> ChatCase:
    return _case("no-auth", ctx.base_body(max_tokens=1), omit_auth=True)


@probe("wrong-auth")
def _wrong_auth(ctx: CheckContext) -> ChatCase:
    return _case(
        "wrong-auth", ctx.base_body(max_tokens=1), api_key_override="sk-chatgauge-wrong-key"
    )


@probe("extra-field")
def _extra_field(ctx: CheckContext) -> ChatCase:
    return _case("extra-field", ctx.base_body(chatgauge_unknown_field=True, max_tokens=4))


@probe("invalid-temperature")
def _invalid_temperature(ctx: CheckContext) -> ChatCase:
    return _case("invalid-temperature", ctx.base_body(temperature=2.5, max_tokens=1))


__all__ = ["FAIL_MIDSTREAM_MARKER", "PROBES", "probe", "stop_word"]
