"""Running the reference endpoint: blocking for the CLI, in a background thread for tests.

Both bind the listening socket before uvicorn starts (so a busy port is a clear
:class:`ServerStartError` and port 0 yields the real port) and run uvicorn with uvloop and
httptools, without access log.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Final

import uvicorn

from chatgauge.server._app import create_app
from chatgauge.server._config import ServerConfig

STARTUP_TIMEOUT_S: Final = 15.0
SHUTDOWN_GRACE_S: Final = 2


class ServerStartError(Exception):
    """The server could not start (port in use, address not available, startup failed)."""


def base_url(host: str, port: int) -> str:
    """The OpenAI-style base URL (with ``/v1``) of a server on ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServerStartError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServerStartError(
            f"cannot listen on {host}:{port}: {reason}; choose another --port"
        ) from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server that reports once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


def _uvicorn_config(config: ServerConfig, *, configure_logging: bool) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(config),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        server_header=False,
        proxy_headers=False,
    )


def run_server(config: ServerConfig, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (SIGINT / SIGTERM shut down gracefully).

    ``ready`` is called with the base URL once the server accepts connections. Raises
    :class:`ServerStartError` when the address cannot be bound or startup fails.
    """
    sock = _bind(config.host, config.port)
    url = base_url(config.host, sock.getsockname()[1])
    server = _Server(
        _uvicorn_config(config, configure_logging=True),
        on_started=(lambda: ready(url)) if ready else (lambda: None),
    )
    try:
        server.run(sockets=[sock])
    except SystemExit:
        raise ServerStartError("the server failed to start (see the log above)") from None
    finally:
        sock.close()
    if not server.started:
        raise ServerStartError("the server failed to start (see the log above)")


@contextlib.contextmanager
def background_server(config: ServerConfig) -> Iterator[str]:
    """Run a server in a daemon thread; yield its base URL, e.g. ``http://127.0.0.1:PORT/v1``.

    Use ``port=0`` for an ephemeral port. Returns once the server accepts connections and
    shuts it down (bounded by a short grace period) when the block exits.
    """
    sock = _bind(config.host, config.port)
    url = base_url(config.host, sock.getsockname()[1])
    started = threading.Event()
    server = _Server(_uvicorn_config(config, configure_logging=False), on_started=started.set)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=serve, name=f"chatgauge-serve {url}", daemon=True)
    thread.start()
    if not started.wait(STARTUP_TIMEOUT_S):
        server.should_exit = True
        raise ServerStartError(f"the server at {url} did not start in time")
    if failure or not server.started:
        sock.close()
        raise ServerStartError(f"the server at {url} failed to start: {failure[:1]}")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT_S)
        sock.close()
