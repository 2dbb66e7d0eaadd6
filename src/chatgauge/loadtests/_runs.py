"""One test run in one locust process, in the role that process plays.

Each test start makes a new run object, with new parts, so nothing of a previous run (in
the web UI a test can be started again) carries over:

- :class:`LocalRun` (a single process): users record into the run's
  :class:`~chatgauge.loadtests._store.SampleStore`; a reporter greenlet prints the progress
  line (``--progress``) and rewrites ``DIR/load.json`` (``--report-dir``).
- :class:`WorkerRun`: users record into the :class:`~chatgauge.loadtests._shipping.Shipper`;
  nothing is summarised on a worker.
- :class:`MasterRun`: merges the workers' batches (:class:`~chatgauge.loadtests._shipping.Inbox`)
  into its store and reports like a local run.

``load.json`` is written atomically about once a second (less often when computing it takes
long: at most :data:`REPORT_DUTY_LIMIT` of the reporter's time) and at the end, so an
interrupted run keeps what it measured; ``load.html`` is written at the end.

A measuring run watches the endpoint (:class:`~chatgauge.loadtests._watch.EndpointWatch`):
after ``--abort-after`` seconds of nothing but failures it stops the run as ``aborted``.
Its exit code is 3 when the final document fails (:meth:`LoadReport.failures`: endpoint
down, error budget exceeded, SLOs missed).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Protocol

import gevent

from chatgauge.loadtests._assembly import RunFacts, assemble, open_store
from chatgauge.loadtests._monitor import HealthMonitor
from chatgauge.loadtests._options import RunOptions
from chatgauge.loadtests._output import write_report
from chatgauge.loadtests._pacing import Pacing, Share, split
from chatgauge.loadtests._progress import Progress
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._schedule import planned_duration
from chatgauge.loadtests._shipping import FLUSH_MESSAGE, SHARE_MESSAGE, Inbox, Shipper
from chatgauge.loadtests._spill import SpillWriter, dump_writer
from chatgauge.loadtests._traffic import ModelLookup, Traffic, prompts_for
from chatgauge.loadtests._watch import EndpointWatch, StepProgress
from chatgauge.results.load import LoadReport, LoadStatus

REPORT_INTERVAL_S: Final = 1.0
REPORT_DUTY_LIMIT: Final = 0.05
LIVE_SWITCH_INTERVAL_S: Final = 0.002
_NS: Final = 1_000_000_000


class RunHost(Protocol):
    """What a run needs from its locust environment (the session provides it)."""

    @property
    def endpoint(self) -> str:
        """The base URL (``--host``)."""

    def users(self) -> int:
        """The configured user count."""

    def run_time_s(self) -> float | None:
        """``-t`` in seconds (``None``: until stopped)."""

    def send(self, message: str, data: Any, client_id: str | None = None) -> None:
        """Send a custom message to the master (worker) or to workers (master)."""

    def stop_runner(self) -> None:
        """Stop the test (quit when headless)."""


class ActiveRun:
    """What every run has: its options, start, greenlets (killed by :meth:`close`)."""

    traffic: Traffic | None = None

    def __init__(self, options: RunOptions, host: RunHost) -> None:
        self.options = options
        self.host = host
        self.t0_ns = time.perf_counter_ns()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._greenlets: list[gevent.Greenlet] = []

    def spawn(self, body: Callable[[], None]) -> None:
        """Run ``body`` in a greenlet that :meth:`close` kills."""
        self._greenlets.append(gevent.spawn(body))

    def close(self) -> None:
        """Kill the run's greenlets (but the calling one)."""
        greenlets, self._greenlets = self._greenlets, []
        current = gevent.getcurrent()
        gevent.killall([g for g in greenlets if g is not current], block=False)

    def end(self) -> None:
        """The test stopped (``test_stop``)."""
        raise NotImplementedError


def _freeze_heap() -> None:
    # A full collection walks every object locust and its imports made (measured: 16-20 ms
    # pauses, and every stream's next stamp waits for them). Frozen objects are never
    # walked again; only what the run itself allocates is.
    gc.collect()
    gc.freeze()


