"""Load models: the open-loop arrival schedule and the locust shape that follows the options.

Closed loop (the default): ``-u N`` users each send a request as soon as the previous one
finished, so at most N requests are in flight and a slow server slows the arrivals.

Open loop (``--rate R``): an :class:`ArrivalSchedule` hands out intended start times
(``constant``: every 1/R s; ``poisson``: exponential gaps of mean 1/R s, seeded). A free user
takes the next slot, sleeps until it and sends; the users (``-u``) are the cap on requests in
flight. When every user is busy the slots queue up: the request is sent late, its
``t_sched`` is still the slot, so latency from the schedule includes that client-side wait
(coordinated omission corrected) and ``t_send - t_sched`` is the recorded schedule lag.

:class:`OptionsShape` (a locust ``LoadTestShape`` that reads ``-u``, ``-r`` and ``-t``):

- default: ``-u`` users at ``-r`` users/s until ``-t`` (forever without ``-t``);
- ``--ramp 30s``: users grow linearly from 0 to ``-u`` over 30 s, then hold;
- ``--step 4:10s``: 4 users, 4 more every 10 s up to ``-u``, then hold;
- ``--sweep-users 1,4,16``: one step of ``--sweep-time`` per count, then stop;
- ``--sweep-rates 1,2,4``: ``-u`` users as the cap, one step per rate (the schedule switches
  rate at exact step boundaries), then stop.

``--warmup`` is measured from the start of the run (or of each sweep step) and excluded from
statistics; it never adds users beyond the configured ones.
"""

from __future__ import annotations

import time

from locust import LoadTestShape

from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._schedule import shape_tick


class OptionsShape(LoadTestShape):
    """The load shape chatgauge's options describe (see the module docstring).

    Abstract like locust's own base classes: a locustfile subclasses it (the stock one does)
    to get ``--ramp``, ``--step`` and the sweeps; locust uses at most one shape class.
    """

    abstract = True
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        """Users and spawn rate for now; ``None`` ends the run."""
        runner = self.runner
        if runner is None:
            return None
        options = runner.environment.parsed_options
        settings = RunOptions.from_options(options)
        users = max(int(getattr(options, "num_users", None) or 1), 1)
        spawn_rate = float(getattr(options, "spawn_rate", None) or users)
        run_time = getattr(options, "run_time", None)
        elapsed = time.perf_counter() - self.start_time
        return shape_tick(settings, users, spawn_rate, run_time, elapsed)
