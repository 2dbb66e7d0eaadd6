"""How chatgauge joins a locust process: options at parse time, listeners per environment.

Nothing here runs on import. :func:`install` (called when a locustfile takes a locust-based
name from :mod:`chatgauge.loadtests`, e.g. ``StreamingChatUser``) adds chatgauge's options to
locust's parser and one ``init`` listener; that listener checks the options (a bad value is
one line and exit code 2, before any request) and calls :func:`attach` for the environment
locust made. :func:`attach` gives the environment its :class:`LoadSession`, registers the
worker/master messages with the runner and adds the ``test_start``, ``test_stopping``,
``test_stop`` and ``quitting`` listeners that drive it. A program that builds its own
``Environment`` calls :func:`attach` itself, after creating the runner and before starting
the test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

import gevent
from locust import events
from locust.env import Environment
from locust.event import Events

from chatgauge.loadtests._options import RunOptions, add_arguments
from chatgauge.loadtests._session import LoadSession

_SESSIONS: WeakKeyDictionary[Environment, LoadSession] = WeakKeyDictionary()
_WIRED: WeakSet[Events] = WeakSet()
_installed = False


def install() -> None:
    """Add chatgauge's options and its ``init`` listener to locust (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    events.init_command_line_parser.add_listener(  # type: ignore[no-untyped-call]
        add_arguments
    )
    events.init.add_listener(  # type: ignore[no-untyped-call]
        _on_init
    )


def attach(environment: Environment) -> LoadSession:
    """chatgauge's session for ``environment``, attached on first call (idempotent)."""
    session = _SESSIONS.get(environment)
    if session is not None:
        return session
    session = LoadSession(environment)
    _SESSIONS[environment] = session
    session.register_messages()
    hooks = environment.events
    if hooks not in _WIRED:
        # One dispatcher per event, whatever the number of environments sharing the events.
        _WIRED.add(hooks)
        for event, handler in (
            (hooks.test_start, LoadSession.on_test_start),
            (hooks.test_stopping, LoadSession.on_test_stopping),
            (hooks.test_stop, LoadSession.on_test_stop),
            (hooks.quitting, LoadSession.on_quitting),
        ):
            event.add_listener(_dispatcher(handler))  # type: ignore[no-untyped-call]
    return session


def load_session(environment: Environment) -> LoadSession:
    """The session :func:`attach` gave ``environment``; ``RuntimeError`` saying what to do
    when chatgauge was never attached to it."""
    session = _SESSIONS.get(environment)
    if session is None:
        raise RuntimeError(
            "chatgauge is not attached to this locust environment: take the users from "
            "chatgauge.loadtests (which hooks into locust's init event), or call "
            "chatgauge.loadtests.attach(environment) before the test starts"
        )
    return session


def _dispatcher(handler: Callable[[LoadSession], None]) -> Callable[..., None]:
    def dispatch(environment: Environment, **_: Any) -> None:
        session = _SESSIONS.get(environment)
        if session is not None:
            handler(session)

    return dispatch


def _quiet_interrupts() -> None:
    """Ctrl-C is how a run is stopped early, not an error: gevent's hub would print it
    (a bare ``KeyboardInterrupt`` line and a timestamp) before locust's own handling writes
    the results; counted as a non-error, it still reaches locust, unprinted."""
    hub = gevent.get_hub()
    if KeyboardInterrupt not in hub.NOT_ERROR:
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)


def _on_init(environment: Environment, **_: Any) -> None:
    _quiet_interrupts()
    if environment.parsed_options is not None:
        try:
            RunOptions.from_options(environment.parsed_options)
        except ValueError as exc:
            print(f"chatgauge: error: {exc}", file=sys.stderr)
            sys.exit(2)
    attach(environment)


__all__ = ["attach", "install", "load_session"]
