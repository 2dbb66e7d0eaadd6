"""Ctrl-C that always stops a run, even when the ``KeyboardInterrupt`` it raises is lost.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT
arrives. In a few places such an exception is swallowed: a garbage-collector callback (the
Hypothesis library times collections with one), a ``__del__`` method, a weakref callback.
Python prints ``Exception ignored in ...`` and carries on, and a run interrupted at that
moment would finish as if nothing happened.

:class:`InterruptGuard` installs a SIGINT handler that first *records* the interrupt, then
raises ``KeyboardInterrupt`` as the default handler does, unless the main thread is inside
a gc callback (where it would be lost). The run calls :meth:`InterruptGuard.check` between
checks and before every request, which raises ``KeyboardInterrupt`` once an interrupt was
recorded, so a lost one stops the run at the next step. The handler is installed only in
the main thread and only over Python's default handler or another guard's (a program's own
SIGINT handler is left alone), and the previous handler is restored on exit. Guards nest
(the pytest plugin's for the session, a run's inside it): each records, the outermost
decides whether to raise.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any, Final

_FRAMES_SEARCHED: Final = 8
_SLEEP_SLICE_S: Final = 0.1


def _in_gc_callback(frame: FrameType | None) -> bool:
    """Whether ``frame`` (or one of its callers, a few levels up) runs a gc callback."""
    codes = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    codes.discard(None)
    for _ in range(_FRAMES_SEARCHED):
        if frame is None:
            return False
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _is_guard(handler: object) -> bool:
    return isinstance(getattr(handler, "__self__", None), InterruptGuard)


class InterruptGuard:
    """Records SIGINT for the run (module docstring); a context manager."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> InterruptGuard:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    def install(self) -> bool:
        """Install the handler when allowed (main thread, default handler in place)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return False
        current = signal.getsignal(signal.SIGINT)
        if current is not signal.default_int_handler and not _is_guard(current):
            return False
        self._previous = current
        signal.signal(signal.SIGINT, self._handle)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Put the previous handler back (if this guard installed one)."""
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True
        if _is_guard(self._previous):
            self._previous(signum, frame)  # an outer guard records it too, and raises
        elif not _in_gc_callback(frame):
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` when an interrupt was recorded."""
        if self.interrupted:
            raise KeyboardInterrupt

    def sleep(self, seconds: float) -> None:
        """Sleep, in short slices, checking for a recorded interrupt between them."""
        end = time.monotonic() + max(seconds, 0.0)
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, _SLEEP_SLICE_S))


__all__ = ["InterruptGuard"]
