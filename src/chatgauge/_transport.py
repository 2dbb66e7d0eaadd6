"""An httpx transport that holds every request to its :class:`~chatgauge._limits.Limits`.

httpx bounds each read, never a whole request: its read timeout restarts with every byte,
so a body trickled a byte at a time, a head dribbled out, or an endless series of ``103
Early Hints`` (which httpcore skips, one after another, without counting) hold a request
forever. The bounds are therefore enforced where the bytes move, in a network stream that
wraps httpcore's own:

- every connect, read and write waits at most until the request's total deadline (its
  timeout is cut to the time left), so the deadline holds whatever the endpoint does;
- the bytes read before the final response head are scanned head by head, to count the
  interim (``1xx``) responses and to measure each head, exactly as the load client does.

A crossed bound raises :class:`~chatgauge._limits.LimitExceeded` out of ``send`` or the body
iteration; httpcore closes the connection on the way (its state is unknown). The budget of
the request in progress is per thread (:meth:`BoundedTransport.budget`), so one client may
serve several threads.

Otherwise the transport is httpx's own stack: httpcore's connection pool (HTTP/1.1, TLS
with the given context, keep-alive) and httpx's exception types.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import threading
import time
import typing
from collections.abc import Iterable, Iterator
from typing import Final

import httpcore
import httpx

from chatgauge._limits import (
    LimitExceeded,
    Limits,
    deadline_message,
    head_message,
    interim_message,
)

# h11 ends a head at LF LF or LF CR LF (it accepts bare LF line ends): the same here.
_HEAD_END: Final = re.compile(rb"\n\r?\n")
# The most specific httpx exception first: the first isinstance match wins.
_EXCEPTIONS: Final[tuple[tuple[type[Exception], type[httpx.HTTPError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


class RequestBudget:
    """The bounds of one request, checked as its bytes move."""

    def __init__(self, limits: Limits, total_timeout_s: float) -> None:
        self.limits = limits
        self.total_timeout_s = total_timeout_s
        self._deadline = time.monotonic() + total_timeout_s
        self._scanning = False
        self._head = bytearray()
        self.interim_responses = 0

    def wait(self, timeout: float | None) -> tuple[float, bool]:
        """The timeout to use for one wait, and whether the deadline cut it."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise self.expired()
        if timeout is None or left < timeout:
            return left, True
        return timeout, False

    def expired(self) -> LimitExceeded:
        """The error of a request past its total deadline."""
        return LimitExceeded("total_timeout_s", deadline_message(self.total_timeout_s))

    def request_written(self) -> None:
        """The request went out: what is read next is a response head."""
        self._scanning = True
        self._head.clear()
        self.interim_responses = 0

    def received(self, data: bytes) -> None:
        """Scan ``data`` while the final response head is still to come."""
        if not self._scanning:
            return
        head = self._head
        start = max(len(head) - 2, 0)  # a head end split across reads
        head += data
        limits = self.limits
        while True:
            end = _HEAD_END.search(head, start)
            if end is None:
                if len(head) > limits.max_header_bytes:
                    raise LimitExceeded("max_header_bytes", head_message(limits))
                return
            if end.end() > limits.max_header_bytes:
                raise LimitExceeded("max_header_bytes", head_message(limits))
            status = _status_code(head)
            if status is None or not 100 <= status < 200 or status == 101:
                # The final head (or bytes h11 will refuse): the body follows, unscanned.
                self._scanning = False
                head.clear()
                return
            self.interim_responses += 1
            if self.interim_responses > limits.max_interim_responses:
                raise LimitExceeded("max_interim_responses", interim_message(limits))
            del head[: end.end()]
            start = 0


def _status_code(head: bytearray) -> int | None:
    line_end = head.find(b"\n")
    parts = bytes(head[: line_end if line_end >= 0 else len(head)]).split()
    code = parts[1] if len(parts) > 1 else b""
    return int(code) if len(code) == 3 and code.isdigit() else None


class _Budgets(threading.local):
    current: RequestBudget | None = None


class _BoundedStream(httpcore.NetworkStream):
    """httpcore's network stream, each wait cut to the deadline, each head scanned."""

    def __init__(self, stream: httpcore.NetworkStream, budgets: _Budgets) -> None:
        self._stream = stream
        self._budgets = budgets

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        budget = self._budgets.current
        if budget is None:
            return self._stream.read(max_bytes, timeout)
        wait, cut = budget.wait(timeout)
        try:
            data = self._stream.read(max_bytes, wait)
        except httpcore.TimeoutException:
            if cut:
                raise budget.expired() from None
            raise
        budget.received(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        budget = self._budgets.current
        if budget is None:
            self._stream.write(buffer, timeout)
            return
        wait, cut = budget.wait(timeout)
        try:
            self._stream.write(buffer, wait)
        except httpcore.TimeoutException:
            if cut:
                raise budget.expired() from None
            raise
        budget.request_written()

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._budgets.current
        wait, cut = budget.wait(timeout) if budget is not None else (timeout, False)
        try:
            stream = self._stream.start_tls(ssl_context, server_hostname, wait)
        except httpcore.TimeoutException:
            if cut and budget is not None:
                raise budget.expired() from None
            raise
        return _BoundedStream(stream, self._budgets)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, budgets: _Budgets) -> None:
        self._backend = httpcore.SyncBackend()
        self._budgets = budgets

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._budgets.current
        wait, cut = budget.wait(timeout) if budget is not None else (timeout, False)
        try:
            stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        except httpcore.TimeoutException:
            if cut and budget is not None:
                raise budget.expired() from None
            raise
        return _BoundedStream(stream, self._budgets)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used by chatgauge")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as httpx's (as ``httpx.HTTPTransport`` raises them)."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise _mapped(exc) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise _mapped(exc) from exc


def _mapped(exc: Exception) -> httpx.HTTPError:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))
    return httpx.TransportError(str(exc))  # pragma: no cover - every httpcore error maps


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class BoundedTransport(httpx.BaseTransport):
    """HTTP/1.1 over httpcore's pool, holding each request to the budget in force.

    Without a budget (outside :meth:`budget`) it behaves like ``httpx.HTTPTransport``.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._budgets = _Budgets()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_BoundedBackend(self._budgets),
        )

    @contextlib.contextmanager
    def budget(self, limits: Limits, total_timeout_s: float | None = None) -> Iterator[None]:
        """Hold the requests of this thread, within the block, to ``limits``.

        ``total_timeout_s`` overrides ``limits.total_timeout_s``; the deadline starts now,
        so it covers connecting, sending, the head and the whole body.
        """
        total = limits.total_timeout_s if total_timeout_s is None else total_timeout_s
        previous = self._budgets.current
        self._budgets.current = RequestBudget(limits, total)
        try:
            yield
        finally:
            self._budgets.current = previous

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


__all__ = ["BoundedTransport", "RequestBudget"]
