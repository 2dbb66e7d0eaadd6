"""Proofs of the response (B), usage (C) and feature (G) checks.

Each check fails (or warns, for the soft C3 rules) on the reference endpoint with its fault
and passes on the faithful one; none of them fails on any valid-but-unusual framing.
"""

from __future__ import annotations

import pytest

from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import Status
from chatgauge.conformance._runner import run_check
from chatgauge.conformance.checks.b_response import _arguments_problem
from chatgauge.conformance.checks.g_logprobs import _concatenates
from chatgauge.server import FRAMINGS
from tests.conformance_harness import (
    Proof,
    assert_fails_on_its_fault,
    assert_passes_faithfully,
    endpoint,
    run_single,
)

WARN = Status.WARNING

PROOFS: dict[str, Proof] = {
    "B1-schema": Proof("missing-created"),
    "B2-object": Proof("wrong-object"),
    "B2-metadata": Proof("missing-created"),
    "B2-choice-count": Proof("choices-ignore-n"),
    "B2-choice-index": Proof("bad-choice-index"),
    "B2-message": Proof("wrong-message-role"),
    "B3-finish-reason": Proof("finish-reason-eos"),
    "B4-length-finish": Proof("no-length-finish"),
    "B4-tool-calls": Proof("tool-calls-as-content"),
    "B4-tool-arguments": Proof("arguments-as-object"),
    "C1-usage-arithmetic": Proof("usage-total-wrong"),
    "C2-prompt-positive": Proof("usage-prompt-zero"),
    "C2-details-within-totals": Proof("usage-details-exceed"),
    "C3-stream-usage-agrees": Proof("stream-usage-differs", expect_faulty=WARN),
    "C3-prompt-grows": Proof("prompt-tokens-constant", expect_faulty=WARN),
    "C4-usage-counts-every-choice": Proof("usage-counts-one-choice"),
    "G1-json-mode": Proof("json-mode-fenced"),
    "G2-json-schema": Proof("json-schema-violated"),
    "G3-logprob-tokens": Proof("logprob-tokens-mismatch"),
    "G3-logprob-values": Proof("logprob-positive"),
    "G3-top-logprobs-count": Proof("top-logprobs-too-many"),
    "G3-top-logprobs-exact": Proof("top-logprobs-too-few"),
    "G4-n-stream": Proof("choices-ignore-n"),
    "G5-stop-excluded": Proof("stop-leak"),
    "G5-stop-finish": Proof("stop-finish-length"),
    "G6-max-tokens": Proof("max-tokens-ignored"),
    "G6-max-completion-tokens": Proof("max-completion-tokens-ignored"),
}

# Rules with several distinct deviations: each one must be caught by the same check.
MORE_FAULTS: list[tuple[str, str, Status]] = [
    ("B1-schema", "wrong-object", Status.FAILED),
    ("B1-schema", "arguments-as-object", Status.FAILED),
    # Found against llama-cpp-python: text cut at max_tokens is no excuse under "required".
    ("B4-tool-calls", "tools-ignored", Status.FAILED),
    ("G1-json-mode", "json-mode-ignored", Status.FAILED),
    ("G6-max-completion-tokens", "max-tokens-ignored", Status.FAILED),
    ("C3-prompt-grows", "usage-prompt-zero", WARN),
    # top_logprobs 0 and logprobs alone, answered as seen on real servers.
    ("G3-logprob-tokens", "logprobs-need-top-logprobs", Status.FAILED),
    ("G3-top-logprobs-count", "top-logprobs-zero-gives-one", Status.FAILED),
    ("G3-top-logprobs-exact", "logprobs-default-alternatives", Status.FAILED),
    # A limit of 3 ignored until the context is full: judged without waiting for the end.
    ("G6-max-tokens", "runaway-generation", Status.FAILED),
    ("G6-max-completion-tokens", "runaway-generation", Status.FAILED),
]

