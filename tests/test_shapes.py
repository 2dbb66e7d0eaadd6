"""The declarative shapes the reference endpoint checks documented fields with (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from chatgauge.server._errors import ApiError
from chatgauge.server._shapes import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    Shape,
    any_of,
    array,
    enum,
    map_of,
    nullable,
    obj,
    string,
    tagged,
)


def refusal(shape: Shape, value: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        shape.check(value, "p")
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    ("shape", "good", "bad"),
    [
        (STRING, "x", 1),
        (BOOLEAN, False, 0),
        (INTEGER, 3, 3.5),
        (INTEGER, 3.0, True),
        (NUMBER, 0.5, "0.5"),
        (enum("a", "b"), "b", "c"),
        (array(STRING), ["x"], "x"),
        (map_of(STRING), {"k": "v"}, {"k": 1}),
        (obj({"a": STRING}), {"a": "x", "extra": 1}, {"b": "x"}),
    ],
)
def test_each_shape_takes_its_values_and_refuses_others(shape: Shape, good: Any, bad: Any) -> None:
    shape.check(good, "p")
    refusal(shape, bad)


def test_null_only_where_nullable() -> None:
    assert refusal(STRING, None).message == (
        "Invalid type for 'p': expected a string, but got null instead."
    )
    nullable(STRING).check(None, "p")


def test_errors_name_the_nested_parameter_and_use_openai_codes() -> None:
    shape = obj({"items": array(obj({"mode": enum("explicit")}), min_items=1)})
    error = refusal(shape, {"items": [{"mode": "implicit"}]})
    assert (error.param, error.code) == ("p.items[0].mode", "invalid_value")
    assert refusal(shape, {"items": []}).code == "empty_array"
    assert refusal(shape, {"items": [{}]}).code == "missing_required_parameter"
    assert refusal(array(STRING, min_items=2), ["x"]).code == "array_below_min_length"
    assert refusal(array(STRING, max_items=1), ["x", "y"]).code == "array_above_max_length"
    assert refusal(string(max_length=2), "xyz").code == "string_above_max_length"
    assert refusal(string(pattern="[a-z]+"), "A").code == "invalid_value"


def test_closed_objects_refuse_other_properties() -> None:
    shape = obj({"type": STRING}, closed=True)
    shape.check({"type": "text"}, "p")
    error = refusal(shape, {"type": "text", "x": 1})
    assert (error.param, error.code) == ("p.x", "unknown_parameter")


def test_any_of_reports_the_branch_that_took_the_type() -> None:
    shape = any_of(STRING, array(obj({"text": STRING}), min_items=1))
    shape.check("x", "p")
    shape.check([{"text": "y"}], "p")
    assert refusal(shape, [{}]).param == "p[0].text"
    error = refusal(shape, 5)
    assert error.code == "invalid_type"
    assert "expected a string or an array" in error.message


def test_tagged_objects_choose_their_shape_by_tag() -> None:
    shape = tagged("type", {"a": obj({"x": STRING}), "b": obj({"y": STRING})})
    shape.check({"type": "b", "y": "1"}, "p")
    assert refusal(shape, {"type": "a", "y": "1"}).param == "p.x"
    assert refusal(shape, {"type": "c"}).code == "invalid_value"
    assert refusal(shape, {}).param == "p.type"


@pytest.mark.parametrize("url", ["https://example.com/a.png", "data:image/png;base64,AAAA"])
def test_uris_with_a_scheme_pass(url: str) -> None:
    string(uri=True).check(url, "p")


@pytest.mark.parametrize("url", ["", "cat.png", "https://a b", "http://x/%zz", "1http://x"])
def test_strings_that_are_no_uri_are_refused(url: str) -> None:
    assert refusal(string(uri=True), url).code == "invalid_value"
