"""Checks of group A: which requests an endpoint accepts and which it refuses.

Valid requests must get 200 (A1), invalid ones a 4xx (A2): first named, deterministic
cases on every bound and shape, then Hypothesis properties that draw further requests and
shrink a failure to a minimal request. Unknown models (A3), missing or wrong keys (A4) and
unknown extra fields (A5) are probed once each. The shape of error bodies is judged by the
F group, so that one deviation fails one check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._hypothesis_home import chatgauge_storage
from chatgauge.conformance._inspect import choice_chunks, error_code, excerpt, is_clean_refusal
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckSkipped,
    Severity,
    SkipKind,
    Tier,
)
from chatgauge.conformance.strategies import (
    InvalidRequest,
    boundary_requests,
    invalid_examples,
    invalid_requests,
    shape_requests,
    valid_requests,
)

T = TypeVar("T")

# Acceptance does not depend on what the model writes: a few tokens are enough.
SMALL_MAX_TOKENS = 4
# Shrinking a failure may send this many requests on top of the generated examples; after
# that, shrinking stops and the smallest failure found so far is reported.
SHRINK_ALLOWANCE = 24
MAX_EVIDENCE = 5
MAX_LISTED = 8
SPEC_REF = "openapi.yaml#/components/schemas/CreateChatCompletionRequest"


@dataclass(frozen=True)
class Judgement:
    """How one exchange fares against a rule: ``problem`` breaks it, ``note`` is worth telling.

    ``judged`` is false when the exchange says nothing about the rule because the run could
    not get an answer (rate limited after every retry, timed out).
    """

    problem: str | None = None
    note: str | None = None
    judged: bool = True


def _not_judged(exchange: ChatExchange) -> Judgement | None:
    """The judgement of an exchange the run got no usable answer to, else ``None``."""
    if exchange.error_kind == "timeout":
        return Judgement(note="timed out, not judged", judged=False)
    if exchange.status == 429 and exchange.error_kind is None:
        return Judgement(note="rate limited (429), not judged", judged=False)
    return None


def error_message(exchange: ChatExchange) -> str:
    """The endpoint's own error text (envelope message, else the body start), shortened."""
    body = exchange.json_or_none()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            return excerpt(message.encode(), 160)
    return excerpt(exchange.raw, 160)


def has_envelope(exchange: ChatExchange) -> bool:
    """Whether the body is a JSON object holding an ``error`` object."""
    body = exchange.json_or_none()
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _unsupported_note(exchange: ChatExchange) -> str:
    body = exchange.json_or_none()
    param = body["error"].get("param") if isinstance(body, dict) else None
    target = f" for {param!r}" if isinstance(param, str) else ""
    return f"refused as unsupported ({error_code(exchange)}{target})"


def judge_valid(exchange: ChatExchange) -> Judgement:
    """A valid request must get 200 with a completion (a JSON object or a stream of chunks
    with ``choices``). A clean refusal with an OpenAI 'unsupported' code and a 429 are noted,
    not held against the endpoint; a timeout is not judged either."""
    unjudged = _not_judged(exchange)
    if unjudged is not None:
        return unjudged
    if exchange.error_kind is not None:
        return Judgement(f"no complete response ({exchange.error})")
    status = exchange.status
    if status == 200:
        if exchange.case.stream:
            if not any(isinstance(c.get("choices"), list) for c in choice_chunks(exchange)):
                return Judgement("HTTP 200, but the stream carried no chunk with 'choices'")
            return Judgement()
        body = exchange.json_or_none()
        if not (isinstance(body, dict) and isinstance(body.get("choices"), list)):
            return Judgement("HTTP 200, but the body is not a JSON object with 'choices'")
        return Judgement()
    if is_clean_refusal(exchange):
        return Judgement(note=_unsupported_note(exchange))
    return Judgement(f"HTTP {status} instead of 200: {error_message(exchange)}")


def judge_invalid(exchange: ChatExchange) -> Judgement:
    """An invalid request must get a 4xx: never a 2xx, never a 5xx, never a dropped connection."""
    unjudged = _not_judged(exchange)
    if unjudged is not None:
        return unjudged
    status = exchange.status
    if status is None:
        return Judgement(f"no HTTP answer ({exchange.error})")
    if 400 <= status < 500:
        return Judgement()
    if 200 <= status < 300:
        return Judgement(f"accepted with HTTP {status}")
    if status >= 500:
        return Judgement(f"HTTP {status}, a server error for a client mistake")
    return Judgement(f"HTTP {status} instead of a 4xx")


def _notes_text(notes: Counter[str]) -> str:
    if not notes:
        return ""
    parts = [f"{note} x{count}" if count > 1 else note for note, count in notes.most_common()]
    return "; noted: " + "; ".join(parts)


