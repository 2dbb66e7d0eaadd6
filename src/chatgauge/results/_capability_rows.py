"""A run's capability table: per feature, what the endpoint did and what the contract made of it.

The same rows serve the HTML page, the terminal summary, JUnit properties, the matrix and
comparisons. A feature's verdict is the result of its H check: the check of feature
``json_schema`` has the id ``H<n>-json-schema`` (the feature with dashes); a run that did
not run it has no verdict for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from chatgauge.results._text import clip
from chatgauge.results.conformance import ConformanceRun, FeatureState, Status

_H_ID: Final = re.compile(r"^H[0-9]+-(?P<feature>[a-z0-9-]+)$")
EVIDENCE_CHARS: Final = 120


@dataclass(frozen=True)
class CapabilityRow:
    """One feature of a run: its state, whether the contract requires it, the verdict of
    its check (``None``: not run) and the check's id, and the evidence in one line."""

    feature: str
    status: FeatureState
    required: bool
    verdict: Status | None
    check_id: str
    evidence: str

    @property
    def contract(self) -> str:
        """``required`` or ``optional``."""
        return "required" if self.required else "optional"


def feature_of_check(check_id: str) -> str | None:
    """The feature an H check judges (``H3-json-schema`` -> ``json_schema``), else ``None``."""
    match = _H_ID.match(check_id)
    return match.group("feature").replace("-", "_") if match else None


def capability_rows(run: ConformanceRun) -> list[CapabilityRow]:
    """The run's capability table, in the order the run lists its features."""
    verdicts = {}
    for check in run.checks:
        feature = feature_of_check(check.id)
        if feature is not None:
            verdicts[feature] = (check.status, check.id)
    rows = []
    for feature, capability in run.capabilities.items():
        verdict, check_id = verdicts.get(feature, (None, ""))
        rows.append(
            CapabilityRow(
                feature=feature,
                status=capability.status,
                required=capability.required,
                verdict=verdict,
                check_id=check_id,
                evidence=clip(" ".join(capability.evidence.split()), EVIDENCE_CHARS),
            )
        )
    return rows


def capability_lines(run: ConformanceRun) -> list[str]:
    """The capability table as aligned text lines (empty for a run without capabilities)."""
    rows = capability_rows(run)
    if not rows:
        return []
    width = max(len(row.feature) for row in rows)
    contract = run.contract
    lines = [
        f"capabilities (contract: profile {contract.profile}; {len(contract.required)} "
        f"required, {len(contract.optional)} optional):"
    ]
    for row in rows:
        verdict = row.verdict.value if row.verdict is not None else "-"
        lines.append(
            f"  {row.feature:<{width}}  {row.status.value:<11}  {row.contract:<8}  "
            f"{verdict:<11}  {row.evidence}"
        )
    return lines


def capability_changes(before: ConformanceRun, after: ConformanceRun) -> list[tuple[str, str, str]]:
    """The features whose state differs between two runs: ``(feature, before, after)``;
    a feature one run lacks counts as ``not_probed`` there."""
    old = {f: c.status.value for f, c in before.capabilities.items()}
    new = {f: c.status.value for f, c in after.capabilities.items()}
    missing = FeatureState.NOT_PROBED.value
    changes = []
    for feature in [*new, *(f for f in old if f not in new)]:
        was, now = old.get(feature, missing), new.get(feature, missing)
        if was != now:
            changes.append((feature, was, now))
    return changes


__all__ = [
    "CapabilityRow",
    "capability_changes",
    "capability_lines",
    "capability_rows",
    "feature_of_check",
]
