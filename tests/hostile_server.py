"""A loopback HTTP server that misbehaves on purpose, in one way per mode.

One server serves every mode: the mode is the path segment after ``/m/``, so
``server.base_url("endless-stream")`` is ``http://127.0.0.1:PORT/m/endless-stream/v1`` and
every request under it (``/chat/completions``, ``/models``) gets that behaviour. A request
header ``X-Hostile-Mode`` overrides the path. Streamed or not follows the request body's
``"stream"``, as a real endpoint would.

Bounded in every way, so a test that forgets it cannot hang a run: each connection is served
by a daemon thread (at most :attr:`HostileServer.max_connections` at once), lives at most
``Timings.connection_s``, writes with a timeout, and the whole server stops by itself after
``Timings.lifetime_s`` (and at once on :meth:`HostileServer.close`). Big bodies are
generated block by block while they are written, never held. Only 127.0.0.1 is used.

The modes (see :data:`MODES`):

- ``ok``: a faithful small answer (JSON, or SSE ending with ``[DONE]``).
- ``endless-stream``: an SSE chunk every ``interval_s``, never ending.
- ``many-events``: tiny SSE events as fast as the socket takes them, never ending.
- ``trickle-body``: a complete head, then the JSON body one byte per ``trickle_s``.
- ``trickle-head``: the status line and headers one byte per ``trickle_s``.
- ``early-hints``: ``103 Early Hints`` responses, one every ``interval_s``, never a final one.
- ``silence``: a ``200`` event-stream head, then nothing (the connection stays open).
- ``no-answer``: reads the request, says nothing.
- ``huge-json``: ``huge_bytes`` of chat-completion JSON with its ``Content-Length``.
- ``huge-json-chunked`` / ``huge-json-close``: the same chunked / delimited by closing.
- ``huge-line``: an event stream whose first line is ``huge_bytes`` long.
- ``long-no-usage``: a completion whose content is ``long_bytes`` of text, without usage
  (JSON whatever the request asked).
- ``huge-head``: a response head with a header of ``huge_head_bytes``.
- ``deep-json``: a completion whose ``choices`` nest ``depth`` arrays deep.
- ``deep-sse``: one event holding that JSON, then ``[DONE]``.
- ``surrogate``: a lone surrogate (the JSON escape ``\\ud800``) in ``id``, ``model`` and
  ``object`` (JSON, or every chunk of a stream).
- ``surrogate-error``: a ``400`` error envelope whose message holds ``\\ud800``.
- ``echo-key``: a ``401`` error whose message quotes the request's API key whole.
- ``echo-key-content``: an answer whose content is the API key (JSON or SSE).
- ``ansi-raw``: a ``500`` text body holding raw ESC/CSI/OSC/BEL bytes.
- ``ansi-escaped``: a ``400`` JSON error whose message holds them as ``\\u001b`` escapes.
- ``redirect``: ``307`` to the ``ok`` mode of this server (loopback).
- ``reset``: half an answer (JSON or SSE), then a TCP reset.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Final

MiB: Final = 1024 * 1024
_BLOCK: Final = 64 * 1024
_REQUEST_HEAD_LIMIT: Final = 64 * 1024
_REQUEST_BODY_LIMIT: Final = 1 * MiB

ANSI_SEQUENCES: Final = (
    "\x1b[31;1m",  # CSI: colour
    "\x1b[2J",  # CSI: clear the screen
    "\x1b]0;pwned\x07",  # OSC: window title, BEL-terminated
    "\x1b]8;;http://127.0.0.1/\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink, ST-terminated
    "\x9b5m",  # C1 CSI
    "\x07",  # BEL
)
"""The escape sequences the ``ansi-*`` modes send (as raw bytes, or as JSON escapes)."""

LONE_SURROGATE_ESCAPE: Final = "\\ud800"
"""The JSON text (six ASCII characters) the ``surrogate`` modes put in their strings."""


@dataclass(frozen=True)
class Timings:
    """How fast or slow, how big and how long the modes are (small values keep tests fast)."""

    interval_s: float = 0.01
    trickle_s: float = 5.0
    huge_bytes: int = 500 * 1000 * 1000
    huge_head_bytes: int = 1 * MiB
    long_bytes: int = 1 * MiB
    depth: int = 100_000
    connection_s: float = 120.0
    lifetime_s: float = 600.0
    write_timeout_s: float = 5.0


@dataclass(frozen=True)
class Request:
    """What the server read of one request."""

    mode: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def stream(self) -> bool:
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return False
        return isinstance(parsed, dict) and parsed.get("stream") is True

    @property
    def api_key(self) -> str:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else value


class _Closed(Exception):
    """The server is stopping or the connection outlived its time."""


class _Conn:
    """One accepted connection, writes bounded by the server's stop and the timings."""

    def __init__(self, sock: socket.socket, server: HostileServer) -> None:
        self.sock = sock
        self.server = server
        self.deadline = time.monotonic() + server.timings.connection_s

    def alive(self) -> bool:
        return not self.server.stopping.is_set() and time.monotonic() < self.deadline

    def send(self, data: bytes) -> None:
        if not self.alive():
            raise _Closed
        self.sock.sendall(data)

    def pause(self, seconds: float) -> None:
        if self.server.stopping.wait(min(seconds, max(self.deadline - time.monotonic(), 0))):
            raise _Closed
        if not self.alive():
            raise _Closed

    def hold(self) -> None:
        """Keep the connection open, silent, until the client or the bounds end it."""
        self.sock.settimeout(0.05)
        while self.alive():
            try:
                if not self.sock.recv(_BLOCK):
                    return  # the client closed
            except TimeoutError:
                continue


