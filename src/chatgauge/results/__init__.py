"""Typed result values of chatgauge runs, their JSON form and the files they live in.

This layer sits below ``conformance/``, ``loadtests/`` and ``reports/``: those produce and
consume the values defined here and meet nowhere else. It owns the JSON form of every result
(``to_json`` / ``from_json`` side by side, a ``schema_version``, a shipped JSON Schema per
document), atomic writes, redaction of the API key and the making-safe of endpoint text.
"""

from chatgauge.results._codec import DocumentError, JsonRecord
from chatgauge.results._files import (
    ResultError,
    parse_document,
    read_document,
    write_atomic,
    write_document,
)
from chatgauge.results._text import clip, encodable, safe_text, safe_tree, terminal_text

__all__ = [
    "DocumentError",
    "JsonRecord",
    "ResultError",
    "clip",
    "encodable",
    "parse_document",
    "read_document",
    "safe_text",
    "safe_tree",
    "terminal_text",
    "write_atomic",
    "write_document",
]
