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

ROOT = Path(__file__).parent
# The OpenAI spec the shipped JSON Schemas are derived from (shared/ lies beside the clone).
SPEC = ROOT.parent / "shared" / "reference" / "openai-openapi.yaml"


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
    """Every ``benchmarks/bench_*.py`` (each one a pytest-benchmark module)."""
    if not any((ROOT / "benchmarks").glob("bench_*.py")):
        session.skip("no benchmarks/bench_*.py yet")
    session.install(".")
    session.run(
        "pytest",
        "benchmarks",
        "--benchmark-only",
        "-q",
        "-o",
        "python_files=bench_*.py",
        *session.posargs,
    )


@nox.session
def schemas(session: nox.Session) -> None:
    """Fail if the shipped JSON Schemas differ from the spec (``-- --write`` regenerates)."""
    spec = Path(os.environ.get("CHATGAUGE_OPENAPI_SPEC", SPEC))
    if not spec.is_file():
        session.skip(f"OpenAI spec not found at {spec}")
    session.install("-e", ".", "pyyaml>=6.0")
    mode = [] if "--write" in session.posargs else ["--check"]
    session.run("python", "-m", "chatgauge.schemas._derive", "--spec", str(spec), *mode)
