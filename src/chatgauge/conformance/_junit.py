"""``conformance.junit.xml``: a conformance run as JUnit XML for CI systems.

One ``testcase`` per check (classname ``chatgauge.conformance.<group>``, name the check id).
A failed check has a ``failure`` element (its message, and the evidence as text); a skipped
or unsupported one a ``skipped`` element whose message starts with the status; a warning
passes and carries its message and evidence in ``system-out``. The run's endpoint, model and
budget are suite properties; each check's tier, severity and status are testcase properties.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from chatgauge.conformance._formatting import evidence_summary

# Characters XML 1.0 cannot carry at all, not even escaped; endpoint text may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """``value`` as text that XML 1.0 can hold: forbidden characters shown as escapes."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def junit_xml(document: Mapping[str, Any]) -> bytes:
    """The JUnit XML bytes (UTF-8, with declaration) of a ``conformance.json`` document."""
    checks = list(document.get("checks") or [])
    counts = {
        status: sum(1 for c in checks if c["status"] == status)
        for status in ("failed", "skipped", "unsupported")
    }
    attributes = {
        "name": "chatgauge.conformance",
        "tests": str(len(checks)),
        "failures": str(counts["failed"]),
        "errors": "0",
        "skipped": str(counts["skipped"] + counts["unsupported"]),
        "time": f"{float(document.get('duration_s') or 0):.3f}",
    }
    root = ET.Element("testsuites", attributes)
    suite = ET.SubElement(root, "testsuite", attributes)
    if document.get("started_at"):
        suite.set("timestamp", xml_text(document["started_at"]))
    _properties(
        suite,
        {
            "endpoint": document.get("endpoint"),
            "model": document.get("model"),
            "chatgauge_version": document.get("chatgauge_version"),
            "requests_sent": document.get("requests_sent"),
            "tokens_used": document.get("tokens_used"),
        },
    )
    for check in checks:
        _testcase(suite, check)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _testcase(suite: ET.Element, check: Mapping[str, Any]) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": f"chatgauge.conformance.{xml_text(check['group'])}",
            "name": xml_text(check["id"]),
        },
    )
    _properties(
        case,
        {
            "title": check.get("title"),
            "tier": check.get("tier"),
            "severity": check.get("severity"),
            "status": check["status"],
            "spec_ref": check.get("spec_ref"),
        },
    )
    status, message = check["status"], xml_text(check.get("message", ""))
    evidence = "\n".join(evidence_summary(e) for e in check.get("evidence") or ())
    if status == "failed":
        failure = ET.SubElement(case, "failure", {"message": message, "type": "conformance"})
        failure.text = xml_text(f"{check.get('message', '')}\n{evidence}".rstrip())
    elif status in ("skipped", "unsupported"):
        ET.SubElement(case, "skipped", {"message": f"{status}: {message}"})
    elif status == "warning":
        out = ET.SubElement(case, "system-out")
        out.text = xml_text(f"warning: {check.get('message', '')}\n{evidence}".rstrip())


def _properties(parent: ET.Element, values: Mapping[str, object]) -> None:
    present = {k: v for k, v in values.items() if v not in (None, "")}
    if not present:
        return
    properties = ET.SubElement(parent, "properties")
    for name, value in present.items():
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})


__all__ = ["junit_xml", "xml_text"]
