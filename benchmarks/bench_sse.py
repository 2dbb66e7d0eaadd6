"""Decoder throughput on a realistic OpenAI chat-completions stream, in events per second.

Run: ``python -m pytest benchmarks/bench_sse.py --benchmark-only``. Each benchmark decodes
64 chunk events of about 200 bytes plus ``[DONE]``, fed one read per event (a server that
flushes every chunk) and one byte per read (the worst fragmentation); the events/s figure
is printed and stored in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import json

from pytest_benchmark.fixture import BenchmarkFixture

from chatgauge import SSEDecoder

CHUNK_EVENTS = 64


def chunk_event(index: int) -> bytes:
    chunk = {
        "id": "chatcmpl-9xQbX2bT1vKzR7mYdL0aH3sPqW8eN",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0f03d4f0ee",
        "choices": [
            {
                "index": 0,
                "delta": {"content": f" word{index}"},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


EVENT_READS = [chunk_event(i) for i in range(CHUNK_EVENTS)] + [b"data: [DONE]\n\n"]
STREAM = b"".join(EVENT_READS)
BYTE_READS = [STREAM[i : i + 1] for i in range(len(STREAM))]


def decode_all(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for read in reads:
        count += len(decoder.feed(read))
    return count + len(decoder.close())


def measure(benchmark: BenchmarkFixture, reads: list[bytes], label: str) -> None:
    events = benchmark(decode_all, reads)
    assert events == len(EVENT_READS)
    assert benchmark.stats is not None
    events_per_s = events / benchmark.stats.stats.mean
    benchmark.extra_info["events_per_s"] = round(events_per_s)
    benchmark.extra_info["mean_event_bytes"] = round(len(STREAM) / events)
    print(f"\n{label}: {events_per_s:,.0f} events/s ({len(reads)} reads)")


def test_one_read_per_event(benchmark: BenchmarkFixture) -> None:
    measure(benchmark, EVENT_READS, "one read per event")


def test_one_byte_per_read(benchmark: BenchmarkFixture) -> None:
    measure(benchmark, BYTE_READS, "one byte per read")
