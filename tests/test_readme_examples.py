"""The README's Python examples run as written (so the documentation stays true)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import chatgauge
from chatgauge.server import ServerConfig, background_server

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def test_readme_contract_test_example_passes(
    pytester: pytest.Pytester, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = [b for b in _python_blocks() if "def test_" in b]
    pytester.makepyfile(test_contract=block)
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    )
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    plugin = [] if installed else ["-p", "chatgauge.conformance.plugin"]
    result = pytester.runpytest_subprocess(
        *plugin, "--chatgauge-base-url", base_url, "--chatgauge-model", "pro", "-q"
    )
    result.assert_outcomes(passed=block.count("def test_"))


def test_readme_client_and_decoder_examples_run(
    base_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    blocks = [b for b in _python_blocks() if "def test_" not in b]
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own documentation
    printed = capsys.readouterr().out
    assert "200" in printed  # the client example printed the status of a real exchange
    assert "[DONE]" in printed  # the decoder example decoded the split [DONE]
