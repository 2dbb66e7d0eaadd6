"""Watching the endpoint and the sweep while a run goes on: the endpoint-down stop, step lines.

:class:`EndpointWatch` sees every finished request where results are computed (a local run
or the master). When the endpoint has answered nothing but failures for ``--abort-after``
seconds, by this process's clock from the first failure after the last success, it says
the endpoint is down and the run stops (status ``aborted``, exit code 3): measuring an
outage further only measures its failures. Requests cut off by the end of the run are no
evidence either way.

:class:`StepProgress` names the sweep step under way, counts what finished in it and keeps
its own TTFT percentiles (a DDSketch per step, on the verdicts' basis), for the progress
line: the whole-run TTFT beside it mixes every step so far.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Final

from chatgauge.loadtests._histograms import Sketch
from chatgauge.loadtests._samples import RequestSample

_NS: Final = 1_000_000_000


def error_label(sample: RequestSample) -> str:
    """A failed request's kind as the reports group it: ``http 429``, ``connection``."""
    kind = sample.error_kind or "error"
    if kind == "http" and sample.status is not None:
        return f"http {sample.status}"
    return kind


class EndpointWatch:
    """Whether the endpoint is down (see the module docstring)."""

    def __init__(self, abort_after_s: float) -> None:
        self.abort_after_ns = round(abort_after_s * _NS)
        self.abort_after_s = abort_after_s
        self.failing_since_ns: int | None = None
        self.failures: Counter[str] = Counter()

    def observe(self, samples: Iterable[RequestSample], now_ns: int | None = None) -> None:
        """Take finished requests into account."""
        for sample in samples:
            if sample.ok:
                self.failing_since_ns = None
                self.failures.clear()
            elif sample.error_kind != "cut_off":
                if self.failing_since_ns is None:
                    self.failing_since_ns = time.perf_counter_ns() if now_ns is None else now_ns
                self.failures[error_label(sample)] += 1

    def down(self, now_ns: int | None = None) -> str | None:
        """Why the endpoint counts as down now, or ``None`` while it does not."""
        since = self.failing_since_ns
        now = time.perf_counter_ns() if now_ns is None else now_ns
        if since is None or now - since < self.abort_after_ns:
            return None
        total = sum(self.failures.values())
        kinds = ", ".join(f"{count} x {kind}" for kind, count in self.failures.most_common(3))
        return (
            f"endpoint down: no successful answer for {self.abort_after_s:g} s "
            f"(--abort-after), {total} failed requests ({kinds}); the run stopped early"
        )


class StepProgress:
    """The sweep step under way, the requests finished in it and their TTFT (from the
    intended start when ``from_schedule``), for the progress line."""

    def __init__(
        self, t0_ns: int, step_s: float, labels: tuple[str, ...], *, from_schedule: bool = False
    ) -> None:
        self.t0_ns = t0_ns
        self.step_ns = max(round(step_s * _NS), 1)
        self.labels = labels
        self.from_schedule = from_schedule
        self._step = 0
        self.done = 0
        self.failed = 0
        self._ttft = Sketch()

    def _index(self, stamp_ns: int) -> int:
        return min(max((stamp_ns - self.t0_ns) // self.step_ns, 0), len(self.labels) - 1)

    def _enter(self, index: int) -> None:
        if index > self._step:
            self._step, self.done, self.failed = index, 0, 0
            self._ttft = Sketch()

    def observe(self, samples: Iterable[RequestSample]) -> None:
        """Count the requests that finished in the current step."""
        for sample in samples:
            index = self._index(sample.t_done_ns)
            self._enter(index)
            if index != self._step:
                continue
            if not sample.ok:
                self.failed += 1
                continue
            self.done += 1
            first = sample.t_first_token_ns
            if first is not None:
                start = sample.t_sched_ns if self.from_schedule else sample.t_send_ns
                self._ttft.add((first - start) / 1e6)

    def prefix(self, now_ns: int | None = None) -> str:
        """``step 2/3 (8 req/s): done 40 failed 0 TTFT p50 201.3 p99 230.9 ms |`` for now."""
        index = self._index(time.perf_counter_ns() if now_ns is None else now_ns)
        self._enter(index)
        ttft = "TTFT -"
        if self._ttft.count:
            p50, p99 = self._ttft.quantiles((0.5, 0.99))
            ttft = f"TTFT p50 {p50:.1f} p99 {p99:.1f} ms"
        return (
            f"step {index + 1}/{len(self.labels)} ({self.labels[index]}): done {self.done} "
            f"failed {self.failed} {ttft} |"
        )


__all__ = ["EndpointWatch", "StepProgress", "error_label"]
