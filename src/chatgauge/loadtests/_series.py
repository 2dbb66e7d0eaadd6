"""The per-second series and the per-request points of ``load.json``, built as samples arrive.

Both take one request at a time and keep nothing per request but what the output needs:

- :class:`SeriesTally` keeps one row of counters per second (started, completed, errors,
  output and streamed tokens, in-flight time) and one collection of TTFT and E2E values per
  second for the medians. Exact collections (the final document) keep every value; sketches
  (live documents) keep 1 % bins, a second more than :data:`OPEN_SECONDS` behind the
  newest one is closed to its medians, and a live series shows (and keeps) the last
  :data:`LIVE_SERIES_S` seconds only, so neither its memory nor its cost grows with the run.
- :class:`ExactPoints` keeps four numbers per request (send stamp, TTFT, E2E, ok) in C
  arrays and draws every ``stride``-th request in send order at the end, exactly as
  ``definitions["points"]`` says; :class:`LivePoints` keeps at most :data:`MAX_LIVE_POINTS`,
  the stride doubling whenever they would overflow (arrival order, then sorted by send).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Final

import numpy as np

from chatgauge.loadtests._definitions import MAX_POINTS
from chatgauge.loadtests._requests import NS_PER_S, RequestFigures
from chatgauge.loadtests._stats import Values
from chatgauge.results.load import Points, Series

MAX_LIVE_POINTS: Final = 1000
"""Points of a live document (the final one has up to :data:`MAX_POINTS`): the page is drawn
from the final document, and a smaller live one is cheaper to write every second."""

OPEN_SECONDS: Final = 60
"""Live series: seconds this far behind the newest one get no more values (a late value is
left out of the live medians only; the final document is exact)."""

LIVE_SERIES_S: Final = 300
"""A live document's series covers the last this many seconds (the final one, the whole
run), so rewriting it costs the same in the fifth hour of a run as in the first minute."""

_STARTED, _COMPLETED, _ERRORS, _OUTPUT, _STREAMED, _BUSY = range(6)


class SeriesTally:
    """Per-second figures since ``origin`` (see ``definitions["series"]``)."""

    def __init__(self, origin: int, values: Callable[[], Values], *, live: bool) -> None:
        self.origin = origin
        self._values = values
        self._live = live
        self._rows: dict[int, list[int]] = {}
        self._ttft: dict[int, Values] = {}
        self._e2e: dict[int, Values] = {}
        self._closed: dict[int, tuple[float | None, float | None]] = {}
        # Medians of open seconds as last computed; a second's entry goes when it gets a
        # value. Values land in the seconds of a request's first token and end, i.e. the
        # last second or two, so a document recomputes those, not every open second (the
        # per-document cost would otherwise grow for OPEN_SECONDS into every run).
        self._fresh: dict[int, tuple[float | None, float | None]] = {}
        self._first: int | None = None
        self._last: int | None = None
        self._closed_below = -(2**62)

    def _second(self, stamp: int) -> int:
        return (stamp - self.origin) // NS_PER_S

    def _row(self, second: int) -> list[int]:
        row = self._rows.get(second)
        if row is None:
            row = self._rows[second] = [0] * 6
        return row

    def _median_of(self, table: dict[int, Values], second: int, value: float) -> None:
        if second < self._closed_below:
            return
        values = table.get(second)
        if values is None:
            values = table[second] = self._values()
        values.add(value)
        self._fresh.pop(second, None)

    def add(self, request: RequestFigures) -> None:
        """Count one request in the seconds its stamps fall in."""
        sample = request.sample
        tokens = sample.token_event_ns
        earliest = min(sample.t_sched_ns, sample.t_send_ns, sample.t_done_ns, *tokens[:1])
        latest = max(sample.t_sched_ns, sample.t_send_ns, sample.t_done_ns, *tokens[-1:])
        first, last = self._second(earliest), self._second(latest)
        self._first = first if self._first is None else min(self._first, first)
        self._last = last if self._last is None else max(self._last, last)
        self._row(self._second(sample.t_send_ns))[_STARTED] += 1
        done = self._second(sample.t_done_ns)
        row = self._row(done)
        if sample.ok:
            row[_COMPLETED] += 1
            row[_OUTPUT] += sample.output_tokens
            self._median_of(self._e2e, done, request.e2e)
            if request.ttft is not None and sample.t_first_token_ns is not None:
                self._median_of(self._ttft, self._second(sample.t_first_token_ns), request.ttft)
        else:
            row[_ERRORS] += 1
        if tokens:
            counts = request.tokens_per_event
            second = self._second(tokens[0])
            if second == self._second(tokens[-1]):  # the usual case: one sum, not a loop
                self._row(second)[_STREAMED] += sum(counts)
            else:
                for stamp, k in zip(tokens, counts, strict=True):
                    self._row(self._second(stamp))[_STREAMED] += k
        self._spread_busy(sample.t_send_ns - self.origin, sample.t_done_ns - self.origin)
        if self._live and self._last - OPEN_SECONDS > self._closed_below:
            self._close_before(self._last - OPEN_SECONDS)

    def _spread_busy(self, begin: int, finish: int) -> None:
        """Add the in-flight interval ``[begin, finish)`` (ns from the origin) to each second."""
        second = begin // NS_PER_S
        while begin < finish:
            boundary = (second + 1) * NS_PER_S
            self._row(second)[_BUSY] += min(finish, boundary) - begin
            begin = boundary
            second += 1

    def _close_before(self, second: int) -> None:
        for old in sorted({s for s in (*self._ttft, *self._e2e) if s < second}):
            self._closed[old] = self._medians(old)
            self._ttft.pop(old, None)
            self._e2e.pop(old, None)
        for old in [s for s in self._fresh if s < second]:
            del self._fresh[old]  # seconds without values, or closed just above
        self._closed_below = second
        shown = (second if self._last is None else self._last) - LIVE_SERIES_S
        for table in (self._rows, self._closed):
            for old in [s for s in table if s < shown]:
                del table[old]

    def _medians(self, second: int) -> tuple[float | None, float | None]:
        known = self._closed.get(second) or self._fresh.get(second)
        if known is not None:
            return known
        ttft, e2e = self._ttft.get(second), self._e2e.get(second)
        medians = (
            ttft.quantile(0.5) if ttft is not None else None,
            e2e.quantile(0.5) if e2e is not None else None,
        )
        self._fresh[second] = medians
        return medians

    def series(self) -> Series:
        """The series so far (live: its last :data:`LIVE_SERIES_S` seconds)."""
        if self._first is None or self._last is None:
            return Series()
        first = max(self._first, self._last - LIVE_SERIES_S + 1) if self._live else self._first
        seconds = range(first, self._last + 1)
        empty = [0] * 6
        rows = [self._rows.get(s, empty) for s in seconds]
        medians = [self._medians(s) for s in seconds]
        return Series(
            t=tuple(seconds),
            requests_started=tuple(r[_STARTED] for r in rows),
            requests_completed=tuple(r[_COMPLETED] for r in rows),
            errors=tuple(r[_ERRORS] for r in rows),
            output_tokens=tuple(r[_OUTPUT] for r in rows),
            streamed_tokens=tuple(r[_STREAMED] for r in rows),
            active_requests=tuple(r[_BUSY] / NS_PER_S for r in rows),
            ttft_p50_ms=tuple(m[0] for m in medians),
            e2e_p50_ms=tuple(m[1] for m in medians),
        )


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _latencies(request: RequestFigures, from_schedule: bool) -> tuple[float | None, float]:
    """A point's TTFT and E2E: from the intended start on that basis, else from the send."""
    if from_schedule:
        return request.ttft_from_schedule, request.e2e_from_schedule
    return request.ttft, request.e2e


