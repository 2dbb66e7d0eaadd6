"""Checks of group F: the shape of error bodies, status codes, and errors sent as 200.

Each check judges only its own probes (``ERROR_PROBES`` and friends in ``_probes.py``):
requests every endpoint must refuse. It never reads what other checks happened to send, so
its verdict is the same alone, in a full run, in any order and in any xdist worker.

Rule F3's first half (an error after a streamed 200 has begun is sent as an error event
and the stream then ends) is not in the catalogue: no request makes an arbitrary endpoint
fail in the middle of a stream, so the check could only ever judge chatgauge's own server.
The reference endpoint's behaviour is tested by the server's own tests instead.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._probes import ERROR_PROBES, VALIDATION_PROBES
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import CheckFailed, CheckSkipped, Severity, SkipKind, Tier

ENVELOPE_KEYS = ("message", "type", "param", "code")
MAX_EVIDENCE = 5
MAX_LISTED = 8
# At most this many tiny requests are sent to see whether the endpoint rate-limits.
BURST_REQUESTS = 8
ERRORS_SPEC = "https://platform.openai.com/docs/guides/error-codes"


def error_probes(ctx: CheckContext) -> tuple[str, ...]:
    """The error probes of the run: the request without a key too when one is required."""
    return (*ERROR_PROBES, "no-auth") if ctx.settings.auth_required else ERROR_PROBES


def _error_exchanges(ctx: CheckContext) -> list[ChatExchange]:
    """The complete 4xx/5xx answers to the error probes."""
    answers = [ctx.probe(name) for name in error_probes(ctx)]
    return [
        ex for ex in answers if ex.status is not None and ex.status >= 400 and ex.error_kind is None
    ]


def _no_errors(ctx: CheckContext) -> CheckSkipped:
    answers = [ctx.probe(name) for name in error_probes(ctx)]
    return CheckSkipped(
        "none of the error probes (" + ", ".join(error_probes(ctx)) + ") was answered with a "
        "4xx or 5xx (their acceptance is judged by A2 and A3)",
        *(ctx.evidence(ex) for ex in answers[:MAX_EVIDENCE]),
    )


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


def fields_problems(error: dict[str, Any]) -> list[str]:
    """Every way the inner error object breaks the rule: missing keys, then wrong types."""
    problems = []
    missing = [key for key in ENVELOPE_KEYS if key not in error]
    if missing:
        problems.append(f"error object lacks {', '.join(map(repr, missing))}")
    for key, nullable in (("message", False), ("type", False), ("param", True), ("code", True)):
        if key not in error:
            continue
        value = error[key]
        if not (isinstance(value, str) or (nullable and value is None)):
            wanted = "a string or null" if nullable else "a string"
            problems.append(f"error.{key} is {json.dumps(value)[:80]}, not {wanted}")
    return problems


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
    (not a flat object, a string or plain text). Judged on the error probes: a temperature
    out of range and one of the wrong type, an unknown role, a request without messages,
    malformed JSON, an unknown model (and a request without a key when a key was
    given)."""
    errors = _error_exchanges(ctx)
    if not errors:
        raise _no_errors(ctx)
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
    """The error object of every 4xx or 5xx response to the error probes has all four
    keys: 'message' and 'type' strings, 'param' and 'code' strings or null (a numeric code
    or a message that is an object breaks the rule). Every problem of each object is
    listed. Bodies without the envelope are judged by F1-error-envelope."""
    answered = _error_exchanges(ctx)
    if not answered:
        raise _no_errors(ctx)
    errors = [ex for ex in answered if envelope_problem(ex.json_or_none()) is None]
    if not errors:
        raise CheckSkipped(
            "no error response has the envelope (judged by F1-error-envelope)",
            *(ctx.evidence(ex) for ex in answered[:MAX_EVIDENCE]),
        )
    found = [
        (ex, "; ".join(problems))
        for ex in errors
        if (problems := fields_problems(ex.json()["error"]))
    ]
    if found:
        raise _fail_listing(ctx, "error objects are incomplete", found, len(errors))
    return f"all {len(errors)} error objects have the four fields"


# --- F2 ----------------------------------------------------------------------------------


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
    fault. Judged on a temperature out of range and one of the wrong type, an unknown role,
    a request without messages and a malformed JSON body, when they get an error status (a
    2xx is A2's matter, a 429 is not judged)."""
    answers = [ctx.probe(name) for name in VALIDATION_PROBES]
    judged = [
        ex for ex in answers if ex.status is not None and ex.status >= 400 and ex.status != 429
    ]
    if not judged:
        raise CheckSkipped(
            "no invalid request was answered with an error status other than 429 "
            "(acceptance of invalid requests is judged by A2)",
            *(ctx.evidence(ex) for ex in answers),
        )
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
    HTTP date, so clients know when to retry. Judged on the first 429 of a burst of at
    most 8 one-token requests; skipped when none occurred."""
    limited: list[ChatExchange] = []
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
    empty completion. Judged on the plain request and the error probes (as for
    F1-error-envelope)."""
    answers = [ctx.probe(name) for name in ("plain", *error_probes(ctx))]
    judged = [ex for ex in answers if ex.status is not None and ex.error_kind is None]
    if not judged:
        raise CheckSkipped(
            "no probe got a complete answer",
            *(ctx.evidence(ex) for ex in answers[:MAX_EVIDENCE]),
            kind=SkipKind.RUN,
        )
    found = [(ex, "HTTP 200 with an error body") for ex in judged if _error_as_200(ex)]
    if found:
        raise _fail_listing(ctx, "responses were errors sent as 200", found, len(judged))
    return f"none of {len(judged)} responses was an error sent as 200"
