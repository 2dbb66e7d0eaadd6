"""chatgauge attached to one locust environment: its role, its current run, locust's events.

A :class:`LoadSession` lives as long as its environment. It plays the role the environment's
runner has (local, worker or master), and on every test start makes a new run of that role
(:mod:`chatgauge.loadtests._runs`) from the options as they are then (the web UI can change
them between tests). Locust's events reach it through the listeners
:func:`chatgauge.loadtests.attach` adds; worker and master talk through the custom messages
it registers with the runner.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Literal

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from chatgauge.loadtests._options import RunOptions, api_key_from_env
from chatgauge.loadtests._pacing import Share
from chatgauge.loadtests._runs import ActiveRun, LocalRun, MasterRun, MeasuringRun, WorkerRun
from chatgauge.loadtests._shipping import FLUSH_MESSAGE, SAMPLES_MESSAGE, SHARE_MESSAGE, boot_id
from chatgauge.loadtests._traffic import ModelLookup, Traffic
from chatgauge.results import DocumentError
from chatgauge.results.load import LoadReport

Role = Literal["local", "worker", "master"]


class LoadSession:
    """The chatgauge state of one locust environment (see the module docstring)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.run: ActiveRun | None = None
        self.models = ModelLookup()
        self.boot = boot_id()
        self._share = Share()
        self._interrupted = False

    # -- what the environment says -------------------------------------------------------

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

    @property
    def endpoint(self) -> str:
        """The base URL (``--host``)."""
        return self.environment.host or ""

    def options(self) -> RunOptions:
        """chatgauge's options as parsed now (defaults without a parser)."""
        parsed = self.environment.parsed_options
        if parsed is None:
            return RunOptions(api_key=api_key_from_env())
        return RunOptions.from_options(parsed)

    def users(self) -> int:
        """``-u``, else the runner's target user count."""
        parsed = self.environment.parsed_options
        configured = getattr(parsed, "num_users", None) if parsed is not None else None
        if configured:
            return int(configured)
        return int(getattr(self.environment.runner, "target_user_count", 0) or 0)

    def run_time_s(self) -> float | None:
        """``-t`` in seconds (``None``: until stopped)."""
        parsed = self.environment.parsed_options
        value = getattr(parsed, "run_time", None) if parsed is not None else None
        return float(value) if value else None

    @property
    def last_report(self) -> LoadReport | None:
        """The final ``load.json`` document of the last run that ended (local or master)."""
        return self.run.final if isinstance(self.run, MeasuringRun) else None

    @property
    def traffic(self) -> Traffic:
        """What the users of the current run share (``RuntimeError`` outside a run)."""
        traffic = self.run.traffic if self.run is not None else None
        if traffic is None:
            raise RuntimeError(
                "chatgauge users run inside a test: the test has not started in this process"
            )
        return traffic

    # -- what the runs ask of the environment --------------------------------------------

    def send(self, message: str, data: Any, client_id: str | None = None) -> None:
        """Send a custom message through the runner."""
        runner = self.environment.runner
        if runner is None:
            return
        if client_id is None:
            runner.send_message(message, data)
        else:
            runner.send_message(message, data, client_id=client_id)

    def stop_runner(self) -> None:
        """Stop the test: quit when headless (the run is over), else stop (the UI stays)."""
        runner = self.environment.runner
        if runner is None:
            return
        parsed = self.environment.parsed_options
        if parsed is not None and getattr(parsed, "headless", False):
            runner.quit()
        else:
            runner.stop()

    # -- locust's events -----------------------------------------------------------------

    def register_messages(self) -> None:
        """Register the worker/master messages with the runner (once, when attached)."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            runner.register_message(SAMPLES_MESSAGE, self._on_samples)
        elif isinstance(runner, WorkerRunner):
            runner.register_message(SHARE_MESSAGE, self._on_share)
            runner.register_message(FLUSH_MESSAGE, self._on_flush)
            # A worker is stopped by its master; a SIGINT (locust's master sends one to
            # workers still alive 3 s after it quit) asks it to quit like the master would,
            # instead of raising KeyboardInterrupt wherever it happens to be (a traceback).
            gevent.signal_handler(signal.SIGINT, self._on_interrupt)

    def on_test_start(self) -> None:
        """A test starts: a new run of this process's role, from the options as they are."""
        if self.run is not None:
            self.run.close()
        options = self.options()
        role = self.role
        if role == "master":
            master = MasterRun(options, self, boot=self.boot)
            self.run = master
            master.start(self._worker_ids())
        elif role == "worker":
            worker = WorkerRun(
                options,
                self,
                share=self._share,
                boot=self.boot,
                worker=self.worker_name,
                models=self.models,
            )
            self.run = worker
            worker.start()
        else:
            local = LocalRun(options, self, models=self.models)
            self.run = local
            local.start()

    def on_test_stopping(self) -> None:
        """Master, test stopping: have every worker ship its last samples first."""
        runner = self.environment.runner
        if isinstance(self.run, MasterRun) and isinstance(runner, MasterRunner):
            self.run.collect_final({str(client.id) for client in runner.clients.all})

    def on_test_stop(self) -> None:
        """The test stopped: ship (worker) or write (local, master) what is left."""
        if self.run is not None:
            self.run.end()

    def on_quitting(self) -> None:
        """Locust quits: the final results, and exit code 3 when the SLOs were missed."""
        if isinstance(self.run, MeasuringRun):
            self.run.finish()
            if self.run.exit_code is not None:
                self.environment.process_exit_code = self.run.exit_code

    # -- messages ------------------------------------------------------------------------

    def _worker_ids(self) -> list[str]:
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        clients = sorted(
            runner.clients.ready + runner.clients.spawning + runner.clients.running,
            key=lambda client: runner.worker_indexes.get(client.id, 0),
        )
        return [client.id for client in clients]

    def _on_samples(self, environment: Environment, msg: Any) -> None:
        if isinstance(self.run, MasterRun):
            self.run.receive(str(msg.node_id), msg.data)

    def _on_share(self, environment: Environment, msg: Any) -> None:
        try:
            self._share = Share.from_json(msg.data)
        except DocumentError as exc:
            print(
                f"chatgauge: the master sent an unreadable share ({exc}); running alone",
                file=sys.stderr,
            )
            self._share = Share()

    def _on_interrupt(self) -> None:
        runner = self.environment.runner
        if runner is not None and not self._interrupted:
            self._interrupted = True
            gevent.spawn(runner.quit)

    def _on_flush(self, environment: Environment, msg: Any) -> None:
        runner = self.environment.runner
        if runner is not None:
            # Stopping fires test_stop, which ships the final batch (see WorkerRun.end).
            gevent.spawn(runner.stop)


__all__ = ["LoadSession", "Role"]
