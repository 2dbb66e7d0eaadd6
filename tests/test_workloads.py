"""Workloads: length distributions, the token calibration, datasets (ShareGPT, JSONL with
per-request max_tokens), shared prefixes, multi-turn sessions and trace replay.

Pure parsing and drawing are tested directly; every workload is also run end to end with
:func:`run_load` against the reference endpoint with ``ignore_eos`` (so an answer is exactly
its ``max_tokens``), whose prompt count is documented: priming + per-message overhead +
words (:mod:`chatgauge.server._generation`). Samples come back through ``dump_samples``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from random import Random

import pytest

from chatgauge.loadtests._launch import run_load
from chatgauge.loadtests._lengths import TokenCalibration, parse_length
from chatgauge.loadtests._prompts import PromptFileError
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._settings import LoadSettings, LoadSettingsError
from chatgauge.loadtests._sharegpt import load_dataset
from chatgauge.loadtests._trace import TraceError, load_trace
from chatgauge.loadtests._workload_prep import calibrate
from chatgauge.loadtests._workloads import Conversation, Workload, WorkloadOptions
from chatgauge.results.load import LoadReport
from chatgauge.server import ServerConfig, background_server
from chatgauge.server._generation import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS
from tests.load_support import read_samples, run_cli

ONE_MESSAGE = REPLY_PRIMING_TOKENS + MESSAGE_OVERHEAD_TOKENS
"""The reference endpoint's prompt_tokens of a one-message prompt, less its words."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with background_server(ServerConfig(port=0, ignore_eos=True, itl_ms=1)) as url:
        yield url


def run(url: str, tmp: Path, **fields: object) -> tuple[LoadReport, list[RequestSample]]:
    fields.setdefault("duration_s", 2.0)
    settings = LoadSettings(
        base_url=url,
        model="pro",
        warmup_s=0.0,
        report_dir=tmp,
        dump_samples=tmp / "samples",
        **fields,  # type: ignore[arg-type]
    )
    report = run_load(settings)
    return report, [s for s in read_samples(tmp / "samples") if s.ok]


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("64", 64, 64), ("fixed:10", 10, 10), ("uniform:5:9", 5, 9), ("normal:100:10", 40, 160)],
)
def test_length_draws_stay_in_their_range(text: str, low: int, high: int) -> None:
    dist = parse_length(text)
    rng = Random(1)
    draws = [dist.draw(rng) for _ in range(500)]
    assert low <= min(draws)
    assert max(draws) <= high
    if low < high:
        assert len(set(draws)) > 3


def test_lognormal_has_its_median_and_a_long_tail() -> None:
    rng = Random(2)
    draws = sorted(parse_length("lognormal:200:0.8").draw(rng) for _ in range(2001))
    assert 170 <= draws[1000] <= 230
    assert draws[1980] > 3 * draws[1000]


@pytest.mark.parametrize("text", ["", "uniform:9:5", "normal:1", "wide:3", "fixed:0", "x:y"])
def test_bad_length_distributions_are_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="--input-dist"):
        parse_length(text)


def test_calibration_fits_the_endpoints_own_count(server: str) -> None:
    calibration = calibrate(LoadSettings(base_url=server, model="pro"))
    assert calibration is not None
    assert calibration.overhead == pytest.approx(ONE_MESSAGE)
    assert calibration.per_word == pytest.approx(1.0)
    assert calibration.words_for(100) == 100 - ONE_MESSAGE
    # A server that counts two tokens a word and 11 of template gets its own line.
    doubled = TokenCalibration.from_probes((8, 27), (72, 155))
    assert doubled.per_word == 2.0
    assert doubled.words_for(211) == 100


def test_input_and_output_distributions_are_asked_and_received(server: str, tmp_path: Path) -> None:
    workload = WorkloadOptions(input_dist="uniform:60:120", output_dist="uniform:4:12")
    report, samples = run(server, tmp_path, rate=20.0, workload=workload)
    assert len(samples) >= 10
    for sample in samples:
        assert sample.asked_input_tokens is not None
        assert 60 <= sample.asked_input_tokens <= 120
        assert sample.prompt_tokens == sample.asked_input_tokens  # calibrated exactly
        assert sample.asked_output_tokens is not None
        assert sample.output_tokens == sample.asked_output_tokens
    assert len({s.asked_input_tokens for s in samples}) > 3
    lengths = report.lengths
    assert lengths is not None
    assert "usage.prompt_tokens" in lengths.calibration
    # Every successful request of the run, inside the window or not.
    assert lengths.input.asked.count == lengths.input.received.count == len(samples)
    assert sum(lengths.output.received_histogram.counts) == lengths.output.received.count
    assert 'id="lengths"' in (tmp_path / "load.html").read_text()


