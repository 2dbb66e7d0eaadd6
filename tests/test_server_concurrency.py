"""The capacity ground truth: ``--max-concurrency``, ``--itl-growth-ms``, ``--ignore-eos`` and
``GET /metrics`` on the real reference server over loopback.

Timing is only ever checked as a lower bound (a sleep is never shorter than asked), and
overlap from the server's own timing log, so a busy machine cannot make these fail.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatgauge.server import ServerConfig, background_server
from tests.server_support import chat, post, streamed
from tests.test_server_cli import assert_one_line_usage_error, run

WAIT_S = 20.0


def scrape(url: str) -> dict[str, float]:
    """Every sample of the server's ``/metrics`` page, by name (parsed by prometheus_client)."""
    root = url.removesuffix("/v1")
    text = httpx.get(f"{root}/metrics", timeout=5).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def peak_overlap(intervals: list[tuple[int, int]]) -> int:
    """The most intervals holding one moment (ends before starts at a tie)."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def send_all(url: str, bodies: list[dict[str, Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: post(url, body, timeout=WAIT_S), bodies))


@pytest.mark.parametrize("limit", [2, None])
def test_at_most_n_streams_are_served_at_once(tmp_path: Path, limit: int | None) -> None:
    log = tmp_path / "timing.jsonl"
    config = ServerConfig(
        port=0, itl_ms=100, max_concurrency=limit, ignore_eos=True, timing_log=log
    )
    with background_server(config) as url:
        exchanges = send_all(url, [streamed(max_tokens=5)] * 6)
    assert all(exchange.status == 200 for exchange in exchanges)
    records = read_log(log)
    assert len(records) == 6
    spans = [(r["t_first_content_ns"], r["t_last_content_ns"]) for r in records]
    if limit is None:
        assert peak_overlap(spans) > 2  # unlimited, they stream together: the check can fail
    else:
        assert peak_overlap(spans) == limit


def test_queued_requests_wait_and_metrics_show_running_and_waiting() -> None:
    # A long service (1.5 s) so all five are in before the first two finish, even when a
    # busy machine is slow to start the client threads.
    config = ServerConfig(port=0, ttft_ms=1500, itl_ms=1, max_concurrency=2, ignore_eos=True)
    with background_server(config) as url, ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(post, url, chat(max_tokens=3), timeout=WAIT_S) for _ in range(5)]
        deadline = time.monotonic() + WAIT_S
        seen = scrape(url)
        while seen["chatgauge_requests_running"] + seen["chatgauge_requests_waiting"] < 5:
            assert time.monotonic() < deadline, seen
            time.sleep(0.02)
            seen = scrape(url)
        results = [future.result() for future in futures]
        after = scrape(url)
    # Non-streamed requests hold their slot for the generation time too.
    assert seen["chatgauge_requests_running"] == 2
    assert seen["chatgauge_requests_waiting"] == 3
    assert seen["chatgauge_max_concurrency"] == 2
    assert seen["chatgauge_slot_usage_ratio"] == 1.0
    assert all(result.status == 200 for result in results)
    assert after["chatgauge_requests_running"] == 0
    assert after["chatgauge_requests_waiting"] == 0
    assert after["chatgauge_requests_admitted_total"] == 5
    assert after["chatgauge_requests_finished_total"] == 5
    # The third in line waited for a slot taken after it queued: one whole 1.5 s service.
    assert after["chatgauge_queue_wait_seconds_total"] >= 1.5


def test_metrics_page_without_a_limit_has_no_limit_gauge() -> None:
    with background_server(ServerConfig(port=0)) as url:
        assert post(url, chat()).status == 200
        seen = scrape(url)
    assert "chatgauge_max_concurrency" not in seen
    assert seen["chatgauge_requests_admitted_total"] == 1


@pytest.mark.parametrize("stream", [True, False])
def test_ignore_eos_answers_exactly_max_tokens(stream: bool) -> None:
    # 50 is past the natural length (16..40 words), so without the flag answers stop early.
    bodies = [
        chat(max_tokens=50, stream=stream, messages=[{"role": "user", "content": f"q{i}"}])
        for i in range(8)
    ]
    if stream:
        for body in bodies:
            body["stream_options"] = {"include_usage": True}
    counts = {}
    for ignore in (True, False):
        with background_server(ServerConfig(port=0, ignore_eos=ignore)) as url:
            exchanges = [post(url, body) for body in bodies]
        if stream:
            counts[ignore] = [
                (e.usage_chunks()[0]["usage"]["completion_tokens"], len(e.choice_chunks()) - 2)
                for e in exchanges
            ]
        else:
            counts[ignore] = [(e.json()["usage"]["completion_tokens"],) * 2 for e in exchanges]
    # Role chunk and finish chunk aside, each content event is one token.
    assert counts[True] == [(50, 50)] * 8
    assert all(usage < 50 for usage, _ in counts[False])


def test_itl_grows_with_the_streams_served_alongside(tmp_path: Path) -> None:
    log = tmp_path / "timing.jsonl"
    config = ServerConfig(
        port=0,
        ttft_ms=300,
        itl_ms=1,
        itl_growth_ms=30,
        max_concurrency=4,
        ignore_eos=True,
        timing_log=log,
    )
    with background_server(config) as url:
        exchanges = send_all(url, [streamed(max_tokens=6)] * 3)
    assert all(exchange.status == 200 for exchange in exchanges)
    spans = [(r["t_last_content_ns"] - r["t_first_content_ns"]) / 1e6 for r in read_log(log)]
    # All three are admitted during the 1 s before the first token, so the first one's
    # gaps all have the other two alongside; without growth its 5 gaps would take 5 ms.
    assert max(spans) >= 5 * (1 + 30)


def test_bad_max_concurrency_is_one_line() -> None:
    assert_one_line_usage_error(run("--max-concurrency", "0"), "--max-concurrency")
    assert_one_line_usage_error(run("--itl-growth-ms", "-1"), "--itl-growth-ms")
