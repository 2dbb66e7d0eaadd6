"""Locust users, load shapes and exact streaming metrics for chat-completions endpoints.

The public names load lazily: ``chatgauge.loadtests._metrics`` and the other locust-free
modules can be imported without importing locust (which monkey-patches the interpreter for
gevent). Touching a user, shape or :class:`LoadRun` imports locust and hooks chatgauge's
options and result collection into locust's events. See :mod:`chatgauge.loadtests._users`
for writing your own locustfile and :mod:`chatgauge.loadtests._shapes` for the load
models. The stock locustfile is ``locustfile.py`` next to this file::

    DIR=$(python -c 'import chatgauge.loadtests as m, os; print(os.path.dirname(m.__file__))')
    locust -f "$DIR/locustfile.py" --host http://127.0.0.1:8000/v1 --model NAME
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from chatgauge.loadtests._collector import LoadRun, load_run
    from chatgauge.loadtests._samples import RequestSample
    from chatgauge.loadtests._schedule import ArrivalSchedule
    from chatgauge.loadtests._shapes import OptionsShape
    from chatgauge.loadtests._users import ChatUser, RequestFailure, StreamingChatUser

STOCK_LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")
"""The locustfile ``chatgauge load`` runs (usable with plain ``locust -f``)."""

_HOMES: Final = {
    "ArrivalSchedule": "_schedule",
    "ChatUser": "_users",
    "LoadRun": "_collector",
    "OptionsShape": "_shapes",
    "RequestFailure": "_users",
    "RequestSample": "_samples",
    "StreamingChatUser": "_users",
    "load_run": "_collector",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "STOCK_LOCUSTFILE",
    "ArrivalSchedule",
    "ChatUser",
    "LoadRun",
    "OptionsShape",
    "RequestFailure",
    "RequestSample",
    "StreamingChatUser",
    "load_run",
]
