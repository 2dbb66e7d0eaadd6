"""What each request asks, when the workload is more than one prompt set and one max_tokens.

:class:`WorkloadOptions` holds the workload flags (``--input-dist``, ``--output-dist``,
``--shared-prefix``, ``--dataset``, ``--trace`` with ``--trace-speedup``, ``--turns`` with
``--think-time``, and the ``--token-calibration`` the parent measured); :func:`build_workload`
makes the :class:`Workload` a run's users draw their requests from, one
:class:`PlannedRequest` at a time:

- *synthetic*: the input length drawn from ``--input-dist`` (tokens, calibrated into words of
  filler text), the output limit from ``--output-dist``;
- *shared prefix* (``--shared-prefix N``): every request starts with the same system
  message of about N tokens, then its own user message, so a prefix cache can serve the
  common part (compare a run with and without it);
- *dataset* (``--dataset FILE``, or ``--prompts FILE`` lines with ``max_tokens``): each
  entry's messages, with its own output limit (or the ShareGPT answer's length);
- *trace* (``--trace FILE``): each row's input and output lengths, and its intended start
  ``first start + offset / speed-up`` (open loop: a request waits for its moment, never for
  the previous answer, and its latency counts from that moment);
- *sessions* (``--turns N``): each user holds a conversation of N turns, sending the
  endpoint's own answers back with its next question after ``--think-time``.

Requests are drawn in order by one process's users, from a PRNG seeded by ``--seed``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, Final

from chatgauge.loadtests._lengths import TokenCalibration, parse_length
from chatgauge.loadtests._prompts import _WORDS, Messages, PromptFileError
from chatgauge.loadtests._sharegpt import DatasetEntry, load_dataset
from chatgauge.loadtests._trace import TraceRow, load_trace

_FILLER: Final = _WORDS
_NS: Final = 1_000_000_000


@dataclass(frozen=True)
class WorkloadOptions:
    """The workload flags as parsed (empty strings and zeros: not asked for)."""

    input_dist: str = ""
    output_dist: str = ""
    shared_prefix: int = 0
    dataset: str = ""
    trace: str = ""
    trace_speedup: float = 1.0
    turns: int = 1
    think_time_s: float = 0.0
    calibration: str = ""

    @property
    def active(self) -> bool:
        """Whether any flag asks for more than the stock prompt set."""
        return bool(
            self.input_dist
            or self.output_dist
            or self.shared_prefix
            or self.dataset
            or self.trace
            or self.turns > 1
        )

    def check(self) -> None:
        """``ValueError`` with one line for flags that cannot make a workload."""
        if self.input_dist:
            parse_length(self.input_dist, name="--input-dist")
        if self.output_dist:
            parse_length(self.output_dist, name="--output-dist")
        if self.calibration:
            TokenCalibration.parse(self.calibration)
        if self.shared_prefix < 0:
            raise ValueError("--shared-prefix must be 0 or more tokens")
        if not (math.isfinite(self.trace_speedup) and self.trace_speedup > 0):
            raise ValueError("--trace-speedup must be a positive number")
        if self.turns < 1:
            raise ValueError("--turns must be at least 1")
        if not (math.isfinite(self.think_time_s) and self.think_time_s >= 0):
            raise ValueError("--think-time must be 0 or more seconds")
        if self.dataset and self.trace:
            raise ValueError("give --dataset or --trace, not both")
        if self.trace and self.turns > 1:
            raise ValueError("a trace replays single requests: leave out --turns")
        if self.dataset:
            load_dataset(Path(self.dataset))
        if self.trace:
            load_trace(Path(self.trace))

    def describe(self, prompts: str) -> str:
        """Where requests come from, in a few words (``prompts``: the prompt file or "")."""
        if self.trace:
            return f"trace {self.trace} (x{self.trace_speedup:g})"
        parts = [f"dataset {self.dataset}" if self.dataset else prompts or "synthetic"]
        if self.input_dist:
            parts.append(f"input {self.input_dist} tokens")
        if self.output_dist:
            parts.append(f"output {self.output_dist} tokens")
        if self.shared_prefix:
            parts.append(f"shared prefix of {self.shared_prefix} tokens")
        if self.turns > 1:
            parts.append(f"{self.turns}-turn sessions, think time {self.think_time_s:g} s")
        return ", ".join(parts)

    def calibration_text(self) -> str:
        """How input tokens were counted, in words."""
        if not self.calibration:
            return "none: input lengths are the dataset's or trace's own, or one word per token"
        calibration = TokenCalibration.parse(self.calibration)
        return (
            f"prompt_tokens = {calibration.overhead:.2f} + {calibration.per_word:.3f} x words, "
            "from usage.prompt_tokens of two preflight probes"
        )

    def to_args(self) -> list[str]:
        """The flags that give these options to the load generator."""
        args: list[str] = []
        for flag, value in (
            ("--input-dist", self.input_dist),
            ("--output-dist", self.output_dist),
            ("--dataset", self.dataset),
            ("--trace", self.trace),
            ("--token-calibration", self.calibration),
        ):
            if value:
                args += [flag, value]
        if self.shared_prefix:
            args += ["--shared-prefix", str(self.shared_prefix)]
        if self.trace_speedup != 1.0:
            args += ["--trace-speedup", repr(self.trace_speedup)]
        if self.turns > 1:
            args += ["--turns", str(self.turns), "--think-time", f"{self.think_time_s!r}s"]
        return args


@dataclass(frozen=True)
class PlannedRequest:
    """One request as the workload chose it (``None``: the run's own setting)."""

    messages: Messages
    max_tokens: int | None = None
    asked_input_tokens: int | None = None
    t_sched_ns: int | None = None


@dataclass
class Conversation:
    """One user's session: the messages so far and the turns left."""

    messages: Messages = field(default_factory=list)
    turn: int = 0


def filler(words: int, rng: Random, lead: str = "") -> str:
    """``words`` words of filler text (a leading phrase counts in them)."""
    head = lead.split()
    body = [rng.choice(_FILLER) for _ in range(max(words - len(head), 0))]
    return " ".join((head + body)[:words])


class Workload:
    """Hands out :class:`PlannedRequest` values (see the module docstring)."""

    def __init__(
        self,
        options: WorkloadOptions,
        *,
        seed: int,
        default_max_tokens: int,
        prompt_file_entries: list[DatasetEntry] | None = None,
        clock: Any = time.perf_counter_ns,
    ) -> None:
        self.options = options
        self._rng = Random(seed)
        self._default_max = default_max_tokens
        self._calibration = (
            TokenCalibration.parse(options.calibration) if options.calibration else None
        )
        self._input = parse_length(options.input_dist) if options.input_dist else None
        self._output = (
            parse_length(options.output_dist, name="--output-dist") if options.output_dist else None
        )
        self._entries = (
            load_dataset(Path(options.dataset)) if options.dataset else prompt_file_entries
        )
        self._trace: list[TraceRow] | None = (
            load_trace(Path(options.trace)) if options.trace else None
        )
        self._clock = clock
        self._start_ns: int | None = None
        self._count = 0
        self._prefix = self._make_prefix(options.shared_prefix)
        self.exhausted = False

    def _words(self, tokens: int) -> int:
        if self._calibration is None:
            return tokens  # no calibration: one word taken as one token
        return self._calibration.words_for(tokens)

    def _tokens_of_words(self, words: int) -> int:
        if self._calibration is None:
            return words
        return max(1, round(words * self._calibration.per_word))

    def _make_prefix(self, tokens: int) -> Messages:
        if not tokens:
            return []
        per_word = self._calibration.per_word if self._calibration else 1.0
        text = filler(max(1, round(tokens / per_word)), Random(0), "You are a helpful assistant.")
        return [{"role": "system", "content": text}]

    def _synthetic(self, tokens: int, number: int) -> Messages:
        user = tokens - (self.options.shared_prefix if self._prefix else 0)
        content = filler(self._words(max(user, 1)), self._rng, f"Request {number}: continue.")
        return [*self._prefix, {"role": "user", "content": content}]

    def _max_tokens(self) -> int | None:
        return self._output.draw(self._rng) if self._output is not None else None

    def next_request(self, conversation: Conversation | None = None) -> PlannedRequest | None:
        """The next request (``None`` when a trace is used up)."""
        number = self._count
        self._count += 1
        if self._trace is not None:
            return self._trace_request(number)
        if conversation is not None and conversation.messages:
            return self._follow_up(conversation, number)
        planned = self._first(number)
        if conversation is not None:
            conversation.messages = list(planned.messages)
            conversation.turn = 1
        return planned

    def _first(self, number: int) -> PlannedRequest:
        if self._entries:
            entry = self._entries[number % len(self._entries)]
            limit = entry.max_tokens
            if limit is None and entry.answer_words is not None:
                limit = self._tokens_of_words(entry.answer_words)
            if self._output is not None and entry.max_tokens is None:
                limit = self._output.draw(self._rng)
            return PlannedRequest([*self._prefix, *entry.messages], limit, entry.input_tokens)
        tokens = self._input.draw(self._rng) if self._input is not None else None
        if tokens is None:
            tokens = 32
        return PlannedRequest(self._synthetic(tokens, number), self._max_tokens(), tokens)

    def _follow_up(self, conversation: Conversation, number: int) -> PlannedRequest:
        tokens = self._input.draw(self._rng) if self._input is not None else 16
        question = filler(self._words(tokens), self._rng, f"Turn {conversation.turn + 1}: go on.")
        conversation.messages.append({"role": "user", "content": question})
        conversation.turn += 1
        return PlannedRequest(list(conversation.messages), self._max_tokens(), None)

    def _trace_request(self, number: int) -> PlannedRequest | None:
        assert self._trace is not None
        if number >= len(self._trace):
            self.exhausted = True
            return None
        row = self._trace[number]
        if self._start_ns is None:
            self._start_ns = self._clock()
        offset = round(row.offset_s / self.options.trace_speedup * _NS)
        return PlannedRequest(
            self._synthetic(row.input_tokens, number),
            row.output_tokens,
            row.input_tokens,
            t_sched_ns=self._start_ns + offset,
        )


def prompt_file_lengths(path: Path) -> list[DatasetEntry] | None:
    """The entries of a ``--prompts`` file when some line gives its own ``max_tokens``."""
    try:
        entries = load_dataset(path)
    except PromptFileError:
        return None
    if any(e.max_tokens is not None or e.input_tokens is not None for e in entries):
        return entries
    return None


def trace_plan(path: Path, speedup: float) -> tuple[float, float]:
    """``(mean rate, replay seconds)`` of a trace replayed ``speedup`` times faster."""
    rows = load_trace(path)
    span = rows[-1].offset_s / speedup
    return len(rows) / max(span, 1.0), span


__all__ = [
    "Conversation",
    "PlannedRequest",
    "Workload",
    "WorkloadOptions",
    "filler",
    "prompt_file_lengths",
    "trace_plan",
]