def test_a_shared_prefix_opens_every_request(server: str, tmp_path: Path) -> None:
    workload = Workload(
        WorkloadOptions(shared_prefix=50, input_dist="80"), seed=0, default_max_tokens=8
    )
    first, second = workload.next_request(), workload.next_request()
    assert first is not None
    assert second is not None
    assert first.messages[0] == second.messages[0]
    assert first.messages[0]["role"] == "system"
    assert first.messages[1] != second.messages[1]
    options = WorkloadOptions(shared_prefix=50, input_dist="80")
    _, samples = run(server, tmp_path, rate=10.0, workload=options)
    # 80 asked; the prefix's own message overhead comes on top.
    assert {s.prompt_tokens for s in samples} == {80 + MESSAGE_OVERHEAD_TOKENS}


def test_a_sharegpt_dataset_sends_its_prompts_with_their_answer_lengths(
    server: str, tmp_path: Path
) -> None:
    data = [
        {"conversations": [{"from": "human", "value": "one two three"}, {"from": "gpt",
         "value": "a b c d e"}]},
        {"conversations": [{"from": "system", "value": "be brief"}, {"from": "human",
         "value": "four five"}, {"from": "gpt", "value": "x y z"}]},
        {"conversations": [{"from": "human", "value": "unanswered"}]},
    ]  # fmt: skip
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(data))
    entries = load_dataset(path)
    assert [e.answer_words for e in entries] == [5, 3]
    assert entries[1].messages[0] == {"role": "system", "content": "be brief"}
    _, samples = run(
        server,
        tmp_path / "run",
        users=1,
        max_requests=4,
        workload=WorkloadOptions(dataset=str(path)),
    )
    pairs = sorted({(s.prompt_tokens, s.output_tokens) for s in samples})
    assert pairs == [(ONE_MESSAGE + 3, 5), (ONE_MESSAGE + MESSAGE_OVERHEAD_TOKENS + 4, 3)]


