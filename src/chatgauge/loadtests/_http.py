"""A minimal HTTP/1.1 keep-alive connection that stamps the moment bytes move.

Why not locust's ``FastHttpSession``: its ``iter_lines`` waits for 1 KiB of body before
yielding (+62 ms TTFT), and its pool checks a reused socket with a zero-timeout ``select``
that, under gevent, yields to other greenlets between the caller's start stamp and the
actual send (up to 10 ms at 256 streams). Here each user owns one connection: ``t_send`` is
taken immediately before ``sendall`` and every body read is stamped right after ``recv``
returned, with nothing in between that can switch greenlets.

The client is deliberately small: one request at a time per connection, ``Content-Length``,
chunked and close-delimited bodies, ``Accept-Encoding: identity`` (bodies arrive as sent),
TLS verified unless the caller opts out. A keep-alive socket the server closed while idle is
detected by the first read returning nothing and the request is retried once on a fresh
connection (with a fresh ``t_send``), instead of probing the socket before each send. Under
locust the socket and ssl modules are gevent's (monkey-patched), outside it they block.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

RECV_BYTES: Final = 65536
MAX_HEAD_BYTES: Final = 64 * 1024
_CRLF: Final = b"\r\n"
_MAX_SIZE_DIGITS: Final = 16


class HttpTransportError(Exception):
    """The exchange failed below HTTP semantics; ``kind`` is how (see :class:`HttpTimeout`)."""

    kind = "connection"


class HttpTimeout(HttpTransportError):
    """Connecting took longer than the connect timeout, or a read waited past the read timeout."""

    kind = "timeout"


class _StaleConnection(HttpTransportError):
    """The connection failed before any byte of the response came back."""


class HttpProtocolError(HttpTransportError):
    """The bytes received are not a valid HTTP/1.1 response (status line, framing)."""

    kind = "malformed"


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port and the path prefix of the base URL."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def from_url(cls, url: str) -> Origin:
        """Parse ``http(s)://host[:port][/prefix]``; ``ValueError`` on anything else."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("the base URL must not carry credentials, a query or a fragment")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        """The ``Host`` header value (brackets around IPv6, port when not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


class Response:
    """One response being read: status and headers first, then the body read by read.

    ``t_headers_ns`` is the stamp of the read that completed the head. Iterate
    :meth:`reads` for ``(arrived_ns, body_bytes)`` pairs, one per socket read, with the
    transfer coding removed (a read may yield ``b""`` when it held only chunk framing).
    """

    def __init__(
        self, connection: Connection, status: int, headers: dict[str, str], t_headers_ns: int
    ) -> None:
        self.status = status
        self.headers = headers
        self.t_headers_ns = t_headers_ns
        self._connection = connection

    def reads(self) -> Iterator[tuple[int, bytes]]:
        """The body, read by read; the connection is reusable once this is exhausted."""
        return self._connection._body_reads(self.headers)

    def read_all(self, limit: int) -> bytes:
        """The whole body (at most ``limit`` bytes kept; the rest is read and dropped)."""
        kept: list[bytes] = []
        size = 0
        for _, piece in self.reads():
            if size < limit:
                kept.append(piece[: limit - size])
                size += len(kept[-1])
        return b"".join(kept)


