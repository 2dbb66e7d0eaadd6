"""Open-loop slots that were due but never sent are counted, never silently dropped.

With fixed users, an open loop whose server is slower than the users can cover leaves a
backlog of due slots when the run ends. ``requests.unsent`` counts them (per process, from
the schedule once the users have stopped; the master adds up its workers'), so that every
slot of the measured window is either a measured request or an unsent one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._pacing import Pacing, Share
from chatgauge.server import ServerConfig, background_server
from tests.load_support import read_report, run_cli

NS = 1_000_000_000
T0 = 5 * 10**12


def pacing(**options: object) -> Pacing:
    settings = RunOptions(rate=10.0, arrival="constant", warmup_s=1.0, **options)  # type: ignore[arg-type]
    return Pacing.plan(settings, Share(), t0_ns=T0, boot_id="", run_time_s=5.0)


def test_the_slots_nobody_took_in_the_window_are_the_unsent_ones() -> None:
    # 10/s over 5 s, 1 s of warm-up: 40 measured slots (1.0 s ... 4.9 s); users took the
    # first 15 (0.0 ... 1.4 s: 10 warm-up slots, 5 measured), so 35 measured slots were left.
    schedule = pacing()
    taken = [schedule.next_start_ns() for _ in range(15)]
    assert taken[-1] == T0 + round(1.4 * NS)
    assert schedule.unsent(T0 + 5 * NS) == 35


def test_slots_past_the_planned_end_or_not_yet_due_are_not_owed() -> None:
    assert pacing().unsent(T0 + 60 * NS) == 40  # the users stopped late: the window ends at 5 s
    assert pacing().unsent(T0 + round(2.05 * NS)) == 11  # interrupted at 2.05 s: 1.0 ... 2.0


def test_the_request_budget_bounds_the_unsent_slots() -> None:
    # --max-requests 12: 2 were made (warm-up slots 0.0 and 0.1 s); the 8 other warm-up
    # slots take 8 more of the budget, so 2 measured slots (1.0, 1.1 s) were owed, not 40.
    schedule = pacing(max_requests=12)
    for _ in range(2):
        assert schedule.acquire()
        schedule.next_start_ns()
    assert schedule.unsent(T0 + 5 * NS) == 2


def test_a_closed_loop_owes_nothing() -> None:
    closed = Pacing.plan(RunOptions(), Share(), t0_ns=T0, boot_id="", run_time_s=5.0)
    assert closed.unsent(T0 + 5 * NS) == 0


@pytest.mark.parametrize("processes", [1, 2])
def test_every_slot_of_an_overloaded_window_is_measured_or_counted_unsent(
    tmp_path: Path, processes: int
) -> None:
    # 40 slots/s for 3 s; 2 users at about 220 ms a request send under 10/s of them.
    with background_server(ServerConfig(port=0, ttft_ms=200, itl_ms=1)) as url:
        result = run_cli(
            *("--base-url", url, "--model", "pro", "--rate", "40", "--arrival", "constant"),
            *("--users", "2", "--processes", str(processes), "--duration", "3s"),
            *("--warmup", "0s", "--max-tokens", "8", "--report-dir", "out"),
            cwd=tmp_path,
        )
    assert result.returncode in (0, 3), result.stdout + result.stderr
    counts = read_report(tmp_path / "out").requests
    assert counts.unsent > 60, counts  # most of the 120 slots never went out
    # The window's 120 slots (0 s ... 2.975 s), each a measured request or unsent; one
    # more (at exactly 3 s) can be measured, the window's end being inclusive.
    assert 120 <= counts.total + counts.unsent <= 121, counts
    assert f"+ {counts.unsent} more were due by the schedule but never sent" in result.stdout
