"""The pytest plugin: options, fixtures and markers for conformance tests of an endpoint.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run of an
environment where chatgauge is installed. It therefore stays inert until used: it sends
nothing and fails nothing unless a test requests one of its fixtures or the shipped suite
(``pytest --pyargs chatgauge.conformance.suite``) is collected. It never imports locust,
whose import monkey-patches the interpreter.

Every check result a test produces is attached to ``item.user_properties`` as
``("chatgauge", <CheckResult JSON>)``, so it reaches JUnit XML and crosses xdist; the
requests and tokens a test spent go along as ``("chatgauge_cost", {...})``. The controller
collects both from the test reports: it prints the budget used and, with
``--chatgauge-report-dir``, writes ``conformance.json`` and ``conformance.html``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from chatgauge._argtypes import positive_int
from chatgauge._client import ChatClient, ClientConfig
from chatgauge._models import ChatCase, ChatExchange
from chatgauge._secret import Secret
from chatgauge.conformance._budget import Budget
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._formatting import check_table, result_summary
from chatgauge.conformance._output import scrub
from chatgauge.conformance._registry import Check, all_checks, select_checks
from chatgauge.conformance._results import (
    CheckResult,
    CheckSkipped,
    Evidence,
    Severity,
    Status,
    Tier,
)
from chatgauge.conformance._runner import RunResult, run_check

RESULT_PROPERTY = "chatgauge"
COST_PROPERTY = "chatgauge_cost"
SUITE_MODULE = "chatgauge.conformance.suite.test_conformance"
NO_ENDPOINT = "no endpoint configured: pass --chatgauge-base-url URL or set OPENAI_BASE_URL"

_DEFAULT_BUDGET = Budget()
_DEFAULT_SETTINGS = Settings(model="")


class ChatgaugeConformanceWarning(pytest.PytestWarning):
    """A conformance check ended with a warning: legal but hazardous, or a soft rule missed.

    Turn them into failures with
    ``-W error::chatgauge.conformance.plugin.ChatgaugeConformanceWarning``.
    """


@dataclass(frozen=True)
class PluginSettings:
    """The endpoint and run settings resolved from the ``--chatgauge-*`` options and env.

    ``base_url`` falls back to ``OPENAI_BASE_URL`` and ``api_key`` to ``OPENAI_API_KEY``;
    ``None`` when neither is set. The caps bound each test process (each xdist worker).
    """

    base_url: str | None
    api_key: Secret | None
    model: str | None
    strict: bool = False
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    max_requests: int = _DEFAULT_BUDGET.max_requests
    max_total_tokens: int = _DEFAULT_BUDGET.max_tokens
    examples: int = _DEFAULT_SETTINGS.examples
    derandomize: bool = False
    insecure: bool = False
    report_dir: Path | None = None

    def client_config(self) -> ClientConfig:
        """The client configuration; raises ``ValueError`` for a missing or bad base URL."""
        if not self.base_url:
            raise ValueError(NO_ENDPOINT)
        return ClientConfig(
            base_url=self.base_url, api_key=self.api_key, verify_tls=not self.insecure
        )

    def check_settings(self) -> Settings:
        """The settings checks judge by; raises ``ValueError`` when no model is given."""
        if not self.model:
            raise ValueError("no model configured: pass --chatgauge-model NAME")
        return Settings(
            model=self.model,
            auth_required=bool(self.api_key),
            strict=self.strict,
            examples=self.examples,
            derandomize=self.derandomize,
        )

    def budget(self) -> Budget:
        """A fresh budget with the configured caps."""
        return Budget(max_requests=self.max_requests, max_tokens=self.max_total_tokens)


@dataclass
class _State:
    """Per-session plugin state, kept in ``config.stash``."""

    settings: PluginSettings
    started_at: str
    t0: float
    context: CheckContext | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests_sent: int = 0
    tokens_used: int = 0
    written: list[Path] = field(default_factory=list)
    write_error: str | None = None


_STATE = pytest.StashKey[_State]()
_SPENT_AT_SETUP = pytest.StashKey[tuple[int, int]]()


def _patterns(values: list[str] | None) -> tuple[str, ...]:
    """Check id patterns from repeated and/or comma-separated option values."""
    return tuple(p.strip() for v in values or () for p in v.split(",") if p.strip())


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``chatgauge`` option group; every option has the ``--chatgauge-`` prefix."""
    group = parser.getgroup("chatgauge", "chatgauge conformance of a chat-completions endpoint")
    group.addoption(
        "--chatgauge-base-url",
        metavar="URL",
        help="endpoint base URL incl. the API prefix, e.g. http://127.0.0.1:8000/v1 "
        "(default: $OPENAI_BASE_URL)",
    )
    group.addoption(
        "--chatgauge-api-key",
        metavar="KEY",
        help="API key (default: $OPENAI_API_KEY; prefer the variable, arguments are visible "
        "to other processes). Given a key, the endpoint must refuse requests without it",
    )
    group.addoption("--chatgauge-model", metavar="NAME", help="model name to send requests to")
    group.addoption(
        "--chatgauge-strict",
        action="store_true",
        help="validate bodies against the spec-literal schemas instead of the compat tier",
    )
    group.addoption(
        "--chatgauge-select",
        action="append",
        metavar="IDS",
        help="run only these checks of the shipped suite: ids, rule numbers (B2) or groups (D); "
        "comma-separated or repeated",
    )
    group.addoption(
        "--chatgauge-ignore",
        action="append",
        metavar="IDS",
        help="leave out these checks of the shipped suite (same forms as --chatgauge-select)",
    )
    group.addoption(
        "--chatgauge-max-requests",
        type=positive_int,
        default=_DEFAULT_BUDGET.max_requests,
        metavar="N",
        help="hard cap on requests per test process (default: %(default)s)",
    )
    group.addoption(
        "--chatgauge-max-tokens-total",
        type=positive_int,
        default=_DEFAULT_BUDGET.max_tokens,
        metavar="N",
        help="hard cap on tokens used per test process (default: %(default)s)",
    )
    group.addoption(
        "--chatgauge-examples",
        type=positive_int,
        default=_DEFAULT_SETTINGS.examples,
        metavar="N",
        help="Hypothesis examples per property (default: %(default)s)",
    )
    group.addoption(
        "--chatgauge-derandomize",
        action="store_true",
        help="make Hypothesis examples reproducible (for CI)",
    )
    group.addoption(
        "--chatgauge-insecure",
        action="store_true",
        help="do not verify the endpoint's TLS certificate",
    )
    group.addoption(
        "--chatgauge-list-checks",
        action="store_true",
        help="show the check catalogue and exit",
    )
    group.addoption(
        "--chatgauge-report-dir",
        metavar="DIR",
        help="write conformance.json and conformance.html to DIR at the end of the session",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--chatgauge-list-checks``: print the catalogue and exit, like ``--markers``."""
    if not config.getoption("chatgauge_list_checks"):
        return None
    checks = all_checks()
    print(check_table(checks))
    print(f"\n{len(checks)} checks. Select with --chatgauge-select ID,RULE,GROUP or -m, e.g.")
    print("  -m \"chatgauge_group(group='D')\"  or  -m \"chatgauge_tier(tier='S')\"")
    return 0


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and resolve the settings into the session state."""
    config.addinivalue_line(
        "markers",
        "chatgauge_group(group): the conformance group (A-G) of a check; "
        "select with -m \"chatgauge_group(group='D')\"",
    )
    config.addinivalue_line(
        "markers",
        "chatgauge_tier(tier): the tier (S spec, C de-facto, I interop) of a check; "
        "select with -m \"chatgauge_tier(tier='S')\"",
    )
    settings = _settings_from(config)
    if config.getoption("chatgauge_base_url"):
        # Given explicitly: a bad URL is a usage error now, not an error in every test.
        try:
            settings.client_config()
        except ValueError as exc:
            raise pytest.UsageError(f"--chatgauge-base-url: {exc}") from None
    state = _State(
        settings=settings,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        t0=time.perf_counter(),
    )
    config.stash[_STATE] = state
    config.pluginmanager.register(_Collector(config, state), "chatgauge-collector")


def _settings_from(config: pytest.Config) -> PluginSettings:
    key = config.getoption("chatgauge_api_key") or os.environ.get("OPENAI_API_KEY")
    report_dir = config.getoption("chatgauge_report_dir")
    return PluginSettings(
        base_url=config.getoption("chatgauge_base_url") or os.environ.get("OPENAI_BASE_URL"),
        api_key=Secret(key) if key else None,
        model=config.getoption("chatgauge_model"),
        strict=config.getoption("chatgauge_strict"),
        select=_patterns(config.getoption("chatgauge_select")),
        ignore=_patterns(config.getoption("chatgauge_ignore")),
        max_requests=config.getoption("chatgauge_max_requests"),
        max_total_tokens=config.getoption("chatgauge_max_tokens_total"),
        examples=config.getoption("chatgauge_examples"),
        derandomize=config.getoption("chatgauge_derandomize"),
        insecure=config.getoption("chatgauge_insecure"),
        # Relative to where pytest was invoked, whatever rootdir or cwd changes follow.
        report_dir=config.invocation_params.dir / report_dir if report_dir else None,
    )


def check_marks(check: Check) -> list[pytest.MarkDecorator]:
    """The markers the shipped suite puts on the test item of ``check``."""
    return [
        pytest.mark.chatgauge_group(group=check.group),
        pytest.mark.chatgauge_tier(tier=check.tier.value),
    ]


def _suite_check_id(item: pytest.Item) -> str | None:
    """The check id of a shipped-suite item; ``None`` for any other test."""
    module = getattr(item, "module", None)
    callspec = getattr(item, "callspec", None)
    if module is None or module.__name__ != SUITE_MODULE or callspec is None:
        return None
    check_id = callspec.params.get("check_id")
    return check_id if isinstance(check_id, str) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply ``--chatgauge-select`` / ``--chatgauge-ignore`` to the shipped suite."""
    settings = config.stash[_STATE].settings
    suite_ids = {id(item): _suite_check_id(item) for item in items}
    if not (settings.select or settings.ignore) or not any(suite_ids.values()):
        return
    try:
        kept = {c.id for c in select_checks(all_checks(), settings.select, settings.ignore)}
    except ValueError as exc:
        raise pytest.UsageError(f"--chatgauge-select/--chatgauge-ignore: {exc}") from None
    deselected = [i for i in items if suite_ids[id(i)] not in (None, *kept)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if i not in deselected]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note what the session had spent when the test started."""
    item.stash[_SPENT_AT_SETUP] = _spent(item.config)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Attach what the test spent (setup to teardown) so the controller can add it up."""
    requests0, tokens0 = item.stash.get(_SPENT_AT_SETUP, (0, 0))
    requests, tokens = _spent(item.config)
    if requests > requests0 or tokens > tokens0:
        cost = {"requests": requests - requests0, "tokens": tokens - tokens0}
        item.user_properties.append((COST_PROPERTY, json.dumps(cost)))


def _spent(config: pytest.Config) -> tuple[int, int]:
    state = config.stash.get(_STATE, None)
    if state is None or state.context is None:
        return (0, 0)
    return (state.context.budget.requests_sent, state.context.budget.tokens_used)


class _Collector:
    """Adds up check results and costs from the test reports; writes and prints at the end.

    Registered per session in ``pytest_configure``. ``pytest_runtest_logreport`` sees the
    reports wherever they arrive: in-process, or on the xdist controller from its workers.
    Files are written on the controller only.
    """

    def __init__(self, config: pytest.Config, state: _State) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take results and costs from teardown reports (a test's last report)."""
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                result = json.loads(str(value))
                self.state.results[result["id"]] = result
            elif name == COST_PROPERTY:
                cost = json.loads(str(value))
                self.state.requests_sent += int(cost["requests"])
                self.state.tokens_used += int(cost["tokens"])

    def pytest_sessionfinish(self) -> None:
        """Write the report files (controller only, and only when asked and there are results)."""
        directory = self.state.settings.report_dir
        if directory is None or not self.state.results or hasattr(self.config, "workerinput"):
            return
        from chatgauge.conformance._output import write_reports

        try:
            self.state.written = write_reports(directory, self._document(), junit=False)
        except OSError as exc:
            self.state.write_error = f"could not write reports to {directory}: {exc}"

    def _document(self) -> dict[str, Any]:
        state, settings = self.state, self.state.settings
        order = {c.id: n for n, c in enumerate(all_checks())}
        ordered = sorted(
            state.results.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"])
        )
        run = RunResult(
            endpoint=settings.base_url or "",
            model=settings.model or "",
            started_at=state.started_at,
            results=[_result_from_json(r) for r in ordered],
            requests_sent=state.requests_sent,
            tokens_used=state.tokens_used,
            duration_s=time.perf_counter() - state.t0,
            internal_errors=[
                f"{r['id']}: {r['message']}"
                for r in ordered
                if str(r["message"]).startswith("chatgauge internal error")
            ],
            settings={
                "strict": settings.strict,
                "auth_required": bool(settings.api_key),
                "examples": settings.examples,
                "max_requests": settings.max_requests,
                "max_total_tokens": settings.max_total_tokens,
                "runner": "pytest",
            },
        )
        document: dict[str, Any] = scrub(run.to_json(), settings.api_key)
        return document

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the budget used and the files written, when chatgauge did anything."""
        state = self.state
        if not (state.results or state.requests_sent or state.write_error):
            return
        terminalreporter.write_sep("-", "chatgauge")
        terminalreporter.write_line(
            f"budget used: {state.requests_sent} requests, {state.tokens_used} tokens "
            f"(caps per process: {state.settings.max_requests} requests, "
            f"{state.settings.max_total_tokens} tokens)"
        )
        if state.results:
            counts = Counter(r["status"] for r in state.results.values())
            shown = ", ".join(f"{counts[s.value]} {s.value}" for s in Status if counts[s.value])
            terminalreporter.write_line(f"checks: {shown}")
        for path in state.written:
            terminalreporter.write_line(f"wrote {path}")
        if state.write_error:
            terminalreporter.write_line(state.write_error, red=True)


def _result_from_json(data: Mapping[str, Any]) -> CheckResult:
    """A :class:`CheckResult` back from its JSON form (as attached to a report)."""
    return CheckResult(
        id=data["id"],
        title=data["title"],
        group=data["group"],
        tier=Tier(data["tier"]),
        severity=Severity(data["severity"]),
        status=Status(data["status"]),
        message=data["message"],
        rule=data["rule"],
        spec_ref=data["spec_ref"],
        evidence=tuple(Evidence(**e) for e in data.get("evidence") or ()),
    )


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chatgauge_settings(pytestconfig: pytest.Config) -> PluginSettings:
    """The resolved ``--chatgauge-*`` settings (endpoint, model, caps, flags)."""
    return pytestconfig.stash[_STATE].settings


@pytest.fixture(scope="session")
def chatgauge_client(chatgauge_settings: PluginSettings) -> Iterator[ChatClient]:
    """A :class:`ChatClient` for the configured endpoint; skips when none is configured."""
    if not chatgauge_settings.base_url:
        pytest.skip(NO_ENDPOINT)
    try:
        config = chatgauge_settings.client_config()
    except ValueError as exc:
        pytest.fail(f"chatgauge: {exc}", pytrace=False)
    with ChatClient(config) as client:
        yield client


@pytest.fixture(scope="session")
def chatgauge_context(
    pytestconfig: pytest.Config,
    chatgauge_client: ChatClient,
    chatgauge_settings: PluginSettings,
) -> CheckContext:
    """The session's :class:`CheckContext`: probes are sent once and shared by all tests."""
    try:
        settings = chatgauge_settings.check_settings()
    except ValueError as exc:
        pytest.fail(f"chatgauge: {exc}", pytrace=False)
    context = CheckContext(
        send_case=chatgauge_client.send,
        settings=settings,
        budget=chatgauge_settings.budget(),
    )
    pytestconfig.stash[_STATE].context = context
    return context


class Sender:
    """Sends one request through the session's context, counted against the budget."""

    def __init__(self, context: CheckContext) -> None:
        self._context = context

    def __call__(self, case: ChatCase | Mapping[str, Any]) -> ChatExchange:
        """Send ``case`` (a :class:`ChatCase`, or a request body) and return the exchange.

        Skips the test when the budget is exhausted.
        """
        __tracebackhide__ = True
        if not isinstance(case, ChatCase):
            case = ChatCase(body=dict(case), label="chatgauge_send")
        try:
            return self._context.send(case)
        except CheckSkipped as exc:
            pytest.skip(exc.message)


@pytest.fixture
def chatgauge_send(chatgauge_context: CheckContext) -> Sender:
    """``chatgauge_send(case_or_body) -> ChatExchange``: one request to the endpoint."""
    return Sender(chatgauge_context)


class CheckRunner:
    """Runs registered checks on the session's context and records their results.

    Each result is appended to ``user_properties`` (the test item's) as
    ``("chatgauge", <CheckResult JSON>)``, with the API key masked.

    ``runner(*patterns)`` returns the results; ``runner.require(*patterns)`` also turns
    them into the test's outcome. A pattern is a check id (exactly that check), a rule
    number such as ``B2`` (its checks) or a group letter such as ``D``.
    """

    def __init__(
        self,
        context: CheckContext,
        user_properties: list[tuple[str, object]],
        key: Secret | None,
    ) -> None:
        self._context = context
        self._properties = user_properties
        self._key = key

    def __call__(self, *patterns: str) -> list[CheckResult]:
        """Run the matching checks (all when no pattern is given), in catalogue order."""
        results = [run_check(self._context, c) for c in _resolve(patterns)]
        for result in results:
            public = scrub(result.to_json(), self._key)
            self._properties.append((RESULT_PROPERTY, json.dumps(public)))
        return results

    def require(self, *patterns: str) -> list[CheckResult]:
        """Run the matching checks and make the test's outcome their verdict.

        Any failed check fails the test with its message and evidence; a warning is issued
        as :class:`ChatgaugeConformanceWarning`; when no check could be judged (all skipped
        or unsupported) the test is skipped with their reasons.
        """
        __tracebackhide__ = True  # report the outcome at the test, not inside the plugin
        results = self(*patterns)
        failed = [r for r in results if r.status is Status.FAILED]
        if failed:
            text = "\n\n".join(result_summary(scrub(r.to_json(), self._key)) for r in failed)
            pytest.fail(text, pytrace=False)
        for result in results:
            if result.status is Status.WARNING:
                message = scrub(f"{result.id}: {result.message}", self._key)
                warnings.warn(ChatgaugeConformanceWarning(message), stacklevel=2)
        undecided = (Status.SKIPPED, Status.UNSUPPORTED)
        if results and all(r.status in undecided for r in results):
            reasons = "; ".join(
                f"{r.status.value}: {r.message}"
                if len(results) == 1
                else f"{r.id} {r.status.value}: {r.message}"
                for r in results
            )
            pytest.skip(scrub(reasons, self._key))
        return results


def _resolve(patterns: tuple[str, ...]) -> list[Check]:
    catalogue = all_checks()
    if not patterns:
        return catalogue
    by_id = {c.id: c for c in catalogue}
    chosen: dict[str, Check] = {}
    for pattern in patterns:
        if pattern in by_id:
            chosen[pattern] = by_id[pattern]
        else:
            chosen.update((c.id, c) for c in select_checks(catalogue, [pattern]))
    return [c for c in catalogue if c.id in chosen]


@pytest.fixture
def chatgauge_check(
    request: pytest.FixtureRequest,
    chatgauge_context: CheckContext,
    chatgauge_settings: PluginSettings,
) -> CheckRunner:
    """``chatgauge_check(*patterns)`` / ``chatgauge_check.require(*patterns)``: run checks."""
    return CheckRunner(chatgauge_context, request.node.user_properties, chatgauge_settings.api_key)


__all__ = [
    "COST_PROPERTY",
    "RESULT_PROPERTY",
    "ChatgaugeConformanceWarning",
    "CheckRunner",
    "PluginSettings",
    "Sender",
    "chatgauge_check",
    "chatgauge_client",
    "chatgauge_context",
    "chatgauge_send",
    "chatgauge_settings",
    "check_marks",
]