# A fault of one rule must not fail the checks of a neighbouring rule.
NOT_BLAMED: list[tuple[str, str]] = [
    ("B4-length-finish", "max-tokens-ignored"),  # honouring the limit is G6's matter
    ("G6-max-tokens", "stream-usage-differs"),  # a miscounted stream usage is C3's matter
    ("G5-stop-finish", "finish-reason-eos"),  # undocumented reasons are B3's matter
    ("G5-stop-finish", "no-finish-reason"),  # a stream without finish is E4's matter
    ("B3-finish-reason", "empty-string-finish-reason"),  # the streamed '' is E4's matter
    ("C4-usage-counts-every-choice", "usage-chunk-per-choice"),  # how many chunks: E6
    ("G3-top-logprobs-exact", "top-logprobs-zero-gives-one"),  # more than asked: count
    ("G3-top-logprobs-count", "logprobs-default-alternatives"),  # nothing asked: exact
    ("G3-top-logprobs-count", "top-logprobs-too-few"),  # fewer is allowed by the spec
    ("G3-logprob-values", "logprobs-need-top-logprobs"),  # no logprobs: G3-logprob-tokens
]


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_check_fails_on_its_fault(check_id: str) -> None:
    assert_fails_on_its_fault(check_id, PROOFS[check_id])


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_check_passes_on_faithful_endpoint(check_id: str) -> None:
    assert_passes_faithfully(check_id, PROOFS[check_id])


@pytest.mark.parametrize(("check_id", "fault", "expected"), MORE_FAULTS)
def test_check_catches_every_variant_of_its_rule(
    check_id: str, fault: str, expected: Status
) -> None:
    result = run_single(check_id, frozenset({fault}), PROOFS[check_id])
    assert result.status is expected, result.message
    assert result.evidence


@pytest.mark.parametrize(("check_id", "fault"), NOT_BLAMED)
def test_neighbouring_fault_does_not_fail_the_check(check_id: str, fault: str) -> None:
    result = run_single(check_id, frozenset({fault}), PROOFS[check_id])
    assert result.status is not Status.FAILED, result.message


@pytest.mark.parametrize(("strict", "expected"), [(True, Status.FAILED), (False, Status.PASSED)])
def test_schema_tier_decides_about_absent_refusal_and_logprobs(
    strict: bool, expected: Status
) -> None:
    proof = Proof("omit-refusal-and-logprobs", settings={"strict": strict})
    result = run_single("B1-schema", frozenset({proof.fault}), proof)
    assert result.status is expected, result.message
    if expected is Status.FAILED:
        assert "refusal" in result.message


def test_strict_tier_passes_on_faithful_endpoint() -> None:
    proof = Proof("omit-refusal-and-logprobs", settings={"strict": True})
    assert run_single("B1-schema", frozenset(), proof).status is Status.PASSED


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_no_check_fails_on_unusual_framing(framing: str) -> None:
    checks = [c for c in all_checks() if c.group in "BCG"]
    with endpoint(frozenset(), framings=frozenset({framing})) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        results = [run_check(ctx, c) for c in checks]
    flagged = [
        f"{r.id}: {r.status.value}: {r.message}"
        for r in results
        if r.status in (Status.FAILED, Status.WARNING)
    ]
    assert not flagged, flagged


def test_logprob_bytes_join_characters_split_over_tokens() -> None:
    # "é" as two tokens of one byte each: their text is partial, their bytes are whole.
    entries = [
        {"token": "caf", "bytes": list(b"caf")},
        {"token": "\ufffd", "bytes": [0xC3]},
        {"token": "\ufffd", "bytes": [0xA9]},
    ]
    assert _concatenates(entries, "café")
    assert not _concatenates(entries, "cafe")
    assert not _concatenates([{"token": "caf", "bytes": None}], "café")


@pytest.mark.parametrize(
    ("arguments", "verdict"),
    [
        ('{"city": "Paris"}', None),
        ({"city": "Paris"}, "not a string"),
        ('{"city": ', "not valid JSON"),
        ('["Paris"]', "not an object"),
    ],
)
def test_tool_arguments_must_be_json_text_of_an_object(
    arguments: object, verdict: str | None
) -> None:
    problem = _arguments_problem(arguments)
    if verdict is None:
        assert problem is None
    else:
        assert problem is not None
        assert verdict in problem
