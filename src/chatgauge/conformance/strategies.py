"""Hypothesis strategies for chat-completions requests: valid ones and invalid ones.

:func:`valid_requests` draws request bodies the spec allows: every message role (system,
developer, user, assistant with text or with ``tool_calls`` and null content, tool), content
as a string or as text parts, sampling parameters anywhere in their ranges and often right
on their bounds, ``n`` 1..3, logprobs, ``stop``, response formats and streaming. Every body
caps its completion with ``max_tokens`` or ``max_completion_tokens`` at most the given
budget, so a property run against a paid endpoint costs a known amount.

:func:`invalid_requests` draws :class:`InvalidRequest` values: a small valid body with one
deliberate violation (a bound just outside, a wrong type, a missing field, an unknown role,
five stop strings, a parameter whose prerequisite is missing) or a body that is not a JSON
object at all. Each says what it violates; ``prose_rule`` marks the violations the JSON
Schema cannot see because the spec states them only in prose.

The fixed lists :func:`boundary_requests` and :func:`invalid_examples` hold the same
shapes as named, deterministic cases, so checks can try them before any random example.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from chatgauge._models import ChatCase
from chatgauge.conformance._budget import DEFAULT_MAX_TOKENS, MAX_N
from chatgauge.conformance._probes import ANSWER_SCHEMA, WEATHER_TOOL

Body = dict[str, Any]

TEMPERATURE_BOUNDS: tuple[float, ...] = (0, 1.5, 2)
TOP_P_BOUNDS: tuple[float, ...] = (0, 1)
PENALTY_BOUNDS: tuple[float, ...] = (-2, 2)
PENALTIES = ("presence_penalty", "frequency_penalty")
MAX_TOP_LOGPROBS = 20
MAX_STOP_STRINGS = 4
# Out-of-range values stay at least this far outside a bound: an endpoint that parses
# numbers as float32 cannot tell 2.0000000000000004 from 2, and that is not a fault.
OUTSIDE_MARGIN = 0.01

PROMPTS = (
    "Say hello.",
    "Name a colour.",
    "Count to three.",
    "What is 2 + 2?",
    "Give one word that rhymes with cat.",
)
_WORD = st.sampled_from(("the", "and", "blue", "three", "END", "\n", "###", "stop"))
_TEXT = st.one_of(
    st.sampled_from(PROMPTS),
    st.text(
        alphabet=st.characters(categories=("L", "N", "P", "Zs")),
        min_size=1,
        max_size=40,
    ),
)
_STOP_TEXT = st.one_of(_WORD, st.text(alphabet="abcdefghij .!", min_size=1, max_size=6))


# --- valid requests ----------------------------------------------------------------------


def text_parts(text: str) -> list[dict[str, str]]:
    """``text`` as an array of text content parts (split in up to two parts)."""
    middle = len(text) // 2
    pieces = [text[:middle], text[middle:]] if middle else [text]
    return [{"type": "text", "text": piece} for piece in pieces]


@st.composite
def _content(draw: st.DrawFn) -> str | list[dict[str, str]]:
    text = draw(_TEXT)
    return text_parts(text) if draw(st.booleans()) else text


@st.composite
def _tool_turn(draw: st.DrawFn) -> list[Body]:
    """An assistant message that calls tools, then one tool message answering each call."""
    count = draw(st.integers(1, 2))
    ids = [f"call_{draw(st.integers(0, 10**8)):08x}{i}" for i in range(count)]
    calls = [
        {
            "id": call_id,
            "type": "function",
            "function": {
                "name": WEATHER_TOOL["function"]["name"],  # type: ignore[index]
                "arguments": json.dumps({"city": draw(st.sampled_from(("Paris", "Oslo")))}),
            },
        }
        for call_id in ids
    ]
    assistant: Body = {"role": "assistant", "tool_calls": calls}
    # The spec lets content be null, absent or text next to tool calls.
    shape = draw(st.sampled_from(("null", "absent", "text")))
    if shape == "null":
        assistant["content"] = None
    elif shape == "text":
        assistant["content"] = draw(_TEXT)
    answers = [
        {"role": "tool", "tool_call_id": call_id, "content": draw(_content())} for call_id in ids
    ]
    return [assistant, *answers]


@st.composite
def conversations(draw: st.DrawFn) -> list[Body]:
    """A well-formed message list: optional system/developer, user, optional earlier turn.

    The earlier turn is a plain assistant reply or a tool-calling exchange; the list ends
    with a user message, or with the tool answers (both are valid for the spec).
    """
    messages: list[Body] = [
        {"role": role, "content": draw(_content())}
        for role in draw(st.lists(st.sampled_from(("system", "developer")), max_size=2))
    ]
    user: Body = {"role": "user", "content": draw(_content())}
    if draw(st.booleans()):
        user["name"] = draw(st.sampled_from(("alice", "bob_2")))
    messages.append(user)
    turn = draw(st.sampled_from(("none", "assistant", "tools")))
    if turn == "assistant":
        messages.append({"role": "assistant", "content": draw(_content())})
        messages.append({"role": "user", "content": draw(_content())})
    elif turn == "tools":
        messages.extend(draw(_tool_turn()))
        if draw(st.booleans()):
            messages.append({"role": "user", "content": draw(_content())})
    return messages


def _on_or_within(bounds: tuple[float, ...], low: float, high: float) -> st.SearchStrategy[float]:
    """A value exactly on one of ``bounds`` (as int or float), or anywhere in the range."""
    exact = st.sampled_from([*bounds, *(float(b) for b in bounds)])
    within = st.floats(low, high, allow_nan=False, allow_subnormal=False)
    return st.one_of(exact, within)


def _response_formats() -> st.SearchStrategy[Body]:
    return st.sampled_from(
        (
            {"type": "text"},
            {"type": "json_object"},
            {
                "type": "json_schema",
                "json_schema": {"name": "colour_answer", "strict": True, "schema": ANSWER_SCHEMA},
            },
        )
    )


def _mention_json(messages: list[Body]) -> None:
    """JSON mode requires the word JSON in the conversation (OpenAI refuses it otherwise)."""
    messages.insert(0, {"role": "system", "content": "Reply in JSON."})


@st.composite
def valid_requests(
    draw: st.DrawFn,
    model: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    *,
    allow_stream: bool = True,
) -> Body:
    """A schema-valid request body for ``model`` whose completion is capped by ``max_tokens``.

    Optional parameters are present or absent independently; numbers are drawn on their
    bounds or inside their ranges. ``n <= 3``. ``allow_stream=False`` keeps every body
    non-streamed.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    messages = draw(conversations())
    body: Body = {"model": model, "messages": messages}
    limit_key = draw(st.sampled_from(("max_tokens", "max_completion_tokens")))
    body[limit_key] = draw(st.integers(1, max_tokens))
    if any("tool_calls" in m for m in messages):
        body["tools"] = [WEATHER_TOOL]

    optional: dict[str, st.SearchStrategy[Any]] = {
        "temperature": _on_or_within(TEMPERATURE_BOUNDS, 0, 2),
        "top_p": _on_or_within(TOP_P_BOUNDS, 0, 1),
        "presence_penalty": _on_or_within(PENALTY_BOUNDS, -2, 2),
        "frequency_penalty": _on_or_within(PENALTY_BOUNDS, -2, 2),
        "n": st.integers(1, MAX_N),
        "seed": st.integers(0, 2**31 - 1),
        "stop": st.one_of(_STOP_TEXT, st.lists(_STOP_TEXT, min_size=1, max_size=4)),
        "response_format": _response_formats(),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if body.get("response_format", {}).get("type") == "json_object":
        _mention_json(messages)

    logprobs = draw(st.sampled_from(("absent", "false", "true", "top")))
    if logprobs != "absent":
        body["logprobs"] = logprobs != "false"
    if logprobs == "top":
        body["top_logprobs"] = draw(st.integers(0, MAX_TOP_LOGPROBS))

    if allow_stream and draw(st.booleans()):
        body["stream"] = True
        if draw(st.booleans()):
            body["stream_options"] = {"include_usage": draw(st.booleans())}
    return body


def _base(model: str, max_tokens: int = 1, **extra: Any) -> Body:
    body: Body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPTS[0]}],
        "max_tokens": max_tokens,
    }
    body.update(extra)
    return body


