"""What an endpoint does with each feature: its probes' answers classified into a state.

Every classifier reads the probes the checks share (each sent at most once per run) and
says one of (``results.conformance.FeatureState``):

- ``unsupported``: refused cleanly, a 4xx with the error envelope;
- ``ignored``: accepted, the effect absent (``tool_choice: "required"`` answered with text,
  ``n: 3`` with one choice, ``json_schema`` output that does not validate, logprobs
  requested and absent, ``include_usage`` without a usage chunk, a stop string run past, a
  limit run past, a request without a key served);
- ``broken``: the effect is there but wrong (tool-call arguments that are not JSON, a usage
  chunk with choices, a stop string leaked into the output, JSON in a markdown fence), or
  the request was refused but not cleanly (a 5xx, a 4xx without the envelope);
- ``supported``: accepted and honoured;
- ``not_probed``: no answer to judge (the run's budget, a rate limit, a timeout, no API key
  given, an answer cut before it could show the effect).

The first rule that fits decides; the evidence is one line a report shows beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from jsonschema import Draft202012Validator

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge.conformance._boundary import safe_exchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._features import Found
from chatgauge.conformance._inspect import choice_chunks, error_code, excerpt, streamed_text
from chatgauge.conformance._probes import ANSWER_SCHEMA, CUT_LIMIT
from chatgauge.conformance._results import CheckSkipped
from chatgauge.results.conformance import FeatureState

FENCE: Final = "```"
SHOWN: Final = 80


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _answer_problem(name: str, exchange: ChatExchange) -> Found | None:
    """The state of a probe that got no 200: not probed (the run could not get an answer),
    unsupported (a clean 4xx envelope) or broken (any other refusal)."""
    if exchange.status == 429 or exchange.error_kind in ("timeout", "connection", "limit"):
        what = exchange.error or f"HTTP {exchange.status}"
        return Found(FeatureState.NOT_PROBED, f"no answer to judge ({_short(what)})", name, True)
    status = exchange.status
    if status == 200 and exchange.error_kind is None:
        return None
    if exchange.error_kind is not None:
        return Found(FeatureState.BROKEN, f"the answer broke off ({_short(exchange.error)})", name)
    body = exchange.json_or_none()
    if status is not None and 400 <= status < 500 and isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error_code(exchange)
            message = error.get("message")
            said = f": {_short(message)}" if isinstance(message, str) else ""
            return Found(
                FeatureState.UNSUPPORTED, f"refused: HTTP {status}, code {code!r}{said}", name
            )
    return Found(
        FeatureState.BROKEN,
        f"refused, but not cleanly: HTTP {status} {_short(excerpt(exchange.raw, SHOWN))}",
        name,
    )


def _probe(ctx: CheckContext, name: str) -> tuple[ChatExchange | None, Found | None]:
    """The probe's exchange when it was answered 200, else the state its answer gives."""
    try:
        exchange = ctx.raw_probe(name)
    except CheckSkipped as skip:
        return None, Found(FeatureState.NOT_PROBED, f"not sent: {_short(skip.message)}", name, True)
    problem = _answer_problem(name, exchange)
    return (None, problem) if problem is not None else (exchange, None)


