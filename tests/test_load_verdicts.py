"""Load verdicts (issue 12): latency basis, error budget, cut-offs, backoff, endpoint down,
incomplete runs, sweeps, populations. Pure logic on synthetic samples whose expected figures
follow from how they were built; the end-to-end cases are in ``test_load_failing_servers``."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from chatgauge.loadtests._assembly import report_of, sweep_of
from chatgauge.loadtests._backoff import BASE_DELAY_S, Backoff, retry_after_s
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._options_verdicts import VerdictOptions
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import slo_bounds
from chatgauge.loadtests._watch import EndpointWatch, StepProgress
from chatgauge.reports import render_load_html
from chatgauge.reports._compare_load import compare_load, load_summary
from chatgauge.results.load import LatencyBasis, LoadReport, LoadStatus

MS = 1_000_000
S = 1_000_000_000
BASE = 7 * 10**12


def at(ms: float) -> int:
    return BASE + round(ms * MS)


def ok(send_ms: float, *, ttft_ms: float = 200.0, sched_ms: float | None = None) -> RequestSample:
    """A successful streamed request: first token ``ttft_ms`` after the send, 4 tokens."""
    first = send_ms + ttft_ms
    stamps = tuple(at(first + 10 * k) for k in range(4))
    return RequestSample(
        t_sched_ns=at(send_ms if sched_ms is None else sched_ms),
        t_send_ns=at(send_ms),
        t_headers_ns=at(send_ms + 1),
        t_first_event_ns=stamps[0],
        t_done_ns=stamps[-1] + MS,
        token_event_ns=stamps,
        token_event_counts=(1,) * 4,
        output_tokens=4,
        token_source="usage",
        status=200,
    )


def failed(
    send_ms: float, kind: str = "http", *, status: int | None = 500, took: float = 5
) -> RequestSample:
    return RequestSample(
        t_sched_ns=at(send_ms),
        t_send_ns=at(send_ms),
        t_headers_ns=None,
        t_first_event_ns=None,
        t_done_ns=at(send_ms + took),
        status=status,
        error_kind=kind,  # type: ignore[arg-type]
        error=f"{kind} failure",
    )


def queued(count: int) -> list[RequestSample]:
    """Open-loop requests that each waited 600 ms for a free user, then got TTFT 200 ms."""
    return [ok(1000 + 100 * i, ttft_ms=200, sched_ms=400 + 100 * i) for i in range(count)]


WINDOW = (at(0), at(60_000))


def report(
    samples: list[RequestSample],
    *,
    basis: LatencyBasis = "send",
    slos: dict[str, float] | None = None,
    status: LoadStatus = LoadStatus.COMPLETED,
    max_error_rate: float = 0.01,
) -> LoadReport:
    slos = slos or {}
    measurement = compute_results(
        samples, window=WINDOW, slos=slos, basis=basis, max_error_rate=max_error_rate
    )
    options = RunOptions(rate=10.0 if basis == "intended_start" else None, slos=slo_bounds(slos))
    return report_of(
        measurement,
        config=options.config(model="pro", users=4, processes=1, run_time_s=60.0),
        endpoint="http://127.0.0.1:9/v1",
        started_at="2026-12-02T07:00:00+00:00",
        elapsed_s=60.0 if status is LoadStatus.COMPLETED else 4.0,
        status=status,
    )


# -- 1. open loop: verdicts on the latency from the intended start ------------------------


def test_open_loop_slos_judge_ttft_from_the_intended_start() -> None:
    samples = queued(50)
    judged = report(samples, basis="intended_start", slos={"ttft_ms": 500})
    outcome = judged.goodput.slos[0]
    assert outcome.judged_on == "ttft_from_schedule_ms"
    assert outcome.met is False
    assert outcome.attainment == 0.0
    assert judged.metrics.ttft_from_schedule_ms.p50 == pytest.approx(800.0)
    assert judged.metrics.ttft_ms.p50 == pytest.approx(200.0)  # the diagnostic, kept
    assert judged.user_metric("ttft") == (
        "ttft_from_schedule_ms",
        judged.metrics.ttft_from_schedule_ms,
    )
    assert "SLOs missed" in judged.failures()
    # The same samples judged from the send (the closed-loop basis) meet the SLO.
    sent = report(samples, basis="send", slos={"ttft_ms": 500})
    assert sent.goodput.slos[0].judged_on == "ttft_ms"
    assert sent.goodput.met is True


def test_open_loop_e2e_slo_and_distributions_follow_the_basis() -> None:
    judged = report(queued(20), basis="intended_start", slos={"e2e_ms": 500})
    assert judged.goodput.slos[0].judged_on == "e2e_from_schedule_ms"
    assert judged.goodput.met is False
    assert judged.metrics.e2e_from_schedule_ms.p50 == pytest.approx(600 + 200 + 31)
    # The curves and points the page plots are the judged figures.
    assert min(judged.distributions.ttft_ms) == pytest.approx(800.0)
    assert min(v for v in judged.points.ttft_ms if v is not None) == pytest.approx(800.0)


def test_page_and_comparison_name_the_basis_and_judge_on_it() -> None:
    fast_queue = report(queued(40), basis="intended_start")
    page = render_load_html(fast_queue)
    assert "TTFT p50 (from intended start)" in page
    assert "TTFT p50 from send (diagnostic)" in page
    # Baseline: no queueing (TTFT 300 ms from the slot); candidate: the server got faster
    # (200 ms) but requests queue (800 ms from the slot): a regression for the users.
    baseline = report([ok(1000 + 100 * i, ttft_ms=300) for i in range(40)], basis="intended_start")
    comparison = compare_load([("before", baseline), ("after", fast_queue)])
    row = next(r for r in comparison.rows if r.key == "ttft_from_schedule_ms.p50")
    assert row.label == "TTFT from intended start p50"
    assert row.cells[1].verdict == "regression"
    assert any(
        "REGRESSION TTFT from intended start p50" in line for line in load_summary(comparison)
    )


# -- 2. error budget and cut-off requests -------------------------------------------------


def test_the_error_budget_fails_a_run_above_it_with_the_error_kinds() -> None:
    samples = [ok(100 * i) for i in range(98)] + [
        failed(9900),
        failed(9950, "connection", status=None),
    ]
    within = report(samples, max_error_rate=0.05)
    assert within.error_budget.met is True
    assert within.failures() == ()
    over = report(samples)  # default 1 %: 2 % failed
    assert over.error_budget.error_rate == pytest.approx(0.02)
    assert over.error_budget.met is False
    assert set(over.error_budget.kinds) == {"http 500", "connection"}
    assert "error rate 2.00% above the budget of 1.00%" in over.failures()[0]


def test_a_request_cut_off_early_is_counted_but_not_judged() -> None:
    samples = [ok(100 * i) for i in range(50)]
    samples.append(failed(5000, "cut_off", status=None, took=50))  # younger than any answer
    counted = report(samples, slos={"ttft_ms": 1000})
    assert counted.requests.cut_off == 1
    assert counted.requests.total == 51
    assert counted.requests.failed == 0
    assert counted.error_budget.met is True
    assert counted.goodput.met is True


def test_a_request_cut_off_after_running_longer_than_any_answer_is_a_hang() -> None:
    samples = [ok(100 * i) for i in range(50)]  # each 231 ms
    queued_at_the_end = failed(5000, "cut_off", status=None, took=400)  # under twice that
    samples.append(queued_at_the_end)
    assert report(samples).requests.cut_off == 1
    samples[-1] = failed(5000, "cut_off", status=None, took=20_000)
    hung = report(samples)
    assert hung.requests.cut_off == 0
    assert hung.requests.failed == 1
    assert [e.kind for e in hung.errors] == ["cut_off"]


def test_a_run_where_every_request_was_cut_off_fails() -> None:
    stuck = report([failed(100 * i, "cut_off", status=None, took=3000) for i in range(4)])
    assert stuck.requests.total == 4
    assert stuck.requests.failed == 4
    assert stuck.error_budget.met is False
    assert stuck.failures()
    assert "no measured request completed" in stuck.failures()[0]


def test_the_generator_is_not_blamed_for_a_failing_endpoint() -> None:
    from chatgauge.loadtests._health import HealthInputs

    busy = HealthInputs(cpu_percent=[99.0] * 10, hub_lag_ms=[0.1] * 10, users=8)
    samples = [ok(100 * i) for i in range(10)] + [failed(2000 + i) for i in range(40)]
    measurement = compute_results(samples, window=WINDOW, health=busy)
    assert measurement.generator.trustworthy
    assert not measurement.generator.reasons
    assert any("Not held against the generator" in n for n in measurement.generator.notes)
    assert all("--processes" not in n for n in measurement.generator.notes)
    healthy_endpoint = compute_results(samples[:10], window=WINDOW, health=busy)
    assert not healthy_endpoint.generator.trustworthy  # the same CPU, no excuse


# -- 3. backoff and endpoint down ----------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap_and_resets_on_success() -> None:
    backoff = Backoff(1.0, seed=1)
    refused = failed(0, "connection", status=None)
    delays = [backoff.delay_after(refused) for _ in range(8)]
    for index, delay in enumerate(delays):
        ceiling = min(1.0, BASE_DELAY_S * 2**index)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 1.0
    assert backoff.delay_after(ok(0)) == 0.0
    assert backoff.delay_after(refused) <= BASE_DELAY_S


@pytest.mark.parametrize(
    ("status", "kind", "waits"),
    [
        (429, "http", True),
        (503, "http", True),
        (500, "http", False),
        (None, "timeout", False),
        (None, "connection", True),
    ],
)
def test_which_failures_back_off(status: int | None, kind: str, waits: bool) -> None:
    assert (Backoff(1.0).delay_after(failed(0, kind, status=status)) > 0) is waits


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    limited = failed(0, "http", status=429)
    assert Backoff(5.0).delay_after(limited, retry_after=3.0) >= 3.0
    assert Backoff(2.0).delay_after(limited, retry_after=60.0) == 2.0
    assert retry_after_s("2") == 2.0
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None
    now = datetime(2026, 12, 2, 7, 0, tzinfo=timezone.utc)
    date = format_datetime(now + timedelta(seconds=4), usegmt=True)
    assert retry_after_s(date, now=now.timestamp()) == pytest.approx(4.0)


def test_the_endpoint_is_down_after_failing_without_success_for_abort_after() -> None:
    watch = EndpointWatch(2.0)
    watch.observe([failed(0, "connection", status=None)], now_ns=10 * S)
    assert watch.down(now_ns=11 * S) is None
    watch.observe([ok(0)], now_ns=11 * S)  # a success resets the clock
    watch.observe([failed(0, "connection", status=None)] * 3, now_ns=12 * S)
    watch.observe([failed(0, "cut_off", status=None)], now_ns=12 * S)  # no evidence
    assert watch.down(now_ns=13 * S) is None
    reason = watch.down(now_ns=14 * S)
    assert reason is not None
    assert "endpoint down" in reason
    assert "3 x connection" in reason


def test_an_aborted_run_fails_and_says_why() -> None:
    down = report(
        [failed(100 * i, "connection", status=None) for i in range(5)], status=LoadStatus.ABORTED
    )
    down = replace(down, stop_reason="endpoint down: no successful answer")
    assert down.failures()[0].startswith("endpoint down")
    page = render_load_html(down)
    assert "the endpoint is down" in page
    assert "All SLOs met" not in page


# -- 4. interrupted runs -------------------------------------------------------------------


def test_an_interrupted_run_never_shows_all_slos_met() -> None:
    samples = [ok(100 * i) for i in range(30)]
    complete = render_load_html(report(samples, slos={"ttft_ms": 1000}))
    assert "All SLOs met" in complete
    cut_short = render_load_html(
        report(samples, slos={"ttft_ms": 1000}, status=LoadStatus.INTERRUPTED)
    )
    assert "All SLOs met" not in cut_short
    assert "Run interrupted after 4.0 s of 60.0 s planned" in cut_short
    assert "No SLO verdict: the run is incomplete" in cut_short


# -- 5. sweeps ----------------------------------------------------------------------------


def sweep_options(**verdicts: object) -> RunOptions:
    return RunOptions(
        sweep_kind="users",
        sweep_values=(1.0, 2.0),
        sweep_step_s=10.0,
        warmup_s=5.0,
        slos=slo_bounds({"ttft_ms": 1000}),
        verdicts=VerdictOptions(**verdicts),  # type: ignore[arg-type]
    )


def test_each_sweep_step_has_its_own_warm_up_a_fraction_of_the_step() -> None:
    # Requests every 100 ms over both 10 s steps: the step warm-up is 2 s, not the 5 s.
    samples = [ok(100 * i) for i in range(200)]
    sweep = sweep_of(samples, sweep_options(), "users", BASE, at(20_000))
    first = sweep.steps[0]
    assert first.window.start_ns == at(2000)
    assert first.requests.total == 81  # sends at 2.0 s ... 10.0 s
    assert not first.insufficient


def test_a_step_with_too_few_requests_is_insufficient_and_never_best() -> None:
    samples = [ok(100 * i) for i in range(100)] + [ok(10_000 + 1000 * i) for i in range(10)]
    sweep = sweep_of(samples, sweep_options(sweep_min_requests=30), "users", BASE, at(20_000))
    assert [s.insufficient for s in sweep.steps] == [False, True]
    assert sweep.best == 0  # the second step met the SLO, on 8 requests: not judged
    assert any("fewer than 30 requests" in note for note in sweep.notes)


def test_a_best_step_that_is_the_largest_tested_says_capacity_may_lie_beyond() -> None:
    samples = [ok(100 * i) for i in range(200)]
    sweep = sweep_of(samples, sweep_options(), "users", BASE, at(20_000))
    assert sweep.best == 1
    assert any("largest tested" in note for note in sweep.notes)


def test_progress_lines_name_the_step_and_count_it() -> None:
    steps = StepProgress(BASE, 10.0, ("1 users", "2 users"))
    steps.observe([ok(100), ok(200), failed(300)])
    assert steps.prefix(now_ns=at(5000)).startswith("step 1/2 (1 users): done 2 failed 1")
    steps.observe([ok(10_500)])
    assert steps.prefix(now_ns=at(11_000)).startswith("step 2/2 (2 users): done 1 failed 0")


def test_progress_lines_show_the_steps_own_ttft_not_the_whole_runs() -> None:
    # Step 1 answers in 200 ms, step 2 in 900 ms: step 2's line shows 900, not a mix.
    steps = StepProgress(BASE, 10.0, ("1 users", "2 users"))
    steps.observe([ok(100 * i, ttft_ms=200.0) for i in range(1, 50)])
    assert step_ttft(steps.prefix(now_ns=at(9_000))) == pytest.approx((200, 200), rel=2e-3)
    steps.observe([ok(10_000 + 100 * i, ttft_ms=900.0) for i in range(1, 50)])
    assert step_ttft(steps.prefix(now_ns=at(19_000))) == pytest.approx((900, 900), rel=2e-3)


def step_ttft(line: str) -> tuple[float, float]:
    """The p50 and p99 a step prefix shows."""
    found = re.search(r"TTFT p50 ([\d.]+) p99 ([\d.]+) ms \|", line)
    assert found, line
    return float(found[1]), float(found[2])


def test_open_loop_step_lines_measure_ttft_from_the_intended_start() -> None:
    steps = StepProgress(BASE, 10.0, ("4 req/s", "8 req/s"), from_schedule=True)
    steps.observe([ok(1000, ttft_ms=200.0, sched_ms=700)])  # queued 300 ms behind busy users
    assert step_ttft(steps.prefix(now_ns=at(2_000))) == pytest.approx((500, 500), rel=2e-3)


# -- 6. one population per figure ----------------------------------------------------------


def test_the_page_names_the_population_of_each_headline_figure() -> None:
    page = render_load_html(report([ok(100 * i) for i in range(30)], slos={"ttft_ms": 1000}))
    assert "measured requests (scheduled in the window)" in page
    assert "successful requests finished in the window" in page


def test_a_rate_short_of_its_target_with_idle_cpu_asks_for_more_users_not_processes() -> None:
    from chatgauge.loadtests._health import HealthInputs, SampleEvidence, assess_generator

    idle = HealthInputs(target_rate=50.0, cpu_percent=[20.0] * 5, hub_lag_ms=[0.1] * 5, users=8)
    [reason] = assess_generator(idle, SampleEvidence(achieved_rate=20.0)).reasons
    assert "raise --users" in reason
    assert "--processes" not in reason
    busy = HealthInputs(target_rate=50.0, cpu_percent=[99.0] * 5, hub_lag_ms=[0.1] * 5, users=8)
    reasons = assess_generator(busy, SampleEvidence(achieved_rate=20.0)).reasons
    assert any("Achieved" in r and "--processes" in r for r in reasons)


def test_a_comparison_warns_about_an_incomplete_run() -> None:
    samples = [ok(100 * i) for i in range(30)]
    comparison = compare_load(
        [("full", report(samples)), ("cut", report(samples, status=LoadStatus.INTERRUPTED))]
    )
    assert "  warning: this run is interrupted: no verdict" in load_summary(comparison)


def test_the_page_shows_the_sweep_notes_and_insufficient_steps() -> None:
    samples = [ok(100 * i) for i in range(100)] + [ok(10_000 + 1000 * i) for i in range(10)]
    options = sweep_options(sweep_min_requests=30)
    sweep = sweep_of(samples, options, "users", BASE, at(20_000))
    measurement = compute_results(samples, window=WINDOW, slos=options.slo_map)
    page = render_load_html(
        report_of(
            measurement,
            config=options.config(model="pro", users=2, processes=1, run_time_s=None),
            endpoint="http://127.0.0.1:9/v1",
            started_at="2026-12-02T07:00:00+00:00",
            elapsed_s=20.0,
            status=LoadStatus.COMPLETED,
            sweep=sweep,
        )
    )
    assert 'class="banner warn sweep-note"' in page
    assert "fewer than 30 requests" in page
    assert '<span class="pill bad">insufficient</span>' in page
    assert "Latency judged</td><td>from the send" in page
