"""Bounded memory: the raw-samples file, live histograms and exact figures from the file.

Pure parts (sketches, exact value arrays, the file's round trip, the store's memory) run in
this process; the engine's parts (a local run, a master with two workers, an interrupted
run) run locust or ``chatgauge load`` in subprocesses against the reference server.
"""

from __future__ import annotations

import itertools
import json
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatgauge.loadtests import LoadSettings, run_load
from chatgauge.loadtests._histograms import RELATIVE_ACCURACY, CountedInts, Sketch
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._series import LIVE_SERIES_S, MAX_LIVE_POINTS, OPEN_SECONDS
from chatgauge.loadtests._spill import SPILL_NAME, SpillWriter, read_raw_samples
from chatgauge.loadtests._stats import ExactValues, quantile, summarize
from chatgauge.loadtests._store import SampleStore, Windows
from chatgauge.loadtests._tally import Tally
from chatgauge.results.load import LoadReport, LoadStatus
from chatgauge.server import ServerConfig, background_server
from tests.load_support import (
    RUN_TIMEOUT_S,
    child_env,
    free_port,
    locust_command,
    read_report,
    read_samples,
    run_locust,
)

MS = 1_000_000
FRACTIONS = (0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with background_server(ServerConfig(port=0, ttft_ms=10, itl_ms=1)) as url:
        yield url


def _sample(rng: random.Random, index: int, tokens: int = 16) -> RequestSample:
    sched = index * 2 * MS
    send = sched + rng.randint(0, MS)
    stamps = []
    stamp = send + rng.randint(5 * MS, 80 * MS)
    for _ in range(tokens):
        stamps.append(stamp)
        stamp += rng.randint(0, 4 * MS)
    failed = rng.random() < 0.05
    return RequestSample(
        t_sched_ns=sched,
        t_send_ns=send,
        t_headers_ns=send + MS,
        t_first_event_ns=stamps[0],
        t_done_ns=stamp,
        token_event_ns=tuple(stamps),
        token_event_counts=(1,) * tokens,
        output_tokens=tokens,
        status=503 if failed else 200,
        reads=tokens,
        max_events_per_read=rng.randint(1, 3),
        error_kind="http" if failed else None,
        error="overloaded" if failed else None,
        worker="local",
        response_id=f"chatcmpl-{index}",
    )


# -- histograms and exact values ------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sketch_percentiles_lie_within_a_tenth_of_a_percent(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.lognormal(3.0, 1.2, 50_000), rng.exponential(0.5, 5_000)])
    sketch = Sketch()
    for value in values:
        sketch.add(float(value))
    found = sketch.quantiles(FRACTIONS)
    lower = np.quantile(values, FRACTIONS, method="lower")
    higher = np.quantile(values, FRACTIONS, method="higher")
    tolerance = RELATIVE_ACCURACY * (1 + 1e-9)
    for value, low, high in zip(found, lower, higher, strict=True):
        assert low * (1 - tolerance) <= value <= high * (1 + tolerance)
    linear = np.quantile(values, FRACTIONS)  # dense data: also within 0.1 % of type 7
    assert np.all(np.abs(np.array(found) - linear) <= tolerance * linear)
    summary = sketch.summary()
    assert summary.count == len(values)
    assert summary.min == values.min()
    assert summary.max == values.max()


def test_merged_sketches_equal_one_sketch_of_all_values() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(0.01) for _ in range(20_000)] + [0.0, 0.0, -2.5]
    whole, left, right = Sketch(), Sketch(), Sketch()
    for index, value in enumerate(values):
        whole.add(value)
        (left if index % 3 else right).add(value)
    left.merge(right)
    assert left.quantiles(FRACTIONS) == whole.quantiles(FRACTIONS)
    assert left.count == whole.count
    assert left.min == whole.min == -2.5
    with pytest.raises(ValueError, match="accuracy"):
        left.merge(Sketch(0.01))


