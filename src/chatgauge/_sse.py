"""Sans-I/O decoder for ``text/event-stream`` (WHATWG HTML, "Interpreting an event stream").

Bytes go in through :meth:`SSEDecoder.feed` in reads of any size, dispatched events come
out; there are no sockets inside. However the stream is split into reads, the events and
the facts are the same.

Rules implemented (WHATWG, exactly):

- The stream is UTF-8, decoded incrementally: a character split across reads is joined,
  invalid bytes become U+FFFD. One BOM at the very start of the stream is stripped; a
  later U+FEFF is an ordinary character.
- A line ends with CRLF, LF or a lone CR, nothing else (U+2028, U+0085 and friends are
  ordinary characters). A CR that ends a read is held back until the next byte shows
  whether it starts a CRLF; at EOF it ends its line.
- A blank line dispatches: with an empty data buffer (no ``data`` field since the last
  dispatch) nothing is dispatched; otherwise the event carries the ``data`` values joined
  with ``\\n``, the type from ``event`` (``"message"`` when unset) and the last event id.
  The data and type buffers are then reset; the last event id is not.
- A line starting with ``:`` is a comment. Otherwise the field name is the text before
  the first ``:`` and the value the text after it, minus one leading space; a line
  without a colon is a field name with an empty value.
- ``data`` appends its value to the data buffer; ``event`` sets the type; ``id`` sets the
  last event id unless the value contains U+0000 (the id persists across events);
  ``retry`` sets the reconnection time when the value is ASCII digits only (values beyond
  4300 significant digits saturate at ``10**4300 - 1``, Python's own limit for converting
  text to int); any other field is ignored.
- At EOF (:meth:`SSEDecoder.close`) an event without its closing blank line is
  discarded, and so is a partial last line.

Public contract:

- ``SSEEvent``: frozen ``(data: str, event: str = "message", last_event_id: str = "")``.
- ``FramingFacts``: a frozen snapshot of byte-level observations, never judgements (see
  the class docstring for each field).
- ``SSEDecoder(max_line_bytes=16 MiB)``: ``feed(data: bytes) -> list[SSEEvent]``;
  ``close() -> list[SSEEvent]``; ``facts -> FramingFacts``; ``retry_ms -> int | None``
  (last valid retry); ``last_event_id -> str``.
- ``SSEDecodeError(ValueError)``: the only exception ``feed``/``close`` raise, when a
  single line exceeds ``max_line_bytes`` (then the subclass :class:`SSELineTooLong`, also a
  :class:`~chatgauge._limits.LimitExceeded`) or ``feed`` is called after ``close``.

Bounded whatever the stream: the decoder holds at most one line (``max_line_bytes``) and
the current event's data, and its facts keep a fixed number of bounded items (see
:class:`FramingFacts`); each byte fed costs O(1) work however the stream is split into reads
(a long line arriving in tiny reads is joined once, when it ends).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from chatgauge._limits import LimitExceeded, format_size

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "OTHER_FIELD_NAMES",
    "FramingFacts",
    "SSEDecodeError",
    "SSEDecoder",
    "SSEEvent",
    "SSELineTooLong",
]

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line (UTF-8 length of its decoded text, line end excluded) a decoder accepts."""

OTHER_FIELD_NAMES = ":other"
"""The ``other_fields`` key counting field names beyond the first 64 distinct ones and
names longer than 128 characters (a real field name cannot contain a colon)."""

_COMMENTS_KEPT = 20
_COMMENT_CHARS_KEPT = 1024
_FIELD_NAMES_KEPT = 64
_FIELD_NAME_CHARS = 128
_RETRY_VALUES_KEPT = 100
# The unterminated tail keeps the last lines since the last blank line, each clipped.
_TAIL_LINES = 64
_TAIL_LINE_CHARS = 4096
# Data lines of one event are joined into one string every this many lines, so an event of
# millions of short lines does not hold millions of string objects.
_DATA_COMPACT_LINES = 4096
_RETRY_DIGITS_LIMIT = 4300
_RETRY_SATURATED: int = 10**_RETRY_DIGITS_LIMIT - 1
_LINE_END = re.compile(r"(\r\n|\r|\n)")
_STYLE = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
_utf8_decode = codecs.utf_8_decode


class SSEDecodeError(ValueError):
    """A line longer than the decoder's limit, or :meth:`SSEDecoder.feed` after ``close``."""