class HostileServer:
    """The server; use as a context manager (``with HostileServer() as server``)."""

    max_connections = 32

    def __init__(self, timings: Timings | None = None) -> None:
        self.timings = timings or Timings()
        self.stopping = threading.Event()
        self.requests: Counter[str] = Counter()
        """Requests read, per mode (a request whose head never completed is not counted)."""
        self._lock = threading.Lock()
        self._active: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._started = time.monotonic()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def base_url(self, mode: str) -> str:
        """The base URL (OpenAI convention, with ``/v1``) whose requests get ``mode``."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        return f"http://127.0.0.1:{self.port}/m/{mode}/v1"

    def __enter__(self) -> HostileServer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut every open connection and wait for the threads."""
        self.stopping.set()
        with self._lock:
            for sock in self._active:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            if time.monotonic() - self._started > self.timings.lifetime_s:
                self.stopping.set()
                break
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with self._lock:
                if len(self._active) >= self.max_connections:
                    sock.close()
                    continue
                self._active.add(sock)
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timings.write_timeout_s)
            conn = _Conn(sock, self)
            request = _read_request(conn)
            if request is None:
                return
            with self._lock:
                self.requests[request.mode] += 1
            MODES.get(request.mode, _unknown_mode)(conn, request)
        except (_Closed, OSError):
            pass  # the client went away, or the bounds ended the connection
        finally:
            with self._lock:
                self._active.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()


def _read_request(conn: _Conn) -> Request | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > _REQUEST_HEAD_LIMIT:
            return None
        data = conn.sock.recv(_BLOCK)
        if not data:
            return None
        buffer += data
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length > _REQUEST_BODY_LIMIT:
        return None
    while len(body) < length:
        data = conn.sock.recv(_BLOCK)
        if not data:
            return None
        body += data
    path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
    segments = path.split("/")
    mode = segments[2] if len(segments) > 2 and segments[1] == "m" else ""
    mode = headers.get("x-hostile-mode", mode)
    return Request(mode, path, headers, body[:length])


# --- building answers --------------------------------------------------------------------


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in {**headers, "Connection": "close"}.items()]
    return ("".join(lines) + "\r\n").encode("latin-1")


def _json_answer(conn: _Conn, status: str, body: bytes) -> None:
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    conn.send(_head(status, head) + body)


def _sse_head() -> bytes:
    return _head("200 OK", {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})


def _completion(content: str, *, ident: str = "chatcmpl-1", model: str = "m") -> str:
    """A chat.completion as JSON text; ``content`` and the ids are inserted as JSON text."""
    return (
        f'{{"id":"{ident}","object":"chat.completion","created":0,"model":"{model}",'
        f'"choices":[{{"index":0,"message":{{"role":"assistant","content":{content}}},'
        '"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
    )


def _chunk(content: str, *, ident: str = "chatcmpl-1", model: str = "m", obj: str = "") -> str:
    kind = obj or "chat.completion.chunk"
    return (
        f'{{"id":"{ident}","object":"{kind}","created":0,"model":"{model}",'
        f'"choices":[{{"index":0,"delta":{{"content":{content}}},"finish_reason":null}}]}}'
    )


def _error(message_json: str, kind: str = "invalid_request_error") -> bytes:
    """An OpenAI error envelope; ``message_json`` is the message as JSON text."""
    return (
        f'{{"error":{{"message":{message_json},"type":"{kind}","param":null,"code":null}}}}'
    ).encode()


def _events(*payloads: str) -> bytes:
    return b"".join(f"data: {payload}\n\n".encode() for payload in payloads)


