"""The typed load run: what ``load.json`` holds, and the values inside it.

Every figure is defined in ``docs/metrics.md`` and, in words, in the document's own
``definitions``. The document is flat: the run's identity (``tool``, ``status``, ``endpoint``,
``model``, ``started_at``, ``elapsed_s``) and ``config``, then the measured sections
(``window``, ``metrics``, ``throughput``, ``requests``, ``errors``, ``goodput``,
``series``, ``points``, ``distributions``, ``generator``, ``definitions``) and, for a
sweep, ``sweep``. Per-second series and per-request points are columnar (one array per
figure, equal lengths) so a file stays small and loads straight into a data frame
(``pandas.DataFrame(doc["series"])``); every latency is in milliseconds, every stamp a
``perf_counter_ns`` value of the generator's clock.

A run's ``status`` is ``running`` while ``load.json`` is rewritten during the run,
``completed`` when it ran its planned time (or stopped at ``--max-requests``) and
``interrupted`` when it was stopped early (Ctrl-C): the figures then cover the time it ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal, cast

from chatgauge.results._codec import JsonRecord
from chatgauge.results._files import register_kind
from chatgauge.results.capacity import Capacity
from chatgauge.results.conformance import ToolInfo
from chatgauge.results.raw_samples import RawSamples
from chatgauge.results.server_metrics import ServerMetrics

KIND: Final = "load"
SCHEMA_VERSION: Final = 1
JSON_NAME: Final = "load.json"
HTML_NAME: Final = "load.html"

MetricName = Literal[
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
]
"""The per-request figures summarised in ``metrics`` (ms, but the decode rate in tokens/s)."""

SloName = Literal["ttft_ms", "ttfb_ms", "ttft_from_schedule_ms", "tpot_ms", "itl_ms", "e2e_ms"]
"""The figures an SLO (``--slo NAME=MS``) can bound: an upper bound per request, in ms."""

Stat = Literal["mean", "min", "p50", "p90", "p95", "p99", "p999", "max"]
"""The figures of a :class:`Summary` besides its count."""

SweepKind = Literal["rate", "users"]

LatencyBasis = Literal["send", "intended_start"]
"""What a run's verdicts measure latency from: ``intended_start`` (open loop: the moment the
request was due, so the user's wait for a free slot counts) or ``send`` (closed loop, where
the two are the same moment)."""


class LoadStatus(str, Enum):
    """Where the run stood when the document was written (see the module docstring)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
    """Stopped by chatgauge before its planned end: the endpoint answered nothing but
    failures for ``--abort-after`` seconds (``stop_reason`` says so)."""


class Trust(str, Enum):
    """The generator's verdict on its own figures."""

    TRUSTWORTHY = "trustworthy"
    UNTRUSTWORTHY = "untrustworthy"


@dataclass(frozen=True)
class Summary(JsonRecord):
    """Exact order statistics of one figure's raw values (no buckets, no rounding).

    With no value the count is 0 and every other figure null.
    """

    count: int = 0
    mean: float | None = None
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None

    def figure(self, stat: Stat) -> float | None:
        """One figure by name (``"p99"``)."""
        return cast("float | None", getattr(self, stat))


@dataclass(frozen=True)
class Metrics(JsonRecord):
    """A :class:`Summary` per figure, over the measured requests (see ``definitions``)."""

    ttft_ms: Summary = Summary()
    ttfb_ms: Summary = Summary()
    ttft_from_schedule_ms: Summary = Summary()
    schedule_lag_ms: Summary = Summary()
    tpot_ms: Summary = Summary()
    itl_ms: Summary = Summary()
    itl_per_token_ms: Summary = Summary()
    e2e_ms: Summary = Summary()
    decode_rate_tps: Summary = Summary()
    e2e_from_schedule_ms: Summary = Summary()

    def summary(self, name: MetricName) -> Summary:
        """One figure's summary by name (``"ttft_ms"``)."""
        return cast("Summary", getattr(self, name))


@dataclass(frozen=True)
class Window(JsonRecord):
    """The measurement window: warm-up before it and cool-down after it never count.

    ``start_s`` / ``end_s`` are seconds from second zero of the series (``origin_ns``);
    ``start_ns`` / ``end_ns`` / ``origin_ns`` the same moments on the generator's clock, to
    recompute figures from dumped samples.
    """

    start_s: float = 0.0
    end_s: float = 0.0
    length_s: float = 0.0
    origin_ns: int = 0
    start_ns: int = 0
    end_ns: int = 0


@dataclass(frozen=True)
class Throughput(JsonRecord):
    """Work finished inside the window, per second of window (null for an empty window)."""

    window_s: float = 0.0
    output_tokens: int = 0
    output_tokens_per_s: float | None = None
    prompt_tokens: int = 0
    prompt_tokens_per_s: float | None = None
    requests_completed: int = 0
    requests_per_s: float | None = None
    errors: int = 0
    errors_per_s: float | None = None


