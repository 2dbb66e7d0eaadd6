"""The results layer: the JSON codec, the shipped schemas, safe text and document reading."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from chatgauge._secret import Secret
from chatgauge.results import (
    DocumentError,
    JsonRecord,
    ResultError,
    clip,
    read_document,
    safe_text,
    terminal_text,
)
from chatgauge.results._codec import json_schema
from chatgauge.results._files import document_bytes, known_kinds
from chatgauge.results._schemas import derived_schema, schema_text, shipped_schema_text
from chatgauge.results.conformance import (
    Capability,
    CheckResult,
    ConformanceRun,
    Contract,
    Coverage,
    Evidence,
    FeatureState,
    RunSettings,
    RunStatus,
    Severity,
    SkipKind,
    SkipRecord,
    Status,
    Tier,
    ToolInfo,
)

# -- strategies -------------------------------------------------------------------------------

text = st.text(max_size=20)
# JSON has no NaN or infinity (the codec writes them as null), so values never hold them.
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
evidence = st.builds(
    Evidence,
    label=text,
    request=json_values,
    status=st.none() | st.integers(100, 599),
    response_excerpt=text,
    raw_sse=text,
    detail=st.dictionaries(text, json_values, max_size=3),
)
check_results = st.builds(
    CheckResult,
    id=text,
    title=text,
    group=st.sampled_from("ABCDEFGH"),
    tier=st.sampled_from(Tier),
    severity=st.sampled_from(Severity),
    status=st.sampled_from(Status),
    message=text,
    rule=text,
    spec_ref=text,
    evidence=st.lists(evidence, max_size=2).map(tuple),
    skip_kind=st.none() | st.sampled_from(SkipKind),
)
run_settings = st.builds(
    RunSettings,
    runner=st.sampled_from(["cli", "pytest", "api"]),
    examples=st.integers(1, 1000),
    select=st.lists(text, max_size=2).map(tuple),
    ignore=st.lists(text, max_size=2).map(tuple),
    rate=st.none() | st.floats(0.01, 1000),
    run_timeout_s=st.none() | st.floats(0.01, 1e5),
)
skip_records = st.builds(
    SkipRecord, id=text, kind=st.sampled_from(SkipKind), reason=text, accepted=st.booleans()
)
coverages = st.builds(
    Coverage,
    total=st.integers(0, 100),
    judged=st.integers(0, 100),
    skipped=st.lists(skip_records, max_size=3).map(tuple),
    not_run=st.lists(text, max_size=3).map(tuple),
)
tools = st.builds(ToolInfo, name=text, version=text)
capabilities = st.builds(
    Capability,
    status=st.sampled_from(FeatureState),
    evidence=text,
    required=st.booleans(),
    probe=text,
)
contracts = st.builds(
    Contract,
    profile=st.sampled_from(["openai", "basic"]),
    required=st.lists(text, max_size=3).map(tuple),
    optional=st.lists(text, max_size=3).map(tuple),
)
runs = st.builds(
    ConformanceRun,
    endpoint=text,
    model=text,
    started_at=text,
    tool=tools,
    settings=run_settings,
    status=st.sampled_from(RunStatus),
    checks=st.lists(check_results, max_size=3).map(tuple),
    planned=st.lists(text, max_size=3).map(tuple),
    summary=st.dictionaries(st.sampled_from([s.value for s in Status]), st.integers(0, 99)),
    coverage=coverages,
    stop_reason=text,
    duration_s=st.floats(0, 1e6),
    requests_sent=st.integers(0, 10**6),
    tokens_used=st.integers(0, 10**9),
    internal_errors=st.lists(text, max_size=2).map(tuple),
    contract=contracts,
    capabilities=st.dictionaries(text, capabilities, max_size=3),
)


VALUES: dict[type[JsonRecord], st.SearchStrategy[Any]] = {
    Evidence: evidence,
    CheckResult: check_results,
    RunSettings: run_settings,
    ToolInfo: tools,
    SkipRecord: skip_records,
    Coverage: coverages,
    ConformanceRun: runs,
    Capability: capabilities,
    Contract: contracts,
}


@pytest.mark.parametrize("cls", list(VALUES), ids=lambda cls: cls.__name__)
def test_every_conformance_type_round_trips_through_json(cls: type[JsonRecord]) -> None:
    @given(VALUES[cls])
    @settings(max_examples=40, database=None)
    def round_trip(value: JsonRecord) -> None:
        data = json.loads(json.dumps(value.to_json()))
        assert cls.from_json(data) == value

    round_trip()


def test_every_type_of_the_conformance_document_has_a_round_trip_strategy() -> None:
    # A new value type inside ConformanceRun must join VALUES, or it is never round-tripped.
    schema = json.loads(shipped_schema_text("conformance"))
    assert set(schema["$defs"]) == {cls.__name__ for cls in VALUES}


@given(runs)
@settings(max_examples=30)
def test_every_encoded_conformance_run_validates_against_the_shipped_schema(
    run: ConformanceRun,
) -> None:
    schema = json.loads(shipped_schema_text("conformance"))
    Draft202012Validator(schema).validate(json.loads(json.dumps(run.to_json())))


def test_shipped_schemas_are_what_the_code_derives() -> None:
    for kind in known_kinds():
        assert shipped_schema_text(kind) == schema_text(derived_schema(kind)), (
            f"{kind}.schema.json is stale: python -m chatgauge.results._schemas --write"
        )


def test_shipped_schemas_are_valid_draft_2020_12() -> None:
    for kind in known_kinds():
        Draft202012Validator.check_schema(json.loads(shipped_schema_text(kind)))


# -- the codec's errors name the field --------------------------------------------------------


@dataclass(frozen=True)
class _Inner(JsonRecord):
    """An inner value."""

    count: int
    ratio: float = 0.0


@dataclass(frozen=True)
class _Outer(JsonRecord):
    """An outer value."""

    name: str
    mode: Literal["open", "closed"]
    items: tuple[_Inner, ...] = ()
    by_name: dict[str, _Inner] = field(default_factory=dict)
    note: str | None = None


@pytest.mark.parametrize(
    ("data", "where", "problem"),
    [
        ({"mode": "open"}, "name", "missing"),
        ({"name": 3, "mode": "open"}, "name", "expected string, got 3"),
        ({"name": "a", "mode": "ajar"}, "mode", "expected one of 'open', 'closed'; got 'ajar'"),
        ({"name": "a", "mode": "open", "items": {}}, "items", "expected an array, got {}"),
        (
            {"name": "a", "mode": "open", "items": [{"count": 1}, {"count": "2"}]},
            "items[1].count",
            "expected integer, got '2'",
        ),
        (
            {"name": "a", "mode": "open", "by_name": {"x": {"count": True}}},
            "by_name.x.count",
            "expected integer, got True",
        ),
        ({"name": "a", "mode": "open", "note": 5}, "note", "expected string, got 5"),
    ],
)
def test_a_wrong_field_is_named_with_what_is_wrong(
    data: dict[str, Any], where: str, problem: str
) -> None:
    with pytest.raises(DocumentError) as caught:
        _Outer.from_json(data)
    assert (caught.value.field, caught.value.problem) == (where, problem)


def test_numbers_follow_json_not_python() -> None:
    value = _Outer.from_json({"name": "a", "mode": "open", "items": [{"count": 2.0, "ratio": 1}]})
    assert value.items == (_Inner(count=2, ratio=1.0),)
    assert isinstance(value.items[0].ratio, float)
    with pytest.raises(DocumentError):
        _Inner.from_json({"count": 2.5})


def test_schema_of_a_small_record_requires_every_field_and_nothing_else() -> None:
    schema = json_schema(_Outer, title="t", schema_id="urn:t")
    outer = schema["$defs"]["_Outer"]
    assert outer["required"] == ["name", "mode", "items", "by_name", "note"]
    assert outer["additionalProperties"] is False
    validator = Draft202012Validator(schema)
    assert validator.is_valid(_Outer(name="a", mode="closed", items=(_Inner(1),)).to_json())
    assert not validator.is_valid({"name": "a", "mode": "closed"})


# -- reading files ----------------------------------------------------------------------------


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")
    return path


def _run() -> ConformanceRun:
    return ConformanceRun(
        endpoint="http://127.0.0.1:1/v1",
        model="pro",
        started_at="2026-12-01T00:00:00+00:00",
        tool=ToolInfo(version="0"),
        settings=RunSettings(),
        status=RunStatus.PASSED,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "the JSON is not an object"),
        ('{"a": 1}', "no 'kind' field"),
        ('{"kind": "weather"}', "unknown kind 'weather'"),
        ('{"kind": "conformance", "schema_version": 99}', "field 'schema_version' is 99"),
        ("[" * 100_000 + "]" * 100_000, "not a chatgauge result"),
    ],
)
def test_foreign_files_are_refused_in_one_line_naming_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ResultError) as caught:
        read_document(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_a_damaged_field_is_named(tmp_path: Path) -> None:
    data = _run().to_json()
    data["checks"] = [{"id": "X1-y"}]
    path = _write(tmp_path, json.dumps(data))
    with pytest.raises(ResultError, match=r"field 'checks\[0\]\.title': missing"):
        read_document(path)


def test_a_written_document_reads_back(tmp_path: Path) -> None:
    run = _run()
    path = tmp_path / "conformance.json"
    path.write_bytes(document_bytes(run.to_json()))
    assert read_document(path) == run


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ResultError, match="no such file"):
        read_document(tmp_path / "absent.json")


# -- safe text --------------------------------------------------------------------------------


def test_the_secret_is_masked_before_the_text_is_shortened() -> None:
    key = Secret("sk-" + "a1b2c3d4" * 4)
    echoed = "x" * 90 + f"invalid key {key.reveal()} given"
    shown = safe_text(echoed, key, limit=100)
    assert len(shown) <= 103
    for start in range(len(key.reveal()) - 7):
        assert key.reveal()[start : start + 8] not in shown


def test_lone_surrogates_become_visible_escapes_that_encode() -> None:
    text = json.loads('"model-\\ud800-x"')
    shown = safe_text(text)
    assert shown == "model-\\ud800-x"
    shown.encode("utf-8")
    assert b"\\\\ud800" in document_bytes({"model": text})


def test_terminal_text_neutralises_escape_sequences() -> None:
    hostile = "ok\x1b[2J\x1b]0;pwned\x07\x9b31m\ttab\nline"
    shown = terminal_text(hostile)
    assert all(ch in "\t\n" or ch.isprintable() for ch in shown)
    assert shown == "ok\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\ttab\nline"


def test_clip_keeps_both_ends() -> None:
    assert clip("abcdefghij", 20) == "abcdefghij"
    assert clip("a" * 50 + "[DONE]", 20).endswith("[DONE]")