def _filler(size: int, write: Callable[[bytes], None]) -> None:
    """``size`` bytes of ``a``, block by block (never held whole)."""
    block = b"a" * _BLOCK
    left = size
    while left > 0:
        piece = block if left >= _BLOCK else block[:left]
        write(piece)
        left -= len(piece)


# --- the modes ---------------------------------------------------------------------------


def _ok(conn: _Conn, request: Request) -> None:
    if request.path.endswith("/models"):
        _json_answer(conn, "200 OK", b'{"object":"list","data":[{"id":"m","object":"model"}]}')
    elif request.stream:
        conn.send(_sse_head() + _events(_chunk('"Hello"'), _chunk('" there"'), "[DONE]"))
    else:
        _json_answer(conn, "200 OK", _completion('"Hello there"').encode())


def _endless_stream(conn: _Conn, request: Request) -> None:
    conn.send(_sse_head())
    index = 0
    while True:
        conn.send(_events(_chunk(json.dumps(f" word{index}"))))
        index += 1
        conn.pause(conn.server.timings.interval_s)


def _many_events(conn: _Conn, request: Request) -> None:
    conn.send(_sse_head())
    burst = _events(*[_chunk('"x"')] * 256)
    while True:
        conn.send(burst)


def _trickle_body(conn: _Conn, request: Request) -> None:
    body = _completion('"Hello there"').encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    conn.send(_head("200 OK", head))
    for index in range(len(body)):
        conn.pause(conn.server.timings.trickle_s)
        conn.send(body[index : index + 1])


def _trickle_head(conn: _Conn, request: Request) -> None:
    body = _completion('"Hello there"').encode()
    head = _head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))})
    for index in range(len(head)):
        conn.send(head[index : index + 1])
        conn.pause(conn.server.timings.trickle_s)
    conn.send(body)


def _early_hints(conn: _Conn, request: Request) -> None:
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
    while True:
        conn.send(hint)
        conn.pause(conn.server.timings.interval_s)


def _silence(conn: _Conn, request: Request) -> None:
    conn.send(_sse_head())
    conn.hold()


def _no_answer(conn: _Conn, request: Request) -> None:
    conn.hold()


def _huge_json_parts() -> tuple[bytes, bytes]:
    text = _completion('"@"')
    prefix, _, suffix = text.partition("@")
    return prefix.encode(), suffix.encode()


def _huge_json(conn: _Conn, request: Request) -> None:
    prefix, suffix = _huge_json_parts()
    size = conn.server.timings.huge_bytes
    head = {"Content-Type": "application/json", "Content-Length": str(size)}
    conn.send(_head("200 OK", head) + prefix)
    _filler(size - len(prefix) - len(suffix), conn.send)
    conn.send(suffix)


def _huge_json_chunked(conn: _Conn, request: Request) -> None:
    prefix, suffix = _huge_json_parts()
    size = conn.server.timings.huge_bytes

    def chunk(data: bytes) -> None:
        conn.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    conn.send(_head("200 OK", head))
    chunk(prefix)
    _filler(size - len(prefix) - len(suffix), chunk)
    chunk(suffix)
    conn.send(b"0\r\n\r\n")


def _huge_json_close(conn: _Conn, request: Request) -> None:
    prefix, suffix = _huge_json_parts()
    size = conn.server.timings.huge_bytes
    conn.send(_head("200 OK", {"Content-Type": "application/json"}) + prefix)
    _filler(size - len(prefix) - len(suffix), conn.send)
    conn.send(suffix)


def _huge_line(conn: _Conn, request: Request) -> None:
    conn.send(_sse_head() + b"data: ")
    _filler(conn.server.timings.huge_bytes, conn.send)
    conn.send(b"\n\ndata: [DONE]\n\n")


def _long_no_usage(conn: _Conn, request: Request) -> None:
    size = conn.server.timings.long_bytes
    prefix = (
        b'{"id":"chatcmpl-long","object":"chat.completion","created":0,"model":"m",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":"'
    )
    suffix = b'"},"finish_reason":"stop"}]}'
    head = {
        "Content-Type": "application/json",
        "Content-Length": str(len(prefix) + size + len(suffix)),
    }
    conn.send(_head("200 OK", head) + prefix)
    _filler(size, conn.send)
    conn.send(suffix)


