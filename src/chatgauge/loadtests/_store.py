"""Where one run's samples are kept in the process that computes its results.

Request samples (every one, raw: exact percentiles need them all) and the generator's
health samples (CPU percent per second and event-loop lag per probe, from this process or
shipped by the workers). A new run gets a new store, so nothing of a previous run leaks
into the next one's figures.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatgauge.loadtests._health import HealthInputs
from chatgauge.loadtests._samples import RequestSample


class SampleStore:
    """The request samples and health samples of one run (see the module docstring)."""

    def __init__(self) -> None:
        self.samples: list[RequestSample] = []
        self.cpu_percent: list[float] = []
        self.hub_lag_ms: list[float] = []

    def add(self, samples: Iterable[RequestSample]) -> None:
        """Keep finished requests' samples."""
        self.samples.extend(samples)

    def add_health(self, cpu_percent: Iterable[float], hub_lag_ms: Iterable[float]) -> None:
        """Keep health samples (drained from a monitor or shipped by a worker)."""
        self.cpu_percent.extend(cpu_percent)
        self.hub_lag_ms.extend(hub_lag_ms)

    def health(self, *, target_rate: float | None, users: int, processes: int) -> HealthInputs:
        """The health samples so far, with the facts the verdict's advice quotes."""
        return HealthInputs(
            cpu_percent=list(self.cpu_percent),
            hub_lag_ms=list(self.hub_lag_ms),
            target_rate=target_rate,
            users=users,
            processes=processes,
        )


__all__ = ["SampleStore"]
