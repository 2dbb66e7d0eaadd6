"""Checks of group H: one per feature, the contract's verdict on what the endpoint does with it.

Each check reads the feature's classification (``_capabilities.py``: supported,
unsupported, ignored, broken, not_probed) and applies the contract (``_contract.py``):

- supported passes;
- a required feature that is unsupported, ignored or broken fails, with the evidence;
- an optional feature: unsupported gives the verdict ``unsupported`` (neutral), ignored a
  warning (a client cannot tell that its request was not honoured), broken a failure (the
  endpoint takes the request and does it wrong);
- not_probed is a skip: of kind ``run`` when the run could not get an answer (budget, rate
  limit, an answer cut short), ``not_applicable`` when the configuration rules the probe out
  (no API key given, no stop word in the plain answer).
"""

from __future__ import annotations

from typing import Final

from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._features import FEATURES
from chatgauge.conformance._registry import CheckFunction, check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckSkipped,
    CheckUnsupported,
    CheckWarning,
    Evidence,
    SkipKind,
    Tier,
)
from chatgauge.results.conformance import FeatureState

SPEC_REF: Final = "openapi.yaml#/components/schemas/CreateChatCompletionRequest"
_DOES: Final = {
    FeatureState.UNSUPPORTED: "refuses it",
    FeatureState.IGNORED: "accepts it but ignores it",
    FeatureState.BROKEN: "does it wrong",
}


def check_id(feature: str, number: int) -> str:
    """The id of a feature's check, e.g. ``H3-json-schema``."""
    return f"H{number}-{feature.replace('_', '-')}"


FEATURE_CHECKS: Final = {feature: check_id(feature, i) for i, feature in enumerate(FEATURES, 1)}
"""The H check of every feature."""


def _evidence(ctx: CheckContext, feature: str) -> tuple[Evidence, ...]:
    found = ctx.classified(feature)
    exchange = ctx.cached(found.probe) if found.probe else None
    detail = {"feature": feature, "capability": found.status.value, "seen": found.evidence}
    if exchange is None:
        return (Evidence(label=found.probe or feature, request=None, detail=detail),)
    return (ctx.evidence(exchange, **detail),)


def judge_feature(ctx: CheckContext, feature: str) -> str:
    """The contract's verdict on ``feature`` (module docstring); returns the passing note."""
    found = ctx.classified(feature)
    state = found.status
    if state is FeatureState.SUPPORTED:
        return f"{feature} is supported: {found.evidence}"
    if state is FeatureState.NOT_PROBED:
        kind = SkipKind.RUN if found.run_caused else SkipKind.NOT_APPLICABLE
        raise CheckSkipped(f"{feature} was not probed: {found.evidence}", kind=kind)
    evidence = _evidence(ctx, feature)
    profile = ctx.contract.profile
    if feature not in ctx.contract.optional:
        raise CheckFailed(
            f"{feature} is required by the contract (profile {profile}) but the endpoint "
            f"{_DOES[state]} ({state.value}): {found.evidence}. If the endpoint does not "
            f"promise {feature}, declare it optional: --optional {feature}",
            *evidence,
        )
    if state is FeatureState.UNSUPPORTED:
        raise CheckUnsupported(
            f"{feature} is optional and the endpoint refuses it cleanly: {found.evidence}",
            *evidence,
        )
    if state is FeatureState.IGNORED:
        raise CheckWarning(
            f"{feature} is optional, but the endpoint accepts it and ignores it: a client "
            f"cannot tell its request was not honoured ({found.evidence})",
            *evidence,
        )
    raise CheckFailed(
        f"{feature} is optional, but the endpoint accepts it and does it wrong (broken): "
        f"{found.evidence}",
        *evidence,
    )


def _feature_check(feature: str) -> CheckFunction:
    def judge(ctx: CheckContext) -> str | None:
        return judge_feature(ctx, feature)

    judge.__name__ = f"h_{feature}"
    judge.__doc__ = (
        f"What the endpoint does with {FEATURES[feature]}: supported passes; when the "
        "contract requires it, unsupported, ignored or broken fails; when it is optional, "
        "unsupported is neutral, ignored a warning and broken a failure."
    )
    return judge


for _feature, _id in FEATURE_CHECKS.items():
    check(_id, f"Capability: {_feature}", tier=Tier.DEFACTO, spec_ref=SPEC_REF)(
        _feature_check(_feature)
    )

__all__ = ["FEATURE_CHECKS", "check_id", "judge_feature"]
