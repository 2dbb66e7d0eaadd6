"""The typed load documents: JSON round trips, the shipped schema, refusal of foreign files.

Every value type of ``load.json`` (and the samples and messages the load engine ships) is
drawn by Hypothesis from its own type hints, so a field added later is covered without
touching this file.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatgauge.cli import main
from chatgauge.loadtests._pacing import Share
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._shipping import SampleBatch
from chatgauge.reports._render import ResultError, read_result
from chatgauge.results import JsonRecord
from chatgauge.results import load as load_module
from chatgauge.results._codec import encode
from chatgauge.results.load import LoadReport
from tests.load_support import assert_valid_load_json
from tests.report_fixtures import load_document
from tests.sweep_fixtures import sweep_result

text = st.text(max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def strategy(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the annotated type ``tp``, as the results codec understands types."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return st.none() | st.booleans() | st.integers() | finite | text
    if tp is type(None):
        return st.none()
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy(arg) for arg in typing.get_args(tp)))
    if origin is Literal:
        return st.sampled_from(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return st.lists(strategy(item), max_size=3).map(tuple)
    if origin is list:
        return st.lists(strategy(typing.get_args(tp)[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(text, strategy(typing.get_args(tp)[1]), max_size=3)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return st.builds(
            tp, **{f.name: strategy(hints[f.name]) for f in dataclasses.fields(tp) if f.init}
        )
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=-(2**62), max_value=2**62)
    if tp is float:
        return finite
    if tp is str:
        return text
    raise TypeError(f"no strategy for {tp!r}")


def reachable(root: type) -> list[type[JsonRecord]]:
    """Every record type a value of ``root`` can hold, ``root`` first."""
    found: list[type[JsonRecord]] = []

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, type) and issubclass(tp, JsonRecord) and tp not in found:
            found.append(tp)
            for hint in typing.get_type_hints(tp).values():
                visit(hint)

    visit(root)
    return found


LOAD_TYPES = tuple(reachable(LoadReport))
WIRE_TYPES: tuple[type[JsonRecord], ...] = (RequestSample, SampleBatch, Share)


def test_every_record_type_of_the_load_module_is_part_of_the_document() -> None:
    defined = {
        value
        for value in vars(load_module).values()
        if isinstance(value, type)
        and issubclass(value, JsonRecord)
        and value.__module__ == load_module.__name__
    }
    assert defined <= set(LOAD_TYPES)


@pytest.mark.parametrize("cls", LOAD_TYPES + WIRE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_load_type_round_trips_through_json(
    cls: type[JsonRecord], data: st.DataObject
) -> None:
    value = data.draw(strategy(cls))
    assert cls.from_json(json.loads(json.dumps(value.to_json()))) == value


@settings(max_examples=20, deadline=None)
@given(report=strategy(LoadReport))
def test_every_encoded_load_report_validates_against_the_shipped_schema(
    report: LoadReport,
) -> None:
    assert_valid_load_json(json.loads(json.dumps(report.to_json())))


@settings(max_examples=40, deadline=None)
@given(batch=strategy(SampleBatch))
def test_the_fast_encoders_of_shipped_values_agree_with_the_codec(batch: SampleBatch) -> None:
    # RequestSample and SampleBatch write their JSON by hand (they are encoded between two
    # reads on a load-generating process); it must be what the codec derives.
    assert batch.to_json() == encode(batch)
    for sample in batch.samples:
        assert sample.to_json() == encode(sample)


def test_documents_the_engine_assembles_validate_against_the_schema() -> None:
    for report in (load_document(errors=3), sweep_result()):
        assert_valid_load_json(json.loads(json.dumps(report.to_json())))


# -- foreign and other-version files ------------------------------------------------------


def _saved(tmp_path: Path, document: Any, name: str = "load.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _damaged(change: str) -> dict[str, Any]:
    data = load_document().to_json()
    if change == "version":
        data["schema_version"] = 0
    elif change == "kindless":
        del data["kind"]
    elif change == "summary":
        data["metrics"]["ttft_ms"]["p50"] = "slow"
    elif change == "points":
        data["points"]["t_s"] = [[0.1, 200.0, 300.0, True]]  # a positional row
    return data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("version", "'schema_version' is 0"),
        ("kindless", "no 'kind' field"),
        ("summary", "field 'metrics.ttft_ms.p50': expected number"),
        ("points", "field 'points.t_s[0]': expected number"),
    ],
)
def test_a_foreign_or_damaged_load_file_is_one_line_naming_file_and_field(
    tmp_path: Path,
    change: str,
    field: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _saved(tmp_path, _damaged(change))
    with pytest.raises(ResultError) as caught:
        read_result(path)
    assert str(caught.value).startswith(str(path))
    assert field in str(caught.value)
    monkeypatch.chdir(tmp_path)
    good = _saved(tmp_path, load_document().to_json(), "good.json")
    for args in (("html", str(path)), ("compare", str(good), str(path))):
        assert main(["report", *args]) == 2
        stderr = capsys.readouterr().err
        assert stderr.count("\n") == 1, stderr
        assert str(path) in stderr
        assert field in stderr
        assert "Traceback" not in stderr


def test_an_unknown_field_in_a_load_file_is_tolerated_but_named_by_the_schema(
    tmp_path: Path,
) -> None:
    # Readers stay tolerant of additions; the schema is the contract of what is written.
    data = load_document().to_json()
    data["throughput"]["future_figure"] = 1.0
    kind, report = read_result(_saved(tmp_path, data))
    assert kind == "load"
    assert report == load_document()
    with pytest.raises(AssertionError, match="future_figure"):
        assert_valid_load_json(data)
