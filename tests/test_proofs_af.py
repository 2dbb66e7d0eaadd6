"""Proofs of the acceptance (A) and error (F) checks: each fails on its fault, passes faithfully.

Also: no A/F check fails on any valid-but-unusual framing, the verdict rules for clean
refusals and rate limits, and the request bounds of the Hypothesis properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chatgauge._models import ChatCase, ChatExchange
from chatgauge._secret import Secret
from chatgauge.conformance._budget import Budget
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import CheckResult, SkipKind, Status
from chatgauge.conformance._runner import run_check
from chatgauge.conformance._sending import Dispatcher, SendPolicy
from chatgauge.conformance.checks import a_acceptance, f_errors
from chatgauge.server import FRAMINGS
from tests.conformance_harness import (
    API_KEY,
    Proof,
    assert_fails_on_its_fault,
    assert_passes_faithfully,
    endpoint,
    run_single,
)

SMALL: dict[str, Any] = {"examples": 5, "derandomize": True}
KEYED: dict[str, Any] = {"api_key": Secret(API_KEY)}
AUTH_REQUIRED: dict[str, Any] = {"auth_required": True}

PROOFS: dict[str, Proof] = {
    "A1-boundary-values-accepted": Proof("reject-temperature-zero"),
    "A1-request-shapes-accepted": Proof("reject-content-parts"),
    "A1-random-valid-requests-accepted": Proof("reject-content-parts", settings=SMALL),
    "A2-out-of-range-rejected": Proof("accept-invalid-temperature"),
    "A2-malformed-request-rejected": Proof("server-error-on-invalid"),
    "A2-malformed-body-rejected": Proof("server-error-on-invalid"),
    "A2-random-invalid-requests-rejected": Proof("server-error-on-invalid", settings=SMALL),
    "A3-unknown-model-rejected": Proof("unknown-model-ok"),
    "A4-missing-key-rejected": Proof("no-auth-check", server=KEYED, settings=AUTH_REQUIRED),
    "A4-wrong-key-rejected": Proof("no-auth-check", server=KEYED, settings=AUTH_REQUIRED),
    "A5-unknown-field-handled": Proof("unknown-field-server-error"),
    "F1-error-envelope": Proof("flat-error"),
    "F1-error-fields": Proof("error-missing-param-key"),
    "F2-validation-status": Proof("server-error-on-invalid"),
    "F2-retry-after": Proof("no-retry-after", server={"rate_limit_rps": 1.0}),
    "F3-no-error-as-200": Proof("error-as-200"),
}

# Other deviations the same checks must catch.
MORE_FAULTS: list[tuple[str, str]] = [
    ("A2-out-of-range-rejected", "server-error-on-invalid"),
    ("A2-malformed-request-rejected", "error-as-200"),
    ("A2-malformed-body-rejected", "error-as-200"),
    ("A2-random-invalid-requests-rejected", "error-as-200"),
]

A_AND_F = [c.id for c in all_checks() if c.group in "AF"]


def test_every_a_and_f_check_has_a_proof() -> None:
    assert sorted(PROOFS) == sorted(A_AND_F)


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_check_fails_on_its_fault(check_id: str) -> None:
    assert_fails_on_its_fault(check_id, PROOFS[check_id])


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_check_passes_on_faithful_endpoint(check_id: str) -> None:
    assert_passes_faithfully(check_id, PROOFS[check_id])


@pytest.mark.parametrize(("check_id", "fault"), MORE_FAULTS)
def test_check_catches_other_variants_of_its_rule(check_id: str, fault: str) -> None:
    result = run_single(check_id, frozenset({fault}), PROOFS[check_id])
    assert result.status is Status.FAILED, result.message


def test_property_failure_is_shrunk_to_a_minimal_request() -> None:
    check_id = "A1-random-valid-requests-accepted"
    proof = PROOFS[check_id]
    result = run_single(check_id, frozenset({proof.fault}), proof)
    assert result.status is Status.FAILED, result.message
    request = result.evidence[0].request
    # The fault rejects content parts; the minimal request keeps only what triggers it.
    assert isinstance(request["messages"][0]["content"], list)
    assert len(request["messages"]) == 1
    optional = set(request) - {"model", "messages", "max_tokens", "max_completion_tokens"}
    assert not optional, f"not shrunk: {sorted(optional)}"


# --- framing variants and other settings -------------------------------------------------


@pytest.fixture
def framing_context(request: pytest.FixtureRequest) -> Iterator[CheckContext]:
    with endpoint(framings=frozenset({request.param})) as (_, client):
        yield CheckContext(
            send_case=client.send, settings=Settings(model="pro", examples=5, derandomize=True)
        )


@pytest.mark.parametrize("framing_context", sorted(FRAMINGS), indirect=True)
def test_no_a_or_f_check_fails_on_unusual_framing(framing_context: CheckContext) -> None:
    verdicts: dict[str, CheckResult] = {}
    for check in all_checks():
        if check.group in "AF":
            verdicts[check.id] = run_check(framing_context, check)
    failed = {cid: r.message for cid, r in verdicts.items() if r.status is Status.FAILED}
    assert not failed
    assert not [r.message for r in verdicts.values() if "internal error" in r.message]


def test_auth_checks_skip_on_an_open_endpoint() -> None:
    for check_id in ("A4-missing-key-rejected", "A4-wrong-key-rejected"):
        result = run_single(check_id, frozenset(), Proof("no-auth-check"))
        assert result.status is Status.SKIPPED
        assert "open" in result.message


def test_retry_after_is_skipped_when_no_429_occurs() -> None:
    result = run_single("F2-retry-after", frozenset(), Proof("no-retry-after"))
    assert result.status is Status.SKIPPED
    assert "no 429" in result.message


def test_properties_stay_within_their_request_cap() -> None:
    examples = 5
    with endpoint(frozenset({"server-error-on-invalid"})) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro", examples=examples))
        (check,) = [c for c in all_checks() if c.id == "A2-random-invalid-requests-rejected"]
        result = run_check(ctx, check)
    assert result.status is Status.FAILED
    assert 0 < ctx.budget.requests_sent <= examples + a_acceptance.SHRINK_ALLOWANCE


def test_property_is_skipped_when_the_budget_is_spent() -> None:
    with endpoint() as (_, client):
        ctx = CheckContext(
            send_case=client.send,
            settings=Settings(model="pro", examples=5, derandomize=True),
            budget=Budget(max_requests=0),
        )
        (check,) = [c for c in all_checks() if c.id == "A1-random-valid-requests-accepted"]
        result = run_check(ctx, check)
    assert result.status is Status.SKIPPED
    assert "budget" in result.message


# --- verdict rules on hand-made exchanges (pure logic) ------------------------------------


def _exchange(
    status: int | None,
    body: Any = None,
    *,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    error_kind: str | None = None,
) -> ChatExchange:
    raw = b"" if body is None else json.dumps(body).encode()
    case = ChatCase(body={"model": "m", "messages": [], "stream": stream}, label="t")
    return ChatExchange(
        case=case,
        url="http://127.0.0.1/v1/chat/completions",
        status=status,
        headers=headers or {"content-type": "application/json"},
        raw=raw,
        t_send_ns=0,
        t_headers_ns=1,
        t_done_ns=2,
        error_kind=error_kind,
        error=None if error_kind is None else "boom",
    )


def _error(code: str | None, status: int = 400, param: str | None = "logprobs") -> ChatExchange:
    envelope = {"message": "no", "type": "invalid_request_error", "param": param, "code": code}
    return _exchange(status, {"error": envelope})


def test_clean_refusal_of_a_valid_request_is_a_note_not_a_failure() -> None:
    verdict = a_acceptance.judge_valid(_error("unsupported_parameter"))
    assert verdict.problem is None
    assert verdict.note is not None
    assert "unsupported_parameter" in verdict.note
    assert "logprobs" in verdict.note


def test_other_refusal_of_a_valid_request_fails() -> None:
    verdict = a_acceptance.judge_valid(_error("invalid_value"))
    assert verdict.problem is not None
    assert "400" in verdict.problem


def test_rate_limit_is_not_judged_either_way() -> None:
    limited = _error("rate_limit_exceeded", status=429)
    assert a_acceptance.judge_valid(limited).problem is None
    assert a_acceptance.judge_invalid(limited).problem is None


def test_200_without_choices_is_not_an_acceptance() -> None:
    assert a_acceptance.judge_valid(_exchange(200, {"id": "x"})).problem is not None
    assert a_acceptance.judge_valid(_exchange(200, {"choices": []})).problem is None


@pytest.mark.parametrize(
    ("status", "error_kind", "ok"),
    [(400, None, True), (422, None, True), (404, None, True), (200, None, False),
     (500, None, False), (503, None, False), (None, "connection", False)],
)  # fmt: skip
def test_invalid_request_verdicts(status: int | None, error_kind: str | None, ok: bool) -> None:
    verdict = a_acceptance.judge_invalid(_exchange(status, {}, error_kind=error_kind))
    assert (verdict.problem is None) is ok


@pytest.mark.parametrize(
    ("error", "problems"),
    [
        ({"message": "m", "type": "t", "param": None, "code": None}, []),
        ({"message": "m", "type": "t", "param": "n", "code": "invalid_value"}, []),
        ({"message": "m", "type": "t", "code": None}, ["lacks 'param'"]),
        ({"message": "m", "type": "t", "param": None, "code": 400}, ["error.code is 400"]),
        ({"message": {"detail": "m"}, "type": "t", "param": None, "code": None}, ["error.message"]),
        ({"message": "m", "type": None, "param": None, "code": None}, ["error.type"]),
        # Every problem of one object is listed, missing keys first.
        (
            {"message": {"detail": "m"}, "code": 7},
            ["lacks 'type', 'param'", "error.message is", "error.code is 7"],
        ),
    ],
)
def test_error_fields(error: dict[str, Any], problems: list[str]) -> None:
    found = f_errors.fields_problems(error)
    assert len(found) == len(problems), found
    for text, expected in zip(found, problems, strict=True):
        assert expected in text


@pytest.mark.parametrize(
    ("body", "ok"),
    [({"error": {"message": "m"}}, True), ({"message": "m", "code": 1}, False),
     ({"error": "bad model"}, False), (["error"], False), (None, False)],
)  # fmt: skip
def test_error_envelope(body: Any, ok: bool) -> None:
    assert (f_errors.envelope_problem(body) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1", True), ("120", True), ("Wed, 21 Oct 2015 07:28:00 GMT", True), (None, False),
     ("", False), ("soon", False), ("1.5", False)],
)  # fmt: skip
def test_retry_after_values(value: str | None, ok: bool) -> None:
    assert (f_errors.retry_after_problem(value) is None) is ok


def test_a_check_whose_every_answer_was_a_429_judged_nothing() -> None:
    """Every request rate limited: nothing was judged, so nothing passed."""
    ids = {
        "A1-boundary-values-accepted",
        "A1-random-valid-requests-accepted",
        "A2-out-of-range-rejected",
        "A2-random-invalid-requests-rejected",
    }
    checks = [c for c in all_checks() if c.id in ids]
    # One request per 1,000 s: the first request below takes the only token.
    with endpoint(rate_limit_rps=0.001) as (_, client):
        first = client.send(
            ChatCase(body={"model": "pro", "messages": [{"role": "user", "content": "Hi"}]})
        )
        # No retries: each 429 is the answer (a retry would wait out its Retry-After).
        ctx = CheckContext(
            send_case=client.send,
            settings=Settings(model="pro", **SMALL),
            dispatcher=Dispatcher(SendPolicy(max_retries=0)),
        )
        results = [run_check(ctx, check) for check in checks]
    assert first.status == 200
    for result in results:
        assert result.status is Status.SKIPPED, (result.id, result.message)
        assert result.skip_kind is SkipKind.RUN
        assert "could be judged" in result.message
        assert "rate limited (429)" in result.message
