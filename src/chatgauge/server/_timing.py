"""The latency model and the timing log: the server-side truth load benchmarks compare with.

Stamps are ``time.monotonic_ns()``. The log holds one JSON line per streamed request:
``{"id", "t_body_read_ns", "t_first_content_ns", "t_last_content_ns", "events"}`` where the
body stamp is taken once the request body was fully read, the content stamps right after
the first and the last content event were handed to the transport (after ``await send``),
and ``events`` counts content events (deltas carrying a token or a tool-call fragment);
the content stamps are null when no content event was written. Lines are buffered and
written at least once a second and at shutdown, so the log costs the event loop little.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from random import Random
from typing import IO, Final

FLUSH_INTERVAL_S: Final = 1.0
_FLUSH_AT_LINES: Final = 4096
_NS_PER_MS: Final = 1_000_000


class LatencyModel:
    """Deadlines of the content steps of a stream, relative to its body-read stamp.

    Step ``k`` is due at ``t0 + ttft + k * itl``, plus a uniform jitter in
    ``[-jitter, +jitter]`` drawn per deadline from a PRNG seeded with ``seed``.
    """

    def __init__(self, ttft_ms: float, itl_ms: float, jitter_ms: float, seed: int) -> None:
        self._ttft_ns = round(ttft_ms * _NS_PER_MS)
        self._itl_ns = round(itl_ms * _NS_PER_MS)
        self._jitter_ns = round(jitter_ms * _NS_PER_MS)
        self._rng = Random(seed)
        self.instant = not (self._ttft_ns or self._itl_ns or self._jitter_ns)

    def deadline_ns(self, t0_ns: int, step: int) -> int:
        """The monotonic time before which content step ``step`` must not be written."""
        jitter = self._rng.randint(-self._jitter_ns, self._jitter_ns) if self._jitter_ns else 0
        return t0_ns + self._ttft_ns + step * self._itl_ns + jitter


class TimingLog:
    """Buffered JSON-lines writer for per-stream timing records (one file per server run)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[str] = []
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Create (truncate) the file; raises ``OSError`` when it cannot be written."""
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")

    def record(
        self,
        response_id: str,
        t_body_read_ns: int,
        t_first_content_ns: int | None,
        t_last_content_ns: int | None,
        events: int,
    ) -> None:
        """Buffer one stream's record."""
        entry = {
            "id": response_id,
            "t_body_read_ns": t_body_read_ns,
            "t_first_content_ns": t_first_content_ns,
            "t_last_content_ns": t_last_content_ns,
            "events": events,
        }
        self._lines.append(json.dumps(entry) + "\n")
        if len(self._lines) >= _FLUSH_AT_LINES:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines."""
        if not self._lines:
            return
        self.open()
        assert self._file is not None
        self._file.write("".join(self._lines))
        self._file.flush()
        self._lines.clear()

    async def flush_periodically(self) -> None:
        """Flush every :data:`FLUSH_INTERVAL_S` until cancelled."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.flush()

    def close(self) -> None:
        """Flush what is left and close the file."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
