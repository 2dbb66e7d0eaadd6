"""The load page: self-contained, escaped, with its plots and its warnings."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from chatgauge.loadtests._assembly import report_of
from chatgauge.loadtests._health import HealthInputs
from chatgauge.loadtests._metrics import compute_results
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._slo import slo_bounds
from chatgauge.reports import render_load_html
from chatgauge.reports._render import ResultError, read_result, render_result_html
from chatgauge.results.load import LoadReport, LoadStatus
from tests.sweep_fixtures import make_step, sweep_result

MS = 1_000_000
S = 1_000_000_000
BASE = 3 * 10**12

HOSTILE_ENDPOINT = 'http://127.0.0.1:9/v1"><script>alert("endpoint")</script>'
HOSTILE_MODEL = "m <img src=x onerror=alert(1)> {{ 7*7 }}"
HOSTILE_ERROR = "upstream said <script>alert('error')</script> and {% raw %}{{ 7*7 }}"


def _samples(count: int = 120, seed: int = 3) -> list[RequestSample]:
    rng = random.Random(seed)
    samples = []
    for i in range(count):
        send = BASE + i * 100 * MS
        if i % 17 == 5:
            samples.append(
                RequestSample(
                    t_sched_ns=send,
                    t_send_ns=send,
                    t_headers_ns=send + 3 * MS,
                    t_first_event_ns=None,
                    t_done_ns=send + 4 * MS,
                    status=429,
                    error_kind="http",
                    error=HOSTILE_ERROR,
                )
            )
            continue
        first = send + round(rng.uniform(150, 260) * MS)
        stamps = [first + k * round(rng.uniform(18, 22) * MS) for k in range(16)]
        samples.append(
            RequestSample(
                t_sched_ns=send,
                t_send_ns=send,
                t_headers_ns=send + 2 * MS,
                t_first_event_ns=first - MS,
                t_done_ns=stamps[-1] + MS,
                token_event_ns=tuple(stamps),
                token_event_counts=(1,) * 16,
                output_tokens=16,
                token_source="usage",
                reads=18,
                max_events_per_read=1,
            )
        )
    return samples


def _result(health: HealthInputs | None = None) -> LoadReport:
    slos = {"ttft_ms": 240.0, "tpot_ms": 25.0}
    measurement = compute_results(
        _samples(),
        window=(BASE + 2 * S, BASE + 14 * S),
        slos=slos,
        health=health,
        # One request in 17 fails by design; a budget above that keeps the generator judged.
        max_error_rate=0.1,
    )
    options = RunOptions(prompts="prompts <script>x</script> <b>bold</b>", slos=slo_bounds(slos))
    return report_of(
        measurement,
        config=options.config(model=HOSTILE_MODEL, users=8, processes=1, run_time_s=14.0),
        endpoint=HOSTILE_ENDPOINT,
        started_at="2026-11-25T10:00:00Z",
        elapsed_s=14.0,
        status=LoadStatus.COMPLETED,
    )


def test_page_is_self_contained() -> None:
    page = render_load_html(_result())
    assert "<script" not in page.lower()  # the page runs no script at all
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "@import" not in page
    assert "url(" not in page
    # The only URL text on the page is the (escaped) endpoint the user tested.
    assert page.count("http://") == 1
    assert "https://" not in page
    assert "default-src 'none'" in page


def test_untrusted_text_is_escaped_and_never_evaluated() -> None:
    page = render_load_html(_result())
    for raw in ("<script>alert", "<img src=x", "<b>bold</b>", "<script>x</script>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&#34;endpoint&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(&#39;error&#39;)&lt;/script&gt;" in page
    assert "{{ 7*7 }}" in page  # shown as text, not computed
    assert "onerror=alert(1)&gt; 49" not in page
    assert "{% raw %}" in page


def test_page_has_the_plots_and_the_percentile_table() -> None:
    page = render_load_html(_result())
    assert page.count("<svg") >= 10
    for title in (
        # A closed-loop run: its latencies are named as measured from the send.
        "TTFT from send, distribution (measured requests (scheduled in the window), successful)",
        "TTFT from send, cumulative distribution",
        "Inter-token gap cumulative distribution",
        "Output tokens per second",
        "Requests per second",
        "Active requests",
        "Errors per second",
        "TTFT from send per request over time",
        "E2E latency from send per request over time",
    ):
        assert f">{title}" in page, title
    assert "<polyline" in page
    assert "<rect" in page
    for column in ("p50", "p90", "p95", "p99", "p99.9", "max"):
        assert f"<th>{column}</th>" in page


def test_headline_numbers_carry_their_definitions_and_exact_values() -> None:
    result = _result()
    page = render_load_html(result)
    assert result.definitions["ttft_ms"] in page
    assert result.definitions["output_tokens_per_s"] in page
    p99 = result.metrics.ttft_ms.p99
    assert f'title="{p99!r}"' in page  # the tooltip keeps full precision


def test_untrustworthy_generator_shows_a_red_banner_with_reasons() -> None:
    busy = HealthInputs(cpu_percent=[99.0] * 10, hub_lag_ms=[0.1] * 10, users=512)
    page = render_load_html(_result(busy))
    assert 'class="banner bad" id="generator-warning"' in page
    assert "CPU p90 was 99.0% of one core" in page
    calm = HealthInputs(cpu_percent=[20.0] * 10, hub_lag_ms=[0.1] * 10, users=8)
    assert "generator-warning" not in render_load_html(_result(calm))


def test_clumping_warning_appears_when_suspected() -> None:
    result = _result()
    clumping = replace(
        result.generator.clumping, suspected=True, reason="Buffering proxy suspected: <bursts>"
    )
    page = render_load_html(replace(result, generator=replace(result.generator, clumping=clumping)))
    assert 'id="clumping-warning"' in page
    assert "Buffering proxy suspected: &lt;bursts&gt;" in page


def test_slo_section_and_verdict() -> None:
    page = render_load_html(_result())
    assert "<code>ttft_ms</code>" in page
    assert "<code>tpot_ms</code>" in page
    assert "Goodput" in page


def test_empty_run_renders() -> None:
    empty = compute_results([])
    page = render_load_html(
        report_of(
            empty,
            config=RunOptions().config(model="m", users=1, processes=1, run_time_s=None),
            endpoint="http://127.0.0.1:9/v1",
            started_at="",
            elapsed_s=0.0,
            status=LoadStatus.INTERRUPTED,
        )
    )
    assert "no data" in page
    assert "No request failed." in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs the chromium package")
def test_page_renders_in_headless_chromium_without_network(tmp_path: Path) -> None:
    page = tmp_path / "load.html"
    page.write_text(render_load_html(_result()), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        completed = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--proxy-server=127.0.0.1:9",  # any network fetch would fail loudly
                "--enable-logging=stderr",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
    dom = completed.stdout
    assert dom.count("<svg") >= 10
    assert "Output tokens per second" in dom
    assert "CONSOLE" not in completed.stderr
    assert "Refused to" not in completed.stderr


def _sweep_section(page: str) -> str:
    start = page.index('<section id="sweep">')
    return page[start : page.index("</section>", start)]


def test_sweep_section_plots_latency_against_throughput_with_slo_lines_and_the_knee() -> None:
    result = sweep_result()
    page = render_load_html(result)
    section = _sweep_section(page)
    assert ">TTFT against throughput, per sweep step" in section
    # tpot_ms has an SLO too, so it gets its own chart; itl_ms and e2e_ms have none.
    assert ">TPOT against throughput, per sweep step" in section
    assert ">ITL against" not in section
    assert ">E2E latency against" not in section
    assert ">Throughput per sweep step" in section
    for bound in ("SLO 200 ms", "SLO 40 ms"):
        assert f">{bound}</text>" in section
    assert section.count('stroke-dasharray="5 3"') == 2  # one SLO line per latency chart
    # Every step is labelled; the knee (8 users) is ringed and labelled on all three charts.
    assert len(re.findall(r'class="marker"[^>]*>2 users</text>', section)) == 2
    assert len(re.findall(r'class="marker"[^>]*>32 users</text>', section)) == 2
    assert len(re.findall(r'class="marker best"[^>]*>best: 8 users</text>', section)) == 3
    assert section.count('class="marker best"') == 3
    rows = re.findall(r"<tr( class=\"best\")?>\s*<td class=\"text step\">([^<]*)<", section)
    assert [(bool(best), label.strip()) for best, label in rows] == [
        (False, "2 users"),
        (True, "8 users"),
        (False, "32 users"),
    ]
    assert 'id="sweep-verdict"><strong>Sweep: best step 8 users.' in page
    # The pooled SLO verdict (missed over all steps mixed) is not the sweep's verdict.
    assert result.goodput.met is False
    assert "SLOs missed." not in page


def test_sweep_knee_sits_on_the_best_steps_point() -> None:
    page = render_load_html(sweep_result())
    chart = _sweep_section(page).split("</svg>")[0]  # the TTFT chart
    rings = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="8"', chart)
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="3.6"', chart)
    assert len(rings) == 2  # p50 and p99 of the best step
    assert set(rings) <= set(dots)
    xs = sorted({float(x) for x, _ in dots})
    assert len(xs) == 3
    assert {float(x) for x, _ in rings} == {xs[1]}  # 8 users: the middle throughput


def test_sweep_without_a_step_meeting_the_slos_says_so() -> None:
    steps = [make_step(32, 420.0)]
    page = render_load_html(sweep_result(steps))
    assert "Sweep: no step met every SLO." in page
    assert 'class="marker best"' not in page
    assert 'class="best"' not in page
    assert re.search(r'class="marker"[^>]*>32 users</text>', page)


def test_sweep_stopped_before_its_first_step_renders() -> None:
    page = render_load_html(sweep_result([]))
    assert 'id="sweep"' in page
    assert "No sweep step started before the run ended." in page


def test_page_without_a_sweep_has_no_sweep_section() -> None:
    page = render_load_html(_result())
    assert 'id="sweep' not in page
    assert "per sweep step" not in page
    assert 'class="marker' not in page


def test_a_sweep_step_of_a_foreign_kind_is_refused_naming_the_field(tmp_path: Path) -> None:
    # Step kinds and values are typed (a kind name, a number): hostile text cannot be one.
    document = sweep_result().to_json()
    document["sweep"]["kind"] = "<script>alert('kind')</script>"
    path = tmp_path / "load.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ResultError) as caught:
        read_result(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "field 'sweep.kind'" in message
    assert "\n" not in message


def test_report_html_recognises_a_sweep_result(tmp_path: Path) -> None:
    path = tmp_path / "load.json"
    path.write_text(json.dumps(sweep_result().to_json()), encoding="utf-8")
    kind, document = read_result(path)
    assert kind == "load"
    assert ">TTFT against throughput, per sweep step" in render_result_html(kind, document)