@dataclass(frozen=True)
class TokenSources(JsonRecord):
    """How many successful requests took N from ``usage`` and how many counted events."""

    usage: int = 0
    events: int = 0


@dataclass(frozen=True)
class RequestCounts(JsonRecord):
    """Measured requests (scheduled inside the window) and those outside it.

    ``total`` = ``completed`` + ``failed`` + ``cut_off``: ``cut_off`` counts the measured
    requests still in flight when the run ended that had not yet run twice as long as the
    longest completed one (a normal cut); one in flight longer than that, or in a run where
    none completed, is a hang and counts as failed (error kind ``cut_off``). ``unsent``:
    open-loop slots due in the window that no busy user sent (outside ``total``).
    """

    total: int = 0
    completed: int = 0
    failed: int = 0
    outside_window: int = 0
    output_tokens: int = 0
    token_source: TokenSources = TokenSources()
    cut_off: int = 0
    unsent: int = 0


@dataclass(frozen=True)
class ErrorGroup(JsonRecord):
    """Failed measured requests of one kind (``http 429``, ``timeout``, ...), with the first
    one's message (redacted, made safe, shortened)."""

    kind: str
    count: int
    example: str


@dataclass(frozen=True)
class SloOutcome(JsonRecord):
    """One SLO: its bound, what it bounds, and the fraction of measured requests meeting it
    (null when no request was measured)."""

    name: SloName
    bound_ms: float
    meaning: str
    attainment: float | None
    met: bool
    judged_on: MetricName | None = None
    """The per-request figure the bound was applied to (``ttft_from_schedule_ms`` for a
    ``ttft_ms`` SLO of an open-loop run); null in documents that predate it."""


@dataclass(frozen=True)
class Goodput(JsonRecord):
    """SLO attainment and goodput; ``met`` is null when no SLO was given.

    ``met`` is true when every SLO was met by at least ``target_attainment`` of the
    measured requests; ``requests_per_s`` counts the requests finishing in the window that
    met every SLO.
    """

    slos: tuple[SloOutcome, ...] = ()
    target_attainment: float = 0.99
    good_requests: int | None = None
    good_fraction: float | None = None
    requests_per_s: float | None = None
    met: bool | None = None


@dataclass(frozen=True)
class ErrorBudget(JsonRecord):
    """The run's error budget: failed measured requests (hung cut-offs included) over the
    requests that count (``total`` less the normal cut-offs); ``met`` is null when no
    request counted, false above ``max_error_rate`` or when no measured request completed.
    ``kinds`` names the error kinds, most frequent first; ``backoffs`` counts the users'
    pauses after a refused or reset connection, a 429 or a 503."""

    max_error_rate: float = 0.01
    errors: int = 0
    requests: int = 0
    error_rate: float | None = None
    met: bool | None = None
    kinds: tuple[str, ...] = ()
    backoffs: int = 0


@dataclass(frozen=True)
class Series(JsonRecord):
    """Per-second figures, one column each: ``t[i]`` is the second (from the window's
    origin) of every column's ``i``-th value; every column has the same length."""

    t: tuple[int, ...] = ()
    requests_started: tuple[int, ...] = ()
    requests_completed: tuple[int, ...] = ()
    errors: tuple[int, ...] = ()
    output_tokens: tuple[int, ...] = ()
    streamed_tokens: tuple[int, ...] = ()
    active_requests: tuple[float, ...] = ()
    ttft_p50_ms: tuple[float | None, ...] = ()
    e2e_p50_ms: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Points(JsonRecord):
    """Per-request points in send order, one column each (every ``stride``-th request when
    there are many): send time in seconds from the origin, TTFT (null without a first
    token), E2E and success; TTFT and E2E are measured from the run's ``latency_basis``."""

    stride: int = 1
    t_s: tuple[float, ...] = ()
    ttft_ms: tuple[float | None, ...] = ()
    e2e_ms: tuple[float, ...] = ()
    ok: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Histogram(JsonRecord):
    """Equal-width bins: ``counts[i]`` values lie in ``[edges[i], edges[i + 1])`` (the last
    bin includes its upper edge); ``overflow`` values lie beyond the last edge."""

    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    overflow: int = 0


@dataclass(frozen=True)
class Distributions(JsonRecord):
    """Curves for the plots, from the same raw values as the statistics: each latency's
    quantile at every one of ``fractions`` (empty without values), and a TTFT histogram;
    TTFT and E2E are measured from the run's ``latency_basis``."""

    fractions: tuple[float, ...] = ()
    ttft_ms: tuple[float, ...] = ()
    itl_ms: tuple[float, ...] = ()
    e2e_ms: tuple[float, ...] = ()
    ttft_histogram: Histogram = Histogram()


