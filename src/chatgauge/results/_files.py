"""Writing and reading result files.

Every file is written atomically (a temporary file in the same directory, then
``os.replace``), so a reader, or a run interrupted while writing, never sees half a file.
A JSON document passes :func:`~chatgauge.results._text.safe_tree` on its way out: the API
key is masked and unencodable characters escaped in every string, whatever path the text
took to get there.

Reading goes through :func:`read_document`: a missing file, a file that is not JSON, not a
chatgauge result, of another ``schema_version`` or with a field of the wrong shape is
refused with one :class:`ResultError` line naming the file and the field.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final, TypeVar

from chatgauge._secret import Secret
from chatgauge.results._codec import DocumentError, JsonRecord
from chatgauge.results._text import safe_tree

MAX_RESULT_BYTES: Final = 256 * 1024 * 1024
"""A result file larger than this is refused (chatgauge never writes one that large)."""

R = TypeVar("R", bound=JsonRecord)


class ResultError(ValueError):
    """A file that is not a result chatgauge can read (message: one line, naming the file)."""


def write_atomic(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` in one step (readers never see half a file)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; a report is meant to be read by others, like a normal file.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def document_bytes(data: Any, secret: Secret | None = None, *, indent: int | None = 2) -> bytes:
    """The UTF-8 JSON text of ``data`` (JSON-ready), made safe by ``safe_tree``."""
    text = json.dumps(safe_tree(data, secret), indent=indent, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def write_document(path: Path, record: JsonRecord, secret: Secret | None = None) -> Path:
    """Write ``record`` as JSON at ``path`` atomically; returns ``path``."""
    write_atomic(path, document_bytes(record.to_json(), secret))
    return path


def read_json(path: Path) -> Any:
    """The parsed JSON of ``path``; :class:`ResultError` (one line) when it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_RESULT_BYTES:
            raise ResultError(f"{path}: {size} bytes, larger than any chatgauge result")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultError(f"{path}: is a directory, not a result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ResultError(f"{path}: not a chatgauge result (JSON nested too deeply)") from None


_KINDS: dict[str, tuple[int, type[JsonRecord]]] = {}


def register_kind(kind: str, schema_version: int, cls: type[R]) -> type[R]:
    """Make :func:`read_document` read documents whose ``kind`` is ``kind`` as ``cls``."""
    _KINDS[kind] = (schema_version, cls)
    return cls


def known_kinds() -> dict[str, tuple[int, type[JsonRecord]]]:
    """``{kind: (schema_version, class)}`` of every registered document kind."""
    _load_kinds()
    return dict(_KINDS)


_DOCUMENT_MODULES: Final = ("chatgauge.results.conformance", "chatgauge.results.load")


def _load_kinds() -> None:
    # The document modules register themselves on import; importing them here keeps this
    # module free of an import cycle while read_document still knows every kind.
    for name in _DOCUMENT_MODULES:
        importlib.import_module(name)


def parse_document(data: Any, path: Path | str = "<document>") -> JsonRecord:
    """The typed result that ``data`` (a parsed JSON document) holds; :class:`ResultError`
    naming ``path`` and the field when it is not one this chatgauge reads."""
    _load_kinds()
    if not isinstance(data, dict):
        raise ResultError(f"{path}: not a chatgauge result (the JSON is not an object)")
    kind = data.get("kind")
    if kind not in _KINDS:
        what = f"unknown kind {kind!r}" if kind is not None else "no 'kind' field"
        expected = " or ".join(f"{k}.json" for k in sorted(_KINDS))
        raise ResultError(f"{path}: not a chatgauge result ({what}); expected {expected}")
    version, cls = _KINDS[str(kind)]
    found = data.get("schema_version")
    if found != version:
        raise ResultError(
            f"{path}: field 'schema_version' is {found!r}, this chatgauge reads {kind} "
            f"documents of version {version} (re-run, or use the chatgauge that wrote it)"
        )
    try:
        return cls.from_json(data)
    except DocumentError as exc:
        raise ResultError(f"{path}: field '{exc.field}': {exc.problem}") from None


def read_document(path: Path) -> JsonRecord:
    """The typed result saved at ``path`` (a conformance or load run)."""
    return parse_document(read_json(path), path)


__all__ = [
    "MAX_RESULT_BYTES",
    "ResultError",
    "document_bytes",
    "known_kinds",
    "parse_document",
    "read_document",
    "read_json",
    "register_kind",
    "write_atomic",
    "write_document",
]
