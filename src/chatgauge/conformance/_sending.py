"""How a conformance run sends: pacing, retries of 429 and 503, deadlines, stopping.

Every request a check sends goes through :class:`Dispatcher` (owned by the
:class:`~chatgauge.conformance._context.CheckContext`), which holds the rules of the sending
path for the whole run:

- **Pacing.** With ``rate`` set, request starts are at least ``1 / rate`` seconds apart
  (retries included), so an endpoint with a known rate limit is never pushed over it.
- **Rate limits.** An answer ``429`` or ``503`` is retried up to ``max_retries`` times: after
  its ``Retry-After`` (whole seconds or an HTTP date) when it has a usable one, otherwise
  after an exponential backoff (``backoff_base_s * 2**attempt``) with jitter (a uniform
  factor in [0.5, 1]); either wait is capped at ``max_retry_wait_s``. Every attempt is a
  request of the budget, and every answer, the 429s too, is kept with the run's exchanges.
- **Deadlines.** Each request has the client's total deadline (``Limits.total_timeout_s``),
  shortened to what is left of the run deadline ``run_timeout_s``; once that is spent the
  run stops. After ``max_consecutive_timeouts`` requests in a row timed out, the endpoint
  is unresponsive and the run stops too.

A run that stops raises :class:`RunStopped` (a run-caused skip) for every later request; the
runner then records the checks it did not run as skipped for that reason, so the run is
``incomplete``. The waits and the clock are injectable, for the unit tests of these rules.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Final

from chatgauge._limits import Limits
from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._results import CheckSkipped, SkipKind

DEFAULT_READ_TIMEOUT_S: Final = 60.0
"""The longest silence between two reads (``check --timeout``)."""
DEFAULT_RUN_TIMEOUT_S: Final = 1800.0
"""The deadline of a whole run (``check --run-timeout``): a full run against a real server
takes a minute or two; one of 110 requests of 16 tokens at 2 tokens/s takes 15 minutes."""
DEFAULT_MAX_RETRIES: Final = 4
DEFAULT_MAX_RETRY_WAIT_S: Final = 30.0
BACKOFF_BASE_S: Final = 0.5
CONSECUTIVE_TIMEOUTS: Final = 3
"""Requests in a row that timed out after which the endpoint counts as unresponsive."""
RETRY_STATUSES: Final = frozenset({429, 503})


class RunStopped(CheckSkipped):
    """The run stopped sending (run deadline, unresponsive endpoint): a run-caused skip."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, kind=SkipKind.RUN)


@dataclass(frozen=True)
class SendPolicy:
    """The sending rules of a run (module docstring); ``None`` turns pacing or the run
    deadline off."""

    rate: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S
    backoff_base_s: float = BACKOFF_BASE_S
    run_timeout_s: float | None = None
    max_consecutive_timeouts: int = CONSECUTIVE_TIMEOUTS
    total_timeout_s: float = Limits().total_timeout_s
    """The client's own total deadline per request (what a case gets unless the run's
    remaining time is shorter)."""


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (``None``: missing or unusable).

    Whole (or, leniently, fractional) seconds, or an HTTP date (then the time from ``now``,
    epoch seconds, to it; never negative).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(attempt: int, policy: SendPolicy, rng: random.Random) -> float:
    """The wait before retry number ``attempt + 1`` without a usable Retry-After: an
    exponential backoff with jitter, capped at ``policy.max_retry_wait_s``."""
    base = policy.backoff_base_s * (2.0 ** min(attempt, 30))
    return min(base * rng.uniform(0.5, 1.0), policy.max_retry_wait_s)


