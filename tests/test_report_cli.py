"""``chatgauge report``: re-render, compare, matrix; regression rules; escaping of every page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import chatgauge
from chatgauge.cli import main
from chatgauge.cli._report import run_labels
from chatgauge.conformance._results import Status
from chatgauge.reports._compare import (
    change_of,
    compare_conformance,
    compare_load,
    judge,
    render_compare_html,
    summary_text,
)
from chatgauge.reports._matrix import build_matrix, render_matrix_html
from chatgauge.reports._render import render_result_html
from chatgauge.results import JsonRecord
from chatgauge.results.load import Trust
from chatgauge.server import ServerConfig, background_server
from tests.report_fixtures import (
    HOSTILE,
    IMG,
    check_result,
    conformance_document,
    hostile_conformance,
    hostile_load,
    load_document,
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return env


def _chatgauge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatgauge", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _save(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = document.to_json() if isinstance(document, JsonRecord) else document
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------------ kinds and bad input


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"kind": "benchmark"}', "unknown kind 'benchmark'"),
        ('{"endpoint": "x"}', "no 'kind' field"),
        ('{"kind": "conformance", "schema_version": 7}', "field 'schema_version' is 7"),
        ('{"kind": "conformance", "schema_version": 1}', "field 'endpoint': missing"),
        (b"\xff\xfe\x00junk", "cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    content: str | bytes | None,
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "result.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    for args in (("html", str(path)), ("compare", str(path), str(path)), ("matrix", str(path))):
        assert main(["report", *args]) == 2, args
        stderr = capsys.readouterr().err
        assert stderr.count("\n") == 1, stderr
        assert stderr.startswith("chatgauge: error: ")
        assert expected in stderr
    assert not list(tmp_path.glob("*.html"))


def _damaged_conformance(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = conformance_document(check_result("B1-x", Status.PASSED)).to_json()
    data.update(fields)
    return data


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_damaged_conformance(checks=5), "checks"),
        (_damaged_conformance(summary={"failed": "x"}), "summary.failed"),
        (_damaged_conformance(checks=[{"id": "B1", "evidence": 7}]), "checks[0].title"),
        (_damaged_conformance(status="green"), "status"),
    ],
)
def test_a_damaged_conformance_result_names_the_field(
    tmp_path: Path,
    document: dict[str, Any],
    field: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = str(_save(tmp_path / "odd.json", document))
    for args in (("html", path), ("matrix", path, path), ("compare", path, path)):
        assert main(["report", *args]) == 2, args
        stderr = capsys.readouterr().err
        assert stderr.count("\n") == 1, stderr
        assert stderr.startswith(f"chatgauge: error: {path}: field '{field}': ")


def test_report_without_action_shows_help_and_exits_2(tmp_path: Path) -> None:
    done = _chatgauge(tmp_path, "report")
    assert done.returncode == 2
    assert "html" in done.stdout
    assert "compare" in done.stdout
    assert "matrix" in done.stdout


def test_usage_errors_of_compare_and_matrix(tmp_path: Path) -> None:
    load = _save(tmp_path / "load.json", load_document())
    conformance = _save(
        tmp_path / "conformance.json", conformance_document(check_result("B1", Status.PASSED))
    )

    alone = _chatgauge(tmp_path, "report", "compare", str(load))
    assert alone.returncode == 2
    assert "at least two" in alone.stderr

    mixed = _chatgauge(tmp_path, "report", "compare", str(load), str(conformance))
    assert mixed.returncode == 2
    assert "cannot mix kinds" in mixed.stderr

    matrix = _chatgauge(tmp_path, "report", "matrix", str(conformance), str(load))
    assert matrix.returncode == 2
    assert "cannot mix kinds" in matrix.stderr
    matrix = _chatgauge(tmp_path, "report", "matrix", str(load))
    assert matrix.returncode == 2
    assert "conformance results" in matrix.stderr

    threshold = _chatgauge(tmp_path, "report", "compare", str(load), str(load), "--threshold", "0")
    assert threshold.returncode == 2
    assert "--threshold" in threshold.stderr

    same = _chatgauge(tmp_path, "report", "html", str(load), "--out", str(load))
    assert same.returncode == 2
    assert "overwrite" in same.stderr
    assert json.loads(load.read_text())["metrics"]


# ------------------------------------------------------------------------- re-render


def test_html_rerenders_a_real_check_run_and_a_loadcheck_result(tmp_path: Path) -> None:
    with background_server(ServerConfig(port=0, faults=frozenset({"wrong-object"}))) as url:
        check = _chatgauge(
            tmp_path,
            "check",
            "--base-url",
            url,
            "--model",
            "pro",
            "--select",
            "B2,D3",
            "--report-dir",
            "run",
        )
    assert check.returncode == 1, check.stdout + check.stderr
    saved = tmp_path / "run" / "conformance.json"
    written_by_check = (tmp_path / "run" / "conformance.html").read_text()
    (tmp_path / "run" / "conformance.html").unlink()

    done = _chatgauge(tmp_path, "report", "html", str(saved))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "run" / "conformance.html").read_text()
    assert page == written_by_check
    assert "B2-object" in page
    assert "FAILED" in page

    load = _save(tmp_path / "loadrun" / "load.json", load_document(model="model-under-load"))
    done = _chatgauge(tmp_path, "report", "html", str(load), "--out", "pages/l.html")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "pages" / "l.html").read_text()
    assert "model-under-load" in page
    assert "<svg" in page


# ------------------------------------------------------------------- load comparison


def test_judge_needs_both_the_relative_threshold_and_the_floor() -> None:
    def latency(base: float, value: float | None) -> str:
        return judge(base, value, lower_is_better=True, threshold=0.05, floor=1.0)

    assert latency(100.0, 104.9) == "same"
    assert latency(100.0, 105.1) == "regression"
    assert latency(100.0, 94.0) == "improvement"
    assert latency(10.0, 10.9) == "same"  # 9% worse, but under the 1 ms floor
    assert latency(10.0, 11.2) == "regression"
    assert latency(100.0, None) == "n/a"
    throughput = judge(100.0, 90.0, lower_is_better=False, threshold=0.05, floor=1.0)
    assert throughput == "regression"
    assert judge(100.0, 110.0, lower_is_better=False, threshold=0.05, floor=1.0) == "improvement"
    # A zero baseline has no relative change: the floor alone decides.
    assert judge(0.0, 0.004, lower_is_better=True, threshold=0.05, floor=0.005) == "same"
    assert judge(0.0, 0.02, lower_is_better=True, threshold=0.05, floor=0.005) == "regression"


def test_compare_load_flags_the_slower_run_and_the_errors() -> None:
    base = load_document(ttft_ms=200.0, seed=1)
    slower = load_document(ttft_ms=260.0, errors=3, seed=2)
    comparison = compare_load([("a", base), ("b", slower)])
    regressed = {row.key for _, row, _ in comparison.regressions()}
    assert {"ttft_ms.p50", "ttft_ms.p99", "error_rate"} <= regressed
    # ITL and TPOT follow the same profile in both runs: never flagged.
    assert not {key for key in regressed if key.startswith(("itl_ms", "tpot_ms"))}

    reverse = compare_load([("b", slower), ("a", base)])
    assert not {row.key for _, row, _ in reverse.regressions()} & {"ttft_ms.p50", "error_rate"}
    improved = {row.key for _, row, _ in reverse.improvements()}
    assert {"ttft_ms.p50", "error_rate"} <= improved

    lenient = compare_load([("a", base), ("b", slower)], threshold=0.5)
    assert "ttft_ms.p50" not in {row.key for _, row, _ in lenient.regressions()}


def test_an_untrustworthy_generator_is_called_out() -> None:
    suspect = load_document(seed=3)
    generator = replace(
        suspect.generator, verdict=Trust.UNTRUSTWORTHY, reasons=("CPU p90 was 99% of a core",)
    )
    suspect = replace(suspect, generator=generator)
    comparison = compare_load([("a", load_document()), ("b", suspect)])
    assert "b: " in summary_text(comparison)
    assert "warning: the load generator judged this run untrustworthy" in summary_text(comparison)
    page = render_compare_html(comparison)
    assert "CPU p90 was 99% of a core" in page
    assert "judged run <code>b</code> untrustworthy" in page


def test_compare_cli_exit_codes_and_summary(tmp_path: Path) -> None:
    base = _save(tmp_path / "base" / "load.json", load_document(ttft_ms=200.0, seed=1))
    slow = _save(tmp_path / "slow" / "load.json", load_document(ttft_ms=260.0, seed=2))
    same = _save(tmp_path / "same" / "load.json", load_document(ttft_ms=200.0, seed=1))

    done = _chatgauge(tmp_path, "report", "compare", str(base), str(slow), "--out", "c.html")
    assert done.returncode == 0, done.stderr
    assert "REGRESSION" in done.stdout
    assert "TTFT p50" in done.stdout
    page = (tmp_path / "c.html").read_text()
    assert 'class="num regression"' in page

    flagged = _chatgauge(
        tmp_path, "report", "compare", str(base), str(slow), "--fail-on-regression"
    )
    assert flagged.returncode == 1
    assert (tmp_path / "compare.html").exists()

    clean = _chatgauge(tmp_path, "report", "compare", str(base), str(same), "--fail-on-regression")
    assert clean.returncode == 0, clean.stdout
    assert "0 regressions" in clean.stdout

    three = _chatgauge(
        tmp_path, "report", "compare", str(base), str(same), str(slow), "--fail-on-regression"
    )
    assert three.returncode == 1
    assert "same/load.json: 0 regressions" in three.stdout


# ------------------------------------------------------------ conformance comparison


def test_change_of_a_check() -> None:
    assert change_of("passed", "failed") == "newly failing"
    assert change_of(None, "failed") == "newly failing"
    assert change_of("failed", "passed") == "fixed"
    assert change_of("failed", "skipped") == "changed"
    assert change_of("passed", None) == "changed"
    assert change_of("warning", "warning") == "same"
    assert change_of("failed", "failed") == "same"


def test_compare_conformance_lists_newly_failing_and_fixed(tmp_path: Path) -> None:
    before = conformance_document(
        check_result("B1-a", Status.PASSED),
        check_result("B2-b", Status.FAILED),
        check_result("C1-c", Status.PASSED),
    )
    after = conformance_document(
        check_result("B1-a", Status.FAILED, "now broken"),
        check_result("B2-b", Status.PASSED),
        check_result("C1-c", Status.WARNING),
        check_result("D1-d", Status.PASSED),
    )
    comparison = compare_conformance([("before", before), ("after", after)])
    assert [row.id for _, _, row in comparison.regressions()] == ["B1-a"]
    assert [row.id for _, _, row in comparison.with_change("fixed")] == ["B2-b"]
    assert {row.id for _, _, row in comparison.with_change("changed")} == {"C1-c", "D1-d"}

    a = _save(tmp_path / "before.json", before)
    b = _save(tmp_path / "after.json", after)
    done = _chatgauge(tmp_path, "report", "compare", str(a), str(b), "--fail-on-regression")
    assert done.returncode == 1
    assert "NEWLY FAILING B1-a: passed -> failed" in done.stdout
    assert "fixed         B2-b: failed -> passed" in done.stdout
    page = (tmp_path / "compare.html").read_text()
    assert "now broken" in page

    back = _chatgauge(tmp_path, "report", "compare", str(b), str(a), "--fail-on-regression")
    assert back.returncode == 1  # B2-b fails again going the other way
    fixed_only = _chatgauge(tmp_path, "report", "compare", str(a), str(a), "--fail-on-regression")
    assert fixed_only.returncode == 0


# ---------------------------------------------------------------------------- matrix


def test_matrix_tabulates_endpoints_by_checks(tmp_path: Path) -> None:
    one = conformance_document(
        check_result("A1-x", Status.PASSED),
        check_result("B1-y", Status.FAILED, "object was chunk"),
        endpoint="http://one.example/v1",
        model="m1",
    )
    two = conformance_document(
        check_result("B1-y", Status.PASSED),
        check_result("C2-z", Status.SKIPPED),
        endpoint="http://two.example/v1",
        model="m2",
    )
    matrix = build_matrix([("one.json", one), ("two.json", two)])
    assert [c.model for c in matrix.columns] == ["m1", "m2"]
    rows = {row.id: row for group in matrix.groups for row in group.rows}
    assert [g.group for g in matrix.groups] == ["A", "B", "C"]
    assert [cell.status for cell in rows["B1-y"].cells] == ["failed", "passed"]
    assert [cell.status for cell in rows["A1-x"].cells] == ["passed", None]
    assert rows["B1-y"].differs
    assert rows["B1-y"].failed_somewhere

    paths = [str(_save(tmp_path / n, d)) for n, d in (("one.json", one), ("two.json", two))]
    done = _chatgauge(tmp_path, "report", "matrix", *paths, "--out", "m/matrix.html")
    assert done.returncode == 0, done.stderr
    assert "2 endpoints x 3 checks; 1 endpoints failed a check" in done.stdout
    page = (tmp_path / "m" / "matrix.html").read_text()
    assert 'title="1. m1: object was chunk"' in page
    assert "http://two.example/v1" in page


# ------------------------------------------------------------------ untrusted text


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each script element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def _assert_inert(page: str) -> None:
    """The hostile text is on the page as text only: no tag, handler or evaluated syntax."""
    parsed = _Tags()
    parsed.feed(page)
    assert not [tag for tag, _ in parsed.tags if tag == "img"]
    assert not [name for _, attrs in parsed.tags for name, _ in attrs if name.startswith("on")]
    assert not [script for script in parsed.scripts if "alert" in script or "pwned" in script]
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "{{ 7*7 }}" in page
    assert "{% raw %}" in page
    assert "zqxj" not in page
    assert "looploop" not in page


PAGES: dict[str, Callable[[], str]] = {
    "conformance": lambda: render_result_html("conformance", hostile_conformance()),
    "load": lambda: render_result_html("load", hostile_load()),
    "compare-load": lambda: render_compare_html(
        compare_load([(HOSTILE, hostile_load()), ("b" + HOSTILE, load_document())])
    ),
    "compare-conformance": lambda: render_compare_html(
        compare_conformance([(HOSTILE, hostile_conformance()), ("b", conformance_document())])
    ),
    "matrix": lambda: render_matrix_html(
        build_matrix([(HOSTILE, hostile_conformance()), ("b", conformance_document())])
    ),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_endpoint_text_is_escaped_on_every_page(page: str) -> None:
    _assert_inert(PAGES[page]())


def test_run_labels_are_paths_below_the_shared_directory(tmp_path: Path) -> None:
    paths = [tmp_path / "runs" / "a" / "load.json", tmp_path / "runs" / "b" / "load.json"]
    assert run_labels(paths) == ["a/load.json", "b/load.json"]
    assert run_labels([tmp_path / "x.json", tmp_path / "y.json"]) == ["x.json", "y.json"]


def test_the_cli_escapes_hostile_results_and_file_names(tmp_path: Path) -> None:
    # Run labels are file paths, shown on compare and matrix pages: untrusted text too.
    hostile_dir = tmp_path / IMG.replace("/", "")
    conformance = _save(hostile_dir / "conformance.json", hostile_conformance())
    load = _save(hostile_dir / "load.json", hostile_load())
    plain_conformance = _save(tmp_path / "plain" / "conformance.json", conformance_document())
    plain_load = _save(tmp_path / "plain" / "load.json", load_document())
    runs = [
        ("html", str(conformance)),
        ("html", str(load)),
        ("compare", str(plain_load), str(load)),
        ("compare", str(plain_conformance), str(conformance)),
        ("matrix", str(plain_conformance), str(conformance)),
    ]
    for number, args in enumerate(runs):
        out = tmp_path / f"page{number}.html"
        done = _chatgauge(tmp_path, "report", *args, "--out", str(out))
        assert done.returncode == 0, done.stderr
        page = out.read_text()
        parsed = _Tags()
        parsed.feed(page)
        assert not [tag for tag, _ in parsed.tags if tag == "img"], args
        assert "zqxj" not in page, args
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, args
    assert "&lt;img src=x onerror=alert(1)&gt;/load.json" in (tmp_path / "page2.html").read_text()
