"""One oracle run: ``chatgauge serve`` on a free loopback port, schemathesis against it.

:func:`run_oracle` starts the reference endpoint (with an API key, so that schemathesis's
``ignored_auth`` check has something to check; optionally with faults), then runs the
schemathesis CLI once per spec variant, bounded by ``--max-examples`` per phase and by a
wall-clock limit per run, and reads its NDJSON report. The server is stopped on the way
out, whatever happened.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from chatgauge.server import ServerConfig, ServerStartError, spawned_server
from scripts.schemathesis_oracle.findings import EngineError, RunResult, read_report
from scripts.schemathesis_oracle.spec import VARIANTS, patch_spec

ROOT: Final = Path(__file__).resolve().parents[2]
SPEC_PATH: Final = ROOT / "reference" / "openai-openapi.yaml"
SPEC_SHA256: Final = "db5d7478feae10b4d331834c60d9765a8aa042e38419f9b1694288c11aa8ebc8"
#: A throwaway key for the local server: schemathesis sends it, and probes without it.
API_KEY: Final = "sk-chatgauge-oracle-local"
SCHEMATHESIS: Final = "schemathesis"


class OracleError(Exception):
    """The oracle could not run (missing tool, edited spec, schemathesis crashed)."""


@dataclass(frozen=True)
class Settings:
    """How hard schemathesis tries: examples per phase, the seed, a time limit per run."""

    examples: int = 200
    seed: int = 1
    time_limit_s: float = 300.0
    variants: tuple[str, ...] = VARIANTS


@dataclass
class OracleRun:
    """The results of every variant against one server configuration."""

    faults: tuple[str, ...]
    results: dict[str, RunResult] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)


def schemathesis_version() -> str:
    """The installed schemathesis version (OracleError when it is not installed)."""
    try:
        return metadata.version(SCHEMATHESIS)
    except metadata.PackageNotFoundError:
        raise OracleError("schemathesis is not installed; run `python3 -m nox -s oracle`") from None


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The vendored OpenAPI document, refused when its bytes are not the vendored ones."""
    import yaml  # type: ignore[import-untyped, unused-ignore]  # installed by the nox session

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OracleError(f"cannot read the spec {path}: {exc.strerror}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SPEC_SHA256:
        raise OracleError(f"{path} is not the vendored spec (sha256 {digest})")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(raw, Loader=loader)  # noqa: S506 - a SafeLoader, the C one when available
    if not isinstance(spec, dict):
        raise OracleError(f"{path} is not an OpenAPI document")
    return spec


def _json_default(value: object) -> str:
    # YAML turns some example values into dates; JSON has no date type.
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _st_command() -> list[str]:
    beside = Path(sys.executable).with_name("st")
    found = str(beside) if beside.exists() else shutil.which("st")
    if found is None:
        raise OracleError("the schemathesis command `st` was not found")
    return [found]


def serve_args(faults: Sequence[str]) -> list[str]:
    """``chatgauge serve`` arguments: the key, the faults, and what some faults need."""
    args = ["--api-key", API_KEY]
    for fault in faults:
        args += ["--fault", fault]
    if "no-retry-after" in faults:
        args += ["--rate-limit", "20"]
    return args


@contextlib.contextmanager
def _server(faults: Sequence[str]) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            base_url = stack.enter_context(spawned_server(serve_args(faults)))
        except ServerStartError as exc:
            raise OracleError(f"chatgauge serve did not start: {exc}") from None
        yield base_url


def run_oracle(
    spec: dict[str, Any], settings: Settings, workdir: Path, faults: Sequence[str] = ()
) -> OracleRun:
    """Run every variant of ``settings`` against one server with ``faults``; the patched
    specs, reports and logs go to ``workdir``."""
    workdir = workdir.resolve()  # schemathesis runs inside it, so paths must be absolute
    workdir.mkdir(parents=True, exist_ok=True)
    run = OracleRun(faults=tuple(faults))
    models = ServerConfig().models
    with _server(faults) as base_url:
        for variant in settings.variants:
            patched = patch_spec(spec, models=models, variant=variant)
            spec_file = workdir / f"openai-{variant}.json"
            spec_file.write_text(json.dumps(patched, default=_json_default), encoding="utf-8")
            run.results[variant], run.logs[variant] = _run_schemathesis(
                spec_file, base_url, variant, settings, workdir
            )
    return run


def _run_schemathesis(
    spec_file: Path, base_url: str, variant: str, settings: Settings, workdir: Path
) -> tuple[RunResult, Path]:
    report = workdir / f"{variant}.ndjson"
    log = workdir / f"{variant}.log"
    report.unlink(missing_ok=True)
    command = [
        *_st_command(),
        "run",
        str(spec_file),
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {API_KEY}",
        "--max-examples",
        str(settings.examples),
        "--seed",
        str(settings.seed),
        "--continue-on-failure",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--no-color",
    ]
    with log.open("w", encoding="utf-8") as out:
        try:
            completed = subprocess.run(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=settings.time_limit_s,
                check=False,
                cwd=workdir,
            )
        except subprocess.TimeoutExpired:
            raise OracleError(
                f"schemathesis ({variant}) ran past the {settings.time_limit_s:g} s limit; "
                f"see {log}"
            ) from None
    if not report.exists():
        raise OracleError(
            f"schemathesis ({variant}) wrote no report (exit {completed.returncode}); see {log}"
        )
    with report.open(encoding="utf-8") as lines:
        result = read_report(lines, variant)
    if completed.returncode not in (0, 1):
        result.errors.append(
            EngineError("exit", f"schemathesis exited with {completed.returncode}; see {log}")
        )
    return result, log