def per_slot_histogram(sketch: Sketch, bins: int) -> tuple[tuple[int, ...], int]:
    """The histogram rule applied slot by slot: each slot's count in the bin of its value."""
    low, high = sketch.min, sketch.max
    p99 = sketch.quantiles((0.99,))[0]
    if high - low > 2 * (p99 - low):
        high = p99
    bins = bins if high > low else 1
    width = (high - low) / bins if high > low else 1.0
    counts, overflow, before = [0] * bins, 0, 0
    slots, running = sketch._ranks()
    for slot, seen in zip(slots, running, strict=True):
        value, count, before = sketch._value(slot), seen - before, seen
        if value > high:
            overflow += count
        else:
            counts[min(max(int((value - low) / width), 0), bins - 1)] += count
    return tuple(counts), overflow


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=1e-4, max_value=1e5),
            st.floats(min_value=-50, max_value=50),
            st.just(0.0),
        ),
        min_size=1,
        max_size=300,
    ),
    st.integers(min_value=1, max_value=40),
)
def test_a_sketchs_histogram_counts_every_slot_in_the_bin_of_its_value(
    values: list[float], bins: int
) -> None:
    # The histogram bisects for each bin's first slot; the rule is per slot.
    sketch = Sketch()
    for value in values:
        sketch.add(value)
    histogram = sketch.histogram(bins)
    assert (histogram.counts, histogram.overflow) == per_slot_histogram(sketch, bins)
    assert sum(histogram.counts) + histogram.overflow == len(values)


def test_exact_values_give_the_documented_quantiles_and_numpys() -> None:
    rng = random.Random(11)
    values = [rng.lognormvariate(2.0, 1.0) for _ in range(30_001)]
    exact = ExactValues()
    for value in values:
        exact.add(value)
    assert exact.summary() == summarize(values)
    ordered = sorted(values)
    got = exact.quantiles(FRACTIONS)
    assert got == tuple(quantile(ordered, q) for q in FRACTIONS)
    np.testing.assert_allclose(got, np.quantile(values, FRACTIONS), rtol=1e-12)
    exact.add(1e9)  # growing after a read works and is seen by the next read
    assert exact.summary().max == 1e9


def test_counted_ints_index_like_the_sorted_list() -> None:
    rng = random.Random(5)
    values = [rng.randint(0, 9) for _ in range(1000)]
    counted = CountedInts()
    for value in values:
        counted.add(value)
    ordered = sorted(values)
    assert len(counted) == len(ordered)
    assert [counted[i] for i in (0, 1, 499, 500, 999, -1)] == [
        ordered[i] for i in (0, 1, 499, 500, 999, -1)
    ]
    with pytest.raises(IndexError):
        counted[1000]


def _one_every_fifth_of_a_second(samples: list[RequestSample]) -> list[RequestSample]:
    """The samples moved apart: the i-th starts about 0.2 s * i in."""
    return [
        RequestSample(
            **{
                **s.to_json(),
                **{k: getattr(s, k) + i * 198 * MS for k in ("t_sched_ns", "t_send_ns")},
                "t_headers_ns": None,
                "t_first_event_ns": None,
                "t_done_ns": s.t_done_ns + i * 198 * MS,
                "token_event_ns": tuple(t + i * 198 * MS for t in s.token_event_ns),
                "token_event_counts": s.token_event_counts,
            }
        )
        for i, s in enumerate(samples)
    ]


def test_live_medians_follow_values_that_come_after_a_document() -> None:
    # A live document keeps each open second's medians; a value that reaches one of those
    # seconds afterwards (requests end out of order) must show in the next document.
    rng = random.Random(12)
    samples = _one_every_fifth_of_a_second([_sample(rng, i, tokens=4) for i in range(200)])
    rng.shuffle(samples)  # 40 s of requests recorded in random order: late values everywhere
    window = (0, 400 * 10**9)
    live = Tally(window, exact=False)
    for index, sample in enumerate(samples):
        live.add(sample)
        if index % 5 == 0:
            live.measurement()  # a document along the way
    fresh = Tally(window, exact=False)
    for sample in samples:
        fresh.add(sample)
    got, want = live.measurement().series, fresh.measurement().series
    assert got.e2e_p50_ms == want.e2e_p50_ms
    assert got.ttft_p50_ms == want.ttft_p50_ms
    assert len([m for m in got.e2e_p50_ms if m is not None]) > 30


