"""``--server-metrics URL``: the Prometheus page parsed, scraped during a run, stored in
``load.json`` on the client's time axis and drawn in ``load.html``.

The page parser is prometheus_client's; the pages here are the reference endpoint's own
``/metrics`` (real server over loopback) and, for the parser's edges, a page written like
vLLM's (colons in names, labels, a histogram, NaN).
"""

from __future__ import annotations

import json
from pathlib import Path

from chatgauge.loadtests._server_metrics import MetricsScraper, parse_page
from chatgauge.reports import render_load_html
from chatgauge.reports._server_metrics_html import server_metrics_view
from chatgauge.server import ServerConfig, background_server
from tests.load_support import closed_port, read_report, run_cli
from tests.report_fixtures import load_document

VLLM_LIKE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 7.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.42
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{model_name="m"} 1234.0
# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="m"} 2.0
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 3.0
vllm:e2e_request_latency_seconds_count{model_name="m"} 3.0
vllm:e2e_request_latency_seconds_sum{model_name="m"} 4.5
# TYPE odd gauge
odd NaN
"""


def test_a_vllm_like_page_keeps_gauges_and_counters_with_labels() -> None:
    page = parse_page(VLLM_LIKE)
    labels = (("model_name", "m"),)
    assert page[("vllm:num_requests_running", labels)][::2] == ("gauge", 3.0)
    assert page[("vllm:num_requests_waiting", labels)][2] == 7.0
    assert page[("vllm:gpu_cache_usage_perc", labels)][2] == 0.42
    assert page[("vllm:prompt_tokens_total", labels)][::2] == ("counter", 1234.0)
    # Histograms are left out, and so is a value JSON cannot hold.
    assert not any("latency" in name for name, _ in page)
    assert ("odd", ()) not in page


def test_scraping_the_reference_endpoint(tmp_path: Path) -> None:
    stamps = iter(range(1_000_000_000, 10_000_000_000, 1_000_000_000))
    with background_server(ServerConfig(port=0, max_concurrency=3)) as url:
        root = url.removesuffix("/v1")
        scraper = MetricsScraper(f"{root}/metrics", clock=lambda: next(stamps))
        scraper.scrape_once()
        scraper.scrape_once()
    result = scraper.result(origin_ns=0)
    assert (result.scrapes, result.failures) == (2, 0)
    by_name = {series.name: series for series in result.series}
    assert by_name["chatgauge_max_concurrency"].values == (3.0, 3.0)
    assert by_name["chatgauge_requests_running"].t_s == (1.0, 2.0)
    assert by_name["chatgauge_requests_admitted_total"].kind == "counter"


def test_a_failing_scrape_is_counted_never_raised() -> None:
    scraper = MetricsScraper(f"http://127.0.0.1:{closed_port()}/metrics")
    scraper.scrape_once()
    with background_server(ServerConfig(port=0)) as url:
        # The chat endpoint answers 404 here, and a JSON page is no Prometheus page.
        for path in ("/nothing", "/v1/models"):
            other = MetricsScraper(url.removesuffix("/v1") + path)
            other.scrape_once()
            assert other.failures == 1
    result = scraper.result(0)
    assert (result.scrapes, result.failures) == (0, 1)
    assert result.last_error
    assert result.series == ()


def test_a_load_run_stores_and_plots_the_server_metrics(tmp_path: Path) -> None:
    config = ServerConfig(port=0, max_concurrency=2, ttft_ms=100, itl_ms=20, ignore_eos=True)
    with background_server(config) as url:
        metrics_url = url.removesuffix("/v1") + "/metrics"
        result = run_cli(
            *("--base-url", url, "--model", "pro", "--rate", "10", "--duration", "3s"),
            *("--warmup", "1s", "--max-tokens", "10", "--report-dir", str(tmp_path)),
            *("--server-metrics", metrics_url),
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    report = read_report(tmp_path)
    metrics = report.server_metrics
    assert metrics is not None
    assert metrics.url == metrics_url
    assert metrics.scrapes >= 3
    series = {s.name: s for s in metrics.series}
    running = series["chatgauge_requests_running"]
    # 10 req/s into 2 slots of 0.28 s: the slots fill and a queue builds, never beyond 2.
    assert max(running.values) == 2
    assert max(series["chatgauge_requests_waiting"].values) > 0
    # One time axis: scrapes fall inside the client's series, seconds from the same origin.
    client = report.series.t
    assert any(client[0] <= t <= client[-1] + 1 for t in running.t_s)
    html = (tmp_path / "load.html").read_text()
    assert html.count('id="server-metrics"') == 1
    assert "chatgauge_requests_waiting" in html


def test_the_section_is_absent_without_scrapes_and_drawn_with_them() -> None:
    document = load_document()
    assert server_metrics_view(document) is None
    assert 'id="server-metrics"' not in render_load_html(document)
    assert json.loads(json.dumps(document.to_json()))["server_metrics"] is None


def test_a_bad_server_metrics_url_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        *("--base-url", "http://127.0.0.1:9/v1", "--model", "pro"),
        *("--server-metrics", "ftp://nowhere", "--report-dir", str(tmp_path)),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--server-metrics" in result.stderr
    assert result.stderr.count("\n") == 1
