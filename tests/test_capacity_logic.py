"""The pure parts of the capacity search: user-perceived judging, steadiness, unanswered
requests, the Wilson bound, the bracket-and-bisect rule and the confidence statement.

Samples are built stamp by stamp (pure logic: no server needed to say what a stamp means);
the search is driven by an analytic endpoint whose true capacity is known.
"""

from __future__ import annotations

import math

import pytest

from chatgauge.loadtests._capacity import (
    RateSearch,
    SearchPlan,
    StepInput,
    answer,
    judge_step,
    perceived_value,
    wilson_lower,
)
from chatgauge.loadtests._samples import RequestSample

MS = 1_000_000
S = 1_000_000_000


def sample(sched_ms: float, wait_ms: float, ttft_ms: float, *, tokens: int = 4) -> RequestSample:
    """A request meant to start at ``sched_ms``, sent ``wait_ms`` later, first token
    ``ttft_ms`` after the send, then a token every 10 ms."""
    t_sched = round(sched_ms * MS)
    t_send = t_sched + round(wait_ms * MS)
    first = t_send + round(ttft_ms * MS)
    stamps = tuple(first + k * 10 * MS for k in range(tokens))
    return RequestSample(
        t_sched_ns=t_sched,
        t_send_ns=t_send,
        t_headers_ns=t_send + MS,
        t_first_event_ns=first,
        t_done_ns=stamps[-1] + MS,
        token_event_ns=stamps,
        token_event_counts=(1,) * tokens,
        output_tokens=tokens,
        token_source="usage",
    )


def step_of(samples: list[RequestSample], *, window_s: float = 10.0, **extra: object) -> StepInput:
    fields: dict[str, object] = {
        "index": 0,
        "phase": "bracket",
        "offered_rps": 10.0,
        "samples": samples,
        "window": (0, round(window_s * S)),
        "output_tokens_per_s": 40.0,
        "achieved_rps": 10.0,
        "generator_trustworthy": True,
        "report": "capacity/step-01/load.json",
    }
    fields.update(extra)
    return StepInput(**fields)  # type: ignore[arg-type]


def test_ttft_is_judged_from_the_intended_start() -> None:
    late = sample(0, wait_ms=900, ttft_ms=200)
    assert perceived_value(late, "ttft_ms") == pytest.approx(1100)
    assert perceived_value(late, "e2e_ms") == pytest.approx(1100 + 30 + 1)
    assert perceived_value(late, "tpot_ms") == pytest.approx(10)
    # 100 requests, each waiting 900 ms in the client before a 200 ms TTFT: from the send
    # they would meet 1000 ms; from the intended start none does.
    samples = [sample(i * 100, wait_ms=900, ttft_ms=200) for i in range(100)]
    judged = judge_step(step_of(samples), {"ttft_ms": 1000})
    assert judged.slos[0].attainment == 0.0
    assert not judged.passed
    assert "ttft_ms" in judged.reason


def test_a_step_meeting_every_slo_in_a_steady_state_passes() -> None:
    samples = [sample(i * 100, wait_ms=0, ttft_ms=100) for i in range(100)]
    judged = judge_step(step_of(samples), {"ttft_ms": 1000, "tpot_ms": 50})
    assert judged.passed, judged.reason
    assert judged.measured == 100
    # The last request (scheduled at 9.9 s) finishes after the window: 99 in 10 s.
    assert judged.goodput_rps == pytest.approx(9.9)
    assert judged.ttft_p50_ms == pytest.approx(100)


def test_failed_requests_miss_every_slo() -> None:
    samples = [sample(i * 100, wait_ms=0, ttft_ms=100) for i in range(100)]
    samples[:2] = [
        RequestSample(**{**s.to_json(), "error_kind": "http", "status": 503, "token_event_ns": ()})
        for s in samples[:2]
    ]
    judged = judge_step(step_of(samples), {"ttft_ms": 1000})
    assert judged.failed == 2
    assert judged.slos[0].attainment == pytest.approx(0.98)
    assert not judged.passed


def test_a_growing_queue_is_not_a_steady_state() -> None:
    # Every request meets the 5 s bound, but the wait grows all through the window.
    samples = [sample(i * 100, wait_ms=i * 30, ttft_ms=100) for i in range(100)]
    judged = judge_step(step_of(samples), {"e2e_ms": 5000})
    assert judged.slos[0].met
    assert not judged.steady
    assert not judged.passed
    assert "steady" in judged.reason
    flat = [sample(i * 100, wait_ms=(i % 7) * 30, ttft_ms=100) for i in range(100)]
    assert judge_step(step_of(flat), {"e2e_ms": 5000}).steady


