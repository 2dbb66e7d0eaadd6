"""Every kind of report page in a real headless Chromium with the network cut off.

Each page must load with no console error (a Content-Security-Policy violation, i.e. any
attempt to fetch something, is one), make no request other than its own file, draw its
charts (every SVG has a non-zero size and marks inside), and run no script that endpoint
text smuggled in (a dialog opened by ``alert`` is recorded and fails the test).

Chromium comes from the Debian package (``/usr/bin/chromium``) and is driven by Playwright
for Python with that executable; Playwright's own browser download is never used. Without
either, the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import chatgauge
from chatgauge.reports._compare import compare_conformance, compare_load, render_compare_html
from chatgauge.reports._matrix import build_matrix, render_matrix_html
from chatgauge.reports._render import render_result_html
from chatgauge.results.conformance import ConformanceRun
from chatgauge.server import ServerConfig, background_server
from tests.capacity_fixtures import capacity_result
from tests.report_fixtures import HOSTILE, hostile_conformance, hostile_load, load_document
from tests.sweep_fixtures import sweep_result

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} not found (Debian: apt-get install -y chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (pip install playwright)"
)

MIN_CHARTS = {
    "conformance": 1,
    "load": 6,
    "load-sweep": 9,
    "load-capacity": 14,
    "compare-load": 4,
    "compare-conformance": 1,
    "matrix": 1,
}
"""Charts each page draws at least (conformance: verdict bar; load: distributions and
time series; load-sweep: those plus latency against throughput per SLO'd metric and the
throughput per step; load-capacity: the load charts, TTFT, E2E and goodput against the
offered rate, and three server-metrics charts; compare-load: one percentile chart per latency
metric)."""

_MEASURE_SVGS = """() => Array.from(document.querySelectorAll("svg"))
  .filter((svg) => !svg.parentElement.closest("svg"))
  .map((svg) => {
    const box = svg.getBoundingClientRect();
    return {
      width: box.width,
      height: box.height,
      marks: svg.querySelectorAll("rect, path, polyline, circle, line").length,
    };
  })"""


def _check_run(directory: Path, url: str) -> ConformanceRun:
    env = dict(os.environ)
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "chatgauge", "check", "--base-url", url, "--model", "pro"]
    subprocess.run(
        [*command, "--report-dir", str(directory), "--derandomize", "--examples", "3"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return ConformanceRun.from_json(json.loads((directory / "conformance.json").read_text()))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per page kind, from real check runs and synthetic load results."""
    root = tmp_path_factory.mktemp("pages")
    with background_server(ServerConfig(port=0)) as url:
        faithful = _check_run(root / "faithful", url)
    faults = frozenset({"wrong-object", "no-done", "usage-total-wrong"})
    with background_server(ServerConfig(port=0, faults=faults)) as url:
        faulty = _check_run(root / "faulty", url)
    load = hostile_load()
    html = {
        "conformance": render_result_html("conformance", faulty),
        "load": render_result_html("load", load),
        "load-sweep": render_result_html("load", sweep_result()),
        "load-capacity": render_result_html("load", capacity_result()),
        "compare-load": render_compare_html(
            compare_load([("base/load.json", load_document()), (HOSTILE, load)])
        ),
        "compare-conformance": render_compare_html(
            compare_conformance([("faithful", faithful), ("faulty", faulty)])
        ),
        "matrix": render_matrix_html(
            build_matrix(
                [("faithful", faithful), ("faulty", faulty), (HOSTILE, hostile_conformance())]
            )
        ),
    }
    paths = {}
    for kind, text in html.items():
        paths[kind] = root / f"{kind}.html"
        paths[kind].write_text(text, encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class Visit:
    """What happened while a page was open."""

    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    svgs: list[dict[str, float]] = field(default_factory=list)

    def console(self, level: str, text: str) -> None:
        """Record a console message when it is an error."""
        if level == "error":
            self.console_errors.append(text)


def _visit(browser: Any, path: Path) -> Visit:
    visit = Visit()
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})

    def route(request_route: Any) -> None:
        if request_route.request.url.startswith("file:"):
            request_route.continue_()
        else:
            visit.blocked.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: visit.console(message.type, message.text))
    page.on("pageerror", lambda error: visit.console("error", str(error)))

    def dialog(opened: Any) -> None:
        visit.dialogs.append(opened.message)
        opened.dismiss()

    page.on("dialog", dialog)
    page.goto(path.as_uri(), wait_until="load")
    visit.svgs = page.evaluate(_MEASURE_SVGS)
    context.close()
    return visit


