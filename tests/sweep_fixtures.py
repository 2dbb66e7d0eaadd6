"""Sweep results for the report tests, shaped like ``chatgauge load --sweep-users`` writes them.

Each step is the real measurement (``compute_results``) of its own synthetic requests, made a
step by the engine's own assembly; the latency grows with the user count so the SLO is met by
the lower steps and missed by the top one, as on a saturating endpoint.
"""

from __future__ import annotations

from chatgauge.loadtests._assembly import best_step, report_of, sweep_step
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._slo import slo_bounds
from chatgauge.results.load import LoadReport, LoadStatus, Sweep, SweepKind, SweepStep
from tests.report_fixtures import synthetic_samples

SLOS = {"ttft_ms": 200.0, "tpot_ms": 40.0}
STEPS = ((2, 80.0), (8, 120.0), (32, 420.0))
"""(users, TTFT in ms) per step: 420 ms breaks the 200 ms TTFT SLO."""


def make_step(users: int, ttft_ms: float) -> SweepStep:
    """One step of ``users`` users whose requests see ``ttft_ms``."""
    measurement = compute_results(
        synthetic_samples(ttft_ms=ttft_ms, itl_ms=12, users=users, seconds=4, seed=users),
        slos=SLOS,
    )
    return sweep_step(float(users), measurement, complete=True)


def sweep_result(steps: list[SweepStep] | None = None, kind: SweepKind = "users") -> LoadReport:
    """A whole sweep result: pooled sections and ``sweep`` (best by the engine's rule)."""
    steps = [make_step(users, ttft) for users, ttft in STEPS] if steps is None else steps
    pooled = compute_results(
        [
            sample
            for users, ttft in STEPS
            for sample in synthetic_samples(ttft_ms=ttft, itl_ms=12, users=users, seconds=4)
        ],
        slos=SLOS,
    )
    options = RunOptions(
        sweep_kind=kind,
        sweep_values=tuple(float(u) for u, _ in STEPS),
        sweep_step_s=6.0,
        slos=slo_bounds(SLOS),
    )
    return report_of(
        pooled,
        config=options.config(model="pro", users=2, processes=1, run_time_s=None),
        endpoint="http://127.0.0.1:9/v1",
        started_at="2026-11-25T10:00:00+00:00",
        elapsed_s=18.0,
        status=LoadStatus.COMPLETED,
        sweep=Sweep(kind=kind, steps=tuple(steps), best=best_step(steps)),
    )
