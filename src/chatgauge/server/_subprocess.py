"""Run ``chatgauge serve`` as a child process and learn its URL from its first line.

Used where the reference endpoint must not share a process (and a GIL) with the client
that measures it: the demo's load run and the benchmarks.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO

from chatgauge.server._runner import ServerStartError

_LISTENING = re.compile(r"listening on (https?://\S+)")


@contextmanager
def spawned_server(
    serve_args: Sequence[str] = (),
    *,
    startup_timeout_s: float = 30.0,
    prefix: Sequence[str] = (),
) -> Iterator[str]:
    """Start ``chatgauge serve --port 0 SERVE_ARGS`` and yield its base URL (``.../v1``).

    ``prefix`` goes before the interpreter (e.g. ``("taskset", "-c", "0")`` to pin the
    server to a core). The child is terminated on exit; if it dies or stays silent at
    start, :class:`ServerStartError` says so with its last output lines.
    """
    command = [*prefix, sys.executable, "-m", "chatgauge", "serve", "--port", "0", *serve_args]
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    assert child.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True).start()
    try:
        yield _wait_until_listening(lines, startup_timeout_s)
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    # Read for the child's whole life so that a full pipe never blocks it.
    for line in stream:
        lines.put(line)
    lines.put(None)


def _wait_until_listening(lines: queue.Queue[str | None], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            last = " | ".join(s.strip() for s in seen[-3:])
            raise ServerStartError(f"chatgauge serve exited at start: {last}")
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            return match.group(1).rstrip("/.,")
    raise ServerStartError(f"chatgauge serve did not report its address within {timeout_s} s")
