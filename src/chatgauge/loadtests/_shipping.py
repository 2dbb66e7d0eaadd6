"""Worker-to-master shipping: raw samples travel as typed batches over locust's messages.

A worker summarises nothing. Its :class:`Shipper` collects the samples its users record and
sends them, with the health monitor's samples and the requests it has in flight, as one
:class:`SampleBatch` every :data:`SHIP_INTERVAL_S` and a last one (``final``) when it stops,
through locust's own ``send_message``. The master's :class:`Inbox` decodes each batch with the
results codec (a batch it cannot read is refused with one line naming the field, never a
traceback) and puts the samples on the master's clock: a worker on another machine has
another monotonic clock, so its stamps are shifted by the difference of the two test-start
stamps, while samples from this machine (recognised by the kernel's boot id) are used as
they are. The merged statistics are therefore computed from exactly the samples the workers
took.

When the test stops, the master asks every worker to stop and ship its last batch
(:data:`FLUSH_MESSAGE`) and waits for them, at most :data:`FLUSH_TIMEOUT_S`: locust itself
gives late messages only half a second.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import gevent

from chatgauge.loadtests._monitor import HealthMonitor
from chatgauge.loadtests._samples import RequestSample
from chatgauge.results import DocumentError, JsonRecord, safe_tree

SHIP_INTERVAL_S: Final = 0.5
SAMPLES_MESSAGE: Final = "chatgauge_samples"
SHARE_MESSAGE: Final = "chatgauge_share"
FLUSH_MESSAGE: Final = "chatgauge_flush"
FLUSH_TIMEOUT_S: Final = 10.0

Send = Callable[[str, Any], None]


def boot_id() -> str:
    """This machine's identity for clock purposes (one monotonic clock per boot)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


@dataclass(frozen=True)
class SampleBatch(JsonRecord):
    """What a worker ships: samples since the last batch, health samples, its state
    (requests in flight, its start stamp and clock, the model it discovered) and its
    running totals (backoff waits taken; slots never sent, known in the final batch)."""

    samples: tuple[RequestSample, ...] = ()
    cpu_percent: tuple[float, ...] = ()
    hub_lag_ms: tuple[float, ...] = ()
    in_flight: int = 0
    t0_ns: int = 0
    boot_id: str = ""
    model: str = ""
    final: bool = False
    backoffs: int = 0
    unsent: int = 0

    def to_json(self) -> dict[str, Any]:
        """What the codec derives, built directly (a worker encodes between two reads)."""
        return {
            "samples": [sample.to_json() for sample in self.samples],
            "cpu_percent": list(self.cpu_percent),
            "hub_lag_ms": list(self.hub_lag_ms),
            "in_flight": self.in_flight,
            "t0_ns": self.t0_ns,
            "boot_id": self.boot_id,
            "model": self.model,
            "final": self.final,
            "backoffs": self.backoffs,
            "unsent": self.unsent,
        }


class Shipper:
    """A worker's outbox: samples wait here until the next batch leaves."""

    def __init__(
        self,
        send: Send,
        monitor: HealthMonitor,
        *,
        t0_ns: int,
        boot: str,
        in_flight: Callable[[], int],
        model: Callable[[], str],
        totals: Callable[[], tuple[int, int]] = lambda: (0, 0),
    ) -> None:
        self._send = send
        self._monitor = monitor
        self._t0_ns = t0_ns
        self._boot = boot
        self._in_flight = in_flight
        self._model = model
        self._totals = totals
        self._outbox: list[RequestSample] = []

    def add(self, sample: RequestSample) -> None:
        """Queue one finished request's sample for the next batch."""
        self._outbox.append(sample)

    def ship(self, *, final: bool = False) -> None:
        """Send the queued samples and the monitor's samples now."""
        batch, self._outbox = self._outbox, []
        cpu, hub = self._monitor.drain()
        backoffs, unsent = self._totals()
        message = SampleBatch(
            samples=tuple(batch),
            cpu_percent=tuple(cpu),
            hub_lag_ms=tuple(hub),
            in_flight=self._in_flight(),
            t0_ns=self._t0_ns,
            boot_id=self._boot,
            model=self._model(),
            final=final,
            backoffs=backoffs,
            unsent=unsent,
        )
        data = message.to_json()
        try:
            self._send(SAMPLES_MESSAGE, data)
        except (TypeError, ValueError) as exc:
            # Endpoint text is made safe where samples are taken; should anything unshippable
            # slip through anyway, the batch goes out made safe rather than being lost.
            print(f"chatgauge: re-sending a sample batch made safe ({exc})", file=sys.stderr)
            self._send(SAMPLES_MESSAGE, safe_tree(data))

    def run_forever(self) -> None:
        """Ship every :data:`SHIP_INTERVAL_S` (a greenlet's body; killed when the run ends)."""
        while True:
            gevent.sleep(SHIP_INTERVAL_S)
            self.ship()


