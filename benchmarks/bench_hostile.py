"""Cost of hostile input per byte, at two sizes: linear code costs the same per byte at both.

Run: ``python -m pytest benchmarks/bench_hostile.py --benchmark-only -o python_files=bench_*.py``.
Each case runs at 1 MiB and at 4 MiB; ``ns_per_byte`` goes into ``extra_info`` and is
printed, so a quadratic path shows as a cost per byte four times higher at 4 MiB.

- one SSE line arriving in 100-byte reads (the partial line must not be re-copied per read);
- one event of 8-byte ``data`` lines (the data buffer must not hold millions of strings);
- a body kept by :class:`~chatgauge._bounded.BodyKeeper` in 100-byte reads, past its keep
  limit (the tail must not be re-copied per read);
- a chunked body of one-byte chunks through the load client's decoder.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from chatgauge import SSEDecoder
from chatgauge._bounded import BodyKeeper
from chatgauge._limits import KiB, MiB
from chatgauge.loadtests._wire import ChunkedDecoder

SIZES = [1 * MiB, 4 * MiB]


def long_line(size: int) -> Callable[[], object]:
    reads = [b"data: "] + [b"a" * 100] * (size // 100) + [b"\n\n"]

    def run() -> object:
        decoder = SSEDecoder()
        for data in reads:
            decoder.feed(data)
        return decoder.close()

    return run


def many_data_lines(size: int) -> Callable[[], object]:
    stream = b"data: x\n" * (size // 8) + b"\n"
    reads = [stream[i : i + 64 * KiB] for i in range(0, len(stream), 64 * KiB)]

    def run() -> object:
        decoder = SSEDecoder()
        return [event for data in reads for event in decoder.feed(data)]

    return run


def kept_body(size: int) -> Callable[[], object]:
    reads = [b"b" * 100] * (size // 100)

    def run() -> object:
        keeper = BodyKeeper(64 * KiB, 16 * KiB)
        for data in reads:
            keeper.add(data)
        return keeper.digest()

    return run


def one_byte_chunks(size: int) -> Callable[[], object]:
    framed = b"1\r\nx\r\n" * (size // 6)
    reads = [framed[i : i + 64 * KiB] for i in range(0, len(framed), 64 * KiB)]

    def run() -> object:
        decoder = ChunkedDecoder()
        return sum(len(decoder.feed(data)) for data in reads)

    return run


CASES = {
    "long-line": long_line,
    "many-data-lines": many_data_lines,
    "kept-body": kept_body,
    "one-byte-chunks": one_byte_chunks,
}


@pytest.mark.parametrize("size", SIZES, ids=["1MiB", "4MiB"])
@pytest.mark.parametrize("case", list(CASES))
def test_cost_per_byte(benchmark: BenchmarkFixture, case: str, size: int) -> None:
    benchmark.pedantic(CASES[case](size), rounds=5, iterations=1)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    ns_per_byte = benchmark.stats.stats.mean * 1e9 / size
    benchmark.extra_info["ns_per_byte"] = round(ns_per_byte, 2)
    print(f"\n{case} at {size // MiB} MiB: {ns_per_byte:.2f} ns/byte")