@pytest.mark.parametrize("kind", sorted(MIN_CHARTS))
def test_page_renders_its_charts_offline_without_errors(
    browser: Any, pages: dict[str, Path], kind: str
) -> None:
    visit = _visit(browser, pages[kind])
    assert visit.console_errors == []
    assert visit.blocked == []
    assert visit.dialogs == []
    assert len(visit.svgs) >= MIN_CHARTS[kind], visit.svgs
    for svg in visit.svgs:
        assert svg["width"] > 0, svg
        assert svg["height"] > 0, svg
        assert svg["marks"] > 0, svg


def test_the_check_filters_work_in_the_browser(browser: Any, pages: dict[str, Path]) -> None:
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.goto(pages["conformance"].as_uri())
    total = page.locator("tbody.check").count()
    page.select_option("select[data-filter=status]", "failed")
    failed = page.locator("tbody.check:not([hidden])").count()
    assert 0 < failed < total
    assert page.locator("tbody.check:not([hidden]) .status.failed").count() == failed

    page.goto(pages["matrix"].as_uri())
    page.check("input[data-filter=failed]")
    shown = page.locator("table.matrix tr.check:not([hidden])")
    assert shown.count() > 0
    for index in range(shown.count()):
        assert shown.nth(index).get_attribute("data-failed") == "yes"
    context.close()


def test_the_sweep_knee_is_drawn_inside_its_chart(browser: Any, pages: dict[str, Path]) -> None:
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(pages["load-sweep"].as_uri())
    labels = page.locator("svg text.marker.best")
    assert labels.count() == 3  # TTFT, TPOT and throughput charts
    for index in range(labels.count()):
        label = labels.nth(index)
        assert label.text_content() == "best: 8 users"
        chart = label.locator("xpath=ancestor::*[local-name()='svg'][1]").bounding_box()
        box = label.bounding_box()
        assert chart is not None
        assert box is not None
        assert box["width"] > 0
        assert chart["x"] <= box["x"]
        assert box["x"] + box["width"] <= chart["x"] + chart["width"]
        assert chart["y"] <= box["y"]
        assert box["y"] + box["height"] <= chart["y"] + chart["height"]
    context.close()


def test_the_capacity_knee_and_the_server_metrics_are_drawn(
    browser: Any, pages: dict[str, Path]
) -> None:
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(pages["load-capacity"].as_uri())
    assert "12" in (page.locator("#capacity-verdict").text_content() or "")
    section = page.locator("#capacity")
    knees = section.locator("svg text.marker.best")
    assert knees.count() == 3  # TTFT, E2E and goodput against the offered rate
    for index in range(knees.count()):
        assert knees.nth(index).text_content() == "capacity"
    assert page.locator("#capacity-steps tbody tr").count() == 4
    server = page.locator("#server-metrics svg")
    assert server.count() == 3  # running/waiting with the client's in flight, usage, counters
    first = server.nth(0)
    box = first.bounding_box()
    assert box is not None
    assert box["width"] > 0
    assert box["height"] > 0
    text = first.text_content() or ""
    assert "chatgauge_requests_running" in text
    assert "client: requests in flight" in text
    assert first.locator("path, polyline").count() >= 3
    context.close()
