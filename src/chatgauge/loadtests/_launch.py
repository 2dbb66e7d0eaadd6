"""Running a load test from Python: :func:`run_load` (what ``chatgauge load`` and the demo use).

The run itself is locust running chatgauge's stock locustfile in a child process, always as
a master with ``processes`` workers: the workers only send requests and stamp bytes, the
master merges their raw samples, prints the progress line and rewrites ``load.json``, so
computing results never delays a stamp. The calling process never imports locust (importing
it monkey-patches the interpreter for gevent): it checks the settings, sends one tiny
preflight request, starts the child and reads the typed ``load.json`` the child wrote. The
API key reaches the child through its environment, never its command line.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Final

from chatgauge._jsonguard import parse_json
from chatgauge.loadtests import STOCK_LOCUSTFILE
from chatgauge.loadtests._http import (
    Connection,
    HttpTransportError,
    Origin,
    Response,
    request_head,
)
from chatgauge.loadtests._options import API_KEY_ENV
from chatgauge.loadtests._server_metrics import attach, scraping
from chatgauge.loadtests._settings import LoadSettings, LoadSettingsError
from chatgauge.loadtests._workload_prep import prepare
from chatgauge.results import ResultError, read_document, safe_text
from chatgauge.results.load import JSON_NAME, LoadReport

SPAWN_PER_PROCESS: Final = 100
INTERRUPT_GRACE_S: Final = 30.0
PREFLIGHT_TIMEOUT_S: Final = 60.0
PREFLIGHT_BODY_BYTES: Final = 64 * 1024
_MEANINGFUL_REFUSALS: Final = range(400, 500)
_TRANSIENT: Final = (408, 429)


class EndpointUnavailable(Exception):
    """The endpoint did not answer a minimal request, or refused it as it would refuse every
    request (the message is one line, the API key masked)."""


class GeneratorFailed(RuntimeError):
    """The load generator ended without results (``exit_code`` is its exit code)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class LoadInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_load`: the child wrote what it measured so far.

    ``report`` is that document (``status`` ``interrupted``), ``None`` when none was written.
    """

    def __init__(self, report: LoadReport | None, path: Path | None) -> None:
        super().__init__("load test interrupted")
        self.report = report
        self.path = path


def run_load(settings: LoadSettings) -> LoadReport:
    """Run the load test ``settings`` describe and return its typed ``load.json``.

    Raises :class:`~chatgauge.loadtests.LoadSettingsError` for settings that cannot make a
    run, :class:`EndpointUnavailable` when the preflight request fails,
    :class:`GeneratorFailed` when the generator ends without results, and
    :class:`LoadInterrupted` (a ``KeyboardInterrupt``) on Ctrl-C.
    """
    settings.check()
    preflight(settings)
    settings = prepare(settings)
    keep = settings.report_dir is not None
    directory = _directory(settings.report_dir)
    try:
        report = _run_scraped(settings, directory)
    except LoadInterrupted as interrupted:
        if keep:
            raise
        # The results so far are in .report; the temporary files go with their directory.
        raise LoadInterrupted(_without_files(interrupted.report), None) from None
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    if keep:
        return report
    kept = _without_files(report)
    assert kept is not None
    return kept


def _without_files(report: LoadReport | None) -> LoadReport | None:
    """A report whose folder was temporary names no raw-samples file (it is gone)."""
    return None if report is None else replace(report, raw_samples=None)


def _directory(report_dir: Path | None) -> Path:
    if report_dir is None:
        return Path(tempfile.mkdtemp(prefix="chatgauge-load-"))
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LoadSettingsError(
            f"cannot create report directory {report_dir}: {exc.strerror or exc}"
        ) from None
    return report_dir


def _run_scraped(settings: LoadSettings, directory: Path) -> LoadReport:
    """The run, with ``--server-metrics`` scraped beside it and added to its documents."""
    if not settings.server_metrics:
        return _run_child(settings, directory)
    key = settings.api_key
    with scraping(settings.server_metrics, api_key=key, verify_tls=settings.verify_tls) as scraper:
        try:
            report = _run_child(settings, directory)
        except LoadInterrupted as interrupted:
            if interrupted.report is None:
                raise
            scraper.stop()
            document = attach(interrupted.report, scraper, directory, key)
            raise LoadInterrupted(document, interrupted.path) from None
    return attach(report, scraper, directory, key)


def _run_child(settings: LoadSettings, directory: Path) -> LoadReport:
    environment = dict(os.environ)
    environment.pop(API_KEY_ENV, None)
    if settings.api_key:
        environment[API_KEY_ENV] = settings.api_key.reveal()
    command = locust_command(settings, directory)
    # Its own session, so a terminal's Ctrl-C reaches the child only once, from here.
    child = subprocess.Popen(command, env=environment, start_new_session=True)
    path = directory / JSON_NAME
    try:
        code = child.wait()
    except KeyboardInterrupt:
        # One SIGINT makes locust write the results so far and exit.
        child.send_signal(signal.SIGINT)
        try:
            child.wait(INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        report = _read(path) if path.is_file() else None
        raise LoadInterrupted(report, path if report is not None else None) from None
    if code not in (0, 3):
        raise GeneratorFailed(f"the load generator failed (exit code {code})", code)
    try:
        return _read(path)
    except ResultError as exc:
        raise GeneratorFailed(f"no results: {exc}", code) from None


def _read(path: Path) -> LoadReport:
    document = read_document(path)
    if not isinstance(document, LoadReport):
        raise ResultError(f"{path}: not a load result")
    return document


def preflight(settings: LoadSettings) -> None:
    """One tiny request: no HTTP answer, or a refusal that every request would get, raises
    :class:`EndpointUnavailable`."""
    origin = Origin.from_url(settings.base_url)
    url = f"{settings.base_url.rstrip('/')}/chat/completions"
    body = json.dumps(
        {
            "model": settings.model,
            "messages": [{"role": "user", "content": "Say OK."}],
            "max_tokens": 1,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Encoding": "identity",
        "Content-Length": str(len(body)),
    }
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key.reveal()}"
    connection = Connection(
        origin,
        verify_tls=settings.verify_tls,
        read_timeout_s=min(settings.timeout_s, PREFLIGHT_TIMEOUT_S),
        connect_timeout_s=min(settings.timeout_s, 10.0),
        limits=replace(
            settings.limits,
            total_timeout_s=min(settings.limits.total_timeout_s, PREFLIGHT_TIMEOUT_S),
        ),
    )
    key = settings.api_key
    try:
        _, response = connection.request(
            request_head("POST", f"{origin.prefix}/chat/completions", headers), body
        )
        status = response.status
        # Only a refusal's message matters, and only its start: an answer that never ends
        # (or trickles) must not hold the preflight until the total deadline.
        answer = _first_bytes(response, PREFLIGHT_BODY_BYTES) if status >= 300 else b""
    except HttpTransportError as exc:
        raise EndpointUnavailable(
            f"cannot reach {url} ({exc.kind}: {safe_text(str(exc), key, 300)}); check the "
            "URL and that the server is running"
        ) from None
    finally:
        connection.close()
    if status in _MEANINGFUL_REFUSALS and status not in _TRANSIENT:
        raise EndpointUnavailable(
            f"the endpoint refused a minimal request with HTTP {status}"
            f"{_error_message(answer, settings)}; check the model and the API key"
        )


def _first_bytes(response: Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (the connection is closed after, by the caller)."""
    kept = b""
    for _, piece in response.reads():
        kept += piece
        if len(kept) >= limit:
            break
    return kept[:limit]


def _error_message(body: bytes, settings: LoadSettings) -> str:
    try:
        message = parse_json(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f" ({safe_text(str(message), settings.api_key, 200)})"


def locust_command(settings: LoadSettings, directory: Path) -> list[str]:
    """The child's command line (never holding the API key)."""
    users = settings.effective_users
    port = _free_loopback_port()
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(STOCK_LOCUSTFILE),
        "--headless",
        "--host",
        settings.base_url,
        "-u",
        str(users),
        "-r",
        str(min(users, SPAWN_PER_PROCESS * settings.processes)),
        "--processes",
        str(settings.processes),
        # Master and workers talk over loopback on a free port (locust's default binds
        # port 5557 on every interface, and two runs at once would collide).
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--master-port",
        str(port),
        "--skip-log-setup",
        "--exit-code-on-error",
        "0",
        "--model",
        settings.model,
        "--max-tokens",
        str(settings.max_tokens),
        "--input-tokens",
        str(settings.input_tokens),
        "--request-timeout",
        str(settings.timeout_s),
        "--arrival",
        settings.arrival,
        "--seed",
        str(settings.seed),
        "--warmup",
        f"{settings.warmup_s}s",
        "--report-dir",
        str(directory),
        "--max-error-rate",
        repr(settings.max_error_rate),
        "--abort-after",
        repr(settings.abort_after_s),
        "--max-backoff",
        repr(settings.max_backoff_s),
        "--total-timeout",
        repr(settings.limits.total_timeout_s),
        "--max-body-bytes",
        str(settings.limits.max_body_bytes),
        "--max-events",
        str(settings.limits.max_events),
        "--max-line-bytes",
        str(settings.limits.max_line_bytes),
        "--max-interim-responses",
        str(settings.limits.max_interim_responses),
        "--max-header-bytes",
        str(settings.limits.max_header_bytes),
        "--sweep-min-requests",
        str(settings.sweep_min_requests),
    ]
    if settings.sweep_warmup_s is not None:
        command += ["--sweep-warmup", f"{settings.sweep_warmup_s!r}s"]
    if settings.progress:
        command.append("--progress")
    if settings.sweep is None:
        command += ["-t", f"{math.ceil(settings.warmup_s + settings.duration_s)}s"]
    else:
        values = settings.sweep_rates or settings.sweep_users
        flag = "--sweep-rates" if settings.sweep == "rate" else "--sweep-users"
        command += [flag, ",".join(f"{v:g}" for v in values)]
        command += ["--sweep-time", f"{settings.sweep_time_s}s"]
    options: list[tuple[str, object]] = [
        ("--rate", settings.rate),
        ("--max-requests", settings.max_requests),
        ("--prompts", settings.prompts),
        ("--dump-samples", settings.dump_samples),
        ("--ramp", f"{settings.ramp_s}s" if settings.ramp_s else None),
        ("--step", f"{settings.step[0]}:{settings.step[1]}s" if settings.step else None),
    ]
    for flag, value in options:
        if value:
            command += [flag, str(value)]
    for flag, enabled in (
        ("--no-usage", not settings.include_usage),
        ("--no-stream", not settings.stream),
        ("--insecure", not settings.verify_tls),
    ):
        if enabled:
            command.append(flag)
    for name, bound in settings.slos.items():
        command += ["--slo", f"{name}={bound!r}"]
    return command + settings.workload.to_args()


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


__all__ = [
    "EndpointUnavailable",
    "GeneratorFailed",
    "LoadInterrupted",
    "locust_command",
    "preflight",
    "run_load",
]
