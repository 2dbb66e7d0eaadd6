"""A capacity ground truth: at most N requests served at once, the rest queued in order.

With ``--max-concurrency N`` the reference endpoint behaves like a server with N decode
slots: a chat completion waits (first come, first served) for a free slot before anything
of its answer is generated, and holds the slot until its last byte is written. Its latency
model then runs from the moment the slot was taken, so a queued request's time to first
token is its wait plus ``ttft_ms``. The capacity of such a server is exact: ``N`` divided by
the service time (``ttft_ms + (max_tokens - 1) * itl_ms`` for answers of exactly
``max_tokens`` tokens, which ``--ignore-eos`` guarantees).

``--itl-growth-ms G`` makes every inter-token gap ``G`` ms longer per other stream being
served at that moment, as a batching server's decode step grows with its batch.

The gate also counts what a Prometheus scrape reports (``/metrics``): requests running,
waiting, admitted and finished, and the time spent waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Final

_NS_PER_MS: Final = 1_000_000


class ConcurrencyGate:
    """First-come-first-served slots for chat completions (``limit`` ``None``: unlimited).

    :meth:`slot` is an async context manager that yields once the request may run; the
    counters are read by the metrics endpoint. Waiters are served in arrival order because
    ``asyncio.Semaphore`` wakes its waiters in FIFO order.
    """

    def __init__(self, limit: int | None, itl_growth_ms: float = 0.0) -> None:
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit) if limit is not None else None
        self._growth_ns = round(itl_growth_ms * _NS_PER_MS)
        self.running = 0
        self.waiting = 0
        self.admitted = 0
        self.finished = 0
        self.wait_seconds_total = 0.0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """Wait for a slot; yields the ``monotonic_ns`` stamp at which it was taken."""
        arrived = time.monotonic_ns()
        self.waiting += 1
        acquired = False
        try:
            if self._semaphore is not None:
                await self._semaphore.acquire()
                acquired = True
        finally:
            self.waiting -= 1
        started = time.monotonic_ns()
        self.wait_seconds_total += (started - arrived) / 1e9
        self.running += 1
        self.admitted += 1
        try:
            yield started
        finally:
            self.running -= 1
            self.finished += 1
            if acquired and self._semaphore is not None:
                self._semaphore.release()

    @property
    def grows(self) -> bool:
        """Whether inter-token gaps depend on the number of streams being served."""
        return self._growth_ns > 0

    def extra_gap_ns(self) -> int:
        """How much longer the next inter-token gap is, given the streams served now."""
        return self._growth_ns * max(self.running - 1, 0)


__all__ = ["ConcurrencyGate"]
