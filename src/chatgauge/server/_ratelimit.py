"""A token bucket: ``rate`` requests per second on average, bursts up to ``max(1, rate)``."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Admits a request when a token is available; otherwise says how long to wait."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()

    def acquire(self) -> float:
        """Take a token and return 0.0, or return the seconds until one will be available."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
