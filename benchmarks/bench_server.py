"""How many streamed SSE events per second ``chatgauge serve`` sustains on this machine.

Starts ``chatgauge serve --itl-ms 0`` in a subprocess (pinned to CPU 0 with ``taskset``
when available), drives it from this process (pinned to CPU 1 when possible) with a lean
asyncio HTTP/1.1 client over keep-alive connections, and prints the events/s and
streams/s the server delivered. Every ``data:`` event counts (role, content, finish and
``[DONE]``); the content events are reported separately.

    python benchmarks/bench_server.py --streams 64 --seconds 5

The bench session (``nox -s bench``) runs :func:`test_server_events_per_second`: 64 streams
for 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pytest_benchmark.fixture import BenchmarkFixture

SRC = Path(__file__).resolve().parent.parent / "src"
EVENT_MARK = b"data: "
CHUNKED_END = b"\r\n0\r\n\r\n"


@dataclass
class Totals:
    events: int = 0
    streams: int = 0
    errors: int = 0


def start_server(extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "chatgauge", "serve", "--port", "0", "--itl-ms", "0", *extra]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def request_bytes(host: str, path: str, max_tokens: int | None) -> bytes:
    body: dict[str, object] = {
        "model": "pro",
        "messages": [{"role": "user", "content": "Stream something."}],
        "stream": True,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + payload


async def one_connection(
    host: str, port: int, request: bytes, deadline: float, totals: Totals
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                totals.errors += 1
                return
            tail = b""
            while not tail.endswith(CHUNKED_END):
                data = await reader.read(65536)
                if not data:
                    totals.errors += 1
                    return
                window = tail + data
                # Marks split across reads are counted once: the tail keeps < len(mark) bytes.
                totals.events += window.count(EVENT_MARK) - tail.count(EVENT_MARK)
                tail = window[-(len(CHUNKED_END) + len(EVENT_MARK)) :]
            totals.streams += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def drive(url: str, streams: int, seconds: float, max_tokens: int | None) -> Totals:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = request_bytes(host, f"{parts.path}/chat/completions", max_tokens)
    totals = Totals()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(one_connection(host, port, request, deadline, totals) for _ in range(streams))
    )
    return totals


def measure(
    streams: int, seconds: float, max_tokens: int | None, server_args: list[str]
) -> tuple[Totals, float]:
    """Start the server, warm up briefly, drive it for ``seconds``; totals and elapsed s.

    This process runs on CPU 1 meanwhile (when there are two), and on its former CPUs after.
    """
    pinned = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1
    cpus = os.sched_getaffinity(0) if pinned else set()
    if pinned:
        os.sched_setaffinity(0, {1})
    policy = asyncio.get_event_loop_policy()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    process, url = start_server(server_args)
    try:
        asyncio.run(drive(url, streams, 0.5, max_tokens))  # warm-up
        started = time.monotonic()
        totals = asyncio.run(drive(url, streams, seconds, max_tokens))
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=10)
        asyncio.set_event_loop_policy(policy)
        if pinned:
            os.sched_setaffinity(0, cpus)
    return totals, elapsed


def summary(totals: Totals, elapsed: float, streams: int) -> str:
    """The figures as one line."""
    # Per stream: one role event, one finish event and [DONE] besides the content events.
    content = totals.events - 3 * totals.streams
    return (
        f"{totals.events / elapsed:,.0f} events/s ({content / elapsed:,.0f} content events/s), "
        f"{totals.streams / elapsed:,.0f} streams/s, {streams} concurrent streams, "
        f"{elapsed:.1f} s, {totals.errors} errors"
    )


def test_server_events_per_second(benchmark: BenchmarkFixture) -> None:
    """The bench session's run: 64 streams for 3 s, figures printed and kept in extra_info."""
    streams = 64
    totals, elapsed = benchmark.pedantic(  # type: ignore[no-untyped-call]
        measure, args=(streams, 3.0, None, []), rounds=1, iterations=1
    )
    benchmark.extra_info["events_per_s"] = round(totals.events / elapsed)
    benchmark.extra_info["errors"] = totals.errors
    print(f"\nchatgauge serve: {summary(totals, elapsed, streams)}")
    assert totals.streams > 0, "no stream completed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured duration")
    parser.add_argument("--max-tokens", type=int, help="cap each stream's content events")
    parser.add_argument("--server-arg", action="append", default=[], help="extra serve flag")
    args = parser.parse_args()
    totals, elapsed = measure(args.streams, args.seconds, args.max_tokens, args.server_arg)
    print(summary(totals, elapsed, args.streams))


if __name__ == "__main__":
    main()