def boundary_requests(model: str, max_tokens: int = 4) -> list[tuple[str, Body]]:
    """Named valid bodies with each parameter on its bounds and each message shape once.

    Every body is small (``max_tokens`` at most the given value, ``n <= 3``).
    """
    cases: list[tuple[str, Body]] = []
    for t in TEMPERATURE_BOUNDS:
        cases.append((f"temperature {t}", _base(model, max_tokens, temperature=t)))
    for p in TOP_P_BOUNDS:
        cases.append((f"top_p {p}", _base(model, max_tokens, top_p=p)))
    for name in PENALTIES:
        for value in PENALTY_BOUNDS:
            cases.append((f"{name} {value}", _base(model, max_tokens, **{name: value})))
    cases.append((f"n {MAX_N}", _base(model, max_tokens, n=MAX_N)))
    for top in (0, MAX_TOP_LOGPROBS):
        cases.append(
            (f"top_logprobs {top}", _base(model, max_tokens, logprobs=True, top_logprobs=top))
        )
    return cases


def shape_requests(model: str, max_tokens: int = 4) -> list[tuple[str, Body]]:
    """Named valid bodies covering message roles, content shapes, stop, token limits,
    response formats and streaming."""
    ask = {"role": "user", "content": PROMPTS[1]}
    call = {
        "id": "call_0001",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    tool_turn: list[Body] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21 C."},
    ]
    by_completion_tokens = _base(model, max_completion_tokens=max_tokens)
    del by_completion_tokens["max_tokens"]
    json_schema = {"name": "colour_answer", "strict": True, "schema": ANSWER_SCHEMA}
    json_mode = {"type": "json_object"}
    say = {"role": "assistant", "content": "Red."}
    parts = {"role": "user", "content": text_parts(PROMPTS[1])}

    def brief(role: str) -> Body:
        return {"role": role, "content": "Be brief. Reply in JSON when asked for JSON."}

    def chat(messages: list[Body], **extra: Any) -> Body:
        return _base(model, max_tokens, messages=messages, **extra)

    def plain(**extra: Any) -> Body:
        return _base(model, max_tokens, **extra)

    return [
        ("content as text parts", chat([parts])),
        ("system message", chat([brief("system"), ask])),
        ("developer message", chat([brief("developer"), ask])),
        ("assistant message", chat([ask, say, ask])),
        ("assistant tool_calls, null content, then tool", chat(tool_turn, tools=[WEATHER_TOOL])),
        ("stop as a string", plain(stop="END")),
        ("stop as 1 string", plain(stop=["END"])),
        (f"stop as {MAX_STOP_STRINGS} strings", plain(stop=["###", "END", "\n\n", "stop"])),
        ("max_completion_tokens", by_completion_tokens),
        ("response_format text", plain(response_format={"type": "text"})),
        ("response_format json_object", chat([brief("system"), ask], response_format=json_mode)),
        (
            "response_format json_schema",
            plain(response_format={"type": "json_schema", "json_schema": json_schema}),
        ),
        ("stream with include_usage", plain(stream=True, stream_options={"include_usage": True})),
    ]


