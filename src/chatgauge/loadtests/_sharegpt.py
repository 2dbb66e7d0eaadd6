"""Request datasets: ShareGPT-format conversations and JSONL prompts with their own lengths.

``--dataset FILE`` takes either

- a ShareGPT JSON file: a list of ``{"conversations": [{"from": "human"|"gpt"|"system",
  "value": "..."}, ...]}`` (the format of the public ShareGPT dumps vLLM's benchmarks use).
  Each conversation with a human turn followed by a gpt turn is one request: the messages up
  to that first human turn are sent, and the gpt answer's length (in words, turned into
  tokens by the calibration) is the asked output length; or
- a JSONL file (also what ``--prompts`` reads), one object per line: ``{"messages": [...]}``
  or ``{"prompt": "..."}``, with optional ``"max_tokens"`` (the request's own output limit)
  and ``"input_tokens"`` (its known input length, recorded as asked).

A malformed file is a :class:`~chatgauge.loadtests._prompts.PromptFileError` naming the file
and the entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chatgauge.loadtests._prompts import Messages, PromptFileError, _messages

ROLES: Final = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant",
                "assistant": "assistant", "system": "system"}  # fmt: skip


@dataclass(frozen=True)
class DatasetEntry:
    """One request of a dataset: its messages and, when known, its lengths.

    ``answer_words`` is the length of the dataset's own answer (ShareGPT), to be turned into
    tokens; ``max_tokens`` a per-request limit given as such (JSONL).
    """

    messages: Messages
    max_tokens: int | None = None
    input_tokens: int | None = None
    answer_words: int | None = None


def _positive(value: Any, where: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PromptFileError(f"{where}: {name!r} must be a whole number >= 1")
    return value


def _jsonl(text: str, source: str) -> list[DatasetEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        messages = _messages(line, where)
        entry = json.loads(line)
        entries.append(
            DatasetEntry(
                messages=messages,
                max_tokens=_positive(entry.get("max_tokens"), where, "max_tokens"),
                input_tokens=_positive(entry.get("input_tokens"), where, "input_tokens"),
            )
        )
    return entries


def _sharegpt(data: Any, source: str) -> list[DatasetEntry]:
    if not isinstance(data, list):
        raise PromptFileError(f"{source}: a ShareGPT file is a JSON list of conversations")
    entries = []
    for number, item in enumerate(data):
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(turns, list):
            raise PromptFileError(f'{source}[{number}]: expected {{"conversations": [...]}}')
        messages: Messages = []
        for turn in turns:
            role = ROLES.get(turn.get("from", "")) if isinstance(turn, dict) else None
            value = turn.get("value") if isinstance(turn, dict) else None
            if role is None or not isinstance(value, str):
                raise PromptFileError(
                    f'{source}[{number}]: every turn needs "from" (human, gpt or system) and '
                    'a string "value"'
                )
            if role == "assistant":
                if any(m["role"] == "user" for m in messages):
                    entries.append(DatasetEntry(messages, answer_words=len(value.split()) or 1))
                break
            messages.append({"role": role, "content": value})
    if not entries:
        raise PromptFileError(f"{source}: no conversation has a human turn answered by gpt")
    return entries


def load_dataset(path: Path) -> list[DatasetEntry]:
    """Every request of a ShareGPT JSON or JSONL file (see the module docstring)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptFileError(f"cannot read dataset {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PromptFileError(f"{path}: not UTF-8 text") from None
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PromptFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        return _sharegpt(data, str(path))
    entries = _jsonl(text, str(path))
    if not entries:
        raise PromptFileError(f"{path}: no requests")
    return entries


__all__ = ["DatasetEntry", "load_dataset"]
