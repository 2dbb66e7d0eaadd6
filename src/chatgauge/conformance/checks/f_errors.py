"""Checks of group F: the shape of error bodies, status codes, and errors inside streams.

F1 and F3's error-as-200 rule look at every exchange the run has collected (so errors
provoked by other checks count too) plus a few probes that guarantee some errors exist.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext, skip_kind_of
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import CheckFailed, CheckSkipped, Severity, SkipKind, Tier
from chatgauge.conformance.strategies import INVALID_LABEL, InvalidRequest

ERROR_PROBES = ("invalid-temperature", "unknown-model")
ENVELOPE_KEYS = ("message", "type", "param", "code")
MAX_EVIDENCE = 5
MAX_LISTED = 8
# At most this many tiny requests are sent to see whether the endpoint rate-limits.
BURST_REQUESTS = 8
# After an error event the stream must end promptly; longer than this counts as hanging.
HANG_LIMIT_S = 5.0
ERRORS_SPEC = "https://platform.openai.com/docs/guides/error-codes"


def _error_exchanges(ctx: CheckContext) -> list[ChatExchange]:
    """Every complete 4xx/5xx exchange of the run, after making sure the error probes ran."""
    for name in ERROR_PROBES:
        ctx.probe(name)
    return [
        ex
        for ex in ctx.exchanges
        if ex.status is not None and ex.status >= 400 and ex.error_kind is None
    ]


def envelope_problem(body: Any) -> str | None:
    """Why ``body`` is not ``{"error": {...}}``, or ``None`` when it is."""
    if body is None:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return f"the body is JSON but not an object ({type(body).__name__})"
    error = body.get("error")
    if not isinstance(error, dict):
        keys = ", ".join(sorted(map(str, body))) or "none"
        return f"no 'error' object in the body (top-level keys: {keys})"
    return None


def fields_problem(error: dict[str, Any]) -> str | None:
    """Why the inner error object lacks one of the four keys or has a wrong type."""
    missing = [key for key in ENVELOPE_KEYS if key not in error]
    if missing:
        return f"error object lacks {', '.join(map(repr, missing))}"
    for key, nullable in (("message", False), ("type", False), ("param", True), ("code", True)):
        value = error[key]
        if not (isinstance(value, str) or (nullable and value is None)):
            wanted = "a string or null" if nullable else "a string"
            return f"error.{key} is {json.dumps(value)[:80]}, not {wanted}"
    return None


def _fail_listing(
    ctx: CheckContext, what: str, found: list[tuple[ChatExchange, str]], total: int
) -> CheckFailed:
    listed = "; ".join(
        f"{ex.case.label or 'request'}: {problem}" for ex, problem in found[:MAX_LISTED]
    )
    if len(found) > MAX_LISTED:
        listed += f"; and {len(found) - MAX_LISTED} more"
    return CheckFailed(
        f"{len(found)} of {total} {what}: {listed}",
        *(ctx.evidence(ex, problem=problem) for ex, problem in found[:MAX_EVIDENCE]),
    )


# --- F1 ----------------------------------------------------------------------------------


@check(
    "F1-error-envelope",
    'Error bodies use the {"error": {...}} envelope',
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="openapi.yaml#/components/schemas/ErrorResponse",
)
def error_envelope(ctx: CheckContext) -> str | None:
    """Every 4xx or 5xx response body is a JSON object whose 'error' member is an object
    (not a flat object, a string or plain text). Judged over every error the run
    collected, plus an invalid-temperature and an unknown-model request."""
    errors = _error_exchanges(ctx)
    if not errors:
        raise CheckSkipped("the endpoint answered no request with a 4xx or 5xx")
    found = [(ex, p) for ex in errors if (p := envelope_problem(ex.json_or_none())) is not None]
    if found:
        raise _fail_listing(ctx, "error responses lack the envelope", found, len(errors))
    return f"all {len(errors)} error responses use the envelope"


@check(
    "F1-error-fields",
    "Error objects carry message, type, param and code",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="openapi.yaml#/components/schemas/Error",
)
def error_fields(ctx: CheckContext) -> str | None:
    """The error object of every 4xx or 5xx response has all four keys: 'message' and
    'type' strings, 'param' and 'code' strings or null (a numeric code or a message that is
    an object breaks the rule). Bodies without the envelope are judged by F1-error-envelope."""
    errors = [ex for ex in _error_exchanges(ctx) if envelope_problem(ex.json_or_none()) is None]
    if not errors:
        raise CheckSkipped("no error response with an envelope to inspect")
    found = [(ex, p) for ex in errors if (p := fields_problem(ex.json()["error"])) is not None]
    if found:
        raise _fail_listing(ctx, "error objects are incomplete", found, len(errors))
    return f"all {len(errors)} error objects have the four fields"


# --- F2 ----------------------------------------------------------------------------------


def _is_validation_request(exchange: ChatExchange) -> bool:
    label = exchange.case.label
    return label == "invalid-temperature" or label.startswith(INVALID_LABEL)


@check(
    "F2-validation-status",
    "Validation errors are answered 400 (or 422)",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref=ERRORS_SPEC,
)
def validation_status(ctx: CheckContext) -> str | None:
    """A request refused because it is invalid gets 400 (422 is accepted too), the status
    OpenAI's clients map to BadRequestError; never a 5xx, which clients retry as a server
    fault. Judged over every invalid request the run sent that got an error status, plus
    an invalid temperature and a malformed JSON body."""
    ctx.probe("invalid-temperature")
    ctx.send(InvalidRequest("malformed JSON", raw_body=b'{"model": ').to_case())
    judged = [
        ex
        for ex in ctx.exchanges
        if _is_validation_request(ex)
        and ex.status is not None
        and ex.status >= 400
        and ex.status != 429
    ]
    if not judged:
        raise CheckSkipped("no invalid request was answered with an error status")
    found = [(ex, f"HTTP {ex.status}") for ex in judged if ex.status not in (400, 422)]
    if found:
        raise _fail_listing(ctx, "validation errors had the wrong status", found, len(judged))
    statuses = sorted({ex.status for ex in judged if ex.status is not None})
    return f"{len(judged)} validation errors answered with {statuses}"


def retry_after_problem(value: str | None) -> str | None:
    """Why a ``Retry-After`` value is unusable (missing, or neither seconds nor an HTTP date)."""
    if value is None:
        return "no Retry-After header"
    text = value.strip()
    if text.isdigit():
        return None
    try:
        parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return f"Retry-After {text!r} is neither whole seconds nor an HTTP date"
    return None


@check(
    "F2-retry-after",
    "A 429 carries Retry-After",
    tier=Tier.DEFACTO,
    severity=Severity.MINOR,
    spec_ref=ERRORS_SPEC,
)
def retry_after(ctx: CheckContext) -> str | None:
    """A 429 (rate limited) response carries a Retry-After header with whole seconds or an
    HTTP date, so clients know when to retry. Judged on the 429s the run met, after a burst
    of at most 8 one-token requests; skipped when no 429 occurred."""
    limited = [ex for ex in ctx.exchanges if ex.status == 429]
    burst: list[ChatExchange] = []
    while not limited and len(burst) < BURST_REQUESTS:
        case = ChatCase(body=ctx.base_body(max_tokens=1), label="rate-limit burst")
        exchange = ctx.send(case, retry=False)  # the burst is there to meet a 429
        burst.append(exchange)
        if exchange.status == 429:
            limited.append(exchange)
    if not limited:
        # The burst's last answer shows what the endpoint said instead of a 429.
        raise CheckSkipped(
            f"no 429 occurred (burst of {len(burst)} requests)",
            *(ctx.evidence(exchange) for exchange in burst[-1:]),
            kind=SkipKind.NOT_APPLICABLE,
        )
    found = [(ex, p) for ex in limited if (p := retry_after_problem(ex.headers.get("retry-after")))]
    if found:
        raise _fail_listing(ctx, "429 responses lack a usable Retry-After", found, len(limited))
    return f"{len(limited)} 429 responses carried Retry-After"


# --- F3 ----------------------------------------------------------------------------------


def _error_event_index(exchange: ChatExchange) -> int | None:
    for index, event in enumerate(exchange.events):
        try:
            payload = parse_json(event.data)
        except ValueError:
            continue
        if isinstance(payload, dict) and "error" in payload:
            return index
    return None


@check(
    "F3-midstream-error-ends-stream",
    "A stream ends after a mid-stream error",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="https://platform.openai.com/docs/api-reference/chat-streaming",
)
def midstream_error_ends_stream(ctx: CheckContext) -> str | None:
    """When an error occurs after a streamed 200 has started, it is sent as a
    'data: {"error": {...}}' event and the stream then ends ([DONE] or close) within
    5 seconds; it never hangs. Provoked with chatgauge's fail-midstream marker; skipped
    when no error event occurs (endpoints other than chatgauge's ignore the marker)."""
    exchange = ctx.probe("fail-midstream")
    index = _error_event_index(exchange)
    if index is None:
        # A stream answered without an error: the endpoint ignores the marker (the rule is
        # not exercised); any other answer is judged by A1.
        answered = exchange.status == 200 and exchange.error_kind is None
        raise CheckSkipped(
            "no mid-stream error occurred",
            ctx.evidence(exchange),
            kind=SkipKind.NOT_APPLICABLE if answered else skip_kind_of(exchange),
        )
    error_at = exchange.events[index].arrived_ns
    open_s = (exchange.t_done_ns - error_at) / 1e9
    if exchange.error_kind == "timeout":
        raise CheckFailed(
            f"the stream hung after the error event until the read timeout ({open_s:.1f} s)",
            ctx.evidence(exchange, seconds_open_after_error=round(open_s, 1)),
        )
    if open_s > HANG_LIMIT_S:
        raise CheckFailed(
            f"the stream stayed open {open_s:.1f} s after the error event",
            ctx.evidence(exchange, seconds_open_after_error=round(open_s, 1)),
        )
    ending = "[DONE]" if any(e.data == "[DONE]" for e in exchange.events[index:]) else "close"
    return f"the stream ended by {ending} {open_s:.2f} s after the error event"


def _error_as_200(exchange: ChatExchange) -> bool:
    if exchange.status != 200 or exchange.is_event_stream or exchange.error_kind is not None:
        return False
    body = exchange.json_or_none()
    return isinstance(body, dict) and "error" in body and "choices" not in body


@check(
    "F3-no-error-as-200",
    "An error is never answered with 200",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref=ERRORS_SPEC,
)
def no_error_as_200(ctx: CheckContext) -> str | None:
    """A non-streamed response with status 200 is never an error object ({"error": ...}
    without choices): errors need an error status so clients raise instead of parsing an
    empty completion. Judged over every exchange of the run, plus an invalid-temperature
    and an unknown-model request."""
    for name in ERROR_PROBES:
        ctx.probe(name)
    found = [(ex, "HTTP 200 with an error body") for ex in ctx.exchanges if _error_as_200(ex)]
    if found:
        raise _fail_listing(ctx, "responses were errors sent as 200", found, len(ctx.exchanges))
    return f"none of {len(ctx.exchanges)} responses was an error sent as 200"
