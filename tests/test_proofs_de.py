"""Proofs of the framing (D) and chunk (E) checks: each fails on its fault, passes faithfully."""

from __future__ import annotations

import pytest

from chatgauge.conformance._results import Status
from tests.conformance_harness import (
    Proof,
    assert_fails_on_its_fault,
    assert_passes_faithfully,
    run_single,
)

WARN = Status.WARNING

PROOFS: dict[str, Proof] = {
    "D1-content-type": Proof("wrong-content-type"),
    "D1-content-type-params": Proof("framing:charset", expect_faulty=WARN),
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
