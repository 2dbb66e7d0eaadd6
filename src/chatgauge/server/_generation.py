"""Deterministic "generation": what the reference model answers to a validated request.

A token is a piece of text: in plain text one word with its leading space, in JSON output a
whitespace-delimited piece of the JSON text. Words come from a fixed vocabulary (with some
non-ASCII words, so UTF-8 multibyte characters reach the wire) chosen by a PRNG keyed by
the ``seed`` parameter (when given), the model and the messages. The key leaves out every
other parameter, so the same request gives the same text streamed or not, and a tighter
``max_tokens`` or a ``stop`` sequence cuts the same text shorter. ``temperature`` and the
penalties are accepted and change nothing.

Limits behave like a sampler that checks after every token: the first ``stop`` occurrence
ends the output before the stop text (finish ``stop``); reaching the token limit ends it with
finish ``length``; otherwise the natural length (16..40 words for text, one small object for
JSON) ends with ``stop``. With tools offered and ``tool_choice`` ``auto``, ``required`` or a
named function, every choice is one tool call whose arguments are valid for the tool's
parameter schema; finish is ``tool_calls``, but ``stop`` for a named tool_choice, as OpenAI
answers.

A user message containing :data:`FAIL_MIDSTREAM_MARKER` makes a streamed response fail after
two content events, as rule F3 says a failing stream should (a hook to test clients with).

With the ``runaway-generation`` fault a limit of :data:`RUNAWAY_LIMIT` tokens or fewer is
ignored: the text repeats until :data:`RUNAWAY_TOKENS` tokens fill the context (finish
``length``), as a model that never emits its end token does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle, islice
from random import Random
from typing import Any, Final

from chatgauge.server._faults import Fault
from chatgauge.server._schema_instance import schema_instance
from chatgauge.server._tools import CUSTOM, FUNCTION, Tool
from chatgauge.server._validation import ChatRequest

FAIL_MIDSTREAM_MARKER: Final = "chatgauge:fail-midstream"
TEXT_TOKENS_RANGE: Final = (16, 40)
MESSAGE_OVERHEAD_TOKENS: Final = 4
REPLY_PRIMING_TOKENS: Final = 3
NON_TEXT_PART_TOKENS: Final = 85
CONSTANT_PROMPT_TOKENS: Final = 12
RUNAWAY_LIMIT: Final = 3
RUNAWAY_TOKENS: Final = 512
RUNAWAY_DELAY_S: Final = 1.0
"""How long a non-streamed runaway answer takes (generating a full context is slow)."""

VOCABULARY: Final = (
    "amber", "anchor", "apple", "arrow", "autumn", "basket", "beacon", "birch", "blossom",
    "bridge", "canyon", "castle", "cedar", "cloud", "comet", "copper", "coral", "crystal",
    "delta", "desert", "dune", "eagle", "ember", "falcon", "feather", "fern", "field",
    "forest", "garden", "glacier", "granite", "harbor", "hazel", "horizon", "island",
    "jasmine", "lantern", "lemon", "lily", "maple", "meadow", "mirror", "moss", "mountain",
    "nectar", "north", "oasis", "ocean", "olive", "orbit", "pebble", "pepper", "pine",
    "planet", "prairie", "quartz", "rain", "raven", "reef", "ridge", "river", "saffron",
    "shadow", "silver", "sparrow", "spring", "stone", "summit", "thistle", "thunder",
    "tide", "timber", "valley", "velvet", "willow", "winter", "zephyr",
    # Non-ASCII words put 2-, 3- and 4-byte UTF-8 sequences on the wire.
    "café", "naïve", "Zürich", "crème", "señor", "façade", "smörgåsbord", "東京", "日本語",
    "Ωmega", "🚀", "🙂",
)  # fmt: skip
_JSON_KEYS: Final = ("answer", "topic", "count", "ready", "label", "score")
_STRUCTURED: Final = ("json_schema", "json_object")
_PIECE: Final = re.compile(r"\s*\S+")
_ID_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class ToolCall:
    """One tool call; ``argument_tokens`` concatenate to ``arguments`` (the streamed pieces).

    For a ``function`` tool ``arguments`` is a JSON text; for a ``custom`` tool it is the
    free-form ``input``.
    """

    id: str
    name: str
    argument_tokens: tuple[str, ...]
    kind: str = FUNCTION

    @property
    def arguments(self) -> str:
        """The arguments as a JSON text (cut short when the token limit was hit)."""
        return "".join(self.argument_tokens)


@dataclass(frozen=True)
class TokenLogprob:
    """Log probability of one emitted token and its most likely alternatives."""

    token: str
    logprob: float
    alternatives: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Choice:
    """One generated choice; ``tokens`` concatenate to the content (empty for a tool call)."""

    index: int
    tokens: tuple[str, ...]
    finish_reason: str
    completion_tokens: int
    tool_call: ToolCall | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None

    @property
    def content(self) -> str | None:
        """The message content: None for a tool call."""
        return None if self.tool_call is not None else "".join(self.tokens)


@dataclass(frozen=True)
class Completion:
    """Everything generated for one request, before it is rendered as JSON or SSE."""

    choices: tuple[Choice, ...]
    prompt_tokens: int
    fail_midstream: bool = False

    @property
    def completion_tokens(self) -> int:
        """Tokens generated over all choices (stop text included, as a model generates it)."""
        return sum(choice.completion_tokens for choice in self.choices)


def generate(
    request: ChatRequest, faults: frozenset[str] = frozenset(), *, ignore_eos: bool = False
) -> Completion:
    """The deterministic answer to ``request`` (see the module docstring).

    With ``ignore_eos`` a text answer never ends by itself: it runs on (the same words
    repeated) until ``max_tokens``, as a server told to ignore its end token does.
    """
    key = _request_key(request)
    if request.stream and Fault.STREAM_TEXT_DIFFERS in faults:
        key += ":streamed"
    n = 1 if Fault.CHOICES_IGNORE_N in faults else request.n
    choices = tuple(_choice(request, index, key, faults, ignore_eos) for index in range(n))
    return Completion(
        choices=choices,
        prompt_tokens=count_prompt_tokens(request, faults),
        fail_midstream=any(
            FAIL_MIDSTREAM_MARKER in _message_text(message)
            for message in request.messages
            if message.get("role") == "user"
        ),
    )


def runs_away(request: ChatRequest, faults: frozenset[str]) -> bool:
    """Whether the ``runaway-generation`` fault ignores this request's (tiny) limit."""
    return (
        Fault.RUNAWAY_GENERATION in faults
        and request.max_tokens is not None
        and request.max_tokens <= RUNAWAY_LIMIT
    )