@dataclass
class Dispatcher:
    """The sending state of one run: the rules of the module docstring."""

    policy: SendPolicy = field(default_factory=SendPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    started: float = field(default=-1.0)
    stop_reason: str = ""
    consecutive_timeouts: int = 0
    retries: int = 0
    """Requests sent again after a 429 or 503."""
    _last_start: float | None = None
    _capped: bool = False

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def remaining_s(self) -> float | None:
        """Seconds left before the run deadline (``None``: no run deadline)."""
        if self.policy.run_timeout_s is None:
            return None
        return self.policy.run_timeout_s - (self.clock() - self.started)

    def stop(self, reason: str) -> RunStopped:
        """Stop the run (the first reason sticks) and return the skip to raise."""
        if not self.stop_reason:
            self.stop_reason = reason
        return RunStopped(self.stop_reason)

    def check_running(self) -> None:
        """Raise :class:`RunStopped` when the run has stopped or its deadline passed."""
        if self.stop_reason:
            raise RunStopped(self.stop_reason)
        remaining = self.remaining_s()
        if remaining is not None and remaining <= 0:
            raise self.stop(self._deadline_text())

    def prepare(self, case: ChatCase) -> ChatCase:
        """Wait for the request's pacing slot; the case with its total deadline shortened
        to the run's remaining time. Raises :class:`RunStopped`."""
        self.check_running()
        if self.policy.rate is not None and self._last_start is not None:
            wait = self._last_start + 1.0 / self.policy.rate - self.clock()
            if wait > 0:
                self._wait(wait)
        self.check_running()
        self._last_start = self.clock()
        deadline = case.total_timeout_s or self.policy.total_timeout_s
        remaining = self.remaining_s()
        self._capped = remaining is not None and remaining < deadline
        if self._capped and remaining is not None:
            return replace(case, total_timeout_s=max(remaining, 0.001))
        return case

    def record(self, exchange: ChatExchange) -> None:
        """Note a request's outcome: a timeout cut by the run deadline stops the run (and
        raises :class:`RunStopped`); enough timeouts in a row mark the endpoint unresponsive
        (later requests are refused; this one's exchange is still the check's to judge)."""
        if exchange.error_kind != "timeout":
            self.consecutive_timeouts = 0
            return
        remaining = self.remaining_s()
        if self._capped and remaining is not None and remaining <= 0:
            raise self.stop(self._deadline_text())
        self.consecutive_timeouts += 1
        if self.consecutive_timeouts >= self.policy.max_consecutive_timeouts:
            self.stop(
                f"endpoint unresponsive: {self.consecutive_timeouts} requests in a row timed "
                f"out (the last: {exchange.error}); raise --timeout or --total-timeout for a "
                "slow endpoint"
            )

    def retry_delay(self, exchange: ChatExchange, attempt: int) -> float | None:
        """How long to wait before sending ``exchange``'s request again, or ``None`` when it
        is not retried (not a 429/503, retries used up, or the wait would pass the run
        deadline)."""
        if exchange.error_kind is not None or exchange.status not in RETRY_STATUSES:
            return None
        if attempt >= self.policy.max_retries:
            return None
        asked = retry_after_seconds(exchange.headers.get("retry-after"))
        delay = asked if asked is not None else backoff_delay(attempt, self.policy, self.rng)
        delay = min(delay, self.policy.max_retry_wait_s)
        remaining = self.remaining_s()
        if remaining is not None and delay >= remaining:
            return None
        return delay

    def wait_to_retry(self, delay: float) -> None:
        """Wait ``delay`` seconds before a retry, and count the retry."""
        self._wait(delay)
        self.retries += 1

    def _wait(self, seconds: float) -> None:
        remaining = self.remaining_s()
        if remaining is not None and seconds >= remaining:
            self.sleep(max(remaining, 0.0))
            raise self.stop(self._deadline_text())
        self.sleep(seconds)

    def _deadline_text(self) -> str:
        return f"run deadline of {self.policy.run_timeout_s:g} s reached (see --run-timeout)"


__all__ = [
    "BACKOFF_BASE_S",
    "CONSECUTIVE_TIMEOUTS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_WAIT_S",
    "DEFAULT_READ_TIMEOUT_S",
    "DEFAULT_RUN_TIMEOUT_S",
    "RETRY_STATUSES",
    "Dispatcher",
    "RunStopped",
    "SendPolicy",
    "backoff_delay",
    "retry_after_seconds",
]