def test_unanswered_intended_starts_past_their_bound_are_misses() -> None:
    samples = [sample(i * 100, wait_ms=0, ttft_ms=100) for i in range(90)]
    # Ten more intended starts early in the window never got an answer: their 1 s bound
    # had long passed when the step ended.
    intended = tuple(s.t_sched_ns for s in samples) + tuple(
        round((0.05 + 0.1 * k) * S) for k in range(10)
    )
    judged = judge_step(step_of(samples, intended=intended), {"ttft_ms": 1000})
    assert judged.unanswered == 10
    assert judged.measured == 100
    assert judged.slos[0].attainment == pytest.approx(0.9)
    assert not judged.passed
    # Scheduled within the bound of the window's end: could still be on time, left out.
    recent = (*tuple(s.t_sched_ns for s in samples), round(9.95 * S))
    assert judge_step(step_of(samples, intended=recent), {"ttft_ms": 1000}).unanswered == 0


def test_wilson_lower_bound() -> None:
    assert wilson_lower(0, 0) is None
    assert wilson_lower(100, 100) == pytest.approx(0.9737, abs=1e-3)
    assert wilson_lower(300, 300) == pytest.approx(0.9911, abs=1e-3)
    low = wilson_lower(50, 100)
    assert low is not None
    assert 0.41 < low < 0.5


def analytic_search(plan: SearchPlan, capacity: float) -> RateSearch:
    """Drive a search with an endpoint that meets the SLOs exactly below ``capacity``."""
    search = RateSearch(plan)
    while (rate := search.next_rate()) is not None:
        search.record(rate, rate <= capacity)
    return search


@pytest.mark.parametrize(("start", "capacity"), [(1.0, 19.5), (64.0, 19.5), (0.5, 3.3)])
def test_bracket_then_bisect_finds_the_capacity_within_the_precision(
    start: float, capacity: float
) -> None:
    plan = SearchPlan(start_rps=start, precision=0.05, max_steps=30)
    search = analytic_search(plan, capacity)
    assert search.low is not None
    assert search.high is not None
    assert search.low <= capacity < search.high
    assert (search.high - search.low) / search.low <= 0.05
    assert "bracket" in search.stop_reason


def test_the_search_stops_at_its_ceiling_floor_and_budget() -> None:
    ceiling = analytic_search(SearchPlan(start_rps=1, max_rps=10, max_steps=30), 1e9)
    assert ceiling.low == 10
    assert ceiling.high is None
    assert "ceiling" in ceiling.stop_reason
    floor = analytic_search(SearchPlan(start_rps=1, min_rps=0.25, max_steps=30), 0.0)
    assert floor.low is None
    assert "floor" in floor.stop_reason
    budget = analytic_search(SearchPlan(start_rps=1, max_steps=3), 19.5)
    assert budget.tried == 3
    assert "budget" in budget.stop_reason


def test_the_answer_lies_below_every_failing_rate() -> None:
    passing = [sample(i * 100, wait_ms=0, ttft_ms=100) for i in range(300)]
    failing = [sample(i * 100, wait_ms=0, ttft_ms=2000) for i in range(300)]
    plan = SearchPlan(precision=0.5)
    search = RateSearch(plan)
    steps = []
    for index, (rate, samples) in enumerate(((8.0, passing), (16.0, failing), (12.0, passing))):
        step = judge_step(
            step_of(samples, window_s=30, index=index, offered_rps=rate), {"ttft_ms": 1000}
        )
        steps.append(step)
        search.record(rate, step.passed)
    result = answer(steps, search, arrival="poisson")
    assert result.rate_rps == 12.0
    assert result.bracket_high_rps == 16.0
    assert result.best == 2
    assert result.output_tokens_per_s == 40.0
    assert "between 12 req/s" in result.confidence
    # 300 requests all on time prove 99% at 95% confidence; the bracket is 33% wide.
    assert result.confident
    assert math.isclose(result.precision, 0.5)


def test_too_few_requests_give_limited_confidence() -> None:
    few = [sample(i * 100, wait_ms=0, ttft_ms=100) for i in range(50)]
    search = RateSearch(SearchPlan(precision=0.5))
    steps = [
        judge_step(step_of(few, index=0, offered_rps=8.0), {"ttft_ms": 1000}),
        judge_step(
            step_of([sample(i * 100, 0, 3000) for i in range(50)], index=1, offered_rps=10.0),
            {"ttft_ms": 1000},
        ),
    ]
    for step in steps:
        search.record(step.offered_rps, step.passed)
    result = answer(steps, search, arrival="poisson")
    assert result.rate_rps == 8.0
    assert not result.confident
    assert "too few requests" in result.confidence


def test_the_page_states_the_capacity_and_marks_the_knee() -> None:
    from chatgauge.reports import render_load_html
    from tests.capacity_fixtures import capacity_result

    report = capacity_result()
    assert report.capacity is not None
    assert report.capacity.rate_rps == 12.0
    page = render_load_html(report)
    assert page.count('id="capacity"') == 1
    assert "Capacity: 12.00 req/s" in page
    assert page.count("capacity 12 req/s") == 3  # the knee's legend in all three charts
    assert page.count("<tr", page.index('id="capacity-steps"')) >= 5  # head + 4 steps
    assert page.index('id="capacity"') < page.index("<h2>Headline</h2>")
