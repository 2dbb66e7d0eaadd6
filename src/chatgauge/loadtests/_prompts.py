"""What the load test asks: a built-in synthetic prompt set, or the user's JSONL file.

Synthetic prompts have a controlled input length: ``input_words`` words of deterministic
filler text (about 1.3 tokens per word for common tokenizers, so treat the length as
approximate), each prompt different from the others so a prefix cache cannot answer them
all from one entry. Output length is not a prompt property: it is set with ``max_tokens``.

A prompt file holds one JSON object per line, either ``{"messages": [...]}`` (chat
messages sent as they are) or ``{"prompt": "..."}`` (sent as one user message). Blank lines
are skipped. Anything else is a :class:`PromptFileError` naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from random import Random
from typing import Any, Final

Messages = list[dict[str, Any]]

SYNTHETIC_PROMPTS: Final = 64
_FILLER_WORDS: Final = (
    "river stone lantern orchard harbor meadow copper signal window garden thunder pocket "
    "violet ladder canyon marble feather compass winter engine silver bridge candle "
    "forest island rocket shadow velvet basket mirror planet saddle quartz ribbon summit "
    "tunnel"
)
_WORDS: Final = tuple(_FILLER_WORDS.split())


class PromptFileError(ValueError):
    """A prompt file that cannot be used; the message is one line naming file and line."""


class PromptSet:
    """A fixed list of message lists, handed out round-robin from a per-user offset."""

    def __init__(self, prompts: Sequence[Messages], source: str) -> None:
        if not prompts:
            raise PromptFileError(f"{source}: no prompts")
        self.prompts = list(prompts)
        self.source = source

    def __len__(self) -> int:
        return len(self.prompts)

    def pick(self, index: int) -> Messages:
        """The prompt at ``index`` modulo the set size."""
        return self.prompts[index % len(self.prompts)]


def synthetic_prompts(input_words: int, count: int = SYNTHETIC_PROMPTS, seed: int = 0) -> PromptSet:
    """``count`` single-message prompts of exactly ``input_words`` words each."""
    if input_words < 1:
        raise ValueError(f"input length must be at least 1 word, got {input_words}")
    rng = Random(seed)
    prompts: list[Messages] = []
    for number in range(count):
        lead = f"Request {number}: continue this text."
        filler = " ".join(rng.choice(_WORDS) for _ in range(max(input_words - 5, 0)))
        words = f"{lead} {filler}".split()[:input_words]
        prompts.append([{"role": "user", "content": " ".join(words)}])
    return PromptSet(prompts, f"synthetic ({input_words} words)")


def load_prompts(path: Path) -> PromptSet:
    """Read a JSONL prompt file (see the module docstring); raises :class:`PromptFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptFileError(f"cannot read prompt file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PromptFileError(f"{path}: not UTF-8 text") from None
    prompts: list[Messages] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            prompts.append(_messages(line, f"{path}:{number}"))
    if not prompts:
        raise PromptFileError(f"{path}: no prompts (expected one JSON object per line)")
    return PromptSet(prompts, str(path))


def _messages(line: str, where: str) -> Messages:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PromptFileError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(entry, dict):
        raise PromptFileError(f'{where}: expected an object with "messages" or "prompt"')
    if "messages" in entry:
        messages = entry["messages"]
        if not (isinstance(messages, list) and messages):
            raise PromptFileError(f'{where}: "messages" must be a non-empty list')
        for message in messages:
            if not (isinstance(message, dict) and isinstance(message.get("role"), str)):
                raise PromptFileError(f'{where}: every message needs a string "role"')
        return messages
    prompt = entry.get("prompt")
    if isinstance(prompt, str) and prompt:
        return [{"role": "user", "content": prompt}]
    raise PromptFileError(f'{where}: expected "messages" (a list) or "prompt" (a string)')
