"""The conformance sending path: retries of 429 and 503, pacing, deadlines, stopping.

The rules are unit-tested with a fake clock and a stand-in sender (pure logic); the
rate-limited case of issue 11 (``chatgauge serve --rate-limit 5 --api-key K``: it printed
PASSED with most checks skipped and 90 answers 429) is then run end to end against the
reference endpoint.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from chatgauge._models import ChatCase, ChatExchange
from chatgauge._secret import Secret
from chatgauge.conformance._budget import Budget
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._results import CheckSkipped, SkipKind
from chatgauge.conformance._sending import (
    Dispatcher,
    RunStopped,
    SendPolicy,
    backoff_delay,
    retry_after_seconds,
)
from chatgauge.server import ServerConfig, background_server
from tests.check_support import check, document

KEY = "sk-rate-limited-Hq3ZpW8xV1"


@dataclass
class Clock:
    """A fake monotonic clock; ``sleep`` advances it and records the wait."""

    now: float = 100.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def _exchange(
    case: ChatCase,
    status: int | None,
    *,
    headers: dict[str, str] | None = None,
    error_kind: str | None = None,
) -> ChatExchange:
    return ChatExchange(
        case=case,
        url="http://127.0.0.1:1/v1/chat/completions",
        status=status,
        headers=headers or {},
        raw=b'{"error": {"message": "slow down"}}' if status == 429 else b"{}",
        t_send_ns=0,
        t_headers_ns=None,
        t_done_ns=0,
        error_kind=error_kind,
        error="ReadTimeout" if error_kind == "timeout" else None,
    )


Answer = tuple[int | None, dict[str, str], str | None]
"""A scripted answer: status, headers, error kind."""


@dataclass
class Scripted:
    """Answers each request with the next of ``answers`` (status, headers, error kind)."""

    answers: list[Answer]
    clock: Clock
    sent_at: list[float] = field(default_factory=list)
    cases: list[ChatCase] = field(default_factory=list)

    def __call__(self, case: ChatCase) -> ChatExchange:
        self.sent_at.append(self.clock.now)
        self.cases.append(case)
        status, headers, error_kind = self.answers.pop(0)
        return _exchange(case, status, headers=headers, error_kind=error_kind)


def _context(
    answers: list[Answer],
    policy: SendPolicy,
    *,
    max_requests: int = 100,
) -> tuple[CheckContext, Scripted, Clock]:
    clock = Clock()
    sender = Scripted(answers, clock)
    dispatcher = Dispatcher(policy, sleep=clock.sleep, clock=clock, rng=random.Random(1))
    ctx = CheckContext(
        send_case=sender,
        settings=Settings(model="m"),
        budget=Budget(max_requests=max_requests),
        dispatcher=dispatcher,
    )
    return ctx, sender, clock


CASE = ChatCase(body={"model": "m", "messages": [], "max_tokens": 1}, label="x")
OK: Answer = (200, {}, None)


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)

    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds(later, now=now.timestamp()) == pytest.approx(7.0)
    assert retry_after_seconds(format_datetime(now, usegmt=True), now=now.timestamp() + 60) == 0
    for unusable in (None, "soon", "-1", "nan", ""):
        assert retry_after_seconds(unusable) is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = SendPolicy(backoff_base_s=0.5, max_retry_wait_s=3.0)
    rng = random.Random(3)
    for attempt in range(6):
        delay = backoff_delay(attempt, policy, rng)
        full = 0.5 * 2**attempt
        assert min(full / 2, 3.0) <= delay <= min(full, 3.0)


def test_a_429_is_retried_after_its_retry_after_and_every_attempt_counts() -> None:
    answers = [(429, {"retry-after": "2"}, None), (429, {"retry-after": "1"}, None), OK]
    ctx, _, clock = _context(answers, SendPolicy(max_retries=4))

    exchange = ctx.send(CASE)

    assert exchange.status == 200
    assert clock.slept == [2.0, 1.0]
    assert ctx.budget.requests_sent == 3
    assert ctx.dispatcher.retries == 2
    assert [e.status for e in ctx.exchanges] == [429, 429, 200]  # every answer is kept


def test_a_503_without_retry_after_backs_off_and_a_long_retry_after_is_capped() -> None:
    answers = [(503, {}, None), (429, {"retry-after": "3600"}, None), OK]
    ctx, _, clock = _context(answers, SendPolicy(max_retry_wait_s=5.0, backoff_base_s=0.5))

    assert ctx.send(CASE).status == 200
    assert 0.25 <= clock.slept[0] <= 0.5
    assert clock.slept[1] == 5.0


def test_retries_end_after_max_retries_with_the_last_answer() -> None:
    answers: list[Answer] = [(429, {"retry-after": "1"}, None)] * 3
    ctx, _, clock = _context(answers, SendPolicy(max_retries=2))

    assert ctx.send(CASE).status == 429
    assert len(clock.slept) == 2
    assert ctx.budget.requests_sent == 3


def test_a_retry_beyond_the_budget_is_a_run_skip() -> None:
    answers = [(429, {"retry-after": "1"}, None), OK]
    ctx, _, _ = _context(answers, SendPolicy(), max_requests=1)

    with pytest.raises(CheckSkipped) as skipped:
        ctx.send(CASE)
    assert skipped.value.kind is SkipKind.RUN
    assert "request cap of 1" in skipped.value.message


def test_no_retry_when_the_caller_wants_to_see_the_429() -> None:
    ctx, _, clock = _context([(429, {"retry-after": "1"}, None)], SendPolicy())

    assert ctx.send(CASE, retry=False).status == 429
    assert clock.slept == []


def test_pacing_spaces_request_starts() -> None:
    ctx, sender, _ = _context([OK, OK, (429, {"retry-after": "0"}, None), OK], SendPolicy(rate=4.0))

    ctx.send(CASE)
    ctx.send(CASE)
    ctx.send(CASE)  # retried: the retry is paced too
    gaps = [b - a for a, b in zip(sender.sent_at, sender.sent_at[1:], strict=False)]
    assert all(gap >= 0.25 - 1e-9 for gap in gaps), gaps


def test_requests_in_a_row_that_time_out_stop_the_run() -> None:
    answers = [(200, {}, "timeout"), (None, {}, "timeout"), (200, {}, "timeout"), OK]
    ctx, _, _ = _context(answers, SendPolicy(max_consecutive_timeouts=3))

    for _ in range(3):  # each timed-out exchange is still the check's to judge
        assert ctx.send(CASE).error_kind == "timeout"
    assert ctx.stop_reason.startswith("endpoint unresponsive: 3 requests in a row timed out")
    with pytest.raises(RunStopped) as stopped:
        ctx.send(CASE)
    assert stopped.value.kind is SkipKind.RUN


def test_an_answer_between_timeouts_resets_the_count() -> None:
    answers = [(200, {}, "timeout"), (200, {}, "timeout"), OK, (200, {}, "timeout"), OK]
    ctx, _, _ = _context(answers, SendPolicy(max_consecutive_timeouts=3))

    for _ in range(5):
        ctx.send(CASE)
    assert ctx.stop_reason == ""


def test_the_run_deadline_shortens_requests_and_then_stops_the_run() -> None:
    ctx, sender, clock = _context([OK, OK], SendPolicy(run_timeout_s=10.0, total_timeout_s=120))

    ctx.send(CASE)
    assert sender.cases[0].total_timeout_s == pytest.approx(10.0)  # the rest of the run
    clock.now += 4
    ctx.send(CASE)
    assert sender.cases[1].total_timeout_s == pytest.approx(6.0)
    clock.now += 7
    with pytest.raises(RunStopped, match=r"run deadline of 10 s reached"):
        ctx.send(CASE)


def test_a_retry_that_would_pass_the_run_deadline_is_not_waited_for() -> None:
    ctx, _, clock = _context([(429, {"retry-after": "30"}, None)], SendPolicy(run_timeout_s=10))

    assert ctx.send(CASE).status == 429
    assert clock.slept == []


def test_an_echoed_key_is_masked_in_the_exchange_before_any_check_sees_it() -> None:
    secret = Secret("sk-echo-8e3Kd0aQ/\\x")
    echoed = json.dumps({"error": {"message": f"bad key {secret.reveal()}"}}).encode()

    def answer(case: ChatCase) -> ChatExchange:
        return replace(_exchange(case, 401), raw=echoed)

    ctx = CheckContext(send_case=answer, settings=Settings(model="m"), secret=secret)
    exchange = ctx.send(CASE)

    assert exchange.json()["error"]["message"] == "bad key ***"
    assert b"8e3Kd0aQ" not in exchange.raw


# -- end to end: the rate-limited reference endpoint -----------------------------------------


@pytest.fixture(scope="module")
def rate_limited_url() -> Iterator[str]:
    config = ServerConfig(port=0, rate_limit_rps=5.0, api_key=Secret(KEY))
    with background_server(config) as url:
        yield url


def test_a_rate_limited_endpoint_is_judged_whole_by_honouring_retry_after(
    tmp_path: Path, rate_limited_url: str
) -> None:
    done = check(tmp_path, "--base-url", rate_limited_url, "--model", "pro", "--api-key", KEY)

    assert done.returncode == 0, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] == "passed"
    retries = data["retries"]
    assert isinstance(retries, int)
    assert retries > 0  # the endpoint did answer 429, and the run waited and retried
    checks = {c["id"]: c for c in data["checks"]}
    assert checks["A1-random-valid-requests-accepted"]["status"] == "passed"
    assert "rate limited" not in checks["A1-random-valid-requests-accepted"]["message"]
    assert checks["F2-retry-after"]["status"] == "passed"  # it met the 429s, with Retry-After
    assert {c["status"] for c in checks.values()} == {"passed"}
    assert f"({retries} retries after 429/503)" in done.stdout
    assert KEY not in done.stdout + (tmp_path / "reports" / "conformance.json").read_text()


def test_without_retries_a_rate_limited_endpoint_is_incomplete(
    tmp_path: Path, rate_limited_url: str
) -> None:
    done = check(
        tmp_path,
        "--base-url",
        rate_limited_url,
        "--model",
        "pro",
        "--api-key",
        KEY,
        "--max-retries",
        "0",
        "--select",
        "A1,B,D",
    )

    assert done.returncode == 4, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["status"] == "incomplete"
    coverage = data["coverage"]
    assert isinstance(coverage, dict)
    rate_limited = [s for s in coverage["skipped"] if "429" in s["reason"]]
    assert rate_limited
    assert {s["kind"] for s in rate_limited} == {"run"}


def test_pacing_below_the_rate_limit_meets_no_429(tmp_path: Path, rate_limited_url: str) -> None:
    done = check(
        tmp_path,
        "--base-url",
        rate_limited_url,
        "--model",
        "pro",
        "--api-key",
        KEY,
        "--rate",
        "4",
        "--select",
        "A3,B2,F2-retry-after",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    data = document(tmp_path)
    assert data["retries"] == 0
    checks = {c["id"]: c for c in data["checks"]}
    # Paced below the limit, even the burst meets no 429: nothing to judge there.
    assert checks["F2-retry-after"]["status"] == "skipped"
    assert checks["F2-retry-after"]["skip_kind"] == "not_applicable"
