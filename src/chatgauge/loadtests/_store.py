"""Where one run's samples go in the process that computes its results.

Nothing here keeps a request's sample. Each one is written to the raw-samples file
(:class:`~chatgauge.loadtests._spill.SpillWriter`) and added to the live tallies (fixed-size
histograms and counters: the main window and each sweep step), from which the progress line
and the ``load.json`` rewritten once a second are drawn; the final figures are computed
exactly from the file (:meth:`SampleStore.exact`). Per request this costs the counters' few
bytes and nothing that grows with the run; per second, the generator's health samples (CPU
percent once a second, event-loop lag every 10 ms) are kept as 8-byte floats.

A new run gets a new store, so nothing of a previous run leaks into the next one's figures.

While the live document is assembled off the event loop (:meth:`SampleStore.hold` until
:meth:`SampleStore.release`), the
tallies are not touched: samples still go to the file at once, in order, but reach the
tallies (and health samples their histograms) only when the hold ends, so the reader sees
a consistent state and the event loop never waits for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chatgauge.loadtests._health import HealthInputs
from chatgauge.loadtests._histograms import Sketch
from chatgauge.loadtests._lengths import LengthTally
from chatgauge.loadtests._metrics import tally_all
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import DEFAULT_MAX_ERROR_RATE
from chatgauge.loadtests._spill import SpillWriter, read_raw_samples
from chatgauge.loadtests._stats import ExactValues
from chatgauge.loadtests._tally import Tally
from chatgauge.results.load import LatencyBasis

_FAR: int = 2**62


@dataclass(frozen=True)
class Windows:
    """The windows a run is measured in, as planned when it starts: the main one (its end
    the planned end, ``None`` without one) and each sweep step's ``(start, end)``."""

    start_ns: int
    end_ns: int | None
    steps: tuple[tuple[int, int], ...] = ()


class SampleStore:
    """The raw-samples file, the live tallies and the health samples of one run."""

    def __init__(
        self,
        windows: Windows | None = None,
        *,
        spill: SpillWriter | None = None,
        dump: SpillWriter | None = None,
        slos: Mapping[str, float] | None = None,
        origin_ns: int = 0,
        temporary: bool = False,
        basis: LatencyBasis = "send",
        max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
        default_output: int = 0,
    ) -> None:
        self.basis: LatencyBasis = basis
        self.max_error_rate = max_error_rate
        self.lengths = LengthTally(default_output)
        self.windows = windows or Windows(start_ns=0, end_ns=None)
        self.spill = spill
        self.dump = dump
        self.temporary = temporary
        self.slos = dict(slos or {})
        self.origin_ns = origin_ns
        self.count = 0
        self.live = self._tally((self.windows.start_ns, self.windows.end_ns or _FAR), True, False)
        self.steps = [self._tally(w, False, False) for w in self.windows.steps]
        self.cpu_percent = ExactValues()
        self.hub_lag_ms = ExactValues()
        self._cpu_live = Sketch()
        self._hub_live = Sketch()
        self._held: list[RequestSample] | None = None
        self._held_health: list[tuple[list[float], list[float]]] = []
        self._held_cap: int | None = None

    def _tally(self, window: tuple[int, int], detailed: bool, exact: bool) -> Tally:
        return Tally(
            window,
            slos=self.slos,
            origin_ns=self.origin_ns,
            exact=exact,
            detailed=detailed,
            basis=self.basis,
            max_error_rate=self.max_error_rate,
        )

    def add(self, samples: Iterable[RequestSample]) -> None:
        """Record finished requests: their lines in the file, their figures in the tallies."""
        for sample in samples:
            self.count += 1
            if self.spill is not None:
                self.spill.write(sample)
            if self.dump is not None:
                self.dump.write(sample)
            if self._held is not None:
                self._held.append(sample)
            else:
                self._tally_one(sample)

    def _tally_one(self, sample: RequestSample) -> None:
        self.live.add(sample)
        self.lengths.add(sample)
        for step in self.steps:
            step.add(sample)

    def hold(self) -> None:
        """From now on keep the tallies and health histograms unchanged (another thread
        reads them) until :meth:`release`."""
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Add, in order, what arrived since :meth:`hold` (nothing when not held)."""
        held, self._held = self._held, None
        health, self._held_health = self._held_health, []
        cap, self._held_cap = self._held_cap, None
        for sample in held or ():
            self._tally_one(sample)
        for cpu, hub in health:
            self.add_health(cpu, hub)
        if cap is not None:
            self.live.cap(cap)

    def cap(self, end_ns: int) -> None:
        """The run was stopped at ``end_ns``: nothing scheduled later is measured."""
        if self._held is not None:
            self._held_cap = end_ns
            return
        self.live.cap(end_ns)

    def flush(self) -> None:
        """Put the buffered records on disk (once a second and at the end)."""
        for writer in (self.spill, self.dump):
            if writer is not None:
                writer.flush()

    @property
    def spill_readable(self) -> bool:
        """Whether the file holds every request recorded (the exact figures need it)."""
        return self.spill is not None and not self.spill.broken

    def exact(
        self, window: tuple[int, int], steps: Sequence[tuple[int, int]] = ()
    ) -> tuple[Tally, list[Tally]]:
        """Exact tallies of ``window`` (detailed) and of each step window, from one pass
        over the raw-samples file (call :meth:`flush` first)."""
        main = self._tally(window, True, True)
        step_tallies = [self._tally(w, False, True) for w in steps]
        assert self.spill is not None
        self.flush()

        def tee() -> Iterable[RequestSample]:
            assert self.spill is not None
            for sample in read_raw_samples(self.spill.path):
                for step in step_tallies:
                    step.add(sample)
                yield sample

        tally_all(main, tee())
        return main, step_tallies

    def close(self) -> None:
        """Close the files (a temporary spill is deleted)."""
        if self.spill is not None:
            if self.temporary:
                self.spill.remove()
            else:
                self.spill.close()
        if self.dump is not None:
            self.dump.close()

    def add_health(self, cpu_percent: Iterable[float], hub_lag_ms: Iterable[float]) -> None:
        """Keep health samples (drained from a monitor or shipped by a worker)."""
        if self._held is not None:
            self._held_health.append((list(cpu_percent), list(hub_lag_ms)))
            return
        for value in cpu_percent:
            self.cpu_percent.add(value)
            self._cpu_live.add(value)
        for value in hub_lag_ms:
            self.hub_lag_ms.add(value)
            self._hub_live.add(value)

    def health(
        self, *, target_rate: float | None, users: int, processes: int, exact: bool = False
    ) -> HealthInputs:
        """The health samples so far (live: their histograms; ``exact``: every value), with
        the facts the verdict's advice quotes."""
        cpu, hub = (
            (self.cpu_percent, self.hub_lag_ms) if exact else (self._cpu_live, self._hub_live)
        )
        return HealthInputs(
            cpu_percent=cpu.summary(),
            hub_lag_ms=hub.summary(),
            target_rate=target_rate,
            users=users,
            processes=processes,
        )


__all__ = ["SampleStore", "Windows"]