def _huge_head(conn: _Conn, request: Request) -> None:
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: ")
    _filler(conn.server.timings.huge_head_bytes, conn.send)
    body = _completion('"Hello there"').encode()
    conn.send(f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_json(conn: _Conn, request: Request) -> None:
    depth = conn.server.timings.depth
    body = f'{{"id":"chatcmpl-deep","object":"chat.completion","choices":{_deep(depth)}}}'
    _json_answer(conn, "200 OK", body.encode())


def _deep_sse(conn: _Conn, request: Request) -> None:
    depth = conn.server.timings.depth
    deep = f'{{"id":"chatcmpl-deep","object":"chat.completion.chunk","choices":{_deep(depth)}}}'
    conn.send(_sse_head() + _events(_chunk('"Hi"'), deep, "[DONE]"))


def _surrogate(conn: _Conn, request: Request) -> None:
    lone = LONE_SURROGATE_ESCAPE
    if request.stream:
        chunks = [
            _chunk(f'"Hi {lone}"', ident=f"chatcmpl-{lone}", model=f"m{lone}", obj=lone),
            "[DONE]",
        ]
        conn.send(_sse_head() + _events(*chunks))
        return
    text = _completion(f'"Hi {lone}"', ident=f"chatcmpl-{lone}", model=f"m{lone}")
    text = text.replace('"object":"chat.completion"', f'"object":"chat.completion{lone}"')
    _json_answer(conn, "200 OK", text.encode())


def _surrogate_error(conn: _Conn, request: Request) -> None:
    message = f'"bad request {LONE_SURROGATE_ESCAPE} here"'
    _json_answer(conn, "400 Bad Request", _error(message))


def _echo_key(conn: _Conn, request: Request) -> None:
    message = json.dumps(f"Incorrect API key provided: {request.api_key}. Check it.")
    _json_answer(conn, "401 Unauthorized", _error(message, "invalid_api_key"))


def _echo_key_content(conn: _Conn, request: Request) -> None:
    content = json.dumps(f"your key is {request.api_key}")
    if request.stream:
        conn.send(_sse_head() + _events(_chunk(content), "[DONE]"))
    else:
        _json_answer(conn, "200 OK", _completion(content).encode())


def _ansi_raw(conn: _Conn, request: Request) -> None:
    body = ("upstream failed: " + " ".join(ANSI_SEQUENCES) + " end").encode("latin-1")
    head = {"Content-Type": "text/plain", "Content-Length": str(len(body))}
    conn.send(_head("500 Internal Server Error", head) + body)


def _ansi_escaped(conn: _Conn, request: Request) -> None:
    message = json.dumps("upstream failed: " + " ".join(ANSI_SEQUENCES) + " end")
    _json_answer(conn, "400 Bad Request", _error(message))


def _redirect(conn: _Conn, request: Request) -> None:
    target = f"http://127.0.0.1:{conn.server.port}/m/ok/v1/chat/completions"
    body = b'{"moved":true}'
    head = {"Location": target, "Content-Type": "application/json"}
    head["Content-Length"] = str(len(body))
    conn.send(_head("307 Temporary Redirect", head) + body)


def _reset(conn: _Conn, request: Request) -> None:
    if request.stream:
        conn.send(_sse_head() + _events(_chunk('"Hel"')))
    else:
        body = _completion('"Hello there"').encode()
        head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        conn.send(_head("200 OK", head) + body[: len(body) // 2])
    conn.pause(0.05)
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


def _unknown_mode(conn: _Conn, request: Request) -> None:
    _json_answer(conn, "404 Not Found", _error(json.dumps(f"no mode {request.mode!r}")))


Handler = Callable[[_Conn, Request], None]

MODES: Final[dict[str, Handler]] = {
    "ok": _ok,
    "endless-stream": _endless_stream,
    "many-events": _many_events,
    "trickle-body": _trickle_body,
    "trickle-head": _trickle_head,
    "early-hints": _early_hints,
    "silence": _silence,
    "no-answer": _no_answer,
    "huge-json": _huge_json,
    "huge-json-chunked": _huge_json_chunked,
    "huge-json-close": _huge_json_close,
    "huge-line": _huge_line,
    "huge-head": _huge_head,
    "long-no-usage": _long_no_usage,
    "deep-json": _deep_json,
    "deep-sse": _deep_sse,
    "surrogate": _surrogate,
    "surrogate-error": _surrogate_error,
    "echo-key": _echo_key,
    "echo-key-content": _echo_key_content,
    "ansi-raw": _ansi_raw,
    "ansi-escaped": _ansi_escaped,
    "redirect": _redirect,
    "reset": _reset,
}
"""Every mode, by name (the path segment after ``/m/``)."""


@contextlib.contextmanager
def hostile_server(timings: Timings | None = None) -> Iterator[HostileServer]:
    """A running :class:`HostileServer`, stopped on exit."""
    with HostileServer(timings) as server:
        yield server
