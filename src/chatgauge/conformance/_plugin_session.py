"""The plugin's one conformance context per test process, and its misconfigurations.

The first test that needs the endpoint opens the client, builds the
:class:`~chatgauge.conformance._context.CheckContext` (the same sending rules, key masking
and interrupt checkpoint as ``chatgauge check``) and sends the preflight request. What can
go wrong there is a misconfiguration, not a verdict: no model, a base URL that cannot be
used, an endpoint that does not answer, an unknown model, a base URL without its ``/v1``.
Each is one line (:class:`Misconfigured`), kept for the session so every later test gets
the same line at once (and sends nothing); none is a traceback. When the session collected
the shipped suite, the first such failure also stops the session: every check would fail
for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

import pytest

from chatgauge._client import ChatClient
from chatgauge.conformance._budget import Budget
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._interrupt import InterruptGuard
from chatgauge.conformance._preflight import run_preflight
from chatgauge.conformance._sending import Dispatcher
from chatgauge.conformance._settings import ConfigurationError, ConformanceSettings
from chatgauge.results import safe_text, terminal_text

PREFIX = "chatgauge: "


class Misconfigured(Exception):
    """The plugin cannot check the endpoint as configured (the message: one line)."""


@dataclass
class PluginSession:
    """The client, context and notices of one test process (created on first use)."""

    settings: ConformanceSettings
    guard: InterruptGuard = field(default_factory=InterruptGuard)
    client: ChatClient | None = None
    context: CheckContext | None = None
    problem: str | None = None
    notices: list[str] = field(default_factory=list)
    budget: Budget | None = None
    dispatcher: Dispatcher | None = None

    def spent(self) -> tuple[int, int, int]:
        """Requests, tokens and retries spent so far (the preflight's too, even when it
        showed a misconfiguration)."""
        if self.budget is None or self.dispatcher is None:
            return (0, 0, 0)
        return (self.budget.requests_sent, self.budget.tokens_used, self.dispatcher.retries)

    def open_client(self) -> ChatClient:
        """The session's client; :class:`Misconfigured` for an unusable base URL."""
        if self.problem is not None:
            raise Misconfigured(self.problem)
        if self.client is None:
            message = None
            try:
                config = self.settings.client_config()
            except ConfigurationError as exc:
                message = self._fail(str(exc))
            if message is not None:
                raise Misconfigured(message)
            self.client = ChatClient(config)
        return self.client

    def open_context(self) -> CheckContext:
        """The session's context, preflight sent; :class:`Misconfigured` when the settings
        or the preflight's answer make the run impossible."""
        if self.problem is not None:
            raise Misconfigured(self.problem)
        if self.context is not None:
            return self.context
        client = self.open_client()
        message = None
        if not self.settings.model:
            raise Misconfigured(self._fail("no model: pass --chatgauge-model NAME"))
        if len(self.settings.models) > 1:
            # One session shares one set of probes: several models are chatgauge check's job.
            raise Misconfigured(
                self._fail(
                    "the plugin checks one model; got "
                    f"{', '.join(self.settings.models)} (run chatgauge check for several)"
                )
            )
        # From the first use on (never in a session that does not use chatgauge), SIGINT is
        # recorded for the checks' checkpoints; pytest_unconfigure puts the handler back.
        self.guard.install()
        try:
            self.budget = self.settings.budget()
            self.dispatcher = Dispatcher(self.settings.send_policy(), sleep=self.guard.sleep)
            context = CheckContext(
                send_case=client.send,
                settings=self.settings.check_settings(),
                budget=self.budget,
                dispatcher=self.dispatcher,
                secret=self.settings.secret,
                checkpoint=self.guard.check,
                contract=self.settings.contract(),
                get=client.get,
            )
            run_preflight(
                context,
                client.get,
                client.config.base_url,
                on_notice=self._notice,
                flag_prefix="--chatgauge-",
            )
        except ConfigurationError as exc:
            message = self._fail(str(exc))
        if message is not None:
            raise Misconfigured(message)
        self.context = context
        return context

    def close(self) -> None:
        """Close the client (at the end of the session)."""
        if self.client is not None:
            self.client.close()
            self.client = None

    def _fail(self, text: str) -> str:
        self.problem = PREFIX + terminal_text(safe_text(text, self.settings.secret))
        return self.problem

    def _notice(self, text: str) -> None:
        self.notices.append(terminal_text(safe_text(text, self.settings.secret)))


def fail_misconfigured(
    request: pytest.FixtureRequest, message: str, *, stop: Callable[[], bool]
) -> NoReturn:
    """Fail the test with the one line (no traceback); stop the session when ``stop()``."""
    __tracebackhide__ = True
    if stop():
        request.session.shouldstop = message
    pytest.fail(message, pytrace=False)


__all__ = ["PREFIX", "Misconfigured", "PluginSession", "fail_misconfigured"]
