"""chatgauge's locust options and the settings they make, validated once.

:func:`add_arguments` adds the options to locust's parser (they also show in the web UI and
travel from the master to the workers with locust's own spawn messages);
:meth:`RunOptions.from_options` turns the parsed values into one checked value, read by the
users, the load shape and the collector of each locust process (what a Python caller asks
for is :class:`chatgauge.loadtests.LoadSettings`, which becomes these options). The API key
is never an option: parsed options are shown in the web UI and shipped to workers, so the
key comes from the environment (:data:`API_KEY_ENV`, else ``OPENAI_API_KEY``) of each
process. This module does not import locust, so the CLI can validate flags without it.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from chatgauge._secret import Secret
from chatgauge.loadtests._options_verdicts import VerdictOptions, add_verdict_arguments
from chatgauge.loadtests._slo import parse_slo
from chatgauge.loadtests._workloads import WorkloadOptions
from chatgauge.results.load import LoadConfig, SloBound, StepPlan, SweepPlan

API_KEY_ENV: Final = "CHATGAUGE_API_KEY"
ARRIVALS: Final = ("poisson", "constant")
DEFAULT_MAX_TOKENS: Final = 64
DEFAULT_INPUT_WORDS: Final = 32
DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_SWEEP_STEP_S: Final = 10.0

_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)?")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``"30s"``, ``"1m30s"``, ``"500ms"``, ``"2h"`` or a bare number of seconds."""
    spec = text.strip().lower()
    position = 0
    total = 0.0
    while position < len(spec):
        match = _DURATION_PART.match(spec, position)
        bare = match is not None and match.group(2) is None
        if match is None or (bare and (position or match.end() != len(spec))):
            raise ValueError(f"not a duration: {text!r} (examples: 30s, 1m30s, 500ms)")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not spec:
        raise ValueError("empty duration")
    return total


def parse_step(text: str) -> tuple[int, float]:
    """``"USERS:DURATION"`` (``"4:10s"``: add 4 users every 10 s) as ``(users, seconds)``."""
    users, colon, every = text.partition(":")
    try:
        if not colon:
            raise ValueError
        count, seconds = int(users), parse_duration(every)
    except ValueError:
        raise ValueError(f"--step takes USERS:DURATION, e.g. 4:10s, got {text!r}") from None
    if count < 1 or seconds <= 0:
        raise ValueError(f"--step needs at least 1 user every positive duration, got {text!r}")
    return count, seconds


def parse_number_list(text: str, *, integer: bool, name: str) -> list[float]:
    """Comma-separated positive numbers, strictly increasing (a sweep's steps)."""
    values: list[float] = []
    for item in text.split(","):
        try:
            value = float(int(item)) if integer else float(item)
        except ValueError:
            raise ValueError(f"{name} takes comma-separated numbers, got {item!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} values must be positive, got {item!r}")
        values.append(value)
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"{name} values must increase, got {text!r}")
    return values


def api_key_from_env() -> Secret | None:
    """The API key from :data:`API_KEY_ENV` or ``OPENAI_API_KEY``; ``None`` when unset."""
    text = os.environ.get(API_KEY_ENV) or os.environ.get("OPENAI_API_KEY")
    return Secret(text) if text else None


