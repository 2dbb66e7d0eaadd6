"""When this process's users may send: the open-loop schedule and the request budget.

A run split over workers gives each worker a :class:`Share` (sent by the master when the test
starts): its index among ``count`` workers, its part of ``--max-requests`` and the master's
start stamp. The worker's :class:`Pacing` then takes ``1/count`` of the rate, seeded and
phased by its index so the workers' arrivals interleave instead of coinciding, and counted
from the master's start when both share a clock, so a sweep's rate steps line up with the
windows the master measures. A single process is share 0 of 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._schedule import ArrivalSchedule, rate_segments
from chatgauge.results import JsonRecord


@dataclass(frozen=True)
class Share(JsonRecord):
    """One worker's part of a run (``max_requests`` ``None``: no cap)."""

    index: int = 0
    count: int = 1
    max_requests: int | None = None
    t0_ns: int | None = None
    boot_id: str = ""


def split(options: RunOptions, workers: int, *, t0_ns: int, boot_id: str) -> tuple[Share, ...]:
    """Each of ``workers`` workers' share; the request budget is split as evenly as it goes."""
    total = options.max_requests
    shares = []
    for index in range(workers):
        budget = None
        if total:
            budget = total // workers + (1 if index < total % workers else 0)
        shares.append(
            Share(index=index, count=workers, max_requests=budget, t0_ns=t0_ns, boot_id=boot_id)
        )
    return tuple(shares)


class Pacing:
    """The schedule (open loop) and the request budget one process's users draw from."""

    def __init__(self, schedule: ArrivalSchedule | None, budget: int | None) -> None:
        self._schedule = schedule
        self._budget = budget

    @classmethod
    def plan(cls, options: RunOptions, share: Share, *, t0_ns: int, boot_id: str) -> Pacing:
        """The pacing of a process taking ``share`` of a run that started at ``t0_ns``."""
        count = max(share.count, 1)
        budget = share.max_requests
        if budget is None:
            budget = options.max_requests or None
        if options.rate is None:
            return cls(None, budget)
        same_clock = share.t0_ns is not None and share.boot_id == boot_id
        schedule = ArrivalSchedule(
            rate_segments(options, 1.0 / count),
            options.arrival,
            seed=options.seed + share.index,
            phase=share.index / count,
            start_ns=share.t0_ns if same_clock and share.t0_ns is not None else t0_ns,
        )
        return cls(schedule, budget)

    def acquire(self) -> bool:
        """Take one request from the budget; ``False`` when it is spent."""
        if self._budget is None:
            return True
        if self._budget <= 0:
            return False
        self._budget -= 1
        return True

    def next_start_ns(self) -> int | None:
        """The next intended start in open-loop mode; ``None`` in a closed loop."""
        return self._schedule.next_ns() if self._schedule is not None else None


__all__ = ["Pacing", "Share", "split"]