class WorkerRun(ActiveRun):
    """A worker's run: users record, the shipper ships (see the module docstring)."""

    def __init__(
        self,
        options: RunOptions,
        host: RunHost,
        *,
        share: Share,
        boot: str,
        worker: str,
        models: ModelLookup,
    ) -> None:
        super().__init__(options, host)
        self.monitor = HealthMonitor()
        self._dump: SpillWriter | None = None
        if options.dump_samples:
            self._dump = dump_writer(Path(options.dump_samples), options.api_key)
        traffic = self.traffic = Traffic(
            options=options,
            prompts=prompts_for(options),
            pacing=Pacing.plan(
                options, share, t0_ns=self.t0_ns, boot_id=boot, run_time_s=host.run_time_s()
            ),
            sink=self._record,
            worker=worker,
            models=models,
        )
        self.shipper = Shipper(
            host.send,
            self.monitor,
            t0_ns=self.t0_ns,
            boot=boot,
            in_flight=lambda: traffic.in_flight,
            model=lambda: options.model or models.found or "",
            totals=lambda: (traffic.backoffs, traffic.unsent),
        )

    def start(self) -> None:
        """Start the probes and the ship loop."""
        self.monitor.start()
        _freeze_heap()
        self.spawn(self.shipper.run_forever)

    def _record(self, sample: RequestSample) -> None:
        self.shipper.add(sample)
        if self._dump is not None:
            self._dump.write(sample)

    def end(self) -> None:
        """Stop probing and ship the last batch (``final``)."""
        self.monitor.stop()
        if self._dump is not None:
            self._dump.close()
        self.close()
        if self.traffic is not None:
            self.traffic.count_unsent(time.perf_counter_ns())
        self.shipper.ship(final=True)