def test_jsonl_prompts_carry_their_own_max_tokens(server: str, tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        '{"prompt": "short one", "max_tokens": 3}\n'
        '{"messages": [{"role": "user", "content": "long one"}], "max_tokens": 17}\n'
    )
    _, samples = run(server, tmp_path / "run", users=1, max_requests=4, prompts=path)
    assert {s.output_tokens for s in samples} == {3, 17}
    assert {s.asked_output_tokens for s in samples} == {3, 17}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[1]", "conversations"),
        ('[{"conversations": [{"from": "robot", "value": "x"}]}]', "from"),
        ('[{"conversations": [{"from": "human", "value": "x"}]}]', "no conversation"),
        ('{"prompt": "x", "max_tokens": 0}\n', "max_tokens"),
    ],
)
def test_bad_datasets_name_the_entry(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(body)
    with pytest.raises(PromptFileError, match=message):
        load_dataset(path)


def test_sessions_send_the_answers_back(server: str, tmp_path: Path) -> None:
    workload = Workload(WorkloadOptions(turns=3), seed=0, default_max_tokens=8)
    conversation = Conversation()
    first = workload.next_request(conversation)
    assert first is not None
    conversation.messages.append({"role": "assistant", "content": "an answer"})
    second = workload.next_request(conversation)
    assert second is not None
    assert second.messages[: len(first.messages) + 1] == [
        *first.messages,
        {"role": "assistant", "content": "an answer"},
    ]
    options = WorkloadOptions(turns=3, think_time_s=0.05)
    _, samples = run(server, tmp_path, users=1, max_requests=6, max_tokens=6, workload=options)
    samples.sort(key=lambda s: s.t_send_ns)
    assert len(samples) == 6
    for turn in (1, 2, 4, 5):
        before, after = samples[turn - 1], samples[turn]
        assert before.prompt_tokens is not None
        assert after.prompt_tokens is not None
        # The next turn holds the previous prompt, its answer and a new question.
        assert after.prompt_tokens > before.prompt_tokens + before.output_tokens
        assert after.t_send_ns - before.t_done_ns >= 50_000_000  # the think time
    # After its third turn the user starts a new conversation.
    assert samples[3].prompt_tokens is not None
    assert samples[2].prompt_tokens is not None
    assert samples[3].prompt_tokens < samples[2].prompt_tokens


AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:46.6805900,120,10
2023-11-16 18:15:46.1805900,100,5
2023-11-16 18:15:47.6805900,140,7
2023-11-16 18:15:48.1805900,90,3
"""


def test_azure_and_jsonl_traces_are_read_in_time_order(tmp_path: Path) -> None:
    azure = tmp_path / "azure.csv"
    azure.write_text(AZURE)
    rows = load_trace(azure)
    assert [(round(r.offset_s, 3), r.input_tokens, r.output_tokens) for r in rows] == [
        (0.0, 100, 5),
        (0.5, 120, 10),
        (1.5, 140, 7),
        (2.0, 90, 3),
    ]
    jsonl = tmp_path / "trace.jsonl"
    jsonl.write_text(
        '{"timestamp": 10.0, "input_tokens": 50, "output_tokens": 4}\n'
        '{"timestamp": 9.5, "input_tokens": 60, "output_tokens": 2}\n'
    )
    assert [(r.offset_s, r.input_tokens) for r in load_trace(jsonl)] == [(0.0, 60), (0.5, 50)]
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens\n1,2\n")
    with pytest.raises(TraceError, match="GeneratedTokens"):
        load_trace(bad)
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,2,3\n")
    with pytest.raises(TraceError, match=r"bad\.csv:2"):
        load_trace(bad)


def test_a_trace_is_replayed_open_loop_at_its_own_moments(server: str, tmp_path: Path) -> None:
    azure = tmp_path / "azure.csv"
    azure.write_text(AZURE)
    workload = WorkloadOptions(trace=str(azure), trace_speedup=2.0)
    report, samples = run(server, tmp_path / "run", duration_s=0.0, workload=workload)
    assert report.config.mode == "open"
    samples.sort(key=lambda s: s.t_sched_ns)
    assert len(samples) == 4
    offsets = [(s.t_sched_ns - samples[0].t_sched_ns) / 1e9 for s in samples]
    assert offsets == pytest.approx([0.0, 0.25, 0.75, 1.0], abs=1e-6)
    assert [(s.prompt_tokens, s.output_tokens) for s in samples] == [
        (100, 5),
        (120, 10),
        (140, 7),
        (90, 3),
    ]
    assert [s.asked_input_tokens for s in samples] == [100, 120, 140, 90]


def test_trace_settings_are_checked(tmp_path: Path) -> None:
    azure = tmp_path / "azure.csv"
    azure.write_text(AZURE)
    base = {"base_url": "http://127.0.0.1:9/v1", "model": "pro"}
    with pytest.raises(LoadSettingsError, match="processes"):
        LoadSettings(**base, processes=2, workload=WorkloadOptions(trace=str(azure))).check()  # type: ignore[arg-type]
    with pytest.raises(LoadSettingsError, match="rate"):
        LoadSettings(**base, rate=3.0, workload=WorkloadOptions(trace=str(azure))).check()  # type: ignore[arg-type]
    with pytest.raises(LoadSettingsError, match="speedup"):
        LoadSettings(**base, workload=WorkloadOptions(trace=str(azure), trace_speedup=0)).check()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--input-dist", "normal:5"), "--input-dist"),
        (("--trace", "/nonexistent/trace.csv"), "cannot read trace"),
        (("--turns", "0"), "--turns"),
        (("--dataset", "/nonexistent/d.json"), "cannot read dataset"),
    ],
)
def test_bad_workload_flags_are_one_line(
    tmp_path: Path, flags: tuple[str, str], message: str
) -> None:
    result = run_cli(
        *("--base-url", "http://127.0.0.1:9/v1", "--model", "pro", *flags),
        *("--report-dir", str(tmp_path)),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
