"""A minimal HTTP/1.1 keep-alive connection that stamps the moment bytes move.

Why not locust's ``FastHttpSession``: its ``iter_lines`` waits for 1 KiB of body before
yielding (+62 ms TTFT), and its pool checks a reused socket with a zero-timeout ``select``
that, under gevent, yields to other greenlets between the caller's start stamp and the
actual send (up to 10 ms at 256 streams). Here each user owns one connection: ``t_send`` is
taken immediately before ``sendall`` and every read is stamped with the moment its bytes
arrived, with nothing in between that can switch greenlets.

The moment of arrival is the kernel's: on Linux, plain TCP sockets get ``SO_TIMESTAMPNS``
and each read is a ``recvmsg`` whose control message carries the wall-clock time the read's
latest segment reached this host, put on the ``perf_counter`` clock by the offset between
the two clocks read right after it (:func:`arrival_ns`). So a read that waited for the event
loop (a greenlet that took a few milliseconds, a garbage collection, the live ``load.json``)
still gets the time its bytes came in, not the time the loop got to them. A stamp never
precedes the request's send or the connection's previous stamp, nor follows the moment
``recvmsg`` returned. TLS sockets (no ``recvmsg``) and other systems stamp right after
``recv`` returned (:attr:`Connection.kernel_stamps` says which).

The client is deliberately small: one request at a time per connection, ``Content-Length``,
chunked and close-delimited bodies, ``Accept-Encoding: identity`` (bodies arrive as sent),
TLS verified unless the caller opts out. A keep-alive socket the server closed while idle is
detected by the first read returning nothing and the request is retried once on a fresh
connection (with a fresh ``t_send``), instead of probing the socket before each send. Under
locust the socket and ssl modules are gevent's (monkey-patched), outside it they block; a
plain TCP socket under gevent is then driven on the loop directly, for less CPU per read
(:mod:`chatgauge.loadtests._loop_socket`).

Every request is held to the connection's :class:`~chatgauge._limits.Limits`, the same
values the conformance client enforces: each wait (connect, send, every read) is cut to the
request's total deadline, which starts when :meth:`Connection.request` is called and runs
until the body's last byte; interim ``1xx`` responses are skipped up to
``max_interim_responses``; each head may hold ``max_header_bytes``, the body
``max_body_bytes`` (after removing chunked framing; a larger ``Content-Length`` fails at
once), and :meth:`Response.events` caps events and line sizes. A crossed bound raises
:class:`HttpLimitError` (``kind`` ``limit``) or, for the deadline, :class:`HttpTimeout`,
both with ``limit`` naming the field, and the connection is closed (its state is unknown).
Redirects are not followed: a ``3xx`` is a final response like any other (its status
tells the caller it is not an answer).
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from chatgauge._limits import (
    Limits,
    body_message,
    deadline_message,
    events_message,
    head_message,
    interim_message,
)
from chatgauge._sse import SSEDecoder, SSEEvent, SSELineTooLong
from chatgauge.loadtests._loop_socket import Wire, adopt
from chatgauge.loadtests._wire import (
    MAX_HEAD_BYTES,
    ChunkedDecoder,
    HttpLimitError,
    HttpProtocolError,
    HttpTimeout,
    HttpTransportError,
    content_length,
    parse_head,
)

__all__ = [
    "MAX_HEAD_BYTES",
    "RECV_BYTES",
    "ChunkedDecoder",
    "Connection",
    "HttpLimitError",
    "HttpProtocolError",
    "HttpTimeout",
    "HttpTransportError",
    "Origin",
    "Response",
    "request_head",
]

RECV_BYTES: Final = 65536
SO_TIMESTAMPNS: Final = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else 0)
"""Linux's option (and control message type) for nanosecond receive times; 0: none here."""
_TIMESPEC: Final = struct.Struct("@qq")
_ANCILLARY_BYTES: Final = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


