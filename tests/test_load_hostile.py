"""``chatgauge load`` against every mode of the hostile server (issue 13, the load half).

Per mode, with limits and durations shrunk by flags so the module stays fast: the command
ends by itself well within its bounds, without a traceback; no 8 consecutive characters of
the API key reach stdout, stderr or any file written; no raw control character reaches the
terminal; and when the run got past the preflight, ``load.json`` is valid against the
shipped schema and counts every request the server read (the preflight's aside): failed,
cut off at the end or outside the window, never silently dropped. A mode whose very first
answer is unusable ends at the preflight with exit 2 and one line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.hostile_server import MODES, HostileServer, Timings
from tests.load_support import child_env, read_report, run_cli

KEY: Final = "sk-hostile-Zq7Xw2Lp9Vb4Nm8Kc3Hd6Tf1Ry5"
FRAGMENT: Final = 8
SMALL: Final = (
    *("--users", "2", "--duration", "1s", "--warmup", "0s"),
    *("--timeout", "0.5", "--total-timeout", "1.5"),
    *("--max-body-bytes", "1MiB", "--max-events", "2000", "--max-line-bytes", "256KiB"),
    *("--abort-after", "5s", "--max-backoff", "0.2s"),
)
CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
PREFLIGHT_ENDS: Final = {
    "no-answer",
    "early-hints",
    "trickle-head",
    "huge-head",
    "echo-key",
    "ansi-escaped",
    "surrogate-error",
}
"""Modes whose answer to the preflight's tiny request is no answer, a crossed limit or a
refusal every request would get: the run ends there (exit 2)."""
RUN_BOUND_S: Final = 60.0


def key_fragments(text: str) -> list[str]:
    pieces = {KEY[i : i + FRAGMENT] for i in range(len(KEY) - FRAGMENT + 1)}
    return sorted(p for p in pieces if p in text)


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    timings = Timings(
        interval_s=0.01,
        trickle_s=0.3,
        huge_bytes=5 * 1000 * 1000,
        huge_head_bytes=64 * 1024,
        long_bytes=256 * 1024,
        connection_s=30.0,
        lifetime_s=900.0,
    )
    with HostileServer(timings) as running:
        yield running


@pytest.mark.parametrize("mode", sorted(MODES))
def test_load_ends_safely_against_each_hostile_mode(
    tmp_path: Path, server: HostileServer, mode: str
) -> None:
    before = server.requests[mode]
    started = time.monotonic()
    done = run_cli(
        *("--base-url", server.base_url(mode), "--model", "m", *SMALL),
        *("--report-dir", "out"),
        cwd=tmp_path,
        env=child_env(OPENAI_API_KEY=KEY),
    )
    elapsed = time.monotonic() - started
    served = server.requests[mode] - before

    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-2000:]
    assert key_fragments(output) == []
    assert CONTROL.findall(output) == [], output[-2000:]
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    for path in written:
        assert key_fragments(path.read_bytes().decode("utf-8", "replace")) == [], path.name
    assert elapsed < RUN_BOUND_S, f"{mode} took {elapsed:.1f} s"
    if mode in PREFLIGHT_ENDS:
        assert done.returncode == 2, output[-2000:]
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return
    assert done.returncode in (0, 3), output[-2000:]
    document = read_report(tmp_path / "out")
    counts = document.requests
    assert counts.total + counts.outside_window == served - 1, (counts, served)
    if mode not in ("ok", "surrogate", "echo-key-content"):
        # Every other mode is a broken answer: the run fails, by its errors.
        assert done.returncode == 3, output[-2000:]
        assert document.errors
