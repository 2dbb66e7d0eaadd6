"""The pytest plugin: options, fixtures and markers for conformance tests of an endpoint.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run of an
environment where chatgauge is installed. It therefore stays inert until used: it sends
nothing and fails nothing unless a test requests one of its fixtures or the shipped suite
(``pytest --pyargs chatgauge.conformance.suite``) is collected. It never imports locust,
whose import monkey-patches the interpreter.

Its options are the conformance option table (``conformance/_options.py``) rendered as
``--chatgauge-*`` flags and ``chatgauge_*`` ini options (``_plugin_options.py``); the
resolved value is the same :class:`~chatgauge.ConformanceSettings` that
``chatgauge check`` and :func:`chatgauge.run_conformance` use. Every check result a test
produces is attached to ``item.user_properties`` (``_plugin_results.py``), so it reaches
JUnit XML and crosses xdist; the controller writes ``conformance.json`` and
``conformance.html`` with ``--chatgauge-report-dir``. A misconfiguration (no model, a dead
or wrong endpoint, an unknown model, an unknown check id) is one line, never a traceback
(``_plugin_session.py``); everything printed has the key masked and control characters
neutralised. From the first use of the endpoint on, SIGINT is recorded for the session
(``_interrupt.py``), so Ctrl-C stops the checks even when the ``KeyboardInterrupt`` was
swallowed somewhere; a session that never uses chatgauge keeps its handler untouched.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from chatgauge._client import ChatClient
from chatgauge._models import ChatCase, ChatExchange
from chatgauge._secret import Secret
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._formatting import check_table
from chatgauge.conformance._plugin_options import (
    add_plugin_options,
    plugin_settings,
    show_plugin_config,
)
from chatgauge.conformance._plugin_results import (
    COST_PROPERTY,
    RESULT_PROPERTY,
    SUITE_MODULE,
    ResultCollector,
    SessionState,
    result_property,
    suite_check_id,
)
from chatgauge.conformance._plugin_session import (
    Misconfigured,
    PluginSession,
    fail_misconfigured,
)
from chatgauge.conformance._registry import Check, all_checks, select_checks
from chatgauge.conformance._results import CheckResult, CheckSkipped, Status
from chatgauge.conformance._runner import now_text, run_check
from chatgauge.conformance._settings import ConfigurationError, ConformanceSettings
from chatgauge.results import safe_text, safe_tree, terminal_text
from chatgauge.results._conformance_text import result_summary

NO_ENDPOINT = "no endpoint configured: pass --chatgauge-base-url URL or set OPENAI_BASE_URL"


class ChatgaugeConformanceWarning(pytest.PytestWarning):
    """A conformance check ended with a warning: legal but hazardous, or a soft rule missed.

    Turn them into failures with
    ``-W error::chatgauge.conformance.plugin.ChatgaugeConformanceWarning``.
    """


_STATE = pytest.StashKey[SessionState]()
_SESSION = pytest.StashKey[PluginSession]()
_SPENT_AT_SETUP = pytest.StashKey[tuple[int, int, int]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``chatgauge`` option group; every option has the ``--chatgauge-`` prefix."""
    group = parser.getgroup("chatgauge", "chatgauge conformance of a chat-completions endpoint")
    add_plugin_options(parser, group)
    group.addoption(
        "--chatgauge-list-checks",
        action="store_true",
        help="show the check catalogue and exit",
    )
    group.addoption(
        "--chatgauge-show-config",
        action="store_true",
        help="print every effective chatgauge setting and where it came from, then exit",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--chatgauge-list-checks`` / ``--chatgauge-show-config``: print and exit."""
    if config.getoption("chatgauge_show_config"):
        print(show_plugin_config(config))
        return 0
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
        "chatgauge_group(group): the conformance group (A-H) of a check; "
        "select with -m \"chatgauge_group(group='D')\"",
    )
    config.addinivalue_line(
        "markers",
        "chatgauge_tier(tier): the tier (S spec, C de-facto, I interop) of a check; "
        "select with -m \"chatgauge_tier(tier='S')\"",
    )
    settings = plugin_settings(config)
    if config.getoption("chatgauge_base_url"):
        # Given explicitly: a bad URL is a usage error now, not an error in every test.
        try:
            settings.client_config()
        except ConfigurationError as exc:
            raise pytest.UsageError(f"--chatgauge-base-url: {exc}") from None
    state = SessionState(settings=settings, started_at=now_text(), t0=time.perf_counter())
    config.stash[_STATE] = state
    config.stash[_SESSION] = PluginSession(settings)
    config.pluginmanager.register(ResultCollector(config, state), "chatgauge-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the SIGINT handler and close the client."""
    plugin_session = config.stash.get(_SESSION, None)
    if plugin_session is not None:
        plugin_session.guard.uninstall()
        plugin_session.close()


def check_marks(check: Check) -> list[pytest.MarkDecorator]:
    """The markers the shipped suite puts on the test item of ``check``."""
    return [
        pytest.mark.chatgauge_group(group=check.group),
        pytest.mark.chatgauge_tier(tier=check.tier.value),
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply ``--chatgauge-select`` / ``--chatgauge-ignore`` to the shipped suite."""
    settings = config.stash[_STATE].settings
    suite_ids = {id(item): suite_check_id(item) for item in items}
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
    requests0, tokens0, retries0 = item.stash.get(_SPENT_AT_SETUP, (0, 0, 0))
    requests, tokens, retries = _spent(item.config)
    if requests > requests0 or tokens > tokens0:
        cost = {
            "requests": requests - requests0,
            "tokens": tokens - tokens0,
            "retries": retries - retries0,
        }
        item.user_properties.append((COST_PROPERTY, json.dumps(cost)))


def _spent(config: pytest.Config) -> tuple[int, int, int]:
    plugin_session = config.stash.get(_SESSION, None)
    return (0, 0, 0) if plugin_session is None else plugin_session.spent()


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chatgauge_settings(pytestconfig: pytest.Config) -> ConformanceSettings:
    """The resolved settings (endpoint, model, caps, flags), as :func:`run_conformance` takes."""
    return pytestconfig.stash[_STATE].settings


def _runs_the_suite(config: pytest.Config) -> Callable[[], bool]:
    # Misconfigured, every shipped-suite check would fail for the same reason: stop then.
    return lambda: bool(config.stash[_STATE].planned)


@pytest.fixture(scope="session")
def chatgauge_client(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> ChatClient:
    """A :class:`ChatClient` for the configured endpoint; skips when none is configured
    (the shipped suite fails instead: it was asked to check an endpoint)."""
    __tracebackhide__ = True
    plugin_session = pytestconfig.stash[_SESSION]
    stop = _runs_the_suite(pytestconfig)
    if not plugin_session.settings.base_url:
        if stop():
            fail_misconfigured(request, f"chatgauge: {NO_ENDPOINT}", stop=stop)
        pytest.skip(NO_ENDPOINT)
    problem = None
    try:
        client = plugin_session.open_client()
    except Misconfigured as exc:
        problem = str(exc)
    if problem is not None:
        fail_misconfigured(request, problem, stop=stop)  # outside the except: no chained trace
    return client


@pytest.fixture(scope="session")
def chatgauge_context(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    chatgauge_client: ChatClient,
) -> CheckContext:
    """The session's :class:`CheckContext`: probes are sent once and shared by all tests.
    Its first use sends a one-token preflight request; a misconfiguration it shows fails
    the test with one line."""
    __tracebackhide__ = True
    plugin_session = pytestconfig.stash[_SESSION]
    problem = None
    try:
        context = plugin_session.open_context()
    except Misconfigured as exc:
        problem = str(exc)
    if problem is not None:
        fail_misconfigured(request, problem, stop=_runs_the_suite(pytestconfig))
    pytestconfig.stash[_STATE].context = context
    pytestconfig.stash[_STATE].notices = plugin_session.notices
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
        reason = None
        try:
            return self._context.send(case)
        except CheckSkipped as exc:
            reason = terminal_text(safe_text(exc.message, self._context.secret))
        pytest.skip(reason)


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
        """Run the matching checks (all when no pattern is given), in catalogue order.

        A pattern that matches no check fails the test with one line.
        """
        __tracebackhide__ = True
        problem = None
        try:
            checks = _resolve(patterns)
        except ValueError as exc:
            problem = f"chatgauge_check({', '.join(map(repr, patterns))}): {exc}"
        if problem is not None:
            pytest.fail(terminal_text(safe_text(problem, self._key)), pytrace=False)
        results = [run_check(self._context, c) for c in checks]
        self._properties.extend(result_property(r, self._key) for r in results)
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
            text = "\n\n".join(result_summary(self._safe(r)) for r in failed)
            pytest.fail(terminal_text(text), pytrace=False)
        for result in results:
            if result.status is Status.WARNING:
                message = terminal_text(safe_text(f"{result.id}: {result.message}", self._key))
                warnings.warn(ChatgaugeConformanceWarning(message), stacklevel=2)
        undecided = (Status.SKIPPED, Status.UNSUPPORTED)
        if results and all(r.status in undecided for r in results):
            reasons = "; ".join(
                f"{_verdict(r)}: {r.message}"
                if len(results) == 1
                else f"{r.id} {_verdict(r)}: {r.message}"
                for r in results
            )
            pytest.skip(terminal_text(safe_text(reasons, self._key)))
        return results

    def _safe(self, result: CheckResult) -> CheckResult:
        return CheckResult.from_json(safe_tree(result.to_json(), self._key))


def _verdict(result: CheckResult) -> str:
    """``unsupported``, or ``skipped (run)``: a skip names its kind."""
    kind = f" ({result.skip_kind.value})" if result.skip_kind is not None else ""
    return f"{result.status.value}{kind}"


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
    chatgauge_settings: ConformanceSettings,
) -> CheckRunner:
    """``chatgauge_check(*patterns)`` / ``chatgauge_check.require(*patterns)``: run checks."""
    return CheckRunner(chatgauge_context, request.node.user_properties, chatgauge_settings.secret)


__all__ = [
    "COST_PROPERTY",
    "RESULT_PROPERTY",
    "SUITE_MODULE",
    "ChatgaugeConformanceWarning",
    "CheckRunner",
    "Sender",
    "chatgauge_check",
    "chatgauge_client",
    "chatgauge_context",
    "chatgauge_send",
    "chatgauge_settings",
    "check_marks",
]
