"""The plugin's session results: gathered from test reports, summed, written at the end.

Each check result a test produced travels in the test report's ``user_properties`` as
``("chatgauge", <CheckResult JSON>)`` (made safe, key masked) and is read back with
:meth:`CheckResult.from_json`; what a test spent goes along as ``("chatgauge_cost", ...)``.
``pytest_runtest_logreport`` sees every report where it arrives, in-process or on the
xdist controller from its workers, so the controller adds everything up and writes
``conformance.json`` and ``conformance.html``. The checks the session planned are the
shipped-suite items collected (on the controller: as its workers report them); a session
that ends before each has a result (Ctrl-C, ``-x``) is ``interrupted``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

from chatgauge._secret import Secret
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._runner import capability_table, new_run
from chatgauge.conformance._settings import ConfigurationError, ConformanceSettings
from chatgauge.results import safe_text, safe_tree, terminal_text
from chatgauge.results._conformance_text import (
    counts_text,
    coverage_text,
    status_text,
    unjudged_lines,
)
from chatgauge.results.conformance import CheckResult, ConformanceRun, Contract, RunStatus

RESULT_PROPERTY: Final = "chatgauge"
COST_PROPERTY: Final = "chatgauge_cost"
SUITE_MODULE: Final = "chatgauge.conformance.suite.test_conformance"
# A suite item's node id is relative to the rootdir, so often just its file name.
_SUITE_NODE: Final = re.compile(r"(^|/)test_conformance\.py::test_check\[(?P<id>[^\]]+)\]$")


def result_property(result: CheckResult, secret: Secret | None) -> tuple[str, str]:
    """The ``user_properties`` entry that carries ``result`` (made safe, key masked)."""
    return (RESULT_PROPERTY, json.dumps(safe_tree(result.to_json(), secret)))


def suite_check_id(item: pytest.Item) -> str | None:
    """The check id of a shipped-suite item; ``None`` for any other test."""
    module = getattr(item, "module", None)
    callspec = getattr(item, "callspec", None)
    if module is None or module.__name__ != SUITE_MODULE or callspec is None:
        return None
    check_id = callspec.params.get("check_id")
    return check_id if isinstance(check_id, str) else None


def suite_ids_of_nodes(node_ids: Sequence[str]) -> list[str]:
    """The check ids of the shipped-suite items among xdist node ids (a registered check's
    id in the suite's node shape; other tests are not part of the plan)."""
    known = {c.id for c in all_checks()}
    found = (_SUITE_NODE.search(node_id.replace("\\", "/")) for node_id in node_ids)
    return [m.group("id") for m in found if m and m.group("id") in known]


@dataclass
class SessionState:
    """Per-session plugin state, kept in ``config.stash``."""

    settings: ConformanceSettings
    started_at: str
    t0: float
    context: CheckContext | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)
    planned: dict[str, None] = field(default_factory=dict)
    requests_sent: int = 0
    tokens_used: int = 0
    retries: int = 0
    written: list[Path] = field(default_factory=list)
    write_error: str | None = None
    notices: list[str] = field(default_factory=list)
    made_to_fail: bool = False

    def plan(self, check_ids: Sequence[str]) -> None:
        """Add checks the session means to judge (kept in first-seen order, once each)."""
        self.planned.update(dict.fromkeys(check_ids))

    def document(self, *, interrupted: bool) -> ConformanceRun:
        """The session's conformance run, checks in catalogue order."""
        order = {c.id: n for n, c in enumerate(all_checks())}

        def position(check_id: str) -> tuple[int, str]:
            return (order.get(check_id, len(order)), check_id)

        ordered = sorted(self.results.values(), key=lambda r: position(r.id))
        planned = sorted({*self.planned, *self.results}, key=position)
        run = new_run(
            endpoint=self.settings.base_url or "",
            model=self.settings.model or "",
            settings=self.settings.run_settings("pytest"),
            planned=planned,
            started_at=self.started_at,
            contract=self._contract(),
        )
        # Capabilities are known where the checks ran (the controller, without xdist).
        capabilities = capability_table(self.context) if self.context is not None else {}
        return run.with_results(
            tuple(ordered),
            status=RunStatus.INTERRUPTED if interrupted else None,
            requests_sent=self.requests_sent,
            retries=self.retries,
            tokens_used=self.tokens_used,
            duration_s=round(time.perf_counter() - self.t0, 3),
            capabilities=capabilities,
        )

    def _contract(self) -> Contract:
        try:
            return self.settings.contract()
        except ConfigurationError:
            return Contract()


