"""Make a JSON value that validates against a JSON Schema (the subset OpenAI's strict mode uses).

Supported: ``type`` (one or a list), ``object`` with ``properties`` / ``required`` /
``additionalProperties``, ``array`` with ``items`` / ``minItems`` / ``maxItems``, ``string``
with ``minLength`` / ``maxLength``, ``number`` and ``integer`` with ``minimum`` / ``maximum``
(and the exclusive forms), ``boolean``, ``null``, ``enum``, ``const``, ``anyOf`` / ``oneOf``
(the first alternative), ``allOf`` (merged), and local ``$ref`` into ``$defs`` /
``definitions``. Every property is filled in, as strict mode requires them all; past a
nesting depth only required properties are, so recursive schemas end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from random import Random
from typing import Any, Final

_MAX_DEPTH: Final = 6
_WORDS: Final = ("alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "tango", "zulu")


def schema_instance(schema: Mapping[str, Any], rng: Random) -> Any:
    """A value valid for ``schema``, chosen with ``rng`` (same rng state, same value)."""
    return _Instance(schema, rng).make(schema, 0)


class _Instance:
    def __init__(self, root: Mapping[str, Any], rng: Random) -> None:
        self._root = root
        self._rng = rng

    def make(self, schema: Mapping[str, Any], depth: int) -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            alternatives = schema.get(key)
            if isinstance(alternatives, list) and alternatives:
                return self.make(alternatives[0], depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.make(self._merge(schema), depth + 1)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 32:
            target: Any = self._root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                if part:
                    target = target.get(part, {}) if isinstance(target, Mapping) else {}
            schema = target if isinstance(target, Mapping) else {}
            seen += 1
        return schema

    def _merge(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties = dict(merged.get("properties", {}))
        required = list(merged.get("required", []))
        for part in schema["allOf"]:
            part = self._resolve(part)
            for key, value in part.items():
                if key == "properties":
                    properties.update(value)
                elif key == "required":
                    required.extend(value)
                else:
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
            merged["required"] = required
        return merged

    def _type(self, schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            # Prefer a non-null type so the output carries some content.
            concrete = [k for k in kind if k != "null"]
            return str(concrete[0] if concrete else "null")
        if isinstance(kind, str):
            return kind
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required: Sequence[str] = schema.get("required") or ()
        result: dict[str, Any] = {}
        for name, subschema in properties.items():
            if depth < _MAX_DEPTH or name in required:
                result[name] = self.make(subschema, depth + 1)
        for name in required:
            if name not in result:
                result[name] = self._string({})
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, 3)))
        count = max(low, min(high, 1 if depth >= _MAX_DEPTH else self._rng.randint(1, 3)))
        items = schema.get("items")
        item_schema: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
        return [self.make(item_schema, depth + 1) for _ in range(count)]

    def _integer(self, schema: Mapping[str, Any]) -> int:
        low = schema.get("minimum", 0)
        high = schema.get("maximum", max(low, 0) + 100)
        if "exclusiveMinimum" in schema:
            low = max(low, schema["exclusiveMinimum"] + 1)
        if "exclusiveMaximum" in schema:
            high = min(high, schema["exclusiveMaximum"] - 1)
        low, high = math.ceil(low), math.floor(high)
        return self._rng.randint(low, max(low, high))

    def _number(self, schema: Mapping[str, Any]) -> float:
        low = float(schema.get("minimum", 0.0))
        high = float(schema.get("maximum", max(low, 0.0) + 100.0))
        if "exclusiveMinimum" in schema:
            low = max(low, float(schema["exclusiveMinimum"]) + 0.01)
        if "exclusiveMaximum" in schema:
            high = min(high, float(schema["exclusiveMaximum"]) - 0.01)
        value = round(self._rng.uniform(low, max(low, high)), 2)
        return min(max(value, low), max(low, high))

    def _string(self, schema: Mapping[str, Any]) -> str:
        text = self._rng.choice(_WORDS)
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", max(low, len(text))))
        while len(text) < low:
            text += self._rng.choice(_WORDS)
        return text[: max(low, high)]
