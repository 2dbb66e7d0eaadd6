"""The live progress line: figures since the start, cheap to update on every sample.

``elapsed  done  failed  in flight  output tok/s  TTFT p50/p99``, printed once a second with
``--progress``. Output tokens/s is over the time since the previous line; TTFT percentiles
are over every successful request so far, from a DDSketch histogram (within 0.1 % of the
exact figure, :mod:`chatgauge.loadtests._histograms`), so a line costs the same after an
hour as after a second, and on the same basis as the verdicts (from the intended start in
an open loop, where the line says so).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final

from chatgauge.loadtests._histograms import Sketch
from chatgauge.loadtests._samples import RequestSample

_NS: Final = 1_000_000_000


class Progress:
    """Counts and TTFT of one run's samples as they come in (see the module docstring)."""

    def __init__(self, t0_ns: int, *, from_schedule: bool = False) -> None:
        self.t0_ns = t0_ns
        self.from_schedule = from_schedule
        self.completed = 0
        self.failed = 0
        self._tokens_since = 0
        self._ttft = Sketch()
        self._last_line_ns = t0_ns

    @property
    def finished(self) -> int:
        """Requests finished so far, failed or not."""
        return self.completed + self.failed

    def observe(self, samples: Iterable[RequestSample]) -> None:
        """Count finished requests."""
        for sample in samples:
            if sample.ok:
                self.completed += 1
                self._tokens_since += sample.output_tokens
                first = sample.t_first_token_ns
                if first is not None:
                    start = sample.t_sched_ns if self.from_schedule else sample.t_send_ns
                    self._ttft.add((first - start) / 1e6)
            else:
                self.failed += 1

    def line(self, in_flight: int) -> str:
        """The progress line for now (resets the tokens/s interval)."""
        now = time.perf_counter_ns()
        interval = max(now - self._last_line_ns, 1) / _NS
        rate = self._tokens_since / interval
        self._tokens_since = 0
        self._last_line_ns = now
        name = "TTFT from intended start" if self.from_schedule else "TTFT"
        ttft_text = f"{name} -"
        if self._ttft.count:
            p50, p99 = self._ttft.quantiles((0.5, 0.99))
            ttft_text = f"{name} p50 {p50:.1f} ms p99 {p99:.1f} ms"
        return (
            f"{(now - self.t0_ns) / _NS:7.1f}s  done {self.completed}  failed {self.failed}  "
            f"in flight {in_flight}  {rate:.1f} output tok/s  {ttft_text}"
        )


__all__ = ["Progress"]