class Connection:
    """A keep-alive HTTP/1.1 connection to one origin, used by one greenlet at a time."""

    def __init__(
        self,
        origin: Origin,
        *,
        verify_tls: bool = True,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.origin = origin
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._tls: ssl.SSLContext | None = None
        if origin.scheme == "https":
            self._tls = ssl.create_default_context()
            if not verify_tls:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self._host_line = f"Host: {origin.host_header}\r\n\r\n".encode()
        self._sock: socket.socket | None = None
        self._leftover = b""
        self._reusable = False
        self.connect_ns = 0
        """Time spent opening the connection for the latest request (0 when reused)."""

    def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
        self._reusable = False
        self._leftover = b""

    def request(self, head: bytes, body: bytes) -> tuple[int, Response]:
        """Send a request; return ``t_send_ns`` and the response with its head read.

        ``head`` is the request line and header lines, each ending with CRLF, without
        ``Host`` (added here) and without the blank line. Raises
        :class:`HttpTransportError` subclasses.
        """
        payload = b"".join((head, self._host_line, body))
        reused = self._sock is not None and self._reusable
        try:
            return self._attempt(payload)
        except _StaleConnection:
            # An idle keep-alive socket the server already closed fails before any byte of
            # the response: that request never reached the server, so send it again once.
            if not reused:
                raise
            return self._attempt(payload)

    def _attempt(self, payload: bytes) -> tuple[int, Response]:
        sock = self._connected()
        self._reusable = False
        try:
            t_send_ns = time.perf_counter_ns()
            sock.sendall(payload)
            response = self._read_head(sock)
        except HttpTransportError:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise HttpTimeout(f"no response within {self._read_timeout_s:g} s") from None
        except OSError as exc:
            self.close()
            raise _StaleConnection(f"connection failed: {exc.strerror or exc}") from None
        return t_send_ns, response

    def _connected(self) -> socket.socket:
        if self._sock is not None:
            self.connect_ns = 0
            return self._sock
        started = time.perf_counter_ns()
        origin = self.origin
        try:
            sock = socket.create_connection(
                (origin.host, origin.port), timeout=self._connect_timeout_s
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=origin.host)
        except TimeoutError:
            raise HttpTimeout(
                f"cannot connect to {origin.host_header} within {self._connect_timeout_s:g} s"
            ) from None
        except ssl.SSLError as exc:
            raise HttpTransportError(
                f"TLS handshake with {origin.host_header} failed: {exc}"
            ) from None
        except OSError as exc:
            raise HttpTransportError(
                f"cannot connect to {origin.host_header}: {exc.strerror or exc}"
            ) from None
        sock.settimeout(self._read_timeout_s)
        self._sock = sock
        self._leftover = b""
        self.connect_ns = time.perf_counter_ns() - started
        return sock

    def _recv(self, sock: socket.socket) -> bytes:
        try:
            return sock.recv(RECV_BYTES)
        except TimeoutError:
            raise HttpTimeout(f"no data for {self._read_timeout_s:g} s") from None
        except OSError as exc:
            raise HttpTransportError(f"connection lost: {exc.strerror or exc}") from None

    def _read_head(self, sock: socket.socket) -> Response:
        buffer = b""
        arrived = 0  # stamp of the read that completed the head
        received = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                status, headers = _parse_head(buffer[:end])
                buffer = buffer[end + 4 :]
                if 100 <= status < 200:
                    continue  # interim responses (100 Continue, 103 Early Hints) come first
                self._leftover = buffer
                return Response(self, status, headers, arrived)
            if len(buffer) > MAX_HEAD_BYTES:
                raise HttpProtocolError("response head longer than 64 KiB")
            data = sock.recv(RECV_BYTES)
            arrived = time.perf_counter_ns()
            if not data:
                if not received:
                    raise _StaleConnection("the server closed the connection before answering")
                raise HttpTransportError(
                    "the server closed the connection in the middle of the response head"
                )
            received = True
            buffer += data

    def _body_reads(self, headers: dict[str, str]) -> Iterator[tuple[int, bytes]]:
        sock = self._sock
        assert sock is not None
        keep_alive = headers.get("connection", "").lower() != "close"
        pending, self._leftover = self._leftover, b""
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                yield from self._chunked(sock, pending)
            elif "content-length" in headers:
                yield from self._sized(sock, pending, _content_length(headers))
            else:
                keep_alive = False
                yield from self._until_close(sock, pending)
        except BaseException:
            # Unfinished or failed body (including a killed greenlet): the socket's state is
            # unknown, so it is never reused.
            self.close()
            raise
        if keep_alive:
            self._reusable = True
        else:
            self.close()

    def _chunked(self, sock: socket.socket, pending: bytes) -> Iterator[tuple[int, bytes]]:
        decoder = ChunkedDecoder()
        arrived = time.perf_counter_ns()
        if pending:
            yield arrived, decoder.feed(pending)
        while not decoder.done:
            data = self._recv(sock)
            arrived = time.perf_counter_ns()
            if not data:
                raise HttpTransportError("the connection closed in the middle of a chunked body")
            yield arrived, decoder.feed(data)
        self._leftover = decoder.surplus

    def _sized(
        self, sock: socket.socket, pending: bytes, length: int
    ) -> Iterator[tuple[int, bytes]]:
        remaining = length
        if pending:
            piece = pending[:remaining]
            remaining -= len(piece)
            yield time.perf_counter_ns(), piece
        while remaining > 0:
            data = self._recv(sock)
            arrived = time.perf_counter_ns()
            if not data:
                raise HttpTransportError(
                    f"the connection closed {remaining} bytes before the end of the body"
                )
            piece = data[:remaining]
            remaining -= len(piece)
            yield arrived, piece

    def _until_close(self, sock: socket.socket, pending: bytes) -> Iterator[tuple[int, bytes]]:
        if pending:
            yield time.perf_counter_ns(), pending
        while True:
            data = self._recv(sock)
            arrived = time.perf_counter_ns()
            if not data:
                return
            yield arrived, data


def request_head(method: str, target: str, headers: Mapping[str, str]) -> bytes:
    """The request line and header lines for :meth:`Connection.request` (no ``Host``)."""
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    return "".join(lines).encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names lower-cased; repeated ones joined with ``, ``)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise HttpProtocolError(f"malformed header line: {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), headers


def _content_length(headers: dict[str, str]) -> int:
    text = headers["content-length"]
    if not text.isdigit():
        raise HttpProtocolError(f"invalid Content-Length: {text[:40]!r}")
    return int(text)


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
    raise HttpProtocolError(f"invalid chunk size line: {line[:40]!r}")
