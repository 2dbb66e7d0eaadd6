"""Turning request samples into the figures of ``load.json``, as ``docs/metrics.md`` defines.

:func:`compute_results` is a pure function of the raw samples: nothing is rounded or bucketed,
percentiles come from :mod:`chatgauge.loadtests._stats`, and every figure's formula is written
into the ``definitions`` section (:mod:`chatgauge.loadtests._definitions`) so a reader can
compare it with other tools' numbers. It returns a :class:`Measurement`: the typed sections
of :class:`~chatgauge.results.load.LoadReport` that samples decide.

Two sets of requests are used, both bounded by the measurement window ``[start, end]``
(inclusive, ``perf_counter_ns`` stamps); warm-up before ``start`` and cool-down after ``end``
never count:

- *measured* requests, whose scheduled start ``t_sched`` lies in the window: every latency
  statistic, the request/error counts and SLO attainment;
- *completed-in-window* requests, whose ``t_done`` lies in the window: every rate (output
  tokens/s, requests/s, goodput), so a rate is work finished inside the window divided by
  the window's length.

The work is done one request at a time by :class:`~chatgauge.loadtests._tally.Tally`, which
keeps 8 bytes per value rather than the samples, so the engine computes the same figures
from a samples file of any length (:mod:`chatgauge.loadtests._spill`) in bounded memory.

Requests cut off by the end of the run (error kind ``cut_off``) are counted, never dropped:
one that had run no longer than twice the longest completed request is a normal cut
(``requests.cut_off``, outside every latency, SLO and error figure); one that had run
longer, or in a run where nothing completed, is a hang and counts as failed. (Twice: a
request queued at a saturated server at the end may honestly outlast every earlier one.)

The latency basis decides which TTFT and E2E the verdicts use: ``intended_start`` (open
loop) judges SLOs on the time from the intended start, which includes the wait for a free
user; ``send`` (closed loop) on the time from the send. Both sets of figures are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from chatgauge.loadtests._health import HealthInputs
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import DEFAULT_MAX_ERROR_RATE
from chatgauge.loadtests._tally import MAX_ERROR_EXAMPLE_CHARS, Measurement, Tally
from chatgauge.results.load import LatencyBasis


def compute_results(
    samples: Sequence[RequestSample],
    *,
    window: tuple[int, int] | None = None,
    slos: Mapping[str, float] | None = None,
    health: HealthInputs | None = None,
    origin_ns: int | None = None,
    basis: LatencyBasis = "send",
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
) -> Measurement:
    """The computed sections of ``load.json`` (the engine adds endpoint, model and config).

    ``window`` is ``(start_ns, end_ns)``; ``None`` measures everything from the earliest
    ``t_sched`` to the latest ``t_done``. ``origin_ns`` is second zero of the time series and
    the points (default: the earliest ``t_sched``). ``slos`` maps names of :data:`SLO_NAMES`
    to upper bounds in ms; unknown names raise ``ValueError``. ``basis`` is the latency
    basis of the verdicts, ``max_error_rate`` the error budget (see the module docstring).
    """
    start, end = window if window is not None else _full_span(samples)
    origin = origin_ns if origin_ns is not None else _earliest_sched(samples)
    tally = Tally(
        (start, end), slos=slos, origin_ns=origin, basis=basis, max_error_rate=max_error_rate
    )
    return tally_all(tally, samples).measurement(health=health, origin_ns=origin)


def tally_all(tally: Tally, samples: Iterable[RequestSample]) -> Tally:
    """``tally`` with every one of ``samples`` added."""
    for sample in samples:
        tally.add(sample)
    return tally


def _full_span(samples: Sequence[RequestSample]) -> tuple[int, int]:
    if not samples:
        return 0, 0
    return min(s.t_sched_ns for s in samples), max(s.t_done_ns for s in samples)


def _earliest_sched(samples: Sequence[RequestSample]) -> int:
    return min((s.t_sched_ns for s in samples), default=0)


__all__ = ["MAX_ERROR_EXAMPLE_CHARS", "Measurement", "compute_results", "tally_all"]
