"""Proofs of the capability checks (H) and of every feature x state classification.

Each classification is proven on the real reference endpoint: the endpoint plays one state
for one feature (``ServerConfig.features``, as ``chatgauge serve --feature NAME=STATE``),
and the classifier must name exactly that state; a wrong classifier fails here. The H
checks then apply the contract: with the feature required, every state other than
supported fails; with it optional, unsupported is neutral, ignored a warning, broken a
failure.
"""

from __future__ import annotations

from typing import Any

import pytest

from chatgauge._secret import Secret
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._contract import make_contract
from chatgauge.conformance._features import FEATURES
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import Status
from chatgauge.conformance._runner import run_check
from chatgauge.conformance.checks.h_capabilities import FEATURE_CHECKS
from chatgauge.results.conformance import FeatureState, SkipKind
from chatgauge.server._features import FEATURE_STATES
from tests.conformance_harness import (
    API_KEY,
    Proof,
    assert_fails_on_its_fault,
    assert_passes_faithfully,
    endpoint,
)

_AUTH: dict[str, Any] = {"api_key": Secret(API_KEY)}

# The fault-like state each H check is proven with (a required feature, so it fails).
_PROVEN_WITH = {
    "tools": "ignored",
    "logprobs": "ignored",
    "json_schema": "ignored",
    "json_object": "broken",
    "n": "ignored",
    "stop": "broken",
    "stream_usage": "ignored",
    "seed": "unsupported",
    "max_completion_tokens": "ignored",
    "developer_role": "unsupported",
    "content_parts": "unsupported",
    "auth": "ignored",
    "models_endpoint": "broken",
}

PROOFS: dict[str, Proof] = {
    FEATURE_CHECKS[feature]: Proof(
        f"feature:{feature}={state}",
        server=_AUTH if feature == "auth" else {},
        settings={"auth_required": True} if feature == "auth" else {},
    )
    for feature, state in _PROVEN_WITH.items()
}

CASES = [(f, s) for f, states in FEATURE_STATES.items() for s in sorted(states)]


def test_the_server_and_the_checks_name_the_same_features() -> None:
    assert list(FEATURE_STATES) == list(FEATURES)
    assert set(FEATURE_CHECKS) == set(FEATURES)


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_capability_check_fails_on_its_state(check_id: str) -> None:
    assert_fails_on_its_fault(check_id, PROOFS[check_id])


@pytest.mark.parametrize("check_id", sorted(PROOFS))
def test_capability_check_passes_faithfully(check_id: str) -> None:
    assert_passes_faithfully(check_id, PROOFS[check_id])


def _classify_and_judge(
    feature: str, state: str, *, optional: bool
) -> tuple[FeatureState, Status, str]:
    auth = feature == "auth"
    contract = make_contract("openai", optional=[feature] if optional else [])
    (check,) = [c for c in all_checks() if c.id == FEATURE_CHECKS[feature]]
    with endpoint(features={feature: state}, **(_AUTH if auth else {})) as (_, client):
        ctx = CheckContext(
            send_case=client.send,
            settings=Settings(model="pro", auth_required=auth),
            contract=contract,
            get=client.get,
        )
        found = ctx.classified(feature)
        result = run_check(ctx, check)
    return found.status, result.status, found.evidence


@pytest.mark.parametrize(("feature", "state"), CASES)
def test_each_state_of_each_feature_is_classified_as_played(feature: str, state: str) -> None:
    classified, verdict, evidence = _classify_and_judge(feature, state, optional=False)
    assert classified.value == state, evidence
    assert evidence
    assert verdict is (Status.PASSED if state == "supported" else Status.FAILED)


_OPTIONAL_VERDICT = {
    "supported": Status.PASSED,
    "unsupported": Status.UNSUPPORTED,
    "ignored": Status.WARNING,
    "broken": Status.FAILED,
}


@pytest.mark.parametrize(("feature", "state"), CASES)
def test_an_optional_feature_is_judged_by_the_optional_rules(feature: str, state: str) -> None:
    classified, verdict, evidence = _classify_and_judge(feature, state, optional=True)
    assert classified.value == state, evidence
    assert verdict is _OPTIONAL_VERDICT[state]


def test_auth_without_a_key_is_not_probed_and_not_held_against_the_run() -> None:
    (check,) = [c for c in all_checks() if c.id == FEATURE_CHECKS["auth"]]
    with endpoint() as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        result = run_check(ctx, check)
        assert ctx.classified("auth").status is FeatureState.NOT_PROBED
    assert result.status is Status.SKIPPED
    assert result.skip_kind is SkipKind.NOT_APPLICABLE


def test_a_budget_that_runs_out_leaves_the_feature_not_probed_by_the_run() -> None:
    (check,) = [c for c in all_checks() if c.id == FEATURE_CHECKS["tools"]]
    with endpoint() as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        ctx.budget.max_requests = 0
        result = run_check(ctx, check)
    assert result.status is Status.SKIPPED
    assert result.skip_kind is SkipKind.RUN