# --- invalid requests --------------------------------------------------------------------

# The label of every case built from an InvalidRequest: checks that judge how errors are
# answered (status codes, envelopes) find the invalid requests of the run by it.
INVALID_LABEL = "invalid: "


@dataclass(frozen=True)
class InvalidRequest:
    """A request the endpoint must refuse, and why.

    ``body`` is the JSON body, unless ``raw_body`` is set: then those exact bytes are sent
    (malformed JSON, or JSON that is not an object). ``prose_rule`` is true when the body
    is valid for the JSON Schema and breaks a rule the spec states only in prose.
    """

    violation: str
    body: Body = field(default_factory=dict)
    raw_body: bytes | None = None
    prose_rule: bool = False

    def to_case(self) -> ChatCase:
        """The request as a :class:`ChatCase` labelled :data:`INVALID_LABEL` + violation."""
        return ChatCase(
            body=self.body, raw_body=self.raw_body, label=INVALID_LABEL + self.violation
        )

    def sent_bytes(self) -> bytes:
        """The exact bytes that go on the wire."""
        return self.to_case().content()


def _outside(low: float, high: float) -> st.SearchStrategy[float]:
    """A number below ``low`` or above ``high`` by at least :data:`OUTSIDE_MARGIN`."""
    return st.one_of(
        st.floats(high + OUTSIDE_MARGIN, high + 10, allow_nan=False),
        st.floats(low - 10, low - OUTSIDE_MARGIN, allow_nan=False),
    )


def _with(model: str, violation: str, *, prose: bool = False, **extra: Any) -> InvalidRequest:
    return InvalidRequest(violation, _base(model, **extra), prose_rule=prose)


