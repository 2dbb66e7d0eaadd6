"""The capability table in every output: conformance.json, HTML, JUnit, the matrix, compare.

Two real runs of the capability checks (``--select H``) against the reference endpoint on
loopback: a faithful one, and one that ignores tools and refuses logprobs. Every output is
rendered from those typed runs, read back from disk as ``chatgauge report`` reads them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chatgauge import ConformanceSettings, run_conformance
from chatgauge.conformance._features import FEATURES
from chatgauge.reports._compare import compare_conformance, summary_text
from chatgauge.reports._conformance_html import render_conformance_html
from chatgauge.reports._junit import junit_xml
from chatgauge.reports._matrix import build_matrix, render_matrix_html
from chatgauge.results import read_document
from chatgauge.results.conformance import ConformanceRun, FeatureState
from chatgauge.server import ServerConfig, background_server
from tests.check_support import check_env

DEVIANT = {"tools": "ignored", "logprobs": "unsupported"}


def _run(directory: Path, features: dict[str, str], optional: tuple[str, ...]) -> ConformanceRun:
    with background_server(ServerConfig(port=0, features=features)) as url:
        settings = ConformanceSettings(
            base_url=url, model="pro", select=("H",), optional=optional, report_dir=directory
        )
        run_conformance(settings, on_notice=lambda _: None)
    document = read_document(directory / "conformance.json")
    assert isinstance(document, ConformanceRun)
    return document


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ConformanceRun, ConformanceRun]:
    root = tmp_path_factory.mktemp("capabilities")
    faithful = _run(root / "faithful", {}, ())
    deviant = _run(root / "deviant", DEVIANT, ("logprobs",))
    return faithful, deviant


def test_the_document_holds_the_contract_and_every_capability(
    runs: tuple[ConformanceRun, ConformanceRun],
) -> None:
    faithful, deviant = runs
    assert list(deviant.capabilities) == list(FEATURES)
    assert deviant.capabilities["tools"].status is FeatureState.IGNORED
    assert deviant.capabilities["tools"].required
    assert deviant.capabilities["logprobs"].status is FeatureState.UNSUPPORTED
    assert not deviant.capabilities["logprobs"].required
    assert "unsupported_parameter" in deviant.capabilities["logprobs"].evidence
    assert deviant.contract.optional == ("logprobs",)
    assert faithful.capabilities["tools"].status is FeatureState.SUPPORTED


def test_the_html_page_shows_the_capability_table_near_the_top(
    runs: tuple[ConformanceRun, ConformanceRun],
) -> None:
    page = render_conformance_html(runs[1])
    table = page.index('id="capabilities"')
    assert table < page.index("<h2>Checks</h2>")
    assert table < page.index('class="counts"')
    row = re.search(r'<tr class="capability" data-feature="tools">(.*?)</tr>', page, re.S)
    assert row is not None
    assert 'class="cap ignored"' in row.group(1)
    assert "required" in row.group(1)
    assert 'class="status failed"' in row.group(1)
    logprobs = re.search(r'data-feature="logprobs">(.*?)</tr>', page, re.S)
    assert logprobs is not None
    assert 'class="status unsupported"' in logprobs.group(1)


def test_junit_carries_the_capabilities_as_suite_properties(
    runs: tuple[ConformanceRun, ConformanceRun],
) -> None:
    root = ET.fromstring(junit_xml(runs[1]))  # noqa: S314 - our own output
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["contract_profile"] == "openai"
    assert properties["capability.tools"] == "ignored (required, failed)"
    assert properties["capability.logprobs"] == "unsupported (optional, unsupported)"
    assert properties["capability.n"] == "supported (required, passed)"


def test_the_matrix_has_an_endpoints_by_features_view(
    runs: tuple[ConformanceRun, ConformanceRun],
) -> None:
    matrix = build_matrix([("faithful", runs[0]), ("deviant", runs[1])])
    rows = {row.feature: row for row in matrix.features}
    assert list(rows) == list(FEATURES)
    tools = rows["tools"]
    assert [c.status.value if c else None for c in tools.cells] == ["supported", "ignored"]
    assert tools.differs
    assert not rows["n"].differs
    page = render_matrix_html(matrix)
    assert 'id="features"' in page
    assert page.index('id="features"') < page.index("Checks by endpoint")


def test_compare_names_each_capability_change(
    runs: tuple[ConformanceRun, ConformanceRun],
) -> None:
    comparison = compare_conformance([("faithful", runs[0]), ("deviant", runs[1])])
    assert set(comparison.capability_changes) == {
        (1, "tools", "supported", "ignored"),
        (1, "logprobs", "supported", "unsupported"),
    }
    text = summary_text(comparison)
    assert "capability    tools: supported -> ignored" in text


def test_report_compare_and_matrix_from_the_command_line(
    runs: tuple[ConformanceRun, ConformanceRun], tmp_path: Path
) -> None:
    paths = []
    for name, run in zip(("a", "b"), runs, strict=True):
        path = tmp_path / name / "conformance.json"
        path.parent.mkdir()
        path.write_text(json.dumps(run.to_json()), encoding="utf-8")
        paths.append(str(path))

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chatgauge", "report", *args],
            cwd=tmp_path,
            env=check_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    compared = report("compare", *paths, "--out", "c.html")
    assert compared.returncode == 0, compared.stderr
    assert "logprobs: supported -> unsupported" in compared.stdout
    assert "Capability changes" in (tmp_path / "c.html").read_text()
    matrix = report("matrix", *paths, "--out", "m.html")
    assert matrix.returncode == 0, matrix.stderr
    assert 'data-feature="tools"' in (tmp_path / "m.html").read_text()
