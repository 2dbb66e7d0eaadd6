"""Turning event payloads into the bytes of a ``text/event-stream``, plainly or unusually.

Plain framing is ``data: PAYLOAD\\n\\n`` in one write per event. The framing variants of
:data:`FRAMINGS` change only how the same payloads are framed, never what a WHATWG-conformant
decoder dispatches, so every combination decodes to the same data as the plain framing.
"""

from __future__ import annotations

import itertools
import json
from random import Random
from typing import Final

from chatgauge.server._faults import Framing

BOM: Final = "\ufeff".encode()
RETRY_MS: Final = 3000
_FRAGMENT_SIZES: Final = (1, 7)


class EventEncoder:
    """Encodes one stream's payloads, keeping the per-stream state (event ids, first event)."""

    def __init__(self, framings: frozenset[str], rng: Random) -> None:
        self._framings = framings
        self._rng = rng
        self._plain = not framings & _WIRE_FRAMINGS
        self._eol = "\r\n" if Framing.CRLF in framings else "\r" if Framing.CR in framings else "\n"
        self._separator = ":" if Framing.NO_SPACE in framings else ": "
        self._sent = 0

    def encode(self, payload: bytes) -> list[bytes]:
        """The writes that carry one event whose data is ``payload``."""
        if self._plain:
            return [b"data: " + payload + b"\n\n"]
        eol, sep = self._eol, self._separator
        lines: list[str] = []
        if Framing.COMMENTS in self._framings:
            # A bare ':' opens the stream (llama.cpp style), ': ping' precedes later events.
            lines += [":" if self._sent == 0 else ": ping", ""]
        if Framing.ID_RETRY in self._framings:
            if self._sent == 0:
                lines.append(f"retry{sep}{RETRY_MS}")
            lines.append(f"id{sep}{self._sent + 1}")
        lines += [f"data{sep}{line}" for line in self._data_lines(payload)]
        text = eol.join(lines) + eol + eol
        data = text.encode(errors="surrogateescape")
        if self._sent == 0 and Framing.BOM in self._framings:
            data = BOM + data
        self._sent += 1
        if Framing.FRAGMENTED in self._framings:
            return fragment(data, self._rng)
        return [data]

    def _data_lines(self, payload: bytes) -> list[str]:
        # surrogateescape carries the bytes of the invalid-utf8 fault through unchanged.
        text = payload.decode(errors="surrogateescape")
        if Framing.MULTILINE_DATA not in self._framings or not text.startswith("{"):
            return [text]
        # indent=0 puts a newline only where JSON allows whitespace; the decoder joins the
        # data lines with "\n", which gives back an equivalent JSON text.
        return json.dumps(json.loads(text), indent=0, ensure_ascii=False).split("\n")


_WIRE_FRAMINGS: Final = frozenset(
    {
        Framing.CRLF,
        Framing.CR,
        Framing.COMMENTS,
        Framing.FRAGMENTED,
        Framing.NO_SPACE,
        Framing.MULTILINE_DATA,
        Framing.ID_RETRY,
        Framing.BOM,
    }
)


def fragment(data: bytes, rng: Random) -> list[bytes]:
    """``data`` in 1-7 byte pieces, always also split between CR and LF and inside each
    multibyte UTF-8 character, so readers meet every awkward boundary."""
    cuts = set()
    position = 0
    while position < len(data):
        position += rng.randint(*_FRAGMENT_SIZES)
        cuts.add(min(position, len(data)))
    for index, byte in enumerate(data):
        # Cut between CR and LF, and right after the lead byte of a multibyte sequence.
        if (byte == 0x0D and data[index + 1 : index + 2] == b"\n") or byte >= 0xC0:
            cuts.add(index + 1)
    edges = [0, *sorted(cuts)]
    return [data[start:end] for start, end in itertools.pairwise(edges) if end > start]
