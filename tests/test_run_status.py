"""The run status and its coverage: ``passed`` only when every planned check was judged.

The rules are unit-tested on hand-made results, then each case of issue 11 that printed a
green PASSED is reproduced against the reference endpoint (or the hostile test server
where the reference endpoint has no such behaviour), as a ``chatgauge check`` run with the
status in its JSON, its exit code, its summary, its page and its JUnit XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatgauge.conformance._registry import all_checks
from chatgauge.reports._conformance_html import render_conformance_html
from chatgauge.reports._junit import junit_xml
from chatgauge.results.conformance import (
    ACCEPTED_SKIPS,
    CheckResult,
    ConformanceRun,
    RunSettings,
    RunStatus,
    Severity,
    SkipKind,
    Status,
    Tier,
    ToolInfo,
    coverage_of,
    status_of,
)
from chatgauge.server import ServerConfig, background_server
from tests.check_support import check, document
from tests.hostile_server import HostileServer, Timings

# -- the rules, on hand-made results ---------------------------------------------------------


def _result(check_id: str, status: Status, kind: SkipKind | None = None) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id,
        group=check_id[0],
        tier=Tier.SPEC,
        severity=Severity.MAJOR,
        status=status,
        message=f"{status.value} for a reason",
        rule="",
        spec_ref="",
        skip_kind=kind if status is Status.SKIPPED else None,
    )


def _run(*results: CheckResult, planned: tuple[str, ...] | None = None) -> ConformanceRun:
    base = ConformanceRun(
        endpoint="http://127.0.0.1:1/v1",
        model="m",
        started_at="2026-12-01T00:00:00+00:00",
        tool=ToolInfo(version="test"),
        settings=RunSettings(),
        status=RunStatus.INTERRUPTED,
        planned=planned if planned is not None else tuple(r.id for r in results),
    )
    return base.with_results(results)


def test_only_capability_and_not_applicable_skips_leave_a_run_able_to_pass() -> None:
    assert {SkipKind.CAPABILITY, SkipKind.NOT_APPLICABLE} == ACCEPTED_SKIPS
    for kind in SkipKind:
        run = _run(_result("A1-x", Status.PASSED), _result("B1-y", Status.SKIPPED, kind))
        expected = RunStatus.PASSED if kind in ACCEPTED_SKIPS else RunStatus.INCOMPLETE
        assert run.status is expected, kind
        (skip,) = run.coverage.skipped
        assert (skip.id, skip.kind, skip.accepted) == ("B1-y", kind, kind in ACCEPTED_SKIPS)
        assert skip.reason == "skipped for a reason"


def test_the_status_order_is_interrupted_failed_incomplete_passed() -> None:
    failed = _result("A1-f", Status.FAILED)
    run_skip = _result("B1-r", Status.SKIPPED, SkipKind.RUN)
    passed = _result("C1-p", Status.PASSED)

    assert _run(failed, run_skip, planned=("A1-f", "B1-r", "Z1-never")).status is (
        RunStatus.INTERRUPTED
    )
    assert _run(failed, run_skip).status is RunStatus.FAILED
    assert _run(passed, run_skip).status is RunStatus.INCOMPLETE
    assert _run(passed).status is RunStatus.PASSED


def test_warnings_and_unsupported_are_judged_verdicts() -> None:
    run = _run(_result("A1-w", Status.WARNING), _result("G1-u", Status.UNSUPPORTED))

    assert run.status is RunStatus.PASSED
    assert (run.coverage.judged, run.coverage.total) == (2, 2)


def test_a_run_that_judged_nothing_is_incomplete_even_with_accepted_skips() -> None:
    run = _run(_result("A4-x", Status.SKIPPED, SkipKind.NOT_APPLICABLE))

    assert run.status is RunStatus.INCOMPLETE
    assert run.coverage.judged == 0
    assert run.coverage.unaccepted == ()


def test_a_skip_without_a_kind_counts_as_endpoint() -> None:
    legacy = _result("B1-y", Status.SKIPPED)  # a document from before skip kinds
    coverage = coverage_of((_result("A1-x", Status.PASSED), legacy), ("A1-x", "B1-y"))

    assert [(s.kind, s.accepted) for s in coverage.skipped] == [(SkipKind.ENDPOINT, False)]
    assert status_of((legacy,), coverage) is RunStatus.INCOMPLETE


def test_coverage_lists_the_planned_checks_not_run() -> None:
    run = _run(_result("A1-x", Status.PASSED), planned=("A1-x", "B1-y"))

    assert run.coverage.not_run == ("B1-y",)
    assert run.coverage.total == 2


def test_an_incomplete_page_is_never_green_and_lists_each_skip() -> None:
    run = _run(
        _result("A1-x", Status.PASSED),
        _result("B1-y", Status.SKIPPED, SkipKind.RUN),
        _result("A4-z", Status.SKIPPED, SkipKind.NOT_APPLICABLE),
    )

    page = render_conformance_html(run)
    assert '<div class="verdict incomplete" id="run-status">' in page
    assert 'class="verdict passed"' not in page
    assert "only 1 of 3 checks were judged" in page
    assert '<td class="kind unaccepted">run</td>' in page
    assert '<td class="kind accepted">not_applicable</td>' in page
    suite = ET.fromstring(junit_xml(run)).find("testsuite")  # noqa: S314 - our own XML
    assert suite is not None
    own = suite.find("properties")
    assert own is not None
    properties = {p.get("name"): p.get("value") for p in own.iter("property")}
    assert properties["status"] == "incomplete"
    assert (properties["coverage_judged"], properties["coverage_total"]) == ("1", "3")
    assert properties["coverage_unjudged"] == "1"
    messages = [s.get("message") for s in suite.iter("skipped")]
    assert "skipped (run): skipped for a reason" in messages


# -- the cases of issue 11, as chatgauge check runs ------------------------------------------


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def test_a_faithful_endpoint_passes_with_full_coverage(tmp_path: Path, faithful_url: str) -> None:
    done = check(tmp_path, "--base-url", faithful_url, "--model", "pro")

    assert done.returncode == 0, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] == "passed"
    coverage = data["coverage"]
    assert isinstance(coverage, dict)
    assert coverage["total"] == len(all_checks())
    # Only accepted skips: no key given (A4), no 429 met (F2-retry-after).
    assert {s["kind"] for s in coverage["skipped"]} == {"not_applicable"}
    assert coverage["judged"] == len(all_checks()) - len(coverage["skipped"])
    assert f"coverage: {coverage['judged']} of {coverage['total']} checks judged" in done.stdout


def test_a_request_cap_makes_the_run_incomplete_exit_4(tmp_path: Path, faithful_url: str) -> None:
    done = check(tmp_path, "--base-url", faithful_url, "--model", "pro", "--max-requests", "20")

    assert done.returncode == 4, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] == "incomplete"
    assert data["requests_sent"] == 20
    coverage = data["coverage"]
    assert isinstance(coverage, dict)
    budget_skips = [s for s in coverage["skipped"] if "request cap of 20" in s["reason"]]
    assert budget_skips
    assert {s["kind"] for s in budget_skips} == {"run"}
    assert not any(s["accepted"] for s in budget_skips)
    assert "\nINCOMPLETE: " in done.stdout
    assert "not judged:\n  run: budget exhausted: request cap of 20 reached" in done.stdout
    page = (tmp_path / "reports" / "conformance.html").read_text()
    assert 'class="verdict incomplete"' in page
    assert 'class="verdict passed"' not in page


def test_a_fault_fails_the_run_whatever_else_was_skipped(tmp_path: Path) -> None:
    with background_server(ServerConfig(port=0, faults=frozenset({"double-done"}))) as url:
        done = check(
            tmp_path, "--base-url", url, "--model", "pro", "--select", "D3,G", "--max-requests", "6"
        )

    assert done.returncode == 1, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] == "failed"
    coverage = data["coverage"]
    assert isinstance(coverage, dict)
    assert any(s["kind"] == "run" for s in coverage["skipped"])  # failed wins over incomplete


def test_a_selection_that_judges_nothing_is_incomplete(tmp_path: Path, faithful_url: str) -> None:
    # No key given: both A4 checks are not applicable, so nothing at all is judged.
    done = check(tmp_path, "--base-url", faithful_url, "--model", "pro", "--select", "a4")

    assert done.returncode == 4, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] == "incomplete"
    assert data["planned"] == ["A4-missing-key-rejected", "A4-wrong-key-rejected"]


def test_a_huge_first_answer_without_usage_does_not_use_up_the_budget(tmp_path: Path) -> None:
    # The reference endpoint always reports usage; the hostile test server's long-no-usage
    # mode answers every request with 1 MiB of content and no usage. The budget estimate of
    # an answer without usage is capped at what the request allowed (max_tokens 1 for the
    # preflight), so the run goes on and judges.
    with HostileServer(Timings(long_bytes=1024 * 1024)) as server:
        done = check(tmp_path, "--base-url", server.base_url("long-no-usage"), "--model", "m")
        served = server.requests["long-no-usage"]

    assert done.returncode in (1, 4), done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] != "passed"
    # Every request the server read is counted (a request it refused to read is too).
    assert data["requests_sent"] >= served
    assert isinstance(data["requests_sent"], int)
    assert data["requests_sent"] > 20  # before: the preflight's estimate ended the run
    coverage = data["coverage"]
    assert isinstance(coverage, dict)
    assert coverage["judged"] >= 10


def test_a_document_from_before_coverage_gets_the_coverage_of_its_checks() -> None:
    run = _run(_result("A1-x", Status.PASSED), _result("B1-y", Status.SKIPPED, SkipKind.RUN))
    data = run.to_json()
    del data["coverage"], data["stop_reason"], data["retries"]

    read = ConformanceRun.from_json(data)

    assert read.coverage == run.coverage
    assert read.status is run.status  # kept as written
