"""``conformance.junit.xml``: a conformance run as JUnit XML for CI systems.

One ``testcase`` per check (classname ``chatgauge.conformance.<group>``, name the check id).
A failed check has a ``failure`` element (its message, and the evidence as text); a skipped
or unsupported one a ``skipped`` element whose message starts with the status; a warning
passes and carries its message and evidence in ``system-out``. The run's endpoint, model,
status, coverage (``coverage_judged`` of ``coverage_total``, ``coverage_unjudged`` the skips
that leave the run incomplete) and budget are suite properties; each check's tier,
severity, status and skip kind are testcase properties, and a skip's message names its kind
(``skipped (run): budget exhausted ...``). An interrupted run's planned checks that never
ran are ``skipped`` test cases ("not run: the run was interrupted"), so a CI dashboard
never counts them as passed. The contract's profile is the suite property
``contract_profile``, and each feature's capability ``capability.<feature>`` (its state,
whether the contract requires it, and its check's verdict).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from chatgauge.results._capability_rows import capability_rows
from chatgauge.results._conformance_text import evidence_summary
from chatgauge.results.conformance import CheckResult, ConformanceRun, Status

# Characters XML 1.0 cannot carry at all, not even escaped; endpoint text may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

NOT_RUN = "not run: the run was interrupted before this check"


def xml_text(value: object) -> str:
    """``value`` as text that XML 1.0 can hold: forbidden characters shown as escapes."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def junit_xml(run: ConformanceRun) -> bytes:
    """The JUnit XML bytes (UTF-8, with declaration) of a conformance run."""
    counts = run.counts()
    not_run = run.not_run
    attributes = {
        "name": "chatgauge.conformance",
        "tests": str(len(run.checks) + len(not_run)),
        "failures": str(counts[Status.FAILED]),
        "errors": "0",
        "skipped": str(counts[Status.SKIPPED] + counts[Status.UNSUPPORTED] + len(not_run)),
        "time": f"{run.duration_s:.3f}",
    }
    root = ET.Element("testsuites", attributes)
    suite = ET.SubElement(root, "testsuite", attributes)
    if run.started_at:
        suite.set("timestamp", xml_text(run.started_at))
    _properties(
        suite,
        {
            "endpoint": run.endpoint,
            "model": run.model,
            "status": run.status.value,
            "coverage_judged": run.coverage.judged,
            "coverage_total": run.coverage.total,
            "coverage_unjudged": len(run.coverage.unaccepted),
            "stop_reason": run.stop_reason,
            "chatgauge_version": run.tool.version,
            "requests_sent": run.requests_sent,
            "tokens_used": run.tokens_used,
            "contract_profile": run.contract.profile,
            **{
                f"capability.{row.feature}": f"{row.status.value} ({row.contract}"
                + (f", {row.verdict.value})" if row.verdict else ")")
                for row in capability_rows(run)
            },
        },
    )
    for check in run.checks:
        _testcase(suite, check)
    for check_id in not_run:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"chatgauge.conformance.{xml_text(check_id[:1])}",
                "name": xml_text(check_id),
            },
        )
        ET.SubElement(case, "skipped", {"message": NOT_RUN})
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _testcase(suite: ET.Element, check: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": f"chatgauge.conformance.{xml_text(check.group)}",
            "name": xml_text(check.id),
        },
    )
    _properties(
        case,
        {
            "title": check.title,
            "tier": check.tier.value,
            "severity": check.severity.value,
            "status": check.status.value,
            "skip_kind": check.skip_kind.value if check.skip_kind else None,
            "spec_ref": check.spec_ref,
        },
    )
    message = xml_text(check.message)
    evidence = "\n".join(evidence_summary(e) for e in check.evidence)
    if check.status is Status.FAILED:
        failure = ET.SubElement(case, "failure", {"message": message, "type": "conformance"})
        failure.text = xml_text(f"{check.message}\n{evidence}".rstrip())
    elif check.status is Status.SKIPPED:
        kind = f" ({check.skip_kind.value})" if check.skip_kind else ""
        ET.SubElement(case, "skipped", {"message": f"skipped{kind}: {message}"})
    elif check.status is Status.UNSUPPORTED:
        ET.SubElement(case, "skipped", {"message": f"{check.status.value}: {message}"})
    elif check.status is Status.WARNING:
        out = ET.SubElement(case, "system-out")
        out.text = xml_text(f"warning: {check.message}\n{evidence}".rstrip())


def _properties(parent: ET.Element, values: Mapping[str, object]) -> None:
    present = {k: v for k, v in values.items() if v not in (None, "")}
    if not present:
        return
    properties = ET.SubElement(parent, "properties")
    for name, value in present.items():
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})


__all__ = ["NOT_RUN", "junit_xml", "xml_text"]
