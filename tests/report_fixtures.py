"""Result documents for the report tests: synthetic load results, conformance results.

The load documents go through the real metrics (``compute_results``) from samples whose
stamps follow a known latency profile and the engine's own assembly (``report_of``), so they
are typed ``LoadReport`` values exactly as a load run writes them; only the run's identity
(endpoint, model, config) is chosen here.
"""

from __future__ import annotations

import random
from dataclasses import replace

from chatgauge.conformance._inspect import visible_bytes
from chatgauge.conformance._results import CheckResult, Evidence, Severity, Status, Tier
from chatgauge.loadtests._assembly import report_of
from chatgauge.loadtests._health import HealthInputs
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import slo_bounds
from chatgauge.results.conformance import ConformanceRun, RunSettings, RunStatus, ToolInfo
from chatgauge.results.load import LoadReport, LoadStatus

SCRIPT = "<script>alert('pwned')</script>"
IMG = "<img src=x onerror=alert(1)>"
TEMPLATE = '{{ 7*7 }}{{ "zq" ~ "xj" }}{% raw %}{% for x in range(3) %}loop{% endfor %}'
HOSTILE = SCRIPT + IMG + TEMPLATE
"""Endpoint text that would run script or template code if a page failed to escape it."""

MS = 1_000_000
S = 1_000_000_000


def synthetic_samples(
    *,
    ttft_ms: float,
    itl_ms: float,
    tokens: int = 24,
    users: int = 4,
    seconds: int = 8,
    errors: int = 0,
    error_text: str = "HTTP 500: internal error",
    seed: int = 0,
) -> list[RequestSample]:
    """Closed-loop requests of ``users`` users for ``seconds``, jittered by a seeded PRNG.

    The first ``errors`` requests fail with ``error_text``; the others stream ``tokens``
    single-token events ``itl_ms`` apart after ``ttft_ms``.
    """
    rng = random.Random(seed)
    samples: list[RequestSample] = []
    origin = 10 * S
    for user in range(users):
        t = origin + user * 37 * MS
        while t < origin + seconds * S:
            first = t + int(ttft_ms * MS * rng.uniform(0.9, 1.25))
            stamps = [first]
            for _ in range(tokens - 1):
                stamps.append(stamps[-1] + int(itl_ms * MS * rng.uniform(0.8, 1.3)))
            failed = len(samples) < errors
            done = (t + 5 * MS) if failed else stamps[-1] + 2 * MS
            samples.append(
                RequestSample(
                    t_sched_ns=t,
                    t_send_ns=t,
                    t_headers_ns=t + 2 * MS,
                    t_first_event_ns=None if failed else first - MS,
                    t_done_ns=done,
                    token_event_ns=() if failed else tuple(stamps),
                    token_event_counts=() if failed else (1,) * tokens,
                    output_tokens=0 if failed else tokens,
                    token_source="usage",
                    prompt_tokens=40,
                    status=500 if failed else 200,
                    reads=0 if failed else tokens + 2,
                    max_events_per_read=0 if failed else 1,
                    error_kind="http" if failed else None,
                    error=error_text if failed else None,
                )
            )
            t = done + MS
    return samples


def load_document(
    *,
    ttft_ms: float = 200.0,
    itl_ms: float = 20.0,
    endpoint: str = "http://127.0.0.1:8000/v1",
    model: str = "pro",
    errors: int = 0,
    error_text: str = "HTTP 500: internal error",
    slos: dict[str, float] | None = None,
    seed: int = 0,
) -> LoadReport:
    """A complete ``load.json`` document of a synthetic run."""
    users = 4
    samples = synthetic_samples(
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        users=users,
        errors=errors,
        error_text=error_text,
        seed=seed,
    )
    slos = slos or {"ttft_ms": 300.0}
    health = HealthInputs(cpu_percent=[22.0, 25.0, 24.0], hub_lag_ms=[0.2, 0.4], users=users)
    measurement = compute_results(samples, slos=slos, health=health)
    options = RunOptions(model=model, max_tokens=24, slos=slo_bounds(slos))
    return report_of(
        measurement,
        config=options.config(model=model, users=users, processes=1, run_time_s=8.0),
        endpoint=endpoint,
        started_at="2026-11-25T10:00:00+00:00",
        elapsed_s=8.0,
        status=LoadStatus.COMPLETED,
    )


def check_result(
    check_id: str, status: Status, message: str = "", *evidence: Evidence
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"title of {check_id}",
        group=check_id[0],
        tier=Tier.SPEC,
        severity=Severity.MAJOR,
        status=status,
        message=message or f"message of {check_id}",
        rule=f"The rule of {check_id}.",
        spec_ref="CreateChatCompletionResponse",
        evidence=evidence,
    )


def conformance_document(
    *results: CheckResult, endpoint: str = "http://127.0.0.1:9/v1", model: str = "pro"
) -> ConformanceRun:
    """A finished conformance run holding ``results``."""
    run = ConformanceRun(
        endpoint=endpoint,
        model=model,
        started_at="2026-01-01T00:00:00+00:00",
        tool=ToolInfo(version="0.test"),
        settings=RunSettings(runner="cli"),
        status=RunStatus.PASSED,
    )
    return run.with_results(
        results, planned=tuple(r.id for r in results), requests_sent=3, tokens_used=40
    )


def hostile_conformance() -> ConformanceRun:
    """A conformance run with :data:`HOSTILE` in every text an endpoint can influence."""
    evidence = Evidence(
        label=HOSTILE,
        request={"model": HOSTILE, "messages": [{"role": "user", "content": HOSTILE}]},
        status=200,
        response_excerpt=HOSTILE,
        raw_sse=visible_bytes(b"data: " + HOSTILE.encode() + b"\r\n\r\n"),
        detail={"chunk": HOSTILE},
    )
    run = conformance_document(
        check_result("B1-hostile", Status.FAILED, HOSTILE, evidence),
        check_result("B2-other", Status.PASSED, HOSTILE),
        endpoint="http://127.0.0.1:9/v1?" + HOSTILE,
        model=HOSTILE,
    )
    return replace(
        run,
        started_at=HOSTILE,
        internal_errors=(HOSTILE,),
        settings=RunSettings(select=(HOSTILE,)),
    )


def hostile_load() -> LoadReport:
    """A load result with :data:`HOSTILE` in endpoint, model, config and error examples."""
    document = load_document(
        endpoint="http://h/" + HOSTILE, model=HOSTILE, errors=2, error_text=HOSTILE
    )
    config = replace(document.config, prompts=HOSTILE)
    return replace(document, config=config, started_at=HOSTILE)