@dataclass(frozen=True)
class Clumping(JsonRecord):
    """Whether token events arrive in bursts (a buffering proxy), with the figures it rests
    on; ``reason`` explains a suspicion."""

    suspected: bool = False
    reason: str | None = None
    events_per_read: float | None = None
    max_events_per_read_p50: float | None = None
    max_events_per_read_max: int | None = None
    itl_p50_ms: float | None = None
    tpot_p50_ms: float | None = None
    ttft_p50_ms: float | None = None


@dataclass(frozen=True)
class HealthThresholds(JsonRecord):
    """The limits the generator's figures were judged against."""

    cpu_p90_percent: float
    hub_lag_p99_ms: float
    hub_lag_ttft_fraction: float
    schedule_lag_p99_ms: float
    achieved_rate_min_fraction: float


@dataclass(frozen=True)
class GeneratorHealth(JsonRecord):
    """Whether the load generator kept up: its own figures, a verdict and its reasons.

    ``reasons`` (one per threshold crossed) make the run untrustworthy; ``notes`` say what
    could not be measured.
    """

    verdict: Trust
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    cpu_percent: Summary
    hub_lag_ms: Summary
    schedule_lag_ms: Summary
    target_rate: float | None
    achieved_rate: float | None
    users: int
    processes: int
    thresholds: HealthThresholds
    clumping: Clumping

    @property
    def trustworthy(self) -> bool:
        """Whether no threshold was crossed."""
        return self.verdict is Trust.TRUSTWORTHY


@dataclass(frozen=True)
class SloBound(JsonRecord):
    """An SLO as asked: ``name`` at most ``max_ms`` per request."""

    name: SloName
    max_ms: float


@dataclass(frozen=True)
class StepPlan(JsonRecord):
    """``--step``: ``users`` more users every ``every_s`` seconds."""

    users: int
    every_s: float


@dataclass(frozen=True)
class SweepPlan(JsonRecord):
    """A sweep as asked: one step of ``step_s`` seconds per value, each step's first
    ``warmup_s`` left out of its figures, at least ``min_requests`` measured per step."""

    kind: SweepKind
    values: tuple[float, ...]
    step_s: float
    warmup_s: float | None = None
    min_requests: int = 0


@dataclass(frozen=True)
class LoadConfig(JsonRecord):
    """How the run was configured (no secret: the API key is never part of it).

    ``mode`` is ``open`` with a ``rate`` (``users`` then caps the requests in flight) and
    ``closed`` without; ``run_time_s`` is the whole run, warm-up included (null: until
    stopped); ``prompts`` is ``synthetic`` or the prompt file's path.
    """

    model: str
    mode: Literal["open", "closed"]
    users: int
    processes: int
    run_time_s: float | None
    max_tokens: int
    input_words: int
    prompts: str
    include_usage: bool
    stream: bool
    verify_tls: bool
    request_timeout_s: float
    rate: float | None
    arrival: Literal["poisson", "constant"] | None
    seed: int
    warmup_s: float
    max_requests: int | None
    slos: tuple[SloBound, ...] = ()
    ramp_s: float | None = None
    step: StepPlan | None = None
    sweep: SweepPlan | None = None
    max_error_rate: float = 0.01
    abort_after_s: float | None = None
    total_timeout_s: float | None = None


@dataclass(frozen=True)
class SweepStep(JsonRecord):
    """One step of a sweep, measured in its own window (after the warm-up).

    ``complete`` is false for a step the run ended inside; ``insufficient`` is true when the
    step measured fewer requests than the sweep's ``min_requests``: its percentiles rest on
    too few samples to be judged, so it can never be the best step.
    """

    value: float
    complete: bool
    window: Window
    throughput: Throughput
    requests: RequestCounts
    metrics: Metrics
    goodput: Goodput
    insufficient: bool = False


@dataclass(frozen=True)
class Sweep(JsonRecord):
    """A sweep's steps in order; ``best`` is the index of the highest complete, sufficient
    step that met every SLO (null when none did); ``notes`` say what limits that answer
    (the best step is the largest tested, so capacity may lie beyond the range; steps too
    small to judge)."""

    kind: SweepKind
    steps: tuple[SweepStep, ...] = ()
    best: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def best_step(self) -> SweepStep | None:
        """The best step, if any."""
        return None if self.best is None else self.steps[self.best]


@dataclass(frozen=True)
class LengthFigures(JsonRecord):
    """One length (input or output), asked and received; both histograms share their bins."""

    asked: Summary = Summary()
    received: Summary = Summary()
    asked_histogram: Histogram = Histogram()
    received_histogram: Histogram = Histogram()


