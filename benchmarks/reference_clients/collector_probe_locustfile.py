"""chatgauge's stock locustfile with the collector timed: what each second of a run costs.

Wraps three methods of the engine, inside the locust process only, and records every call
as ``[seconds since the run started, what, wall seconds, CPU seconds of the calling thread]``:
``add`` (requests recorded into the store: raw-samples file and live histograms), ``report``
(a live ``load.json`` document assembled; ``final`` for the exact one at the end) and
``write`` (a live document written; ``final-write`` for the last one, with the page). CPU
time is the calling thread's (the live document is made in a thread of gevent's pool while
the event loop goes on), what a busy machine does not inflate: the wall time includes
waiting for a core.
One more entry, ``rss-kb``, holds the peak RSS just before the final exact pass.
The list goes as JSON to ``$CHATGAUGE_COLLECTOR_PROBE`` when the process exits. Nothing else
changes: the users and the shape are the stock ones.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatgauge.loadtests import _output, _runs, _store
from chatgauge.loadtests.locustfile import ChatCompletionsUser, LoadShape
from chatgauge.results.load import LoadStatus

__all__ = ["ChatCompletionsUser", "LoadShape"]

_T0 = time.perf_counter()
_CALLS: list[tuple[float, str, float, float]] = []


def _peak_rss_kb() -> float:
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _timed(name: Callable[[tuple[Any, ...], dict[str, Any]], str], body: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kind = name(args, kwargs)
        if kind == "final":  # peak memory of the run itself, before the exact pass
            _CALLS.append((time.perf_counter() - _T0, "rss-kb", 0.0, _peak_rss_kb()))
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return body(*args, **kwargs)
        finally:
            wall, used = time.perf_counter() - started, time.thread_time() - cpu
            _CALLS.append((started - _T0, kind, wall, used))

    return wrapper


def _report_kind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    status = args[1] if len(args) > 1 else kwargs.get("status", LoadStatus.RUNNING)
    return "report" if status is LoadStatus.RUNNING else "final"


_store.SampleStore.add = _timed(lambda a, k: "add", _store.SampleStore.add)  # type: ignore[method-assign]
_runs.MeasuringRun.report = _timed(_report_kind, _runs.MeasuringRun.report)  # type: ignore[method-assign]


def _write_kind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return "final-write" if kwargs.get("html") else "write"


setattr(_runs, "write_report", _timed(_write_kind, _output.write_report))  # noqa: B010


@atexit.register
def _dump() -> None:
    # At exit, not on locust's quitting event: chatgauge's final report runs on that event.
    target = os.environ.get("CHATGAUGE_COLLECTOR_PROBE")
    if target:
        Path(target).write_text(json.dumps(_CALLS))
