"""Generator-health verdicts and clumping detection, one breach at a time."""

from __future__ import annotations

import pytest

from chatgauge.loadtests._health import (
    ACHIEVED_RATE_MIN_FRACTION,
    CPU_P90_LIMIT_PERCENT,
    HUB_LAG_P99_LIMIT_MS,
    SCHEDULE_LAG_P99_LIMIT_MS,
    HealthInputs,
    SampleEvidence,
    assess_generator,
    detect_clumping,
)
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results.load import Trust

MS = 1_000_000
BASE = 7 * 10**12

HEALTHY = HealthInputs(
    cpu_percent=[35.0, 40.0, 42.0, 38.0] * 10,
    hub_lag_ms=[0.2, 0.4, 0.3, 1.1] * 50,
    target_rate=None,
    users=64,
    processes=1,
)
EVIDENCE = SampleEvidence(
    schedule_lag_ms=sorted([0.1, 0.3, 0.2] * 30),
    ttft_p50_ms=210.0,
    itl_p50_ms=20.0,
    tpot_p50_ms=20.1,
    token_events=6400,
    reads=6500,
    max_events_per_read=[1] * 90 + [2] * 10,
)


def test_healthy_run_is_trustworthy_without_reasons() -> None:
    generator = assess_generator(HEALTHY, EVIDENCE)
    assert generator.verdict is Trust.TRUSTWORTHY
    assert generator.reasons == ()
    assert generator.notes == ()
    assert generator.clumping.suspected is False
    assert generator.cpu_percent.max == 42.0


def test_busy_cpu_makes_the_run_untrustworthy() -> None:
    busy = HealthInputs(cpu_percent=[97.0] * 20 + [40.0], hub_lag_ms=[0.3], users=256)
    generator = assess_generator(busy, EVIDENCE)
    assert generator.verdict is Trust.UNTRUSTWORTHY
    [reason] = generator.reasons
    assert "CPU p90 was 97.0% of one core" in reason
    assert f"{CPU_P90_LIMIT_PERCENT:.0f}%" in reason
    assert "--processes" in reason
    assert "256 users" in reason


def test_event_loop_lag_above_the_absolute_limit() -> None:
    laggy = HealthInputs(cpu_percent=[40.0], hub_lag_ms=[0.5] * 90 + [12.0] * 10)
    [reason] = assess_generator(laggy, EVIDENCE).reasons
    assert "Event-loop lag p99 was 12.00 ms" in reason
    assert f"{HUB_LAG_P99_LIMIT_MS:g} ms" in reason


def test_event_loop_lag_relative_to_a_fast_ttft() -> None:
    # 3 ms of lag is under the absolute limit but is 15 % of a 20 ms TTFT.
    lag = HealthInputs(cpu_percent=[40.0], hub_lag_ms=[3.0] * 10)
    fast = SampleEvidence(ttft_p50_ms=20.0)
    [reason] = assess_generator(lag, fast).reasons
    assert "10% of the TTFT p50 of 20.00 ms" in reason
    slow = SampleEvidence(ttft_p50_ms=400.0)
    assert assess_generator(lag, slow).verdict is Trust.TRUSTWORTHY


def test_schedule_lag_breach() -> None:
    late = SampleEvidence(schedule_lag_ms=sorted([1.0] * 90 + [40.0] * 10))
    generator = assess_generator(HEALTHY, late)
    [reason] = generator.reasons
    assert "40.00 ms (p99)" in reason
    assert f"{SCHEDULE_LAG_P99_LIMIT_MS:g} ms" in reason
    assert "more users" in reason


def test_achieved_rate_below_target() -> None:
    short = HealthInputs(cpu_percent=[40.0], hub_lag_ms=[0.3], target_rate=20.0)
    [reason] = assess_generator(short, SampleEvidence(achieved_rate=15.0)).reasons
    assert "Achieved 15.000 requests/s against a target of 20 (75.0%" in reason
    enough = SampleEvidence(achieved_rate=ACHIEVED_RATE_MIN_FRACTION * 20.0 + 0.01)
    assert assess_generator(short, enough).verdict is Trust.TRUSTWORTHY