@dataclass(frozen=True)
class Lengths(JsonRecord):
    """Input and output lengths of the successful requests, asked and received.

    *Asked*: the input length in the endpoint's tokens (calibrated synthetic prompt, or a
    dataset's or trace's figure; absent for a prompt file without one) and the output limit
    (``max_tokens``). *Received*: ``usage.prompt_tokens`` and the output tokens. ``source``
    names where the requests came from; ``calibration`` how input tokens were counted.
    """

    source: str
    calibration: str
    input: LengthFigures = LengthFigures()
    output: LengthFigures = LengthFigures()


@dataclass(frozen=True)
class LoadReport(JsonRecord):
    """A load run against one endpoint: the document ``load.json`` holds."""

    tool: ToolInfo
    status: LoadStatus
    endpoint: str
    model: str
    started_at: str
    elapsed_s: float
    config: LoadConfig
    window: Window
    metrics: Metrics
    throughput: Throughput
    requests: RequestCounts
    goodput: Goodput
    generator: GeneratorHealth
    errors: tuple[ErrorGroup, ...] = ()
    series: Series = Series()
    points: Points = Points()
    distributions: Distributions = Distributions()
    definitions: dict[str, str] = field(default_factory=dict)
    sweep: Sweep | None = None
    kind: Literal["load"] = KIND
    schema_version: int = SCHEMA_VERSION
    capacity: Capacity | None = None
    server_metrics: ServerMetrics | None = None
    lengths: Lengths | None = None
    latency_basis: LatencyBasis = "send"
    error_budget: ErrorBudget = ErrorBudget()
    stop_reason: str | None = None
    raw_samples: RawSamples | None = None

    @property
    def slos_met(self) -> bool | None:
        """Whether the run met its SLOs: for a sweep, whether some step met every SLO, for a
        capacity search whether some rate did; ``None`` when no SLO was given."""
        if not self.config.slos:
            return None
        if self.capacity is not None:
            return self.capacity.rate_rps is not None
        if self.sweep is not None:
            return self.sweep.best is not None
        return self.goodput.met is True

    @property
    def complete(self) -> bool:
        """Whether the run ran its planned course (an incomplete run gives no verdict)."""
        return self.status is LoadStatus.COMPLETED

    def user_metric(self, name: Literal["ttft", "e2e"]) -> tuple[MetricName, Summary]:
        """The user-perceived TTFT or E2E the verdicts use, with its metric name: from the
        intended start in an open-loop run, from the send otherwise."""
        key: MetricName
        if self.latency_basis == "intended_start":
            key = "ttft_from_schedule_ms" if name == "ttft" else "e2e_from_schedule_ms"
        else:
            key = "ttft_ms" if name == "ttft" else "e2e_ms"
        return key, self.metrics.summary(key)

    def failures(self) -> tuple[str, ...]:
        """Why the run fails (exit code 3), one sentence each; empty when it does not."""
        reasons = []
        if self.status is LoadStatus.ABORTED:
            reasons.append(self.stop_reason or "the endpoint failed every request")
        budget = self.error_budget
        if budget.met is False:
            if budget.error_rate is None or not self.requests.completed:
                reasons.append(
                    f"no measured request completed ({budget.errors} failed: "
                    f"{', '.join(budget.kinds) or 'none'})"
                )
            else:
                reasons.append(
                    f"error rate {budget.error_rate:.2%} above the budget of "
                    f"{budget.max_error_rate:.2%} ({budget.errors} of {budget.requests}: "
                    f"{', '.join(budget.kinds)})"
                )
        if self.slos_met is False:
            reasons.append("SLOs missed")
        return tuple(reasons)


register_kind(KIND, SCHEMA_VERSION, LoadReport)

__all__ = [
    "HTML_NAME",
    "JSON_NAME",
    "KIND",
    "SCHEMA_VERSION",
    "Clumping",
    "Distributions",
    "ErrorBudget",
    "ErrorGroup",
    "GeneratorHealth",
    "Goodput",
    "HealthThresholds",
    "Histogram",
    "LatencyBasis",
    "LengthFigures",
    "Lengths",
    "LoadConfig",
    "LoadReport",
    "LoadStatus",
    "MetricName",
    "Metrics",
    "Points",
    "RawSamples",
    "RequestCounts",
    "Series",
    "SloBound",
    "SloName",
    "SloOutcome",
    "Stat",
    "StepPlan",
    "Summary",
    "Sweep",
    "SweepKind",
    "SweepPlan",
    "SweepStep",
    "Throughput",
    "TokenSources",
    "ToolInfo",
    "Trust",
    "Window",
]
