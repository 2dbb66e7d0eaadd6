"""Checks of group A: which requests an endpoint accepts and which it refuses.

Valid requests must get 200 (A1), invalid ones a 4xx (A2): first named, deterministic
cases on every bound and shape, then Hypothesis properties that draw further requests and
shrink a failure to a minimal request. Unknown models (A3), missing or wrong keys (A4) and
unknown extra fields (A5) are probed once each. The shape of error bodies is judged by the
F group, so that one deviation fails one check. How a batch is judged: ``_judging.py``
and ``_properties.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import error_code
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckSkipped,
    Severity,
    SkipKind,
    Tier,
)
from chatgauge.conformance.checks._judging import (
    Judgement,
    error_message,
    has_envelope,
    judge_cases,
    judge_invalid,
    judge_valid,
)
from chatgauge.conformance.checks._properties import (
    SHRINK_ALLOWANCE,
    PropertyRun,
    property_verdict,
    run_property,
)
from chatgauge.conformance.strategies import (
    InvalidRequest,
    boundary_requests,
    invalid_examples,
    invalid_requests,
    shape_requests,
    valid_requests,
)

# Acceptance does not depend on what the model writes: a few tokens are enough.
SMALL_MAX_TOKENS = 4
SPEC_REF = "openapi.yaml#/components/schemas/CreateChatCompletionRequest"


def _named(label: str, body: dict[str, Any]) -> ChatCase:
    return ChatCase(body=body, label=label)


def _small_max_tokens(ctx: CheckContext) -> int:
    return max(1, min(SMALL_MAX_TOKENS, ctx.settings.max_tokens))


# --- A1 ----------------------------------------------------------------------------------


@check(
    "A1-boundary-values-accepted",
    "Sampling parameters on their bounds are accepted",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def boundary_values_accepted(ctx: CheckContext) -> str | None:
    """A request with a sampling parameter exactly on a bound of its documented range gets
    200: temperature 0, 1.5 and 2; top_p 0 and 1; presence and frequency penalty -2 and 2;
    n 3; top_logprobs 0 and 20 with logprobs true. A clean refusal with an OpenAI
    'unsupported' code is reported, not failed."""
    cases = [
        _named(f"A1: {name}", body)
        for name, body in boundary_requests(ctx.model, _small_max_tokens(ctx))
    ]
    return judge_cases(ctx, cases, judge_valid, "boundary requests")


@check(
    "A1-request-shapes-accepted",
    "Every message role and content shape is accepted",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def request_shapes_accepted(ctx: CheckContext) -> str | None:
    """A request using any documented shape gets 200: content as a string or as an array of
    text parts; system, developer, user, assistant and tool messages (an assistant message
    with tool_calls may have null content); stop as a string or 1-4 strings;
    max_completion_tokens; each response_format; a stream with include_usage. A clean
    refusal with an OpenAI 'unsupported' code is reported, not failed."""
    cases = [
        _named(f"A1: {name}", body)
        for name, body in shape_requests(ctx.model, _small_max_tokens(ctx))
    ]
    return judge_cases(ctx, cases, judge_valid, "request shapes")


@check(
    "A1-random-valid-requests-accepted",
    "Randomly drawn schema-valid requests are accepted",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def random_valid_requests_accepted(ctx: CheckContext) -> str | None:
    """Every schema-valid request within budget gets 200 with a completion. Hypothesis draws
    requests combining roles, content shapes, sampling parameters on and inside their
    bounds, n, logprobs, stop, token limits, response formats and streaming; a failure is
    shrunk to a minimal request. Clean 'unsupported' refusals are reported, not failed."""
    strategy = valid_requests(ctx.model, _small_max_tokens(ctx))
    run = run_property(
        ctx, strategy, lambda body: _named("A1: random valid request", body), judge_valid
    )
    return property_verdict(ctx, run, "random valid request")


# --- A2 ----------------------------------------------------------------------------------


def _invalid_cases(requests: Iterable[InvalidRequest]) -> list[ChatCase]:
    return [r.to_case() for r in requests]


@check(
    "A2-out-of-range-rejected",
    "Values just outside their documented range are rejected",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def out_of_range_rejected(ctx: CheckContext) -> str | None:
    """A request with a value just outside its documented range gets a 4xx, never a 2xx or
    5xx: temperature below 0 or above 2, top_p outside [0, 1], penalties outside [-2, 2],
    n 0, top_logprobs outside 0..20, five stop strings."""
    cases = _invalid_cases(invalid_examples(ctx.model)["range"])
    return judge_cases(ctx, cases, judge_invalid, "out-of-range requests")


@check(
    "A2-malformed-request-rejected",
    "Requests with wrong types, missing fields or unknown roles are rejected",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def malformed_request_rejected(ctx: CheckContext) -> str | None:
    """A JSON request that breaks the request schema or a rule stated in the spec's prose
    gets a 4xx, never a 2xx or 5xx: missing model or messages, empty messages, an unknown
    role, a message without role, content or tool_call_id, a value of the wrong type,
    top_logprobs without logprobs, stream_options without stream. Accepting one of the last
    two (rules only OpenAI's prose states) is a warning unless the run is strict."""
    requests = invalid_examples(ctx.model)["request"]
    soft = {r.to_case().label for r in requests if r.prose_rule}
    return judge_cases(ctx, _invalid_cases(requests), judge_invalid, "malformed requests", soft)


@check(
    "A2-malformed-body-rejected",
    "Bodies that are not a JSON object are rejected",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def malformed_body_rejected(ctx: CheckContext) -> str | None:
    """A body that is not valid JSON, or is JSON but not an object (an array, a string, a
    number, null), gets a 4xx answer, never a 2xx, a 5xx or a dropped connection."""
    cases = _invalid_cases(invalid_examples(ctx.model)["body"])
    return judge_cases(ctx, cases, judge_invalid, "malformed bodies")


@check(
    "A2-random-invalid-requests-rejected",
    "Randomly drawn invalid requests are rejected",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref=SPEC_REF,
)
def random_invalid_requests_rejected(ctx: CheckContext) -> str | None:
    """Every invalid request gets a 4xx, never a 2xx or 5xx. Hypothesis draws requests with
    one violation each (a bound outside its range by any amount, a wrong type, a missing
    field, an unknown role, too many stop strings, a missing prerequisite parameter, a body
    that is not a JSON object); a failure is shrunk to a minimal request."""
    run = run_property(
        ctx,
        invalid_requests(ctx.model),
        InvalidRequest.to_case,
        judge_invalid,
        soft=lambda request: request.prose_rule,
    )
    return property_verdict(ctx, run, "random invalid request")


# --- A3 - A5 -----------------------------------------------------------------------------


def _rate_limited(ctx: CheckContext, exchange: ChatExchange) -> None:
    if exchange.status == 429:
        raise CheckSkipped(
            "the probe was rate limited (429)", ctx.evidence(exchange), kind=SkipKind.RUN
        )


def _no_answer(ctx: CheckContext, exchange: ChatExchange) -> None:
    if exchange.error_kind == "timeout":
        raise CheckSkipped(
            f"the probe timed out ({exchange.error})", ctx.evidence(exchange), kind=SkipKind.RUN
        )
    if exchange.status is None:
        raise CheckFailed(f"no HTTP answer ({exchange.error})", ctx.evidence(exchange))


@check(
    "A3-unknown-model-rejected",
    "An unknown model is refused",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="https://platform.openai.com/docs/guides/error-codes",
)
def unknown_model_rejected(ctx: CheckContext) -> str | None:
    """A request naming a model the endpoint does not serve gets 404 with error code
    'model_not_found', as OpenAI answers; another 4xx is accepted with a note. A 2xx
    (another model silently serves the request) or a 5xx breaks the rule."""
    exchange = ctx.probe("unknown-model")
    _no_answer(ctx, exchange)
    _rate_limited(ctx, exchange)
    status = exchange.status
    assert status is not None
    code = error_code(exchange)
    if status == 404 and code == "model_not_found":
        return "404 with code 'model_not_found'"
    if 400 <= status < 500:
        return f"refused with HTTP {status} and code {code!r} (OpenAI: 404 'model_not_found')"
    what = "served anyway" if status < 300 else "not refused with a 4xx"
    raise CheckFailed(
        f"an unknown model was {what}: HTTP {status}",
        ctx.evidence(exchange, model=exchange.case.body.get("model")),
    )


def _auth_refused(ctx: CheckContext, probe: str, what: str) -> str:
    if not ctx.settings.auth_required:
        raise CheckSkipped(
            "endpoint configured as open (no API key given)", kind=SkipKind.NOT_APPLICABLE
        )
    exchange = ctx.probe(probe)
    _no_answer(ctx, exchange)
    _rate_limited(ctx, exchange)
    if exchange.status == 401:
        return f"{what}: 401"
    raise CheckFailed(f"{what}: HTTP {exchange.status} instead of 401", ctx.evidence(exchange))


@check(
    "A4-missing-key-rejected",
    "A request without an API key is refused with 401",
    tier=Tier.DEFACTO,
    severity=Severity.CRITICAL,
    spec_ref="https://platform.openai.com/docs/api-reference/authentication",
)
def missing_key_rejected(ctx: CheckContext) -> str | None:
    """When the endpoint requires an API key, a request without an Authorization header
    gets 401. Skipped when chatgauge was given no key (the endpoint is taken to be open)."""
    return _auth_refused(ctx, "no-auth", "request without a key")


@check(
    "A4-wrong-key-rejected",
    "A request with a wrong API key is refused with 401",
    tier=Tier.DEFACTO,
    severity=Severity.CRITICAL,
    spec_ref="https://platform.openai.com/docs/api-reference/authentication",
)
def wrong_key_rejected(ctx: CheckContext) -> str | None:
    """When the endpoint requires an API key, a request with a wrong key gets 401.
    Skipped when chatgauge was given no key (the endpoint is taken to be open)."""
    return _auth_refused(ctx, "wrong-auth", "request with a wrong key")


@check(
    "A5-unknown-field-handled",
    "An unknown request field is ignored or rejected cleanly",
    tier=Tier.DEFACTO,
    severity=Severity.MINOR,
    spec_ref=SPEC_REF,
)
def unknown_field_handled(ctx: CheckContext) -> str | None:
    """An unknown top-level request field is either ignored (200) or rejected with a 4xx
    error envelope (OpenAI: 400); the check reports which. A 5xx, a dropped connection or
    an error body without the envelope breaks the rule."""
    exchange = ctx.probe("extra-field")
    _no_answer(ctx, exchange)
    _rate_limited(ctx, exchange)
    status = exchange.status
    assert status is not None
    if status == 200:
        return "ignored: the request with an unknown field was answered 200"
    if 400 <= status < 500 and has_envelope(exchange):
        return f"rejected with {status}: {error_message(exchange)}"
    if 400 <= status < 500:
        problem = f"rejected with HTTP {status}, but the body has no error envelope"
    else:
        problem = f"HTTP {status} for a request with an unknown field"
    raise CheckFailed(problem, ctx.evidence(exchange))


__all__ = [
    "SHRINK_ALLOWANCE",
    "Judgement",
    "PropertyRun",
    "error_message",
    "has_envelope",
    "judge_cases",
    "judge_invalid",
    "judge_valid",
    "property_verdict",
    "run_property",
]