def test_engine_counted_rate_wins_over_the_estimate() -> None:
    counted = HealthInputs(target_rate=10.0, achieved_rate=9.9, cpu_percent=[1.0], hub_lag_ms=[0.1])
    generator = assess_generator(counted, SampleEvidence(achieved_rate=5.0))
    assert generator.achieved_rate == 9.9
    assert generator.verdict is Trust.TRUSTWORTHY


def test_every_breach_gives_its_own_reason() -> None:
    bad = HealthInputs(cpu_percent=[99.0] * 5, hub_lag_ms=[30.0] * 5, target_rate=100.0)
    evidence = SampleEvidence(schedule_lag_ms=[50.0] * 5, achieved_rate=40.0, ttft_p50_ms=200.0)
    assert len(assess_generator(bad, evidence).reasons) == 4


def test_unmeasured_figures_are_noted_not_judged() -> None:
    generator = assess_generator(None, SampleEvidence())
    assert generator.verdict is Trust.TRUSTWORTHY
    assert any("CPU" in note for note in generator.notes)
    assert any("lag" in note for note in generator.notes)


CLUMPED = SampleEvidence(
    ttft_p50_ms=287.0,
    itl_p50_ms=0.02,
    tpot_p50_ms=20.0,
    token_events=6400,
    reads=400,
    max_events_per_read=[16] * 100,
)


def test_clumping_suspected_with_figures() -> None:
    clumping = detect_clumping(CLUMPED)
    assert clumping.suspected is True
    assert clumping.events_per_read == 16.0
    reason = clumping.reason or ""
    assert "Buffering proxy suspected" in reason
    assert "16.0 per read" in reason
    assert "287.00 ms" in reason


@pytest.mark.parametrize(
    "change",
    [
        {"reads": 6400},  # one event per read
        {"max_events_per_read": [1] * 100},  # no request had a burst
        {"itl_p50_ms": 19.5},  # gaps did not collapse
        {"reads": 0, "max_events_per_read": []},  # reads were not counted
    ],
)
def test_clumping_not_suspected_when_one_sign_is_missing(change: dict[str, object]) -> None:
    evidence = SampleEvidence(**{**CLUMPED.__dict__, **change})
    assert detect_clumping(evidence).suspected is False


def _stream(
    send_ms: float, gaps_ms: list[float], reads: int, burst: int, sched_ms: float | None = None
) -> RequestSample:
    stamps = [BASE + round((send_ms + 200) * MS)]
    for gap in gaps_ms:
        stamps.append(stamps[-1] + round(gap * MS))
    return RequestSample(
        t_sched_ns=BASE + round((sched_ms if sched_ms is not None else send_ms) * MS),
        t_send_ns=BASE + round(send_ms * MS),
        t_headers_ns=None,
        t_first_event_ns=stamps[0],
        t_done_ns=stamps[-1] + MS,
        token_event_ns=tuple(stamps),
        token_event_counts=(1,) * len(stamps),
        output_tokens=len(stamps),
        reads=reads,
        max_events_per_read=burst,
    )


def test_compute_results_flags_bursty_arrivals_and_not_smooth_ones() -> None:
    # 64 tokens arriving as 4 bursts of 16 (gaps ~0 inside a burst, 320 ms between bursts).
    bursty_gaps = ([0.01] * 15 + [320.0]) * 3 + [0.01] * 15
    bursty = [_stream(i * 50, bursty_gaps, reads=5, burst=16) for i in range(20)]
    smooth = [_stream(i * 50, [20.0] * 63, reads=66, burst=1) for i in range(20)]
    assert compute_results(bursty).generator.clumping.suspected is True
    assert compute_results(smooth).generator.clumping.suspected is False


def test_compute_results_estimates_the_achieved_rate_from_sends() -> None:
    # Scheduled at 20/s but sent at 10/s: the generator fell behind its schedule.
    samples = [_stream(i * 100, [20.0], 3, 1, sched_ms=i * 50) for i in range(50)]
    health = HealthInputs(cpu_percent=[50.0], hub_lag_ms=[0.2], target_rate=20.0, users=4)
    generator = compute_results(samples, health=health).generator
    assert generator.achieved_rate == pytest.approx(50 / 4.9)
    assert generator.verdict is Trust.UNTRUSTWORTHY
    assert any("Achieved" in r for r in generator.reasons)
    assert any("after their scheduled start" in r for r in generator.reasons)