class MeasuringRun(ActiveRun):
    """A run whose results are computed here: a local run or the master's."""

    generates = True
    """Whether this process sends requests itself (its own ``--dump-samples`` file)."""

    def __init__(self, options: RunOptions, host: RunHost) -> None:
        super().__init__(options, host)
        self.store = open_store(
            options, t0_ns=self.t0_ns, run_time_s=host.run_time_s(), dump=self.generates
        )
        self.progress = Progress(self.t0_ns, from_schedule=options.latency_basis != "send")
        self.watch = EndpointWatch(options.verdicts.abort_after_s)
        self.steps: StepProgress | None = None
        if options.sweep_kind is not None:
            unit = "users" if options.sweep_kind == "users" else "req/s"
            labels = tuple(f"{value:g} {unit}" for value in options.sweep_values)
            self.steps = StepProgress(
                self.t0_ns,
                options.sweep_step_s,
                labels,
                from_schedule=options.latency_basis != "send",
            )
        self.final: LoadReport | None = None
        self.exit_code: int | None = None
        self._stop_ns: int | None = None
        self._stop_reason: str | None = None
        self._live_job: Any = None
        """The live document under way in gevent's thread pool (an ``AsyncResult``)."""

    def ingest(self, samples: list[RequestSample]) -> None:
        """Keep finished requests' samples; stop the test when ``--max-requests`` is reached
        or the endpoint is down."""
        self.store.add(samples)
        self.progress.observe(samples)
        self.watch.observe(samples)
        if self.steps is not None:
            self.steps.observe(samples)
        limit = self.options.max_requests
        if limit and self.progress.finished >= limit and self._stop_ns is None:
            self._stop_ns = time.perf_counter_ns()
            self.store.cap(self._stop_ns)
            gevent.spawn(self.host.stop_runner)
        self._abort_if_down()

    def _abort_if_down(self) -> None:
        if self._stop_ns is not None or self.final is not None:
            return
        reason = self.watch.down()
        if reason is not None:
            self._stop_ns = time.perf_counter_ns()
            self._stop_reason = reason
            self.store.cap(self._stop_ns)
            print(f"chatgauge: {reason}", file=sys.stderr, flush=True)
            gevent.spawn(self.host.stop_runner)

    def in_flight(self) -> int:
        """Requests in flight now."""
        raise NotImplementedError

    def poll_health(self) -> None:
        """Collect the health samples measured since the last poll."""

    def facts(self) -> RunFacts:
        """What the run knows besides its samples."""
        raise NotImplementedError

    def report(
        self,
        status: LoadStatus = LoadStatus.RUNNING,
        *,
        facts: RunFacts | None = None,
        now_ns: int | None = None,
    ) -> LoadReport:
        """The ``load.json`` document of the samples so far (as of ``now_ns``, with
        ``facts`` taken then: a thread assembling it must not read the run's live state)."""
        now = time.perf_counter_ns() if now_ns is None else now_ns
        facts = self.facts() if facts is None else facts
        return assemble(self.store, self.options, facts, status=status, now_ns=now)

    def report_forever(self) -> None:
        """Once a second: the progress line and (duty-limited) ``load.json`` (a greenlet)."""
        directory = Path(self.options.report_dir) if self.options.report_dir else None
        next_write = 0.0
        while True:
            gevent.sleep(REPORT_INTERVAL_S)
            self.poll_health()
            self._abort_if_down()
            self.store.flush()
            if self.options.progress:
                line = self.progress.line(self.in_flight())
                if self.steps is not None:
                    line = f"{self.steps.prefix()} {line}"
                print(line, flush=True)
            if directory is not None and time.perf_counter() >= next_write:
                started = time.perf_counter()
                self._write_live(directory)
                cost = time.perf_counter() - started
                next_write = started + max(REPORT_INTERVAL_S, cost / REPORT_DUTY_LIMIT)

    def _write_live(self, directory: Path) -> None:
        """Assemble and write the live ``load.json`` in a thread of gevent's pool.

        On the event loop those few milliseconds once a second would delay every stamp
        due meanwhile (measured: the TTFT p99 bias of 256 streams several times the minimal
        asyncio client's). In a thread, with a short GIL switch interval for its duration,
        the loop takes the GIL back within :data:`LIVE_SWITCH_INTERVAL_S` whenever a
        socket is ready. The store is held meanwhile, so the thread reads tallies nobody
        changes (samples still reach the file at once)."""
        facts, now = self.facts(), time.perf_counter_ns()
        store = self.store

        def job() -> None:
            report = self.report(facts=facts, now_ns=now)
            write_report(directory, report, self.options.api_key, html=False)

        interval = sys.getswitchinterval()
        store.hold()
        sys.setswitchinterval(LIVE_SWITCH_INTERVAL_S)
        try:
            self._live_job = gevent.get_hub().threadpool.spawn(job)
            self._live_job.get()
        finally:
            self._end_live(interval)

    def _end_live(self, interval: float | None = None) -> None:
        """Wait for a live document under way (uninterruptibly), then release the store."""
        job, self._live_job = self._live_job, None
        killed: gevent.GreenletExit | None = None
        while job is not None and not job.ready():
            try:
                job.wait()
            except gevent.GreenletExit as exc:
                killed = exc  # the run is ending: the thread reads the store until it ends
        self.store.release()
        if interval is not None:
            sys.setswitchinterval(interval)
        if killed is not None:
            raise killed

    def finish(self) -> LoadReport:
        """The final document (made once): status, exit code (with SLOs), both files."""
        if self.final is not None:
            return self.final
        self.close()
        self._end_live()
        planned = planned_duration(self.options, self.host.run_time_s())
        elapsed = (time.perf_counter_ns() - self.t0_ns) / _NS
        early = planned is not None and elapsed < planned - REPORT_INTERVAL_S
        stopped_by_us = self._stop_ns is not None
        status = LoadStatus.INTERRUPTED if early and not stopped_by_us else LoadStatus.COMPLETED
        if self._stop_reason is not None:
            status = LoadStatus.ABORTED
        report = self.final = self.report(status)
        self.exit_code = 3 if report.failures() else 0
        if self.options.report_dir:
            write_report(Path(self.options.report_dir), report, self.options.api_key, html=True)
        self.store.close()
        return report

    def end(self) -> None:
        """The test stopped: write the final results."""
        self.finish()

    def _facts(self, *, model: str, processes: int, backoffs: int = 0, unsent: int = 0) -> RunFacts:
        return RunFacts(
            endpoint=self.host.endpoint,
            model=self.options.model or model,
            users=self.host.users(),
            processes=processes,
            run_time_s=self.host.run_time_s(),
            started_at=self.started_at,
            t0_ns=self.t0_ns,
            stop_ns=self._stop_ns,
            stop_reason=self._stop_reason,
            backoffs=backoffs,
            unsent=unsent,
        )


