"""Declarative shapes of JSON values, checked with OpenAI's error vocabulary.

The reference endpoint accepts many documented fields it has no use for (``audio``,
``metadata``, ``web_search_options``, content part details, ...). OpenAI still validates them
against its schema, so the endpoint does too: each such field is described here as a
:class:`Shape` written from the OpenAPI document, and :meth:`Shape.check` raises the same
:class:`ApiError` (400) the parameter readers of :mod:`chatgauge.server._params` raise.

A shape states the JSON type it expects (``expected``, as worded in messages) and checks a
value at a ``param`` path such as ``messages[0].content[1].image_url.url``. ``null`` is
refused unless the shape is wrapped in :func:`nullable`, exactly as the spec marks fields.
Objects accept properties they do not list (the spec rarely says otherwise), unless
``closed``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from chatgauge.server._errors import ApiError
from chatgauge.server._params import (
    empty_array,
    invalid_value,
    is_integer,
    is_number,
    missing,
    type_error,
)

# RFC 3986: a scheme, a colon, then only URI characters with well-formed %-escapes.
_URI: Final = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
)


class Shape:
    """A JSON value of one type; subclasses add what they constrain."""

    expected: str = "a value"

    def check(self, value: Any, param: str) -> None:
        """Raise :class:`ApiError` (400) unless ``value`` has this shape."""


class _String(Shape):
    expected = "a string"

    def __init__(self, max_length: int | None, pattern: re.Pattern[str] | None, uri: bool):
        self._max_length = max_length
        self._pattern = pattern
        self._uri = uri

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, str):
            raise type_error(param, self.expected, value)
        if self._max_length is not None and len(value) > self._max_length:
            raise ApiError(
                400,
                f"Invalid '{param}': string too long. Expected a string with maximum length "
                f"{self._max_length}, but got a string with length {len(value)} instead.",
                param=param,
                code="string_above_max_length",
            )
        if self._pattern is not None and not self._pattern.fullmatch(value):
            raise ApiError(
                400,
                f"Invalid '{param}': string does not match pattern. Expected a string that "
                f"matches the pattern '^{self._pattern.pattern}$'.",
                param=param,
                code="invalid_value",
            )
        if self._uri and not _URI.fullmatch(value):
            raise ApiError(
                400,
                f"Invalid '{param}': expected a URL with a scheme (such as 'https:' or 'data:').",
                param=param,
                code="invalid_value",
            )


class _Boolean(Shape):
    expected = "a boolean"

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, bool):
            raise type_error(param, self.expected, value)


class _Integer(Shape):
    expected = "an integer"

    def check(self, value: Any, param: str) -> None:
        if not is_integer(value):
            raise type_error(param, self.expected, value)


class _Number(Shape):
    expected = "a decimal"

    def check(self, value: Any, param: str) -> None:
        if not is_number(value):
            raise type_error(param, self.expected, value)


class _Enum(Shape):
    expected = "a string"

    def __init__(self, values: tuple[str, ...]) -> None:
        self._values = values

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, str):
            raise type_error(param, self.expected, value)
        if value not in self._values:
            raise invalid_value(param, value, self._values)


class _Nullable(Shape):
    def __init__(self, inner: Shape) -> None:
        self._inner = inner
        self.expected = inner.expected

    def check(self, value: Any, param: str) -> None:
        if value is not None:
            self._inner.check(value, param)


class _Array(Shape):
    expected = "an array"

    def __init__(self, item: Shape, min_items: int, max_items: int | None) -> None:
        self._item = item
        self._min_items = min_items
        self._max_items = max_items

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, list):
            raise type_error(param, self.expected, value)
        if len(value) < self._min_items:
            if not value:
                raise empty_array(param)
            raise ApiError(
                400,
                f"Invalid '{param}': array too short. Expected an array with minimum length "
                f"{self._min_items}, but got an array with length {len(value)} instead.",
                param=param,
                code="array_below_min_length",
            )
        if self._max_items is not None and len(value) > self._max_items:
            raise ApiError(
                400,
                f"Invalid '{param}': array too long. Expected an array with maximum length "
                f"{self._max_items}, but got an array with length {len(value)} instead.",
                param=param,
                code="array_above_max_length",
            )
        for index, item in enumerate(value):
            self._item.check(item, f"{param}[{index}]")


class _Object(Shape):
    expected = "an object"

    def __init__(
        self, required: Mapping[str, Shape], optional: Mapping[str, Shape], closed: bool
    ) -> None:
        self._required = dict(required)
        self._optional = dict(optional)
        self._closed = closed

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, dict):
            raise type_error(param, self.expected, value)
        for name, shape in self._required.items():
            if name not in value:
                raise missing(f"{param}.{name}")
            shape.check(value[name], f"{param}.{name}")
        for name, shape in self._optional.items():
            if name in value:
                shape.check(value[name], f"{param}.{name}")
        if self._closed:
            for name in value:
                if name not in self._required and name not in self._optional:
                    raise ApiError(
                        400,
                        f"Unknown parameter: '{param}.{name}'.",
                        param=f"{param}.{name}",
                        code="unknown_parameter",
                    )


class _MapOf(Shape):
    expected = "an object"

    def __init__(self, values: Shape) -> None:
        self._values = values

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, dict):
            raise type_error(param, self.expected, value)
        for key, item in value.items():
            self._values.check(item, f"{param}.{key}")


class _AnyOf(Shape):
    def __init__(self, alternatives: tuple[Shape, ...]) -> None:
        self._alternatives = alternatives
        self.expected = " or ".join(shape.expected for shape in alternatives)

    def check(self, value: Any, param: str) -> None:
        deeper: ApiError | None = None
        for shape in self._alternatives:
            try:
                shape.check(value, param)
            except ApiError as error:
                # A branch that took the value's type and failed inside says more than a
                # bare type mismatch: report the first such failure.
                if deeper is None and not (error.code == "invalid_type" and error.param == param):
                    deeper = error
            else:
                return
        raise deeper or type_error(param, self.expected, value)


class _Tagged(Shape):
    expected = "an object"

    def __init__(self, key: str, variants: Mapping[str, Shape]) -> None:
        self._key = key
        self._variants = dict(variants)

    def check(self, value: Any, param: str) -> None:
        if not isinstance(value, dict):
            raise type_error(param, self.expected, value)
        tag_param = f"{param}.{self._key}"
        if self._key not in value:
            raise missing(tag_param)
        tag = value[self._key]
        if not isinstance(tag, str):
            raise type_error(tag_param, "a string", tag)
        if tag not in self._variants:
            raise invalid_value(tag_param, tag, tuple(self._variants))
        self._variants[tag].check(value, param)


BOOLEAN: Final[Shape] = _Boolean()
INTEGER: Final[Shape] = _Integer()
NUMBER: Final[Shape] = _Number()
STRING: Final[Shape] = _String(None, None, False)


def string(
    *, max_length: int | None = None, pattern: str | None = None, uri: bool = False
) -> Shape:
    """A string, optionally bounded in length, matching ``pattern`` or an absolute URI."""
    return _String(max_length, re.compile(pattern) if pattern else None, uri)


def enum(*values: str) -> Shape:
    """One of the given strings."""
    return _Enum(values)


def nullable(shape: Shape) -> Shape:
    """``shape`` or ``null``."""
    return _Nullable(shape)


def array(item: Shape, *, min_items: int = 0, max_items: int | None = None) -> Shape:
    """An array of ``item``, with optional length bounds."""
    return _Array(item, min_items, max_items)


def obj(
    required: Mapping[str, Shape] | None = None,
    optional: Mapping[str, Shape] | None = None,
    *,
    closed: bool = False,
) -> Shape:
    """An object with the listed properties (``closed``: no others)."""
    return _Object(required or {}, optional or {}, closed)


def map_of(values: Shape) -> Shape:
    """An object whose every property value has the shape ``values``."""
    return _MapOf(values)


def any_of(*alternatives: Shape) -> Shape:
    """A value matching at least one alternative (tried in order)."""
    return _AnyOf(alternatives)


def tagged(key: str, variants: Mapping[str, Shape]) -> Shape:
    """An object whose string property ``key`` selects the shape of the whole object."""
    return _Tagged(key, variants)
