"""A plain TCP socket read and written straight on gevent's event loop.

gevent's cooperative socket handles each read that finds nothing waiting (the usual case in
a stream: the next token has not come yet) with a failed system call, a fresh timeout
object with its own timer, a wait, and the call again. A load generator reads once per
token on hundreds of streams, so that overhead is its largest single cost: in a ping-pong
micro-benchmark on this project's 2-core VM (2026-12-02) a read cost 23-25 us of CPU
through gevent's socket and 14-16 us here. :class:`LoopSocket` keeps one read watcher, one
write watcher and one timeout per connection and re-arms them, so each wait allocates only
gevent's waiter.

Semantics are those of a socket with a timeout, for the subset
:class:`~chatgauge.loadtests._http.Connection` uses: each wait for readiness is bounded
by the timeout (:class:`TimeoutError`), system-call errors pass through as the same
:class:`OSError` subclasses, and ``recv``/``recvmsg`` return ``b""`` at end of stream.
Only for plain TCP under gevent (:func:`adopt`): TLS and blocking use keep the socket they
were given.
"""

from __future__ import annotations

import _socket
import socket
import sys
from typing import Any, TypeAlias

__all__ = ["LoopSocket", "Wire", "adopt"]

_READ, _WRITE = 1, 2  # libev's (and libuv's) event masks, as gevent's loop.io takes them


def _gevent_active() -> bool:
    """Whether the socket module is gevent's (locust monkey-patched it)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def adopt(sock: socket.socket) -> socket.socket | LoopSocket:
    """``sock`` itself, or, for a connected plain TCP socket under gevent, a
    :class:`LoopSocket` that takes over its descriptor (``sock`` is detached)."""
    if not _gevent_active() or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return sock
    return LoopSocket(sock)


class LoopSocket:
    """The descriptor of a connected gevent socket, non-blocking, with re-armed watchers."""

    def __init__(self, sock: socket.socket) -> None:
        import gevent  # locust's dependency: present whenever adopt() chose this class

        self._gevent: Any = gevent
        self._hub: Any = gevent.get_hub()
        seconds = sock.gettimeout()
        family, kind, proto = sock.family, sock.type, sock.proto
        # The C type, never monkey-patched: its calls do not wait, they fail with EAGAIN.
        self._raw = _socket.socket(family, kind, proto, sock.detach())
        self._raw.setblocking(False)
        loop = self._hub.loop
        self._reader: Any = loop.io(self._raw.fileno(), _READ)
        self._writer: Any = loop.io(self._raw.fileno(), _WRITE)
        self._seconds: float | None = None
        self._timeout: Any = gevent.Timeout(None)
        self.settimeout(seconds)

    def settimeout(self, seconds: float | None) -> None:
        """Bound each later wait to ``seconds`` (``None``: no bound)."""
        if seconds == self._seconds:
            return
        self._timeout.cancel()
        self._seconds = seconds
        # A libev timer's delay is fixed when it is made: a new delay needs a new one. The
        # connection changes it only near a request's deadline, so this stays rare.
        self._timeout = self._gevent.Timeout(seconds, TimeoutError)

    def _wait(self, watcher: Any) -> None:
        timeout = self._timeout
        timeout.start()
        try:
            self._hub.wait(watcher)
        finally:
            timeout.cancel()

    def recv(self, size: int, flags: int = 0) -> bytes:
        """Up to ``size`` bytes, waiting for some; ``b""`` at end of stream."""
        while True:
            try:
                return self._raw.recv(size, flags)
            except BlockingIOError:
                self._wait(self._reader)

    def recvmsg(
        self, size: int, ancillary: int = 0, flags: int = 0
    ) -> tuple[bytes, list[tuple[int, int, bytes]], int, Any]:
        """``socket.recvmsg``, waiting for data."""
        while True:
            try:
                return self._raw.recvmsg(size, ancillary, flags)
            except BlockingIOError:
                self._wait(self._reader)

    def sendall(self, data: bytes) -> None:
        """Write all of ``data``, waiting whenever the send buffer is full."""
        view = memoryview(data)
        while view:
            try:
                sent = self._raw.send(view)
            except BlockingIOError:
                self._wait(self._writer)
                continue
            view = view[sent:]

    def setsockopt(self, level: int, option: int, value: int) -> None:
        """``socket.setsockopt``."""
        self._raw.setsockopt(level, option, value)

    def fileno(self) -> int:
        """The descriptor (-1 once closed)."""
        return self._raw.fileno()

    def close(self) -> None:
        """Stop the watchers and close the descriptor (idempotent)."""
        self._timeout.cancel()
        self._reader.close()
        self._writer.close()
        self._raw.close()


Wire: TypeAlias = socket.socket | LoopSocket
"""What a connection reads and writes: a socket (TLS, blocking use) or a :class:`LoopSocket`."""
