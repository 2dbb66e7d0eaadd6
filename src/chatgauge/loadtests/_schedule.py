"""The pure parts of the load models (no locust import): arrival schedule and shape plan.

See :mod:`chatgauge.loadtests._shapes` for what each load model means.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from random import Random
from typing import Literal

from chatgauge.loadtests._options import RunOptions

_NS: float = 1e9


class ArrivalSchedule:
    """Intended start times (``perf_counter_ns``) of an open-loop run.

    ``segments`` are ``(offset_s, rate)`` pairs sorted by offset: from ``start_ns + offset``
    the arrival rate is ``rate`` requests/s; at each boundary the arrivals restart from the
    boundary itself, so a sweep's steps begin exactly on time. ``phase`` (0 <= phase < 1)
    shifts constant arrivals by that fraction of a gap: processes sharing one rate interleave
    instead of sending together.
    """

    def __init__(
        self,
        segments: Sequence[tuple[float, float]],
        arrival: Literal["poisson", "constant"],
        *,
        seed: int = 0,
        phase: float = 0.0,
        start_ns: int | None = None,
    ) -> None:
        if not segments or any(rate <= 0 for _, rate in segments):
            raise ValueError("an arrival schedule needs positive rates")
        self._segments = [(round(offset * _NS), rate) for offset, rate in segments]
        self._poisson = arrival == "poisson"
        self._rng = Random(seed)
        self._phase = phase
        self._start_ns = time.perf_counter_ns() if start_ns is None else start_ns
        self._segment = -1
        self._anchor_ns = 0
        self._count = 0
        self._last_ns = 0
        self._enter(0)

    @property
    def rate(self) -> float:
        """The current segment's rate."""
        return self._segments[self._segment][1]

    def _enter(self, index: int) -> None:
        self._segment = index
        self._anchor_ns = self._start_ns + self._segments[index][0]
        self._count = 0
        self._last_ns = self._anchor_ns

    def next_ns(self) -> int:
        """The next intended start time."""
        while True:
            rate = self._segments[self._segment][1]
            if self._poisson:
                slot = self._last_ns + round(self._rng.expovariate(rate) * _NS)
            else:
                slot = self._anchor_ns + round((self._count + self._phase) / rate * _NS)
            following = self._segment + 1
            if following < len(self._segments):
                boundary = self._start_ns + self._segments[following][0]
                if slot >= boundary:
                    self._enter(following)
                    continue
            self._count += 1
            self._last_ns = slot
            return slot


def shape_tick(
    settings: RunOptions,
    users: int,
    spawn_rate: float,
    run_time: float | None,
    elapsed: float,
) -> tuple[int, float] | None:
    """The ``(users, spawn_rate)`` a run with these settings wants ``elapsed`` s in."""
    if settings.sweep_kind is not None:
        step = int(elapsed // settings.sweep_step_s)
        if step >= len(settings.sweep_values):
            return None
        if settings.sweep_kind == "users":
            count = int(settings.sweep_values[step])
            return count, float(count)
        return users, float(users)
    if run_time and elapsed >= run_time:
        return None
    if settings.ramp_s:
        return users, users / settings.ramp_s
    if settings.step is not None:
        added, every = settings.step
        count = min(users, added * (1 + math.floor(elapsed / every)))
        return count, float(added)
    return users, spawn_rate


def planned_duration(settings: RunOptions, run_time: float | None) -> float | None:
    """How long the run is meant to last in seconds (``None``: until stopped)."""
    if settings.sweep_kind is not None:
        return settings.sweep_step_s * len(settings.sweep_values)
    return run_time or None


def rate_segments(settings: RunOptions, share: float) -> list[tuple[float, float]]:
    """The schedule's ``(offset_s, rate)`` segments for a process taking ``share`` of the load."""
    if settings.sweep_kind == "rate":
        return [
            (index * settings.sweep_step_s, rate * share)
            for index, rate in enumerate(settings.sweep_values)
        ]
    assert settings.rate is not None
    return [(0.0, settings.rate * share)]
