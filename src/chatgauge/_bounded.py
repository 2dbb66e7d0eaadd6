"""Keeping what an endpoint sends within a fixed memory budget.

:class:`BodyKeeper` takes the body read by read and keeps it whole up to a size; beyond
that it keeps only the first and the last bytes, while the size and the SHA-256 still cover
every byte received. :class:`HeadTailKeeper` does the same for a sequence of items (events,
read sizes): the first ones and the last ones, the count of those between. Both cost
O(read) per read and never re-copy what they already hold, so a body trickled in millions
of tiny reads is as cheap to keep as one read in big pieces.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BodyDigest:
    """What is known of a whole response body, kept or not.

    ``size`` counts every body byte received (for a request ended by a limit or a
    transport failure: those that arrived); ``sha256`` is their hex digest. ``kept_whole``
    says whether the exchange's ``raw`` holds them all; when it does not, ``raw`` is the
    first bytes and ``tail`` the last ones (the two never overlap).
    """

    size: int
    sha256: str
    kept_whole: bool = True
    tail: bytes = b""

    @classmethod
    def of(cls, body: bytes) -> BodyDigest:
        """The digest of a body held whole."""
        return cls(len(body), hashlib.sha256(body).hexdigest())

    def describe(self) -> str:
        """``1234 bytes, sha256 ab12...``, plus ``, not kept whole`` for a cut body."""
        text = f"{self.size} bytes, sha256 {self.sha256}"
        return text if self.kept_whole else f"{text}, not kept whole"


class BodyKeeper:
    """The body read by read: whole up to ``keep_bytes``, else head and tail excerpts."""

    def __init__(self, keep_bytes: int, excerpt_bytes: int) -> None:
        self._keep = keep_bytes
        self._excerpt = min(excerpt_bytes, keep_bytes)
        self._whole = bytearray()
        self._head = b""
        self._tail = bytearray()
        self._hash = hashlib.sha256()
        self.size = 0
        self.kept_whole = True

    def add(self, piece: bytes) -> None:
        """Take the next read of the body."""
        self.size += len(piece)
        self._hash.update(piece)
        if self.kept_whole:
            self._whole += piece
            if len(self._whole) <= self._keep:
                return
            # Past the keep limit: from now on only the head and a rolling tail are held.
            self.kept_whole = False
            self._head = bytes(self._whole[: self._excerpt])
            self._tail = bytearray(self._whole[self._excerpt :][-self._excerpt :])
            self._whole = bytearray()
            return
        tail = self._tail
        tail += piece[-self._excerpt :]
        if len(tail) > 2 * self._excerpt:
            # Trim in bulk, not per read: each byte is moved a bounded number of times.
            del tail[: len(tail) - self._excerpt]

    def raw(self) -> bytes:
        """The body kept whole, or its head when it was too long to keep."""
        return bytes(self._whole) if self.kept_whole else self._head

    def digest(self) -> BodyDigest:
        """Size, SHA-256 and, for a body not kept whole, its tail."""
        if self.kept_whole:
            return BodyDigest(self.size, self._hash.hexdigest())
        tail = bytes(self._tail[-self._excerpt :])
        return BodyDigest(self.size, self._hash.hexdigest(), kept_whole=False, tail=tail)


class HeadTailKeeper(Generic[T]):
    """The first ``head`` items and the last ``tail`` ones; those between are counted."""

    def __init__(self, head: int, tail: int) -> None:
        self._head_size = head
        self.head: list[T] = []
        self.tail: deque[T] = deque(maxlen=tail) if tail else deque(maxlen=0)
        self.count = 0

    def add(self, item: T) -> None:
        """Take the next item."""
        self.count += 1
        if len(self.head) < self._head_size:
            self.head.append(item)
        elif self.tail.maxlen:
            self.tail.append(item)

    def extend(self, items: Iterable[T]) -> None:
        """Take several items, in order."""
        for item in items:
            self.add(item)

    @property
    def omitted(self) -> int:
        """How many items were counted but not kept (they came between head and tail)."""
        return self.count - len(self.head) - len(self.tail)

    def kept(self) -> tuple[T, ...]:
        """The kept items in arrival order: the head, then the tail."""
        return (*self.head, *self.tail)


__all__ = ["BodyDigest", "BodyKeeper", "HeadTailKeeper"]
