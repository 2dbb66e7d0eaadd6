"""Regenerate docs/screenshots/*.png: one screenshot per report page kind, from real runs.

Starts reference endpoints on loopback (one faithful, two with injected faults, two with
different latency profiles), runs the real ``chatgauge check`` and ``chatgauge load``
against them, renders the pages with ``chatgauge report``, and photographs each page in
headless Chromium (the Debian package at /usr/bin/chromium, driven by Playwright; the
network is cut off); a rate sweep's Sweep section gets a picture of its own. Takes about a
minute and a half.

    python scripts/screenshots.py [--out docs/screenshots] [--keep DIR]

``--keep DIR`` leaves the sample results and pages in DIR instead of a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from chatgauge.server import ServerConfig, background_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
MAX_HEIGHT = 1500

CHECK_ENDPOINTS = {
    "faithful": ServerConfig(port=0),
    "faulty-a": ServerConfig(
        port=0, faults=frozenset({"wrong-object", "no-done", "usage-total-wrong"})
    ),
    "faulty-b": ServerConfig(
        port=0, models=("fast",), faults=frozenset({"finish-reason-eos", "data-after-done"})
    ),
}
LOAD_ENDPOINTS = {
    "load-before": ServerConfig(port=0, ttft_ms=120, itl_ms=15, jitter_ms=10),
    "load-after": ServerConfig(port=0, ttft_ms=160, itl_ms=16, jitter_ms=25),
}
SWEEP_ENDPOINT = ServerConfig(port=0, ttft_ms=50, itl_ms=10, jitter_ms=5, rate_limit_rps=60)
"""A rate limit the top sweep step crosses: its 429s miss the SLOs, so the knee is below."""


def chatgauge(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line of this source tree; its output is shown when it fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "chatgauge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode not in (0, 1, 3):
        sys.exit(f"chatgauge {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def sample_results(work: Path) -> dict[str, Path]:
    """Run the real tools; return the paths of the results they wrote."""
    results = {}
    for name, config in CHECK_ENDPOINTS.items():
        model = config.models[0]
        with background_server(config) as url:
            chatgauge(
                "check",
                *("--base-url", url, "--model", model, "--report-dir", str(work / name)),
                *("--derandomize", "--examples", "5"),
            )
        results[name] = work / name / "conformance.json"
    for name, config in LOAD_ENDPOINTS.items():
        with background_server(config) as url:
            chatgauge(
                "load",
                *("--base-url", url, "--model", "pro", "--report-dir", str(work / name)),
                *("--users", "16", "--duration", "10s", "--warmup", "2s", "--max-tokens", "48"),
                *("--slo", "ttft_ms=200", "--slo", "tpot_ms=25"),
            )
        results[name] = work / name / "load.json"
    with background_server(SWEEP_ENDPOINT) as url:
        chatgauge(
            "load",
            *("--base-url", url, "--model", "pro", "--report-dir", str(work / "load-sweep")),
            *("--sweep-rates", "10,20,40,80", "--sweep-time", "4s", "--warmup", "1s"),
            *("--max-tokens", "16", "--slo", "ttft_ms=60", "--slo", "tpot_ms=12"),
        )
    results["load-sweep"] = work / "load-sweep" / "load.json"
    return results


def render_pages(work: Path, results: dict[str, Path]) -> dict[str, Path]:
    """Render each page kind with ``chatgauge report``."""
    pages = {
        "conformance": work / "conformance.html",
        "load": work / "load.html",
        "compare-load": work / "compare-load.html",
        "compare-conformance": work / "compare-conformance.html",
        "matrix": work / "matrix.html",
    }
    chatgauge("report", "html", str(results["faulty-a"]), "--out", str(pages["conformance"]))
    chatgauge("report", "html", str(results["load-before"]), "--out", str(pages["load"]))
    chatgauge(
        "report",
        "compare",
        *(str(results["load-before"]), str(results["load-after"])),
        *("--out", str(pages["compare-load"])),
    )
    chatgauge(
        "report",
        "compare",
        *(str(results["faithful"]), str(results["faulty-a"])),
        *("--out", str(pages["compare-conformance"])),
    )
    chatgauge(
        "report",
        "matrix",
        *(str(results[name]) for name in CHECK_ENDPOINTS),
        *("--out", str(pages["matrix"])),
    )
    return pages


def _failed_only(page: Page) -> None:
    page.select_option("select[data-filter=status]", "failed")


def _differences_only(page: Page) -> None:
    page.check("input[data-filter=differs]")


PREPARE: dict[str, Callable[[Page], None]] = {
    "conformance": _failed_only,
    "matrix": _differences_only,
}
"""What a reader would click first: show the interesting rows in the picture."""


SECTIONS = {"load-plots": ("load", "Plots")}
"""Extra pictures of a page section further down: name -> (page kind, heading text)."""


def photograph(pages: dict[str, Path], out: Path) -> list[Path]:
    """One PNG per page (plus :data:`SECTIONS`), WIDTH wide, at most MAX_HEIGHT tall."""
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        context = browser.new_context(offline=True, viewport={"width": WIDTH, "height": 900})
        context.route("**/*", _file_only)
        for kind, path in pages.items():
            page = context.new_page()
            page.goto(path.as_uri())
            prepare = PREPARE.get(kind)
            if prepare is not None:
                prepare(page)
            shots.append(_shoot(page, out / f"{kind}.png", top=0))
            for name, (section_kind, heading) in SECTIONS.items():
                if section_kind == kind:
                    box = page.locator("h2", has_text=heading).first.bounding_box()
                    top = int(box["y"]) - 16 if box else 0
                    shots.append(_shoot(page, out / f"{name}.png", top=top))
            page.close()
        browser.close()
    return shots


def _shoot(page: Page, path: Path, *, top: int) -> Path:
    """A picture of the page from ``top`` down, at most MAX_HEIGHT tall."""
    height = min(int(page.evaluate("document.body.scrollHeight")) - top, MAX_HEIGHT)
    clip = {"x": 0, "y": top, "width": WIDTH, "height": height}
    page.screenshot(path=str(path), full_page=True, clip=clip)  # type: ignore[arg-type]
    return path


def _file_only(route: Any) -> None:
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()


def photograph_sweep(result: Path, work: Path, out: Path) -> Path:
    """The Sweep section of a sweep run's load page, cropped to that section."""
    page_path = work / "load-sweep.html"
    chatgauge("report", "html", str(result), "--out", str(page_path))
    shot = out / "load-sweep.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        context = browser.new_context(offline=True, viewport={"width": WIDTH, "height": 900})
        context.route("**/*", _file_only)
        page = context.new_page()
        page.goto(page_path.as_uri())
        page.locator("section#sweep").screenshot(path=str(shot))
        browser.close()
    return shot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", type=Path, help="keep sample results and pages here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        results = sample_results(work)
        pages = render_pages(work, results)
        shots = photograph(pages, args.out)
        shots.append(photograph_sweep(results["load-sweep"], work, args.out))
        for shot in shots:
            print(f"{shot} ({shot.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
