"""Verdict values: what a check concluded, with the evidence behind a failure.

Statuses follow the conformance rules: ``passed``; ``failed`` (a real deviation);
``warning`` (an interop hazard of tier I, or a soft rule); ``skipped`` (the check's
precondition was not met, e.g. its probe was not answered); ``unsupported`` (the endpoint
refused an optional feature cleanly with one of OpenAI's own error codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """The verdict of one check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"
    UNSUPPORTED = "unsupported"


class Tier(str, Enum):
    """Where a rule comes from: S spec-literal, C de-facto, I interop hazard (warn only)."""

    SPEC = "S"
    DEFACTO = "C"
    INTEROP = "I"


class Severity(str, Enum):
    """How much a failure of the check matters to a client."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


@dataclass(frozen=True)
class Evidence:
    """What was sent and an excerpt of what came back, for a report reader to judge.

    ``request`` is the JSON request body (or the raw body as text); ``response_excerpt``
    the start of the body as text; ``raw_sse`` the start of the raw stream bytes with
    CR and LF made visible; ``detail`` free-form facts (e.g. the offending chunk).
    """

    label: str = ""
    request: Any = None
    status: int | None = None
    response_excerpt: str = ""
    raw_sse: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "label": self.label,
            "request": self.request,
            "status": self.status,
            "response_excerpt": self.response_excerpt,
            "raw_sse": self.raw_sse,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check against one endpoint."""

    id: str
    title: str
    group: str
    tier: Tier
    severity: Severity
    status: Status
    message: str
    rule: str
    spec_ref: str
    evidence: tuple[Evidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape of an entry of ``conformance.json``'s ``checks``)."""
        return {
            "id": self.id,
            "title": self.title,
            "group": self.group,
            "tier": self.tier.value,
            "severity": self.severity.value,
            "status": self.status.value,
            "message": self.message,
            "rule": self.rule,
            "spec_ref": self.spec_ref,
            "evidence": [e.to_json() for e in self.evidence],
        }


class CheckOutcome(Exception):
    """Base of the exceptions a check raises to end with a verdict other than ``passed``."""

    status: Status = Status.FAILED

    def __init__(self, message: str, *evidence: Evidence) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence


class CheckFailed(CheckOutcome, AssertionError):
    """The endpoint deviates from the rule. An ``AssertionError`` so pytest reports it so."""

    status = Status.FAILED


class CheckWarning(CheckOutcome):
    """A legal but hazardous behaviour (tier I), or a soft rule not met."""

    status = Status.WARNING


class CheckSkipped(CheckOutcome):
    """The check could not be judged: its precondition was not met."""

    status = Status.SKIPPED


class CheckUnsupported(CheckOutcome):
    """The endpoint refused the optional feature cleanly with an OpenAI error code."""

    status = Status.UNSUPPORTED