def judge_cases(
    ctx: CheckContext,
    cases: Iterable[ChatCase],
    judge: Callable[[ChatExchange], Judgement],
    what: str,
) -> str:
    """Send every case, judge each; raise :class:`CheckFailed` listing all that broke the rule."""
    failures: list[tuple[str, ChatExchange, str]] = []
    notes: Counter[str] = Counter()
    count = judged = 0
    for case in cases:
        exchange = ctx.send(case)
        count += 1
        verdict = judge(exchange)
        judged += verdict.judged
        if verdict.note:
            notes[f"{case.label}: {verdict.note}"] += 1
        if verdict.problem:
            failures.append((case.label, exchange, verdict.problem))
    if count and not judged:
        raise CheckSkipped(
            f"none of the {count} {what} could be judged{_notes_text(notes)}", kind=SkipKind.RUN
        )
    if failures:
        listed = "; ".join(f"{label}: {problem}" for label, _, problem in failures[:MAX_LISTED])
        if len(failures) > MAX_LISTED:
            listed += f"; and {len(failures) - MAX_LISTED} more"
        evidence = [ctx.evidence(ex, problem=problem) for _, ex, problem in failures]
        raise CheckFailed(
            f"{len(failures)} of {count} {what} broke the rule: {listed}",
            *evidence[:MAX_EVIDENCE],
        )
    if not judged:
        raise CheckSkipped(
            f"none of the {count} {what} could be judged{_notes_text(notes)}", kind=SkipKind.RUN
        )
    return f"all {count} {what} were answered as the rule requires{_notes_text(notes)}"


class _PropertyFailure(Exception):
    """Raised inside the Hypothesis test so that it shrinks the failing request."""


@dataclass
class PropertyRun:
    """What a property run found: the minimal failure (if any), notes, requests sent, and
    how many of their answers were judged (a 429 is not)."""

    failure: tuple[str, ChatExchange] | None = None
    sent: int = 0
    judged: int = 0
    budget_exhausted: bool = False
    stopped: str = ""
    notes: Counter[str] = field(default_factory=Counter)


def run_property(
    ctx: CheckContext,
    strategy: st.SearchStrategy[T],
    to_case: Callable[[T], ChatCase],
    judge: Callable[[ChatExchange], Judgement],
) -> PropertyRun:
    """Run ``judge`` over requests drawn from ``strategy``; shrink a failure to a minimal one.

    Verdicts are cached by request bytes: a request Hypothesis replays is not sent again,
    so the final replay of the minimal failure is consistent and costs nothing. Requests
    beyond the examples plus :data:`SHRINK_ALLOWANCE` are not sent (they count as passing),
    which ends shrinking with the smallest failure found so far.
    """
    run = PropertyRun()
    cap = ctx.settings.examples + SHRINK_ALLOWANCE
    verdicts: dict[bytes, tuple[Judgement, ChatExchange]] = {}

    def attempt(value: T) -> None:
        case = to_case(value)
        key = case.content()
        if key not in verdicts:
            if run.sent >= cap or run.budget_exhausted:
                return
            try:
                exchange = ctx.send(case)
            except CheckSkipped as exc:
                run.budget_exhausted = True
                run.stopped = exc.message
                return
            run.sent += 1
            verdict = judge(exchange)
            run.judged += verdict.judged
            verdicts[key] = (verdict, exchange)
            if verdict.note:
                run.notes[verdict.note] += 1
        verdict, exchange = verdicts[key]
        if verdict.problem:
            run.failure = (verdict.problem, exchange)
            raise _PropertyFailure(verdict.problem)

    profile = settings(
        max_examples=ctx.settings.examples,
        deadline=None,
        derandomize=ctx.settings.derandomize,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    test: Callable[[], None] = profile(given(strategy)(attempt))
    # The failure (the last one Hypothesis replayed: the minimal one) is kept in run.failure.
    # Hypothesis's caches go to chatgauge's own directory, never the user's working one.
    with chatgauge_storage(), suppress(_PropertyFailure, HypothesisException):
        test()
    return run


def property_verdict(ctx: CheckContext, run: PropertyRun, what: str) -> str:
    """Turn a property run into the check's verdict: failed with the minimal request, skipped
    when nothing could be sent, passed otherwise."""
    notes = _notes_text(run.notes)
    if run.failure is not None:
        problem, exchange = run.failure
        raise CheckFailed(
            f"a {what} broke the rule (minimal request after shrinking, label "
            f"{exchange.case.label!r}): {problem}",
            ctx.evidence(exchange, problem=problem, requests_sent=run.sent),
        )
    if run.sent == 0:
        why = run.stopped or "budget exhausted"
        raise CheckSkipped(f"no {what} could be sent ({why})", kind=SkipKind.RUN)
    if run.judged == 0:
        raise CheckSkipped(
            f"none of the {run.sent} {what}s sent could be judged{notes}", kind=SkipKind.RUN
        )
    budget = f"; stopped early: {run.stopped}" if run.budget_exhausted else ""
    return f"{run.sent} {what}s were answered as the rule requires{budget}{notes}"


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
    top_logprobs without logprobs, stream_options without stream."""
    cases = _invalid_cases(invalid_examples(ctx.model)["request"])
    return judge_cases(ctx, cases, judge_invalid, "malformed requests")


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
    run = run_property(ctx, invalid_requests(ctx.model), InvalidRequest.to_case, judge_invalid)
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
