"""A plain TCP socket read and written straight on gevent's event loop.

gevent's cooperative socket handles each read that finds nothing waiting (the usual case in
a stream: the next token has not come yet) with a failed system call, a fresh timeout
object with its own timer, a wait, and the call again. A load generator reads once per
token on hundreds of streams, so that overhead is a large share of its CPU.
:class:`LoopSocket` keeps one read watcher, one write watcher and one timer per connection,
waits before it reads, and leaves the timer running rather than setting one for every wait,
so a read allocates only gevent's waiter. ``benchmarks/bench_loop_socket.py`` compares the
two side by side (the README has the figures).

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
    """The descriptor of a connected gevent socket, non-blocking, read on the loop directly.

    Reads wait first and then read (the next token is rarely there yet, so reading first
    would mostly fail and raise), unless the previous read filled its buffer. The timeout
    is one timer per connection that is left running (libev's advice for inactivity
    timeouts): a wait only notes when it began, and the timer, when it fires, either
    times out a wait older than the timeout or re-arms itself for the rest of it.
    """

    def __init__(self, sock: socket.socket) -> None:
        import gevent  # locust's dependency: present whenever adopt() chose this class

        self._hub: Any = gevent.get_hub()
        self._current: Any = gevent.getcurrent
        seconds = sock.gettimeout()
        family, kind, proto = sock.family, sock.type, sock.proto
        # The C type, never monkey-patched: its calls do not wait, they fail with EAGAIN.
        self._raw = _socket.socket(family, kind, proto, sock.detach())
        self._raw.setblocking(False)
        loop = self._hub.loop
        self._reader: Any = loop.io(self._raw.fileno(), _READ)
        self._writer: Any = loop.io(self._raw.fileno(), _WRITE)
        self._timer: Any = loop.timer(0.0)
        self._seconds = seconds
        self._waiting: Any = None  # the greenlet in a wait, if any
        self._began = 0.0  # when that wait began, on the loop's clock
        self._more = False  # the last read filled its buffer: more may be waiting

    def settimeout(self, seconds: float | None) -> None:
        """Bound each later wait to ``seconds`` (``None``: no bound)."""
        if seconds != self._seconds:
            self._timer.stop()  # a shorter bound must not wait for a timer set for a longer
            self._seconds = seconds

    def _wait(self, watcher: Any) -> None:
        if self._seconds is not None:
            self._began = self._hub.loop.now()
            if not self._timer.active:
                self._arm(self._seconds)
        self._waiting = self._current()
        try:
            self._hub.wait(watcher)
        finally:
            self._waiting = None

    def _arm(self, delay: float) -> None:
        self._timer.stop()
        self._timer = self._hub.loop.timer(max(delay, 0.0))
        self._timer.start(self._expired, update=True)

    def _expired(self) -> None:
        """The timer's callback (in the hub): time out the wait under way if it is old
        enough, else wait out the rest of it; with no wait under way, stop."""
        waiting, seconds = self._waiting, self._seconds
        if waiting is None or seconds is None:
            return  # the next wait arms a timer again
        left = self._began + seconds - self._hub.loop.now()
        if left > 0:
            self._arm(left)
            return
        waiting.throw(TimeoutError("timed out"))

    def recv(self, size: int, flags: int = 0) -> bytes:
        """Up to ``size`` bytes, waiting for some; ``b""`` at end of stream."""
        return self.recvmsg(size, 0, flags)[0]

    def recvmsg(
        self, size: int, ancillary: int = 0, flags: int = 0
    ) -> tuple[bytes, list[tuple[int, int, bytes]], int, Any]:
        """``socket.recvmsg``, waiting for data."""
        if not self._more:
            self._wait(self._reader)
        while True:
            try:
                answer = self._raw.recvmsg(size, ancillary, flags)
            except BlockingIOError:
                self._wait(self._reader)
                continue
            self._more = len(answer[0]) == size
            return answer

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
        """Stop the watchers and the timer and close the descriptor (idempotent)."""
        self._timer.stop()
        self._reader.close()
        self._writer.close()
        self._raw.close()


Wire: TypeAlias = socket.socket | LoopSocket
"""What a connection reads and writes: a socket (TLS, blocking use) or a :class:`LoopSocket`."""
