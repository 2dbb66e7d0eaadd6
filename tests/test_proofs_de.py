"""Proofs of the framing (D) and chunk (E) checks: each fails on its fault, passes faithfully."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import Status
from chatgauge.conformance._runner import run_check
from chatgauge.conformance.checks import d_framing
from tests.conformance_harness import (
    Proof,
    assert_fails_on_its_fault,
    assert_passes_faithfully,
    endpoint,
    run_single,
)

WARN = Status.WARNING

PROOFS: dict[str, Proof] = {
    "D1-content-type": Proof("wrong-content-type"),
    "D1-content-type-params": Proof("event-stream-latin1", expect_faulty=WARN),
    "D2-json-payloads": Proof("non-json-data"),
    "D2-valid-utf8": Proof("invalid-utf8"),
    "D3-done-last": Proof("no-done"),
    "D4-data-space": Proof("framing:no-space", expect_faulty=WARN),
    "D4-multiline-data": Proof("framing:multiline-data", expect_faulty=WARN),
    "D4-other-fields": Proof("framing:id-retry", expect_faulty=WARN),
    "D4-comment-after-id": Proof("framing:id-retry+comments", expect_faulty=WARN),
    "D4-bom": Proof("framing:bom", expect_faulty=WARN),
    "E1-chunk-schema": Proof("chunk-wrong-object"),
    "E1-chunk-object": Proof("chunk-wrong-object"),
    "E2-stable-identity": Proof("chunk-id-changes"),
    "E2-nonempty-id": Proof("empty-chunk-id"),
    "E3-role-first": Proof("no-role-first-delta"),
    "E3-role-once": Proof("role-every-delta", expect_faulty=WARN),
    "E4-one-finish-reason": Proof("finish-reason-twice"),
    "E4-nothing-after-finish": Proof("content-after-finish"),
    "E5-tool-call-deltas": Proof("tool-call-no-index"),
    "E6-usage-chunk": Proof("usage-chunk-has-choices"),
    "E6-no-unrequested-usage": Proof("usage-without-request"),
    "E7-stream-matches-plain": Proof("stream-text-differs", expect_faulty=WARN),
    "E8-openai-replay": Proof("non-json-data", expect_faulty=WARN),
}

# Rules with several distinct deviations: each one must be caught by the same check.
MORE_FAULTS: list[tuple[str, str]] = [
    ("D3-done-last", "data-after-done"),
    ("D3-done-last", "double-done"),
    ("E4-one-finish-reason", "no-finish-reason"),
    ("E4-one-finish-reason", "empty-string-finish-reason"),
    ("E5-tool-call-deltas", "tool-args-invalid-json"),
    ("E5-tool-call-deltas", "tools-ignored"),
    ("E6-usage-chunk", "missing-usage-chunk"),
    ("E6-usage-chunk", "usage-every-chunk"),
    # Seen on a real server: one usage chunk per choice, some before other choices finished.
    ("E6-usage-chunk", "usage-chunk-per-choice"),
]


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_check_fails_on_its_fault(check_id: str) -> None:
    assert_fails_on_its_fault(check_id, PROOFS[check_id])


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_check_passes_on_faithful_endpoint(check_id: str) -> None:
    assert_passes_faithfully(check_id, PROOFS[check_id])


@pytest.mark.parametrize(("check_id", "fault"), MORE_FAULTS)
def test_check_catches_every_variant_of_its_rule(check_id: str, fault: str) -> None:
    result = run_single(check_id, frozenset({fault}), PROOFS[check_id])
    assert result.status is Status.FAILED, result.message


# --- a refused probe leaves the others to judge --------------------------------------------


def _refusing_n3(
    client_send: Callable[[ChatCase], ChatExchange],
) -> Callable[[ChatCase], ChatExchange]:
    """Sends every probe, but the n=3 stream as one the endpoint refuses (n=200 is over its
    maximum), as a server without n > 1 would: a real 400 over the wire."""

    def send(case: ChatCase) -> ChatExchange:
        if case.label == "n3-stream":
            case = replace(case, body={**case.body, "n": 200})
        return client_send(case)

    return send


@pytest.mark.parametrize(
    ("check_id", "fault"),
    [
        ("E3-role-first", "no-role-first-delta"),
        ("E3-role-once", "role-every-delta"),
        ("E4-one-finish-reason", "finish-reason-twice"),
        ("E4-nothing-after-finish", "content-after-finish"),
        ("E6-usage-chunk", "usage-chunk-has-choices"),
    ],
)
def test_a_refused_n3_stream_leaves_the_plain_stream_to_judge(check_id: str, fault: str) -> None:
    (check,) = [c for c in all_checks() if c.id == check_id]
    verdicts = {}
    for faults in (frozenset(), frozenset({fault})):
        with endpoint(faults) as (_, client):
            ctx = CheckContext(send_case=_refusing_n3(client.send), settings=Settings(model="pro"))
            verdicts[fault in faults] = run_check(ctx, check)
            assert ctx.probe("n3-stream").status == 400
    faithful, faulty = verdicts[False], verdicts[True]
    assert faithful.status is Status.PASSED, faithful.message
    assert "not judged (not answered with 200): n3-stream" in faithful.message
    assert faulty.status in (Status.FAILED, Status.WARNING), faulty.message


@pytest.mark.parametrize(
    ("content_type", "warns"),
    [
        ("text/event-stream", False),
        ("text/event-stream; charset=utf-8", False),
        ('text/event-stream;charset="UTF-8"', False),
        ("text/event-stream; charset=utf8", False),
        ("text/event-stream; charset=iso-8859-1", True),
        ("text/event-stream; charset=windows-1252; foo=bar", True),
    ],
)
def test_only_a_charset_other_than_utf8_is_a_hazard(content_type: str, warns: bool) -> None:
    params = dict(d_framing.content_type_parameters(content_type))
    charset = params.get("charset")
    assert (charset is not None and charset.lower() not in d_framing.UTF8_LABELS) is warns


def test_a_charset_other_than_utf8_garbles_text_read_through_httpx() -> None:
    """The hazard D1-content-type-params warns about, shown with a widely used client."""
    body = "data: café\n\n".encode()
    for content_type, expected in [
        ("text/event-stream; charset=utf-8", "data: café"),
        ("text/event-stream; charset=iso-8859-1", "data: cafÃ©"),
    ]:
        response = httpx.Response(200, headers={"content-type": content_type}, content=body)
        assert next(response.iter_lines()) == expected


def test_the_bare_content_type_passes_too() -> None:
    result = run_single(
        "D1-content-type-params",
        frozenset({"framing:bare-content-type"}),
        PROOFS["D1-content-type-params"],
    )
    assert result.status is Status.PASSED, result.message
    assert "'text/event-stream'" in result.message
