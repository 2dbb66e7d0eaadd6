"""The load engine's pure parts: durations, options, prompts, arrival schedules, shape plans."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chatgauge.loadtests._options import (
    RunOptions,
    parse_duration,
    parse_number_list,
    parse_step,
)
from chatgauge.loadtests._prompts import PromptFileError, load_prompts, synthetic_prompts
from chatgauge.loadtests._schedule import (
    ArrivalSchedule,
    planned_duration,
    rate_segments,
    shape_tick,
)
from chatgauge.results.load import SloBound

NS = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("2.5", 2.5), ("0s", 0.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "1s2", "-3s"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_steps_and_sweep_lists() -> None:
    assert parse_step("4:10s") == (4, 10.0)
    for bad in ("4", "0:10s", "x:10s", "4:0s"):
        with pytest.raises(ValueError, match="--step"):
            parse_step(bad)
    assert parse_number_list("1,2.5,8", integer=False, name="--sweep-rates") == [1.0, 2.5, 8.0]
    with pytest.raises(ValueError, match="increase"):
        parse_number_list("4,2", integer=True, name="--sweep-users")
    with pytest.raises(ValueError, match="numbers"):
        parse_number_list("1.5", integer=True, name="--sweep-users")


def _options(**values: Any) -> SimpleNamespace:
    return SimpleNamespace(**values)


def test_settings_from_locust_options() -> None:
    settings = RunOptions.from_options(
        _options(
            model="m",
            rate=2.0,
            arrival="constant",
            warmup="5s",
            no_usage=True,
            insecure=True,
            slo=["ttft_ms=500"],
            sweep_rates="",
        )
    )
    assert settings.rate == 2.0
    assert settings.arrival == "constant"
    assert settings.warmup_s == 5.0
    assert not settings.include_usage
    assert not settings.verify_tls
    assert settings.slos == (SloBound("ttft_ms", 500.0),)
    assert RunOptions.from_options(_options()).rate is None  # closed loop by default


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rate": -1.0}, "--rate"),
        ({"arrival": "burst"}, "--arrival"),
        ({"max_tokens": 0}, "--max-tokens"),
        ({"ramp": "10s", "step": "2:5s"}, "one of"),
        ({"sweep_rates": "1,2", "sweep_users": "1,2"}, "not both"),
        ({"prompts": "/nonexistent/prompts.jsonl"}, "prompt file"),
        ({"slo": ["speed=3"]}, "unknown SLO 'speed'"),
    ],
)
def test_bad_settings_are_one_line_errors(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunOptions.from_options(_options(**values))


def test_the_api_key_comes_from_the_environment_and_stays_out_of_the_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATGAUGE_API_KEY", "sk-plans-secret")
    settings = RunOptions.from_options(_options())
    assert settings.api_key is not None
    assert settings.api_key.reveal() == "sk-plans-secret"
    assert "sk-plans-secret" not in repr(settings)
    config = settings.config(model="m", users=1, processes=1, run_time_s=None)
    assert "sk-plans-secret" not in json.dumps(config.to_json())


def test_synthetic_prompts_have_the_asked_length_and_differ() -> None:
    prompts = synthetic_prompts(40)
    texts = [prompts.pick(i)[0]["content"] for i in range(len(prompts))]
    assert all(len(text.split()) == 40 for text in texts)
    assert len(set(texts)) == len(texts)
    assert prompts.pick(len(prompts)) == prompts.pick(0)  # round-robin


def test_prompt_files(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                ]
            }
        )
        + "\n\n"
        + json.dumps({"prompt": "Tell me a story."})
        + "\n"
    )
    prompts = load_prompts(path)
    assert len(prompts) == 2
    assert prompts.pick(0)[0]["role"] == "system"
    assert prompts.pick(1) == [{"role": "user", "content": "Tell me a story."}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", ":1: not JSON"),
        ('{"prompt": "ok"}\n[1, 2]\n', ":2: expected an object"),
        ('{"messages": []}\n', ':1: "messages" must be a non-empty list'),
        ('{"messages": [{"content": "x"}]}\n', ':1: every message needs a string "role"'),
        ('{"other": 1}\n', ':1: expected "messages"'),
        ("\n\n", "no prompts"),
    ],
)
def test_bad_prompt_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(PromptFileError) as caught:
        load_prompts(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_constant_arrivals_are_exactly_one_gap_apart() -> None:
    schedule = ArrivalSchedule([(0.0, 4.0)], "constant", start_ns=10 * NS)
    slots = [schedule.next_ns() for _ in range(9)]
    assert slots[0] == 10 * NS
    assert {b - a for a, b in itertools.pairwise(slots)} == {NS // 4}


def test_processes_sharing_a_constant_rate_interleave() -> None:
    first = ArrivalSchedule([(0.0, 1.0)], "constant", phase=0.0, start_ns=0)
    second = ArrivalSchedule([(0.0, 1.0)], "constant", phase=0.5, start_ns=0)
    merged = sorted([first.next_ns() for _ in range(4)] + [second.next_ns() for _ in range(4)])
    assert {b - a for a, b in itertools.pairwise(merged)} == {NS // 2}


def test_poisson_arrivals_have_the_asked_mean_rate_and_are_seeded() -> None:
    slots = list(_slots(ArrivalSchedule([(0.0, 50.0)], "poisson", seed=7, start_ns=0)))
    gaps = [(b - a) / NS for a, b in itertools.pairwise(slots)]
    assert statistics.fmean(gaps) == pytest.approx(1 / 50, rel=0.1)
    assert statistics.stdev(gaps) == pytest.approx(1 / 50, rel=0.15)  # exponential: sd = mean
    again = _slots(ArrivalSchedule([(0.0, 50.0)], "poisson", seed=7, start_ns=0))
    assert again == slots


def _slots(schedule: ArrivalSchedule, count: int = 2000) -> list[int]:
    return [schedule.next_ns() for _ in range(count)]


def test_a_rate_sweep_switches_rate_exactly_at_each_step_boundary() -> None:
    schedule = ArrivalSchedule([(0.0, 2.0), (10.0, 5.0)], "constant", start_ns=0)
    slots = [schedule.next_ns() for _ in range(25)]
    assert slots[:20] == [i * NS // 2 for i in range(20)]
    assert slots[20:] == [10 * NS + i * NS // 5 for i in range(5)]


def test_shape_plans() -> None:
    fixed = RunOptions()
    assert shape_tick(fixed, 8, 2.0, 30.0, 5.0) == (8, 2.0)
    assert shape_tick(fixed, 8, 2.0, 30.0, 30.0) is None
    assert shape_tick(fixed, 8, 2.0, None, 1e6) == (8, 2.0)  # no -t: until stopped
    assert shape_tick(RunOptions(ramp_s=20.0), 8, 8.0, 60.0, 1.0) == (8, 0.4)
    step = RunOptions(step=(4, 10.0))
    ticks = [shape_tick(step, 10, 1.0, 60.0, t) for t in (0.0, 9.9, 10.0, 25.0)]
    assert ticks == [(4, 4.0), (4, 4.0), (8, 4.0), (10, 4.0)]
    users_sweep = RunOptions(sweep_kind="users", sweep_values=(1.0, 4.0), sweep_step_s=5.0)
    assert shape_tick(users_sweep, 1, 1.0, None, 6.0) == (4, 4.0)
    assert shape_tick(users_sweep, 1, 1.0, None, 10.0) is None
    assert planned_duration(users_sweep, 99.0) == 10.0
    rate_sweep = RunOptions(rate=1.0, sweep_kind="rate", sweep_values=(1.0, 3.0), sweep_step_s=5.0)
    assert rate_segments(rate_sweep, 0.5) == [(0.0, 0.5), (5.0, 1.5)]
    assert shape_tick(rate_sweep, 16, 16.0, None, 7.0) == (16, 16.0)
