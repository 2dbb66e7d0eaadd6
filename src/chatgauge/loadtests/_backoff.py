"""Per-user backoff after failures that say "not now": refused or reset connections, 429, 503.

Without it a closed-loop user against a dead server sends its next request the moment the
last one failed: tens of thousands of "connection refused" a second, the generator's CPU
saturated, and a report that blames the generator. A user that backs off waits before its
next request: exponentially longer after each such failure in a row (from
:data:`BASE_DELAY_S`, doubling, cut to the run's ``--max-backoff``), with jitter so users
that failed together do not return together, and at least as long as the server's
``Retry-After`` asks (cut to the same maximum). The first success resets it.

Other failures (a malformed stream, a timeout, a 500) do not back off: the request already
took its time, or the server answered and the load is part of the measurement.
"""

from __future__ import annotations

import email.utils
import math
import time
from random import Random
from typing import Final

from chatgauge.loadtests._samples import RequestSample

BASE_DELAY_S: Final = 0.05
"""The first backoff: long enough that a refusing server is not asked again at once, short
enough that a blip costs a few requests' worth of time."""

BACKOFF_STATUSES: Final = frozenset({429, 503})
"""Statuses that ask the client to come back later."""


def wants_backoff(sample: RequestSample) -> bool:
    """Whether the failure in ``sample`` asks for a backoff (see the module docstring)."""
    if sample.error_kind == "connection":
        return True
    return sample.error_kind == "http" and sample.status in BACKOFF_STATUSES


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); ``None`` when absent or
    unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


class Backoff:
    """One user's backoff state (see the module docstring)."""

    def __init__(self, max_delay_s: float, *, seed: int | None = None) -> None:
        self.max_delay_s = max_delay_s
        self.in_a_row = 0
        self._random = Random(seed)

    def delay_after(self, sample: RequestSample, retry_after: float | None = None) -> float:
        """Seconds to wait before the next request after ``sample`` (0 after a success or a
        failure that does not back off)."""
        if sample.ok:
            self.in_a_row = 0
            return 0.0
        if not wants_backoff(sample):
            return 0.0
        self.in_a_row += 1
        ceiling = min(self.max_delay_s, BASE_DELAY_S * 2.0 ** min(self.in_a_row - 1, 60))
        delay = self._random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay_s))
        return delay


__all__ = ["BACKOFF_STATUSES", "BASE_DELAY_S", "Backoff", "retry_after_s", "wants_backoff"]
