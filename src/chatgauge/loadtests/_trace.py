"""Production traces to replay: arrival times and lengths (``--trace FILE``).

Two formats, told apart by the file's first line:

- the CSV of the public Azure LLM inference traces: a header naming ``TIMESTAMP``,
  ``ContextTokens`` and ``GeneratedTokens`` (other columns ignored); ``TIMESTAMP`` is a date
  and time (``2023-11-16 18:15:46.6805900``, fractions of any length, an optional ``T`` and
  ``Z``) or a number of seconds;
- JSONL: one ``{"timestamp": S, "input_tokens": N, "output_tokens": M}`` per line
  (``timestamp`` in seconds, any origin).

Rows are sorted by time and made relative to the first one; replay divides each offset by
the speed-up factor (``--trace-speedup 10``: ten times faster). A malformed row is a
:class:`TraceError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

AZURE_COLUMNS: Final = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
_FRACTION: Final = re.compile(r"(\d*)")


class TraceError(ValueError):
    """A trace file that cannot be replayed (one line naming file and line)."""


@dataclass(frozen=True)
class TraceRow:
    """One request of a trace: seconds after the first request, input and output tokens."""

    offset_s: float
    input_tokens: int
    output_tokens: int


def _seconds(text: str, where: str) -> float:
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    # Python 3.10's parser takes exactly six fractional digits; the Azure traces have seven.
    head, dot, tail = value.partition(".")
    if dot:
        match = _FRACTION.match(tail)
        digits, rest = (match.group(1), tail[match.end() :]) if match else ("", tail)
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    value = value.replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TraceError(f"{where}: {text!r} is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _count(text: object, where: str, name: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise TraceError(f"{where}: {name} {text!r} is not a whole number") from None
    if value < 0:
        raise TraceError(f"{where}: {name} must be 0 or more")
    return max(value, 1)


def _azure(text: str, source: str) -> list[tuple[float, int, int]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in AZURE_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise TraceError(f"{source}: the CSV header lacks {', '.join(missing)}")
    rows = []
    for number, row in enumerate(reader, start=2):
        where = f"{source}:{number}"
        rows.append(
            (
                _seconds(row["TIMESTAMP"] or "", where),
                _count(row["ContextTokens"], where, "ContextTokens"),
                _count(row["GeneratedTokens"], where, "GeneratedTokens"),
            )
        )
    return rows


def _jsonl(text: str, source: str) -> list[tuple[float, int, int]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            entry = json.loads(line)
            stamp = float(entry["timestamp"])
        except (ValueError, KeyError, TypeError):
            raise TraceError(
                f'{where}: expected {{"timestamp": S, "input_tokens": N, "output_tokens": M}}'
            ) from None
        if not math.isfinite(stamp):
            raise TraceError(f"{where}: timestamp must be a finite number")
        rows.append(
            (
                stamp,
                _count(entry.get("input_tokens"), where, "input_tokens"),
                _count(entry.get("output_tokens"), where, "output_tokens"),
            )
        )
    return rows


def load_trace(path: Path) -> list[TraceRow]:
    """The rows of a trace file, in time order from offset 0 (see the module docstring)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"cannot read trace {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not UTF-8 text") from None
    first = text.lstrip().split("\n", 1)[0]
    raw = _jsonl(text, str(path)) if first.startswith("{") else _azure(text, str(path))
    if not raw:
        raise TraceError(f"{path}: no requests")
    raw.sort(key=lambda row: row[0])
    start = raw[0][0]
    return [TraceRow(stamp - start, inp, out) for stamp, inp, out in raw]


__all__ = ["AZURE_COLUMNS", "TraceError", "TraceRow", "load_trace"]