def test_live_series_and_points_stay_bounded_and_agree_with_the_exact_ones() -> None:
    rng = random.Random(8)
    # 2,000 requests, one every 0.2 s: 400 seconds of series, more than LIVE_SERIES_S.
    samples = _one_every_fifth_of_a_second([_sample(rng, i, tokens=4) for i in range(2000)])
    window = (0, 400 * 10**9)
    live = Tally(window, exact=False)
    exact = Tally(window)
    for sample in samples:
        live.add(sample)
        exact.add(sample)
        assert live.series is not None
        assert len(live.series._ttft) <= OPEN_SECONDS + 2  # open seconds only
    got, want = live.measurement().series, exact.measurement().series
    assert len(want.t) > LIVE_SERIES_S  # the final series: every second of the run
    assert got.t == want.t[-LIVE_SERIES_S:]  # a live one: the last LIVE_SERIES_S seconds
    assert got.requests_completed == want.requests_completed[-LIVE_SERIES_S:]
    assert got.streamed_tokens == want.streamed_tokens[-LIVE_SERIES_S:]
    assert got.e2e_p50_ms.count(None) == want.e2e_p50_ms[-LIVE_SERIES_S:].count(None)
    by_second: dict[int, list[float]] = {}
    for sample in samples:
        if sample.ok:
            e2e = (sample.t_done_ns - sample.t_send_ns) / MS
            by_second.setdefault(sample.t_done_ns // 10**9, []).append(e2e)
    for second, ours in zip(got.t, got.e2e_p50_ms, strict=True):
        if ours is None:
            continue
        values = by_second[second]  # the value of rank floor((n - 1) / 2), within 1 %
        assert np.quantile(values, 0.5, method="lower") * 0.99 <= ours
        assert ours <= np.quantile(values, 0.5, method="lower") * 1.01
    points = live.measurement().points
    assert len(points.t_s) <= MAX_LIVE_POINTS
    assert points.stride == 2  # 2,000 requests: every second one kept
    assert list(points.t_s) == sorted(points.t_s)


# -- the raw-samples file --------------------------------------------------------------------


def test_the_file_round_trips_every_sample_and_carries_gaps(tmp_path: Path) -> None:
    rng = random.Random(3)
    samples = [_sample(rng, i) for i in range(500)]
    writer = SpillWriter(tmp_path / SPILL_NAME)
    for sample in samples:
        writer.write(sample)
    writer.close()
    assert writer.records == 500
    assert list(read_raw_samples(tmp_path / SPILL_NAME)) == samples
    first = json.loads((tmp_path / SPILL_NAME).read_text().splitlines()[0])
    stamps = first["token_event_ns"]
    assert first["itl_ns"] == [b - a for a, b in itertools.pairwise(stamps)]
    assert first["t_first_token_ns"] == stamps[0]


def test_exact_figures_from_the_file_equal_numpys_on_the_same_samples(tmp_path: Path) -> None:
    rng = random.Random(4)
    samples = [_sample(rng, i) for i in range(3000)]
    window = (200 * MS, 5000 * MS)
    store = SampleStore(
        Windows(start_ns=window[0], end_ns=window[1]), spill=SpillWriter(tmp_path / SPILL_NAME)
    )
    store.add(samples)
    exact, _ = store.exact(window)
    metrics = exact.measurement(window=window, origin_ns=0).metrics
    measured = [s for s in samples if window[0] <= s.t_sched_ns <= window[1] and s.ok]
    ttft = [(s.token_event_ns[0] - s.t_send_ns) / MS for s in measured]
    gaps = [
        (b - a) / MS
        for s in measured
        for a, b in zip(s.token_event_ns, s.token_event_ns[1:], strict=False)
    ]
    for summary, values in ((metrics.ttft_ms, ttft), (metrics.itl_ms, gaps)):
        assert summary.count == len(values)
        expected = np.quantile(values, [0.5, 0.9, 0.95, 0.99, 0.999])
        got = [summary.p50, summary.p90, summary.p95, summary.p99, summary.p999]
        assert None not in got
        np.testing.assert_allclose(np.array(got, dtype=float), expected, rtol=1e-12)
        assert summary.p99 == quantile(sorted(values), 0.99)  # the documented rule, bit for bit
    recomputed = compute_results(samples, window=window, origin_ns=0)
    assert metrics == recomputed.metrics
    live = store.live.measurement(window=window, origin_ns=0).metrics
    assert live.ttft_ms.count == metrics.ttft_ms.count
    assert live.ttft_ms.p99 == pytest.approx(metrics.ttft_ms.p99, rel=2 * RELATIVE_ACCURACY)


def test_the_store_keeps_no_sample_in_memory(tmp_path: Path) -> None:
    rng = random.Random(9)
    store = SampleStore(Windows(start_ns=0, end_ns=None), spill=SpillWriter(tmp_path / SPILL_NAME))
    batches = [[_sample(rng, i) for i in range(n, n + 1000)] for n in range(0, 6_000, 1000)]
    tracemalloc.start()
    try:
        store.add(batches[0])
        store.add(batches[1])
        before = tracemalloc.get_traced_memory()[0]
        for batch in batches[2:]:
            store.add(batch)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 4,000 requests of 16 tokens each: a kept sample alone is over 1 KB. What may grow is
    # per second of samples (2 s of them per 1,000) and the histograms' bins, not per request.
    assert grown / 4_000 < 100, f"{grown / 4_000:.0f} bytes per request"
    assert store.spill is not None
    assert store.spill.records == 6_000


# -- the engine --------------------------------------------------------------------------


def _records(path: Path) -> list[RequestSample]:
    return list(read_raw_samples(path))


def _assert_exact_from_file(document: LoadReport, folder: Path) -> list[RequestSample]:
    samples = _records(folder / SPILL_NAME)
    assert document.raw_samples is not None
    assert document.raw_samples.path == SPILL_NAME
    assert document.raw_samples.records == len(samples)
    counts = document.requests
    assert counts.total + counts.outside_window == len(samples)
    window = document.window
    recomputed = compute_results(
        samples, window=(window.start_ns, window.end_ns), origin_ns=window.origin_ns
    )
    assert document.metrics == recomputed.metrics
    assert document.requests == recomputed.requests
    assert document.throughput == recomputed.throughput
    assert document.series == recomputed.series
    assert document.distributions == recomputed.distributions
    return samples


def test_a_local_run_writes_every_request_and_computes_from_the_file(
    server: str, tmp_path: Path
) -> None:
    report_dir, dump_dir = tmp_path / "report", tmp_path / "dump"
    result = run_locust(
        server,
        *("-u", "4", "-t", "3s", "--warmup", "1s"),
        *("--report-dir", str(report_dir), "--dump-samples", str(dump_dir)),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = read_report(report_dir)
    assert document.status is LoadStatus.COMPLETED
    assert "histograms" not in document.definitions["percentiles"]  # the exact final figures
    samples = _assert_exact_from_file(document, report_dir)
    assert samples == read_samples(dump_dir)  # the same requests, in the same order


def test_master_writes_its_workers_records_and_merges_exactly(server: str, tmp_path: Path) -> None:
    port = free_port()
    dump_dir, report_dir = tmp_path / "dump", tmp_path / "report"
    env = child_env()
    master_args = (
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)),
        *("--expect-workers", "2", "-u", "4", "-r", "4", "-t", "3s", "--warmup", "1s"),
        *("--dump-samples", str(dump_dir), "--report-dir", str(report_dir)),
    )
    worker_args = ("--worker", "--master-host", "127.0.0.1", "--master-port", str(port))
    master = subprocess.Popen(locust_command(server, *master_args), cwd=tmp_path, env=env)
    workers = [
        subprocess.Popen(locust_command(server, *worker_args), cwd=tmp_path, env=env)
        for _ in range(2)
    ]
    try:
        assert master.wait(RUN_TIMEOUT_S) == 0
        for worker in workers:
            worker.wait(RUN_TIMEOUT_S)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
    document = read_report(report_dir)
    written = _assert_exact_from_file(document, report_dir)
    assert len({sample.worker for sample in written}) == 2
    taken = read_samples(dump_dir)  # what the workers took, each in its own file
    key = lambda s: (s.worker, s.t_send_ns)  # noqa: E731
    assert sorted(written, key=key) == sorted(taken, key=key)


