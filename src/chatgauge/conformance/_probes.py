"""The named requests the catalogue sends; each is sent at most once per run.

Every probe is small: ``max_tokens`` is the run's cap (default 16) or less, ``n <= 3``.
Probes that need another probe's answer (e.g. a stop string taken from a plain answer)
build on it through the context.

Probes judged by a rule about a limit (``max_tokens``, ``max_completion_tokens``, ``stop``)
are read only as far as that rule needs: a stream stops being read after
:func:`events_to_read` events (far past the limit, so already evidence), and a tiny request
(3 tokens) has a total deadline of :func:`tiny_deadline`, ten times what the plain request
(16 tokens, the same prompt) took. Both bounds compare the endpoint with itself, so the
verdict does not depend on the speed of the machine.
"""

from __future__ import annotations

from collections.abc import Callable

from chatgauge._models import ChatCase
from chatgauge.conformance._context import CheckContext

ProbeBuilder = Callable[[CheckContext], ChatCase]
PROBES: dict[str, ProbeBuilder] = {}

CUT_LIMIT = 3
"""The limit of the tiny requests: a model says more than this to any question asked."""
# A stream this many events per token of its limit long (at least MIN_EVENTS_READ) ran far
# past it: even a proxy that sends each character of a token as its own event stays below.
EVENTS_PER_LIMIT_TOKEN = 16
MIN_EVENTS_READ = 64
TINY_DEADLINE_FACTOR = 10
TINY_DEADLINE_MIN_S = 15.0
TINY_DEADLINE_MAX_S = 60.0
# The probes whose timeout is evidence, and the rule that judges it.
TIMEOUT_JUDGED = {
    "cut": "G6-max-tokens",
    "cut-stream": "G6-max-tokens",
    "n3-cut": "G6-max-tokens",
    "cut-completion-tokens": "G6-max-completion-tokens",
}

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


def events_to_read(limit: int, n: int = 1) -> int:
    """How many events of a stream with this limit are read: far more than it may hold."""
    return max(MIN_EVENTS_READ, EVENTS_PER_LIMIT_TOKEN * limit * n)


def tiny_deadline(ctx: CheckContext) -> float | None:
    """The total deadline of a tiny request: ten times what the plain request took.

    At least 15 s (a slow start is no evidence) and at most 60 s; ``None`` (the run's own
    deadline) when the plain request got no complete answer to compare with.
    """
    plain = ctx.probe("plain")
    if plain.error_kind is not None or plain.status is None:
        return None
    took_s = (plain.t_done_ns - plain.t_send_ns) / 1e9
    deadline = min(TINY_DEADLINE_MAX_S, max(TINY_DEADLINE_MIN_S, TINY_DEADLINE_FACTOR * took_s))
    return round(deadline, 1)


def _tiny(name: str, ctx: CheckContext, body: dict[str, object]) -> ChatCase:
    n = body.get("n", 1)
    return _case(
        name,
        body,
        total_timeout_s=tiny_deadline(ctx),
        stop_after_events=events_to_read(CUT_LIMIT, n if isinstance(n, int) else 1),
    )


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


@probe("n3-cut")
def _n3_cut(ctx: CheckContext) -> ChatCase:
    return _tiny("n3-cut", ctx, ctx.base_body(n=3, temperature=1, max_tokens=CUT_LIMIT))


@probe("cut")
def _cut(ctx: CheckContext) -> ChatCase:
    return _tiny("cut", ctx, ctx.base_body(max_tokens=CUT_LIMIT))


@probe("cut-completion-tokens")
def _cut_completion_tokens(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_completion_tokens=CUT_LIMIT)
    del body["max_tokens"]
    return _tiny("cut-completion-tokens", ctx, body)


@probe("cut-stream")
def _cut_stream(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_tokens=CUT_LIMIT, stream=True, stream_options={"include_usage": True})
    return _tiny("cut-stream", ctx, body)


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
    body = ctx.base_body(stop=[word], stream=True)
    return _case("stop-stream", body, stop_after_events=events_to_read(ctx.settings.max_tokens))


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


@probe("logprobs-top0")
def _logprobs_top0(ctx: CheckContext) -> ChatCase:
    return _case("logprobs-top0", ctx.base_body(logprobs=True, top_logprobs=0, max_tokens=8))


@probe("logprobs-default")
def _logprobs_default(ctx: CheckContext) -> ChatCase:
    return _case("logprobs-default", ctx.base_body(logprobs=True, max_tokens=8))


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


@probe("seed")
def _seed(ctx: CheckContext) -> ChatCase:
    return _case("seed", ctx.base_body(seed=ctx.settings.seed, max_tokens=4))


@probe("developer")
def _developer(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_tokens=4)
    body["messages"] = [
        {"role": "developer", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name three colours of the rainbow."},
    ]
    return _case("developer", body)


@probe("content-parts")
def _content_parts(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_tokens=4)
    body["messages"] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Name three colours"},
                {"type": "text", "text": " of the rainbow."},
            ],
        }
    ]
    return _case("content-parts", body)


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


@probe("wrong-type")
def _wrong_type(ctx: CheckContext) -> ChatCase:
    return _case("wrong-type", ctx.base_body(temperature="warm", max_tokens=1))


@probe("unknown-role")
def _unknown_role(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_tokens=1)
    body["messages"] = [{"role": "narrator", "content": "Say hello."}]
    return _case("unknown-role", body)


@probe("missing-messages")
def _missing_messages(ctx: CheckContext) -> ChatCase:
    body = ctx.base_body(max_tokens=1)
    del body["messages"]
    return _case("missing-messages", body)


@probe("malformed-json")
def _malformed_json(ctx: CheckContext) -> ChatCase:
    return _case("malformed-json", {}, raw_body=b'{"model": ')


# The requests the error rules (F1-F3) judge: each must be refused with an error status.
# Several kinds, because servers validate differently (many check types, not ranges).
VALIDATION_PROBES = (
    "invalid-temperature",
    "wrong-type",
    "unknown-role",
    "missing-messages",
    "malformed-json",
)
ERROR_PROBES = (*VALIDATION_PROBES, "unknown-model")

__all__ = [
    "CUT_LIMIT",
    "ERROR_PROBES",
    "PROBES",
    "TIMEOUT_JUDGED",
    "VALIDATION_PROBES",
    "events_to_read",
    "probe",
    "stop_word",
    "tiny_deadline",
]
