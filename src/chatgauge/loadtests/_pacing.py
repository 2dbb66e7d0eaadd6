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
from chatgauge.loadtests._schedule import ArrivalSchedule, planned_duration, rate_segments
from chatgauge.results import JsonRecord


@dataclass(frozen=True)
class Share(JsonRecord):
    """One worker's part of a run (``max_requests`` ``None``: no cap)."""

    index: int = 0
    count: int = 1
    max_requests: int | None = None
    t0_ns: int | None = None
    boot_id: str = ""
    run_time_s: float | None = None
    """The master's ``-t`` (a worker is not told it by locust): where its window ends."""


def split(
    options: RunOptions,
    workers: int,
    *,
    t0_ns: int,
    boot_id: str,
    run_time_s: float | None = None,
) -> tuple[Share, ...]:
    """Each of ``workers`` workers' share; the request budget is split as evenly as it goes."""
    total = options.max_requests
    shares = []
    for index in range(workers):
        budget = None
        if total:
            budget = total // workers + (1 if index < total % workers else 0)
        shares.append(
            Share(
                index=index,
                count=workers,
                max_requests=budget,
                t0_ns=t0_ns,
                boot_id=boot_id,
                run_time_s=run_time_s,
            )
        )
    return tuple(shares)


MAX_UNSENT_DRAWS = 50_000_000
"""Bound on the slots :meth:`Pacing.unsent` draws (a 1,000 req/s schedule left unserved
for half a day); beyond it the count stops there rather than hold the end of the run."""


class Pacing:
    """The schedule (open loop) and the request budget one process's users draw from.

    ``window_ns`` is the measured part of the schedule, ``(start, end)`` (``end`` ``None``:
    until stopped): the slots :meth:`unsent` counts."""

    def __init__(
        self,
        schedule: ArrivalSchedule | None,
        budget: int | None,
        window_ns: tuple[int, int | None] = (0, None),
    ) -> None:
        self._schedule = schedule
        self._budget = budget
        self._window_ns = window_ns

    @classmethod
    def plan(
        cls,
        options: RunOptions,
        share: Share,
        *,
        t0_ns: int,
        boot_id: str,
        run_time_s: float | None = None,
    ) -> Pacing:
        """The pacing of a process taking ``share`` of a run that started at ``t0_ns`` and
        lasts ``run_time_s`` (``-t``; ``None``: until stopped)."""
        count = max(share.count, 1)
        budget = share.max_requests
        if budget is None:
            budget = options.max_requests or None
        if options.rate is None:
            return cls(None, budget)
        same_clock = share.t0_ns is not None and share.boot_id == boot_id
        start_ns = share.t0_ns if same_clock and share.t0_ns is not None else t0_ns
        schedule = ArrivalSchedule(
            rate_segments(options, 1.0 / count),
            options.arrival,
            seed=options.seed + share.index,
            phase=share.index / count,
            start_ns=start_ns,
        )
        planned = planned_duration(options, run_time_s or share.run_time_s)
        window = (
            start_ns + round(options.warmup_s * 1e9),
            None if planned is None else start_ns + round(planned * 1e9),
        )
        return cls(schedule, budget, window)

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

    def measured(self, slot_ns: int) -> bool:
        """Whether a slot lies in the measured part of the schedule."""
        start, end = self._window_ns
        return start <= slot_ns and (end is None or slot_ns < end)

    def unsent(self, now_ns: int) -> int:
        """Once the users have stopped: the measured slots due before ``now_ns`` that no
        user took (every one was busy), drawn from the schedule and the budget; 0 in a
        closed loop. Users take slots in order, so the slots left are exactly these."""
        schedule = self._schedule
        if schedule is None:
            return 0
        start, end = self._window_ns
        stop = now_ns if end is None else min(now_ns, end)
        count = 0
        for _ in range(MAX_UNSENT_DRAWS):
            slot = schedule.next_ns()
            if slot >= stop or not self.acquire():
                break
            count += slot >= start
        return count


__all__ = ["Pacing", "Share", "split"]
