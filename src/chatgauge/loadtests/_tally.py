"""The figures of one measurement window, accumulated one request at a time.

A :class:`Tally` reads each request once and keeps only what the figures need: per figure a
collection of values (:class:`~chatgauge.loadtests._stats.ExactValues`, 8 bytes a value, for
the final document; a :class:`~chatgauge.loadtests._histograms.Sketch` of fixed size for
live ones), counters, the first error text of each kind, and (``detailed``) the series and
points. The sets of ``docs/metrics.md`` are decided per request as it comes in:

- *measured*: ``start <= t_sched <= end``: latency statistics, counts, errors, SLOs;
- *finished in the window*: ``start <= t_done <= end``: every rate.

A live tally is made before the window's end is known: its ``end`` is the planned end (or
none) and :meth:`Tally.cap` lowers it when ``--max-requests`` stops the run; the window
reported is the one the caller passes to :meth:`Tally.measurement`, which is never past
what was admitted.

The latency basis (``basis``) decides which TTFT and E2E the verdicts judge: from the
intended start (``intended_start``, open loop: the wait for a free user counts) or from the
send (``send``); both sets of figures are kept, the other one as a labelled diagnostic.
Requests cut off by the run's end (error kind ``cut_off``) are kept aside as they come (at
most the requests in flight at the end) and judged when figures are made: one that had run
no longer than :data:`HANG_FACTOR` times the longest completed request is a normal cut
(``requests.cut_off``, outside every latency, SLO and error figure); a longer one, or any in
a run where nothing completed, is a hang and counts as a failed measured request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from chatgauge.loadtests._curves import HISTOGRAM_BINS, QUANTILE_FRACTIONS
from chatgauge.loadtests._definitions import DEFINITIONS
from chatgauge.loadtests._health import (
    HealthInputs,
    SampleEvidence,
    assess_generator,
    excuse_generator,
)
from chatgauge.loadtests._histograms import RELATIVE_ACCURACY, SERIES_ACCURACY, CountedInts, Sketch
from chatgauge.loadtests._requests import NS_PER_S, RequestFigures, request_figures
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._series import (
    LIVE_SERIES_S,
    MAX_LIVE_POINTS,
    ExactPoints,
    LivePoints,
    SeriesTally,
)
from chatgauge.loadtests._slo import (
    DEFAULT_MAX_ERROR_RATE,
    SLO_ATTAINMENT_TARGET,
    judged_metric,
    slo_meaning,
    slo_name,
)
from chatgauge.loadtests._stats import ExactValues, Values
from chatgauge.results.load import (
    Distributions,
    ErrorBudget,
    ErrorGroup,
    GeneratorHealth,
    Goodput,
    LatencyBasis,
    Metrics,
    Points,
    RequestCounts,
    Series,
    SloName,
    SloOutcome,
    Throughput,
    TokenSources,
    Window,
)

MAX_ERROR_EXAMPLE_CHARS = 500
HANG_FACTOR: Final = 2.0
"""A request cut off after running this many times the longest completed one is a hang
(twice: one queued at a saturated server at the end may honestly outlast every other)."""

LIVE_PERCENTILES = (
    f"Live figures (this document is rewritten while the run goes on): percentiles come "
    f"from mergeable DDSketch histograms with a relative error of at most "
    f"{RELATIVE_ACCURACY:.1%} (the value of rank floor(q * (n - 1)), within that error); "
    f"count, mean, min and max are exact. Its series covers the last {LIVE_SERIES_S} s and "
    f"its points at most {MAX_LIVE_POINTS} requests. The final document replaces all of "
    f"them with exact figures computed from the raw samples file."
)

METRIC_NAMES = (
    "ttft_ms",
    "ttfb_ms",
    "ttft_from_schedule_ms",
    "schedule_lag_ms",
    "tpot_ms",
    "itl_ms",
    "itl_per_token_ms",
    "e2e_ms",
    "decode_rate_tps",
    "e2e_from_schedule_ms",
)


@dataclass(frozen=True)
class Measurement:
    """The sections of ``load.json`` computed from samples (the engine adds the rest)."""

    window: Window
    metrics: Metrics
    throughput: Throughput
    requests: RequestCounts
    errors: tuple[ErrorGroup, ...]
    goodput: Goodput
    series: Series
    points: Points
    distributions: Distributions
    generator: GeneratorHealth
    definitions: dict[str, str]
    error_budget: ErrorBudget = field(default_factory=ErrorBudget)
    latency_basis: LatencyBasis = "send"


def _slo_value(request: RequestFigures, name: SloName, basis: LatencyBasis) -> float | None:
    if name == "ttft_ms":
        return request.ttft_from_schedule if basis == "intended_start" else request.ttft
    if name == "ttfb_ms":
        return request.ttfb
    if name == "ttft_from_schedule_ms":
        return request.ttft_from_schedule
    if name == "tpot_ms":
        return request.tpot
    if name == "itl_ms":
        return max(request.gaps, default=None)
    return request.e2e_from_schedule if basis == "intended_start" else request.e2e


def meets(
    request: RequestFigures, name: SloName, bound: float, basis: LatencyBasis = "send"
) -> bool:
    """Whether one request meets one SLO on ``basis`` (a failed request never does)."""
    if not request.sample.ok:
        return False
    value = _slo_value(request, name, basis)
    if value is None:
        # Decode SLOs have nothing to violate without two tokens; latency SLOs need the event.
        return name in ("tpot_ms", "itl_ms")
    return value <= bound


def error_label(sample: RequestSample) -> str:
    """The group a failed request is counted in (``http 503``, ``timeout``...)."""
    kind = sample.error_kind or "error"
    if kind == "http" and sample.status is not None:
        return f"http {sample.status}"
    return kind


def _rate(count: float, window_s: float) -> float | None:
    return count / window_s if window_s > 0 else None


def error_budget(
    errors: Counter[str], measured: int, good: int, max_error_rate: float
) -> ErrorBudget:
    """The error budget's figures and verdict over the measured requests (met needs at least
    one success: a run that answered nothing never meets it)."""
    failed = sum(errors.values())
    rate = failed / measured if measured else None
    ranked = sorted(errors.items(), key=lambda item: (-item[1], item[0]))
    return ErrorBudget(
        max_error_rate=max_error_rate,
        errors=failed,
        requests=measured,
        error_rate=rate,
        met=None if rate is None else (rate <= max_error_rate and good > 0),
        kinds=tuple(kind for kind, _ in ranked),
    )


def hangs(cut_offs: list[tuple[float, str]], longest: float | None) -> list[tuple[float, str]]:
    """The cut-off requests (E2E, error text) that count as hangs (see the module docstring)."""
    if longest is None:
        return list(cut_offs)
    return [cut for cut in cut_offs if cut[0] > HANG_FACTOR * longest]


class _Finished:
    """Counters of the requests finished in the window (the rates)."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.output_tokens = 0
        self.prompt_tokens = 0
        self.good = 0

    def throughput(self, window_s: float) -> Throughput:
        return Throughput(
            window_s=window_s,
            output_tokens=self.output_tokens,
            output_tokens_per_s=_rate(self.output_tokens, window_s),
            prompt_tokens=self.prompt_tokens,
            prompt_tokens_per_s=_rate(self.prompt_tokens, window_s),
            requests_completed=self.ok,
            requests_per_s=_rate(self.ok, window_s),
            errors=self.failed,
            errors_per_s=_rate(self.failed, window_s),
        )