def shifted(sample: RequestSample, shift: int) -> RequestSample:
    """``sample`` with every stamp moved by ``shift`` ns (onto the master's clock)."""

    def move(stamp: int | None) -> int | None:
        return None if stamp is None else stamp + shift

    return replace(
        sample,
        t_sched_ns=sample.t_sched_ns + shift,
        t_send_ns=sample.t_send_ns + shift,
        t_headers_ns=move(sample.t_headers_ns),
        t_first_event_ns=move(sample.t_first_event_ns),
        t_done_ns=sample.t_done_ns + shift,
        token_event_ns=tuple(stamp + shift for stamp in sample.token_event_ns),
    )


class Inbox:
    """The master's side: batches in, samples on the master's clock out."""

    def __init__(self, *, t0_ns: int, boot: str) -> None:
        self._t0_ns = t0_ns
        self._boot = boot
        self._in_flight: dict[str, int] = {}
        self._flushed: set[str] = set()
        self._totals: dict[str, tuple[int, int]] = {}
        self.refused = 0
        self.model = ""

    @property
    def workers_heard(self) -> int:
        """How many workers have shipped at least one batch."""
        return len(self._in_flight)

    @property
    def in_flight(self) -> int:
        """Requests in flight on all workers, as of their latest batches."""
        return sum(self._in_flight.values())

    @property
    def backoffs(self) -> int:
        """Backoff waits taken on all workers, as of their latest batches."""
        return sum(backoffs for backoffs, _ in self._totals.values())

    @property
    def unsent(self) -> int:
        """Slots never sent on all workers (known once their final batches came)."""
        return sum(unsent for _, unsent in self._totals.values())

    def receive(self, node_id: str, data: Any) -> SampleBatch | None:
        """The batch ``data`` holds, its samples on the master's clock; ``None`` (and one
        line on stderr) when it is not a batch this chatgauge reads."""
        try:
            batch = SampleBatch.from_json(data)
        except DocumentError as exc:
            self.refused += 1
            print(
                f"chatgauge: worker {node_id} sent a sample batch that cannot be read "
                f"(field {exc.field or 'batch'}: {exc.problem}); its samples are lost",
                file=sys.stderr,
            )
            return None
        self._in_flight[node_id] = batch.in_flight
        self._totals[node_id] = (batch.backoffs, batch.unsent)
        self.model = self.model or batch.model
        if batch.final:
            self._flushed.add(node_id)
        shift = 0 if batch.boot_id == self._boot else self._t0_ns - batch.t0_ns
        if not shift:
            return batch
        return replace(batch, samples=tuple(shifted(s, shift) for s in batch.samples))

    def wait_for_final(self, workers: set[str], timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait (yielding to the hub) until every one of ``workers`` shipped its final batch."""
        deadline = time.perf_counter() + timeout_s
        while workers - self._flushed and time.perf_counter() < deadline:
            gevent.sleep(0.02)

    def flushed(self, workers: set[str]) -> bool:
        """Whether every one of ``workers`` has shipped its final batch."""
        return not workers - self._flushed


__all__ = [
    "FLUSH_MESSAGE",
    "FLUSH_TIMEOUT_S",
    "SAMPLES_MESSAGE",
    "SHARE_MESSAGE",
    "SHIP_INTERVAL_S",
    "Inbox",
    "SampleBatch",
    "Shipper",
    "boot_id",
    "shifted",
]
