"""One load run per locust environment: settings, schedule, samples, shipping and results.

Importing this module (``chatgauge.loadtests`` does) hooks chatgauge into locust's events:
its options join locust's parser, and each process gets a :class:`LoadRun` that plays the
role its runner has:

- **local** (a single process): users record samples here; a reporter greenlet prints the
  progress line (``--progress``) and rewrites ``DIR/load.json`` (``--report-dir``).
- **worker**: samples (and the health probes' figures) are shipped to the master as raw
  :meth:`RequestSample.to_json` batches every :data:`SHIP_INTERVAL_S` and when the worker
  stops, with locust's own ``send_message``; nothing is summarised on a worker.
- **master**: merges the batches into one sample list and reports like a local run. The
  merged statistics are computed from exactly the samples the workers took, so they equal
  what one process would have computed from all of them. When the test stops, the master
  first asks every worker to stop and ship its last batch, and waits for them (at most
  :data:`FLUSH_TIMEOUT_S`): locust itself gives late messages only half a second.

``load.json`` is written atomically about once a second (less often when computing it takes
long: at most 5 % of the reporter's time) and at the end, so an interrupted run keeps what it
measured; ``load.html`` is written at the end. A worker on another machine has another
monotonic clock: its samples are shifted by the difference of the two test-start stamps
(samples from the same machine, recognised by the kernel's boot id, are used as they are).
"""

from __future__ import annotations

import bisect
import gc
import json
import os
import socket
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal
from weakref import WeakKeyDictionary

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from chatgauge._version import __version__
from chatgauge.conformance._output import scrub, write_atomic
from chatgauge.loadtests._health import HealthInputs
from chatgauge.loadtests._http import Connection, HttpTransportError, Origin, request_head
from chatgauge.loadtests._metrics import compute_results, parse_slo
from chatgauge.loadtests._monitor import HealthMonitor
from chatgauge.loadtests._options import LoadSettings, add_arguments, api_key_from_env
from chatgauge.loadtests._prompts import PromptSet, load_prompts, synthetic_prompts
from chatgauge.loadtests._samples import RequestSample
from chatgauge.loadtests._schedule import ArrivalSchedule, planned_duration, rate_segments
from chatgauge.loadtests._stats import quantile

SHIP_INTERVAL_S: Final = 0.5
REPORT_INTERVAL_S: Final = 1.0
REPORT_DUTY_LIMIT: Final = 0.05
JSON_NAME: Final = "load.json"
HTML_NAME: Final = "load.html"
SAMPLES_MESSAGE: Final = "chatgauge_samples"
SHARE_MESSAGE: Final = "chatgauge_share"
FLUSH_MESSAGE: Final = "chatgauge_flush"
FLUSH_TIMEOUT_S: Final = 10.0
_NS: Final = 1_000_000_000

Role = Literal["local", "worker", "master"]
_RUNS: WeakKeyDictionary[Environment, LoadRun] = WeakKeyDictionary()


def load_run(environment: Environment) -> LoadRun:
    """The :class:`LoadRun` of ``environment`` (made on first use)."""
    run = _RUNS.get(environment)
    if run is None:
        run = LoadRun(environment)
        _RUNS[environment] = run
    return run


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


