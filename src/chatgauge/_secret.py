"""A wrapper that keeps API keys out of reprs, logs, reports and error text."""

from __future__ import annotations

from typing import Final

_MASK: Final = "***"


class Secret:
    """Holds a secret string; only :meth:`reveal` gives it back.

    ``str()``, ``repr()`` and formatting all show a mask, so a secret that ends up in an
    f-string, a log record, an exception message or a dataclass repr leaks nothing.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself: only for the one place that must send it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickling is needed for xdist / multiprocessing; it keeps the value, never prints it.
        return (Secret, (self._value,))


def redact(text: str, *secrets: Secret | None) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with a mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), _MASK)
    return text
