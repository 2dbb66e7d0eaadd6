"""How a check ends: the exceptions that carry a verdict other than ``passed``.

The verdict values themselves (:class:`Status`, :class:`CheckResult`, :class:`Evidence`, ...)
live in :mod:`chatgauge.results.conformance` and are re-exported here for the checks.

Statuses follow the conformance rules (``docs/conformance-rules.md``): ``passed``;
``failed`` (a real deviation); ``warning`` (an interop hazard of tier I, or a soft rule);
``skipped`` (the check's precondition was not met, e.g. its probe was not answered);
``unsupported`` (the endpoint refused an optional feature cleanly with one of OpenAI's own
error codes).
"""

from __future__ import annotations

from chatgauge.results.conformance import (
    CheckResult,
    Evidence,
    Severity,
    SkipKind,
    Status,
    Tier,
)


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
    """The check could not be judged; ``kind`` says why (see :class:`SkipKind`)."""

    status = Status.SKIPPED

    def __init__(
        self, message: str, *evidence: Evidence, kind: SkipKind = SkipKind.ENDPOINT
    ) -> None:
        super().__init__(message, *evidence)
        self.kind = kind


class CheckUnsupported(CheckOutcome):
    """The endpoint refused the optional feature cleanly with an OpenAI error code."""

    status = Status.UNSUPPORTED


__all__ = [
    "CheckFailed",
    "CheckOutcome",
    "CheckResult",
    "CheckSkipped",
    "CheckUnsupported",
    "CheckWarning",
    "Evidence",
    "Severity",
    "SkipKind",
    "Status",
    "Tier",
]
