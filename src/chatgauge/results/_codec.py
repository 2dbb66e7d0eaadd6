"""The JSON form of result values, derived once from their dataclass fields and type hints.

Every result value is a frozen dataclass whose fields use a small set of types: ``str``,
``int``, ``float``, ``bool``, ``None``, ``Literal[...]``, ``str`` enums, ``X | None``,
``list[X]`` / ``tuple[X, ...]`` (JSON arrays), ``dict[str, X]`` (JSON objects with any keys),
other result dataclasses (JSON objects with exactly their fields) and :data:`JsonValue`
(any JSON, kept as it is: a request body, free-form evidence). From those hints this module
derives three things that therefore never disagree:

- :func:`encode`: a value to JSON-ready data (a field's JSON key is its name);
- :func:`decode`: JSON data back to a value, checking every type and naming the field that
  is wrong (``checks[3].status: expected one of 'passed', ...; got 'green'``), so a foreign
  or damaged file gives one line, never a ``KeyError``;
- :func:`json_schema`: a JSON Schema (draft 2020-12) of the document, which is shipped.

A field with a default may be absent when decoding (it takes the default); every field is
always written, and the schema requires every field, so the schema is the contract of what
chatgauge writes while readers stay tolerant of older writers of the same version.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Final, TypeVar, Union

JsonValue = Any
"""Marks a field whose content is arbitrary JSON (kept, never interpreted by the codec)."""

T = TypeVar("T")

_SCALARS: Final = {str: "string", int: "integer", float: "number", bool: "boolean"}


class DocumentError(ValueError):
    """Data that does not have the shape of the expected result value.

    ``field`` is the dotted path of the offending field (``""`` for the document itself);
    the message is one line: the field, then what is wrong.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


_HINTS: dict[type, dict[str, Any]] = {}
_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(f for f in dataclasses.fields(cls) if f.init)
    return found


def _describe(data: object) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


# -- encoding ---------------------------------------------------------------------------------


def encode(value: object) -> Any:
    """JSON-ready data for a result value (dataclasses become objects, enums their values)."""
    kind = type(value)
    # Plain scalars first: they are most of a document (columns of numbers).
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float and isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in _fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        # A column of plain numbers (most of a load document) passes without a call each.
        return [
            item
            if type(item) is int or (type(item) is float and math.isfinite(item))
            else encode(item)
            for item in value
        ]
    if isinstance(value, Mapping):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN or infinity; a figure that cannot be computed is written as null.
        return None
    return value


# -- decoding ---------------------------------------------------------------------------------


def decode(tp: Any, data: object, where: str = "") -> Any:
    """The value of type ``tp`` that ``data`` (parsed JSON) encodes; :class:`DocumentError`
    naming the field when it does not fit."""
    if tp in _SCALARS:
        return _decode_scalar(tp, data, where)
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if tp is type(None):
        if data is not None:
            raise DocumentError(where, f"expected null, got {_describe(data)}")
        return None
    if origin in (Union, types.UnionType):
        return _decode_union(typing.get_args(tp), data, where)
    if origin is typing.Literal:
        options = typing.get_args(tp)
        if data not in options or isinstance(data, bool) != any(
            isinstance(o, bool) for o in options
        ):
            shown = ", ".join(repr(o) for o in options)
            raise DocumentError(where, f"expected one of {shown}; got {_describe(data)}")
        return data
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            shown = ", ".join(repr(m.value) for m in tp)
            raise DocumentError(where, f"expected one of {shown}; got {_describe(data)}") from None
    if origin in (list, tuple):
        return _decode_array(tp, origin, data, where)
    if origin in (dict, Mapping) or origin is typing.get_origin(Mapping[str, Any]):
        return _decode_object(typing.get_args(tp)[1], data, where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, where)
    if tp in _SCALARS:
        return _decode_scalar(tp, data, where)
    raise TypeError(f"the results codec cannot decode {tp!r}")  # a programming error


def _decode_union(options: tuple[Any, ...], data: object, where: str) -> Any:
    if data is None and type(None) in options:
        return None
    rest = [o for o in options if o is not type(None)]
    if len(rest) == 1:
        return decode(rest[0], data, where)
    errors = []
    for option in rest:
        try:
            return decode(option, data, where)
        except DocumentError as exc:
            errors.append(exc)
    raise errors[0]


