"""A conformance run from Python: :func:`run_conformance` and the session it drives.

``chatgauge check``, ``chatgauge demo`` and a user's own program all run the catalogue
through :class:`ConformanceSession`: check the settings, send a one-token preflight
request (``_preflight.py``: a misconfiguration stops the run there), run the selected
checks, and (with a report directory) rewrite ``conformance.json`` after every check and
write the HTML and JUnit pages at the end. A run interrupted with Ctrl-C writes what it
judged, with status ``interrupted`` (its request count includes the check in progress),
then lets the ``KeyboardInterrupt`` go on. In the main thread the session records SIGINT
(``_interrupt.py``), so an interrupt that Python swallowed still stops the run at the
next check or request.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from chatgauge._client import ChatClient, ClientConfig
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._interrupt import InterruptGuard
from chatgauge.conformance._output import write_json, write_reports
from chatgauge.conformance._preflight import EndpointUnreachable, run_preflight
from chatgauge.conformance._registry import Check
from chatgauge.conformance._runner import new_run, run_checks
from chatgauge.conformance._sending import Dispatcher
from chatgauge.conformance._settings import ConfigurationError, ConformanceSettings, Runner
from chatgauge.results.conformance import CheckResult, ConformanceRun, RunStatus

Notice = Callable[[str], None]
"""Receives a warning about the run as one line (e.g. the preflight got no 200)."""


class ReportWriteError(OSError):
    """The report directory could not be created or written."""


def _stderr_notice(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


class ConformanceSession:
    """One run against one endpoint; use as a context manager (it owns the HTTP client).

    Creating it checks the settings (:class:`ConfigurationError`). :meth:`preflight` is
    optional (:meth:`run` sends it when it was not sent); :attr:`latest` is the run so
    far, for a caller that is interrupted. Entering it installs the interrupt guard (main
    thread, default SIGINT handler only); leaving it restores the handler.
    """

    def __init__(self, settings: ConformanceSettings, *, runner: Runner = "api") -> None:
        self.settings = settings
        self.runner: Runner = runner
        self.client_config: ClientConfig = settings.client_config()
        self.checks: list[Check] = settings.selected_checks()
        self._check_settings = settings.check_settings()
        self.contract = settings.contract()
        self._policy = settings.send_policy()
        self._client: ChatClient | None = None
        self._context: CheckContext | None = None
        self._preflight_done = False
        self.guard = InterruptGuard()
        self.latest: ConformanceRun | None = None

    def __enter__(self) -> ConformanceSession:
        self._client = ChatClient(self.client_config).__enter__()
        self.guard.install()
        self._context = CheckContext(
            send_case=self._client.send,
            settings=self._check_settings,
            budget=self.settings.budget(),
            dispatcher=Dispatcher(self._policy, sleep=self.guard.sleep),
            secret=self.settings.secret,
            checkpoint=self.guard.check,
            contract=self.contract,
            get=self._client.get,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.guard.uninstall()
        if self._client is not None:
            self._client.__exit__(exc_type, exc, traceback)
            self._client = None

    @property
    def context(self) -> CheckContext:
        """The check context (probes, budget) of the open session."""
        if self._context is None:
            raise RuntimeError("use ConformanceSession as a context manager: with ...:")
        return self._context

    @property
    def endpoint(self) -> str:
        """The base URL requests go to."""
        return self.client_config.base_url

    def preflight(self, on_notice: Notice | None = None) -> None:
        """Send one tiny request and stop on a misconfiguration (``_preflight.py``):
        :class:`EndpointUnreachable` when no HTTP answer comes, :class:`ConfigurationError`
        for an unknown model or a base URL without its API prefix.

        Other answers than 200 still let the run go on (the A-group checks judge
        refusals), but most checks will be skipped, so ``on_notice`` is told why.
        """
        self._preflight_done = True
        assert self._client is not None, "use ConformanceSession as a context manager"
        prefix = "--chatgauge-" if self.runner == "pytest" else "--"
        run_preflight(
            self.context,
            self._client.get,
            self.endpoint,
            on_notice=on_notice or _stderr_notice,
            flag_prefix=prefix,
        )

    def run(
        self,
        *,
        on_result: Callable[[CheckResult], None] | None = None,
        on_notice: Notice | None = None,
    ) -> ConformanceRun:
        """Run the selected checks; write the reports when the settings name a directory.

        On ``KeyboardInterrupt`` the reports of the run so far (status ``interrupted``)
        are written, then the interrupt propagates. :class:`ReportWriteError` when the
        report directory cannot be written.
        """
        if not self._preflight_done:
            self.preflight(on_notice)
        directory = self.settings.report_dir
        if directory is not None:
            _make_directory(directory)
        secret = self.settings.secret
        recorded = self.settings.run_settings(self.runner)

        def step(run: ConformanceRun, result: CheckResult) -> None:
            self.latest = run
            if directory is not None:
                _guarded(directory, lambda: write_json(directory, run, secret))
            if on_result is not None:
                on_result(result)

        try:
            run = run_checks(
                self.context,
                self.checks,
                endpoint=self.endpoint,
                settings=recorded,
                on_result=step,
            )
            self.latest = run
            if directory is not None:
                _guarded(directory, lambda: write_reports(directory, run, secret))
        except KeyboardInterrupt:
            self._write_interrupted()
            raise
        return run

    def _write_interrupted(self) -> None:
        """Record the run so far as ``interrupted`` (the budget spent by the check in
        progress included) and write its reports."""
        partial = self.latest_run
        budget = self.context.budget
        self.latest = partial.with_results(
            partial.checks,
            status=RunStatus.INTERRUPTED,
            requests_sent=budget.requests_sent,
            retries=self.context.dispatcher.retries,
            tokens_used=budget.tokens_used,
            stop_reason="interrupted (Ctrl-C)",
        )
        interrupted = self.latest
        directory = self.settings.report_dir
        if directory is not None:
            secret = self.settings.secret
            _guarded(directory, lambda: write_reports(directory, interrupted, secret))

    @property
    def latest_run(self) -> ConformanceRun:
        """The run so far (before the first check: its header, status ``interrupted``)."""
        if self.latest is None:
            self.latest = new_run(
                endpoint=self.endpoint,
                model=self.context.model,
                settings=self.settings.run_settings(self.runner),
                planned=[c.id for c in self.checks],
                contract=self.contract,
            )
        return self.latest


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportWriteError(
            f"cannot create report directory {directory}: {exc.strerror or exc}"
        ) from None


def _guarded(directory: Path, write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write reports to {directory}: {exc.strerror or exc}"
        ) from None


def run_conformance(
    settings: ConformanceSettings,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    on_notice: Notice | None = None,
) -> ConformanceRun:
    """Run the conformance catalogue against one endpoint and return the typed result.

    ``settings`` says what to check and how (:class:`ConformanceSettings`);
    ``on_result`` is called after every check (progress); ``on_notice`` receives warnings
    about the run as text (default: printed to stderr). With ``settings.report_dir`` the
    reports are written there. Raises :class:`ConfigurationError` for unusable settings,
    :class:`EndpointUnreachable` when the endpoint gives no HTTP answer at all, and
    :class:`ReportWriteError` when the reports cannot be written.
    """
    with ConformanceSession(settings, runner="api") as session:
        return session.run(on_result=on_result, on_notice=on_notice)


__all__ = [
    "ConfigurationError",
    "ConformanceSession",
    "EndpointUnreachable",
    "Notice",
    "ReportWriteError",
    "run_conformance",
]