def test_an_interrupted_run_leaves_the_file_and_load_json(server: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chatgauge", "load", "--base-url", server, "--model", "pro"]
    command += ["--users", "2", "--duration", "60s", "--warmup", "0s", "--report-dir", "out"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, text=True
    )
    spill = tmp_path / "out" / SPILL_NAME
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert any("done" in line for line in lines)
        running = read_report(tmp_path / "out")
        assert running.status is LoadStatus.RUNNING
        assert "DDSketch" in running.definitions["percentiles"]  # live: from the histograms
        deadline = time.monotonic() + 10
        while not spill.stat().st_size and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spill.stat().st_size  # flushed while the run goes on
        process.send_signal(signal.SIGINT)
        assert process.wait(RUN_TIMEOUT_S) == 130
    finally:
        if process.poll() is None:
            process.kill()
    document = read_report(tmp_path / "out")
    assert document.status is LoadStatus.INTERRUPTED
    assert document.requests.completed > 0
    _assert_exact_from_file(document, tmp_path / "out")


def test_without_a_report_dir_no_samples_file_is_left_behind(server: str, tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = child_env(TMPDIR=str(temporary))
    result = subprocess.run(
        locust_command(server, "-u", "2", "-t", "2s", "--warmup", "0s"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not list(temporary.iterdir())  # the temporary raw-samples file was removed
    report = run_load(LoadSettings(base_url=server, model="pro", users=2, duration_s=1, warmup_s=0))
    assert report.requests.completed > 0
    assert report.raw_samples is None  # its folder was temporary: no file to name