def add_arguments(parser: Any) -> None:
    """Add chatgauge's options to locust's argument parser."""
    group = parser.add_argument_group("chatgauge", "chatgauge load-test options")
    add = group.add_argument
    add("--model", default="", help="model to request (default: the first of GET /models)")
    add("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="max_tokens per request")
    add(
        "--input-tokens",
        type=int,
        default=DEFAULT_INPUT_WORDS,
        help="synthetic prompt length in words (about 1.3 tokens each)",
    )
    add("--prompts", default="", help="JSONL prompt file instead of synthetic prompts")
    add(
        "--no-usage",
        action="store_true",
        default=False,
        help="do not ask for stream_options.include_usage (count tokens from events)",
    )
    add(
        "--no-stream",
        action="store_true",
        default=False,
        help="stock user: send non-streamed requests",
    )
    add(
        "--insecure",
        action="store_true",
        default=False,
        help="do not verify the endpoint's TLS certificate",
    )
    add(
        "--request-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds a request may wait for its next bytes",
    )
    add(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: requests/s (users cap the requests in flight); 0: closed loop",
    )
    add("--arrival", choices=ARRIVALS, default="poisson", help="open-loop arrival process")
    add("--seed", type=int, default=0, help="seed of Poisson arrivals and prompt order")
    add("--warmup", default="0s", help="time from the start excluded from statistics")
    add("--max-requests", type=int, default=0, help="stop after this many requests (0: no cap)")
    add("--slo", action="append", default=[], help="service level objective NAME=VALUE (ms)")
    add("--report-dir", default="", help="write load.json (every second) and load.html here")
    add("--progress", action="store_true", default=False, help="print a progress line per second")
    add("--ramp", default="", help="shape: grow users linearly from 0 to -u over this time")
    add("--step", default="", help="shape: USERS:DURATION, add USERS every DURATION up to -u")
    add("--sweep-rates", default="", help="sweep: comma-separated rates, one step each")
    add("--sweep-users", default="", help="sweep: comma-separated user counts, one step each")
    add("--sweep-time", default=f"{DEFAULT_SWEEP_STEP_S:g}s", help="sweep: length of each step")
    add("--dump-samples", default="", help="directory for each process's raw samples (JSONL)")
    from chatgauge.loadtests._options_workload import add_workload_arguments

    add_workload_arguments(group)
    add_verdict_arguments(group)


@dataclass(frozen=True)
class RunOptions:
    """Everything the users, the schedule and the collector need, checked.

    ``rate`` is ``None`` in closed-loop mode. ``sweep_values`` holds the sweep's rates or user
    counts (``sweep_kind`` says which). Durations are seconds. ``slos`` are parsed bounds.
    """

    model: str = ""
    api_key: Secret | None = field(default=None, repr=False)
    max_tokens: int = DEFAULT_MAX_TOKENS
    input_words: int = DEFAULT_INPUT_WORDS
    prompts: str = ""
    include_usage: bool = True
    stream: bool = True
    verify_tls: bool = True
    request_timeout_s: float = DEFAULT_TIMEOUT_S
    rate: float | None = None
    arrival: Literal["poisson", "constant"] = "poisson"
    seed: int = 0
    warmup_s: float = 0.0
    max_requests: int = 0
    slos: tuple[SloBound, ...] = ()
    report_dir: str = ""
    progress: bool = False
    ramp_s: float = 0.0
    step: tuple[int, float] | None = None
    sweep_kind: Literal["rate", "users"] | None = None
    sweep_values: tuple[float, ...] = ()
    sweep_step_s: float = DEFAULT_SWEEP_STEP_S
    dump_samples: str = ""
    workload: WorkloadOptions = field(default_factory=WorkloadOptions)
    verdicts: VerdictOptions = field(default_factory=VerdictOptions)

    @classmethod
    def from_options(cls, options: Any) -> RunOptions:
        """Settings from locust's parsed options; ``ValueError`` with a one-line message."""
        get = getattr
        rate = float(get(options, "rate", 0.0) or 0.0)
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"--rate must be a positive number, got {rate}")
        max_tokens = int(get(options, "max_tokens", DEFAULT_MAX_TOKENS))
        input_words = int(get(options, "input_tokens", DEFAULT_INPUT_WORDS))
        if max_tokens < 1 or input_words < 1:
            raise ValueError("--max-tokens and --input-tokens must be at least 1")
        timeout = float(get(options, "request_timeout", DEFAULT_TIMEOUT_S))
        if not timeout > 0:
            raise ValueError(f"--request-timeout must be positive, got {timeout}")
        max_requests = int(get(options, "max_requests", 0) or 0)
        if max_requests < 0:
            raise ValueError(f"--max-requests must be 0 or more, got {max_requests}")
        arrival = get(options, "arrival", "poisson")
        if arrival not in ARRIVALS:
            raise ValueError(f"--arrival must be one of {', '.join(ARRIVALS)}, got {arrival!r}")
        arrival_kind: Literal["poisson", "constant"] = (
            "constant" if arrival == "constant" else "poisson"
        )
        sweep_kind, sweep_values = _sweep(options)
        if sweep_kind == "rate" and not rate:
            rate = sweep_values[0]
        ramp = str(get(options, "ramp", "") or "")
        step = str(get(options, "step", "") or "")
        if sum(bool(x) for x in (ramp, step, sweep_kind)) > 1:
            raise ValueError("choose one of --ramp, --step and a sweep")
        prompts = str(get(options, "prompts", "") or "")
        if prompts and not Path(prompts).is_file():
            raise ValueError(f"prompt file not found: {prompts}")
        slos = tuple(parse_slo(str(text)) for text in get(options, "slo", None) or ())
        return cls(
            model=str(get(options, "model", "") or ""),
            api_key=api_key_from_env(),
            max_tokens=max_tokens,
            input_words=input_words,
            prompts=prompts,
            include_usage=not get(options, "no_usage", False),
            stream=not get(options, "no_stream", False),
            verify_tls=not get(options, "insecure", False),
            request_timeout_s=timeout,
            rate=rate or None,
            arrival=arrival_kind,
            seed=int(get(options, "seed", 0) or 0),
            warmup_s=parse_duration(str(get(options, "warmup", "0s") or "0s")),
            max_requests=max_requests,
            slos=slos,
            report_dir=str(get(options, "report_dir", "") or ""),
            progress=bool(get(options, "progress", False)),
            ramp_s=parse_duration(ramp) if ramp else 0.0,
            step=parse_step(step) if step else None,
            sweep_kind=sweep_kind,
            sweep_values=tuple(sweep_values),
            sweep_step_s=parse_duration(str(get(options, "sweep_time", "") or "10s")),
            dump_samples=str(get(options, "dump_samples", "") or ""),
            workload=_workload(options),
            verdicts=VerdictOptions.from_options(options, parse_duration),
        )

    @property
    def slo_map(self) -> dict[str, float]:
        """The SLOs as ``{name: bound_ms}``."""
        return {slo.name: slo.max_ms for slo in self.slos}

    @property
    def latency_basis(self) -> Literal["send", "intended_start"]:
        """What the verdicts measure latency from: the intended start in an open loop."""
        return "intended_start" if self.rate else "send"

    def config(
        self, *, model: str, users: int, processes: int, run_time_s: float | None
    ) -> LoadConfig:
        """The settings as ``load.json`` records them (no secret), with the run's facts."""
        return LoadConfig(
            model=model,
            mode="open" if self.rate else "closed",
            users=users,
            processes=processes,
            run_time_s=run_time_s,
            max_tokens=self.max_tokens,
            input_words=self.input_words,
            prompts=self.prompts or "synthetic",
            include_usage=self.include_usage,
            stream=self.stream,
            verify_tls=self.verify_tls,
            request_timeout_s=self.request_timeout_s,
            rate=self.rate,
            arrival=self.arrival if self.rate else None,
            seed=self.seed,
            warmup_s=self.warmup_s,
            max_requests=self.max_requests or None,
            slos=self.slos,
            ramp_s=self.ramp_s or None,
            step=StepPlan(users=self.step[0], every_s=self.step[1]) if self.step else None,
            sweep=(
                SweepPlan(
                    kind=self.sweep_kind,
                    values=self.sweep_values,
                    step_s=self.sweep_step_s,
                    warmup_s=self.verdicts.step_warmup_s(self.sweep_step_s),
                    min_requests=self.verdicts.sweep_min_requests,
                )
                if self.sweep_kind is not None
                else None
            ),
            max_error_rate=self.verdicts.max_error_rate,
            abort_after_s=self.verdicts.abort_after_s,
            total_timeout_s=self.verdicts.limits.total_timeout_s,
        )


def _workload(options: Any) -> WorkloadOptions:
    from chatgauge.loadtests._options_workload import workload_options

    return workload_options(options)


def _sweep(options: Any) -> tuple[Literal["rate", "users"] | None, list[float]]:
    rates = str(getattr(options, "sweep_rates", "") or "")
    users = str(getattr(options, "sweep_users", "") or "")
    if rates and users:
        raise ValueError("give --sweep-rates or --sweep-users, not both")
    if rates:
        return "rate", parse_number_list(rates, integer=False, name="--sweep-rates")
    if users:
        return "users", parse_number_list(users, integer=True, name="--sweep-users")
    return None, []
