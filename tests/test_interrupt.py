"""Ctrl-C always stops a conformance run, even when Python swallows the KeyboardInterrupt.

The bug behind these tests: SIGINT arrived while Hypothesis's garbage-collector callback
ran, the ``KeyboardInterrupt`` raised there was "ignored" by the interpreter, and the run
went on to print PASSED with exit 0. The guard records the signal; the run stops at the
next check or request.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chatgauge
from chatgauge import ConformanceSettings
from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._interrupt import InterruptGuard
from chatgauge.conformance._session import ConformanceSession
from chatgauge.results import read_document
from chatgauge.results.conformance import ConformanceRun, RunStatus
from chatgauge.server import ServerConfig, background_server

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed in the main thread",
)


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


def _sigint_in_a_gc_callback() -> Callable[[], None]:
    """A gc callback that sends SIGINT to this process once; returns its remover."""
    fired: list[bool] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not fired:
            fired.append(True)
            signal.raise_signal(signal.SIGINT)  # handled right here, inside the callback

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)


@pytest.fixture(autouse=True)
def default_sigint_handler() -> Iterator[None]:
    """Each test starts from Python's default handler (this pytest session may have put
    chatgauge's plugin guard there) and gets it back as it was."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_guard_raises_like_the_default_handler_and_records() -> None:
    with InterruptGuard() as guard:
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert guard.interrupted
        with pytest.raises(KeyboardInterrupt):
            guard.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_guards_nest_and_each_records() -> None:
    with InterruptGuard() as outer, InterruptGuard() as inner:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert inner.interrupted
        assert outer.interrupted
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupt_inside_a_gc_callback_is_kept_for_the_next_check() -> None:
    remove = _sigint_in_a_gc_callback()
    try:
        with InterruptGuard() as guard:
            gc.collect()  # the callback gets SIGINT; nothing may be raised inside it
            assert guard.interrupted
            with pytest.raises(KeyboardInterrupt):
                guard.check()
    finally:
        remove()


def test_the_guard_leaves_a_programs_own_handler_alone() -> None:
    seen: list[int] = []

    def own(signum: int, frame: object) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, own)
    try:
        with InterruptGuard() as guard:
            assert signal.getsignal(signal.SIGINT) is own
            signal.raise_signal(signal.SIGINT)
            assert not guard.interrupted
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_run_interrupted_inside_a_gc_callback_stops_as_interrupted(
    tmp_path: Path, faithful_url: str
) -> None:
    settings = ConformanceSettings(
        base_url=faithful_url, model="pro", select=("B", "C", "D"), report_dir=tmp_path
    )
    judged: list[str] = []
    remove: list[Callable[[], None]] = []

    def on_result(result: object) -> None:
        judged.append(getattr(result, "id", ""))
        if len(judged) == 2:
            remove.append(_sigint_in_a_gc_callback())
            gc.collect()

    try:
        with ConformanceSession(settings) as session, pytest.raises(KeyboardInterrupt):
            session.run(on_result=on_result)
    finally:
        for undo in remove:
            undo()

    assert len(judged) == 2  # no check ran after the interrupt
    saved = read_document(tmp_path / "conformance.json")
    assert isinstance(saved, ConformanceRun)
    assert saved.status is RunStatus.INTERRUPTED
    assert saved.stop_reason == "interrupted (Ctrl-C)"
    assert len(saved.checks) == 2
    assert 'class="verdict interrupted"' in (tmp_path / "conformance.html").read_text()


def test_an_interrupted_run_counts_the_requests_of_the_check_in_progress(
    tmp_path: Path, faithful_url: str
) -> None:
    settings = ConformanceSettings(base_url=faithful_url, model="pro", select=("B2", "E"))
    with ConformanceSession(settings) as session:
        real_send = session.context.send_case
        sent: list[int] = []

        def send(case: ChatCase) -> ChatExchange:
            sent.append(1)
            if len(sent) == 6:
                raise KeyboardInterrupt  # Ctrl-C while a request is on the wire
            return real_send(case)

        session.context.send_case = send
        before_the_check: list[int] = []
        with pytest.raises(KeyboardInterrupt):
            session.run(
                on_result=lambda r: before_the_check.append(session.latest_run.requests_sent)
            )

    interrupted = session.latest_run
    assert interrupted.status is RunStatus.INTERRUPTED
    assert interrupted.requests_sent == len(sent) == 6
    assert interrupted.requests_sent > max(before_the_check, default=0)


def test_a_pytest_session_interrupted_inside_a_gc_callback_stops(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, faithful_url: str
) -> None:
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", source_root)
    pytester.makepyfile(
        """
        import gc
        import signal


        def test_judges_then_gets_ctrl_c_inside_gc(chatgauge_check):
            chatgauge_check("C1")
            fired = []

            def callback(phase, info):
                if phase == "start" and not fired:
                    fired.append(True)
                    signal.raise_signal(signal.SIGINT)

            gc.callbacks.append(callback)
            try:
                gc.collect()
            finally:
                gc.callbacks.remove(callback)


        def test_sends_again(chatgauge_send):
            chatgauge_send({"model": "pro", "max_tokens": 1, "messages": []})


        def test_never_runs():
            pass
        """
    )

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--chatgauge-base-url={faithful_url}", "--chatgauge-model=pro"
    )

    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    assert result.parseoutcomes().get("passed") == 1
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
