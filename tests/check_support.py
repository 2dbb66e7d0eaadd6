"""Helpers for the tests that run ``chatgauge check`` as a subprocess on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import chatgauge


def check_env(**extra: str) -> dict[str, str]:
    """The environment of a child run: no endpoint or key inherited, this chatgauge first."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return {**env, **extra}


def check(
    cwd: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``chatgauge check ARGS`` in ``cwd`` (reports in ``cwd/reports`` by default)."""
    return subprocess.run(
        [sys.executable, "-m", "chatgauge", "check", *args],
        cwd=cwd,
        env=env or check_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def document(cwd: Path, directory: str = "reports") -> dict[str, Any]:
    """The ``conformance.json`` a run in ``cwd`` wrote."""
    data: dict[str, Any] = json.loads((cwd / directory / "conformance.json").read_text())
    return data