def _without(model: str, key: str) -> InvalidRequest:
    body = _base(model)
    del body[key]
    return InvalidRequest(f"missing {key}", body)


def _message(model: str, violation: str, message: Body) -> InvalidRequest:
    return InvalidRequest(violation, _base(model, messages=[message]))


# Wrong JSON types: values no lenient parser turns into the right type (pydantic's lax mode
# converts "0.5" to 0.5 and 1.0 to 1, which says nothing about the endpoint's validation).
WRONG_TYPES: dict[str, tuple[Any, ...]] = {
    "model": (42, ["pro"], None),
    "messages": ("hello", {"role": "user", "content": "hi"}),
    "temperature": ("hot", [0.5], {"value": 1}),
    "top_p": ("high", [1]),
    "n": ("two", 1.5, [2]),
    "max_tokens": ("many", 2.5, [4]),
    "stream": ("maybe", 2, [True]),
    "stop": (7, {"text": "END"}, [1, 2]),
    "logprobs": ("sometimes", [True]),
    "response_format": ("json", ["json_object"]),
    "seed": ("abc", 1.5),
}
UNKNOWN_ROLES = ("narrator", "human", "bot", "moderator")
MALFORMED_JSON: tuple[bytes, ...] = (
    b'{"model": "m", "messages": [',
    b"{'model': 'm', 'messages': []}",
    b'{"model": "m", "messages": [],}',
    b"model=m&messages=hello",
    b"",
)
NOT_AN_OBJECT: tuple[bytes, ...] = (b"[]", b'[{"role": "user"}]', b'"hello"', b"42", b"null")


# The numeric parameters with a closed range in the spec.
BOUNDS: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}


def _out_of_range_value(model: str, key: str, value: float) -> InvalidRequest:
    body = _base(model)
    body[key] = value
    return InvalidRequest(f"{key} {value} out of range", body)


def invalid_examples(model: str) -> dict[str, list[InvalidRequest]]:
    """Named, deterministic invalid requests, grouped as ``range``, ``request`` and ``body``.

    ``range``: each numeric bound just outside; ``n`` 0; ``top_logprobs`` 21 and -1; five
    stop strings. ``request``: missing fields, empty messages, an unknown role, wrong
    types, ``top_logprobs`` without ``logprobs``, ``stream_options`` without ``stream``.
    ``body``: malformed JSON and JSON that is not an object.
    """
    ranged: list[InvalidRequest] = []
    for key, (low, high) in BOUNDS.items():
        for value in (round(low - OUTSIDE_MARGIN, 2), round(high + OUTSIDE_MARGIN, 2)):
            ranged.append(_out_of_range_value(model, key, value))
    ranged += [
        _with(model, "n 0 below 1", n=0),
        _with(model, "top_logprobs 21 above 20", logprobs=True, top_logprobs=21),
        _with(model, "top_logprobs -1 below 0", logprobs=True, top_logprobs=-1),
        _with(model, "5 stop strings", stop=["a", "b", "c", "d", "e"]),
    ]
    request = [
        _without(model, "model"),
        _without(model, "messages"),
        _with(model, "empty messages", messages=[]),
        _message(model, "unknown role 'narrator'", {"role": "narrator", "content": "Hi."}),
        _message(model, "message without role", {"content": "Hi."}),
        _message(model, "user message without content", {"role": "user"}),
        _message(model, "tool message without tool_call_id", {"role": "tool", "content": "x"}),
        _with(model, "temperature of type string", temperature="hot"),
        _with(model, "messages of type string", messages="hello"),
        _with(model, "n of type string", n="two"),
        _with(model, "top_logprobs without logprobs", prose=True, top_logprobs=2),
        _with(
            model,
            "stream_options without stream",
            prose=True,
            stream_options={"include_usage": True},
        ),
    ]
    body = [InvalidRequest("malformed JSON", raw_body=raw) for raw in MALFORMED_JSON]
    body += [InvalidRequest("JSON body is not an object", raw_body=raw) for raw in NOT_AN_OBJECT]
    return {"range": ranged, "request": request, "body": body}


@st.composite
def _out_of_range(draw: st.DrawFn, model: str) -> InvalidRequest:
    key = draw(st.sampled_from(sorted(BOUNDS)))
    low, high = BOUNDS[key]
    return _out_of_range_value(model, key, draw(_outside(low, high)))