def _first_choice(exchange: ChatExchange) -> dict[str, Any]:
    body = exchange.json_or_none()
    choices = body.get("choices") if isinstance(body, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    return first if isinstance(first, dict) else {}


def _message(choice: dict[str, Any]) -> dict[str, Any]:
    message = choice.get("message")
    return message if isinstance(message, dict) else {}


def _content(choice: dict[str, Any]) -> str:
    content = _message(choice).get("content")
    return content if isinstance(content, str) else ""


def _accepted(name: str, what: str) -> Callable[[CheckContext], Found]:
    """A feature whose effect no probe can see: accepted means supported."""

    def classify(ctx: CheckContext) -> Found:
        _, problem = _probe(ctx, name)
        if problem is not None:
            return problem
        return Found(FeatureState.SUPPORTED, f"accepted: {what}", name)

    return classify


def _tool_call_problem(call: object) -> str | None:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return f"a tool call is not an object with 'function': {_short(call)}"
    function = call["function"]
    if not isinstance(function.get("name"), str) or not function["name"]:
        return "a tool call has no function name"
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        return f"tool-call arguments are not a JSON string: {_short(arguments)}"
    try:
        parse_json(arguments)
    except ValueError:
        return f"tool-call arguments are not JSON: {_short(arguments)}"
    return None


def _streamed_arguments_problem(exchange: ChatExchange) -> str | None:
    calls: dict[Any, str] = {}
    for chunk in choice_chunks(exchange):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            for call in (delta or {}).get("tool_calls") or [] if isinstance(delta, dict) else []:
                if not isinstance(call, dict) or not isinstance(call.get("index"), int):
                    return f"a streamed tool-call delta has no integer index: {_short(call)}"
                function = call.get("function")
                fragment = function.get("arguments") if isinstance(function, dict) else None
                calls[call["index"]] = calls.get(call["index"], "") + (
                    fragment if isinstance(fragment, str) else ""
                )
    for index, arguments in calls.items():
        try:
            parse_json(arguments)
        except ValueError:
            return f"streamed arguments of call {index} join to invalid JSON: {_short(arguments)}"
    return None


def _tools(ctx: CheckContext) -> Found:
    exchange, problem = _probe(ctx, "tools")
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", "tools", True)
    calls = _message(_first_choice(exchange)).get("tool_calls")
    if not isinstance(calls, list) or not calls:
        text = _content(_first_choice(exchange))
        return Found(
            FeatureState.IGNORED,
            f"tool_choice 'required' answered without tool calls: {_short(text)}",
            "tools",
        )
    for call in calls:
        wrong = _tool_call_problem(call)
        if wrong:
            return Found(FeatureState.BROKEN, wrong, "tools")
    stream, _ = _probe(ctx, "tools-stream")
    wrong = _streamed_arguments_problem(stream) if stream is not None else None
    if wrong:
        return Found(FeatureState.BROKEN, wrong, "tools-stream")
    return Found(FeatureState.SUPPORTED, f"{len(calls)} tool call(s) with JSON arguments", "tools")


def _logprobs(ctx: CheckContext) -> Found:
    exchange, problem = _probe(ctx, "logprobs")
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", "logprobs", True)
    logprobs = _first_choice(exchange).get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content:
        return Found(
            FeatureState.IGNORED,
            f"logprobs requested, the answer has {_short(logprobs)}",
            "logprobs",
        )
    for entry in content if isinstance(content, list) else [content]:
        value = entry.get("logprob") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            return Found(
                FeatureState.BROKEN, f"a logprobs entry is malformed: {_short(entry)}", "logprobs"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value > 0:
            return Found(
                FeatureState.BROKEN, f"a logprob is not a number <= 0: {_short(value)}", "logprobs"
            )
    return Found(FeatureState.SUPPORTED, f"{len(content)} token logprobs", "logprobs")


def _structured(ctx: CheckContext, name: str, validate: bool) -> Found:
    exchange, problem = _probe(ctx, name)
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", name, True)
    choice = _first_choice(exchange)
    content = _content(choice)
    if choice.get("finish_reason") == "length":
        return Found(FeatureState.NOT_PROBED, "the answer was cut at max_tokens", name, True)
    stripped = content.strip()
    fenced = stripped.startswith(FENCE)
    if fenced:
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        decoded = parse_json(stripped)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        return Found(
            FeatureState.IGNORED, f"the content is not a JSON object: {_short(content)}", name
        )
    if validate:
        errors = [e.message for e in Draft202012Validator(ANSWER_SCHEMA).iter_errors(decoded)]
        if errors:
            return Found(
                FeatureState.IGNORED, f"the content does not validate: {_short(errors[0])}", name
            )
    if fenced:
        return Found(
            FeatureState.BROKEN, f"the JSON is wrapped in a markdown fence: {_short(content)}", name
        )
    return Found(FeatureState.SUPPORTED, f"a JSON object: {_short(content)}", name)


def _n(ctx: CheckContext) -> Found:
    exchange, problem = _probe(ctx, "n3")
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", "n3", True)
    body = exchange.json_or_none()
    choices = body.get("choices") if isinstance(body, dict) else None
    count = len(choices) if isinstance(choices, list) else 0
    indices = sorted((c.get("index") for c in choices or [] if isinstance(c, dict)), key=repr)
    if count == 1:
        return Found(FeatureState.IGNORED, "n=3 answered with one choice", "n3")
    if indices != [0, 1, 2]:
        return Found(FeatureState.BROKEN, f"n=3 answered with choice indices {indices}", "n3")
    return Found(FeatureState.SUPPORTED, "n=3 answered with choices 0, 1, 2", "n3")


def _stop(ctx: CheckContext) -> Found:
    plain, _ = _probe(ctx, "plain")
    if plain is None:
        return Found(FeatureState.NOT_PROBED, "no unstopped answer to compare with", "plain", True)
    exchange, problem = _probe(ctx, "stop")
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", "stop", True)
    stop = exchange.case.body.get("stop")
    word = str(stop[0] if isinstance(stop, list) else stop)
    unstopped = _content(_first_choice(plain))
    if word not in unstopped:
        return Found(
            FeatureState.NOT_PROBED, f"the unstopped answer has no {word!r} to stop at", "stop"
        )
    text = _content(_first_choice(exchange))
    if word not in text:
        return Found(FeatureState.SUPPORTED, f"the output ended before {word!r}", "stop")
    if text.rstrip().endswith(word) and len(text.rstrip()) <= unstopped.index(word) + len(word):
        return Found(
            FeatureState.BROKEN, f"the stop string {word!r} leaked into the output", "stop"
        )
    return Found(FeatureState.IGNORED, f"the output ran past the stop string {word!r}", "stop")


def _stream_usage(ctx: CheckContext) -> Found:
    exchange, problem = _probe(ctx, "plain-stream")
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", "plain-stream", True)
    usage_chunks = [c for c in choice_chunks(exchange) if isinstance(c.get("usage"), dict)]
    if not usage_chunks and not streamed_text(exchange) and not choice_chunks(exchange):
        return Found(FeatureState.NOT_PROBED, "the stream carried no chunks", "plain-stream", True)
    if not usage_chunks:
        return Found(
            FeatureState.IGNORED, "include_usage requested, no usage chunk came", "plain-stream"
        )
    if len(usage_chunks) > 1:
        return Found(
            FeatureState.BROKEN, f"{len(usage_chunks)} chunks carry usage, not one", "plain-stream"
        )
    if usage_chunks[0].get("choices") != []:
        return Found(
            FeatureState.BROKEN, "the usage chunk has choices (not 'choices': [])", "plain-stream"
        )
    return Found(FeatureState.SUPPORTED, "one usage chunk with 'choices': []", "plain-stream")


def _max_completion_tokens(ctx: CheckContext) -> Found:
    name = "cut-completion-tokens"
    exchange, problem = _probe(ctx, name)
    if problem is not None or exchange is None:
        return problem or Found(FeatureState.NOT_PROBED, "no answer", name, True)
    body = exchange.json_or_none()
    usage = body.get("usage") if isinstance(body, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        if tokens > CUT_LIMIT:
            return Found(
                FeatureState.IGNORED,
                f"max_completion_tokens {CUT_LIMIT}, completion_tokens {tokens}",
                name,
            )
        return Found(FeatureState.SUPPORTED, f"completion_tokens {tokens} <= {CUT_LIMIT}", name)
    words = len(_content(_first_choice(exchange)).split())
    if words > CUT_LIMIT * 4:
        return Found(FeatureState.IGNORED, f"limit {CUT_LIMIT}, {words} words came back", name)
    return Found(FeatureState.SUPPORTED, f"a short answer ({words} words, no usage)", name)


def _auth(ctx: CheckContext) -> Found:
    if not ctx.settings.auth_required:
        return Found(FeatureState.NOT_PROBED, "no API key given: the endpoint is taken as open")
    states = []
    for name in ("no-auth", "wrong-auth"):
        try:
            exchange = ctx.raw_probe(name)
        except CheckSkipped as skip:
            return Found(FeatureState.NOT_PROBED, f"not sent: {_short(skip.message)}", name, True)
        if exchange.status == 429 or exchange.error_kind is not None:
            return Found(FeatureState.NOT_PROBED, "no answer to judge", name, True)
        states.append((name, exchange.status))
    for name, status in states:
        if status is not None and 200 <= status < 300:
            return Found(FeatureState.IGNORED, f"{name}: served with HTTP {status}", name)
    for name, status in states:
        if status != 401:
            return Found(FeatureState.BROKEN, f"{name}: HTTP {status} instead of 401", name)
    return Found(FeatureState.SUPPORTED, "requests without or with a wrong key get 401", "no-auth")


def _models_endpoint(ctx: CheckContext) -> Found:
    label = "GET /models"
    if ctx.get is None:
        return Found(FeatureState.NOT_PROBED, "this run cannot send GET requests")
    try:
        ctx.budget.reserve_request()
    except Exception as exc:  # BudgetExhausted: the run's cap, not the endpoint
        return Found(FeatureState.NOT_PROBED, f"not sent: {exc}", label, True)
    exchange = ctx.keep(label, safe_exchange(ctx.get("/models"), ctx.secret))
    problem = _answer_problem(label, exchange)
    if problem is not None:
        return problem
    body = exchange.json_or_none()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return Found(
            FeatureState.BROKEN, f"not a model list: {_short(excerpt(exchange.raw, SHOWN))}", label
        )
    ids = [e.get("id") for e in data if isinstance(e, dict)]
    if ctx.model not in ids:
        return Found(FeatureState.BROKEN, f"the list does not name model {ctx.model!r}", label)
    return Found(
        FeatureState.SUPPORTED, f"lists {len(ids)} model(s), {ctx.model!r} among them", label
    )


CLASSIFIERS: Final[dict[str, Callable[[CheckContext], Found]]] = {
    "tools": _tools,
    "logprobs": _logprobs,
    "json_schema": lambda ctx: _structured(ctx, "json-schema", True),
    "json_object": lambda ctx: _structured(ctx, "json-mode", False),
    "n": _n,
    "stop": _stop,
    "stream_usage": _stream_usage,
    "seed": _accepted("seed", "a request with seed was answered"),
    "max_completion_tokens": _max_completion_tokens,
    "developer_role": _accepted("developer", "a developer message was answered"),
    "content_parts": _accepted("content-parts", "content as text parts was answered"),
    "auth": _auth,
    "models_endpoint": _models_endpoint,
}
"""One classifier per feature of ``_features.FEATURES``."""


def classify(ctx: CheckContext, feature: str) -> Found:
    """What the endpoint does with ``feature`` (module docstring)."""
    return CLASSIFIERS[feature](ctx)


__all__ = ["CLASSIFIERS", "Found", "classify"]
