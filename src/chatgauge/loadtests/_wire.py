"""HTTP/1.1 response framing, sans I/O: heads, ``Content-Length``, chunked bodies, errors.

Everything here parses endpoint bytes, so every function raises
:class:`HttpProtocolError` and nothing else on any input, in time linear in the input.
Messages never quote endpoint text (a server may echo the API key or send terminal escapes,
and a quoted excerpt would cut a key before anything could redact it); the offending bytes
travel whole, bounded by the head and line limits, in :attr:`HttpTransportError.received`
for whoever makes them safe to show.
"""

from __future__ import annotations

from typing import Final

from chatgauge._limits import LimitName

MAX_HEAD_BYTES: Final = 64 * 1024
"""The longest chunk size line or trailer section (and the default
``Limits.max_header_bytes``)."""
_CRLF: Final = b"\r\n"
_MAX_SIZE_DIGITS: Final = 16
_MAX_LENGTH_DIGITS: Final = 19  # a Content-Length beyond 10**19 bytes is not a length


class HttpTransportError(Exception):
    """The exchange failed below HTTP semantics; ``kind`` is how (see the subclasses).

    ``limit`` names the :class:`~chatgauge._limits.Limits` field whose bound ended the
    request, ``None`` when none did; ``received`` holds the endpoint bytes a protocol error
    is about. Messages never quote endpoint text.
    """

    kind = "connection"

    def __init__(
        self, message: str, *, limit: LimitName | None = None, received: bytes = b""
    ) -> None:
        super().__init__(message)
        self.limit: LimitName | None = limit
        self.received = received
        """The endpoint bytes at fault, unquoted in the message (``b""`` when none)."""


class HttpTimeout(HttpTransportError):
    """Connecting took longer than the connect timeout, a read waited past the read timeout,
    or the request passed its total deadline (``limit == "total_timeout_s"``)."""

    kind = "timeout"


class HttpLimitError(HttpTransportError):
    """The endpoint sent more than a :class:`~chatgauge._limits.Limits` bound allows.

    ``limit`` names the bound (``max_body_bytes``, ``max_events``, ``max_line_bytes``,
    ``max_interim_responses``, ``max_header_bytes``); the message says what was exceeded.
    """

    kind = "limit"


class HttpProtocolError(HttpTransportError):
    """The bytes received are not a valid HTTP/1.1 response (status line, framing)."""

    kind = "malformed"


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names lower-cased; repeated ones joined with ``, ``)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    # isdigit() alone would take "²" (a latin-1 character) and int() would then raise.
    if (
        len(parts) < 2
        or not parts[0].startswith("HTTP/1.")
        or not (len(parts[1]) == 3 and parts[1].isascii() and parts[1].isdigit())
    ):
        raise HttpProtocolError(
            f"not an HTTP/1.x status line ({len(lines[0])} characters)",
            received=lines[0].encode("latin-1"),
        )
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise HttpProtocolError(
                f"malformed header line ({len(line)} characters)",
                received=line.encode("latin-1"),
            )
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), headers


def content_length(headers: dict[str, str]) -> int:
    """The body length; a repeated header is accepted when every value is the same."""
    text = headers["content-length"]
    values = {value.strip() for value in text.split(",")}
    value = values.pop() if len(values) == 1 else ""
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_LENGTH_DIGITS):
        raise HttpProtocolError(
            f"invalid Content-Length ({len(text)} characters)", received=text.encode("latin-1")
        )
    return int(value)


class ChunkedDecoder:
    """Incremental ``Transfer-Encoding: chunked`` decoder: framed bytes in, payload out.

    ``done`` turns true after the last chunk and its trailer section; bytes fed beyond that
    are kept in ``surplus``. Raises :class:`HttpProtocolError` on invalid framing.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._remaining = 0  # payload bytes of the current chunk still to come
        self._crlf_due = False  # a chunk's payload ended; its CRLF comes next
        self._in_trailer = False
        self.done = False
        self.surplus = b""

    def feed(self, data: bytes) -> bytes:
        """Take framed bytes; return the payload bytes they completed."""
        if not (self._buffer or self._remaining or self._crlf_due or self._in_trailer or self.done):
            # The common read of a stream flushed event by event: exactly one whole chunk,
            # size line to closing CRLF. Anything else takes the general loop below.
            line_end = data.find(_CRLF)
            if line_end > 0 and data[-2:] == _CRLF:
                start = line_end + 2
                size = _chunk_size(data[:line_end])
                if size and start + size + 2 == len(data):
                    return data[start:-2]
        # The hot path of every streamed read: state lives in locals until the end.
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        out: list[bytes] = []
        position = 0
        size = len(buffer)
        remaining = self._remaining
        crlf_due = self._crlf_due
        while position < size:
            if remaining:
                end = position + remaining
                if end > size:
                    end = size
                out.append(buffer[position:end])
                remaining -= end - position
                position = end
                crlf_due = not remaining
                continue
            if self.done:
                self.surplus += buffer[position:]
                break
            line_end = buffer.find(_CRLF, position)
            if line_end < 0:
                self._buffer = buffer[position:]
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise HttpProtocolError("chunk size line longer than 64 KiB")
                break
            line = buffer[position:line_end]
            position = line_end + 2
            if crlf_due:
                if line:
                    raise HttpProtocolError("chunk payload not followed by CRLF")
                crlf_due = False
            elif self._in_trailer:
                self.done = not line
            else:
                remaining = _chunk_size(line)
                self._in_trailer = not remaining
                end = position + remaining
                if remaining and buffer[end : end + 2] == _CRLF:
                    # The usual case: the whole chunk and its CRLF are in this read.
                    out.append(buffer[position:end])
                    position = end + 2
                    remaining = 0
        self._remaining = remaining
        self._crlf_due = crlf_due
        return out[0] if len(out) == 1 else b"".join(out)


def _chunk_size(line: bytes) -> int:
    """The size a chunk size line gives (extensions after ``;`` ignored)."""
    text = line.split(b";", 1)[0].strip() if b";" in line else line
    # isalnum() and no "0x" prefix leave exactly what int(_, 16) must judge: hex digits.
    if text.isalnum() and len(text) <= _MAX_SIZE_DIGITS and text[1:2] not in (b"x", b"X"):
        try:
            return int(text, 16)
        except ValueError:
            pass
    raise HttpProtocolError(f"invalid chunk size line ({len(line)} bytes)", received=line)


__all__ = [
    "MAX_HEAD_BYTES",
    "ChunkedDecoder",
    "HttpLimitError",
    "HttpProtocolError",
    "HttpTimeout",
    "HttpTransportError",
    "content_length",
    "parse_head",
]
