"""Reading one request parameter: type and range checks with OpenAI's error vocabulary.

Every refusal is an :class:`ApiError` (400, ``invalid_request_error``) whose message, ``param``
and ``code`` follow OpenAI's validator (``invalid_type``, ``missing_required_parameter``,
``invalid_value``, ``decimal_below_min_value``, ``integer_above_max_value``, ...).

``null`` is accepted exactly where the OpenAPI document marks a field nullable: a reader
called with ``nullable=True`` treats ``null`` like an absent field, one called with
``nullable=False`` refuses it as a value of the wrong type ("... but got null instead"), as
OpenAI's validator does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from chatgauge.server._errors import ApiError

JSONObject = dict[str, Any]

NAME_PATTERN: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def kind(value: object) -> str:
    """How OpenAI's messages name the JSON type of ``value`` ("a string", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def type_error(param: str, expected: str, value: object) -> ApiError:
    """``param`` holds a value of the wrong JSON type."""
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> ApiError:
    """A required ``param`` is absent."""
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def invalid_value(param: str, value: object, supported: Sequence[str]) -> ApiError:
    """``param`` holds a string outside its enumeration."""
    listed = ", ".join(f"'{item}'" for item in supported)
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def empty_array(param: str) -> ApiError:
    """``param`` is an empty array where at least one item is required."""
    return ApiError(
        400,
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got "
        "an empty array instead.",
        param=param,
        code="empty_array",
    )


def is_number(value: object) -> bool:
    """An int or a float, but not a bool (JSON true is no number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    """An int (not a bool), or a float with an integral value: JSON Schema counts ``1.0`` as
    an integer, and so does the OpenAPI document's ``type: integer``."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _absent(value: object, param: str, expected: str, nullable: bool) -> bool:
    """Whether ``value`` counts as not given; ``null`` is refused unless ``nullable``."""
    if value is None and not nullable:
        raise type_error(param, expected, value)
    return value is None


def number(
    body: Mapping[str, Any],
    name: str,
    low: float,
    high: float,
    *,
    param: str | None = None,
    check_range: bool = True,
    nullable: bool = True,
) -> float | None:
    """A finite number in ``[low, high]`` (``check_range=False`` skips the bounds)."""
    param = param or name
    if name not in body or _absent(body[name], param, "a decimal", nullable):
        return None
    value = body[name]
    if not is_number(value) or not math.isfinite(value):
        raise type_error(param, "a decimal", value)
    if check_range and value < low:
        raise ApiError(
            400,
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low:g}, "
            f"but got {value} instead.",
            param=param,
            code="decimal_below_min_value",
        )
    if check_range and value > high:
        raise ApiError(
            400,
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high:g}, "
            f"but got {value} instead.",
            param=param,
            code="decimal_above_max_value",
        )
    return float(value)


def integer(
    body: Mapping[str, Any],
    name: str,
    low: int | None = None,
    high: int | None = None,
    *,
    param: str | None = None,
    nullable: bool = True,
) -> int | None:
    """An integer in ``[low, high]`` (either bound may be open)."""
    param = param or name
    if name not in body or _absent(body[name], param, "an integer", nullable):
        return None
    value = body[name]
    if not is_integer(value):
        raise type_error(param, "an integer", value)
    if low is not None and value < low:
        raise ApiError(
            400,
            f"Invalid '{param}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=param,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise ApiError(
            400,
            f"Invalid '{param}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=param,
            code="integer_above_max_value",
        )
    return int(value)


def boolean(
    body: Mapping[str, Any], name: str, param: str | None = None, *, nullable: bool = True
) -> bool:
    """A boolean; absent (or an allowed ``null``) reads as false."""
    param = param or name
    if name not in body or _absent(body[name], param, "a boolean", nullable):
        return False
    value = body[name]
    if not isinstance(value, bool):
        raise type_error(param, "a boolean", value)
    return value


def obj(
    body: Mapping[str, Any], name: str, param: str, *, nullable: bool = True
) -> JSONObject | None:
    """A JSON object, or None when absent."""
    if name not in body or _absent(body[name], param, "an object", nullable):
        return None
    value = body[name]
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    return value


def string(
    body: Mapping[str, Any],
    name: str,
    param: str,
    *,
    required: bool,
    nullable: bool = True,
) -> str | None:
    """A string; a missing required one is ``missing_required_parameter``.

    A required field holding ``null`` is reported as missing, as OpenAI does for ``model``.
    """
    value = body.get(name)
    if value is None:
        if required:
            raise missing(param)
        if name in body and not nullable:
            raise type_error(param, "a string", value)
        return None
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    return value


def check_name(value: str, param: str) -> None:
    """Function, tool and schema names: ``[a-zA-Z0-9_-]{1,64}`` (a rule of the spec's prose)."""
    if not NAME_PATTERN.fullmatch(value):
        raise ApiError(
            400,
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            f"matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'.",
            param=param,
            code="invalid_value",
        )
