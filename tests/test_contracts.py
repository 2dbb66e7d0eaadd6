"""Contracts end to end: ``chatgauge check`` against reference endpoints that play capability
states, under profile openai, ``--optional`` and profile basic; plus the pure rules (profiles,
``--require`` / ``--optional``, which features a request uses).

The endpoints are the real reference server on loopback (``ServerConfig.features`` is what
``chatgauge serve --feature NAME=STATE`` sets); each run is a ``chatgauge check`` subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._contract import make_contract
from chatgauge.conformance._features import FEATURES, features_of_body
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._runner import run_check
from chatgauge.server import ServerConfig, background_server
from tests.check_support import check, check_env, document
from tests.conformance_harness import endpoint

pytest_plugins = ["pytester"]

THREE = ("tools", "logprobs", "json_schema")
FAST = ("--examples", "3", "--derandomize")


@pytest.fixture(scope="module")
def ignoring_url() -> Iterator[str]:
    """An endpoint that accepts tools, logprobs and json_schema and ignores them."""
    features = dict.fromkeys(THREE, "ignored")
    with background_server(ServerConfig(port=0, features=features)) as url:
        yield url


@pytest.fixture(scope="module")
def refusing_url() -> Iterator[str]:
    """An endpoint that refuses tools, logprobs and json_schema cleanly (400 unsupported_*)."""
    features = dict.fromkeys(THREE, "unsupported")
    with background_server(ServerConfig(port=0, features=features)) as url:
        yield url


def _capabilities(run: dict[str, Any]) -> dict[str, str]:
    return {name: entry["status"] for name, entry in run["capabilities"].items()}


def _verdicts(run: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in run["checks"]}


def test_profile_openai_fails_an_endpoint_that_ignores_three_features(
    tmp_path: Path, ignoring_url: str
) -> None:
    done = check(tmp_path, "--base-url", ignoring_url, "--model", "pro", *FAST)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "features failing the contract: tools, logprobs, json_schema" in done.stdout
    run = document(tmp_path)
    assert run["contract"]["profile"] == "openai"
    assert {f: _capabilities(run)[f] for f in THREE} == dict.fromkeys(THREE, "ignored")
    verdicts = _verdicts(run)
    assert [verdicts[i] for i in ("H1-tools", "H2-logprobs", "H3-json-schema")] == ["failed"] * 3


def test_optional_three_features_pass_with_three_warnings(
    tmp_path: Path, ignoring_url: str
) -> None:
    done = check(
        tmp_path, "--base-url", ignoring_url, "--model", "pro", "--optional", ",".join(THREE), *FAST
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = document(tmp_path)
    assert run["status"] == "passed"
    warned = [c["id"] for c in run["checks"] if c["status"] == "warning"]
    assert warned == ["H1-tools", "H2-logprobs", "H3-json-schema"], warned
    assert "features with warnings: tools, logprobs, json_schema" in done.stdout
    # The checks about the ignored features are not judged, and say why.
    skipped = {c["id"]: c for c in run["checks"] if c["status"] == "skipped"}
    for check_id in ("B4-tool-calls", "E5-tool-call-deltas", "G2-json-schema", "G3-logprob-tokens"):
        assert skipped[check_id]["skip_kind"] == "capability"
        assert "leaves optional" in skipped[check_id]["message"]
    assert set(run["contract"]["optional"]) == set(THREE)


def test_profile_openai_fails_an_endpoint_that_refuses_three_features(
    tmp_path: Path, refusing_url: str
) -> None:
    done = check(tmp_path, "--base-url", refusing_url, "--model", "pro", *FAST)
    assert done.returncode == 1, done.stdout + done.stderr
    run = document(tmp_path)
    assert {f: _capabilities(run)[f] for f in THREE} == dict.fromkeys(THREE, "unsupported")
    assert "features failing the contract: tools, logprobs, json_schema" in done.stdout


def test_optional_refused_features_are_reported_unsupported_and_pass(
    tmp_path: Path, refusing_url: str
) -> None:
    done = check(
        tmp_path, "--base-url", refusing_url, "--model", "pro", "--optional", ",".join(THREE), *FAST
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = document(tmp_path)
    verdicts = _verdicts(run)
    assert [verdicts[i] for i in ("H1-tools", "H2-logprobs", "H3-json-schema")] == [
        "unsupported"
    ] * 3
    assert run["summary"]["warning"] == 0


def test_profile_basic_passes_the_basic_surface_and_reports_what_it_lacks(
    tmp_path: Path,
) -> None:
    served = subprocess.Popen(
        [sys.executable, "-m", "chatgauge", "serve", "--port", "0", "--profile", "basic"],
        env=check_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert served.stdout is not None
        line = served.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), line
        openai = check(tmp_path, "--base-url", url, "--model", "pro", *FAST)
        basic = check(
            tmp_path, "--base-url", url, "--model", "pro", "--profile", "basic",
            "--report-dir", "basic", *FAST,
        )  # fmt: skip
    finally:
        served.terminate()
        served.wait(timeout=10)
    assert openai.returncode == 1, openai.stdout
    assert basic.returncode == 0, basic.stdout + basic.stderr
    run = document(tmp_path, "basic")
    states = _capabilities(run)
    assert states["json_object"] == "supported"
    lacking = {f for f, s in states.items() if s == "unsupported"}
    assert lacking == set(FEATURES) - {"json_object", "auth"}
    assert "capabilities (contract: profile basic; 1 required, 12 optional):" in basic.stdout


def test_require_moves_a_feature_back_into_the_contract(tmp_path: Path, refusing_url: str) -> None:
    done = check(
        tmp_path,
        "--base-url", refusing_url, "--model", "pro", "--profile", "basic",
        "--require", "tools", "--select", "H",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = _verdicts(document(tmp_path))
    assert verdicts["H1-tools"] == "failed"
    assert verdicts["H2-logprobs"] == "unsupported"


def test_the_contract_comes_from_pyproject_too(tmp_path: Path, refusing_url: str) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.chatgauge.check]\noptional = ["tools", "logprobs", "json_schema"]\n'
    )
    done = check(tmp_path, "--base-url", refusing_url, "--model", "pro", "--select", "H")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(document(tmp_path)["contract"]["optional"]) == set(THREE)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--optional", "teleport"), "unknown feature 'teleport'"),
        (("--profile", "gold"), "unknown profile 'gold'"),
        (("--require", "tools", "--optional", "tools"), "both as required and as optional"),
    ],
)
def test_a_bad_contract_is_one_line_and_exit_2(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    done = check(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "--model", "pro", *flags)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


# -- pure rules ---------------------------------------------------------------------------------


def test_profiles_and_adjustments() -> None:
    assert make_contract().optional == ()
    assert set(make_contract().required) == set(FEATURES)
    basic = make_contract("basic")
    assert basic.required == ("json_object",)
    assert make_contract("basic", require=["tools"]).required == ("tools", "json_object")
    moved = make_contract("openai", optional=["json-schema", "tools"])
    assert moved.optional == ("tools", "json_schema")
    assert "tools" not in moved.required


@pytest.mark.parametrize(
    ("body", "features"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, set()),
        ({"n": 1}, set()),
        ({"n": 2}, {"n"}),
        ({"top_logprobs": 2}, {"logprobs"}),
        ({"response_format": {"type": "json_schema"}}, {"json_schema"}),
        ({"response_format": {"type": "json_object"}}, {"json_object"}),
        ({"response_format": {"type": "text"}}, set()),
        ({"messages": [{"role": "tool", "content": "x"}]}, {"tools"}),
        ({"messages": [{"role": "developer", "content": "x"}]}, {"developer_role"}),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, {"content_parts"}),
        ({"stream_options": {"include_usage": True}, "seed": 1}, {"stream_usage", "seed"}),
        ("not an object", set()),
    ],
)
def test_features_of_a_request_body(body: object, features: set[str]) -> None:
    assert features_of_body(body) == features


def test_the_plugin_takes_the_contract_options(
    pytester: pytest.Pytester, ignoring_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in check_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    suite = (
        *([] if installed else ["-p", "chatgauge.conformance.plugin"]), "-p", "no:cacheprovider",
        "--pyargs", "chatgauge.conformance.suite",
        f"--chatgauge-base-url={ignoring_url}", "--chatgauge-model=pro",
        "--chatgauge-select=H1,H2,H3,B4", "--chatgauge-report-dir=out",
    )  # fmt: skip
    strict = pytester.runpytest_subprocess(*suite)
    assert strict.ret == 1, strict.stdout.str()
    lenient = pytester.runpytest_subprocess(
        *suite, "--chatgauge-optional=tools,logprobs,json_schema"
    )
    assert lenient.ret == 0, lenient.stdout.str()
    run = json.loads((pytester.path / "out" / "conformance.json").read_text())
    assert set(run["contract"]["optional"]) == set(THREE)
    assert {f: _capabilities(run)[f] for f in THREE} == dict.fromkeys(THREE, "ignored")


@pytest.mark.parametrize(("strict", "expected"), [(False, "warning"), (True, "failed")])
def test_accepting_what_only_the_prose_forbids_is_a_warning_unless_strict(
    strict: bool, expected: str
) -> None:
    (malformed,) = [c for c in all_checks() if c.id == "A2-malformed-request-rejected"]
    # An endpoint that never heard of logprobs accepts top_logprobs without logprobs.
    with endpoint(features={"logprobs": "ignored"}) as (_, client):
        ctx = CheckContext(send_case=client.send, settings=Settings(model="pro", strict=strict))
        result = run_check(ctx, malformed)
    assert result.status.value == expected, result.message
    assert "top_logprobs without logprobs" in result.message