class ResultCollector:
    """Adds up check results and costs from the test reports; writes and prints at the end.

    Registered per session in ``pytest_configure``. Files are written on the controller
    only (an xdist worker has ``workerinput``).
    """

    def __init__(self, config: pytest.Config, state: SessionState) -> None:
        self.config = config
        self.state = state

    @property
    def _is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Plan the shipped-suite items that survived every deselection (-k, -m, select)."""
        self.state.plan([i for i in map(suite_check_id, session.items) if i is not None])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: Sequence[str]) -> None:
        """On the xdist controller: plan the suite items a worker collected."""
        self.state.plan(suite_ids_of_nodes(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take results and costs from teardown reports (a test's last report)."""
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                result = CheckResult.from_json(json.loads(str(value)))
                self.state.results[result.id] = result
            elif name == COST_PROPERTY:
                cost = json.loads(str(value))
                self.state.requests_sent += int(cost["requests"])
                self.state.tokens_used += int(cost["tokens"])
                self.state.retries += int(cost.get("retries", 0))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """On the controller: write the reports (when asked and when there are results),
        and keep a shipped-suite session whose run is incomplete from exiting 0 (pytest
        counts run-caused skips as fine; ``chatgauge check`` exits 4 for the same run;
        pytest returns ``session.exitstatus`` after this hook)."""
        if not self.state.results or self._is_worker:
            return
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        run = self.state.document(interrupted=interrupted)
        if (
            self.state.planned
            and exitstatus == pytest.ExitCode.OK
            and run.status is RunStatus.INCOMPLETE
        ):
            self.state.made_to_fail = True
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        directory = self.state.settings.report_dir
        if directory is None:
            return
        from chatgauge.conformance._output import write_reports

        try:
            self.state.written = write_reports(
                directory, run, self.state.settings.secret, junit=False
            )
        except OSError as exc:
            self.state.write_error = f"could not write reports to {directory}: {exc}"

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, exitstatus: int
    ) -> None:
        """Print the budget used, the run's status and coverage (with what was not judged),
        notices and the files written, when chatgauge did anything."""
        state = self.state
        if not (state.results or state.requests_sent or state.write_error or state.notices):
            return
        terminalreporter.write_sep("-", "chatgauge")
        terminalreporter.write_line(
            f"budget used: {state.requests_sent} requests, {state.tokens_used} tokens "
            f"(caps per process: {state.settings.max_requests} requests, "
            f"{state.settings.max_total_tokens} tokens)"
        )
        for notice in state.notices:
            terminalreporter.write_line(f"warning: {notice}", yellow=True)
        if state.results:
            interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
            run = state.document(interrupted=interrupted)
            secret = state.settings.secret
            terminalreporter.write_line(f"checks: {counts_text(run)}")
            status = run.status
            terminalreporter.write_line(
                terminal_text(safe_text(status_text(run), secret)),
                green=status is RunStatus.PASSED,
                red=status is RunStatus.FAILED,
                yellow=status in (RunStatus.INCOMPLETE, RunStatus.INTERRUPTED),
            )
            terminalreporter.write_line(f"coverage: {coverage_text(run.coverage)}")
            for line in unjudged_lines(run.coverage):
                terminalreporter.write_line(f"  {terminal_text(safe_text(line, secret))}")
            if state.made_to_fail:
                terminalreporter.write_line(
                    "exit status 1: the conformance run is incomplete (chatgauge check "
                    "would exit 4)",
                    yellow=True,
                )
        for path in state.written:
            terminalreporter.write_line(f"wrote {path}")
        if state.write_error:
            terminalreporter.write_line(state.write_error, red=True)


__all__ = [
    "COST_PROPERTY",
    "RESULT_PROPERTY",
    "SUITE_MODULE",
    "ResultCollector",
    "SessionState",
    "result_property",
    "suite_check_id",
    "suite_ids_of_nodes",
]