def count_prompt_tokens(request: ChatRequest, faults: frozenset[str] = frozenset()) -> int:
    """Words of every message and tool definition, plus a small overhead per message."""
    if Fault.PROMPT_TOKENS_CONSTANT in faults:
        return CONSTANT_PROMPT_TOKENS
    total = REPLY_PRIMING_TOKENS
    for message in request.messages:
        total += MESSAGE_OVERHEAD_TOKENS + len(_message_text(message).split())
        content = message.get("content")
        if isinstance(content, list):
            total += NON_TEXT_PART_TOKENS * sum(
                1 for part in content if part.get("type") not in ("text", "refusal")
            )
    for tool in request.tools:
        total += MESSAGE_OVERHEAD_TOKENS + len(
            f"{tool.name} {json.dumps(tool.parameters, ensure_ascii=False)}".split()
        )
    return total


def tokenize(text: str) -> tuple[str, ...]:
    """Split ``text`` into whitespace-led pieces that concatenate back to it exactly."""
    pieces: list[str] = _PIECE.findall(text)
    consumed = sum(len(piece) for piece in pieces)
    if consumed < len(text):  # trailing whitespace belongs to the last piece
        tail = text[consumed:]
        if pieces:
            pieces[-1] += tail
        else:
            pieces.append(tail)
    return tuple(pieces)


def _message_text(message: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key in ("name", "content"):
        value = message.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(p.get("text") or p.get("refusal") or "" for p in value)
    for call in message.get("tool_calls") or ():
        if call["type"] == CUSTOM:
            parts.append(call["custom"]["input"])
        else:
            parts.append(call["function"]["arguments"])
    return " ".join(parts)


def _request_key(request: ChatRequest) -> str:
    identity = json.dumps(
        [request.seed, request.model, request.messages], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(identity.encode()).hexdigest()


def _choice(
    request: ChatRequest, index: int, key: str, faults: frozenset[str], ignore_eos: bool = False
) -> Choice:
    rng = Random(f"{key}:choice:{index}")
    tools_ignored = Fault.TOOLS_IGNORED in faults
    if request.callable_tools and not tools_ignored:
        return _tool_call_choice(request, index, rng, faults)
    natural = _natural_tokens(request, rng, faults)
    limit = request.max_tokens
    if request.tools and tools_ignored and limit is not None:
        # Like a chat template that knows no tools: text that runs on into the limit.
        natural = tuple(islice(cycle(natural), limit + 1))
    if ignore_eos and limit is not None and request.response_format not in _STRUCTURED:
        natural = tuple(islice(cycle(natural), limit))
    if runs_away(request, faults):
        limit = RUNAWAY_TOKENS
        natural = tuple(islice(cycle(natural), limit + 1))
    tokens, finish, generated = _apply_limits(
        natural,
        request.stop,
        limit,
        leak_stop=Fault.STOP_LEAK in faults,
        stop_finish="length" if Fault.STOP_FINISH_LENGTH in faults else "stop",
    )
    logprobs = None
    if request.logprobs:
        logprobs = _logprobs(
            tokens, request.top_logprobs, Random(f"{key}:logprobs:{index}"), faults
        )
    return Choice(
        index=index,
        tokens=tokens,
        finish_reason=_reported_finish(finish, faults),
        completion_tokens=generated,
        logprobs=logprobs,
    )


def _tool_call_choice(
    request: ChatRequest, index: int, rng: Random, faults: frozenset[str]
) -> Choice:
    tool = _pick_tool(request.callable_tools, request.named_tool, rng)
    if tool.kind == CUSTOM:
        # Free-form input; a grammar the tool may declare is not honoured.
        arguments = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(2, 6)))
    else:
        arguments = json.dumps(schema_instance(tool.parameters, rng), ensure_ascii=False)
    tokens, finish, generated = _apply_limits(tokenize(arguments), (), request.max_tokens)
    if finish == "stop" and request.tool_choice != "named":
        finish = "tool_calls"
    call_id = "call_" + "".join(rng.choice(_ID_ALPHABET) for _ in range(24))
    return Choice(
        index=index,
        tokens=(),
        finish_reason=_reported_finish(finish, faults),
        completion_tokens=generated,
        tool_call=ToolCall(id=call_id, name=tool.name, argument_tokens=tokens, kind=tool.kind),
    )