class LoadRun:
    """The chatgauge state of one locust environment (see the module docstring)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.settings = _settings(environment)
        self.prompts: PromptSet = synthetic_prompts(self.settings.input_words)
        self.samples: list[RequestSample] = []
        self.in_flight = 0
        self.t0_ns = time.perf_counter_ns()
        self.started_at = datetime.now(timezone.utc)
        self.status = "running"
        self.exit_code: int | None = None
        self.monitor = HealthMonitor()
        self._schedule: ArrivalSchedule | None = None
        self._share: dict[str, Any] = {"index": 0, "count": 1, "max_requests": None}
        self._budget: int | None = None
        self._model: str | None = None
        self._outbox: list[RequestSample] = []
        self._greenlets: list[gevent.Greenlet] = []
        self._stop_requested = False
        self._stop_ns: int | None = None
        self._finished = False
        self._boot_id = _boot_id()
        # Master/local figures, updated as samples come in (the progress line is cheap).
        self._cpu: list[float] = []
        self._hub: list[float] = []
        self._worker_in_flight: dict[str, int] = {}
        self._flushed: set[str] = set()
        self._completed = 0
        self._failed = 0
        self._tokens_since = 0
        self._ttft_sorted: list[float] = []
        self._last_report_ns = self.t0_ns

    # -- roles ---------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        """What this process does in the run."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            return "master"
        if isinstance(runner, WorkerRunner):
            return "worker"
        return "local"

    @property
    def worker_name(self) -> str:
        """The label samples of this process carry."""
        runner = self.environment.runner
        return str(runner.client_id) if isinstance(runner, WorkerRunner) else "local"

    def attach(self) -> None:
        """Register the worker/master messages with the runner (once, at init)."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            runner.register_message(SAMPLES_MESSAGE, self._on_samples)
        elif isinstance(runner, WorkerRunner):
            runner.register_message(SHARE_MESSAGE, self._on_share)
            runner.register_message(FLUSH_MESSAGE, self._on_flush)

    # -- the run's lifecycle -------------------------------------------------------------

    def begin(self) -> None:
        """Start of a test: read the (possibly updated) options and reset everything."""
        self.settings = _settings(self.environment)
        if self.settings.prompts:
            self.prompts = load_prompts(Path(self.settings.prompts))
        else:
            self.prompts = synthetic_prompts(self.settings.input_words, seed=self.settings.seed)
        self.samples = []
        self._outbox = []
        self.in_flight = 0
        self.t0_ns = time.perf_counter_ns()
        self._last_report_ns = self.t0_ns
        self.started_at = datetime.now(timezone.utc)
        self.status = "running"
        self.exit_code = None
        self._stop_requested = False
        self._stop_ns = None
        self._finished = False
        self._cpu, self._hub = [], []
        self._worker_in_flight = {}
        self._flushed = set()
        self._completed = self._failed = self._tokens_since = 0
        self._ttft_sorted = []
        self._kill_greenlets()
        role = self.role
        if role == "master":
            self._send_shares()
        else:
            self._arrange_share()
            self.monitor.drain()
            self.monitor.start()
            # A full collection walks every object locust and its imports made (measured:
            # 16-20 ms pauses, and every stream's next stamp waits for them). Frozen objects
            # are never walked again; only what the run itself allocates is.
            gc.collect()
            gc.freeze()
        if role == "worker":
            self._greenlets.append(gevent.spawn(self._ship_loop))
        else:
            self._greenlets.append(gevent.spawn(self._report_loop))

    def end(self) -> None:
        """End of a test (``test_stop``): stop probes, ship or report what is left."""
        role = self.role
        if role != "master":
            self.monitor.stop()
            if role == "local":
                self._absorb_health(*self.monitor.drain())
            self._dump_samples()
        if role == "worker":
            self._kill_greenlets()
            self._ship(final=True)
        else:
            self.finish()

    def collect_final(self) -> None:
        """Master, test stopping: have every worker stop and ship its last samples."""
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            return
        workers = {str(client.id) for client in runner.clients.all}
        pending = workers - self._flushed
        if not pending:
            return
        runner.send_message(FLUSH_MESSAGE, None)
        deadline = time.perf_counter() + FLUSH_TIMEOUT_S
        while workers - self._flushed and time.perf_counter() < deadline:
            gevent.sleep(0.02)

    def finish(self) -> None:
        """Write the final results (master/local); sets :attr:`exit_code` when SLOs were given."""
        if self.role == "worker":
            return
        self._kill_greenlets()
        planned = planned_duration(self.settings, _run_time(self.environment))
        elapsed = (time.perf_counter_ns() - self.t0_ns) / _NS
        ended_early = planned is not None and elapsed < planned - REPORT_INTERVAL_S
        self.status = "interrupted" if ended_early and not self._stop_requested else "completed"
        document = self.results()
        if self.settings.slos:
            met = (
                document.get("sweep_best") is not None
                if self.settings.sweep_kind
                else document.get("slo_met") is True
            )
            self.exit_code = 0 if met else 3
        self._finished = True
        if self.settings.report_dir:
            self._write(document, html=True)

    # -- what users call -------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take one request from the ``--max-requests`` budget; ``False`` when it is spent."""
        if self._budget is None:
            return True
        if self._budget <= 0:
            return False
        self._budget -= 1
        return True

    def next_start_ns(self) -> int | None:
        """The next intended start in open-loop mode; ``None`` in a closed loop."""
        return self._schedule.next_ns() if self._schedule is not None else None

    def record(self, sample: RequestSample) -> None:
        """Keep one finished request's sample."""
        if self.role == "worker":
            self._outbox.append(sample)
            if self.settings.dump_samples:
                self.samples.append(sample)
            return
        self._ingest([sample])
        if self.settings.max_requests and self._completed + self._failed >= (
            self.settings.max_requests
        ):
            self._request_stop()

    def model(self, connection: Connection) -> str:
        """``--model``, else the first id of ``GET /models`` (asked once per process)."""
        if self.settings.model:
            return self.settings.model
        if self._model is None:
            self._model = _discover_model(connection, self.settings)
        return self._model

    # -- worker side -------------------------------------------------------------------------

    def _on_share(self, environment: Environment, msg: Any) -> None:
        self._share = dict(msg.data)

    def _on_flush(self, environment: Environment, msg: Any) -> None:
        runner = self.environment.runner
        if runner is not None:
            # Stopping fires test_stop, which ships the final batch (see end()).
            gevent.spawn(runner.stop)

    def _arrange_share(self) -> None:
        share = self._share
        count = max(int(share.get("count", 1)), 1)
        index = int(share.get("index", 0))
        budget = share.get("max_requests")
        self._budget = int(budget) if budget is not None else (self.settings.max_requests or None)
        self._schedule = None
        if self.settings.rate is not None:
            # On the master's clock (same machine), arrivals count from the master's start,
            # so a sweep's rate steps line up with the windows the master measures.
            same_clock = share.get("boot_id") == self._boot_id and "t0_ns" in share
            self._schedule = ArrivalSchedule(
                rate_segments(self.settings, 1.0 / count),
                self.settings.arrival,
                seed=self.settings.seed + index,
                phase=index / count,
                start_ns=int(share["t0_ns"]) if same_clock else self.t0_ns,
            )

    def _ship_loop(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL_S)
            self._ship()

    def _ship(self, *, final: bool = False) -> None:
        batch, self._outbox = self._outbox, []
        cpu, hub = self.monitor.drain()
        runner = self.environment.runner
        if runner is None:
            return
        runner.send_message(
            SAMPLES_MESSAGE,
            {
                "samples": [sample.to_json() for sample in batch],
                "cpu_percent": cpu,
                "hub_lag_ms": hub,
                "in_flight": self.in_flight,
                "t0_ns": self.t0_ns,
                "boot_id": self._boot_id,
                "final": final,
            },
        )

    # -- master side ---------------------------------------------------------------------

    def _send_shares(self) -> None:
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        clients = sorted(
            runner.clients.ready + runner.clients.spawning + runner.clients.running,
            key=lambda client: runner.worker_indexes.get(client.id, 0),
        )
        total = self.settings.max_requests
        for index, client in enumerate(clients):
            budget = None
            if total:
                budget = total // len(clients) + (1 if index < total % len(clients) else 0)
            runner.send_message(
                SHARE_MESSAGE,
                {
                    "index": index,
                    "count": len(clients),
                    "max_requests": budget,
                    "t0_ns": self.t0_ns,
                    "boot_id": self._boot_id,
                },
                client_id=client.id,
            )

    def _on_samples(self, environment: Environment, msg: Any) -> None:
        data = msg.data
        shift = 0 if data.get("boot_id") == self._boot_id else self.t0_ns - int(data["t0_ns"])
        samples = [RequestSample.from_json(item) for item in data.get("samples", ())]
        if shift:
            samples = [_shifted(sample, shift) for sample in samples]
        self._worker_in_flight[str(msg.node_id)] = int(data.get("in_flight", 0))
        if data.get("final"):
            self._flushed.add(str(msg.node_id))
        self._absorb_health(data.get("cpu_percent", []), data.get("hub_lag_ms", []))
        self._ingest(samples)
        total = self._completed + self._failed
        if self.settings.max_requests and total >= self.settings.max_requests:
            self._request_stop()

    # -- master/local reporting --------------------------------------------------------------

    def _ingest(self, samples: list[RequestSample]) -> None:
        self.samples.extend(samples)
        for sample in samples:
            if sample.ok:
                self._completed += 1
                self._tokens_since += sample.output_tokens
                first = sample.t_first_token_ns
                if first is not None:
                    bisect.insort(self._ttft_sorted, (first - sample.t_send_ns) / 1e6)
            else:
                self._failed += 1

    def _absorb_health(self, cpu: list[float], hub: list[float]) -> None:
        self._cpu.extend(cpu)
        self._hub.extend(hub)

    def _request_stop(self) -> None:
        if self._stop_requested:
            return
        self._stop_requested = True
        self._stop_ns = time.perf_counter_ns()
        gevent.spawn(self._stop_runner)

    def _stop_runner(self) -> None:
        runner = self.environment.runner
        if runner is None:
            return
        options = self.environment.parsed_options
        if options is not None and getattr(options, "headless", False):
            runner.quit()
        else:
            runner.stop()

    def _report_loop(self) -> None:
        next_write = 0.0
        while True:
            gevent.sleep(REPORT_INTERVAL_S)
            if self.role == "local":
                self._absorb_health(*self.monitor.drain())
            if self.settings.progress:
                print(self.progress_line(), flush=True)
            if self.settings.report_dir and time.perf_counter() >= next_write:
                started = time.perf_counter()
                self._write(self.results(), html=False)
                cost = time.perf_counter() - started
                next_write = started + max(REPORT_INTERVAL_S, cost / REPORT_DUTY_LIMIT)

    def progress_line(self) -> str:
        """``elapsed  done  failed  in flight  output tok/s  TTFT p50/p99`` since the start."""
        now = time.perf_counter_ns()
        interval = max(now - self._last_report_ns, 1) / _NS
        rate = self._tokens_since / interval
        self._tokens_since = 0
        self._last_report_ns = now
        in_flight = (
            sum(self._worker_in_flight.values()) if self.role == "master" else self.in_flight
        )
        ttft = self._ttft_sorted
        ttft_text = "TTFT -"
        if ttft:
            # The same quantile rule as load.json, so the live line and the report agree.
            p50, p99 = quantile(ttft, 0.5), quantile(ttft, 0.99)
            ttft_text = f"TTFT p50 {p50:.1f} ms p99 {p99:.1f} ms"
        return (
            f"{(now - self.t0_ns) / _NS:7.1f}s  done {self._completed}  failed {self._failed}  "
            f"in flight {in_flight}  {rate:.1f} output tok/s  {ttft_text}"
        )

    def results(self) -> dict[str, Any]:
        """The ``load.json`` document for the samples so far (the API key scrubbed)."""
        settings = self.settings
        now = time.perf_counter_ns()
        run_time = _run_time(self.environment)
        planned = planned_duration(settings, run_time)
        start = self.t0_ns + round(settings.warmup_s * _NS)
        end = now if planned is None else min(now, self.t0_ns + round(planned * _NS))
        if self._stop_ns is not None:
            # Stopped by --max-requests: the window ends when the last request finished.
            end = min(end, self._stop_ns)
        slos = dict(parse_slo(text) for text in settings.slos)
        target_rate = settings.rate if settings.sweep_kind != "rate" else None
        document: dict[str, Any] = {
            "tool": {"name": "chatgauge", "version": __version__},
            "status": self.status,
            "endpoint": self.environment.host or "",
            "model": settings.model or self._model or "",
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "elapsed_s": (now - self.t0_ns) / _NS,
            "config": {
                **settings.public(),
                "model": settings.model or self._model or "",
                "mode": "open" if settings.rate else "closed",
                "users": _users(self.environment),
                "processes": max(len(self._worker_in_flight), 1),
                "run_time_s": run_time,
            },
            "window_ns": {"start": start, "end": max(start, end), "origin": self.t0_ns},
        }
        document.update(
            compute_results(
                self.samples,
                window=(start, max(start, end)),
                slos=slos,
                health=HealthInputs(
                    cpu_percent=list(self._cpu),
                    hub_lag_ms=list(self._hub),
                    target_rate=target_rate,
                    users=_users(self.environment),
                    processes=max(len(self._worker_in_flight), 1),
                ),
                origin_ns=self.t0_ns,
            )
        )
        if settings.sweep_kind is not None:
            document["sweep"], document["sweep_best"] = self._sweep(slos, now)
        scrubbed: dict[str, Any] = scrub(document, settings.api_key)
        return scrubbed

    def _sweep(
        self, slos: dict[str, float], now: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        settings = self.settings
        steps: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        step_ns = round(settings.sweep_step_s * _NS)
        for index, value in enumerate(settings.sweep_values):
            begin = self.t0_ns + index * step_ns
            if begin >= now:
                break
            start = begin + round(settings.warmup_s * _NS)
            end = min(begin + step_ns, now)
            result = compute_results(
                self.samples, window=(start, max(start, end)), slos=slos, origin_ns=self.t0_ns
            )
            metrics = result["metrics"]
            step = {
                "kind": settings.sweep_kind,
                "value": value,
                "complete": end == begin + step_ns,
                "window_s": result["window"]["length_s"],
                "throughput": result["throughput"],
                "requests": result["requests"],
                "metrics": {
                    key: metrics[key] for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")
                },
                "goodput": result["goodput"],
                "slo_met": result["slo_met"],
            }
            steps.append(step)
            if step["slo_met"] is True and step["complete"]:
                best = {"kind": settings.sweep_kind, "value": value, "step": index}
        return steps, best

    def _write(self, document: dict[str, Any], *, html: bool) -> None:
        directory = Path(self.settings.report_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False)
            write_atomic(directory / JSON_NAME, (text + "\n").encode())
            if html:
                from chatgauge.reports import render_load_html

                write_atomic(directory / HTML_NAME, render_load_html(document).encode())
        except OSError as exc:
            print(f"chatgauge: cannot write reports to {directory}: {exc}", file=sys.stderr)

    def _dump_samples(self) -> None:
        folder = self.settings.dump_samples
        if not folder:
            return
        path = Path(folder) / f"samples-{os.getpid()}.jsonl"
        lines = "".join(json.dumps(sample.to_json()) + "\n" for sample in self.samples)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lines.encode())
        except OSError as exc:
            print(f"chatgauge: cannot write samples to {path}: {exc}", file=sys.stderr)

    def _kill_greenlets(self) -> None:
        greenlets, self._greenlets = self._greenlets, []
        current = gevent.getcurrent()
        gevent.killall([g for g in greenlets if g is not current], block=False)


