"""CPU per read: gevent's cooperative socket against chatgauge's loop socket, side by side.

A writer in another process sends ``MESSAGES`` messages of ``MESSAGE_BYTES`` bytes, one
every ``GAP_US`` microseconds (a stream's tokens, faster), over loopback TCP; the reader in
this process reads them as they come, through ``gevent.socket.socket`` (a 60 s timeout,
as the load connection sets) or through :class:`chatgauge.loadtests._loop_socket.LoopSocket`
(the same timeout), with ``recvmsg`` and room for the kernel's receive time as the load
users read. The figure is the reader's own CPU time (``time.thread_time``) per read;
the two alternate, ``ROUNDS`` times each, and the ratio is taken per round. Figures only:
nothing here asserts a timing.

Run: ``python3 -m nox -s bench -- -k loop_socket`` or ``python benchmarks/bench_loop_socket.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any, Final

import gevent.socket
from pytest_benchmark.fixture import BenchmarkFixture

from chatgauge.loadtests._loop_socket import LoopSocket

MESSAGES: Final = 20_000
MESSAGE_BYTES: Final = 200
GAP_US: Final = 50
ROUNDS: Final = 3
TIMEOUT_S: Final = 60.0
ANCILLARY: Final = 64

WRITER: Final = textwrap.dedent(
    f"""
    import socket, sys, time
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    message = b"x" * {MESSAGE_BYTES}
    for _ in range({MESSAGES}):
        sock.sendall(message)
        until = time.perf_counter() + {GAP_US} / 1e6
        while time.perf_counter() < until:
            pass
    sock.close()
    """
)


def _connected_pair() -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """A gevent socket accepted from a writer process (pinned to core 0 when possible)."""
    listener = gevent.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    prefix = ["taskset", "-c", "0"] if _two_cores() else []
    command = [*prefix, sys.executable, "-c", WRITER, str(listener.getsockname()[1])]
    writer = subprocess.Popen(command)
    sock, _ = listener.accept()
    listener.close()
    sock.settimeout(TIMEOUT_S)
    return sock, writer


def _two_cores() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def _read_all(read: Callable[[], bytes]) -> tuple[float, int]:
    """CPU seconds of this thread to read every message, and the number of reads."""
    expected = MESSAGES * MESSAGE_BYTES
    received = reads = 0
    started = time.thread_time()
    while received < expected:
        data = read()
        if not data:
            break
        received += len(data)
        reads += 1
    return time.thread_time() - started, reads


def one_round(kind: str) -> dict[str, Any]:
    """CPU microseconds per message for one way of reading."""
    sock, writer = _connected_pair()
    try:
        if kind == "gevent":
            used, reads = _read_all(lambda: sock.recvmsg(65536, ANCILLARY)[0])
            sock.close()
        else:
            wire = LoopSocket(sock)
            used, reads = _read_all(lambda: wire.recvmsg(65536, ANCILLARY)[0])
            wire.close()
    finally:
        writer.wait(timeout=60)
    return {
        "us_per_message": round(used / MESSAGES * 1e6, 2),
        "us_per_read": round(used / max(reads, 1) * 1e6, 2),
        "reads": reads,
    }


def run_all(rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """Alternating rounds; each with both figures and their ratio."""
    rows = []
    for index in range(1, rounds + 1):
        theirs, ours = one_round("gevent"), one_round("loop")
        ratio = round(ours["us_per_read"] / theirs["us_per_read"], 2)
        rows.append({"round": index, "gevent": theirs, "loop": ours, "ratio": ratio})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The rounds as text."""
    lines = [f"CPU per read, {MESSAGES} messages of {MESSAGE_BYTES} B every {GAP_US} us:"]
    for row in rows:
        lines.append(
            f"  round {row['round']}: gevent socket {row['gevent']['us_per_read']} us a read "
            f"({row['gevent']['reads']} reads) | loop socket {row['loop']['us_per_read']} us a "
            f"read ({row['loop']['reads']} reads) | ratio loop/gevent {row['ratio']}"
        )
    return "\n".join(lines)


def test_loop_socket_read_cost(benchmark: BenchmarkFixture) -> None:
    """Both ways of reading, alternating; prints the figures and their ratios."""
    rows = benchmark.pedantic(run_all, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    benchmark.extra_info["ratios"] = [row["ratio"] for row in rows]
    print(render(rows))


if __name__ == "__main__":
    print(render(run_all()))
