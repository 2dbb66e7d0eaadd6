"""What schemathesis found, read from its NDJSON event report (``st run --report ndjson``).

Every failed check of every test case becomes one :class:`Finding` with what the allow-list
matches on: the check, the HTTP status, the generation mode, schemathesis's message, the
request body and the endpoint's own error message. Engine errors (a request that got no
answer, a schema schemathesis could not use) become :class:`EngineError` values, which no
allow-list entry can excuse.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

_ERROR_EVENTS: Final = ("NonFatalError", "FatalError", "Interrupted")


@dataclass(frozen=True)
class Finding:
    """One failed check on one test case."""

    check: str
    title: str
    message: str
    status: int | None
    phase: str
    mode: str
    case_id: str
    variant: str = ""
    request_body: Any = None
    error_message: str | None = field(default=None, compare=False)
    response_text: str = field(default="", compare=False, repr=False)

    def summary(self) -> str:
        """One line: where, which check, the status, the first line of the message."""
        first = self.message.splitlines()[0] if self.message else ""
        return f"[{self.variant} {self.phase}] {self.check} ({self.status}): {self.title}: {first}"


@dataclass(frozen=True)
class EngineError:
    """A schemathesis error that is not a check failure (always blocking)."""

    kind: str
    text: str


@dataclass
class RunResult:
    """Everything one schemathesis run reported."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[EngineError] = field(default_factory=list)
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def read_report(lines: Iterable[str], variant: str) -> RunResult:
    """Parse the NDJSON lines of one run (``variant`` labels its findings)."""
    result = RunResult()
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        if not isinstance(event, dict) or len(event) != 1:
            continue
        ((name, payload),) = event.items()
        if name in _ERROR_EVENTS:
            result.errors.append(EngineError(name, json.dumps(payload, sort_keys=True)[:2000]))
        elif name == "ScenarioFinished":
            _read_scenario(payload, variant, result)
    return result


def _read_scenario(payload: Mapping[str, Any], variant: str, result: RunResult) -> None:
    recorder = payload.get("recorder") or {}
    cases: Mapping[str, Any] = recorder.get("cases") or {}
    checks: Mapping[str, Any] = recorder.get("checks") or {}
    interactions: Mapping[str, Any] = recorder.get("interactions") or {}
    phase = str(payload.get("phase") or "")
    for case_id, case in cases.items():
        result.cases += 1
        response = (interactions.get(case_id) or {}).get("response") or {}
        status = response.get("status_code")
        if isinstance(status, int):
            result.statuses[status] = result.statuses.get(status, 0) + 1
        value = case.get("value") or {}
        mode = str(((value.get("meta") or {}).get("generation") or {}).get("mode") or "")
        for outcome in checks.get(case_id) or ():
            if outcome.get("status") != "failure":
                continue
            failure = (outcome.get("failure_info") or {}).get("failure") or {}
            result.findings.append(
                Finding(
                    check=str(outcome.get("name")),
                    title=str(failure.get("title") or ""),
                    message=str(failure.get("message") or ""),
                    status=status if isinstance(status, int) else None,
                    phase=phase,
                    mode=mode,
                    case_id=case_id,
                    variant=variant,
                    request_body=value.get("body"),
                    error_message=_error_message(response),
                    response_text=_text(response),
                )
            )


def _body(response: Mapping[str, Any]) -> bytes:
    content = response.get("content")
    if not isinstance(content, dict) or "$base64" not in content:
        return b""
    try:
        return base64.b64decode(content["$base64"])
    except ValueError:
        return b""


def _text(response: Mapping[str, Any]) -> str:
    return _body(response).decode("utf-8", errors="replace")


def _error_message(response: Mapping[str, Any]) -> str | None:
    """The endpoint's error message: ``error.message`` of the envelope, or ``message`` of a
    flat error object (how the body is shaped is not what the allow-list matches on)."""
    try:
        body = json.loads(_body(response))
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    holder = error if isinstance(error, dict) else body
    message = holder.get("message")
    return message if isinstance(message, str) else None


def distinct(findings: Iterable[Finding]) -> Iterator[tuple[Finding, int]]:
    """Findings grouped by variant, check, title and message: one example each, with how
    many test cases showed it."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for finding in findings:
        key = (finding.variant, finding.check, finding.title, finding.message)
        groups.setdefault(key, []).append(finding)
    for group in groups.values():
        yield group[0], len(group)
