"""The conformance result writers: HTML page, JUnit XML, key masking and atomic files."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from chatgauge._secret import Secret
from chatgauge.conformance._inspect import visible_bytes
from chatgauge.conformance._output import write_reports
from chatgauge.conformance._results import (
    CheckResult,
    Evidence,
    Severity,
    Status,
    Tier,
)
from chatgauge.reports._compare import compare_conformance, render_compare_html, summary_text
from chatgauge.reports._conformance_html import render_conformance_html
from chatgauge.reports._junit import NOT_RUN, junit_xml
from chatgauge.reports._matrix import build_matrix, render_matrix_html
from chatgauge.results.conformance import ConformanceRun, RunSettings, RunStatus, ToolInfo

SCRIPT = "<script>alert('pwned')</script>"
IMG = "<img src=x onerror=alert(1)>"
TEMPLATE = "{{ 7*191 }}{% for x in range(3) %}loop{% endfor %}"


def _result(
    check_id: str, status: Status, *evidence: Evidence, tier: Tier = Tier.SPEC
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"title of {check_id}",
        group=check_id[0],
        tier=tier,
        severity=Severity.MAJOR,
        status=status,
        message=f"message of {check_id}",
        rule=f"The rule of {check_id}.",
        spec_ref="CreateChatCompletionResponse",
        evidence=evidence,
    )


def _document(*results: CheckResult, planned: tuple[str, ...] = ()) -> ConformanceRun:
    run = ConformanceRun(
        endpoint="http://127.0.0.1:9/v1",
        model="pro",
        started_at="2026-01-01T00:00:00+00:00",
        tool=ToolInfo(version="0.test"),
        settings=RunSettings(runner="cli", max_requests=400, max_total_tokens=40000),
        status=RunStatus.PASSED,
    )
    return run.with_results(
        results,
        planned=planned or tuple(r.id for r in results),
        requests_sent=17,
        tokens_used=523,
    )


HOSTILE = Evidence(
    label="plain-stream",
    request={"model": "pro", "messages": [{"role": "user", "content": SCRIPT}]},
    status=200,
    response_excerpt=IMG + TEMPLATE,
    raw_sse=visible_bytes(b'data: {"x": "' + TEMPLATE.encode() + b'"}\r\n\r\ndata: [DONE]\n\n'),
    detail={"chunk": SCRIPT, "note": "bad\x01byte"},
)


def test_html_escapes_endpoint_text_and_never_evaluates_it() -> None:
    html = render_conformance_html(_document(_result("B2-object", Status.FAILED, HOSTILE)))

    assert html.count("<script") == 1  # the page's own filter script only
    assert "alert(" not in html.split("<script>", 1)[1].split("</script>", 1)[1]
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    # Template syntax is shown as written, not evaluated.
    assert "{{ 7*191 }}" in html
    assert "1337" not in html
    assert "looploop" not in html


def test_html_is_self_contained() -> None:
    html = render_conformance_html(_document(_result("B2-object", Status.FAILED, HOSTILE)))

    assert "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(" not in html
    assert "default-src 'none'" in html


def test_html_shows_verdict_counts_budget_and_visible_line_ends() -> None:
    failed = render_conformance_html(
        _document(
            _result("B2-object", Status.FAILED, HOSTILE),
            _result("D4-data-space", Status.WARNING, tier=Tier.INTEROP),
            _result("G1-json-mode", Status.UNSUPPORTED),
            _result("C1-usage-arithmetic", Status.PASSED),
        )
    )
    passed = render_conformance_html(_document(_result("C1-usage-arithmetic", Status.PASSED)))

    assert 'class="verdict failed"' in failed
    assert "1 of 4 checks failed" in failed
    assert 'class="verdict passed"' in passed
    for status, count in (("failed", 1), ("warning", 1), ("unsupported", 1), ("passed", 1)):
        assert f'<b>{count}</b><span class="status {status}">' in failed
    assert "17 requests (cap 400), 523 tokens (cap 40000)" in failed
    assert "\\r\\n\n\\r\\n\ndata: [DONE]\\n" in failed  # CR and LF made visible
    assert "The rule of B2-object." in failed
    for check_id in ("B2-object", "D4-data-space", "G1-json-mode", "C1-usage-arithmetic"):
        assert f'data-group="{check_id[0]}"' in failed
        assert f"<code>{check_id}</code>" in failed


def test_junit_has_one_testcase_per_check_with_the_right_element() -> None:
    document = _document(
        _result("B2-object", Status.FAILED, HOSTILE),
        _result("D4-data-space", Status.WARNING, HOSTILE, tier=Tier.INTEROP),
        _result("G1-json-mode", Status.UNSUPPORTED),
        _result("A4-missing-key-rejected", Status.SKIPPED),
        _result("C1-usage-arithmetic", Status.PASSED),
    )
    # Our own output; it parses although the evidence holds \x01.
    root = ET.fromstring(junit_xml(document))  # noqa: S314
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [c.id for c in document.checks]

    failure = cases["B2-object"].find("failure")
    assert failure is not None
    assert failure.get("message") == "message of B2-object"
    assert SCRIPT in (failure.text or "")
    assert "\\x01" in (failure.text or "")
    warning_out = cases["D4-data-space"].find("system-out")
    assert warning_out is not None
    assert (warning_out.text or "").startswith("warning: message of D4-data-space")
    unsupported = cases["G1-json-mode"].find("skipped")
    assert unsupported is not None
    assert (unsupported.get("message") or "").startswith("unsupported: ")
    skipped = cases["A4-missing-key-rejected"].find("skipped")
    assert skipped is not None
    assert (skipped.get("message") or "").startswith("skipped: ")
    assert [child.tag for child in cases["C1-usage-arithmetic"]] == ["properties"]

    props = {p.get("name"): p.get("value") for p in suite.find("properties") or ()}
    assert props["requests_sent"] == "17"
    assert props["endpoint"] == "http://127.0.0.1:9/v1"


def test_an_interrupted_run_never_looks_green() -> None:
    run = _document(
        _result("B2-object", Status.PASSED),
        planned=("B2-object", "C1-usage-arithmetic", "D3-done-last"),
    )
    assert run.status is RunStatus.INTERRUPTED
    assert run.not_run == ("C1-usage-arithmetic", "D3-done-last")

    html = render_conformance_html(run)
    assert 'class="verdict interrupted"' in html
    assert "stopped after 1 of 3 checks: no verdict" in html
    assert 'class="verdict passed"' not in html
    assert "<code>D3-done-last</code>" in html

    root = ET.fromstring(junit_xml(run))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.find("properties") or ()}
    assert props["status"] == "interrupted"
    assert (suite.get("tests"), suite.get("skipped")) == ("3", "2")
    not_run = [c for c in suite.iter("testcase") if c.get("name") == "D3-done-last"]
    assert [s.get("message") for c in not_run for s in c.iter("skipped")] == [NOT_RUN]


def test_reports_mask_the_key_wherever_an_endpoint_echoed_it(tmp_path: Path) -> None:
    key = Secret("sk-live-abc123-" + "x" * 20)
    echoed = Evidence(
        label="probe",
        request={"note": f"key {key.reveal()}"},
        status=401,
        response_excerpt=f'{{"error": "bad key {key.reveal()}"}}',
        detail={key.reveal(): key.reveal()},
    )
    run = _document(_result("F1-error-fields", Status.FAILED, echoed))

    paths = write_reports(tmp_path, run, key)

    for path in paths:
        content = path.read_bytes()
        assert key.reveal().encode() not in content, path.name
        assert b"***" in content, path.name


def test_write_reports_writes_three_files_and_no_temporaries(tmp_path: Path) -> None:
    document = _document(_result("B2-object", Status.FAILED, HOSTILE))

    paths = write_reports(tmp_path / "out", document, None)

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert {p.name for p in paths} == {
        "conformance.json",
        "conformance.html",
        "conformance.junit.xml",
    }
    saved = json.loads((tmp_path / "out" / "conformance.json").read_text())
    assert ConformanceRun.from_json(saved) == document


def test_matrix_and_comparison_never_show_an_interrupted_run_as_passed() -> None:
    finished = _document(_result("B2-object", Status.PASSED))
    stopped = _document(_result("B2-object", Status.PASSED), planned=("B2-object", "C1-x"))

    matrix = render_matrix_html(build_matrix([("done", finished), ("stopped", stopped)]))
    assert 'class="banner unfinished"' in matrix
    assert "but 1 of 2 runs were interrupted" in matrix
    assert '<span class="status interrupted">interrupted</span>' in matrix

    comparison = compare_conformance([("done", finished), ("stopped", stopped)])
    page = render_compare_html(comparison)
    assert "Interrupted: <code>stopped</code>" in page
    assert "warning: stopped was interrupted" in summary_text(comparison)