def _decode_array(tp: Any, origin: Any, data: object, where: str) -> Any:
    if not isinstance(data, list):
        raise DocumentError(where, f"expected an array, got {_describe(data)}")
    args = typing.get_args(tp)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(data) != len(args):
            raise DocumentError(where, f"expected {len(args)} items, got {len(data)}")
        pairs = enumerate(zip(args, data, strict=True))
        return tuple(decode(a, item, _join(where, i)) for i, (a, item) in pairs)
    item_type = args[0] if args else Any
    if item_type in _SCALARS and all(type(item) is item_type for item in data):
        # Arrays of one plain scalar type (stamps, columns) need no per-item conversion.
        return tuple(data) if origin is tuple else list(data)
    items = [decode(item_type, item, _join(where, i)) for i, item in enumerate(data)]
    return tuple(items) if origin is tuple else items


def _decode_object(value_type: Any, data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DocumentError(where, f"expected an object, got {_describe(data)}")
    return {str(k): decode(value_type, v, _join(where, str(k))) for k, v in data.items()}


def _decode_dataclass(cls: type[T], data: object, where: str) -> T:
    if not isinstance(data, dict):
        raise DocumentError(where, f"expected an object, got {_describe(data)}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in _fields(cls):
        if f.name in data:
            values[f.name] = decode(hints[f.name], data[f.name], _join(where, f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DocumentError(_join(where, f.name), "missing")
    return cls(**values)


def _decode_scalar(tp: type, data: object, where: str) -> Any:
    # JSON has one number type: an integral float is a fine int, an int a fine float; a
    # bool is never a number (Python's bool is an int subclass, JSON's true is not 1).
    if isinstance(data, bool) is not (tp is bool):
        raise DocumentError(where, f"expected {_SCALARS[tp]}, got {_describe(data)}")
    if tp is float and isinstance(data, int):
        return float(data)
    if tp is int and isinstance(data, float) and data.is_integer():
        return int(data)
    if not isinstance(data, tp):
        raise DocumentError(where, f"expected {_SCALARS[tp]}, got {_describe(data)}")
    return data


# -- JSON Schema ------------------------------------------------------------------------------


def json_schema(root: type, *, title: str, schema_id: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of documents of the dataclass ``root``.

    Each dataclass becomes a definition under ``$defs`` (its docstring its description); a
    field's ``metadata["description"]``, when given, describes the field.
    """
    definitions: dict[str, Any] = {}
    body = _schema_of(root, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **body,
        "$defs": dict(sorted(definitions.items())),
    }


def _schema_of(tp: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(a, definitions) for a in typing.get_args(tp)]}
    if origin is typing.Literal:
        options = list(typing.get_args(tp))
        return {"const": options[0]} if len(options) == 1 else {"enum": options}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return {
                "type": "array",
                "prefixItems": [_schema_of(a, definitions) for a in args],
                "items": False,
            }
        return {"type": "array", "items": _schema_of(args[0] if args else Any, definitions)}
    if origin in (dict, Mapping) or origin is typing.get_origin(Mapping[str, Any]):
        return {
            "type": "object",
            "additionalProperties": _schema_of(typing.get_args(tp)[1], definitions),
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in definitions:
            definitions[name] = {}  # placeholder: recursive types refer to it by name
            definitions[name] = _dataclass_schema(tp, definitions)
        return {"$ref": f"#/$defs/{name}"}
    if tp is float:
        return {"type": "number"}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    raise TypeError(f"the results codec has no schema for {tp!r}")


def _dataclass_schema(cls: type, definitions: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    properties: dict[str, Any] = {}
    for f in _fields(cls):
        schema = _schema_of(hints[f.name], definitions)
        description = f.metadata.get("description")
        if description:
            schema = {**schema, "description": str(description)}
        properties[f.name] = schema
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    return {
        "type": "object",
        "description": " ".join(doc.split()),
        "properties": properties,
        "required": [f.name for f in _fields(cls)],
        "additionalProperties": False,
    }


class JsonRecord:
    """Base of the result dataclasses: ``to_json`` and ``from_json`` side by side."""

    def to_json(self) -> dict[str, Any]:
        """This value as JSON-ready data (the inverse of :meth:`from_json`)."""
        data: dict[str, Any] = encode(self)
        return data

    @classmethod
    def from_json(cls: type[T], data: object, where: str = "") -> T:
        """The value ``data`` encodes; :class:`DocumentError` naming the field otherwise."""
        value: T = _decode_dataclass(cls, data, where)
        return value


__all__ = ["DocumentError", "JsonRecord", "JsonValue", "decode", "encode", "json_schema"]
