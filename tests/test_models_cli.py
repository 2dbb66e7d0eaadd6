"""Several models in one ``chatgauge check``, and the model chosen when none is given.

Every run is a ``chatgauge check`` subprocess against the reference endpoint on loopback
(a small selection of checks keeps them quick; the per-model logic does not depend on it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatgauge.results._model_rows import model_directories, overall_status
from chatgauge.results.conformance import RunStatus
from chatgauge.server import ServerConfig, background_server
from tests.check_support import check, document

MODELS = ("pro", "fast", "default")
QUICK = ("--select", "B1,H5", "--examples", "2")


@pytest.fixture(scope="module")
def three_models() -> Iterator[str]:
    with background_server(ServerConfig(port=0, models=MODELS)) as url:
        yield url


def test_three_models_are_checked_each_and_shown_side_by_side(
    tmp_path: Path, three_models: str
) -> None:
    models = [arg for model in MODELS for arg in ("--model", model)]
    done = check(tmp_path, "--base-url", three_models, *models, *QUICK)
    assert done.returncode == 0, done.stdout + done.stderr
    for model in MODELS:
        run = document(tmp_path, f"reports/{model}")
        assert run["model"] == model
        assert run["status"] == "passed"
        assert f"=== model {model} (" in done.stdout
        assert any(line.split()[:2] == [model, "PASSED"] for line in done.stdout.splitlines()), (
            done.stdout
        )
    page = (tmp_path / "reports" / "models.html").read_text()
    for model in MODELS:
        assert f"{model}<small>" in page
    assert "OVERALL: PASSED (3 models)" in done.stdout
    assert "capabilities by model:" in done.stdout


def test_one_failing_verdict_makes_the_overall_verdict_fail(tmp_path: Path) -> None:
    config = ServerConfig(port=0, models=MODELS, faults=frozenset({"missing-created"}))
    with background_server(config) as url:
        done = check(tmp_path, "--base-url", url, "--model", "pro", "--model", "fast", *QUICK)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "OVERALL: FAILED (2 models)" in done.stdout
    assert (
        json.loads((tmp_path / "reports" / "fast" / "conformance.json").read_text())["status"]
        == "failed"
    )


def test_without_a_model_the_only_listed_model_is_used(tmp_path: Path) -> None:
    with background_server(ServerConfig(port=0, models=("solo",))) as url:
        done = check(tmp_path, "--base-url", url, *QUICK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no --model given: checking 'solo'" in done.stdout
    assert document(tmp_path)["model"] == "solo"


def test_without_a_model_several_listed_models_are_a_usage_error(
    tmp_path: Path, three_models: str
) -> None:
    done = check(tmp_path, "--base-url", three_models, *QUICK)
    assert done.returncode == 2
    assert "the endpoint serves 3: pro, fast, default" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_model_and_no_model_list_is_a_usage_error(tmp_path: Path) -> None:
    config = ServerConfig(port=0, features={"models_endpoint": "unsupported"})
    with background_server(config) as url:
        done = check(tmp_path, "--base-url", url, *QUICK)
    assert done.returncode == 2
    assert "no model: pass --model NAME" in done.stderr


def test_the_overall_verdict_is_the_worst() -> None:
    assert overall_status([RunStatus.PASSED, RunStatus.PASSED]) is RunStatus.PASSED
    assert overall_status([RunStatus.PASSED, RunStatus.INCOMPLETE]) is RunStatus.INCOMPLETE
    assert overall_status([RunStatus.INCOMPLETE, RunStatus.FAILED]) is RunStatus.FAILED
    assert overall_status([RunStatus.FAILED, RunStatus.INTERRUPTED]) is RunStatus.INTERRUPTED


def test_model_directories_are_safe_and_unique() -> None:
    assert model_directories(["org/model:v1", "org_model_v1", "..", "a"]) == {
        "org/model:v1": "org_model_v1",
        "org_model_v1": "org_model_v1-2",
        "..": "model",
        "a": "a",
    }