def _pick_tool(tools: Sequence[Tool], named: str | None, rng: Random) -> Tool:
    for tool in tools:
        if tool.name == named:
            return tool
    return rng.choice(tools)


def _reported_finish(finish: str, faults: frozenset[str]) -> str:
    if finish == "length" and Fault.NO_LENGTH_FINISH in faults:
        return "stop"
    if finish == "stop" and Fault.FINISH_REASON_EOS in faults:
        return "eos"
    return finish


def _natural_tokens(request: ChatRequest, rng: Random, faults: frozenset[str]) -> tuple[str, ...]:
    if request.response_format == "json_schema":
        value = schema_instance(request.json_schema or {}, rng)
        if Fault.JSON_SCHEMA_VIOLATED in faults:
            value = _violate(value, request.json_schema or {})
        return tokenize(json.dumps(value, ensure_ascii=False))
    if request.response_format == "json_object" and Fault.JSON_MODE_IGNORED not in faults:
        text = json.dumps(_json_object(rng), ensure_ascii=False)
        if Fault.JSON_MODE_FENCED in faults:
            text = f"```json\n{text}\n```"
        return tokenize(text)
    count = rng.randint(*TEXT_TOKENS_RANGE)
    words = [rng.choice(VOCABULARY) for _ in range(count)]
    return (words[0], *(f" {word}" for word in words[1:]))


def _json_object(rng: Random) -> dict[str, Any]:
    keys = rng.sample(_JSON_KEYS, rng.randint(2, 3))
    values: list[Any] = [rng.choice(VOCABULARY), rng.randint(0, 99), rng.random() < 0.5]
    return {key: values[position % len(values)] for position, key in enumerate(keys)}


def _violate(value: Any, schema: Mapping[str, Any]) -> Any:
    """The same value made invalid: a required property removed, else a mistyped value."""
    required = schema.get("required") or ()
    if isinstance(value, dict) and required and required[0] in value:
        return {k: v for k, v in value.items() if k != required[0]}
    return 0 if isinstance(value, str) else "violation"


def _apply_limits(
    natural: Sequence[str],
    stops: Sequence[str],
    limit: int | None,
    *,
    leak_stop: bool = False,
    stop_finish: str = "stop",
) -> tuple[tuple[str, ...], str, int]:
    """Emitted tokens, finish reason and generated-token count after ``stop`` and ``limit``.

    ``stop_finish`` is the finish reason reported when a stop sequence ended the output.
    """
    text = ""
    for generated, token in enumerate(natural, start=1):
        text += token
        hits = [(position, stop) for stop in stops if (position := text.find(stop)) >= 0]
        if hits:
            position, stop = min(hits)
            cut = position + len(stop) if leak_stop else position
            return _prefix(natural[:generated], cut), stop_finish, generated
        if limit is not None and generated >= limit:
            return tuple(natural[:generated]), "length", generated
    return tuple(natural), "stop", len(natural)


def _prefix(tokens: Sequence[str], length: int) -> tuple[str, ...]:
    """The tokens cut to their first ``length`` characters (the last one may be partial)."""
    kept: list[str] = []
    remaining = length
    for token in tokens:
        if remaining <= 0:
            break
        kept.append(token[:remaining])
        remaining -= len(token)
    return tuple(kept)


def _logprobs(
    tokens: Sequence[str], top: int, rng: Random, faults: frozenset[str]
) -> tuple[TokenLogprob, ...]:
    if Fault.TOP_LOGPROBS_TOO_MANY in faults:
        top += 1
    entries = []
    for position, token in enumerate(tokens):
        logprob = -round(rng.random() * 2.5, 4)
        alternatives = [(token, logprob)]
        for rank, word in enumerate(rng.sample(VOCABULARY, top + 1), start=1):
            if len(alternatives) < top and f" {word}" != token:
                alternatives.append((f" {word}", round(logprob - rank - rng.random(), 4)))
        if position == 0 and Fault.LOGPROB_POSITIVE in faults:
            logprob = abs(logprob) + 0.5
        if position == 0 and Fault.LOGPROB_TOKENS_MISMATCH in faults:
            token += "~"
        entries.append(TokenLogprob(token, logprob, tuple(alternatives[:top])))
    return tuple(entries)