def _settings(environment: Environment) -> LoadSettings:
    options = environment.parsed_options
    if options is None:
        return LoadSettings(api_key=api_key_from_env())
    return LoadSettings.from_options(options)


def _run_time(environment: Environment) -> float | None:
    options = environment.parsed_options
    value = getattr(options, "run_time", None) if options is not None else None
    return float(value) if value else None


def _users(environment: Environment) -> int:
    options = environment.parsed_options
    runner = environment.runner
    configured = getattr(options, "num_users", None) if options is not None else None
    if configured:
        return int(configured)
    return int(getattr(runner, "target_user_count", 0) or 0)


def _shifted(sample: RequestSample, shift: int) -> RequestSample:
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


def _discover_model(connection: Connection, settings: LoadSettings) -> str:
    """The first model id ``GET {base}/models`` lists; ``""`` (and a warning) when it fails."""
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key.reveal()}"
    head = request_head("GET", f"{connection.origin.prefix}/models", headers)
    try:
        _, response = connection.request(head, b"")
        body = response.read_all(1 << 20)
        if response.status == 200:
            models = json.loads(body).get("data") or []
            if models and isinstance(models[0].get("id"), str):
                return str(models[0]["id"])
    except (HttpTransportError, ValueError, AttributeError):
        pass
    print("chatgauge: no --model given and GET /models named none", file=sys.stderr)
    return ""


