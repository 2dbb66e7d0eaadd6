"""What a load test asks for, as a Python caller (or ``chatgauge load``) says it.

:class:`LoadSettings` is the input of :func:`chatgauge.run_load`: one checked value with the
same meaning as the flags of ``chatgauge load`` (``duration_s`` is the measured time after
the warm-up; ``users`` defaults to 4 in a closed loop and to 64, the cap on requests in
flight, in an open loop). :meth:`LoadSettings.check` refuses an impossible combination with
one line (:class:`LoadSettingsError`) before anything is started.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from chatgauge._limits import Limits
from chatgauge._secret import Secret
from chatgauge.loadtests._http import Origin
from chatgauge.loadtests._options import (
    ARRIVALS,
    DEFAULT_INPUT_WORDS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_SWEEP_STEP_S,
    DEFAULT_TIMEOUT_S,
)
from chatgauge.loadtests._options_verdicts import (
    DEFAULT_ABORT_AFTER_S,
    DEFAULT_MAX_BACKOFF_S,
    DEFAULT_SWEEP_MIN_REQUESTS,
    SWEEP_WARMUP_FRACTION,
)
from chatgauge.loadtests._prompts import load_prompts
from chatgauge.loadtests._slo import DEFAULT_MAX_ERROR_RATE, slo_bounds
from chatgauge.loadtests._workloads import WorkloadOptions

CLOSED_LOOP_USERS: Final = 4
OPEN_LOOP_USERS: Final = 64
DEFAULT_DURATION_S: Final = 30.0
DEFAULT_WARMUP_S: Final = 5.0


class LoadSettingsError(ValueError):
    """Settings that cannot make a run: one line saying why, with each setting it names in
    backticks (```users```), which the command line shows as its flag (``--users``)."""


@dataclass(frozen=True)
class LoadSettings:
    """A load test: where, how much load, for how long, what to ask, what to judge.

    - ``base_url`` includes the API prefix (``http://127.0.0.1:8000/v1``); ``api_key`` is
      sent as a bearer token and never written anywhere.
    - Load: a closed loop of ``users`` (default 4); or ``rate`` requests/s (``arrival``
      ``poisson`` or ``constant``) with ``users`` (default 64) capping those in flight;
      ``ramp_s`` or ``step`` (``(users, every_s)``) to grow the users; ``sweep_rates`` or
      ``sweep_users`` for one step of ``sweep_time_s`` per value (a sweep needs ``slos``).
    - Time: ``warmup_s`` excluded from the statistics, then ``duration_s`` measured (a
      sweep's length is its steps'); ``max_requests`` stops the run early.
    - Requests: ``max_tokens``, ``input_tokens`` (synthetic prompt length in words) or a
      JSONL ``prompts`` file, ``include_usage``, ``stream``, ``verify_tls``, ``timeout_s``
      (seconds a request may wait for its next bytes).
    - Judging: ``slos`` maps SLO names to upper bounds in ms (``{"ttft_ms": 500}``).
    - Output: ``report_dir`` for ``load.json`` and ``load.html`` (``None``: nothing is left
      on disk); ``progress`` prints a line per second; ``dump_samples`` a directory for each
      process's raw samples (JSONL); ``server_metrics`` a Prometheus page (``/metrics``)
      scraped during the run into ``load.json``; ``workload`` the per-request lengths,
      datasets, shared prefix, sessions or trace (:mod:`chatgauge.loadtests._workloads`).
    - Failing: ``max_error_rate`` is the error budget (a fraction of measured requests);
      ``abort_after_s`` of failures without a success stops the run (endpoint down);
      ``max_backoff_s`` caps a user's backoff after refused connections, 429 and 503;
      ``limits`` bound every answer (total deadline, body, events, line size).
    - Sweeps: ``sweep_warmup_s`` is each step's warm-up (default: a fifth of the step);
      a step measuring fewer than ``sweep_min_requests`` requests is insufficient.
    """

    base_url: str
    model: str
    api_key: Secret | None = field(default=None, repr=False)
    users: int | None = None
    rate: float | None = None
    arrival: Literal["poisson", "constant"] = "poisson"
    duration_s: float = DEFAULT_DURATION_S
    warmup_s: float = DEFAULT_WARMUP_S
    max_requests: int | None = None
    ramp_s: float | None = None
    step: tuple[int, float] | None = None
    sweep_rates: tuple[float, ...] = ()
    sweep_users: tuple[int, ...] = ()
    sweep_time_s: float = DEFAULT_SWEEP_STEP_S
    processes: int = 1
    seed: int = 0
    max_tokens: int = DEFAULT_MAX_TOKENS
    input_tokens: int = DEFAULT_INPUT_WORDS
    prompts: Path | None = None
    include_usage: bool = True
    stream: bool = True
    verify_tls: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    slos: Mapping[str, float] = field(default_factory=dict, hash=False)
    report_dir: Path | None = None
    progress: bool = False
    dump_samples: Path | None = None
    server_metrics: str | None = None
    workload: WorkloadOptions = field(default_factory=WorkloadOptions)
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    abort_after_s: float = DEFAULT_ABORT_AFTER_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    limits: Limits = field(default_factory=Limits)
    sweep_warmup_s: float | None = None
    sweep_min_requests: int = DEFAULT_SWEEP_MIN_REQUESTS

    @property
    def step_warmup_s(self) -> float:
        """The warm-up of each sweep step."""
        if self.sweep_warmup_s is not None:
            return self.sweep_warmup_s
        return SWEEP_WARMUP_FRACTION * self.sweep_time_s

    @property
    def sweep(self) -> Literal["rate", "users"] | None:
        """Which sweep the settings ask for, if any."""
        if self.sweep_rates:
            return "rate"
        return "users" if self.sweep_users else None

    @property
    def effective_users(self) -> int:
        """``users``, else the default for the load model."""
        if self.users is not None:
            return self.users
        if self.sweep_users:
            return self.sweep_users[0]
        return OPEN_LOOP_USERS if (self.rate or self.sweep_rates) else CLOSED_LOOP_USERS

    def check(self) -> None:
        """Refuse settings that cannot make a run (:class:`LoadSettingsError`, one line)."""
        try:
            self._check()
        except LoadSettingsError:
            raise
        except ValueError as exc:
            raise LoadSettingsError(str(exc)) from None

    def _check(self) -> None:
        Origin.from_url(self.base_url)
        if not self.model:
            raise LoadSettingsError("no model: give `model`, the model name to request")
        _positive("users", self.users)
        _positive("processes", self.processes)
        _positive("max_tokens", self.max_tokens)
        _positive("input_tokens", self.input_tokens)
        _positive("max_requests", self.max_requests)
        _positive("timeout_s", self.timeout_s)
        _positive("rate", self.rate)
        _positive("sweep_time_s", self.sweep_time_s)
        _positive("ramp_s", self.ramp_s)
        _positive("abort_after_s", self.abort_after_s)
        _positive("max_backoff_s", self.max_backoff_s)
        if not (math.isfinite(self.max_error_rate) and 0 <= self.max_error_rate <= 1):
            raise LoadSettingsError(
                f"`max_error_rate` must lie between 0 and 1, got {self.max_error_rate}"
            )
        if self.sweep_min_requests < 0:
            raise LoadSettingsError("`sweep_min_requests` must be 0 or more")
        for name, value in (("duration_s", self.duration_s), ("warmup_s", self.warmup_s)):
            if not (math.isfinite(value) and value >= 0):
                raise LoadSettingsError(f"`{name}` must be 0 or more seconds, got {value}")
        if self.arrival not in ARRIVALS:
            raise LoadSettingsError(f"`arrival` must be one of {', '.join(ARRIVALS)}")
        if self.step is not None and (self.step[0] < 1 or not self.step[1] > 0):
            raise LoadSettingsError("`step` needs at least 1 user every positive duration")
        slo_bounds(self.slos)
        if self.server_metrics is not None:
            try:
                Origin.from_url(self.server_metrics)
            except ValueError as exc:
                raise LoadSettingsError(f"`server_metrics`: {exc}") from None
        self._check_sweep()
        self._check_workload()
        if self.prompts is not None:
            load_prompts(self.prompts)
        if self.effective_users < self.processes:
            raise LoadSettingsError(
                f"`users` {self.effective_users} is fewer than `processes` {self.processes}: "
                "some processes would have nobody to run"
            )

    def _check_workload(self) -> None:
        workload = self.workload
        workload.check()
        if workload.trace:
            if self.processes > 1:
                raise LoadSettingsError("a trace is replayed by one process: leave out `processes`")
            if self.sweep or self.ramp_s or self.step or self.rate:
                raise LoadSettingsError(
                    "a trace sets its own arrivals: leave out `rate` and shapes"
                )
        if workload.dataset and self.prompts is not None:
            raise LoadSettingsError("give `prompts` or a dataset, not both")

    def _check_sweep(self) -> None:
        for name, values in (("sweep_rates", self.sweep_rates), ("sweep_users", self.sweep_users)):
            if any(not (math.isfinite(v) and v > 0) for v in values):
                raise LoadSettingsError(f"`{name}` values must be positive")
            if any(b <= a for a, b in itertools.pairwise(values)):
                raise LoadSettingsError(f"`{name}` values must increase")
        if self.sweep_rates and self.sweep_users:
            raise LoadSettingsError("give `sweep_rates` or `sweep_users`, not both")
        sweep = self.sweep
        if sweep and not self.slos:
            raise LoadSettingsError(
                "a sweep looks for the highest load meeting the SLOs: give `slos`"
            )
        if sum(bool(x) for x in (self.ramp_s, self.step, sweep)) > 1:
            raise LoadSettingsError("choose one of `ramp_s`, `step` and a sweep")
        if self.rate and self.sweep_users:
            raise LoadSettingsError("`sweep_users` sweeps a closed loop; leave out `rate`")
        warmup = self.sweep_warmup_s
        if warmup is not None and not (math.isfinite(warmup) and warmup >= 0):
            raise LoadSettingsError(f"`sweep_warmup_s` must be 0 or more seconds, got {warmup}")
        if sweep and self.step_warmup_s >= self.sweep_time_s:
            raise LoadSettingsError(
                "`sweep_warmup_s` must be shorter than `sweep_time_s` (it applies to each step)"
            )

    def describe(self) -> str:
        """The load model in a few words (``8 users, 1 process(es), warm-up 5 s``)."""
        users = self.effective_users
        if self.sweep_rates:
            rates = ",".join(f"{r:g}" for r in self.sweep_rates)
            load = f"rate sweep {rates} req/s ({users} users cap)"
        elif self.sweep_users:
            load = f"concurrency sweep {','.join(str(u) for u in self.sweep_users)}"
        elif self.rate:
            load = f"{self.rate:g} req/s {self.arrival} ({users} users cap)"
        else:
            load = f"{users} users"
        warmup = f"warm-up {self.warmup_s:g} s"
        if self.sweep:
            warmup = f"warm-up {self.step_warmup_s:g} s per step"
        return f"{load}, {self.processes} process(es), {warmup}"


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise LoadSettingsError(f"`{name}` must be a positive number, got {value}")


__all__ = [
    "CLOSED_LOOP_USERS",
    "DEFAULT_DURATION_S",
    "DEFAULT_WARMUP_S",
    "OPEN_LOOP_USERS",
    "LoadSettings",
    "LoadSettingsError",
]
