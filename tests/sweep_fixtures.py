"""Sweep results for the report tests, shaped like ``chatgauge load --sweep-users`` writes them.

Each step is the real metrics (``compute_results``) of its own synthetic requests, reduced to
the keys the load engine keeps per step; the latency grows with the user count so the SLO is
met by the lower steps and missed by the top one, as on a saturating endpoint.
"""

from __future__ import annotations

from typing import Any

from chatgauge.loadtests._metrics import compute_results
from tests.report_fixtures import synthetic_samples

SLOS = {"ttft_ms": 200.0, "tpot_ms": 40.0}
STEPS = ((2, 80.0), (8, 120.0), (32, 420.0))
"""(users, TTFT in ms) per step: 420 ms breaks the 200 ms TTFT SLO."""


def sweep_step(
    users: int, ttft_ms: float, *, kind: str = "users", value: Any = None
) -> dict[str, Any]:
    """One step's entry of ``"sweep"``: the keys and sections the engine writes."""
    result = compute_results(
        synthetic_samples(ttft_ms=ttft_ms, itl_ms=12, users=users, seconds=4, seed=users),
        slos=SLOS,
    )
    return {
        "kind": kind,
        "value": float(users) if value is None else value,
        "complete": True,
        "window_s": result["window"]["length_s"],
        "throughput": result["throughput"],
        "requests": result["requests"],
        "metrics": {
            key: result["metrics"][key] for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")
        },
        "goodput": result["goodput"],
        "slo_met": result["slo_met"],
    }


def sweep_result(steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A whole sweep result: pooled sections, ``"sweep"`` and ``"sweep_best"``.

    ``sweep_best`` follows the engine's rule: the last complete step meeting every SLO.
    """
    steps = [sweep_step(users, ttft) for users, ttft in STEPS] if steps is None else steps
    pooled = compute_results(
        [
            sample
            for users, ttft in STEPS
            for sample in synthetic_samples(ttft_ms=ttft, itl_ms=12, users=users, seconds=4)
        ],
        slos=SLOS,
    )
    best = None
    for index, step in enumerate(steps):
        if step["slo_met"] is True and step["complete"]:
            best = {"kind": step["kind"], "value": step["value"], "step": index}
    pooled.update(
        endpoint="http://127.0.0.1:9/v1",
        model="pro",
        sweep=steps,
        sweep_best=best,
        config={"sweep": {"kind": "users", "values": [u for u, _ in STEPS], "step_s": 6.0}},
    )
    return pooled