def origin_of(environment: Environment) -> Origin:
    """The endpoint of ``environment.host`` (the base URL including ``/v1``)."""
    return Origin.from_url(environment.host or "")


def _add_options(parser: Any) -> None:
    add_arguments(parser)


def _on_init(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is not None:
        try:
            LoadSettings.from_options(environment.parsed_options)
            for text in getattr(environment.parsed_options, "slo", None) or ():
                parse_slo(text)
        except ValueError as exc:
            print(f"chatgauge: error: {exc}", file=sys.stderr)
            sys.exit(2)
    load_run(environment).attach()


def _on_test_start(environment: Environment, **_: Any) -> None:
    load_run(environment).begin()


def _on_test_stopping(environment: Environment, **_: Any) -> None:
    load_run(environment).collect_final()


def _on_test_stop(environment: Environment, **_: Any) -> None:
    load_run(environment).end()


def _on_quitting(environment: Environment, **_: Any) -> None:
    run = load_run(environment)
    if run.role == "worker":
        return
    run.finish()
    if run.exit_code is not None:
        environment.process_exit_code = run.exit_code


events.init_command_line_parser.add_listener(  # type: ignore[no-untyped-call]
    _add_options
)
events.init.add_listener(  # type: ignore[no-untyped-call]
    _on_init
)
events.test_start.add_listener(  # type: ignore[no-untyped-call]
    _on_test_start
)
events.test_stopping.add_listener(  # type: ignore[no-untyped-call]
    _on_test_stopping
)
events.test_stop.add_listener(  # type: ignore[no-untyped-call]
    _on_test_stop
)
events.quitting.add_listener(  # type: ignore[no-untyped-call]
    _on_quitting
)

__all__ = ["LoadRun", "load_run", "origin_of"]