def arrival_ns(
    ancillary: list[tuple[int, int, bytes]], returned_ns: int, wall_ns: int, floor_ns: int
) -> int:
    """The ``perf_counter`` moment a read's bytes arrived: the kernel's wall-clock receive
    time in ``ancillary`` moved by the offset of the two clocks (``wall_ns`` was read right
    after ``returned_ns``), kept within ``[floor_ns, returned_ns]`` (a wall clock stepped
    meanwhile cannot put a stamp before the send or after the read); ``returned_ns``
    when the kernel gave no time."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            stamp = returned_ns - (wall_ns - (int(seconds) * 1_000_000_000 + int(nanoseconds)))
            return min(max(stamp, floor_ns), returned_ns)
    return returned_ns


class _StaleConnection(HttpTransportError):
    """The connection failed before any byte of the response came back."""


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

    def reads(self) -> Generator[tuple[int, bytes], None, None]:
        """The body, read by read; the connection is reusable once this is exhausted.

        Raises :class:`HttpLimitError` past ``max_body_bytes`` and :class:`HttpTimeout` past
        the deadline (besides transport failures).
        """
        return self._connection._body_reads(self.headers)

    def events(self) -> Generator[tuple[int, list[SSEEvent], int], None, None]:
        """The body decoded as an event stream, held to the event and line limits.

        Yields ``(arrived_ns, events, size)`` for each read that carried body bytes
        (``events`` may be empty), then once ``(arrived_ns, events, 0)`` for the events EOF
        completed, stamped with the last read. Raises :class:`HttpLimitError` past
        ``max_events`` or ``max_line_bytes``, like :meth:`reads` otherwise.
        """
        limits = self._connection.limits
        decoder = SSEDecoder(max_line_bytes=limits.max_line_bytes)
        reads = self.reads()
        arrived = self.t_headers_ns
        count = 0
        try:
            for arrived, piece in reads:
                if not piece:
                    continue
                events = decoder.feed(piece)
                count += len(events)
                if count > limits.max_events:
                    raise HttpLimitError(events_message(limits), limit="max_events")
                yield arrived, events, len(piece)
            events = decoder.close()
            if count + len(events) > limits.max_events:
                raise HttpLimitError(events_message(limits), limit="max_events")
            yield arrived, events, 0
        except SSELineTooLong as exc:
            raise HttpLimitError(str(exc), limit="max_line_bytes") from None
        finally:
            reads.close()  # an unfinished body closes the connection

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
        limits: Limits | None = None,
    ) -> None:
        self.origin = origin
        self.limits = limits or Limits()
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._read_timeout_ns = int(read_timeout_s * 1e9)
        self._total_ns = int(self.limits.total_timeout_s * 1e9)
        self._deadline_ns = 0
        self._cut = False  # the socket timeout is the time left, not the read timeout
        self._tls: ssl.SSLContext | None = None
        if origin.scheme == "https":
            self._tls = ssl.create_default_context()
            if not verify_tls:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self._host_line = f"Host: {origin.host_header}\r\n\r\n".encode()
        self._sock: Wire | None = None
        self._leftover = b""
        self._leftover_ns = 0
        self._floor_ns = 0  # no stamp precedes this: the send, then each previous stamp
        self._reusable = False
        self.kernel_stamps = False
        """Whether the open socket's reads are stamped by the kernel (see the module)."""
        self.connect_ns = 0
        """Time spent opening the connection for the latest request (0 when reused)."""
        self.sent_ns = 0
        """When the latest request's bytes were all written (0 until then): a request cut
        short before it was never made."""

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
        :class:`HttpTransportError` subclasses. The total deadline starts here and holds
        until the end of the response body.
        """
        self._deadline_ns = time.perf_counter_ns() + self._total_ns
        self.sent_ns = 0
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
            self._arm(sock)
            t_send_ns = time.perf_counter_ns()
            self._floor_ns = t_send_ns
            sock.sendall(payload)
            self.sent_ns = t_send_ns
            response = self._read_head(sock)
        except HttpTransportError:
            self.close()
            raise
        except TimeoutError:
            # self._cut: the wait that timed out was cut to the deadline.
            deadline = self._cut
            self.close()
            if deadline:
                raise self._expired() from None
            raise HttpTimeout(f"no response within {self._read_timeout_s:g} s") from None
        except OSError as exc:
            self.close()
            raise _StaleConnection(f"connection failed: {exc.strerror or exc}") from None
        return t_send_ns, response

    def _expired(self) -> HttpTimeout:
        return HttpTimeout(deadline_message(self.limits.total_timeout_s), limit="total_timeout_s")

    def _arm(self, sock: Wire) -> bool:
        """Set the socket timeout for the next wait; True when the deadline cut it.

        The read timeout stays in force until the deadline is nearer than it (the common
        case costs one clock read, no system call).
        """
        left = self._deadline_ns - time.perf_counter_ns()
        if left >= self._read_timeout_ns:
            if self._cut:
                sock.settimeout(self._read_timeout_s)
                self._cut = False
            return False
        if left <= 0:
            raise self._expired()
        sock.settimeout(left / 1e9)
        self._cut = True
        return True

    def _connected(self) -> Wire:
        if self._sock is not None:
            self.connect_ns = 0
            return self._sock
        started = time.perf_counter_ns()
        origin = self.origin
        left_s = (self._deadline_ns - started) / 1e9
        if left_s <= 0:
            raise self._expired()
        timeout_s = min(self._connect_timeout_s, left_s)
        try:
            sock = socket.create_connection((origin.host, origin.port), timeout=timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=origin.host)
            self.kernel_stamps = self._tls is None and _stamp_arrivals(sock)
            wire = adopt(sock) if self._tls is None else sock
        except TimeoutError:
            if timeout_s < self._connect_timeout_s:
                raise self._expired() from None
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
        wire.settimeout(self._read_timeout_s)
        self._cut = False
        self._sock = wire
        self._leftover = b""
        self.connect_ns = time.perf_counter_ns() - started
        return wire

    def _read(self, sock: Wire) -> tuple[bytes, int]:
        data, self._floor_ns = read_stamped(sock, self.kernel_stamps, self._floor_ns)
        return data, self._floor_ns

    def _recv(self, sock: Wire) -> tuple[bytes, int]:
        cut = self._arm(sock)
        try:
            return self._read(sock)
        except TimeoutError:
            if cut:
                raise self._expired() from None
            raise HttpTimeout(f"no data for {self._read_timeout_s:g} s") from None
        except OSError as exc:
            raise HttpTransportError(f"connection lost: {exc.strerror or exc}") from None

    def _read_head(self, sock: Wire) -> Response:
        """Read heads up to the final one: interim ``1xx`` ones are skipped, up to a cap."""
        limits = self.limits
        buffer = b""
        searched = 0  # where the search for the head end resumes
        arrived = 0  # stamp of the read that completed the head
        received = False
        interim = 0
        while True:
            end = buffer.find(b"\r\n\r\n", searched)
            if end >= 0:
                if end + 4 > limits.max_header_bytes:
                    raise HttpLimitError(head_message(limits), limit="max_header_bytes")
                status, headers = parse_head(buffer[:end])
                buffer = buffer[end + 4 :]
                searched = 0
                if status == 101:
                    raise HttpProtocolError("101 Switching Protocols, but no upgrade was asked")
                if 100 <= status < 200:
                    # 100 Continue, 103 Early Hints: interim heads before the final one.
                    interim += 1
                    if interim > limits.max_interim_responses:
                        raise HttpLimitError(interim_message(limits), limit="max_interim_responses")
                    continue
                self._leftover = buffer
                self._leftover_ns = arrived
                return Response(self, status, headers, arrived)
            if len(buffer) > limits.max_header_bytes:
                raise HttpLimitError(head_message(limits), limit="max_header_bytes")
            searched = max(len(buffer) - 3, 0)
            self._arm(sock)  # a timeout here is judged in _attempt, by self._cut
            data, arrived = self._read(sock)
            if not data:
                if not received:
                    raise _StaleConnection("the server closed the connection before answering")
                raise HttpTransportError(
                    "the server closed the connection in the middle of the response head"
                )
            received = True
            buffer += data

    def _body_reads(self, headers: dict[str, str]) -> Generator[tuple[int, bytes], None, None]:
        sock = self._sock
        assert sock is not None
        keep_alive = headers.get("connection", "").lower() != "close"
        pending, self._leftover = self._leftover, b""
        limit = self.limits.max_body_bytes
        size = 0
        try:
            source: Iterator[tuple[int, bytes]]
            if "chunked" in headers.get("transfer-encoding", "").lower():
                source = self._chunked(sock, pending)
            elif "content-length" in headers:
                length = content_length(headers)
                if length > limit:
                    # No need to read the first 16 MiB of an answer announced to be longer.
                    raise HttpLimitError(
                        f"{body_message(self.limits)} (Content-Length {length})",
                        limit="max_body_bytes",
                    )
                source = self._sized(sock, pending, length)
            else:
                keep_alive = False
                source = self._until_close(sock, pending)
            for read in source:
                size += len(read[1])
                if size > limit:
                    raise HttpLimitError(body_message(self.limits), limit="max_body_bytes")
                yield read
        except BaseException:
            # Unfinished or failed body (including a killed greenlet): the socket's state is
            # unknown, so it is never reused.
            self.close()
            raise
        if keep_alive:
            self._reusable = True
        else:
            self.close()

    def _chunked(self, sock: Wire, pending: bytes) -> Iterator[tuple[int, bytes]]:
        decoder = ChunkedDecoder()
        arrived = self._leftover_ns
        # Framing (size lines, extensions, trailers) is not payload, so max_body_bytes does
        # not see it: it gets the same bound of its own, or a stream of one-byte chunks with
        # long extensions could run on until the deadline.
        framing = 0
        limit = self.limits.max_body_bytes
        if pending:
            payload = decoder.feed(pending)
            framing += len(pending) - len(payload)
            yield arrived, payload
        while not decoder.done:
            data, arrived = self._recv(sock)
            if not data:
                raise HttpTransportError("the connection closed in the middle of a chunked body")
            payload = decoder.feed(data)
            framing += len(data) - len(payload)
            if framing > limit:
                raise HttpLimitError(
                    f"chunked framing exceeded {self.limits.describe('max_body_bytes')}",
                    limit="max_body_bytes",
                )
            yield arrived, payload
        self._leftover = decoder.surplus

    def _sized(self, sock: Wire, pending: bytes, length: int) -> Iterator[tuple[int, bytes]]:
        remaining = length
        if pending:
            piece = pending[:remaining]
            remaining -= len(piece)
            yield self._leftover_ns, piece
        while remaining > 0:
            data, arrived = self._recv(sock)
            if not data:
                raise HttpTransportError(
                    f"the connection closed {remaining} bytes before the end of the body"
                )
            piece = data[:remaining]
            remaining -= len(piece)
            yield arrived, piece

    def _until_close(self, sock: Wire, pending: bytes) -> Iterator[tuple[int, bytes]]:
        if pending:
            yield self._leftover_ns, pending
        while True:
            data, arrived = self._recv(sock)
            if not data:
                return
            yield arrived, data


def read_stamped(sock: Wire, kernel: bool, floor_ns: int) -> tuple[bytes, int]:
    """One read and the moment its bytes arrived: the kernel's time with ``kernel`` (see
    :func:`arrival_ns`), else the moment the read returned."""
    if not kernel:
        return sock.recv(RECV_BYTES), time.perf_counter_ns()
    data, ancillary, _, _ = sock.recvmsg(RECV_BYTES, _ANCILLARY_BYTES)
    returned = time.perf_counter_ns()
    return data, arrival_ns(ancillary, returned, time.time_ns(), floor_ns)


def _stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to time each read of ``sock``; whether it will."""
    if not SO_TIMESTAMPNS or not _ANCILLARY_BYTES or not hasattr(sock, "recvmsg"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def request_head(method: str, target: str, headers: Mapping[str, str]) -> bytes:
    """The request line and header lines for :meth:`Connection.request` (no ``Host``)."""
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    return "".join(lines).encode("latin-1")