class Tally:
    """One window's figures, request by request (see the module docstring)."""

    def __init__(
        self,
        window: tuple[int, int],
        *,
        slos: Mapping[str, float] | None = None,
        origin_ns: int = 0,
        exact: bool = True,
        detailed: bool = True,
        basis: LatencyBasis = "send",
        max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    ) -> None:
        self.start, self.end = window
        self.basis: LatencyBasis = basis
        self.max_error_rate = max_error_rate
        self.longest_ok: float | None = None
        self.cut_offs: list[tuple[float, str]] = []
        self.slos = {slo_name(name): bound for name, bound in (slos or {}).items()}
        self.exact = exact
        self.seen = 0
        make: Callable[[], Values] = ExactValues if exact else Sketch
        self.values: dict[str, Values] = {name: make() for name in METRIC_NAMES}
        self._per_token_apart = False
        self.measured = 0
        self.good = 0
        self.good_output_tokens = 0
        self.sources: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.slo_hits = dict.fromkeys(self.slos, 0)
        self.good_measured = 0
        self.finished = _Finished()
        self.sends = 0
        self.last_send: int | None = None
        self.token_events = 0
        self.reads = 0
        self.bursts = CountedInts()
        self.series: SeriesTally | None = None
        self.points: ExactPoints | LivePoints | None = None
        if detailed:
            medians: Callable[[], Values] = (
                ExactValues if exact else (lambda: Sketch(SERIES_ACCURACY))
            )
            self.series = SeriesTally(origin_ns, medians, live=not exact)
            schedule = basis == "intended_start"
            self.points = (
                ExactPoints(origin_ns, from_schedule=schedule)
                if exact
                else LivePoints(origin_ns, from_schedule=schedule)
            )

    def cap(self, end_ns: int) -> None:
        """Admit no request scheduled or finished after ``end_ns`` from now on."""
        self.end = min(self.end, end_ns)

    def add(self, sample: RequestSample) -> None:
        """Count one request (every request of the run goes through here)."""
        self.seen += 1
        in_window = self.start <= sample.t_sched_ns <= self.end
        finished = self.start <= sample.t_done_ns <= self.end
        if not (in_window or finished or self.series is not None):
            return
        request = request_figures(sample)
        if self.series is not None and self.points is not None:
            self.series.add(request)
            self.points.add(request)
        if sample.ok:
            self.longest_ok = max(self.longest_ok or request.e2e, request.e2e)
        if sample.error_kind == "cut_off":
            # Judged at the end against the longest completed request; never a rate.
            if in_window:
                self.cut_offs.append((request.e2e, sample.error or ""))
            return
        if in_window:
            self._add_measured(request)
        if finished:
            self._add_finished(request)

    def _add_measured(self, request: RequestFigures) -> None:
        sample = request.sample
        self.measured += 1
        values = self.values
        values["schedule_lag_ms"].add(request.schedule_lag)
        if self.start <= sample.t_send_ns <= self.end:
            self.sends += 1
            self.last_send = max(self.last_send or sample.t_send_ns, sample.t_send_ns)
        if sample.reads:
            self.token_events += len(sample.token_event_ns)
            self.reads += sample.reads
            self.bursts.add(sample.max_events_per_read)
        basis = self.basis
        for name in self.slos:
            self.slo_hits[name] += meets(request, name, self.slos[name], basis)
        if self.slos and all(meets(request, n, b, basis) for n, b in self.slos.items()):
            self.good_measured += 1
        if not sample.ok:
            label = error_label(sample)
            self.errors[label] += 1
            self.examples.setdefault(label, (sample.error or "")[:MAX_ERROR_EXAMPLE_CHARS])
            return
        self.good += 1
        self.good_output_tokens += sample.output_tokens
        self.sources[sample.token_source] += 1
        for name, value in (
            ("ttft_ms", request.ttft),
            ("ttfb_ms", request.ttfb),
            ("ttft_from_schedule_ms", request.ttft_from_schedule),
            ("tpot_ms", request.tpot),
            ("decode_rate_tps", request.decode_rate),
        ):
            if value is not None:
                values[name].add(value)
        values["e2e_ms"].add(request.e2e)
        values["e2e_from_schedule_ms"].add(request.e2e_from_schedule)
        itl = values["itl_ms"]
        if request.gaps_per_token is not request.gaps and not self._per_token_apart:
            # Until the first multi-token event the per-token gaps are the gaps themselves
            # and one collection serves both; from here on they are kept apart.
            self._per_token_apart = True
            values["itl_per_token_ms"] = itl.copy()
        itl.add_many(request.gaps)
        if self._per_token_apart:
            values["itl_per_token_ms"].add_many(request.gaps_per_token)

    def _add_finished(self, request: RequestFigures) -> None:
        sample = request.sample
        finished = self.finished
        if not sample.ok:
            finished.failed += 1
            return
        finished.ok += 1
        finished.output_tokens += sample.output_tokens
        finished.prompt_tokens += sample.prompt_tokens or 0
        if self.slos and all(meets(request, n, b, self.basis) for n, b in self.slos.items()):
            finished.good += 1

    # -- figures ---------------------------------------------------------------------------

    def metrics(self) -> Metrics:
        """A summary per figure over the measured requests."""
        values = dict(self.values)
        if not self._per_token_apart:
            values["itl_per_token_ms"] = values["itl_ms"]
        return Metrics(**{name: values[name].summary() for name in METRIC_NAMES})

    def request_counts(self, hung: int = 0) -> RequestCounts:
        """Measured, completed and failed requests (``hung`` cut-offs among the failed, the
        other cut-offs apart); the rest of the run outside the window."""
        cut = len(self.cut_offs) - hung
        return RequestCounts(
            total=self.measured + len(self.cut_offs),
            completed=self.good,
            failed=self.measured + hung - self.good,
            outside_window=self.seen - self.measured - len(self.cut_offs),
            cut_off=cut,
            output_tokens=self.good_output_tokens,
            token_source=TokenSources(
                usage=self.sources.get("usage", 0), events=self.sources.get("events", 0)
            ),
        )

    def error_groups(
        self, errors: Counter[str], examples: dict[str, str]
    ) -> tuple[ErrorGroup, ...]:
        """Failed measured requests by kind, most frequent first, with an example each."""
        ranked = sorted(errors.items(), key=lambda item: (-item[1], item[0]))
        return tuple(ErrorGroup(kind=k, count=n, example=examples[k]) for k, n in ranked)

    def goodput(self, window_s: float, hung: int = 0) -> Goodput:
        """SLO attainment over the measured requests (a hang misses every SLO), goodput over
        the finished ones."""
        if not self.slos:
            return Goodput(target_attainment=SLO_ATTAINMENT_TARGET)
        measured = self.measured + hung
        outcomes = tuple(
            SloOutcome(
                name=name,
                bound_ms=bound,
                meaning=slo_meaning(name, self.basis),
                attainment=self.slo_hits[name] / measured if measured else None,
                met=bool(measured) and self.slo_hits[name] >= SLO_ATTAINMENT_TARGET * measured,
                judged_on=judged_metric(name, self.basis),
            )
            for name, bound in self.slos.items()
        )
        return Goodput(
            slos=outcomes,
            target_attainment=SLO_ATTAINMENT_TARGET,
            good_requests=self.good_measured,
            good_fraction=self.good_measured / measured if measured else None,
            requests_per_s=_rate(self.finished.good, window_s),
            met=all(outcome.met for outcome in outcomes),
        )

    def sent_rate(self, start: int) -> float | None:
        """Requests sent per second, over the span from the window's start to the last send
        seen (requests still in flight have no sample yet)."""
        if self.sends < 2 or self.last_send is None:
            return None
        span = self.last_send - start
        return self.sends / (span / NS_PER_S) if span > 0 else None

    def measurement(
        self,
        *,
        window: tuple[int, int] | None = None,
        origin_ns: int | None = None,
        health: HealthInputs | None = None,
    ) -> Measurement:
        """The sections of ``load.json`` of what was added (``window`` defaults to the
        tally's own; ``origin_ns`` to the series' origin)."""
        start, end = window if window is not None else (self.start, self.end)
        origin = origin_ns if origin_ns is not None else self._origin()
        window_s = max(end - start, 0) / NS_PER_S
        metrics = self.metrics()
        evidence = SampleEvidence(
            schedule_lag_ms=metrics.schedule_lag_ms,
            achieved_rate=self.sent_rate(start),
            ttft_p50_ms=metrics.ttft_ms.p50,
            itl_p50_ms=metrics.itl_ms.p50,
            tpot_p50_ms=metrics.tpot_ms.p50,
            token_events=self.token_events,
            reads=self.reads,
            max_events_per_read=self.bursts,
        )
        definitions = dict(DEFINITIONS)
        if not self.exact:
            definitions["percentiles"] = LIVE_PERCENTILES
        values = self.values
        hung = hangs(self.cut_offs, self.longest_ok)
        errors = self.errors.copy()
        examples = dict(self.examples)
        for _, text in hung:
            errors["cut_off"] += 1
            examples.setdefault("cut_off", text[:MAX_ERROR_EXAMPLE_CHARS])
        budget = error_budget(errors, self.measured + len(hung), self.good, self.max_error_rate)
        generator = assess_generator(health, evidence)
        if budget.met is False and budget.error_rate:
            generator = excuse_generator(generator, budget.error_rate)
        schedule = self.basis == "intended_start"
        ttft = values["ttft_from_schedule_ms" if schedule else "ttft_ms"]
        e2e = values["e2e_from_schedule_ms" if schedule else "e2e_ms"]
        return Measurement(
            window=Window(
                start_s=(start - origin) / NS_PER_S,
                end_s=(end - origin) / NS_PER_S,
                length_s=window_s,
                origin_ns=origin,
                start_ns=start,
                end_ns=end,
            ),
            metrics=metrics,
            throughput=self.finished.throughput(window_s),
            requests=self.request_counts(len(hung)),
            errors=self.error_groups(errors, examples),
            goodput=self.goodput(window_s, len(hung)),
            series=self.series.series() if self.series is not None else Series(),
            points=self.points.points() if self.points is not None else Points(),
            distributions=Distributions(
                fractions=QUANTILE_FRACTIONS,
                ttft_ms=ttft.quantiles(QUANTILE_FRACTIONS),
                itl_ms=values["itl_ms"].quantiles(QUANTILE_FRACTIONS),
                e2e_ms=e2e.quantiles(QUANTILE_FRACTIONS),
                ttft_histogram=ttft.histogram(HISTOGRAM_BINS),
            ),
            generator=generator,
            definitions=definitions,
            error_budget=budget,
            latency_basis=self.basis,
        )

    def _origin(self) -> int:
        if self.series is not None:
            return self.series.origin
        return self.start


__all__ = [
    "HANG_FACTOR",
    "LIVE_PERCENTILES",
    "MAX_ERROR_EXAMPLE_CHARS",
    "METRIC_NAMES",
    "Measurement",
    "Tally",
    "error_budget",
    "error_label",
    "hangs",
    "meets",
]