class SSELineTooLong(SSEDecodeError, LimitExceeded):
    """A line longer than ``max_line_bytes``; ``limit`` is ``"max_line_bytes"``."""

    def __init__(self, message: str) -> None:
        LimitExceeded.__init__(self, "max_line_bytes", message)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its data, its type and the last event id at dispatch time."""

    data: str
    event: str = "message"
    last_event_id: str = ""


@dataclass(frozen=True)
class FramingFacts:
    """What the byte stream looked like; observations only, the checks judge them.

    - ``line_endings``: how many lines ended with ``"LF"``, ``"CRLF"`` and ``"CR"``.
    - ``bom``: the stream started with a byte order mark (stripped).
    - ``fields_without_space``: field lines whose colon is followed by a non-empty value
      that does not start with a space (``data:{...}``); ``data_without_space``: the same,
      ``data`` fields only.
    - ``comments``: the first 20 comment texts (after the ``:``; each cut to its first 1024
      characters); ``comment_count``: all of them; ``comments_after_id``: comments that
      came after any ``id`` field.
    - ``other_fields``: how often each field name other than ``data`` was seen (``event``,
      ``id``, ``retry`` and unknown names alike); past 64 distinct names, and for names
      longer than 128 characters, under the key :data:`OTHER_FIELD_NAMES`.
    - ``multiline_data_events``: dispatched events built from more than one ``data`` line.
    - ``empty_dispatches``: blank lines that dispatched nothing (empty data buffer).
    - ``retry_values``: the first 100 valid ``retry`` values, in order.
    - ``invalid_utf8``: some bytes were not UTF-8 and were replaced with U+FFFD.
    - ``unterminated_tail``: the text after the last blank line, discarded at EOF, line
      ends written as ``\\n`` ('' when the stream ended with a blank line). Bounded: only
      its last 64 lines (after a first line ``…`` when more came), each longer than 4096
      characters cut to its first and last 2048 around ``…``.
    - ``bytes_seen``: bytes fed so far.
    """

    line_endings: Mapping[str, int]
    bom: bool
    fields_without_space: int
    data_without_space: int
    comments: tuple[str, ...]
    comment_count: int
    comments_after_id: int
    other_fields: Mapping[str, int]
    multiline_data_events: int
    empty_dispatches: int
    retry_values: tuple[int, ...]
    invalid_utf8: bool
    unterminated_tail: str
    bytes_seen: int


class SSEDecoder:
    """Incremental event-stream decoder: ``feed`` reads in, ``close`` at EOF, events out."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._max_line_bytes = max_line_bytes
        # A decoded line can be longer in UTF-8 than in characters by at most 4x; shorter
        # lines skip the exact (encoding) length check.
        self._cheap_line_chars = max_line_bytes // 4
        self._closed = False
        # decoding
        self._undecoded = b""
        self._at_start = True
        self._invalid_utf8 = False
        self._bom = False
        # line splitting: the partial line is kept in pieces, joined once when it ends
        self._parts: list[str] = []
        self._parts_chars = 0
        self._parts_bytes = -1  # its exact UTF-8 size, once long enough to need it
        self._cr_pending = False
        self._since_blank: list[str] = []
        self._tail_cut = False
        # event buffers
        self._data: list[str] = []
        self._data_compact_at = _DATA_COMPACT_LINES
        self._event_type = ""
        self._last_event_id = ""
        self._retry_ms: int | None = None
        # facts
        self._bytes_seen = 0
        self._endings = {"LF": 0, "CRLF": 0, "CR": 0}
        self._no_space = 0
        self._data_no_space = 0
        self._comments: list[str] = []
        self._comment_count = 0
        self._comments_after_id = 0
        self._seen_id = False
        self._other_fields: dict[str, int] = {}
        self._multiline = 0
        self._empty_dispatches = 0
        self._retry_values: list[int] = []
        self._tail = ""

    @property
    def retry_ms(self) -> int | None:
        """The last valid ``retry`` value, ``None`` when there was none."""
        return self._retry_ms

    @property
    def last_event_id(self) -> str:
        """The last event id buffer (set by ``id`` fields, kept across events)."""
        return self._last_event_id

    @property
    def facts(self) -> FramingFacts:
        """A snapshot of the framing observations so far."""
        return FramingFacts(
            line_endings=MappingProxyType(dict(self._endings)),
            bom=self._bom,
            fields_without_space=self._no_space,
            data_without_space=self._data_no_space,
            comments=tuple(self._comments),
            comment_count=self._comment_count,
            comments_after_id=self._comments_after_id,
            other_fields=MappingProxyType(dict(self._other_fields)),
            multiline_data_events=self._multiline,
            empty_dispatches=self._empty_dispatches,
            retry_values=tuple(self._retry_values),
            invalid_utf8=self._invalid_utf8,
            unterminated_tail=self._tail,
            bytes_seen=self._bytes_seen,
        )

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Take the next read of the stream; return the events it completed."""
        if self._closed:
            raise SSEDecodeError("feed() called after close()")
        self._bytes_seen += len(data)
        text = self._decode(data, final=False)
        events: list[SSEEvent] = []
        if not text:
            return events
        if (
            # The common read of a streaming server that writes one event at a time: exactly
            # ``data: VALUE`` LF LF and nothing pending. The general path below would give the
            # same event and the same facts (two LF endings), only slower.
            text[-2:] == "\n\n"
            and text.startswith("data: ")
            and text.find("\n") == len(text) - 2
            and "\r" not in text
            and len(text) <= self._cheap_line_chars
            and not (self._parts or self._cr_pending or self._since_blank)
        ):
            self._endings["LF"] += 2
            events.append(SSEEvent(text[6:-2], self._event_type or "message", self._last_event_id))
            self._event_type = ""
            return events
        if self._cr_pending or "\n" in text or "\r" in text:
            self._split(text, final=False, out=events)
        else:
            # Fragmented reads mostly land inside a line: just extend it (inlined: this is
            # the path of every read of a stream fragmented byte by byte).
            self._parts.append(text)
            self._parts_chars += len(text)
            if self._parts_chars > self._cheap_line_chars:
                self._count_partial(text)
        return events

    def close(self) -> list[SSEEvent]:
        """Signal EOF: finish a held-back CR line, discard the unterminated tail.

        Returns the events completed by EOF (a final blank line ended by a held-back CR).
        Calling it again returns nothing.
        """
        if self._closed:
            return []
        events: list[SSEEvent] = []
        self._split(self._decode(b"", final=True), final=True, out=events)
        self._closed = True
        pending = self._since_blank
        if pending or self._parts:
            lines = [_clip_line(line) for line in pending[-_TAIL_LINES:]]
            if self._tail_cut or len(pending) > _TAIL_LINES:
                lines.insert(0, "…")
            lines.append(_clip_line(self._take_partial()) if self._parts else "")
            self._tail = "\n".join(lines)
        pending.clear()
        self._parts.clear()
        self._data.clear()
        self._event_type = ""
        return events

    def _decode(self, data: bytes, *, final: bool) -> str:
        """UTF-8 decode ``data`` after any bytes held back from the previous read."""
        if self._undecoded:
            data = self._undecoded + data
        try:
            text, used = _utf8_decode(data, "strict", final)
        except UnicodeDecodeError:
            self._invalid_utf8 = True
            text, used = _utf8_decode(data, "replace", final)
        self._undecoded = data[used:] if used < len(data) else b""
        if self._at_start and text:
            self._at_start = False
            if text[0] == "\ufeff":
                self._bom = True
                text = text[1:]
        return text

    def _split(self, text: str, *, final: bool, out: list[SSEEvent]) -> None:
        """Cut decoded text into lines, process the complete ones, keep the partial one."""
        if self._cr_pending:
            self._cr_pending = False
            if text[:1] == "\n":
                self._endings["CRLF"] += 1
                text = text[1:]
            else:
                self._endings["CR"] += 1
            self._lines([self._take_partial()], out)
        # A CR ending this text may be the first half of a CRLF: decide on the next read.
        hold_cr = not final and text[-1:] == "\r"
        if hold_cr:
            text = text[:-1]
        if "\r" in text:
            pieces = _LINE_END.split(text)
            rest = pieces[-1]
            lines = pieces[0:-1:2]
            for ending in pieces[1::2]:
                self._endings[_STYLE[ending]] += 1
        else:
            lines = text.split("\n")
            rest = lines.pop()
            self._endings["LF"] += len(lines)
        if lines:
            if self._parts:
                lines[0] = self._take_partial() + lines[0]
            self._lines(lines, out)
        self._extend_partial(rest)
        self._cr_pending = hold_cr

    def _extend_partial(self, text: str) -> None:
        """Add ``text`` to the partial line; raise when the line passes the limit."""
        if text:
            self._parts.append(text)
            self._parts_chars += len(text)
            if self._parts_chars > self._cheap_line_chars:
                self._count_partial(text)

    def _count_partial(self, text: str) -> None:
        """Track the UTF-8 size of a partial line long enough for it to matter.

        The whole line is measured once, then only each piece added (``text``, the last).
        """
        if self._parts_bytes < 0:
            self._parts_bytes = sum(len(part.encode("utf-8")) for part in self._parts)
        else:
            self._parts_bytes += len(text.encode("utf-8"))
        if self._parts_bytes > self._max_line_bytes:
            self._too_long(self._parts_bytes)

    def _take_partial(self) -> str:
        """The partial line joined, leaving none."""
        parts = self._parts
        line = parts[0] if len(parts) == 1 else "".join(parts)
        parts.clear()
        self._parts_chars = 0
        self._parts_bytes = -1
        return line

    def _check_length(self, line: str) -> None:
        size = len(line.encode("utf-8"))
        if size > self._max_line_bytes:
            self._too_long(size)

    def _too_long(self, size: int) -> None:
        self._closed = True
        self._parts.clear()
        raise SSELineTooLong(
            f"event-stream line exceeded {format_size(self._max_line_bytes)} ({size} bytes or more)"
        )

    def _lines(self, lines: list[str], out: list[SSEEvent]) -> None:
        """Interpret complete lines (line ends already removed), dispatching into ``out``."""
        data = self._data
        since_blank = self._since_blank
        cheap = self._cheap_line_chars
        for line in lines:
            if len(line) > cheap:
                self._check_length(line)
            if not line:
                since_blank.clear()
                self._tail_cut = False
                if data:
                    if len(data) > 1:
                        self._multiline += 1
                        self._data_compact_at = _DATA_COMPACT_LINES
                    out.append(
                        SSEEvent(
                            "\n".join(data), self._event_type or "message", self._last_event_id
                        )
                    )
                    data.clear()
                else:
                    self._empty_dispatches += 1
                self._event_type = ""
                continue
            since_blank.append(line)
            if len(since_blank) > 2 * _TAIL_LINES:
                # A stream without blank lines: only the last lines can end up in the tail.
                del since_blank[:-_TAIL_LINES]
                self._tail_cut = True
            colon = line.find(":")
            if colon == 0:
                self._comment(line[1:])
                continue
            if colon < 0:
                name, value = line, ""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value:
                    if value[0] == " ":
                        value = value[1:]
                    else:
                        self._no_space += 1
                        if name == "data":
                            self._data_no_space += 1
            if name == "data":
                data.append(value)
                if len(data) > self._data_compact_at:
                    self._data_compact_at = _compact(data, self._data_compact_at)
            else:
                self._field(name, value)

    def _comment(self, text: str) -> None:
        self._comment_count += 1
        if self._seen_id:
            self._comments_after_id += 1
        if len(self._comments) < _COMMENTS_KEPT:
            self._comments.append(text[:_COMMENT_CHARS_KEPT])

    def _field(self, name: str, value: str) -> None:
        """Apply a field other than ``data``."""
        _count_name(self._other_fields, name)
        if name == "event":
            self._event_type = value
        elif name == "id":
            self._seen_id = True
            if "\0" not in value:
                self._last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry_ms = _retry_value(value)
            if len(self._retry_values) < _RETRY_VALUES_KEPT:
                self._retry_values.append(self._retry_ms)


def _compact(data: list[str], compact_at: int) -> int:
    """Join the data lines added since the last compaction, but the last, into one.

    Returns the length at which to compact next. Each line is joined once (linear), and at
    least two entries remain, so the event still counts as multi-line.
    """
    start = compact_at - _DATA_COMPACT_LINES
    data[start:-1] = ["\n".join(data[start:-1])]
    return len(data) - 1 + _DATA_COMPACT_LINES


def _count_name(counts: dict[str, int], name: str) -> None:
    """Count a field name; past 64 names, or beyond 128 characters, as OTHER_FIELD_NAMES."""
    if name not in counts and (len(counts) >= _FIELD_NAMES_KEPT or len(name) > _FIELD_NAME_CHARS):
        name = OTHER_FIELD_NAMES
    counts[name] = counts.get(name, 0) + 1


def _clip_line(line: str) -> str:
    if len(line) <= _TAIL_LINE_CHARS:
        return line
    half = _TAIL_LINE_CHARS // 2
    return f"{line[:half]}…{line[-half:]}"


def _retry_value(digits: str) -> int:
    """The integer an all-digit ``retry`` value spells, saturated where ``int()`` stops."""
    significant = digits.lstrip("0")
    if len(significant) > _RETRY_DIGITS_LIMIT:
        return _RETRY_SATURATED
    return int(significant or "0")
