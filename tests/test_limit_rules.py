"""Rules about a limit (G6): evidence from runaway answers, and no verdict without a measure.

On the reference endpoint, ``runaway-generation`` ignores a limit of 3 and runs on for 512
tokens (not streamed, the answer comes after a second). Whether chatgauge waits for that
answer or gives up at the tiny request's deadline, G6 fails: the verdict must not depend on
how fast the machine is. A stream that runs far past the limit is not read to its end.

The hand-made answers at the end are pure logic: what G6 concludes from an answer without
usage (nothing, unless the answer is far too long for its limit).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chatgauge._models import ChatCase, ChatExchange, TimedEvent
from chatgauge._sse import SSEEvent
from chatgauge.conformance import _probes
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import CheckResult, CheckSkipped, SkipKind, Status
from chatgauge.conformance._runner import run_check
from chatgauge.conformance.checks.g_limits import MAX_BYTES_PER_TOKEN
from tests.conformance_harness import endpoint

RUNAWAY = frozenset({"runaway-generation"})


def _run(ctx: CheckContext, check_id: str) -> CheckResult:
    (check,) = [c for c in all_checks() if c.id == check_id]
    return run_check(ctx, check)


@pytest.mark.parametrize("deadline_s", [0.3, None], ids=["gives-up", "waits"])
def test_a_runaway_tiny_request_fails_whether_or_not_chatgauge_waits_for_it(
    deadline_s: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if deadline_s is not None:
        # Below the endpoint's 1 s: the tiny request hits its deadline before the answer.
        monkeypatch.setattr(_probes, "TINY_DEADLINE_MIN_S", deadline_s)
    with endpoint(RUNAWAY) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        results = {cid: _run(ctx, cid) for cid in ("G6-max-tokens", "G6-max-completion-tokens")}
        cut = ctx.probe("cut")
    for result in results.values():
        assert result.status is Status.FAILED, result.message
        assert result.evidence
    message = results["G6-max-completion-tokens"].message
    if deadline_s is not None:
        assert cut.error_kind == "timeout"
        assert "no complete answer after" in message
        assert "answered in" in message  # the plain request it is compared with
    else:
        assert cut.error_kind is None
        assert "512 completion tokens" in message


def test_a_runaway_stream_is_read_only_up_to_its_event_count() -> None:
    with endpoint(RUNAWAY) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        result = _run(ctx, "G6-max-tokens")
        stream = ctx.probe("cut-stream")
    assert stream.stopped_reading
    assert stream.event_count == _probes.events_to_read(_probes.CUT_LIMIT)
    assert result.status is Status.FAILED
    assert "cut-stream (max_tokens 3): still streaming after 64 events" in result.message
    details = [e.detail for e in result.evidence if e.label == "cut-stream"]
    assert details
    assert details[0]["stopped_reading"] is True


def test_rules_about_a_stream_end_leave_out_a_stream_read_in_part() -> None:
    """The runaway stream has no end: E4 and E6 judge the other streams, never blame it."""
    with endpoint(RUNAWAY) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        results = [_run(ctx, cid) for cid in ("E4-one-finish-reason", "E6-usage-chunk")]
    for result in results:
        assert result.status is Status.PASSED, result.message


def test_a_timed_out_tiny_request_is_left_to_its_limit_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_probes, "TINY_DEADLINE_MIN_S", 0.3)
    with endpoint(RUNAWAY) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        result = _run(ctx, "B4-length-finish")
        with pytest.raises(CheckSkipped) as skipped:
            ctx.answered("cut")
    # cut and cut-completion-tokens timed out; the plain answer is still judged.
    assert result.status is Status.PASSED, result.message
    assert "judged by G6-max-tokens" in skipped.value.message
    assert skipped.value.kind is SkipKind.ENDPOINT


def test_the_tiny_deadline_follows_the_plain_request() -> None:
    with endpoint() as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro"))
        deadline = _probes.tiny_deadline(ctx)
    # The reference endpoint answers in milliseconds: the floor applies.
    assert deadline == _probes.TINY_DEADLINE_MIN_S


# --- hand-made answers (pure logic) --------------------------------------------------------


def _chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "x", "object": "chat.completion.chunk", "choices": [choice]})


def _answers(text: str) -> Callable[[ChatCase], ChatExchange]:
    """A sender whose every answer has ``text`` as its content, in one event when streamed,
    and no usage anywhere."""

    def send(case: ChatCase) -> ChatExchange:
        if case.stream:
            data = [_chunk(""), _chunk(text), _chunk(finish="length"), "[DONE]"]
            events = tuple(TimedEvent(SSEEvent(d), 0, 0) for d in data)
            headers = {"content-type": "text/event-stream"}
            raw = "".join(f"data: {d}\n\n" for d in data).encode()
        else:
            n = case.body.get("n", 1)
            choices: list[dict[str, Any]] = [
                {"index": i, "message": {"role": "assistant", "content": text}}
                for i in range(n if isinstance(n, int) else 1)
            ]
            events, headers = (), {"content-type": "application/json"}
            raw = json.dumps({"choices": choices}).encode()
        return ChatExchange(case, "http://127.0.0.1/v1", 200, headers, raw, 0, 1, 2, events=events)

    return send


def test_an_answer_without_usage_that_fits_its_limit_is_not_a_pass() -> None:
    """A server ignoring max_tokens with no usage and one content event: nothing measured."""
    ctx = CheckContext(send_case=_answers("Red, orange, yellow."), settings=Settings(model="m"))
    result = _run(ctx, "G6-max-tokens")
    assert result.status is Status.SKIPPED, result.message
    assert result.skip_kind is SkipKind.NOT_APPLICABLE
    assert "no usage" in result.message


def test_an_answer_without_usage_far_too_long_for_its_limit_fails() -> None:
    text = "x" * (MAX_BYTES_PER_TOKEN * _probes.CUT_LIMIT * 3 + 1)
    ctx = CheckContext(send_case=_answers(text), settings=Settings(model="m"))
    result = _run(ctx, "G6-max-tokens")
    assert result.status is Status.FAILED, result.message
    assert "bytes of text (no usage)" in result.message
