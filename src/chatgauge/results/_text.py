"""Making endpoint text safe to store, ship and print.

Endpoint text (bodies, error messages, ids, model names) is whatever a server chose to send.
Three hazards are handled here, in this order, so that no later step can undo an earlier one:

1. **Secrets first.** A server may echo the API key. It is masked in the whole text before
   anything shortens it: shortening first can leave a prefix of the key that no longer
   matches the key and so survives redaction.
2. **Unencodable characters.** JSON may carry a lone surrogate (``"\\ud800"``), which Python
   decodes into a ``str`` that cannot be encoded as UTF-8: writing it would crash the
   report writer or the worker-to-master shipping. Each one becomes the visible text
   ``\\ud800``.
3. **Length**, last, by :func:`clip` (on code points, never inside an escape made above).

For terminals, :func:`terminal_text` also neutralises control characters (ANSI and OSC
escape sequences start with ESC or C1 characters), which would otherwise let an endpoint
rewrite the user's screen or title bar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from chatgauge._secret import Secret, redact

ELLIPSIS: Final = "…"

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# C0 controls but tab and newline, DEL, and the C1 range (U+0080-U+009F): each can start or
# be part of a terminal escape sequence.
_CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def encodable(text: str) -> str:
    """``text`` with every lone surrogate replaced by its visible ``\\uXXXX`` escape."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters: its start and its end around an ellipsis.

    The end is kept because that is where a body or stream shows how it ended (``[DONE]``
    or not, a closing brace or a cut).
    """
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    return f"{text[:half]} {ELLIPSIS} {text[-half:]}"


def safe_text(text: str, secret: Secret | None = None, limit: int | None = None) -> str:
    """Endpoint text fit to store: the secret masked, encodable, then cut to ``limit``."""
    text = encodable(redact(text, secret))
    return text if limit is None else clip(text, limit)


def terminal_text(text: str) -> str:
    """Text fit to print: control characters (escape sequences) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", encodable(text))


def safe_tree(value: Any, secret: Secret | None = None) -> Any:
    """JSON-ready data with :func:`safe_text` (no length limit) applied to every string,
    keys included: the last line of defence before a document is written or shipped."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, str):
        return safe_text(value, secret)
    if isinstance(value, Mapping):
        return {safe_tree(k, secret): safe_tree(v, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Columns of numbers are most of a load document: they pass without a call each.
        return [v if type(v) in _PLAIN else safe_tree(v, secret) for v in value]
    return value


_PLAIN: Final = frozenset({int, float, bool, type(None)})


__all__ = ["ELLIPSIS", "clip", "encodable", "safe_text", "safe_tree", "terminal_text"]
