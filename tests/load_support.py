"""Helpers for the load engine's tests: run locust or ``chatgauge load`` in a subprocess.

Importing locust monkey-patches the interpreter for gevent, so the test process never does:
every run is a child process, and the samples it took come back through
``--dump-samples`` (one JSONL file per generating process).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import chatgauge
from chatgauge.loadtests import STOCK_LOCUSTFILE
from chatgauge.loadtests._samples import RequestSample

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


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def free_port() -> int:
    """A loopback port free at the time of the call."""
    return closed_port()
