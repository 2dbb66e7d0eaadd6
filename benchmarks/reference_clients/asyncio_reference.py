"""The minimal asyncio streaming client the load-accuracy benchmark compares chatgauge with.

``--streams N`` keep-alive HTTP/1.1 connections (raw asyncio streams, the default event
loop), each sending the same streamed chat request in a closed loop until ``--seconds``
have passed. Every socket read is stamped with ``time.perf_counter_ns()`` as soon as
``read`` returns; the chunked framing is removed, the body is cut into lines, and every
``data:`` event whose first choice carries non-empty ``delta.content`` records the stamp of
the read it arrived in. Nothing else happens per read: this is close to the least a Python
client can do, so its timing error and CPU use are the reference (``--uvloop``: the same on
uvloop's event loop, written in C).

``--stagger S`` delays the k-th of N connections by ``k * S / N`` before its first request.

Writes one JSON line per request to ``--records``:
``{"id", "t_send_ns", "token_ns", "error"}`` (``error`` null when the stream completed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

READ_BYTES = 65536
Record = tuple[str | None, int, tuple[int, ...], str | None]
"""``(id, t_send_ns, token_ns, error)`` of one request."""


def request_bytes(host: str, path: str, body: dict[str, Any]) -> bytes:
    """The whole request: head and JSON body, sent with one write."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nAccept-Encoding: identity\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def one_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> Record:
    """Send one request and read its chunked SSE body to the end.

    Returns ``(id, t_send_ns, token_ns, error)``: a tuple of atoms, which the garbage
    collector stops tracking, so thousands of kept records do not lengthen its passes.
    """
    response_id: str | None = None
    t_send_ns = time.perf_counter_ns()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
        raise ConnectionError(f"unexpected response head: {head[:60]!r}")
    framed = b""  # bytes whose chunk framing is not removed yet
    text = b""  # body bytes not yet cut into lines
    tokens: list[int] = []
    body_done = False
    while not body_done:
        data = await reader.read(READ_BYTES)
        arrived = time.perf_counter_ns()
        if not data:
            raise ConnectionError("connection closed in the middle of a stream")
        framed += data
        while (line_end := framed.find(b"\r\n")) >= 0:
            size = int(framed[:line_end].split(b";", 1)[0], 16)
            chunk_end = line_end + 2 + size
            if len(framed) < chunk_end + 2:
                break
            text += framed[line_end + 2 : chunk_end]
            framed = framed[chunk_end + 2 :]
            body_done = size == 0
        *lines, text = text.split(b"\n")
        for line in lines:
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if response_id is None:
                response_id = chunk["id"]
            choices = chunk["choices"]
            if choices and choices[0]["delta"].get("content"):
                tokens.append(arrived)
    return response_id, t_send_ns, tuple(tokens), None


async def connection_loop(
    host: str,
    port: int,
    request: bytes,
    deadline: float,
    delay_s: float,
    records: list[Record],
) -> None:
    """Requests back to back on one connection until ``deadline`` (reconnect after errors)."""
    await asyncio.sleep(delay_s)
    while time.perf_counter() < deadline:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                records.append(await one_stream(reader, writer, request))
        except (OSError, ValueError, KeyError, asyncio.IncompleteReadError) as exc:
            records.append((None, 0, (), repr(exc)))
        finally:
            writer.close()


async def run(args: argparse.Namespace) -> list[Record]:
    """All connections of the run; the records of every request."""
    url = urlsplit(args.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    body = json.loads(args.body)
    request = request_bytes(f"{host}:{port}", f"{url.path}/chat/completions", body)
    records: list[Record] = []
    deadline = time.perf_counter() + args.seconds
    await asyncio.gather(
        *(
            connection_loop(host, port, request, deadline, k * args.stagger / args.streams, records)
            for k in range(args.streams)
        )
    )
    return records


def main() -> None:
    """Parse the flags, run, write the records."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--streams", type=int, required=True, help="concurrent streams")
    parser.add_argument("--seconds", type=float, required=True, help="run time")
    parser.add_argument("--body", required=True, help="the request body as JSON")
    parser.add_argument("--records", type=Path, required=True, help="JSONL output file")
    parser.add_argument("--stagger", type=float, default=0.0, help="spread starts (s)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    records = asyncio.run(run(args))
    keys = ("id", "t_send_ns", "token_ns", "error")
    lines = "".join(json.dumps(dict(zip(keys, record, strict=True))) + "\n" for record in records)
    args.records.write_text(lines)


if __name__ == "__main__":
    main()
