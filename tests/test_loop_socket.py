"""The loop socket: a plain TCP socket driven on gevent's loop, with a socket's semantics.

Every hostile-server mode also runs through it (tests/test_hostile_transport.py, ``loop``),
and so does the kernel-stamp proof (tests/test_load_arrival_stamps.py). Here: when it is
chosen, big writes that fill the send buffer, timeouts, end of stream, and closing.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from chatgauge.loadtests import _loop_socket
from chatgauge.loadtests._loop_socket import LoopSocket, adopt


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected loopback TCP pair: (ours, the peer)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname(), timeout=5)
        peer, _ = listener.accept()
    try:
        yield ours, peer
    finally:
        ours.close()
        peer.close()


def test_without_gevent_a_socket_stays_as_it_is(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = pair
    assert adopt(ours) is ours  # pytest does not monkey-patch: blocking use keeps its socket


def test_a_unix_socket_stays_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loop_socket, "_gevent_active", lambda: True)
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert adopt(left) is left


def test_under_locusts_monkey_patching_a_tcp_socket_is_adopted() -> None:
    script = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import socket
        from chatgauge.loadtests._loop_socket import LoopSocket, adopt
        with socket.create_server(("127.0.0.1", 0)) as listener:
            ours = socket.create_connection(listener.getsockname(), timeout=5)
            peer, _ = listener.accept()
            wire = adopt(ours)
            wire.sendall(b"ping")
            assert peer.recv(4) == b"ping"
            peer.sendall(b"pong")
            print(type(wire).__name__, wire.recv(4).decode())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["LoopSocket", "pong"]


def test_a_write_bigger_than_the_buffers_waits_until_it_is_all_sent(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    wire = LoopSocket(ours)
    payload = bytes(range(256)) * 64 * 1024  # 16 MiB: far more than both socket buffers
    received = bytearray()

    def drain() -> None:
        while len(received) < len(payload):
            received.extend(peer.recv(1 << 20))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    wire.sendall(payload)
    reader.join(timeout=30)
    assert bytes(received) == payload
    wire.close()


def test_a_wait_longer_than_the_timeout_raises_timeout_error(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    wire = LoopSocket(ours)
    wire.settimeout(0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.recv(100)
    assert time.monotonic() - started >= 0.15  # it waited, rather than failing at once
    wire.close()


def test_a_shorter_timeout_holds_although_a_longer_ones_timer_is_running(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # A wait under a 60 s timeout leaves that timer running when data comes; the deadline
    # then shortens the timeout (Connection does, near a request's end): the next wait must
    # end at the short bound, not when the 60 s timer fires.
    ours, peer = pair
    wire = LoopSocket(ours)
    wire.settimeout(60)
    peer.sendall(b"x")
    assert wire.recv(1) == b"x"
    wire.settimeout(0.1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.recvmsg(100, 64)
    assert time.monotonic() - started < 30  # not the 60 s timer's expiry
    wire.close()


def test_reads_return_data_then_nothing_at_end_of_stream(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    wire = LoopSocket(ours)
    peer.sendall(b"last words")
    peer.close()
    got = b""
    while chunk := wire.recv(4):
        got += chunk
    assert got == b"last words"
    assert wire.recvmsg(10)[0] == b""
    wire.close()
    wire.close()  # closing twice is harmless
    assert wire.fileno() == -1


def test_the_timeout_bounds_each_wait_not_the_sum_of_them(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # One timer serves every wait: it must time a wait from when that wait began. Bytes
    # 0.1 s apart, a 0.25 s timeout: 0.6 s in all and no timeout; then a silence times out.
    ours, peer = pair
    wire = LoopSocket(ours)
    wire.settimeout(0.25)

    def trickle() -> None:
        for _ in range(6):
            time.sleep(0.1)
            peer.sendall(b".")

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    got = b""
    while len(got) < 6:
        got += wire.recv(1)
    sender.join()
    with pytest.raises(TimeoutError):
        wire.recv(1)
    wire.close()
