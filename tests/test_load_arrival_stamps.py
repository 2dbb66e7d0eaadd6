"""Reads are stamped when their bytes arrived, not when the event loop got to them.

A generator whose loop is held for a while (another greenlet's work, a collection, the live
``load.json``) reads late; with the kernel's receive time (``SO_TIMESTAMPNS``) the stamp is
still the arrival. Proven against a real server in another process: the test itself holds
the reading thread while the server sends, then reads.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from chatgauge.loadtests import _http, _loop_socket
from chatgauge.loadtests._http import SO_TIMESTAMPNS, Connection, Origin, arrival_ns
from chatgauge.loadtests._loop_socket import LoopSocket, adopt

MS = 1_000_000

# Answers one request: the head at once, one chunk 20 ms later, the last one 600 ms later.
SERVER = textwrap.dedent(
    """
    import socket, sys, time
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(listener.getsockname()[1], flush=True)
    peer, _ = listener.accept()
    peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = b""
    while b"\\r\\n\\r\\n" not in request:
        request += peer.recv(65536)
    peer.sendall(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
    time.sleep(0.02)
    peer.sendall(b"5\\r\\nfirst\\r\\n")
    time.sleep(0.6)
    peer.sendall(b"4\\r\\nlast\\r\\n0\\r\\n\\r\\n")
    peer.recv(1)
    """
)


@pytest.fixture
def server_url() -> Iterator[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert child.stdout is not None
        yield f"http://127.0.0.1:{child.stdout.readline().strip()}/v1"
    finally:
        child.kill()
        child.wait()


def first_chunk_lateness_ms(url: str) -> tuple[float, bool]:
    """Hold the reader 300 ms after the head (the first chunk comes 20 ms in), then read:
    how long before the read returned its stamp lies, and whether the kernel stamped it."""
    connection = Connection(Origin.from_url(url))
    _, response = connection.request(b"GET /v1/slow HTTP/1.1\r\n", b"")
    reads = response.reads()
    time.sleep(0.3)  # the loop is busy elsewhere; the chunk arrives meanwhile
    stamp, piece = next(reads)
    returned = time.perf_counter_ns()
    assert b"first" in piece
    assert stamp >= response.t_headers_ns
    list(reads)
    connection.close()
    return (returned - stamp) / MS, connection.kernel_stamps


@pytest.mark.skipif(not SO_TIMESTAMPNS, reason="no kernel receive stamps on this system")
def test_a_read_held_up_by_the_loop_keeps_the_moment_its_bytes_arrived(server_url: str) -> None:
    lateness, kernel = first_chunk_lateness_ms(server_url)
    assert kernel
    # Arrived about 20 ms in (later on a loaded machine), read 300 ms in: the arrival's.
    assert lateness > 150, lateness


@pytest.mark.skipif(not SO_TIMESTAMPNS, reason="no kernel receive stamps on this system")
def test_the_loop_socket_reads_keep_the_kernel_stamp_too(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under locust the connection reads through a loop socket (_loop_socket): the same stamp.
    monkeypatch.setattr(_loop_socket, "_gevent_active", lambda: True)
    made: list[_loop_socket.Wire] = []

    def adopted(sock: socket.socket) -> _loop_socket.Wire:
        made.append(adopt(sock))
        return made[-1]

    monkeypatch.setattr(_http, "adopt", adopted)
    lateness, kernel = first_chunk_lateness_ms(server_url)
    assert [type(wire) for wire in made] == [LoopSocket]
    assert kernel
    assert lateness > 150, lateness


def test_without_kernel_stamps_the_read_is_stamped_when_it_returns(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the proof: the measure above tells the two ways of stamping apart.
    monkeypatch.setattr(_http, "_stamp_arrivals", lambda sock: False)
    lateness, kernel = first_chunk_lateness_ms(server_url)
    assert not kernel
    assert lateness < 50, lateness


def timespec(wall_ns: int) -> list[tuple[int, int, bytes]]:
    return [(socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@qq", *divmod(wall_ns, 10**9)))]


def test_the_kernel_time_is_moved_onto_the_monotonic_clock() -> None:
    # Read returned at monotonic 5,000 ms; the wall clock then said 1e9 s + 30 ms, the
    # kernel's time was 1e9 s + 18 ms: the bytes arrived 12 ms before the read returned.
    wall = 10**18 + 30 * MS
    assert arrival_ns(timespec(wall - 12 * MS), 5000 * MS, wall, 0) == 4988 * MS


def test_a_stamp_stays_between_the_send_and_the_read() -> None:
    wall = 10**18
    # A wall clock stepped back (or an arrival "before" the send) is held at the floor...
    assert arrival_ns(timespec(wall - 900 * MS), 5000 * MS, wall, 4950 * MS) == 4950 * MS
    # ... one stepped forward at the moment the read returned.
    assert arrival_ns(timespec(wall + 50 * MS), 5000 * MS, wall, 0) == 5000 * MS


def test_no_kernel_time_means_the_moment_the_read_returned() -> None:
    assert arrival_ns([], 5000 * MS, 10**18, 0) == 5000 * MS
    other = [(socket.SOL_SOCKET, SO_TIMESTAMPNS + 1, b"\0" * 16)]
    assert arrival_ns(other, 5000 * MS, 10**18, 0) == 5000 * MS
