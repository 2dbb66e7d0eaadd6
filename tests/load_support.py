"""Helpers for the load engine's tests: run locust or ``chatgauge load`` in a subprocess.

Importing locust monkey-patches the interpreter for gevent, so the test process never does:
every run is a child process, and the samples it took come back through
``--dump-samples`` (one JSONL file per generating process). Every ``load.json`` a test reads
goes through :func:`read_report`, which validates it against the shipped JSON Schema first.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

import chatgauge
from chatgauge.loadtests import STOCK_LOCUSTFILE
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results import read_document
from chatgauge.results._schemas import shipped_schema_text
from chatgauge.results.load import JSON_NAME, LoadReport

RUN_TIMEOUT_S = 90


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: this source tree importable, no inherited endpoint/key."""
    dropped = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "CHATGAUGE_API_KEY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return {**env, **extra}


def locust_command(host: str, *args: str) -> list[str]:
    """``python -m locust`` on the stock locustfile, headless, quiet."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(STOCK_LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--skip-log-setup",
        *args,
    ]


def run_locust(host: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the stock locustfile to completion (bounded by :data:`RUN_TIMEOUT_S`)."""
    return subprocess.run(
        locust_command(host, *args),
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``chatgauge load`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "chatgauge", "load", *args],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def read_samples(directory: Path) -> list[RequestSample]:
    """Every sample the processes of a run dumped into ``directory``."""
    return [
        RequestSample.from_json(json.loads(line))
        for path in sorted(directory.glob("samples-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@cache
def _load_schema() -> Draft202012Validator:
    return Draft202012Validator(json.loads(shipped_schema_text("load")))


def assert_valid_load_json(data: Any) -> None:
    """``data`` (parsed ``load.json``) validates against the shipped load schema."""
    errors = sorted(_load_schema().iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def read_report(directory: Path) -> LoadReport:
    """The ``load.json`` in ``directory``: checked against the shipped schema, then typed."""
    path = directory / JSON_NAME
    assert_valid_load_json(json.loads(path.read_text(encoding="utf-8")))
    report = read_document(path)
    assert isinstance(report, LoadReport)
    return report


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def free_port() -> int:
    """A loopback port free at the time of the call."""
    return closed_port()