@st.composite
def _bad_counts(draw: st.DrawFn, model: str) -> InvalidRequest:
    kind = draw(st.sampled_from(("n", "top_logprobs", "stop")))
    if kind == "n":
        n = draw(st.integers(-5, 0))
        return _with(model, f"n {n} below 1", n=n)
    if kind == "top_logprobs":
        top = draw(st.one_of(st.integers(21, 30), st.integers(-5, -1)))
        return _with(model, f"top_logprobs {top} out of range", logprobs=True, top_logprobs=top)
    stops = draw(st.lists(_STOP_TEXT, min_size=MAX_STOP_STRINGS + 1, max_size=6))
    return _with(model, f"{len(stops)} stop strings", stop=stops)


@st.composite
def _wrong_type(draw: st.DrawFn, model: str) -> InvalidRequest:
    key = draw(st.sampled_from(sorted(WRONG_TYPES)))
    value = draw(st.sampled_from(WRONG_TYPES[key]))
    body = _base(model)
    body[key] = value
    return InvalidRequest(f"{key} of wrong type {type(value).__name__}", body)


@st.composite
def _bad_messages(draw: st.DrawFn, model: str) -> InvalidRequest:
    kind = draw(st.sampled_from(("empty", "role", "no-role", "no-content", "tool-id")))
    if kind == "empty":
        return _with(model, "empty messages", messages=[])
    if kind == "role":
        role = draw(st.sampled_from(UNKNOWN_ROLES))
        return _message(model, f"unknown role {role!r}", {"role": role, "content": "Hi."})
    if kind == "no-role":
        return _message(model, "message without role", {"content": draw(_TEXT)})
    if kind == "no-content":
        return _message(model, "user message without content", {"role": "user"})
    return _message(
        model, "tool message without tool_call_id", {"role": "tool", "content": draw(_TEXT)}
    )


@st.composite
def _missing_prerequisite(draw: st.DrawFn, model: str) -> InvalidRequest:
    if draw(st.booleans()):
        extra: Body = {"top_logprobs": draw(st.integers(0, MAX_TOP_LOGPROBS))}
        if draw(st.booleans()):
            extra["logprobs"] = False
        return _with(model, "top_logprobs without logprobs", prose=True, **extra)
    extra = {"stream_options": {"include_usage": draw(st.booleans())}}
    if draw(st.booleans()):
        extra["stream"] = False
    return _with(model, "stream_options without stream", prose=True, **extra)


@st.composite
def _not_json_object(draw: st.DrawFn, model: str) -> InvalidRequest:
    kind = draw(st.sampled_from(("truncated", "malformed", "not-object")))
    if kind == "truncated":
        # A proper prefix of a compact JSON object never parses: its only top-level "}"
        # is the last byte.
        whole = _base(model)
        raw = json.dumps(whole, separators=(",", ":")).encode()
        cut = draw(st.integers(1, len(raw) - 1))
        return InvalidRequest("malformed JSON (truncated)", raw_body=raw[:cut])
    if kind == "malformed":
        return InvalidRequest("malformed JSON", raw_body=draw(st.sampled_from(MALFORMED_JSON)))
    return InvalidRequest(
        "JSON body is not an object", raw_body=draw(st.sampled_from(NOT_AN_OBJECT))
    )


def invalid_requests(model: str) -> st.SearchStrategy[InvalidRequest]:
    """Requests the endpoint must refuse with a 4xx, each with one named violation.

    Every body that could be accepted by mistake asks for at most one token and ``n <= 1``
    (out-of-range ``n`` values are below 1), so a lenient endpoint costs almost nothing.
    """
    return st.one_of(
        _out_of_range(model),
        _bad_counts(model),
        _wrong_type(model),
        _bad_messages(model),
        _missing_prerequisite(model),
        _missing_fields(model),
        _not_json_object(model),
    )


def _missing_fields(model: str) -> st.SearchStrategy[InvalidRequest]:
    return st.sampled_from(("model", "messages")).map(lambda key: _without(model, key))


__all__ = [
    "BOUNDS",
    "INVALID_LABEL",
    "MAX_STOP_STRINGS",
    "MAX_TOP_LOGPROBS",
    "OUTSIDE_MARGIN",
    "PENALTY_BOUNDS",
    "TEMPERATURE_BOUNDS",
    "TOP_P_BOUNDS",
    "InvalidRequest",
    "boundary_requests",
    "conversations",
    "invalid_examples",
    "invalid_requests",
    "shape_requests",
    "text_parts",
    "valid_requests",
]
