"""The generator measuring itself: CPU use per second and gevent hub lag.

Two greenlets per load-generating process. The CPU sampler reads the process's user+system
CPU time (``resource.getrusage``, all threads) once a second and records the share of one
core used since the previous sample (100 = a full core). The hub-lag probe wakes every
:data:`PROBE_INTERVAL_S`, yields to the hub once (``gevent.sleep(0)``: back in the queue
behind every greenlet that is ready and every I/O event that is pending) and records how
long it took to run again: the wait any ready greenlet, a stream reader included, has before
it runs, so a bound on how late an arrival stamp can be. (Timing the timed sleep itself
would mostly measure the timer's millisecond granularity, not the hub's backlog.)

Samples accumulate until :meth:`HealthMonitor.drain` hands them over (a worker ships them
to the master with its request samples).
"""

from __future__ import annotations

import resource
import time
from typing import Final

import gevent

PROBE_INTERVAL_S: Final = 0.010
CPU_INTERVAL_S: Final = 1.0
_NS_PER_MS: Final = 1_000_000


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HealthMonitor:
    """Per-second CPU percent and hub lag samples of this process (see the module docstring)."""

    def __init__(self) -> None:
        self.cpu_percent: list[float] = []
        self.hub_lag_ms: list[float] = []
        self._greenlets: list[gevent.Greenlet] = []

    @property
    def running(self) -> bool:
        """Whether the probes are running."""
        return bool(self._greenlets)

    def start(self) -> None:
        """Start both probes (no-op when running)."""
        if not self._greenlets:
            self._greenlets = [gevent.spawn(self._sample_cpu), gevent.spawn(self._probe_hub)]

    def stop(self) -> None:
        """Stop the probes; collected samples stay until drained."""
        greenlets, self._greenlets = self._greenlets, []
        gevent.killall(greenlets, block=False)

    def drain(self) -> tuple[list[float], list[float]]:
        """The CPU and hub-lag samples collected since the previous drain."""
        cpu, self.cpu_percent = self.cpu_percent, []
        lag, self.hub_lag_ms = self.hub_lag_ms, []
        return cpu, lag

    def _sample_cpu(self) -> None:
        wall = time.perf_counter()
        cpu = _cpu_seconds()
        while True:
            gevent.sleep(CPU_INTERVAL_S)
            now_wall, now_cpu = time.perf_counter(), _cpu_seconds()
            if now_wall > wall:
                self.cpu_percent.append(100.0 * (now_cpu - cpu) / (now_wall - wall))
            wall, cpu = now_wall, now_cpu

    def _probe_hub(self) -> None:
        while True:
            gevent.sleep(PROBE_INTERVAL_S)
            before = time.perf_counter_ns()
            gevent.sleep(0)
            self.hub_lag_ms.append((time.perf_counter_ns() - before) / _NS_PER_MS)
