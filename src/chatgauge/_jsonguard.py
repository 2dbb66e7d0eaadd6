"""JSON from endpoint bytes, parsed so that the only failure is a ``ValueError``.

``json.loads`` raises more than ``ValueError`` on hostile input: a document nested a few
thousand levels deep raises ``RecursionError`` from the C scanner, and one nested a few
hundred levels deep parses but then breaks whatever walks it recursively afterwards (schema
validation, the report writer). :func:`parse_json` turns the first into a ``ValueError`` and
refuses the second: no chat completion nests anywhere near :data:`MAX_JSON_DEPTH` levels
(the deepest, a logprobs entry, is 7).

Cost: one C-speed parse, plus, only when the text holds more brackets than the depth limit,
one iterative walk over the containers parsed (never over the scalars' text). Linear in the
input either way.
"""

from __future__ import annotations

import json
from typing import Any, Final

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of arrays and objects accepted (a bare scalar has depth 0)."""


class JSONTooDeep(ValueError):
    """The JSON nests arrays and objects deeper than the accepted limit."""


def parse_json(data: str | bytes | bytearray, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``data`` parsed as JSON; raises ``ValueError`` (and nothing else) when it is not JSON.

    Bytes are decoded as ``json.loads`` does (UTF-8, -16 or -32 by their first bytes).
    Nesting deeper than ``max_depth`` raises :class:`JSONTooDeep`, a ``ValueError``.
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if isinstance(value, dict | list) and _brackets(data) > max_depth:
        depth_over(value, max_depth)
    return value


def _brackets(data: str | bytes | bytearray) -> int:
    """How many ``[`` and ``{`` the text holds: an upper bound on its nesting depth."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def depth_over(value: Any, max_depth: int) -> None:
    """Raise :class:`JSONTooDeep` when ``value`` nests deeper than ``max_depth``.

    Iterative, so it cannot itself run out of stack whatever the depth.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


__all__ = ["MAX_JSON_DEPTH", "JSONTooDeep", "parse_json"]
