"""The oracle's allow-list, its report reader and its fault table (pure logic)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from scripts.schemathesis_oracle.allowlist import (
    ALLOWLIST_PATH,
    AllowlistError,
    first_match,
    load_allowlist,
    parse_allowlist,
    triage,
)
from scripts.schemathesis_oracle.faults import (
    END_MARKER,
    START_MARKER,
    render_table,
    update_docs,
    verdict,
)
from scripts.schemathesis_oracle.findings import Finding, distinct, read_report
from scripts.schemathesis_oracle.run import OracleError, serve_args


def finding(**fields: Any) -> Finding:
    values: dict[str, Any] = {
        "check": "positive_data_acceptance",
        "title": "Schema-valid request rejected",
        "message": "Valid data should have been accepted",
        "status": 400,
        "phase": "fuzzing",
        "mode": "positive",
        "case_id": "c1",
        "variant": "streamed",
    }
    values.update(fields)
    return Finding(**values)


ENTRY: dict[str, Any] = {
    "id": "example",
    "finding": "a finding",
    "reason": "why it is fine",
    "check": "positive_data_acceptance",
}


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"id": "x"}, "a YAML list"),
        (["text"], "not a mapping"),
        ([{**ENTRY, "reason": " "}], "non-empty 'reason'"),
        ([{k: v for k, v in ENTRY.items() if k != "finding"}], "non-empty 'finding'"),
        ([{"id": "x", "finding": "f", "reason": "r"}], "has no matcher"),
        ([{**ENTRY, "statuses": [400]}], "unknown key 'statuses'"),
        ([{**ENTRY, "status": 400}], "list of integers"),
        ([{**ENTRY, "error": "("}], "not a valid regular expression"),
        ([ENTRY, ENTRY], "duplicate allow-list id 'example'"),
    ],
)
def test_malformed_allowlists_are_refused_with_the_reason(data: Any, problem: str) -> None:
    with pytest.raises(AllowlistError, match=problem):
        parse_allowlist(data)


def test_text_is_folded_to_one_line() -> None:
    (entry,) = parse_allowlist([{**ENTRY, "reason": "two\n  lines"}])
    assert entry.reason == "two lines"


def test_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AllowlistError, match="cannot read the allow-list"):
        load_allowlist(tmp_path / "missing.yaml")


# --- matching ------------------------------------------------------------------------------


def test_every_given_matcher_must_hold() -> None:
    (entry,) = parse_allowlist(
        [{**ENTRY, "status": [400], "mode": "positive", "variant": "streamed", "error": "^No"}]
    )
    assert entry.matches(finding(error_message="No tools"))
    assert not entry.matches(finding(error_message="No tools", status=500))
    assert not entry.matches(finding(error_message="No tools", mode="negative"))
    assert not entry.matches(finding(error_message="No tools", variant="non-streamed"))
    assert not entry.matches(finding(error_message="Tools: no"))
    assert not entry.matches(finding(check="not_a_server_error", error_message="No tools"))


def test_an_error_matcher_never_matches_a_finding_without_an_error_message() -> None:
    (entry,) = parse_allowlist([{**ENTRY, "error": ".*"}])
    assert not entry.matches(finding(error_message=None))


def test_message_and_response_matchers_search_their_text() -> None:
    (entry,) = parse_allowlist([{**ENTRY, "message": "Received: 40[14]", "response": "custom"}])
    assert entry.matches(finding(message="Received: 404", response_text='{"type":"custom"}'))
    assert not entry.matches(finding(message="Received: 400", response_text='"custom"'))
    assert not entry.matches(finding(message="Received: 401", response_text='"function"'))


def test_triage_keeps_file_order_and_first_match_wins() -> None:
    entries = parse_allowlist(
        [
            {**ENTRY, "id": "broad", "check": "positive_data_acceptance"},
            {**ENTRY, "id": "narrow", "status": [400]},
        ]
    )
    found = [finding(), finding(check="not_a_server_error", status=500)]
    allowed, blocking = triage(found, entries)
    assert list(allowed) == ["broad", "narrow"]
    assert allowed["broad"] == [found[0]]
    assert allowed["narrow"] == []
    assert blocking == [found[1]]


# --- the shipped allow-list ----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Any:
    return load_allowlist(ALLOWLIST_PATH)


def test_shipped_entries_each_have_a_reason(shipped: Any) -> None:
    assert shipped
    assert all(len(entry.reason) > 40 for entry in shipped)


@pytest.mark.parametrize(
    ("found", "entry_id"),
    [
        (finding(check="status_code_conformance", status=400), "undocumented-error-status"),
        (finding(check="status_code_conformance", status=404), "undocumented-error-status"),
        (
            finding(
                error_message="Invalid value for 'tool_choice': no custom tool named 'x' "
                "was specified in the 'tools' parameter."
            ),
            "named-tool-not-offered",
        ),
        (
            finding(
                error_message="Invalid parameter: messages with role 'tool' must be a "
                "response to a preceding message with 'tool_calls'."
            ),
            "tool-message-without-tool-calls",
        ),
        (
            finding(error_message="Missing required parameter: 'messages[3].content'."),
            "assistant-content-required",
        ),
        (
            finding(
                check="response_schema_conformance",
                status=200,
                response_text='data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
                '"id":"call_abc","type":"custom","custom":{"name":"t","input":""}}]}}]}',
            ),
            "streamed-custom-tool-call",
        ),
    ],
)
def test_shipped_entries_allow_what_they_name(shipped: Any, found: Finding, entry_id: str) -> None:
    entry = first_match(found, shipped)
    assert entry is not None
    assert entry.id == entry_id


@pytest.mark.parametrize(
    "found",
    [
        finding(check="not_a_server_error", status=500, title="Server error"),
        finding(check="status_code_conformance", status=500),
        finding(check="negative_data_rejection", status=200, mode="negative"),
        finding(error_message="Invalid type for 'temperature': expected a decimal."),
        finding(error_message="Missing required parameter: 'messages[0].content[0].text'."),
        finding(check="response_schema_conformance", status=200, response_text='{"object":"x"}'),
        finding(
            check="response_schema_conformance",
            status=200,
            variant="non-streamed",
            response_text='"tool_calls":[{"index":0,"id":"call_a","type":"custom"',
        ),
    ],
)
def test_shipped_entries_do_not_excuse_endpoint_bugs(shipped: Any, found: Finding) -> None:
    assert first_match(found, shipped) is None


# --- the report reader ---------------------------------------------------------------------


def _b64(value: bytes) -> dict[str, str]:
    return {"$base64": base64.b64encode(value).decode()}


def _scenario() -> dict[str, Any]:
    case = {"value": {"body": {"model": "pro"}, "meta": {"generation": {"mode": "negative"}}}}
    failure = {
        "type": "AcceptedNegativeData",
        "title": "Schema-violating request accepted",
        "message": "Invalid data should have been rejected\nExpected: 400",
    }
    return {
        "ScenarioFinished": {
            "phase": "coverage",
            "recorder": {
                "cases": {"a": case, "b": case},
                "checks": {
                    "a": [
                        {"name": "not_a_server_error", "status": "success"},
                        {
                            "name": "negative_data_rejection",
                            "status": "failure",
                            "failure_info": {"failure": failure},
                        },
                    ],
                    "b": [{"name": "not_a_server_error", "status": "success"}],
                },
                "interactions": {
                    "a": {"response": {"status_code": 200, "content": _b64(b'{"id": "x"}')}},
                    "b": {
                        "response": {
                            "status_code": 400,
                            "content": _b64(b'{"error": {"message": "Bad."}}'),
                        }
                    },
                },
            },
        }
    }


def test_report_reader_turns_failed_checks_into_findings() -> None:
    lines = [json.dumps({"EngineStarted": {}}), json.dumps(_scenario()), ""]
    result = read_report(lines, "streamed")
    assert result.cases == 2
    assert result.statuses == {200: 1, 400: 1}
    (found,) = result.findings
    assert (found.check, found.status, found.mode, found.phase) == (
        "negative_data_rejection",
        200,
        "negative",
        "coverage",
    )
    assert found.request_body == {"model": "pro"}
    assert found.error_message is None
    assert found.summary().startswith("[streamed coverage] negative_data_rejection (200)")
    assert not result.errors


def test_report_reader_keeps_engine_errors() -> None:
    result = read_report([json.dumps({"NonFatalError": {"label": "POST /chat/completions"}})], "x")
    assert [error.kind for error in result.errors] == ["NonFatalError"]


def test_error_message_is_read_from_enveloped_and_flat_bodies() -> None:
    scenario = _scenario()
    recorder = scenario["ScenarioFinished"]["recorder"]
    recorder["checks"]["b"] = recorder["checks"]["a"]
    flat = {"status_code": 400, "content": _b64(b'{"message": "Flat."}')}
    lines = [json.dumps(scenario)]
    messages = {f.error_message for f in read_report(lines, "v").findings}
    assert messages == {None, "Bad."}
    recorder["interactions"]["b"]["response"] = flat
    messages = {f.error_message for f in read_report([json.dumps(scenario)], "v").findings}
    assert messages == {None, "Flat."}


def test_distinct_groups_equal_findings_with_a_count() -> None:
    same = [finding(case_id="1"), finding(case_id="2"), finding(message="other")]
    groups = list(distinct(same))
    assert [count for _, count in groups] == [2, 1]


# --- the fault table -----------------------------------------------------------------------


def test_verdict_and_table() -> None:
    caught = verdict("missing-created", ["response_schema_conformance"] * 2, "example")
    missed = verdict("no-done", [], "")
    assert (caught.caught, caught.checks, caught.rules) == (
        True,
        ("response_schema_conformance",),
        "B1",
    )
    assert not missed.caught
    table = render_table([caught, missed])
    assert "| `missing-created` | B1 | yes | `response_schema_conformance` |" in table
    assert "| `no-done` | D3 | no | - |" in table


def test_docs_block_is_replaced_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{START_MARKER}\nold\n{END_MARKER}\noutro\n", encoding="utf-8")
    update_docs(doc, "new table")
    assert doc.read_text(encoding="utf-8") == (
        f"intro\n{START_MARKER}\nnew table\n{END_MARKER}\noutro\n"
    )
    doc.write_text("no markers", encoding="utf-8")
    with pytest.raises(OracleError, match="has no"):
        update_docs(doc, "x")


def test_serve_args_give_each_fault_what_it_needs() -> None:
    assert serve_args(()) == ["--api-key", "sk-chatgauge-oracle-local"]
    assert serve_args(("no-retry-after",))[-2:] == ["--rate-limit", "20"]
    assert "--fault" in serve_args(("no-done",))
