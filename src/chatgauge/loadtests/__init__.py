"""Locust users, load shapes and exact streaming metrics for chat-completions endpoints.

From Python, :func:`run_load` runs a whole load test (locust in a child process) from a
:class:`LoadSettings` and returns the typed ``load.json`` (:class:`LoadReport`); this process
never imports locust, which monkey-patches the interpreter for gevent.

Inside locust (a locustfile), the users, the shape and :func:`attach` are the public names.
They load lazily, so ``chatgauge.loadtests._metrics`` and the other locust-free modules
import without locust; taking a locust-based name from this package (``StreamingChatUser``,
``ChatUser``, ``OptionsShape``, ``attach``...) adds chatgauge's options to locust's parser
and an ``init`` listener that attaches chatgauge's collector to the environment locust makes
(see :mod:`chatgauge.loadtests._hooks`). See :mod:`chatgauge.loadtests._users` for writing
your own locustfile and :mod:`chatgauge.loadtests._shapes` for the load models. The stock
locustfile is ``locustfile.py`` next to this file::

    DIR=$(python -c 'import chatgauge.loadtests as m, os; print(os.path.dirname(m.__file__))')
    locust -f "$DIR/locustfile.py" --host http://127.0.0.1:8000/v1 --model NAME
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from chatgauge.loadtests._capacity import SearchPlan
    from chatgauge.loadtests._capacity_run import run_capacity
    from chatgauge.loadtests._hooks import attach, load_session
    from chatgauge.loadtests._launch import (
        EndpointUnavailable,
        GeneratorFailed,
        LoadInterrupted,
        run_load,
    )
    from chatgauge.loadtests._samples import RequestSample
    from chatgauge.loadtests._schedule import ArrivalSchedule
    from chatgauge.loadtests._session import LoadSession
    from chatgauge.loadtests._settings import LoadSettings, LoadSettingsError
    from chatgauge.loadtests._shapes import OptionsShape
    from chatgauge.loadtests._spill import read_raw_samples
    from chatgauge.loadtests._users import ChatUser, RequestFailure, StreamingChatUser
    from chatgauge.loadtests._workloads import WorkloadOptions
    from chatgauge.results.load import LoadReport

STOCK_LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")
"""The locustfile ``chatgauge load`` runs (usable with plain ``locust -f``)."""

_PLAIN: Final = {
    "ArrivalSchedule": "chatgauge.loadtests._schedule",
    "EndpointUnavailable": "chatgauge.loadtests._launch",
    "GeneratorFailed": "chatgauge.loadtests._launch",
    "LoadInterrupted": "chatgauge.loadtests._launch",
    "LoadReport": "chatgauge.results.load",
    "LoadSettings": "chatgauge.loadtests._settings",
    "LoadSettingsError": "chatgauge.loadtests._settings",
    "RequestSample": "chatgauge.loadtests._samples",
    "SearchPlan": "chatgauge.loadtests._capacity",
    "WorkloadOptions": "chatgauge.loadtests._workloads",
    "run_capacity": "chatgauge.loadtests._capacity_run",
    "read_raw_samples": "chatgauge.loadtests._spill",
    "run_load": "chatgauge.loadtests._launch",
}
"""Names that never import locust."""

_LOCUST: Final = {
    "ChatUser": "chatgauge.loadtests._users",
    "LoadSession": "chatgauge.loadtests._session",
    "OptionsShape": "chatgauge.loadtests._shapes",
    "RequestFailure": "chatgauge.loadtests._users",
    "StreamingChatUser": "chatgauge.loadtests._users",
    "attach": "chatgauge.loadtests._hooks",
    "load_session": "chatgauge.loadtests._hooks",
}
"""Names that import locust; taking one hooks chatgauge into locust (see the docstring)."""


def __getattr__(name: str) -> Any:
    home = _PLAIN.get(name)
    if home is None:
        home = _LOCUST.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        importlib.import_module("chatgauge.loadtests._hooks").install()
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "STOCK_LOCUSTFILE",
    "ArrivalSchedule",
    "ChatUser",
    "EndpointUnavailable",
    "GeneratorFailed",
    "LoadInterrupted",
    "LoadReport",
    "LoadSession",
    "LoadSettings",
    "LoadSettingsError",
    "OptionsShape",
    "RequestFailure",
    "RequestSample",
    "SearchPlan",
    "StreamingChatUser",
    "WorkloadOptions",
    "attach",
    "load_session",
    "read_raw_samples",
    "run_capacity",
    "run_load",
]