class LocalRun(MeasuringRun):
    """A single process's run: its users, its probes, its results."""

    def __init__(self, options: RunOptions, host: RunHost, *, models: ModelLookup) -> None:
        super().__init__(options, host)
        self.monitor = HealthMonitor()
        self._models = models
        self.traffic = Traffic(
            options=options,
            prompts=prompts_for(options),
            pacing=Pacing.plan(
                options, Share(), t0_ns=self.t0_ns, boot_id="", run_time_s=host.run_time_s()
            ),
            sink=lambda sample: self.ingest([sample]),
            worker="local",
            models=models,
        )

    def start(self) -> None:
        """Start the probes and the reporter."""
        self.monitor.start()
        _freeze_heap()
        self.spawn(self.report_forever)

    def in_flight(self) -> int:
        """Requests this process's users have in flight."""
        return self.traffic.in_flight if self.traffic is not None else 0

    def poll_health(self) -> None:
        """Drain this process's monitor."""
        self.store.add_health(*self.monitor.drain())

    def facts(self) -> RunFacts:
        """One process; the model asked for or discovered."""
        traffic = self.traffic
        assert traffic is not None
        return self._facts(
            model=self._models.found or "",
            processes=1,
            backoffs=traffic.backoffs,
            unsent=traffic.unsent,
        )

    def end(self) -> None:
        """Stop probing, write the final results."""
        self.monitor.stop()
        self.poll_health()
        if self.traffic is not None and self.final is None:
            # A run stopped early (--max-requests, endpoint down) owed nothing after that.
            self.traffic.count_unsent(self._stop_ns or time.perf_counter_ns())
        self.finish()


class MasterRun(MeasuringRun):
    """The master's run: shares out, batches in, results like a local run."""

    generates = False

    def __init__(self, options: RunOptions, host: RunHost, *, boot: str) -> None:
        super().__init__(options, host)
        self.boot = boot
        self.inbox = Inbox(t0_ns=self.t0_ns, boot=boot)

    def start(self, workers: list[str]) -> None:
        """Send each worker its share (before locust's spawn messages) and start reporting."""
        shares = split(
            self.options,
            max(len(workers), 1),
            t0_ns=self.t0_ns,
            boot_id=self.boot,
            run_time_s=self.host.run_time_s(),
        )
        for worker, share in zip(workers, shares, strict=False):
            self.host.send(SHARE_MESSAGE, share.to_json(), worker)
        self.spawn(self.report_forever)

    def receive(self, node_id: str, data: Any) -> None:
        """One worker's batch."""
        batch = self.inbox.receive(node_id, data)
        if batch is not None:
            self.store.add_health(batch.cpu_percent, batch.hub_lag_ms)
            self.ingest(list(batch.samples))

    def collect_final(self, workers: set[str]) -> None:
        """Have every worker stop and ship its last samples; wait for them (bounded)."""
        if self.inbox.flushed(workers):
            return
        self.host.send(FLUSH_MESSAGE, None)
        self.inbox.wait_for_final(workers)
        missing = len(workers) - sum(self.inbox.flushed({w}) for w in workers)
        if missing:
            print(
                f"chatgauge: {missing} worker(s) did not ship their last samples",
                file=sys.stderr,
            )

    def in_flight(self) -> int:
        """Requests in flight on all workers."""
        return self.inbox.in_flight

    def facts(self) -> RunFacts:
        """As many processes as workers reported; the model asked for or a worker's."""
        inbox = self.inbox
        return self._facts(
            model=inbox.model,
            processes=max(inbox.workers_heard, 1),
            backoffs=inbox.backoffs,
            unsent=inbox.unsent,
        )


__all__ = [
    "REPORT_DUTY_LIMIT",
    "REPORT_INTERVAL_S",
    "ActiveRun",
    "LocalRun",
    "MasterRun",
    "MeasuringRun",
    "RunHost",
    "WorkerRun",
]
