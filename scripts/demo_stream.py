"""Start ``chatgauge serve`` on a free loopback port and stream one completion from it.

The tokens are printed as they arrive, then the timings the client measured. The server
runs with a known latency model (first token after ~200 ms, then one every ~20 ms), so the
numbers printed can be compared with what the server was told to do.
"""

from __future__ import annotations

import itertools
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from chatgauge import ChatCase, ChatClient, ChatExchange, ClientConfig, TimedEvent

TTFT_MS = 200
ITL_MS = 20
STARTUP_TIMEOUT_S = 30.0
_LISTENING = re.compile(r"listening on (https?://\S+)", re.IGNORECASE)


@contextmanager
def running_server() -> Iterator[str]:
    """Run ``chatgauge serve --port 0`` and yield its base URL (ending in ``/v1``)."""
    command = [sys.executable, "-m", "chatgauge", "serve", "--port", "0"]
    command += ["--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS)]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    assert server.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(server.stdout, lines), daemon=True).start()
    try:
        yield _wait_until_listening(lines)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    # Keep reading for the server's whole life so that a full pipe never blocks it.
    for line in stream:
        lines.put(line)
    lines.put(None)


def _wait_until_listening(lines: queue.Queue[str | None]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise SystemExit("chatgauge serve exited:\n" + "".join(seen[-20:]))
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            url = match.group(1).rstrip("/.,")
            return url if url.endswith("/v1") else f"{url}/v1"
    raise SystemExit(f"chatgauge serve did not say where it listens within {STARTUP_TIMEOUT_S} s")


def _token(event: TimedEvent) -> str:
    """The text a chunk adds ('' for role-only, usage and [DONE] events)."""
    try:
        chunk = event.json()
    except ValueError:
        return ""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def _summary(exchange: ChatExchange) -> list[str]:
    def ms(ns: int) -> str:
        return f"{ns / 1e6:.1f} ms"

    token_stamps = [e.arrived_ns for e in exchange.events if _token(e)]
    usage = next((c["usage"] for c in exchange.chunks() if c.get("usage")), None)
    lines = [
        f"status {exchange.status}, {len(exchange.events)} events in "
        f"{len(exchange.read_sizes)} reads, {len(exchange.raw)} bytes",
    ]
    if token_stamps:
        gaps = [b - a for a, b in itertools.pairwise(token_stamps)]
        lines.append(f"TTFT {ms(token_stamps[0] - exchange.t_send_ns)} (server told {TTFT_MS} ms)")
        if gaps:
            lines.append(
                f"ITL mean {ms(sum(gaps) // len(gaps))}, max {ms(max(gaps))} "
                f"over {len(gaps)} gaps (server told {ITL_MS} ms)"
            )
    lines.append(f"E2E {ms(exchange.t_done_ns - exchange.t_send_ns)}")
    if usage:
        lines.append(f"{usage.get('completion_tokens')} completion tokens (server's usage)")
    return lines


def main() -> int:
    with running_server() as base_url:
        print(f"chatgauge serve is listening on {base_url}")
        with ChatClient(ClientConfig(base_url)) as client:
            models = client.list_models()
            print(f"models: {', '.join(models)}")
            case = ChatCase(
                body={
                    "model": models[0],
                    "messages": [{"role": "user", "content": "Say hello to chatgauge."}],
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "max_tokens": 24,
                },
                label="demo",
            )
            print("streaming: ", end="", flush=True)
            exchange = client.send(case, on_event=lambda e: print(_token(e), end="", flush=True))
            print()
    if exchange.error_kind is not None:
        print(f"stream failed ({exchange.error_kind}): {exchange.error}", file=sys.stderr)
        return 1
    for line in _summary(exchange):
        print(f"  {line}")
    return 0 if exchange.status == 200 and exchange.events else 1


if __name__ == "__main__":
    sys.exit(main())