class ExactPoints:
    """Every request's point, four numbers each; every ``stride``-th in send order."""

    def __init__(self, origin: int, *, from_schedule: bool = False) -> None:
        self.origin = origin
        self.from_schedule = from_schedule
        self._send = array("q")
        self._ttft = array("d")
        self._e2e = array("d")
        self._ok = array("b")

    def add(self, request: RequestFigures) -> None:
        """Keep one request's point."""
        self._send.append(request.sample.t_send_ns)
        ttft, e2e = _latencies(request, self.from_schedule)
        self._ttft.append(_or_nan(ttft))
        self._e2e.append(e2e)
        self._ok.append(request.sample.ok)

    def points(self) -> Points:
        """Every request (every ``stride``-th beyond :data:`MAX_POINTS`) in send order."""
        count = len(self._send)
        if not count:
            return Points(stride=1)
        stride = max(1, math.ceil(count / MAX_POINTS))
        order = np.argsort(np.frombuffer(self._send, dtype=np.int64), kind="stable")[::stride]
        return Points(
            stride=stride,
            t_s=tuple((self._send[i] - self.origin) / NS_PER_S for i in order),
            ttft_ms=tuple(_or_none(self._ttft[i]) for i in order),
            e2e_ms=tuple(self._e2e[i] for i in order),
            ok=tuple(bool(self._ok[i]) for i in order),
        )


class LivePoints:
    """At most :data:`MAX_LIVE_POINTS` points, every ``stride``-th request in arrival order."""

    def __init__(self, origin: int, *, from_schedule: bool = False) -> None:
        self.origin = origin
        self.from_schedule = from_schedule
        self.stride = 1
        self._seen = 0
        self._kept: list[tuple[int, float | None, float, bool]] = []

    def add(self, request: RequestFigures) -> None:
        """Keep the point when it is a ``stride``-th one."""
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        sample = request.sample
        ttft, e2e = _latencies(request, self.from_schedule)
        self._kept.append((sample.t_send_ns, ttft, e2e, sample.ok))
        if len(self._kept) > MAX_LIVE_POINTS:
            self._kept = self._kept[::2]
            self.stride *= 2

    def points(self) -> Points:
        """The kept points in send order."""
        kept = sorted(self._kept, key=lambda point: point[0])
        return Points(
            stride=self.stride,
            t_s=tuple((p[0] - self.origin) / NS_PER_S for p in kept),
            ttft_ms=tuple(p[1] for p in kept),
            e2e_ms=tuple(p[2] for p in kept),
            ok=tuple(p[3] for p in kept),
        )


__all__ = [
    "LIVE_SERIES_S",
    "MAX_LIVE_POINTS",
    "OPEN_SECONDS",
    "ExactPoints",
    "LivePoints",
    "SeriesTally",
]
